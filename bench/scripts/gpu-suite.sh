#!/usr/bin/env bash
# Runs on the GPU machine (see ../shared/gpu/README.md): the tests, the
# randomized differential tester at scale, producer-consumer chains, and the
# dispatch benchmarks. Build here first (scripts/gpu-prepare.sh once, then
# scripts/build.sh build-gpu -DCMAKE_BUILD_TYPE=Release), carry .gpu and
# build-gpu, and run:  bash bench/scripts/gpu-suite.sh build-gpu [OUTDIR] [PARTS]
# PARTS: any of tests,selftest,chains,plots,bench (default: all).
set -u -o pipefail
build=${1:-build-gpu}
out=${2:-${OUT:-/tmp/gpb-out}}
parts=${3:-tests,selftest,chains,plots,bench}
mkdir -p "$out"
source .gpu/gpu-env.sh >/dev/null 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
"$build/gpubatch" devices | tee -a "$out/device.txt"
failed="$out/failed"
rm -f "$failed"
fail() { touch "$failed"; }
has() { [[ ",$parts," == *",$1,"* ]]; }

if has tests; then
  export GPB_TEST_KERNEL_DIR="$PWD/$build/tests/kernels"
  for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    if "$t" >"$out/$(basename "$t").log" 2>&1; then echo "PASS $(basename "$t")"; else echo "FAIL $(basename "$t")"; tail -20 "$out/$(basename "$t").log"; fail; fi
  done | tee "$out/tests.txt"
fi

if has selftest; then
  # 20,000 programs without the validation layer, 500 with it.
  for seed in 1 2 3 4; do
    "$build/gpubatch" selftest --seed $seed --programs 5000 --json || fail
  done | tee "$out/selftest.jsonl"
  "$build/gpubatch" selftest --seed 9 --programs 200 --streams 3 --json | tee -a "$out/selftest.jsonl" || fail
  "$build/gpubatch" selftest --seed 7 --programs 500 --validate --json | tee -a "$out/selftest.jsonl" || fail
fi

if has chains; then
  # Producer-consumer chains (TVM's Metal batching has reports of wrong
  # results after ~11+ dependent dispatches); bench chain checks every value.
  for n in 11 20 1000; do
    "$build/gpubatch" bench chain --n $n --reps 20 --mode batched --json || fail
  done | tee "$out/chains.jsonl"
fi

if has plots; then
  for pat in dependent independent; do
    "$build/gpubatch" bench chain --sweep --n 10000 --reps 9 --mode all --pattern $pat --json \
      --plot "$out/chain-$pat.svg" || fail
  done | tee "$out/sweep.jsonl" | cut -c1-200
fi

if has bench; then
  {
    for pat in dependent independent; do
      for n in 1000 10000; do
        "$build/gpubatch" bench chain --n $n --reps 15 --mode both --pattern $pat --json
        # "before issue 3": a barrier after every command, no early submits
        "$build/gpubatch" bench chain --n $n --reps 15 --mode batched --pattern $pat --barriers always --cap 4294967295 --json
      done
      for cap in 64 128 256 512 1024 4294967295; do
        "$build/gpubatch" bench chain --n 10000 --reps 15 --mode batched --pattern $pat --cap $cap --json
      done
    done
  } | tee "$out/bench.jsonl" | cut -c1-330
fi
[ -e "$failed" ] && { echo "suite: FAILED"; exit 1; }
echo "suite: passed"
