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

# --json is valid JSON whatever the values: a blob as base64, a JSON column nested, bad UTF-8 and
# control characters escaped, no rows as [].
task="flow = 'TypesFlow' AND run_id = '1795738056495569' AND step = 'end' AND task_id = '4'"
"$mfsql" --root "$MFSQL_FIXTURE" --json "SELECT name, value, blob, size FROM artifacts WHERE $task AND name IN ('config', 'bytes_val') ORDER BY name" >"$work/out.json" 2>&1
hex="$("$mfsql" --root "$MFSQL_FIXTURE" "SELECT hex(blob) FROM artifacts WHERE $task AND name = 'config'")"
got="$(/usr/bin/python3 - "$work/out.json" "$hex" <<'PY' 2>&1
import base64, json, sys
rows = json.load(open(sys.argv[1]))
config = rows[1]
assert config["name"] == "config", rows
assert config["value"] == {"k": [], "nested": {"a": 1}}, "value nests as JSON: %r" % config["value"]
assert base64.b64decode(config["blob"]).hex().upper() == sys.argv[2], "blob is base64 of the bytes"
assert len(base64.b64decode(config["blob"])) == config["size"]
print("ok")
PY
)"
expect_eq "--json: a JSON column nests, a blob is base64" "$got" "ok"
"$mfsql" --json "SELECT CAST(x'ff41' AS TEXT) AS bad_utf8, char(1, 10, 34) AS controls, x'00' AS b, 1.5 AS r, NULL AS n" >"$work/out.json" 2>&1
if /usr/bin/python3 -m json.tool "$work/out.json" >/dev/null 2>&1; then ok "--json: bad UTF-8 and control characters stay valid JSON"
else fail "--json: bad UTF-8 and control characters stay valid JSON" "$(cat "$work/out.json")"; fi
got="$("$mfsql" --root "$MFSQL_FIXTURE" --json "SELECT * FROM flows WHERE flow = 'NoSuchFlow'")"
expect_eq "--json: no rows is []" "$got" "[]"
got="$("$mfsql" --root "$MFSQL_FIXTURE" --json "SELECT * FROM artifacts WHERE $task AND name = 'config'" |
      /usr/bin/python3 -c 'import json, sys; print(str("blob" in json.load(sys.stdin)[0]).lower())')"
expect_eq "blob is hidden from SELECT *" "$got" "false"

# --csv keeps a blob's bytes whole, NULs included; NULL and '' differ.
"$mfsql" --csv "SELECT x'610062' AS b, NULL AS n, '' AS e, 'a,b' AS t" >"$work/out.csv"
printf 'b,n,e,t\n"a\0b",,"","a,b"\n' >"$work/expected.csv"
if cmp -s "$work/out.csv" "$work/expected.csv"; then ok "--csv: a blob with a NUL is whole"
else fail "--csv: a blob with a NUL is whole" "$(od -c "$work/out.csv" | head -5)"; fi
"$mfsql" --root "$MFSQL_FIXTURE" --csv "SELECT name, blob FROM artifacts WHERE $task AND name = 'config'" >"$work/out.csv"
got="$(/usr/bin/python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="latin-1", newline="")))
print(rows[1][1].encode("latin-1").hex().upper() == sys.argv[2])' "$work/out.csv" "$hex")"
expect_eq "--csv: an artifact's pickle reads back byte for byte" "$got" "True"

# Errors name what the user typed.
"$mfsql" --profile nope "SELECT 1 FROM flows" >"$work/out" 2>"$work/err"
if grep -q -- "--profile nope names a Metaflow profile that does not exist" "$work/err" && ! grep -q METAFLOW_PROFILE "$work/err"; then
  ok "--profile nope is named as typed"
else fail "--profile nope is named as typed" "$(cat "$work/err")"; fi
"$mfsql" --root /etc/passwd "SELECT 1 FROM flows" >"$work/out" 2>"$work/err"
if grep -q -- "--root /etc/passwd names a file, not a folder" "$work/err"; then ok "--root naming a file says so"
else fail "--root naming a file says so" "$(cat "$work/err")"; fi
"$mfsql" --root "" "SELECT 1" >"$work/out" 2>"$work/err"
status=$?
if [ "$status" -eq 2 ] && grep -q -- "--root was given an empty value" "$work/err"; then ok "--root '' is an error"
else fail "--root '' is an error" "status $status" "$(cat "$work/err")"; fi
echo ".mode json" | "$mfsql" >"$work/out" 2>"$work/err"
if [ $? -ne 0 ] && grep -q "\`.mode\` is a command of the interactive sqlite3 shell" "$work/err"; then ok "a dot-command in a script is named"
else fail "a dot-command in a script is named" "$(cat "$work/err")"; fi

# Ctrl-C (SIGINT) stops a running query: exit status 130, and a message.
"$mfsql" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c" >"$work/out" 2>"$work/err" &
pid=$!
sleep 1
kill -INT "$pid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -KILL "$pid" 2>/dev/null  # still running after 10 s: the interrupt did nothing
wait "$pid"
status=$?
if [ "$status" -eq 130 ] && grep -q "interrupted" "$work/err"; then ok "SIGINT interrupts a query"
else fail "SIGINT interrupts a query" "status $status" "$(cat "$work/err")"; fi

if command -v script >/dev/null; then
  # On a terminal: headers, columns and NULL shown as NULL.
  script -qec "$mfsql --root '$MFSQL_FIXTURE' \"SELECT run_id, finished_at FROM runs WHERE flow = 'EndpointsFlow' AND run_id = '1795738184972379'\"" \
    /dev/null </dev/null >"$work/tty" 2>&1
  if grep -q "^run_id  *finished_at" "$work/tty" && grep -q "^1795738184972379  *NULL" "$work/tty"; then
    ok "a terminal gets headers, columns and NULL"
  else fail "a terminal gets headers, columns and NULL" "$(cat "$work/tty")"; fi
  # A long value on a terminal is cut, and the command says so.
  script -qec "$mfsql --root '$MFSQL_FIXTURE' \"SELECT name, value FROM artifacts WHERE $task AND name IN ('str_long', 'int_small') ORDER BY name\"" \
    /dev/null </dev/null >"$work/tty" 2>&1
  line="$(grep "^str_long" "$work/tty" | tr -d '\r')"
  if [ "${#line}" -lt 130 ] && [[ "$line" == *"…" ]] && grep -q "^int_small  *42" "$work/tty" &&
     grep -q "1 value was longer than 100 characters" "$work/tty"; then ok "a terminal cuts long values and says so"
  else fail "a terminal cuts long values and says so" "$(head -c 600 "$work/tty")"; fi
  # Interactive use is sqlite3's shell, with the tables loaded.
  printf "SELECT count(*) AS n FROM flows;\n.quit\n" | script -qec "$mfsql --root '$MFSQL_FIXTURE'" /dev/null >"$work/tty" 2>&1
  if grep -q "Metaflow tables loaded" "$work/tty" && grep -q "^4" "$work/tty"; then ok "interactive: the sqlite3 shell with the tables"
  else fail "interactive: the sqlite3 shell with the tables" "$(cat "$work/tty")"; fi
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
