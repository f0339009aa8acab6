#!/usr/bin/env bash
# The main job: install, build, list the devices, then run the dependent
# dispatch chain in immediate and batched mode on the default device (a GPU
# if there is one, else lavapipe) and print them side by side.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
echo
./build/gpubatch devices
echo
./build/gpubatch bench chain --n "${GPB_CHAIN_N:-1000}" --mode both
