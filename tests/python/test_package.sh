#!/usr/bin/env bash
# The Python package as a user installs it: a fresh virtualenv made from Debian's /usr/bin/python3
# (--system-site-packages: Debian's setuptools, wheel, pandas, IPython), `pip install .` and
# `pip wheel .` without an index, then the installed API against the fixture
# (tests/python/test_package.py, run from outside the checkout).
# The build reuses the module CMake already built (MFSQL_PREBUILT, see setup.py) unless
# MFSQL_PACKAGE_FULL_BUILD=1, which lets pip run the whole CMake build itself.
#   MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local bash tests/python/test_package.sh
set -euo pipefail
: "${MFSQL_MODULE:?set MFSQL_MODULE to the built metaflow.so}"
: "${MFSQL_FIXTURE:?set MFSQL_FIXTURE to the public fixture folder}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mfsql-pip.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A copy of the checkout without its builds: pip builds in the tree it is given, and the test
# must leave the checkout as it was.
mkdir "$work/src"
tar -C "$src" --exclude='./build*' --exclude='./.git' --exclude='*.egg-info' -cf - . | tar -C "$work/src" -xf -

/usr/bin/python3 -m venv --system-site-packages "$work/venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if [ "${MFSQL_PACKAGE_FULL_BUILD:-0}" = 1 ]; then
  unset MFSQL_PREBUILT
  # Through ccache when the build scripts set it up: paths hashed relative to this copy of the tree.
  [ -n "${CCACHE_BASEDIR:-}" ] && export CCACHE_BASEDIR="$work/src"
  echo "== pip runs the CMake build"
else
  export MFSQL_PREBUILT="${MFSQL_MODULE%.so}.so"
  echo "== pip packages the module CMake built: $MFSQL_PREBUILT"
fi

echo "== pip install --no-build-isolation --no-index ."
(cd "$work/src" && "$work/venv/bin/pip" install --no-build-isolation --no-index . >"$work/install.log" 2>&1) ||
  { cat "$work/install.log"; echo "FAIL pip install"; exit 1; }
tail -n 1 "$work/install.log"

echo "== pip wheel --no-build-isolation --no-index --no-deps ."
(cd "$work/src" && "$work/venv/bin/pip" wheel --no-build-isolation --no-index --no-deps -w "$work/wheels" . \
   >"$work/wheel.log" 2>&1) || { cat "$work/wheel.log"; echo "FAIL pip wheel"; exit 1; }
ls "$work/wheels"

export MFSQL_WHEEL_DIR="$work/wheels" MFSQL_VENV="$work/venv"
unset MFSQL_PREBUILT
cd "$work"  # nothing of the checkout is importable from here
"$work/venv/bin/python" "$src/tests/python/test_package.py"
