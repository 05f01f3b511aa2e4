#!/usr/bin/env bash
# mfsql's main job: a real query over a Metaflow store. Which store is the extension's decision, as
# for every other query: the one Metaflow's configuration names (METAFLOW_DATASTORE_SYSROOT_LOCAL,
# ~/.metaflowconfig or $METAFLOW_HOME config files and profiles, the metadata service) or a
# .metaflow folder here or in a folder above. Only when the extension finds none does the demo
# write a sample store in Metaflow's exact layout to a temporary folder and query that, through
# the same code path.
#   bash scripts/demo.sh                      # the default query
#   bash scripts/demo.sh "SELECT * FROM flows"
# MFSQL_MODULE=path/to/metaflow.so uses that build (with mfsql-storegen beside it) instead of
# building ./build first.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${MFSQL_MODULE:-}" ]; then
  bash "$here/scripts/build.sh" >/dev/null
  export MFSQL_MODULE="$here/build/metaflow.so"
fi
build="$(dirname "$MFSQL_MODULE")"
query="${1:-SELECT flow, run_id, user, status, finished_at, user_tags FROM runs ORDER BY created_at DESC LIMIT 20;}"
mfsql="$here/shell/mfsql"

# Ask the extension: a lookup that can match nothing opens the store, as the query would, and
# reads nothing. "No Metaflow store found" is its message when there is none
# (tests/store_errors_test.cpp holds it to that wording); any other error is the user's to see.
err="$(mktemp "${TMPDIR:-/tmp}/mfsql-demo.XXXXXX")"
trap 'rm -f "$err"' EXIT
if MFSQL_PROGRESS=0 "$mfsql" "SELECT count(*) FROM flows WHERE flow = ''" >/dev/null 2>"$err"; then
  "$mfsql" "$query"
  exit
fi
if ! grep -q "No Metaflow store found" "$err"; then
  cat "$err" >&2
  exit 1
fi
sample="${TMPDIR:-/tmp}/mfsql-sample"
# The sample is written again when another mfsql-storegen wrote it (an older checkout's sample lacks
# what newer tables show, such as a packaged run for code_files).
writer="$(cksum < "$build/mfsql-storegen")"
if [ -d "$sample/.metaflow" ] && [ "$(cat "$sample/.mfsql-sample-writer" 2>/dev/null)" != "$writer" ]; then
  echo "The sample store in $sample was written by another mfsql build: writing it again" >&2
  rm -rf "$sample/.metaflow"
fi
if [ ! -d "$sample/.metaflow" ]; then
  echo "No Metaflow store here or in Metaflow's configuration: writing a sample store to $sample" >&2
  "$build/mfsql-storegen" --sample --out "$sample" >/dev/null
  echo "$writer" > "$sample/.mfsql-sample-writer"
fi
"$mfsql" --root "$sample" "$query"
