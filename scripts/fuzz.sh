#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang++, coverage, AddressSanitizer and
# UndefinedBehaviorSanitizer into ./build-fuzz, and runs each from its seed corpus
# (tests/fuzz/corpus/<target>) for FUZZ_SECONDS (default 30) seconds. Any crash, sanitizer report,
# leak or timeout fails the run; the reproducer is left in build-fuzz/fuzz/artifacts/.
# New inputs go to build-fuzz/fuzz/corpus/<target> (the seeds in the repository are not touched).
# Long local runs: tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
MFSQL_NEED_CLANG=1 bash scripts/install-deps.sh
source scripts/compiler-cache.sh
seconds="${FUZZ_SECONDS:-30}"
read -r -a targets <<<"${FUZZ_TARGETS:-fuzz_unpickle fuzz_mflog fuzz_store_json fuzz_sql}"
shared="${MFSQL_SHARED:-$(cd .. && pwd)/shared}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DMFSQL_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" -DMFSQL_SHARED="$shared" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_unpickle fuzz_mflog fuzz_store_json fuzz_sql
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# The cache stays on (its code is fuzzed too), in a folder of this run's, never the user's ~/.cache.
fuzz_cache="$(mktemp -d)"
trap 'rm -rf "$fuzz_cache"' EXIT
export XDG_CACHE_HOME="$fuzz_cache"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-fuzz/fuzz
mkdir -p artifacts
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$t.log"
  echo "== $t: ${seconds}s"
  if ! "./$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
       -print_final_stats=1 -artifact_prefix="artifacts/$t-" \
       "corpus/$t" "../../tests/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAILED: $t (log: build-fuzz/fuzz/$log)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  summary+=("$t: ${runs:-?} executions in ${seconds}s")
done
printf '%s\n' "${summary[@]}"
