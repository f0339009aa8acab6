#!/bin/sh
# Stands in for bench/peers/llamacpp_vulkan in the shape sweep's test
# (llama_shapes_script_tiny): takes the harness's arguments and answers with
# the JSON of $GPB_LLAMA (the gpubatch-llama program), which has the fields
# the sweep's summary reads (tokens, tok_per_s).
model=
steps=128
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2 && shift ;;
    --steps) steps=$2 && shift ;;
  esac
  shift
done
exec "$GPB_LLAMA" --model "$model" --steps "$steps" --json
