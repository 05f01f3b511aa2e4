#!/usr/bin/env bash
# scripts/demo.sh queries the store the extension finds — in a folder above, or named by a config
# file — and falls back to the sample store only when the extension finds none.
#   MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local bash tests/shell/test_demo.sh
set -uo pipefail
: "${MFSQL_MODULE:?set MFSQL_MODULE to the built metaflow.so}"
: "${MFSQL_FIXTURE:?set MFSQL_FIXTURE to the public fixture folder}"
demo="$(cd "$(dirname "$0")/../.." && pwd)/scripts/demo.sh"
storegen="$(dirname "$MFSQL_MODULE")/mfsql-storegen"
for v in $(env | grep -oE '^(METAFLOW|MFSQL_FLAGS)[A-Z_]*'); do unset "$v"; done
work="$(mktemp -d "${TMPDIR:-/tmp}/mfsql-demo-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" TMPDIR="$work/tmp"  # no ~/.metaflowconfig; the sample goes to $TMPDIR
mkdir -p "$HOME" "$TMPDIR" "$work/empty"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '  %s\n' "$@"; }
query="SELECT DISTINCT flow FROM flows ORDER BY flow"
fixture_flows="BranchForeachFlow
EndpointsFlow
RetryCatchFlow
TypesFlow"

check() {  # NAME DIR EXPECTED_OUTPUT [env assignments...]: runs the demo in DIR
  local name="$1" dir="$2" expected="$3"
  shift 3
  got="$(cd "$dir" && env "$@" bash "$demo" "$query" 2>"$work/err")"
  if [ "$got" == "$expected" ] && ! grep -q "sample store" "$work/err" && [ ! -e "$TMPDIR/mfsql-sample" ]; then ok "$name"
  else fail "$name" "expected: $expected" "got:      $got" "stderr:   $(cat "$work/err")"; fi
}

# A project whose .metaflow is in a folder above the working directory.
"$storegen" --runs 1 --out "$work/project" >/dev/null
mkdir -p "$work/project/notebooks/deep"
check "a store in a folder above" "$work/project/notebooks/deep" "BenchFlow"

# A store named by ~/.metaflowconfig/config.json, and by a $METAFLOW_HOME profile.
mkdir -p "$HOME/.metaflowconfig"
printf '{"METAFLOW_DATASTORE_SYSROOT_LOCAL": "%s"}\n' "$MFSQL_FIXTURE" >"$HOME/.metaflowconfig/config.json"
check "a store named in ~/.metaflowconfig" "$work/empty" "$fixture_flows"
rm "$HOME/.metaflowconfig/config.json"
mkdir -p "$work/mfhome"
printf '{"METAFLOW_DATASTORE_SYSROOT_LOCAL": "%s"}\n' "$MFSQL_FIXTURE" >"$work/mfhome/config_lab.json"
check "a store named by a METAFLOW_HOME profile" "$work/empty" "$fixture_flows" METAFLOW_HOME="$work/mfhome" METAFLOW_PROFILE=lab

# A named store that is not one is the user's error to see, not a reason for the sample.
got="$(cd "$work/empty" && METAFLOW_DATASTORE_SYSROOT_LOCAL=/etc/passwd bash "$demo" "$query" 2>"$work/err")"
status=$?
if [ "$status" -ne 0 ] && grep -q "names a file" "$work/err" && [ ! -e "$TMPDIR/mfsql-sample" ]; then ok "a bad store setting is reported"
else fail "a bad store setting is reported" "status $status" "$got" "$(cat "$work/err")"; fi

# No store anywhere: the sample store.
got="$(cd "$work/empty" && bash "$demo" "$query" 2>"$work/err")"
if [ "$got" == "FanOutFlow
HelloFlow
TrainingFlow" ] && grep -q "writing a sample store to $TMPDIR/mfsql-sample" "$work/err"; then ok "no store: the sample store"
else fail "no store: the sample store" "$got" "$(cat "$work/err")"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
