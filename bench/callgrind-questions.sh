#!/bin/bash
# bench/callgrind-questions.sh BUILD_DIR [BENCH_DIR]: issue #16's four questions (bench/repeat_bench.cpp)
# in instructions, which a busy or slow machine does not change: callgrind, every thread of the
# child process, minus a child that loads the module and asks SELECT 1. cold: an empty private
# cache (the shard writer's work after the answer included); off: MFSQL_CACHE=off; new proc: the
# cache the cold child left; warm: a child of 4 connections minus one of 1, over 3.
# BENCH_DIR holds the stores mfsql-bench-repeat made (its --dir; /tmp/bench by default).
set -euo pipefail
B=${1:?usage: bench/callgrind-questions.sh BUILD_DIR [BENCH_DIR]}; D=${2:-/tmp/bench}
for tool in valgrind sqlite3 bc; do
  command -v $tool >/dev/null || { echo "$tool is not installed: apt-get install valgrind sqlite3 bc" >&2; exit 1; }
done
for s in mfsql-repeat-120-45 mfsql-repeat-0-79 mfsql-bench-1000-2000; do
  [ -d "$D/$s" ] || { echo "$D/$s is missing: run $B/mfsql-bench-repeat --dir $D first" >&2; exit 1; }
done
X=$(mktemp -d /tmp/mfsql-callgrind-XXXXXX); trap 'rm -rf "$X"' EXIT
q() { METAFLOW_DATASTORE_SYSROOT_LOCAL=$1 MFSQL_CACHE=off sqlite3 -cmd ".load $B/metaflow" :memory: "$2" | head -1; }
FR=$(q $D/mfsql-repeat-120-45 "SELECT run_id FROM runs WHERE flow = 'BenchForeachFlow'")
WR=$(q $D/mfsql-repeat-0-79 "SELECT run_id FROM runs WHERE flow = 'BenchForeachFlow'")
run() { XDG_CACHE_HOME=$4 valgrind --tool=callgrind --callgrind-out-file=/dev/null $B/mfsql-bench-repeat --child $B/metaflow $1 $3 "$2" 2>&1 | sed -n 's/.*Collected : //p'; }
one() {
  local x=$X/$1; mkdir -p $x
  local base=$(run $2 "SELECT 1" 1 $X/base)
  local cold=$(run $2 "$3" 1 $x); local newp=$(run $2 "$3" 1 $x); local four=$(run $2 "$3" 4 $x)
  local off=$(MFSQL_CACHE=off run $2 "$3" 1 $X/off)
  printf "%-9s cold %7.2fM  off %7.2fM  (%+.0f%%)  new proc %7.2fM  warm %7.2fM\n" $1 $(echo "($cold-$base)/1000000; ($off-$base)/1000000; 100*($cold-$off)/($off-$base); ($newp-$base)/1000000; ($four-$newp)/3000000" | bc -l)
}
one runs120 $D/mfsql-repeat-120-45 "SELECT run_id, successful, finished_at, tags FROM runs WHERE flow = 'BenchFlow'"
one artifact $D/mfsql-repeat-120-45 "SELECT task_id, value FROM artifacts WHERE flow = 'BenchForeachFlow' AND run_id = '$FR' AND step = 'process' AND name = 'records'"
one tasks83 $D/mfsql-repeat-0-79 "SELECT step, task_id, successful, finished_at FROM tasks WHERE flow = 'BenchForeachFlow' AND run_id = '$WR'"
one runs1000 $D/mfsql-bench-1000-2000 "SELECT run_id, status, tags FROM runs WHERE flow = 'BenchFlow'"
