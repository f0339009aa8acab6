#!/usr/bin/env bash
# Installs a built gpubatch into a temporary prefix and builds and runs
# examples/saxpy against it the three ways a user can: find_package (shared,
# then static), pkg-config (shared, then --static), and gpubatch's sources as
# a subdirectory, whose ctest must list saxpy's test and none of gpubatch's.
# Where the install has the CLI, its llama commands must run the installed
# gpubatch-llama.
#   scripts/check-install.sh [BUILD_DIR]   (default build/, already built)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
src=$PWD/examples/saxpy
step() { printf '== check-install: %s\n' "$*"; }

step "cmake --install $build --prefix <tmp>"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
lib=$(dirname "$(find "$prefix" -name libgpubatch.a | head -n 1)")
lib=${lib#"$prefix"/} # lib, or lib/<multiarch> where the prefix is /usr
for f in include/gpubatch/gpubatch.h include/gpubatch/version.h $lib/libgpubatch.a $lib/libgpubatch.so \
  $lib/cmake/gpubatch/gpubatchConfig.cmake $lib/cmake/gpubatch/gpubatchConfigVersion.cmake \
  $lib/cmake/gpubatch/kernels.cmake $lib/pkgconfig/gpubatch.pc; do
  [ -e "$prefix/$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done
# The CLI's llama commands run the gpubatch-llama installed beside it.
if [ -x "$prefix/bin/gpubatch" ]; then
  step "installed bin/gpubatch llama --help (runs bin/gpubatch-llama)"
  "$prefix/bin/gpubatch" llama --help | grep -q "usage: gpubatch-llama" ||
    { echo "check-install: bin/gpubatch llama did not run bin/gpubatch-llama" >&2; exit 1; }
fi
soname=$(readelf -d "$prefix/$lib/libgpubatch.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libgpubatch.so.$(sed -n 's/^#define GPB_VERSION_MAJOR_NUMBER //p' include/gpubatch/version.h)" ] ||
  { echo "check-install: unexpected soname '$soname'" >&2; exit 1; }
# The shared library exports the public API and nothing else.
exported=$(nm -D --defined-only "$prefix/$lib/libgpubatch.so" | awk '{print $3}' | grep -v '^gpb_' || true)
[ -z "$exported" ] || { echo "check-install: libgpubatch.so exports non-API symbols: $exported" >&2; exit 1; }

for linkage in shared static; do
  step "find_package(gpubatch), $linkage"
  static=OFF
  [ "$linkage" = static ] && static=ON
  cmake -S "$src" -B "$work/cmake-$linkage" -DCMAKE_PREFIX_PATH="$prefix" -Dgpubatch_USE_STATIC_LIBS=$static >/dev/null
  cmake --build "$work/cmake-$linkage" >/dev/null
  if [ "$linkage" = shared ]; then
    ldd "$work/cmake-shared/saxpy" | grep -q "$prefix/$lib/libgpubatch.so" ||
      { echo "check-install: saxpy is not linked to the installed libgpubatch.so" >&2; exit 1; }
  else
    ! ldd "$work/cmake-static/saxpy" | grep -q libgpubatch ||
      { echo "check-install: the static build links libgpubatch.so" >&2; exit 1; }
  fi
  "$work/cmake-$linkage/saxpy" 100000
done

step "pkg-config gpubatch"
glslc -mfmt=c -o "$work/saxpy.inc" "$src/saxpy.comp"
export PKG_CONFIG_PATH=$prefix/$lib/pkgconfig
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -I"$work" "$src/saxpy.c" $(pkg-config --cflags --libs gpubatch) -lm -o "$work/saxpy-pc"
LD_LIBRARY_PATH=$prefix/$lib "$work/saxpy-pc" 100000
step "pkg-config --static gpubatch"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -I"$work" "$src/saxpy.c" -Wl,-Bstatic -lgpubatch -Wl,-Bdynamic \
  $(pkg-config --cflags --static --libs gpubatch | sed 's/-lgpubatch//') -lm -o "$work/saxpy-pc-static"
"$work/saxpy-pc-static" 100000

step "add_subdirectory(gpubatch)"
cmake -S "$src" -B "$work/sub" -DGPUBATCH_SOURCE_DIR="$PWD" >/dev/null
cmake --build "$work/sub" -j"$(nproc)" >/dev/null
tests=$(ctest --test-dir "$work/sub" -N | sed -n 's/^ *Test *#[0-9]*: //p')
[ "$tests" = saxpy ] || { echo "check-install: the consumer's ctest lists: $tests" >&2; exit 1; }
"$work/sub/saxpy" 100000
step "all passed"
