#!/usr/bin/env bash
# Runs on the GPU machine: the A/B of commit d26e00b (GPB_SUBMIT_ORDER=semaphore|
# barrier: a stream's batches ordered by a wait on its timeline or by a leading
# barrier; reverted since, so on later builds both halves run the same code):
# chains with 1, 16 and 256 dispatches per submit and the llama modes, then the
# randomized tester and the producer-consumer chains.
#   bash scripts/gpu-ab-order.sh build-gpu [OUTDIR]
set -u -o pipefail
build=${1:-build-gpu}; out=${2:-${OUT:-/tmp/gpb-out}}; mkdir -p "$out"
source .gpu/gpu-env.sh >/dev/null 2>&1
ckpt=/tmp/stories15M-random.bin
"$build/gpubatch" llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt" >/dev/null
{
for rep in 1 2 3; do
  for order in semaphore barrier; do
    export GPB_SUBMIT_ORDER=$order
    for cap in 1 16 256; do
      echo "## order=$order cap=$cap"; "$build/gpubatch" bench chain --n 4000 --reps 7 --mode batched --cap $cap --json
    done
    for args in "--mode batched" "--mode replay" "--mode batched --ahead" "--mode replay --ahead" "--mode immediate"; do
      echo "## order=$order $args"; "$build/gpubatch" llama --checkpoint "$ckpt" --steps 256 $args --json | cut -c1-100000
    done
  done
done
} > $out/ab.txt 2>&1
unset GPB_SUBMIT_ORDER
for seed in 1 2; do "$build/gpubatch" selftest --seed $seed --programs 5000 --json; done > $out/selftest.jsonl 2>&1
"$build/gpubatch" selftest --seed 9 --programs 300 --streams 3 --json >> $out/selftest.jsonl 2>&1
"$build/gpubatch" selftest --seed 7 --programs 300 --validate --json >> $out/selftest.jsonl 2>&1
for n in 11 20 1000; do "$build/gpubatch" bench chain --n $n --reps 20 --mode all --json; done > $out/chains.jsonl 2>&1
tail -c 600 $out/selftest.jsonl
