#!/usr/bin/env bash
# Runs on a machine with several GPUs: every device at once from one process
# against one device alone in the same run. bench chain (dependent, N=1000,
# batched and replay) and stories15M-shaped llama decode (replay --ahead and
# batched), each with --devices all (or $DEVICES, e.g. 0,1 or 0,0), three
# runs each; prints the aggregate against the single device and keeps the
# JSON lines. Usage:
#   bash bench/scripts/gpu-multi.sh BUILD [OUTDIR]
# A quick run elsewhere (lavapipe): DEVICES=0,0 RUNS=1 N=100 STEPS=8
# CKPT=small.bin (a llama-gen checkpoint) bash bench/scripts/gpu-multi.sh build
# Goal on two GPUs: aggregate >= 1.9x one GPU, and every device's figure
# within the single run's spread (bench chain's within_single_spread).
set -u -o pipefail
build=${1:?usage: bench/scripts/gpu-multi.sh BUILD [OUTDIR]}
out=${2:-${OUT:-/tmp/gpb-out}}
devices=${DEVICES:-all}
n=${N:-1000}
steps=${STEPS:-256}
runs=${RUNS:-3}
mkdir -p "$out"
[ -f .gpu/gpu-env.sh ] && source .gpu/gpu-env.sh >/dev/null 2>&1
"$build/gpubatch" devices
ckpt=${CKPT:-/tmp/stories15M-random.bin}
[ -f "$ckpt" ] || "$build/gpubatch" llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt" >/dev/null || exit 1
json="$out/multi.jsonl"
: >"$json"
run() { echo "## $*" >&2; "$@" | tee -a "$json"; }
status=0
for rep in $(seq "$runs"); do
  for mode in batched replay; do
    run "$build/gpubatch" bench chain --devices "$devices" --pattern dependent --n "$n" --reps 20 --mode $mode --json ||
      status=1
  done
  run "$build/gpubatch" llama --checkpoint "$ckpt" --steps "$steps" --mode replay --ahead --devices "$devices" --json ||
    status=1
  run "$build/gpubatch" llama --checkpoint "$ckpt" --steps "$steps" --mode batched --devices "$devices" --json || status=1
done >/dev/null
python3 - "$json" <<'PY'
import json, sys
print(f"{'what':<34} {'devices':<10} {'single':>12} {'aggregate':>12} {'ratio':>7}  per device (single's spread / tokens)")
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    devs = ",".join(str(d) for d in r["devices"])
    if "aggregate_dispatches_per_s" in r:
        what = f"chain {r['pattern']} n={r['n']} {r['mode']}"
        single = r["single"]["dispatches_per_s"]
        agg = r["aggregate_dispatches_per_s"]
        per = " ".join(f"{d['dispatches_per_s']:.0f}" for d in r["per_device"])
        note = "within" if r["within_single_spread"] else "OUTSIDE"
        unit = "disp/s"
    else:
        what = f"llama {r['mode']}{' ahead' if r['ahead'] else ''} {r['steps']} steps"
        single = r["single"]["tok_per_s"]
        agg = r["aggregate_tok_per_s"]
        per = " ".join(f"{d['tok_per_s']:.1f}" for d in r["per_device"])
        note = "same tokens" if r["same_tokens"] else "TOKENS DIFFER"
        unit = "tok/s"
    print(f"{what:<34} {devs:<10} {single:>12.1f} {agg:>12.1f} {agg / single if single else 0:>6.2f}x  {per} {unit} ({note})")
PY
exit $status
