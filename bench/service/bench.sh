#!/usr/bin/env bash
# The production-size benchmark on the real metadata service (issue 15, part 3):
#   bench/service/bench.sh up DIR     start Netflix/metaflow-service 2.5.1 with a private PostgreSQL
#                                     (free loopback ports, its own folder DIR/service), write the
#                                     recorded fixture flows through its REST API, then copy their
#                                     rows into 50,000 runs (bench/service/load.py; DIR/load.json)
#   bench/service/bench.sh run DIR    run the questions (bench/service/bench.py) with build/metaflow.so
#                                     (MFSQL_MODULE=... to use another build)
#   bench/service/bench.sh down DIR   stop exactly what `up` started and delete DIR
# Sizes: BENCH_RUNS (50000), BENCH_BIG_FLOW_RUNS (10000), BENCH_FOREACH_WIDTH (5000).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
SHARED="${MFSQL_SHARED:-$ROOT/../shared}"
cmd="${1:?usage: bench.sh up|run|down DIR}"
DIR="${2:?usage: bench.sh up|run|down DIR}"
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$cmd" in
  up)
    mkdir -p "$DIR/service" && chmod 755 "$DIR" "$DIR/service"   # postgres (another user) must reach it
    pg_port="$(free_port)"; svc_port="$(free_port)"
    url="$(MF_SVC_STATE="$DIR/service" MF_PG_PORT="$pg_port" MF_METADATA_PORT="$svc_port" MF_SKIP_APT=1 \
           bash "$SHARED/tools/metaflow-service-up.sh")"
    pgbin="$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    for sql in "ALTER SYSTEM SET synchronous_commit = off" "SELECT pg_reload_conf()"; do
      PGPASSWORD=postgres "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d metaflow -qtA -c "$sql" >/dev/null
    done
    /usr/bin/python3 "$ROOT/tests/support/live_service.py" "$url" --recorded "$SHARED/fixtures/metaflow-service/recorded"
    /usr/bin/python3 "$HERE/load.py" --pg-port "$pg_port" --datastore "$DIR/datastore" \
      --recorded-datastore "$SHARED/fixtures/metaflow-service/datastore" --runs "${BENCH_RUNS:-50000}" \
      --big-flow-runs "${BENCH_BIG_FLOW_RUNS:-10000}" --foreach-width "${BENCH_FOREACH_WIDTH:-5000}" >"$DIR/load.json"
    /usr/bin/python3 - "$DIR/load.json" "$url" "$pg_port" <<'PY'
import json, sys
p, url, port = sys.argv[1:]
d = json.load(open(p)); d.update(url=url.rstrip("/"), pg_port=int(port)); json.dump(d, open(p, "w"), indent=1, sort_keys=True)
PY
    cat "$DIR/load.json" ;;
  run)
    MFSQL_MODULE="${MFSQL_MODULE:-$ROOT/build/metaflow.so}" /usr/bin/python3 "$HERE/bench.py" "$DIR" "${@:3}" ;;
  down)
    [[ -d "$DIR/service" ]] && MF_SVC_STATE="$DIR/service" bash "$SHARED/tools/metaflow-service-down.sh"
    rm -rf "$DIR" ;;
  *) echo "usage: bench.sh up|run|down DIR" >&2; exit 2 ;;
esac
