#!/usr/bin/env bash
# Runs on the GPU machine: builds of the llama decoder against each other on
# one shape, in one command, runs interleaved: the way to compare kernel
# variants (same machine, same files). Usage:
#   bash bench/scripts/gpu-llama-ab.sh OUTDIR [LABEL=]LLAMA[:FLAGS] [[LABEL=]LLAMA[:FLAGS]...]
# Each LLAMA is a gpubatch-llama binary, FLAGS (comma-separated) decode flags of
# its own (e.g. int=build/gpubatch-llama:--int-dot against float=build/gpubatch-llama,
# g132=build/gpubatch-llama:--persistent-groups,132): a build's, one of
# bench/scripts/build-variants.sh (HEAD with patches applied), or a copy of
# one built with other LLAMA_WIDE_DEFINES (examples/llama/CMakeLists.txt), e.g.
#   cmake -S . -B build-var -DCMAKE_BUILD_TYPE=Release -DLLAMA_WIDE_DEFINES=UNROLL=2u
#   cmake --build build-var --target gpubatch_llama_cli && cp build-var/gpubatch-llama llama-u2
# (carry the copies to the GPU machine; the driver's register counts of a
# build's kernels: build/gpubatch-kernel-stats
# build-var/examples/llama/kernels/llama_wide_layers_q4_0.spv ..., from
# bench/kernel_stats.c); LABEL names it in the table
# (default: the file's name). The first one generates the
# checkpoint /tmp/gpb-ab-SHAPE.bin (kept while its size is right) and
# converts it to GGUF per quantized type.
# Environment: SHAPE (default tinyllama11b; the shapes of
# bench/scripts/llama-shapes.sh), TYPES (default "q4_0 q8_0 f16 f32": f32
# and f16 decode the llama2.c file, f16 with --weights f16; bf16, q8_0 and
# q4_0 a GGUF conversion), STEPS (256), REPS (2; every binary once per rep,
# in order), ARGS (more decode flags for every run, e.g. "--wide-split 2"),
# TRACES (1: one 32-step traced run per binary and type, summarized by
# bench/scripts/trace-kernels.py; 0: none).
# Decodes: batched --record-ahead, greedy from BOS. Output: every command and
# its output in OUTDIR/ab.txt; then the table (type, label, tok/s median and
# range, tokens against the first binary's) on stdout and in OUTDIR/ab.md.
set -u -o pipefail
[ $# -ge 2 ] || {
  echo "usage: bash bench/scripts/gpu-llama-ab.sh OUTDIR [LABEL=]LLAMA[:FLAGS] [[LABEL=]LLAMA[:FLAGS]...]" >&2
  exit 2
}
out=$1
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/bench/scripts/llama-shapes.sh" # shape_config
shape=${SHAPE:-tinyllama11b}
types=${TYPES:-q4_0 q8_0 f16 f32}
steps=${STEPS:-256}
reps=${REPS:-2}
read -r -a extra <<<"${ARGS:-}"
labels=() bins=() own=()
for a in "$@"; do
  bin=${a#*=}
  [[ $a == *=* ]] && label=${a%%=*} || label=$(basename "${bin%%:*}")
  [[ $bin == *:* ]] && own+=("${bin#*:}") || own+=("")
  labels+=("$label") bins+=("${bin%%:*}")
  [ -x "${bins[-1]}" ] || {
    echo "not an executable: ${bins[-1]}" >&2
    exit 2
  }
done
shape_config "$shape" >/dev/null || {
  echo "unknown shape '$shape'" >&2
  exit 2
}
[[ $steps =~ ^[0-9]+$ && $reps =~ ^[1-9][0-9]*$ ]] || {
  echo "STEPS and REPS must be numbers" >&2
  exit 2
}
mkdir -p "$out"
log=$out/ab.txt
: >"$log"
# As gpu-llama-shapes.sh: the NVIDIA driver's loader settings where it is there.
if [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -f "$root/.gpu/gpu-env.sh" ]; then
  source "$root/.gpu/gpu-env.sh" >/dev/null 2>&1
fi

gen=${bins[0]}
ckpt=/tmp/gpb-ab-$shape.bin
read -r -a gen_flags <<<"$(shape_gen_flags "$shape")"
if [ "$(stat -c %s "$ckpt" 2>/dev/null)" != "$(shape_checkpoint_bytes "$shape")" ]; then
  "$gen" gen "${gen_flags[@]}" -o "$ckpt" >>"$log" 2>&1 || {
    echo "generating $ckpt failed (see $log)" >&2
    exit 1
  }
fi
# The decode flags of a type: its file and, for f16, the conversion.
model_args() {
  case $1 in
    f32) echo "--checkpoint $ckpt" ;;
    f16) echo "--checkpoint $ckpt --weights f16" ;;
    *) echo "--model /tmp/gpb-ab-$shape-$1.gguf" ;;
  esac
}
for t in $types; do
  case $t in
    f32 | f16) ;;
    bf16 | q8_0 | q4_0)
      g=/tmp/gpb-ab-$shape-$t.gguf
      [ "$g" -nt "$ckpt" ] || "$gen" convert "$ckpt" -o "$g" --type "$t" >>"$log" 2>&1 || {
        echo "converting to $t failed (see $log)" >&2
        exit 1
      }
      ;;
    *)
      echo "unknown type '$t'" >&2
      exit 2
      ;;
  esac
done

# One line per run: "run TYPE LABEL REP TOK_PER_S TOKENS_MD5" (0 and "error" when it failed).
for t in $types; do
  read -r -a margs <<<"$(model_args "$t")"
  for ((r = 1; r <= reps; r++)); do
    for i in "${!bins[@]}"; do
      IFS=, read -r -a flags <<<"${own[$i]}"
      cmd=("${bins[$i]}" "${margs[@]}" --steps "$steps" --mode batched --record-ahead "${extra[@]}" "${flags[@]}" --json)
      echo "## ${cmd[*]}" >>"$log"
      o=$("${cmd[@]}" 2>&1)
      echo "$o" >>"$log"
      tps=$(grep -o '"tok_per_s": [0-9.]*' <<<"$o" | grep -o '[0-9.]*$')
      md5=$(grep -o '"tokens": \[[^]]*\]' <<<"$o" | md5sum | cut -c1-8)
      [ -n "$tps" ] || tps=0 md5=error
      echo "run $t ${labels[$i]} $r $tps $md5" | tee -a "$log"
    done
  done
  if [ "${TRACES:-1}" != 0 ]; then
    for i in "${!bins[@]}"; do
      IFS=, read -r -a flags <<<"${own[$i]}"
      tr=$out/trace-$shape-$t-${labels[$i]}.json
      "${bins[$i]}" "${margs[@]}" --steps 32 --mode batched --record-ahead "${extra[@]}" "${flags[@]}" --trace "$tr" --json \
        >>"$log" 2>&1 && { echo "trace $t ${labels[$i]}" && python3 "$root/bench/scripts/trace-kernels.py" "$tr" \
        --steps 32; } 2>&1 | tee -a "$log"
    done
  fi
done

# The table: per type and binary, the median tok/s (range) and whether every
# run's tokens equal the first binary's first run of that type.
python3 - "$log" "$shape" "$steps" <<'EOF' | tee "$out/ab.md"
import statistics, sys
runs = {}
order = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 6 and f[0] == "run":
        key = (f[1], f[2])
        if key not in runs:
            runs[key] = []
            order.append(key)
        runs[key].append((float(f[4]), f[5]))
print(f"{sys.argv[2]}, {sys.argv[3]} steps, batched --record-ahead, tok/s median (min-max)\n")
print("| type | build | tok/s | tokens |")
print("|---|---|---|---|")
first = {}
# A run far below its build's best in the same command is most likely the
# machine's doing (on the H100s and H200s lent, now and then one run of a
# command decodes ~45% slower than its pair), not the build's: such rows
# are named under the table, as their median (of 2, the mean) says little.
disturbed = []
for t, label in order:
    r = runs[(t, label)]
    first.setdefault(t, r[0][1])
    tps = [x for x, _ in r]
    if any(m == "error" for _, m in r):
        tokens = "error"
    elif t in first and all(m == first[t] for _, m in r):
        tokens = "same"
    else:
        tokens = "differ"
    print(f"| {t} | {label} | {statistics.median(tps):.1f} ({min(tps):.1f}-{max(tps):.1f}) | {tokens} |")
    if min(tps) < 0.85 * max(tps):
        disturbed.append(f"{t} {label}")
if disturbed:
    print(f"\nA run fell more than 15% below its best in: {', '.join(disturbed)} (compare maxima, or run again)")
EOF
