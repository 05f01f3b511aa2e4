#!/usr/bin/env bash
# Builds mfsql with AddressSanitizer + UndefinedBehaviorSanitizer into ./build-asan and runs the
# GoogleTest suites there; any report fails the run. Tests that load the module into a program
# built without the sanitizers (Python, ODBC: label `external`) are left to the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/compiler-cache.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMFSQL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
cd build-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure -j2 --timeout 900 -LE external
