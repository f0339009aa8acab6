#!/usr/bin/env bash
# Runs on the GPU machine: the llama decoder against the CPU reference (the
# ctest llama_gpu_* cases: every mode, ahead and record-ahead too, several shapes,
# every plan, f32 and f16 weights, GGUF types, split-K) with the validation layer on, plus 64 steps
# of stories15M in replay --ahead. PART=fused, PART=wide or PART=persistent
# runs one plan's cases.
#   bash bench/scripts/gpu-llama-tests.sh build-gpu [OUTDIR]
set -u -o pipefail
build=${1:-build-gpu}
out=${2:-${OUT:-/tmp/gpb-out}}
mkdir -p "$out"
source .gpu/gpu-env.sh >/dev/null 2>&1
t="$PWD/$build/examples/llama/llama_test_gpu"
gqa="--dim 64 --hidden 160 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --seq-len 64"
cd /tmp
failed=0
check() {
  local name=$1
  shift
  if GPB_VALIDATION=1 "$t" "$@" --file "/tmp/$name.bin" >"$out/$name.log" 2>&1; then echo "PASS $name"; else
    echo "FAIL $name"
    tail -5 "$out/$name.log"
    failed=1
  fi
}
part=${PART:-all}
if [ "$part" = all ] || [ "$part" = fused ]; then
  for cls in "" --separate-classifier; do
    for mode in batched immediate replay "batched --ahead" "replay --ahead" "immediate --ahead" \
      "batched --record-ahead" "replay --record-ahead"; do
      check "gqa${cls}-${mode// /}" $gqa $cls --mode $mode --steps 64 --seed 7 --std 0.2
    done
  done
  check splits $gqa --mode replay --ahead --steps 64 --seed 11 --std 0.2 --attention-split 5
  check rows32 --dim 80 --hidden 196 --layers 2 --heads 5 --kv-heads 1 --vocab 777 --seq-len 48 --separate-classifier \
    --mode replay --steps 48 --seed 7 --std 0.2 --rows-per-group 32
  check mqa_odd --dim 96 --hidden 196 --layers 3 --heads 6 --kv-heads 1 --vocab 777 --seq-len 40 --separate-classifier \
    --mode batched --ahead --steps 40 --seed 3 --std 0.2
  check long_head --dim 128 --hidden 160 --layers 2 --heads 1 --kv-heads 1 --vocab 512 --seq-len 64 --mode replay \
    --ahead --steps 64 --seed 5 --std 0.2 --attention-split 128
  check stories15m --shape stories15M --mode replay --ahead --steps 64 --seed 5
  check stories15m-batched --shape stories15M --mode batched --steps 64 --seed 5
  check stories15m-record-ahead --shape stories15M --mode batched --record-ahead --steps 64 --seed 5
fi
if [ "$part" = all ] || [ "$part" = wide ]; then
  # The wide plan: every mode with both weight types, then the widths of real
  # models (dims that are no multiple of 64, GQA 7:1 and 8:1) in few layers.
  for w in f32 f16; do
    for mode in batched immediate replay "batched --ahead" "replay --ahead" "batched --record-ahead" \
      "replay --record-ahead"; do
      check "wide-$w-gqa-${mode// /}" $gqa --separate-classifier --plan wide --weights $w --mode $mode --steps 64 \
        --seed 7 --std 0.2
    done
    check "wide-$w-qwen-narrow" --dim 896 --hidden 4864 --layers 2 --heads 14 --kv-heads 2 --vocab 1000 --seq-len 80 \
      --separate-classifier --plan wide --weights $w --mode batched --record-ahead --steps 80 --seed 3 --std 0.05 \
      --attention-split 16
    check "wide-$w-tinyllama-narrow" --dim 2048 --hidden 5632 --layers 2 --heads 32 --kv-heads 4 --vocab 1000 \
      --seq-len 64 --separate-classifier --plan wide --weights $w --mode replay --ahead --steps 64 --seed 3 --std 0.05
    check "fused-$w-qwen-narrow" --dim 896 --hidden 4864 --layers 2 --heads 14 --kv-heads 2 --vocab 1000 \
      --seq-len 64 --separate-classifier --plan fused --weights $w --mode batched --steps 64 --seed 3 --std 0.05
  done
  # GGUF types, split-K by hand and by default, many passes per workgroup.
  small="--dim 128 --hidden 352 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --seq-len 40 --separate-classifier"
  for w in q8_0 q4_0 bf16; do
    check "wide-$w-gguf" $small --gguf $w --plan wide --mode batched --record-ahead --steps 40 --seed 5 --std 0.2 \
      --attention-split 8
    check "wide-$w-tinyllama-narrow" --dim 2048 --hidden 5632 --layers 1 --heads 32 --kv-heads 4 --vocab 1000 \
      --seq-len 40 --std 0.05 --gguf $w --mode batched --record-ahead --steps 6 --seed 3 --attention-split 4
  done
  for split in 3 8; do
    check "wide-split$split" $small --gguf q4_0 --plan wide --wide-split $split --wide-groups 3 --mode batched \
      --steps 40 --seed 5 --std 0.2 --attention-split 8
  done
  check wide-passes $small --gguf q8_0 --plan wide --wide-rows 128 --wide-split 3 --wide-groups 2 --mode batched \
    --steps 40 --seed 5 --std 0.2 --attention-split 8
  check wide-stories15m-f16 --shape stories15M --plan wide --weights f16 --mode batched --record-ahead --steps 64 --seed 5
  check fused-stories15m-f16 --shape stories15M --plan fused --weights f16 --mode replay --ahead --steps 64 --seed 5
fi
if [ "$part" = all ] || [ "$part" = persistent ]; then
  # The persistent plan (all layers in one dispatch, grid barriers): every
  # mode with both weight types at the default workgroup count (probed when
  # the model loads), the widths of real models, GGUF types with split-K,
  # and 1 and 2 workgroups per SM asked for by hand (an H100's 132 SMs).
  for w in f32 f16; do
    for mode in batched immediate replay "batched --ahead" "replay --ahead" "batched --record-ahead" \
      "replay --record-ahead"; do
      check "persistent-$w-gqa-${mode// /}" $gqa --separate-classifier --plan persistent --weights $w --mode $mode \
        --steps 64 --seed 7 --std 0.2 --attention-split 8
    done
    check "persistent-$w-qwen-narrow" --dim 896 --hidden 4864 --layers 2 --heads 14 --kv-heads 2 --vocab 1000 \
      --seq-len 80 --separate-classifier --plan persistent --weights $w --mode batched --record-ahead --steps 80 \
      --seed 3 --std 0.05 --attention-split 16
    check "persistent-$w-tinyllama-narrow" --dim 2048 --hidden 5632 --layers 2 --heads 32 --kv-heads 4 --vocab 1000 \
      --seq-len 64 --separate-classifier --plan persistent --weights $w --mode replay --ahead --steps 64 --seed 3 \
      --std 0.05
  done
  small="--dim 128 --hidden 352 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --seq-len 40 --separate-classifier"
  for w in q8_0 q4_0 bf16; do
    check "persistent-$w-gguf" $small --gguf $w --plan persistent --wide-split 3 --mode batched --record-ahead \
      --steps 40 --seed 5 --std 0.2 --attention-split 8
  done
  # Integer dot products (--int-dot) on the quantized layers: split-K by
  # hand, the widths of real models, the clock-marking kernel.
  for w in q8_0 q4_0; do
    check "persistent-$w-gguf-int-dot" $small --gguf $w --plan persistent --int-dot --wide-split 3 --mode batched \
      --record-ahead --steps 40 --seed 5 --std 0.2 --attention-split 8
    check "persistent-$w-tinyllama-narrow-int-dot" --dim 2048 --hidden 5632 --layers 2 --heads 32 --kv-heads 4 \
      --vocab 1000 --seq-len 64 --separate-classifier --gguf $w --plan persistent --int-dot --mode replay \
      --record-ahead --steps 64 --seed 3 --std 0.05
    check "persistent-$w-qwen-narrow-int-dot" --dim 896 --hidden 4864 --layers 2 --heads 14 --kv-heads 2 \
      --vocab 1000 --seq-len 80 --separate-classifier --gguf $w --plan persistent --int-dot --mode batched --ahead \
      --steps 80 --seed 3 --std 0.05 --attention-split 16
  done
  check "persistent-q4_0-int-dot-phase-times" --dim 2048 --hidden 5632 --layers 2 --heads 32 --kv-heads 4 \
    --vocab 1000 --seq-len 40 --separate-classifier --gguf q4_0 --plan persistent --int-dot --phase-times \
    --mode batched --record-ahead --steps 40 --seed 3 --std 0.05 --attention-split 4
  # The kernel that marks its barriers' device clock (--phase-times): same
  # logits, and marks that run forward and add up (test_gpu.c).
  check "persistent-phase-times" $gqa --separate-classifier --plan persistent --phase-times --mode replay \
    --record-ahead --steps 64 --seed 7 --std 0.2 --attention-split 8
  check "persistent-q4_0-tinyllama-phase-times" --dim 2048 --hidden 5632 --layers 2 --heads 32 --kv-heads 4 \
    --vocab 1000 --seq-len 40 --separate-classifier --gguf q4_0 --plan persistent --phase-times --mode batched \
    --record-ahead --steps 40 --seed 3 --std 0.05 --attention-split 4
  # Many attention tasks a step (1-position splits): past lavapipe's loop
  # limit for one workgroup, a plain decode on a GPU.
  check "persistent-many-tasks" --dim 512 --hidden 512 --layers 1 --heads 8 --kv-heads 4 --vocab 1000 --seq-len 64 \
    --separate-classifier --plan persistent --attention-split 1 --mode batched --steps 64 --seed 3 --std 0.05
  for groups in 132 264; do
    check "persistent-q4_0-groups$groups" $small --gguf q4_0 --plan persistent --persistent-groups $groups \
      --mode replay --steps 40 --seed 5 --std 0.2 --attention-split 8
  done
fi
exit $failed
