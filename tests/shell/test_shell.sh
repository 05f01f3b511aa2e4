#!/usr/bin/env bash
# The `mfsql` command (shell/mfsql) as a user runs it: one-shot queries, --json/--csv, exit status
# on error, --root/--profile, readable output and progress lines on a terminal (through `script`,
# which gives the command a pseudo-terminal).
#   MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local bash tests/shell/test_shell.sh
set -uo pipefail
: "${MFSQL_MODULE:?set MFSQL_MODULE to the built metaflow.so}"
: "${MFSQL_FIXTURE:?set MFSQL_FIXTURE to the public fixture folder}"
mfsql="$(cd "$(dirname "$0")/../.." && pwd)/shell/mfsql"
unset METAFLOW_DATASTORE_SYSROOT_LOCAL METAFLOW_PROFILE METAFLOW_SERVICE_URL METAFLOW_DEFAULT_METADATA
work="$(mktemp -d "${TMPDIR:-/tmp}/mfsql-shell.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"  # no ~/.sqliterc, and the history file goes here
mkdir -p "$HOME"
cd "$work"  # no .metaflow here or above, unless --root says where

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '  %s\n' "$@"; }
expect_eq() {  # NAME GOT EXPECTED
  if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "expected: $3" "got:      $2"; fi
}

got="$("$mfsql" --root "$MFSQL_FIXTURE" "SELECT flow, latest_successful_run FROM flows ORDER BY flow" 2>&1)"
expect_eq "one-shot query, piped: list mode without headers" "$got" "BranchForeachFlow|1795738136324997
EndpointsFlow|1795738177974260
RetryCatchFlow|1795738160197500
TypesFlow|1795738050376863"

got="$("$mfsql" --root="$MFSQL_FIXTURE" --json "SELECT flow, count(*) AS runs FROM runs GROUP BY flow ORDER BY flow LIMIT 2")"
expect_eq "--json" "$got" '[{"flow":"BranchForeachFlow","runs":4},
{"flow":"EndpointsFlow","runs":4}]'

got="$("$mfsql" --root "$MFSQL_FIXTURE" --csv "SELECT run_id, user_tags FROM runs WHERE flow = 'TypesFlow' AND run_id = '1795738056495569'")"
expect_eq "--csv with a header" "$got" 'run_id,user_tags
1795738056495569,"[""nightly"",""release:v1.2"",""team:ml"",""ünïcødé-标签""]"'

got="$(printf "SELECT count(*) FROM steps WHERE flow = 'TypesFlow';\nSELECT count(*) FROM tags WHERE system = 0;\n" |
       "$mfsql" --root "$MFSQL_FIXTURE")"
expect_eq "SQL on standard input" "$got" "15
15"

"$mfsql" --root "$MFSQL_FIXTURE" "SELECT 1" "SELECT no_such_column FROM runs" "SELECT 2" >"$work/out" 2>"$work/err"
status=$?
if [ "$status" -ne 0 ] && [ "$(cat "$work/out")" == "1" ] && grep -q "no such column" "$work/err"; then
  ok "an error stops the script with a non-zero status"
else
  fail "an error stops the script with a non-zero status" "status $status" "$(cat "$work/out" "$work/err")"
fi

"$mfsql" "SELECT count(*) FROM runs" >"$work/out" 2>"$work/err"
status=$?
if [ "$status" -ne 0 ] && grep -q "No Metaflow store found" "$work/err"; then ok "no store: the extension's message, non-zero status"
else fail "no store: the extension's message, non-zero status" "status $status" "$(cat "$work/err")"; fi

mkdir -p "$HOME/.metaflowconfig"
printf '{"METAFLOW_DATASTORE_SYSROOT_LOCAL": "%s"}\n' "$MFSQL_FIXTURE" >"$HOME/.metaflowconfig/config_fixture.json"
got="$("$mfsql" --profile fixture "SELECT count(*) FROM runs" 2>&1)"
expect_eq "--profile picks the profile's store" "$got" "15"

got="$("$mfsql" --service http://127.0.0.1:9 "SELECT value, origin FROM metaflow_config WHERE name IN ('METAFLOW_DEFAULT_METADATA', 'METAFLOW_SERVICE_URL') ORDER BY name" 2>&1)"
expect_eq "--service sets the metadata provider and URL" "$got" "service|environment
http://127.0.0.1:9|environment"

"$mfsql" --no-such-flag >"$work/out" 2>&1
expect_eq "an unknown flag is an error" "$?" "2"

MFSQL_MODULE="$work/missing.so" "$mfsql" "SELECT 1" >"$work/out" 2>&1
status=$?
if [ "$status" -ne 0 ] && grep -q "does not exist" "$work/out"; then ok "a missing module is named"
else fail "a missing module is named" "status $status" "$(cat "$work/out")"; fi

if command -v script >/dev/null; then
  # On a terminal: headers, columns and NULL shown as NULL.
  script -qec "$mfsql --root '$MFSQL_FIXTURE' \"SELECT run_id, finished_at FROM runs WHERE flow = 'EndpointsFlow' AND run_id = '1795738184972379'\"" \
    /dev/null </dev/null >"$work/tty" 2>&1
  if grep -q "^run_id  *finished_at" "$work/tty" && grep -q "^1795738184972379  *NULL" "$work/tty"; then
    ok "a terminal gets headers, columns and NULL"
  else fail "a terminal gets headers, columns and NULL" "$(cat "$work/tty")"; fi
  # Progress: a query reading for more than a second reports on stderr once a second. The cross
  # join re-reads every artifact value several times with the value cache off.
  script -qec "$mfsql --root '$MFSQL_FIXTURE' \"SELECT metaflow_set('value_cache_entries', 0)\" \"SELECT count(*) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) AS n, artifacts AS a WHERE length(a.value) >= 0\"" \
    /dev/null </dev/null >"$work/tty" 2>&1
  if grep -qE "^mfsql: [0-9]+ files read, [0-9.]+ MB \([0-9]+ s\)" "$work/tty"; then ok "progress on a terminal"
  else fail "progress on a terminal" "$(cat "$work/tty")"; fi
  # ... and never when stderr is not a terminal.
  "$mfsql" --root "$MFSQL_FIXTURE" "SELECT metaflow_set('value_cache_entries', 0)" \
    "SELECT count(*) FROM artifacts WHERE length(value) >= 0" >/dev/null 2>"$work/err"
  expect_eq "no progress when stderr is not a terminal" "$(cat "$work/err")" ""
else
  echo "skip terminal tests: no script(1)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
