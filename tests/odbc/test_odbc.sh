#!/usr/bin/env bash
# mfsql through ODBC: unixODBC's isql, the SQLite ODBC driver (Debian's libsqliteodbc) and a DSN
# whose LoadExt option loads the extension. The rows must be what oracle.json (Metaflow's own
# client) says. The DSN lives in a temporary folder (ODBCSYSINI/ODBCINI), with a temporary
# database file, because the driver opens its Database as a file.
#   MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local bash tests/odbc/test_odbc.sh
set -euo pipefail
: "${MFSQL_MODULE:?set MFSQL_MODULE to the built metaflow.so}"
: "${MFSQL_FIXTURE:?set MFSQL_FIXTURE to the public fixture folder (it contains .metaflow and oracle.json)}"
module="${MFSQL_MODULE%.so}.so"
driver="$(find /usr/lib -name libsqlite3odbc.so -path '*odbc*' 2>/dev/null | head -n1)"
[ -n "$driver" ] || { echo "the SQLite ODBC driver is not installed (apt-get install libsqliteodbc unixodbc)"; exit 1; }
command -v isql >/dev/null || { echo "isql is not installed (apt-get install unixodbc)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mfsql-odbc.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/odbcinst.ini" <<EOF
[SQLite3]
Description=SQLite3 ODBC Driver
Driver=$driver
EOF
cat >"$work/odbc.ini" <<EOF
[mfsql]
Description=Metaflow store through mfsql
Driver=SQLite3
Database=$work/mfsql.db
LoadExt=$module
EOF
export ODBCSYSINI="$work" ODBCINI="$work/odbc.ini"
export METAFLOW_DATASTORE_SYSROOT_LOCAL="$MFSQL_FIXTURE"
unset METAFLOW_PROFILE

passed=0 failed=0
# check NAME SQL EXPECTED: isql's rows ('|'-separated, NULL as empty) must equal EXPECTED.
check() {
  local name="$1" sql="$2" expected="$3" got
  got="$(printf '%s\n' "$sql" | isql -b -v -d'|' mfsql 2>&1)" || true
  if [ "$got" == "$expected" ]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$got") | head -20 || true
  fi
}

# What Metaflow's client reported, from oracle.json, in the same row format.
oracle() {
  /usr/bin/python3 - "$MFSQL_FIXTURE/oracle.json" "$1" <<'EOF'
import json, sys
oracle = json.load(open(sys.argv[1], encoding="utf-8"))
z = lambda t: "" if t is None else t[:23].replace("T", " ")  # the column form (SQLite's, milliseconds)
runs = [(f["name"], r) for f in oracle["flows"] for r in f["runs"]]
what = sys.argv[2]
if what == "flows":
    rows = sorted((f["name"], f["latest_run"], f["latest_successful_run"] or "") for f in oracle["flows"])
elif what == "runs":
    rows = sorted((n, r["id"], str(int(r["finished"])), str(int(r["successful"])), z(r["finished_at"])) for n, r in runs)
elif what == "task_counts":
    rows = sorted((n, r["id"], str(sum(len(s["tasks"]) for s in r["steps"])),
                   str(sum(t["successful"] for s in r["steps"] for t in s["tasks"]))) for n, r in runs)
elif what == "failure":
    t = next(t for n, r in runs for s in r["steps"] for t in s["tasks"]
             if t["pathspec"] == "TypesFlow/1795738061822006/transform/3")
    rows = [(t["private_artifacts"]["_exception"]["value"]["attrs"]["exception"],)]
elif what == "tags":
    rows = sorted((n, r["id"], tag) for n, r in runs for tag in r["user_tags"])
print("\n".join("|".join(row) for row in rows))
EOF
}

check "flows" "SELECT flow, latest_run, latest_successful_run FROM flows ORDER BY flow" "$(oracle flows)"
check "runs" "SELECT flow, run_id, finished, successful, finished_at FROM runs ORDER BY flow, run_id" "$(oracle runs)"
check "tasks per run" "SELECT flow, run_id, count(*), sum(successful) FROM tasks GROUP BY flow, run_id ORDER BY flow, run_id" \
  "$(oracle task_counts)"
check "unicode exception message" \
  "SELECT json_extract(exception, '\$.message') FROM tasks WHERE pathspec = 'TypesFlow/1795738061822006/transform/3'" \
  "$(oracle failure)"
check "user tags" "SELECT flow, run_id, tag FROM tags WHERE system = 0 ORDER BY flow, run_id, tag" "$(oracle tags)"
# Times are text in SQLite's form, so they compare with datetime() through the driver as well
# (the fixture's 15 runs span three minutes; 13 are within two minutes of the newest).
check "runs of the last two minutes" \
  "SELECT count(*) FROM runs WHERE created_at > datetime((SELECT max(created_at) FROM runs), '-2 minutes')" "13"

# What the driver reports for a time column (declared TEXT): SQL_LONGVARCHAR, the text as it is.
# pyodbc (python3-pyodbc) sees the SQL type through an output converter keyed by type code.
described="$(/usr/bin/python3 - "$MFSQL_FIXTURE/oracle.json" 2>&1 <<'EOF'
import json, sys
import pyodbc
oracle = json.load(open(sys.argv[1], encoding="utf-8"))
run = oracle["flows"][0]["runs"][0]
conn = pyodbc.connect("DSN=mfsql")
names = {-1: "SQL_LONGVARCHAR", 12: "SQL_VARCHAR", -10: "SQL_WLONGVARCHAR", -9: "SQL_WVARCHAR", 93: "SQL_TYPE_TIMESTAMP"}
for code, name in names.items():
    conn.add_output_converter(code, lambda value, name=name: (name, value.decode()))
row = conn.cursor().execute("SELECT created_at FROM runs WHERE pathspec = ?", run["pathspec"]).fetchone()
want = ("SQL_LONGVARCHAR", run["created_at"][:23].replace("T", " "))
print("ok" if row[0] == want else "got %r, want %r" % (row[0], want))
EOF
)" || true
if [ "$described" == "ok" ]; then passed=$((passed + 1)); echo "ok   time column through pyodbc"
else failed=$((failed + 1)); echo "FAIL time column through pyodbc: $described"; fi

check "an error reaches the client" "SELECT no_such_column FROM runs" \
  "[S1000][SQLite]no such column: no_such_column (1)
[ISQL]ERROR: Could not SQLPrepare"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
