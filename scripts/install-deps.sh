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
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
