#!/usr/bin/env bash
# Builds mfsql and runs every test: the normal build (CTest; label external: the clients, the Python
# package installed by pip, the Debian package, sqlite-utils and pyodbc), the Python package again
# with pip running the whole CMake build (skip with MFSQL_SKIP_PIP_BUILD=1), then the same suites
# under AddressSanitizer and UndefinedBehaviorSanitizer (skip those with MFSQL_SKIP_SANITIZERS=1),
# then the fuzz targets for a bounded time (scripts/fuzz.sh; skip with MFSQL_SKIP_FUZZ=1). The
# fixtures come from ../shared beside the checkout (override with MFSQL_SHARED=/path/to/shared).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/compiler-cache.sh  # every build below, the pip one included
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 900)
# The Python package once more, with pip running the whole CMake build itself, as a plain
# `pip install .` does (CTest's python_package reuses build/metaflow.so). Skip with MFSQL_SKIP_PIP_BUILD=1.
if [ "${MFSQL_SKIP_PIP_BUILD:-0}" != 1 ]; then
  MFSQL_PACKAGE_FULL_BUILD=1 MFSQL_MODULE="$PWD/build/metaflow.so" \
    MFSQL_FIXTURE="${MFSQL_SHARED:-$(cd .. && pwd)/shared}/fixtures/metaflow-local" bash tests/python/test_package.sh
fi
if [ "${MFSQL_SKIP_SANITIZERS:-0}" != 1 ]; then
  bash scripts/test-sanitizers.sh
fi
# libFuzzer targets, FUZZ_SECONDS (default 30) each (skip with MFSQL_SKIP_FUZZ=1).
if [ "${MFSQL_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh
fi
