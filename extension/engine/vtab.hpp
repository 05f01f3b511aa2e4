#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/sqlite_api.hpp"
#include "engine/table.hpp"

namespace mfsql::engine {

// Opens what a table reads, from its module arguments (empty for the eponymous table). Called on
// the first scan, not at prepare time, so `.schema` and EXPLAIN work without a store. Throws
// UserError with a sentence when the arguments or the store are wrong.
using SourceFactory = std::function<std::shared_ptr<TableSource>(const ModuleArgs&)>;

struct ModuleOptions {
  SourceFactory open_source;
  // A cursor starts reading (its first xFilter) and stops (xClose): a source that memoizes per
  // statement keeps its memo while any cursor reads.
  std::function<void(TableSource&)> cursor_started, cursor_stopped;
  std::vector<std::string> allowed_args;  // checked at CREATE VIRTUAL TABLE time
};

// Registers `spec` as an eponymous virtual table that can also be instantiated with
// CREATE VIRTUAL TABLE x USING <name>(key='value', ...). Returns an SQLite result code.
int register_table(sqlite3* db, const TableSpec& spec, ModuleOptions options);

// Parses one module argument `key = 'value'` (quotes optional); throws UserError on bad syntax.
std::pair<std::string, std::string> parse_module_arg(const std::string& text);

// The CREATE TABLE statement SQLite is given for `spec` (also what `.schema` shows).
std::string declare_sql(const TableSpec& spec);

}  // namespace mfsql::engine
