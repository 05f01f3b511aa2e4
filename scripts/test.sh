#!/usr/bin/env bash
# Builds mfsql and runs every test. The fixtures come from ../shared beside the checkout
# (override with MFSQL_SHARED=/path/to/shared).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600
