#!/usr/bin/env bash
# Fetches llama.cpp's Vulkan build as the npm package
# @node-llama-cpp/linux-x64-vulkan ships it (libllama, the ggml backends;
# no headers) and builds bench/peers/llamacpp_vulkan.c against it:
#   bash bench/peers/llamacpp-vulkan.sh [DIR]     (default /tmp/gpb-llamacpp)
# DIR/lib holds the libraries, DIR/llamacpp_vulkan the harness:
#   DIR/llamacpp_vulkan --lib DIR/lib --model F.gguf --steps 128 --json
# Nothing lands in the checkout (the binaries are not ours to commit). The
# machine that runs it needs the Vulkan loader and a driver; the npm registry
# is only needed here, so fetch on a networked machine and copy DIR over.
set -eu
version=3.21.1
dir=${1:-/tmp/gpb-llamacpp}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$dir"
cd "$dir"
tarball=node-llama-cpp-linux-x64-vulkan-$version.tgz
[ -f "$tarball" ] || npm pack "@node-llama-cpp/linux-x64-vulkan@$version" >/dev/null
rm -rf package lib
tar xzf "$tarball"
mv package/bins/linux-x64-vulkan lib
rm -rf package
cc -O2 -std=c11 -Wall -Wextra -o llamacpp_vulkan "$root/bench/peers/llamacpp_vulkan.c" -ldl -lm
echo "built $dir/llamacpp_vulkan (libraries in $dir/lib)"
