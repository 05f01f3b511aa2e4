#!/usr/bin/env bash
# The Debian package, checked with the packaged files only: `cpack -G DEB` from the build folder
# into a temporary folder, its control fields (Depends covers every library the extension needs),
# then `dpkg -x` into a temporary root and the packaged shell, man page and extension run against
# the fixture. Nothing is installed on the machine: an installed copy could shadow the build that
# other tests load. `apt-get install --simulate` checks that apt would accept it here. Last, the
# from-source way: `cmake --install` into a temporary prefix.
#   MFSQL_BUILD_DIR=build MFSQL_VERSION=0.1.0 MFSQL_FIXTURE=../shared/fixtures/metaflow-local bash tests/packaging/test_deb.sh
set -uo pipefail
: "${MFSQL_BUILD_DIR:?set MFSQL_BUILD_DIR to the CMake build folder}"
: "${MFSQL_VERSION:?set MFSQL_VERSION to the project version}"
: "${MFSQL_FIXTURE:?set MFSQL_FIXTURE to the public fixture folder}"
unset MFSQL_MODULE METAFLOW_DATASTORE_SYSROOT_LOCAL METAFLOW_PROFILE METAFLOW_SERVICE_URL METAFLOW_DEFAULT_METADATA
work="$(mktemp -d "${TMPDIR:-/tmp}/mfsql-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '  %s\n' "$@"; }
expect_eq() { if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "expected: $3" "got:      $2"; fi; }

# What Metaflow's client reported, in sqlite3's list format.
oracle_runs() {
  /usr/bin/python3 - "$MFSQL_FIXTURE/oracle.json" <<'EOF'
import json, sys
oracle = json.load(open(sys.argv[1], encoding="utf-8"))
z = lambda t: "" if t is None else t[:23].replace("T", " ")
rows = sorted((f["name"], r["id"], str(int(r["finished"])), str(int(r["successful"])), z(r["finished_at"]),
               json.dumps(r["user_tags"], ensure_ascii=False, separators=(",", ":")))
              for f in oracle["flows"] for r in f["runs"])
print("\n".join("|".join(row) for row in rows))
EOF
}
RUNS_SQL="SELECT flow, run_id, finished, successful, finished_at, user_tags FROM runs ORDER BY flow, run_id"

deb="$work/out/mfsql_${MFSQL_VERSION}_amd64.deb"
if (cd "$MFSQL_BUILD_DIR" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 && [ -f "$deb" ]; then
  ok "cpack -G DEB builds $(basename "$deb")"
else
  fail "cpack -G DEB builds $(basename "$deb")" "$(tail -n 20 "$work/cpack.log")" "$(ls "$work/out" 2>&1)"
  echo "$passed passed, $failed failed"; exit 1
fi

expect_eq "Package and Version" "$(dpkg-deb -f "$deb" Package Version Architecture)" "Package: mfsql
Version: $MFSQL_VERSION
Architecture: amd64"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "     Depends: $depends"
dep_names="$(tr ',|' '\n\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//')"
# Every library the extension links (its NEEDED entries) belongs to a package Depends names.
module_in_build="$MFSQL_BUILD_DIR/metaflow.so"
missing=() needed=()
for soname in $(readelf -d "$module_in_build" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  needed+=("$soname")
  lib="$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64/ {print $NF; exit}')"
  pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1)"
  [ -z "$pkg" ] && pkg="$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1)"
  if [ -z "$pkg" ] || ! grep -qxF "$pkg" <<<"$dep_names"; then missing+=("$soname ($pkg)"); fi
done
if ((${#needed[@]} >= 3 && ${#missing[@]} == 0)) && grep -qxF sqlite3 <<<"$dep_names"; then
  ok "Depends covers every NEEDED library (${needed[*]}), and sqlite3 for the shell"
else
  fail "Depends covers every NEEDED library, and sqlite3 for the shell" "missing: ${missing[*]:-} (sqlite3?)" "$depends"
fi

contents="$(dpkg-deb -c "$deb" | awk '{print $1, $NF}')"
for entry in "-rwxr-xr-x ./usr/bin/mfsql" "-rw-r--r-- ./usr/lib/mfsql/metaflow.so" \
             "-rw-r--r-- ./usr/share/man/man1/mfsql.1.gz" "-rw-r--r-- ./usr/share/doc/mfsql/README.md" \
             "-rw-r--r-- ./usr/share/doc/mfsql/sql-examples/why_runs_failed.sql"; do
  if grep -qxF -- "$entry" <<<"$contents"; then ok "contains $entry"; else fail "contains $entry" "$contents"; fi
done

root="$work/root"
dpkg -x "$deb" "$root"
packaged_shell="$root/usr/bin/mfsql"
packaged_module="$root/usr/lib/mfsql/metaflow.so"
if file "$packaged_module" | grep -q "stripped" && ! file "$packaged_module" | grep -q "not stripped"; then
  ok "the packaged extension is stripped"
else fail "the packaged extension is stripped" "$(file "$packaged_module")"; fi

expected="$(oracle_runs)"
got="$(cd "$work" && PATH="$root/usr/bin:$PATH" mfsql --root "$MFSQL_FIXTURE" "$RUNS_SQL" 2>&1)"
expect_eq "the packaged mfsql on PATH: runs as oracle.json has them" "$got" "$expected"

got="$(cd "$work" && METAFLOW_DATASTORE_SYSROOT_LOCAL="$MFSQL_FIXTURE" \
       sqlite3 -batch :memory: ".load $root/usr/lib/mfsql/metaflow" "$RUNS_SQL" 2>&1)"
expect_eq "sqlite3 .load <root>/usr/lib/mfsql/metaflow: runs as oracle.json has them" "$got" "$expected"

"$packaged_shell" --help >"$work/help" 2>&1
status=$?
if [ "$status" -eq 0 ] && grep -q -- "--root DIR" "$work/help"; then ok "mfsql --help"; else fail "mfsql --help" "$(cat "$work/help")"; fi

if MANWIDTH=100 MANPAGER=cat man -l "$root/usr/share/man/man1/mfsql.1.gz" >"$work/man" 2>"$work/man.err" &&
   grep -q "mfsql - SQL over a Metaflow store" "$work/man" && grep -q -- "--root DIR" "$work/man" &&
   ! grep -q "warning" "$work/man.err"; then
  ok "man page renders"
else fail "man page renders" "$(head -n 5 "$work/man" "$work/man.err")"; fi

# The shell found the packaged extension, not a build: without it, it fails and names where it looked.
mv "$packaged_module" "$work/moved.so"
got="$(cd "$work" && "$packaged_shell" "SELECT 1" 2>&1)"
status=$?
if [ "$status" -eq 2 ] && grep -q "cannot find the extension" <<<"$got"; then
  ok "the packaged shell loads the packaged extension (and only it)"
else fail "the packaged shell loads the packaged extension (and only it)" "status $status: $got"; fi
mv "$work/moved.so" "$packaged_module"

# From source: `cmake --install` into a prefix gives the same layout, found the same way.
if cmake --install "$MFSQL_BUILD_DIR" --prefix "$work/prefix" >"$work/install.log" 2>&1; then
  got="$(cd "$work" && "$work/prefix/bin/mfsql" --root "$MFSQL_FIXTURE" "$RUNS_SQL" 2>&1)"
  expect_eq "cmake --install --prefix: bin/mfsql finds lib/mfsql/metaflow.so, runs as oracle.json has them" "$got" "$expected"
else fail "cmake --install --prefix" "$(tail -n 5 "$work/install.log")"; fi

if apt-get install --simulate -q "$deb" >"$work/apt.log" 2>&1 && grep -q "^Inst mfsql" "$work/apt.log"; then
  ok "apt-get install --simulate accepts it (Depends resolve on this system)"
else fail "apt-get install --simulate accepts it (Depends resolve on this system)" "$(tail -n 8 "$work/apt.log")"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
