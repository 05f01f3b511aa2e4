#pragma once
// The plan of one scan (the grammar is at the top of plan.cpp): chosen by xBestIndex, read back by
// xFilter. Only vtab.cpp includes this.
#include "engine/sqlite_api.hpp"
#include "engine/table.hpp"

namespace mfsql::engine {

// Fills `info` for `spec`: which constraints become lookups, patterns, checks or errors, the
// plan text (idxStr) and the cost. Returns an SQLite result code.
int plan_index(const TableSpec& spec, sqlite3_index_info* info);

// The Plan that plan_index's text and xFilter's arguments describe. Throws UserError for an
// argument used with an operator it does not take.
Plan decode_plan(const TableSpec& spec, const char* idx_str, int argc, sqlite3_value** argv);

}  // namespace mfsql::engine
