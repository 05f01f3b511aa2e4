#!/usr/bin/env bash
# Regenerates docs/tables.md from the table specs (through the built module's metaflow_tables and
# metaflow_columns). Run it after changing a table's columns, descriptions, doc or example, and
# commit the result: CTest `table_docs_current` fails while the committed file is not current.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null; fi
cmake --build build -j"$(nproc)" --target mfsql-table-docs
build/mfsql-table-docs build/metaflow.so >docs/tables.md.new
mv docs/tables.md.new docs/tables.md
echo "wrote docs/tables.md"
