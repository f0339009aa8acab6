#!/usr/bin/env bash
# Installs what gpubatch needs to build and test, from Debian's packages.
# Idempotent: does nothing (not even apt-get update) when all are present.
# Runs as root, or through sudo.
set -eu
packages=(
  build-essential cmake pkg-config  # toolchain
  glslc                             # GLSL -> SPIR-V at build time
  libvulkan-dev libvulkan-volk-dev  # Vulkan headers; volk loads libvulkan at run time
  libspirv-cross-c-shared-dev       # kernel reflection (bindings, push constants)
  spirv-tools                       # kernel validation before reflection (SPIRV-Tools C API)
  mesa-vulkan-drivers               # lavapipe: Vulkan on the CPU, for machines without a GPU
  vulkan-validationlayers           # the Khronos validation layer, on in every test
  python3                           # scripts (the main job's table, trace summaries)
  python3-numpy python3-venv        # the Python package (python/): numpy, a venv to install it into
  python3-wheel python3-pytest      # ... built offline (pip --no-build-isolation), and its tests
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing ${#missing[@]} Debian packages: ${missing[*]}"
# apt's progress goes to a log, shown only when something fails.
log=$(mktemp)
if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
  --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log"
  echo "install-deps: apt-get failed (its output is above)" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
