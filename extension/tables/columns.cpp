// metaflow_tables and metaflow_columns: the documentation of every table, read from the specs, so
// each table and column is described once, next to the code that fills it; and the registry.
#include <algorithm>

#include "tables/specs.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

// The tables a plan's `table_name = ...` / `IN (...)` asks for, or every one.
std::vector<const engine::TableSpec*> requested(const engine::Plan& plan, int name_column) {
  std::vector<const engine::TableSpec*> out;
  const auto* names = plan.values(name_column);
  for (const engine::TableSpec* spec : all_tables())
    if (!names || std::find(names->begin(), names->end(), spec->name) != names->end()) out.push_back(spec);
  return out;
}

enum TablesCol { kTableName, kDescription, kExample, kColumnCount, kDirectOnly };

const engine::Column kTablesColumns[] = {
    {"table_name", Type::Text, kKey, 10, "The table's name, as used in FROM"},
    {"description", Type::Text, kPlain, 0, "What one row is"},
    {"example", Type::Text, kPlain, 0, "A query to start from"},
    {"column_count", Type::Integer, kPlain, 0, "Number of columns (see metaflow_columns)"},
    {"direct_only", Type::Integer, kPlain, 0,
     "1 when usable from top-level SQL only, not in a trigger or view (every table that reads the store)"},
};

engine::Generator<engine::Row> table_rows(TableSource&, const engine::Plan& plan) {
  for (const engine::TableSpec* spec : requested(plan, kTableName)) {
    engine::Row row{Value::of(std::string(spec->name)), Value::of(std::string(spec->doc)),
                    *spec->example ? Value::of(std::string(spec->example)) : Value::null(),
                    Value::of(static_cast<int64_t>(spec->columns.size())), Value::boolean(spec->direct_only)};
    co_yield std::move(row);
  }
}

enum ColumnsCol { kColTable, kColName, kColPosition, kColType, kColIsKey, kColHidden, kColDescription };

const engine::Column kColumnsColumns[] = {
    {"table_name", Type::Text, kKey, 10, "The table the column belongs to"},
    {"column_name", Type::Text, kPlain, 0, "The column's name"},
    {"position", Type::Integer, kPlain, 0, "1-based position in the table, as SELECT * orders it"},
    {"type", Type::Text, kPlain, 0, "TEXT, INTEGER, REAL, JSON (JSON text) or BLOB"},
    {"is_key", Type::Integer, kPlain, 0, "1 when = and IN on it are direct lookups in the store, not a scan"},
    {"hidden", Type::Integer, kPlain, 0, "1 when SELECT * leaves it out (name it to get it)"},
    {"description", Type::Text, kPlain, 0, "What the column holds"},
};

engine::Generator<engine::Row> column_rows(TableSource&, const engine::Plan& plan) {
  for (const engine::TableSpec* spec : requested(plan, kColTable)) {
    int64_t position = 0;
    for (const engine::Column& c : spec->columns) {
      engine::Row row{Value::of(std::string(spec->name)), Value::of(std::string(c.name)), Value::of(++position),
                      Value::of(std::string(engine::type_name(c.type))), Value::boolean(c.flags & kKey),
                      Value::boolean(c.flags & kHidden), Value::of(std::string(c.doc ? c.doc : ""))};
      co_yield std::move(row);
    }
  }
}

}  // namespace

const engine::TableSpec kTablesTable = {
    .name = "metaflow_tables",
    .doc = "Every table mfsql provides: what one row is, and a query to start from.",
    .columns = kTablesColumns,
    .scan_rows = 12,
    .rows = table_rows,
    .direct_only = false,
    .example = "SELECT table_name, description, example FROM metaflow_tables;",
};

const engine::TableSpec kColumnsTable = {
    .name = "metaflow_columns",
    .doc = "Every column of every mfsql table, with its type, whether it is a lookup key, and what it holds.",
    .columns = kColumnsColumns,
    .scan_rows = 150,
    .rows = column_rows,
    .direct_only = false,
    .example = "SELECT column_name, type, is_key, description FROM metaflow_columns WHERE table_name = 'runs';",
};

std::span<const engine::TableSpec* const> all_tables() {
  static const engine::TableSpec* const kAll[] = {
      &kFlowsTable,     &kRunsTable,     &kStepsTable, &kTasksTable,  &kTaskAttemptsTable, &kTagsTable,
      &kArtifactsTable, &kMetadataTable, &kLogsTable,  &kTaskEdgesTable,
      &kCodeFilesTable,  // issue 14 part 6
      &kConfigTable, &kTraceTable,        &kTablesTable, &kColumnsTable,
  };
  return kAll;
}

}  // namespace mfsql::tables
