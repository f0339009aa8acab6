#!/usr/bin/env bash
# Runs on the GPU machine: does the classifier's stream make the next step's first
# kernels slow? The stories15M shape with its 32000-token vocabulary and with a
# 512-token one, traced (batched, 64 steps) and timed (replay --ahead, batched).
#   bash scripts/gpu-cold-probe.sh   (uses build-gpu; writes cold-*.json to $OUT)
set -u
source .gpu/gpu-env.sh >/dev/null 2>&1
b=build-gpu
$b/gpubatch llama-gen --shape stories15M --seed 1 --std 0.1 -o /tmp/big.bin >/dev/null
$b/gpubatch llama-gen --shape stories15M --vocab 512 --seed 1 --std 0.1 -o /tmp/small.bin >/dev/null
for ck in big small; do
  $b/gpubatch llama --checkpoint /tmp/$ck.bin --steps 64 --mode batched --trace $OUT/cold-$ck.json --json | cut -c1-40
  $b/gpubatch llama --checkpoint /tmp/$ck.bin --steps 256 --mode replay --ahead --json | grep -o '"tok_per_s": [0-9.]*'
  $b/gpubatch llama --checkpoint /tmp/$ck.bin --steps 256 --mode batched --json | grep -o '"tok_per_s": [0-9.]*'
done
