#!/usr/bin/env bash
# Runs on the GPU machine: the llama decoder's kernel geometry, one knob at a
# time from the defaults (classifier rows per workgroup, FFN rows per
# workgroup, positions per attention workgroup), stories15M shape, 256 steps,
# replay --ahead (GPU-bound: tok/s follows the GPU time per step), 2 runs each.
#   bash bench/scripts/gpu-llama-sweep.sh build-gpu [OUTDIR]
set -u -o pipefail
build=${1:-build-gpu}
out=${2:-${OUT:-/tmp/gpb-out}}
mkdir -p "$out"
source .gpu/gpu-env.sh >/dev/null 2>&1
ckpt=/tmp/stories15M-random.bin
"$build/gpubatch" llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt" >/dev/null
{
  for rep in 1 2; do
    for knob in "" "--classifier-rows 64" "--classifier-rows 256" "--classifier-rows 512" "--ffn-rows 8" \
      "--ffn-rows 32" "--attention-split 32" "--attention-split 128"; do
      echo "## $knob"
      "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 --mode replay --ahead $knob --json
    done
  done
} >"$out/sweep.txt" 2>&1
grep -c '"tok_per_s"' "$out/sweep.txt"
