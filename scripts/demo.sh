#!/usr/bin/env bash
# mfsql's main job: a real query over a Metaflow store. Uses ./.metaflow (or the store Metaflow's
# own configuration points at) when there is one; otherwise writes a sample store in Metaflow's
# exact layout to a temporary folder and queries that, through the same code path.
#   bash scripts/demo.sh                      # the default query
#   bash scripts/demo.sh "SELECT * FROM flows"
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/build.sh" >/dev/null
query="${1:-SELECT flow, run_id, user, status, finished_at, user_tags FROM runs ORDER BY created_at DESC LIMIT 20;}"
if [ -d .metaflow ] || [ -n "${METAFLOW_DATASTORE_SYSROOT_LOCAL:-}" ]; then
  sqlite3 -header -column :memory: ".load $here/build/metaflow" "$query"
else
  sample="${TMPDIR:-/tmp}/mfsql-sample"
  if [ ! -d "$sample/.metaflow" ]; then
    echo "No .metaflow here: writing a sample store to $sample" >&2
    "$here/build/mfsql-storegen" --sample --out "$sample" >/dev/null
  fi
  METAFLOW_DATASTORE_SYSROOT_LOCAL="$sample" sqlite3 -header -column :memory: ".load $here/build/metaflow" "$query"
fi
