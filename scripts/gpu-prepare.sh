#!/usr/bin/env bash
# Prepares .gpu/ for runs on the NVIDIA GPU machine (see ../shared/gpu/README.md):
# the shared loader + validation-layer packages, plus the run-time library
# packages gpubatch links that the GPU machine lacks (SPIRV-Cross's C API).
# .gpu/gpu-env.sh unpacks every .deb in .gpu/ there. Run once per checkout.
set -eu
top=$(git rev-parse --show-toplevel)
"$top/../shared/gpu/prepare.sh"
cd "$top/.gpu"
apt-get download -q libspirv-cross-c-shared0 >/dev/null
echo "added: $(ls libspirv-cross-c-shared0_*.deb)"
