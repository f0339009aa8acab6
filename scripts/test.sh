#!/usr/bin/env bash
# The tests: install, build, run every ctest test on the default device
# (lavapipe without a GPU) with the validation layer on, then again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the thread tests under
# ThreadSanitizer; in between, scripts/check-install.sh builds and runs
# examples/saxpy against the installed library and scripts/check-python.sh
# runs the Python package's example and tests. `scripts/test.sh --quick`
# skips the sanitizer builds.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
supp="$PWD/tests/lsan.supp"

echo "== build/ (RelWithDebInfo)"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== install: examples/saxpy against the installed package, pkg-config and a subdirectory"
scripts/check-install.sh build

echo "== python: the package installed offline into a venv, examples/python/saxpy.py, pytest"
scripts/check-python.sh build

[ "${1:-}" = "--quick" ] && exit 0

echo "== build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DGPB_SANITIZE=address,undefined
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$supp" UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE slow

echo "== build-tsan/ (ThreadSanitizer, thread tests)"
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=Debug -DGPB_SANITIZE=thread
ctest --test-dir build-tsan --output-on-failure -L thread
