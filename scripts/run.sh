#!/usr/bin/env bash
# The main job: install, build the CLI, list the devices, then decode a
# stories15M-shaped llama2.c checkpoint (random weights, generated once into
# build/) on the default device (a GPU if there is one, else lavapipe) in
# every mode: immediate, batched, replay, batched --record-ahead, batched
# --ahead, and the CPU reference; print them side by side. On a GPU each mode
# runs 3 times (median and range); on a CPU Vulkan device once, with a note.
# GPB_LLAMA_STEPS sets the number of decode steps (default 64),
# GPB_LLAMA_RUNS the runs per mode.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
phase() { printf '[%4ss] %s\n' "$(($(date +%s) - start))" "$*"; }

phase "dependencies (Debian packages)"
scripts/install-deps.sh
phase "building the gpubatch CLI into build/ (log: build/build.log)"
mkdir -p build
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j"$(nproc)" --target gpubatch_cli; } \
  >build/build.log 2>&1; then
  tail -n 40 build/build.log
  echo "build failed (whole log: build/build.log)" >&2
  exit 1
fi
phase "devices"
./build/gpubatch devices
device_type=$(./build/gpubatch devices --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(x["type"] for x in d["devices"] if x["index"] == d["default"]))' 2>/dev/null || echo unknown)
runs=3
[ "$device_type" = CPU ] && runs=1
runs=${GPB_LLAMA_RUNS:-$runs}

ckpt=build/stories15M-random.bin
if [ ! -f "$ckpt" ]; then
  phase "generating $ckpt (stories15M shape, random weights, seed 1, std 0.1)"
  ./build/gpubatch llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt.tmp" >/dev/null
  mv "$ckpt.tmp" "$ckpt"
fi
steps=${GPB_LLAMA_STEPS:-64}
# immediate: one submit per dispatch; batched: one per token; replay: the
# step captured once per shape and replayed; record-ahead: batched, the next
# step recorded while the GPU runs this one, submitted once the host read
# this one's token; batched-ahead: the next step is submitted before the
# host reads this one's token (the GPU picks it); cpu: the CPU reference
# decoder (one thread), which every mode's tokens must equal.
names="immediate batched replay record-ahead batched-ahead cpu"
args_of() {
  case $1 in
    record-ahead) echo "--mode batched --record-ahead" ;;
    batched-ahead) echo "--mode batched --ahead" ;;
    *) echo "--mode $1" ;;
  esac
}
for name in $names; do
  for run in $(seq 1 "$runs"); do
    label="$name ($(args_of "$name"))"
    [ "$runs" -gt 1 ] && label="$label, run $run of $runs"
    phase "decoding $steps steps: $label"
    # shellcheck disable=SC2046
    ./build/gpubatch llama --checkpoint "$ckpt" --steps "$steps" $(args_of "$name") --json --progress \
      >"build/llama-$name-$run.json"
  done
done
phase "results"
python3 - "$steps" "$runs" "$device_type" $names <<'PY'
import json, statistics, sys
steps, runs, device_type, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
res = {n: [json.load(open(f"build/llama-{n}-{r}.json")) for r in range(1, runs + 1)] for n in names}
def cell(n, key, fmt):
    v = [r[key] for r in res[n]]
    if key != "tok_per_s" or runs == 1:
        return fmt.format(statistics.median(v))
    return f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
head = f"stories15M, {steps} steps"
w = max(len(n) for n in names) + (6 if runs > 1 else 2)
print(f"{head:24s}" + "".join(f"{n:>{w}s}" for n in names))
rows = [("tok/s" + (f", median of {runs}" if runs > 1 else ""), "tok_per_s", "{:.0f}"),
        ("dispatches per token", "dispatches_per_token", "{:.1f}"),
        ("submits per token", "submits_per_token", "{:.2f}")]
for label, key, fmt in rows:
    print(f"{label:24s}" + "".join(
        f"{(cell(n, key, fmt) if key == 'tok_per_s' or n != 'cpu' else '-'):>{w}s}" for n in names))
ref = res["cpu"][0]["tokens"]
same = all(r["tokens"] == ref for n in names for r in res[n])
print("every mode chose the CPU reference's tokens:", "yes" if same else "NO")
med = {n: statistics.median(r["tok_per_s"] for r in res[n]) for n in names}
if med["immediate"] > 0:
    print("vs immediate: " + ", ".join(f"{n} {med[n] / med['immediate']:.2f}x" for n in names if n != "immediate"))
if device_type == "CPU":
    print("note: the default device is a CPU Vulkan driver (lavapipe): these timings say nothing about a GPU;"
          " they vary run to run, and the CPU reference is faster here. GPU figures: BENCHMARKS.md.")
print("(full JSON with counters: build/llama-<mode>-<run>.json)")
sys.exit(0 if same else 1)
PY
phase "done"
