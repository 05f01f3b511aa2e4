#!/usr/bin/env bash
# Installs the Debian packages mfsql builds, tests and runs with. Safe to run again.
set -euo pipefail
packages=(cmake g++ pkg-config libsqlite3-dev sqlite3 nlohmann-json3-dev libcurl4-openssl-dev zlib1g-dev libarchive-dev
          libgtest-dev libcpp-httplib-dev
          python3-pandas libsqliteodbc unixodbc   # the Python and ODBC client tests
          python3-venv python3-pip python3-setuptools python3-wheel python3-ipython  # the pip package, %%mfsql
          sqlite-utils python3-pyodbc             # tools people already use (tests/tools)
          dpkg-dev file man-db                    # cpack -G DEB: dpkg-shlibdeps (needs file); man -l
          ccache                                  # scripts/compiler-cache.sh: CI's four builds on a kept machine
          # The real metadata service of the `live` tests (../shared/tools/metaflow-service-up.sh):
          postgresql python3-aiohttp python3-aiopg python3-psycopg2 python3-packaging python3-boto3
          python3-multidict python3-requests curl)
# scripts/fuzz.sh also needs clang++ and its libFuzzer/sanitizer runtimes.
[ "${MFSQL_NEED_CLANG:-0}" = 1 ] && packages+=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
