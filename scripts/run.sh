#!/usr/bin/env bash
# The main job: install, build, list the devices, then decode a stories15M-
# shaped llama2.c checkpoint (random weights, generated once into build/) in
# immediate, batched and replay mode, batched record-ahead and batched ahead,
# on the default device
# (a GPU if there is one, else lavapipe), and print them side by side.
# GPB_LLAMA_STEPS sets the number of decode steps (default 64).
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
# immediate: one submit per dispatch; batched: one per token; replay: the
# step captured once per shape and replayed; record-ahead: batched, the next
# step recorded while the GPU runs this one, submitted once the host read
# this one's token; batched-ahead: the next step is submitted before the
# host reads this one's token (the GPU picks it).
names="immediate batched replay record-ahead batched-ahead"
args_of() {
  case $1 in
    record-ahead) echo "--mode batched --record-ahead" ;;
    batched-ahead) echo "--mode batched --ahead" ;;
    *) echo "--mode $1" ;;
  esac
}
for name in $names; do
  echo "decoding $steps steps: $name ($(args_of $name))..."
  ./build/gpubatch llama --checkpoint "$ckpt" --steps "$steps" $(args_of $name) --json >"build/llama-$name.json"
done
field() { grep -o "\"$2\": [0-9.]*" "build/llama-$1.json" | head -1 | awk '{print $2}'; }
tokens() { grep -o '"tokens": \[[^]]*\]' "build/llama-$1.json"; }
echo
printf '%-22s' "stories15M, $steps steps"
for name in $names; do printf ' %14s' "$name"; done
echo
for f in tok_per_s dispatches_per_token submits_per_token; do
  printf '%-22s' "$f"
  for name in $names; do printf ' %14s' "$(field "$name" $f)"; done
  echo
done
same=yes
for name in $names; do [ "$(tokens "$name")" = "$(tokens immediate)" ] || same=no; done
echo "same tokens in every mode: $same"
awk -v a="$(field immediate tok_per_s)" -v b="$(field batched tok_per_s)" -v r="$(field record-ahead tok_per_s)" \
  -v c="$(field batched-ahead tok_per_s)" 'BEGIN { if (a > 0) printf "batched / immediate: %.2fx; record-ahead: %.2fx; batched-ahead: %.2fx\n", b / a, r / a, c / a }'
echo "(full JSON with counters: build/llama-<mode>.json)"
