#!/usr/bin/env bash
# The main job: install, build, list the devices, then decode a stories15M-
# shaped llama2.c checkpoint (random weights, generated once into build/) in
# immediate and in batched mode on the default device (a GPU if there is one,
# else lavapipe) and print them side by side. GPB_LLAMA_STEPS sets the number
# of decode steps (default 64).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
echo
./build/gpubatch devices
ckpt=build/stories15M-random.bin
if [ ! -f "$ckpt" ]; then
  echo "generating $ckpt (stories15M shape, random weights, seed 1, std 0.1)"
  ./build/gpubatch llama-gen --shape stories15M --seed 1 --std 0.1 -o "$ckpt.tmp" >/dev/null
  mv "$ckpt.tmp" "$ckpt"
fi
steps=${GPB_LLAMA_STEPS:-64}
for mode in immediate batched; do
  echo "decoding $steps steps in $mode mode..."
  ./build/gpubatch llama --checkpoint "$ckpt" --steps "$steps" --mode "$mode" --json >"build/llama-$mode.json"
done
field() { grep -o "\"$2\": [0-9.]*" "build/llama-$1.json" | head -1 | awk '{print $2}'; }
tokens() { grep -o '"tokens": \[[^]]*\]' "build/llama-$1.json"; }
echo
printf '%-24s %14s %14s\n' "stories15M, $steps steps" immediate batched
for f in tok_per_s dispatches_per_token submits_per_token; do
  printf '%-24s %14s %14s\n' "$f" "$(field immediate $f)" "$(field batched $f)"
done
same=no
[ "$(tokens immediate)" = "$(tokens batched)" ] && same=yes
echo "same tokens in both modes: $same"
awk -v a="$(field immediate tok_per_s)" -v b="$(field batched tok_per_s)" \
  'BEGIN { if (a > 0) printf "batched speed-up: %.2fx\n", b / a }'
echo "(full JSON with counters: build/llama-immediate.json, build/llama-batched.json)"
