#!/usr/bin/env bash
# Builds variants of the llama decoder for an A/B run on the GPU machine:
# each from HEAD with patches applied (a kernel change kept as a patch in
# bench/results/, say), in a worktree of its own, Release. Usage:
#   bash bench/scripts/build-variants.sh OUTDIR NAME[=PATCH[,PATCH...]] ...
# NAME alone builds HEAD as it is. Each variant lands in OUTDIR/NAME:
#   gpubatch-llama                      the decoder (kernels embedded)
#   examples/llama/llama_test_gpu       its GPU tests' binary, so that (OUTDIR
#                                       relative) bench/scripts/gpu-llama-tests.sh OUTDIR/NAME runs them
#   gpubatch-kernel-stats, kernels/     the layers kernels' SPIR-V and the tool
#                                       that reports their registers on a device
# Then carry OUTDIR (and .gpu) and compare with
#   bash bench/scripts/gpu-llama-ab.sh OUT a=OUTDIR/a/gpubatch-llama b=OUTDIR/b/gpubatch-llama
# Extra cmake arguments for every variant: CMAKE_ARGS (e.g.
# "-DLLAMA_WIDE_DEFINES=UNROLL=2u"). Stops at the first patch that does not
# apply or build that fails.
set -eu -o pipefail
[ $# -ge 2 ] || {
  echo "usage: bash bench/scripts/build-variants.sh OUTDIR NAME[=PATCH[,PATCH...]] ..." >&2
  exit 2
}
root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
read -r -a cmake_args <<<"${CMAKE_ARGS:-}"
for spec in "$@"; do
  name=${spec%%=*}
  patches=()
  [[ $spec == *=* ]] && IFS=, read -r -a patches <<<"${spec#*=}"
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || {
    echo "variant name '$name': letters, digits, '_', '.', '-' only" >&2
    exit 2
  }
  tree=$(mktemp -d /tmp/gpb-variant-XXXXXX)
  trap 'git -C "$root" worktree remove --force "$tree" 2>/dev/null || true' EXIT
  git -C "$root" worktree add --detach --force -q "$tree" HEAD
  for p in "${patches[@]}"; do
    [ -f "$p" ] || p=$root/$p
    git -C "$tree" apply "$p" || {
      echo "$name: $p does not apply to HEAD" >&2
      exit 1
    }
  done
  desc=HEAD
  for p in "${patches[@]}"; do desc+=" + ${p##*/}"; done
  echo "$name: $desc"
  cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" >/dev/null
  cmake --build "$tree/build" -j"$(nproc)" --target gpubatch_llama_cli llama_test_gpu gpubatch_kernel_stats >/dev/null
  dest=$out/$name
  rm -rf "$dest"
  mkdir -p "$dest/examples/llama" "$dest/kernels"
  cp "$tree/build/gpubatch-llama" "$tree/build/gpubatch-kernel-stats" "$dest/"
  cp "$tree/build/examples/llama/llama_test_gpu" "$dest/examples/llama/"
  cp "$tree"/build/examples/llama/kernels/llama_wide_layers_*.spv "$dest/kernels/"
  git -C "$root" worktree remove --force "$tree"
  trap - EXIT
done
