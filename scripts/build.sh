#!/usr/bin/env bash
# Configures and builds into a folder: scripts/build.sh [DIR] [extra cmake args...]
# DIR defaults to build/ (optimized, with debug info): build/gpubatch is the CLI.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
