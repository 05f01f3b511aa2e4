#!/usr/bin/env bash
# The real metadata service for the live tests (CTest fixture `live_service`):
#   live_service.sh up <state-dir>    starts Netflix/metaflow-service 2.5.1 with a private PostgreSQL
#                                     on two free loopback ports (../shared/tools/metaflow-service-up.sh),
#                                     loads the fixture runs through its REST API (live_service.py)
#                                     and writes <state-dir>/live.json: the URL and which service id
#                                     each local run and task got;
#   live_service.sh down <state-dir>  stops exactly what `up` started (by PID) and removes its data.
# The service's own folder (PostgreSQL data, logs, pids) is a fresh temp folder, so sessions and CI
# jobs sharing a machine never meet. Needs the Debian packages scripts/install-deps.sh installs
# (MFSQL_LIVE_APT=1 lets the up script apt-get them itself).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHARED="${MFSQL_SHARED:-$HERE/../../../shared}"
TOOLS="$SHARED/tools"
cmd="${1:?usage: live_service.sh up|down <state-dir>}"
STATE="${2:?usage: live_service.sh up|down <state-dir>}"
# Where moto will hold the datastore of the local stores' runs (registered in the service).
S3_ROOT="s3://mfsql-live/metaflow"

down() {
  if [[ -f "$STATE/service_dir" ]]; then
    local svc; svc="$(cat "$STATE/service_dir")"
    [[ -d "$svc" ]] && MF_SVC_STATE="$svc" bash "$TOOLS/metaflow-service-down.sh" --purge
  fi
  rm -rf "$STATE"
}

free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

up() {
  down  # a run that was killed before its cleanup left one behind
  mkdir -p "$STATE"
  # Under /tmp, not the build folder: PostgreSQL runs as the postgres user, which must reach it.
  local svc; svc="$(mktemp -d /tmp/mfsql-live.XXXXXX)"
  chmod 755 "$svc"
  echo "$svc" >"$STATE/service_dir"
  local pg_port svc_port
  pg_port="$(free_port)"
  svc_port="$(free_port)"
  while [[ "$svc_port" == "$pg_port" ]]; do svc_port="$(free_port)"; done
  local t0=$SECONDS url
  # RUN_INACTIVE_CUTOFF_TIME=1: a run without an end step and without a heartbeat for a second is
  # `failed`, not `running` (the service's default waits 6 minutes).
  url="$(MF_SVC_STATE="$svc" MF_PG_PORT="$pg_port" MF_METADATA_PORT="$svc_port" RUN_INACTIVE_CUTOFF_TIME=1 \
         MF_SKIP_APT="$([[ "${MFSQL_LIVE_APT:-0}" == 1 ]] && echo 0 || echo 1)" \
         bash "$TOOLS/metaflow-service-up.sh")"
  # A private throwaway cluster: commits need not wait for the disk (the loader commits every row).
  local pgbin; pgbin="$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  for sql in "ALTER SYSTEM SET synchronous_commit = off" "SELECT pg_reload_conf()"; do
    PGPASSWORD=postgres "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d metaflow -qtA -c "$sql" >/dev/null
  done
  local started=$((SECONDS - t0))
  # The recorded flows first, on the fresh database: they get the run numbers, task ids and
  # metadata ids of the recording. Then the local stores' runs, registered in S3 locations.
  /usr/bin/python3 "$HERE/live_service.py" "$url" \
    --recorded "$SHARED/fixtures/metaflow-service/recorded" \
    --store "$SHARED/fixtures/metaflow-local/.metaflow" --store "$SHARED/fixtures/metaflow-code/.metaflow" \
    --s3-root "$S3_ROOT" --mapping "$STATE/mapping.json"
  /usr/bin/python3 - "$STATE" "$url" "$pg_port" "$svc" <<'EOF'
import json, sys
state, url, pg_port, svc = sys.argv[1:]
m = json.load(open(state + "/mapping.json"))
m.update(url=url.rstrip("/"), pg_port=int(pg_port), service_dir=svc)
json.dump(m, open(state + "/live.json", "w"), indent=1, sort_keys=True)
EOF
  echo "live service $url: started in ${started}s, loaded in $((SECONDS - t0 - started))s; $STATE/live.json" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: live_service.sh up|down <state-dir>" >&2; exit 2 ;;
esac
