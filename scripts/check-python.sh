#!/usr/bin/env bash
# The Python package as a user installs it (README "Python"): installs a
# built gpubatch into a temporary prefix, creates a virtual environment that
# sees Debian's numpy and pytest, pip-installs ./python offline, then runs
# `import gpubatch`, examples/python/saxpy.py and the pytest suite in
# python/tests on the default device with the validation layer on; any
# validation message fails (a ValidationWarning, turned into an error).
#   scripts/check-python.sh [BUILD_DIR]   (default build/, already built)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
step() { printf '== check-python: %s\n' "$*"; }
# Debian's interpreter, whose packages (python3-numpy, python3-pytest) the
# environment sees, even where another python3 comes first on PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

step "cmake --install $build --prefix <tmp>"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
lib=$(dirname "$(find "$prefix" -name libgpubatch.so.0 | head -n 1)")

step "python3 -m venv --system-site-packages; pip install --no-index --no-build-isolation ./python"
"$py" -m venv --system-site-packages "$work/venv"
# A copy, so that the build's egg-info and build/ stay out of the source tree.
cp -r python "$work/python"
rm -rf "$work/python/build" "$work/python"/*.egg-info
"$work/venv/bin/pip" install -q --disable-pip-version-check --no-index --no-build-isolation "$work/python" >"$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; echo "check-python: pip install failed" >&2; exit 1; }
vpy=$work/venv/bin/python

export GPB_VALIDATION=1 PYTHONDONTWRITEBYTECODE=1
step "import gpubatch (the library found on the loader's path)"
LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$vpy" -W error -c '
import gpubatch, sys
assert gpubatch.__file__.startswith(sys.prefix), gpubatch.__file__  # the installed package, not the tree
print("gpubatch", gpubatch.version(), "from", gpubatch.library_path(), "on", gpubatch.devices()[0].name)'

export GPUBATCH_LIBRARY=$lib GPUBATCH_INCLUDE_DIR=$prefix/include
step "examples/python/saxpy.py (GPUBATCH_LIBRARY=<tmp>/lib)"
"$vpy" -W error examples/python/saxpy.py 100000 --trace "$work/trace.json"

step "pytest python/tests"
"$vpy" -m pytest -q -p no:cacheprovider python/tests
step "all passed"
