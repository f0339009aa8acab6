#!/usr/bin/env bash
# Runs on the GPU machine: the llama decode comparison at the stories15M shape
# (gpubatch immediate, batched and replay, each also --ahead, and batched and
# replay --record-ahead; PyTorch eager and CUDA graph; the CPU reference on
# 16 threads), one checkpoint, 256 steps, three runs per gpubatch row; then
# Chrome traces of 64 steps of batched, replay --ahead and batched
# --record-ahead. Usage:
#   bash bench/scripts/gpu-llama.sh build-gpu [OUTDIR]
set -u -o pipefail
build=${1:-build-gpu}
out=${2:-${OUT:-/tmp/gpb-out}}
mkdir -p "$out"
source .gpu/gpu-env.sh >/dev/null 2>&1
ckpt=/tmp/stories15M-random.bin
"$build/gpubatch" llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt" >/dev/null
run() { echo "## $*"; "$@"; }
{
  for rep in 1 2 3; do
    for mode in immediate batched replay; do
      run "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 --mode $mode --json
      run "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 --mode $mode --ahead --json
      [ $mode = immediate ] ||
        run "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 --mode $mode --record-ahead --json
    done
  done
  for args in "--mode batched" "--mode replay --ahead" "--mode batched --record-ahead"; do
    name=$(echo "$args" | tr -d ' -')
    run "$build/gpubatch" llama --checkpoint "$ckpt" --steps 64 $args --trace "$out/llama-trace-$name.json" --json
  done
  run "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 --mode cpu --threads 16 --json
  run python3 bench/peers/torch_llama.py --checkpoint "$ckpt" --steps 256 --check-ids
} 2>&1 | tee "$out/llama.txt" | cut -c1-300
