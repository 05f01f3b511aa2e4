#!/usr/bin/env bash
# Builds mfsql and runs every test: the normal build, then the same suites under AddressSanitizer
# and UndefinedBehaviorSanitizer (skip those with MFSQL_SKIP_SANITIZERS=1), then the fuzz targets
# for a bounded time (scripts/fuzz.sh; skip with MFSQL_SKIP_FUZZ=1). The fixtures come from
# ../shared beside the checkout (override with MFSQL_SHARED=/path/to/shared).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 900)
if [ "${MFSQL_SKIP_SANITIZERS:-0}" != 1 ]; then
  bash scripts/test-sanitizers.sh
fi
# libFuzzer targets, FUZZ_SECONDS (default 30) each (skip with MFSQL_SKIP_FUZZ=1).
if [ "${MFSQL_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh
fi
