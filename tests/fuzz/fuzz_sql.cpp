// libFuzzer target for the whole extension: random SQL over the public fixture. The input chooses
// a table, columns, `=` / IN / LIKE / range constraints (values from the fixture or from the input
// itself), a join, and a LIMIT; SQLite runs the statement with the module registered. Errors are
// fine; a crash, a sanitizer report or a hang is a bug. The store is only read.
//
// Build and run: bash scripts/fuzz.sh (or see tests/fuzz/README.md).
#include <fuzzer/FuzzedDataProvider.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int sqlite3_metaflow_init(sqlite3* db, char** err, const sqlite3_api_routines* api);

namespace {

struct Table {
  std::string name;
  std::vector<std::string> columns;
};

sqlite3* g_db = nullptr;
std::vector<Table> g_tables;
std::vector<std::string> g_values;  // flows, run ids, steps, task ids, artifact names of the fixture

std::vector<std::vector<std::string>> rows_of(const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(g_db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) std::abort();
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* t = sqlite3_column_text(st, i);
      row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\0') continue;
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string value(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return quote(in.ConsumeRandomLengthString(24));
    case 1:
      return std::to_string(in.ConsumeIntegral<int64_t>());
    default:
      return g_values.empty() ? "NULL" : quote(g_values[in.ConsumeIntegralInRange<size_t>(0, g_values.size() - 1)]);
  }
}

const std::string& pick_column(FuzzedDataProvider& in, const Table& t) {
  return t.columns[in.ConsumeIntegralInRange<size_t>(0, t.columns.size() - 1)];
}

std::string constraint(FuzzedDataProvider& in, const std::string& alias, const Table& t) {
  std::string col = alias + "." + pick_column(in, t);
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: {
      std::string list = value(in);
      for (int n = in.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) list += ", " + value(in);
      return col + " IN (" + list + ")";
    }
    case 1:
      return col + " LIKE " + value(in);
    case 2:
      return col + (in.ConsumeBool() ? " > " : " <= ") + value(in);
    case 3:
      return col + " IS NULL";
    default:
      return col + " = " + value(in);
  }
}

std::string build_sql(FuzzedDataProvider& in) {
  const Table& a = g_tables[in.ConsumeIntegralInRange<size_t>(0, g_tables.size() - 1)];
  std::string select = in.ConsumeBool() ? "a.*" : "a." + pick_column(in, a);
  std::string from = a.name + " a";
  std::vector<std::string> where;
  const Table* b = nullptr;
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    b = &g_tables[in.ConsumeIntegralInRange<size_t>(0, g_tables.size() - 1)];
    from += " JOIN " + b->name + " b ON a." + pick_column(in, a) + " = b." + pick_column(in, *b);
    select += ", b." + pick_column(in, *b);
  }
  for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n)
    where.push_back(b && in.ConsumeBool() ? constraint(in, "b", *b) : constraint(in, "a", a));
  std::string sql = "SELECT " + select + " FROM " + from;
  for (size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : " WHERE ") + where[i];
  if (in.ConsumeBool()) sql += " ORDER BY 1";
  sql += " LIMIT " + std::to_string(in.ConsumeIntegralInRange<int>(0, 20));
  return sql;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* root = std::getenv("MFSQL_FUZZ_STORE");
  setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", root ? root : MFSQL_FIXTURE_DIR, 1);
  sqlite3_auto_extension(reinterpret_cast<void (*)()>(sqlite3_metaflow_init));
  if (sqlite3_open(":memory:", &g_db) != SQLITE_OK) std::abort();
  // metaflow_trace grows with every query; the fuzzer would report it as a slow leak.
  for (auto& r : rows_of("SELECT table_name, column_name FROM metaflow_columns "
                         "WHERE table_name NOT IN ('metaflow_trace') ORDER BY table_name, position")) {
    if (g_tables.empty() || g_tables.back().name != r[0]) g_tables.push_back({r[0], {}});
    g_tables.back().columns.push_back(r[1]);
  }
  for (auto& r : rows_of("SELECT flow, run_id, step, task_id, pathspec FROM tasks"))
    g_values.insert(g_values.end(), r.begin(), r.end());
  for (auto& r : rows_of("SELECT DISTINCT name FROM artifacts WHERE flow = 'TypesFlow' LIMIT 20"))
    g_values.push_back(r[0]);
  if (g_tables.empty() || g_values.empty()) std::abort();
  return 0;
}

// A generated join may nest full scans (tasks JOIN logs ON a.step = b.line): correct, only slow.
// Statements are cut at a time limit, as a user would press Ctrl-C, so the fuzzer looks for
// crashes and sanitizer reports instead of reporting slowness as a timeout. The interrupt itself
// is exercised too: a statement stopped mid-walk must unwind cleanly.
constexpr auto kStatementLimit = std::chrono::milliseconds(1500);

int past_deadline(void* deadline) {
  return std::chrono::steady_clock::now() > *static_cast<std::chrono::steady_clock::time_point*>(deadline);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string sql = build_sql(in);
  auto deadline = std::chrono::steady_clock::now() + kStatementLimit;
  sqlite3_progress_handler(g_db, 100, past_deadline, &deadline);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(g_db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); ++i) (void)sqlite3_column_text(st, i);
    }
  }
  sqlite3_finalize(st);
  sqlite3_progress_handler(g_db, 0, nullptr, nullptr);
  sqlite3_exec(g_db, "SELECT metaflow_trace_clear()", nullptr, nullptr, nullptr);
  return 0;
}
