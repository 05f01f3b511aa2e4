#include "support/test_db.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "support/test_env.hpp"

namespace mfsql::testing {

TestDb::TestDb() {
  if (sqlite3_open(":memory:", &db_) != SQLITE_OK) throw std::runtime_error("cannot open sqlite");
  sqlite3_enable_load_extension(db_, 1);
  char* err = nullptr;
  std::string module = (build_dir() / "metaflow").string();
  if (sqlite3_load_extension(db_, module.c_str(), nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("cannot load " + module + ": " + msg);
  }
}

TestDb::~TestDb() { sqlite3_close(db_); }

Rows TestDb::query(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    throw std::runtime_error(sqlite3_errmsg(db_) + std::string(" in: ") + sql);
  Rows rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<Cell> row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      if (sqlite3_column_type(stmt, i) == SQLITE_NULL) {
        row.push_back(std::nullopt);
      } else {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, i));
        row.push_back(std::string(p ? p : "", sqlite3_column_bytes(stmt, i)));
      }
    }
    rows.push_back(std::move(row));
  }
  std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
  sqlite3_finalize(stmt);
  if (!err.empty()) throw std::runtime_error(err);
  return rows;
}

Cell TestDb::scalar(const std::string& sql) {
  auto rows = query(sql);
  if (rows.size() != 1 || rows[0].size() != 1) throw std::runtime_error("not a single value: " + sql);
  return rows[0][0];
}

std::string TestDb::error_of(const std::string& sql) {
  try {
    query(sql);
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

int TestDb::files_opened_by(const std::string& sql, const std::string& target_like) {
  query("SELECT metaflow_trace_clear()");
  query(sql);
  return std::stoi(*scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0 AND target LIKE " +
                           quote(target_like)));
}

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

Rows expect_same_artifacts(TestDb& db, const std::string& expected_table, const std::string& actual_table) {
  const std::string columns =
      "SELECT flow, run_id, step, task_id, name, attempt, sha, encoding, python_type, size, value, hex(blob) FROM ";
  const std::string order = " ORDER BY flow, run_id, step, task_id, name";
  Rows expected = db.query(columns + expected_table + order);
  Rows actual = db.query(columns + actual_table + order);
  EXPECT_GT(expected.size(), 1000u);
  EXPECT_EQ(expected, actual);
  size_t values = 0;
  for (auto& row : actual) values += row[10].has_value();
  EXPECT_GT(values, expected.size() / 2) << "most values decode";
  return actual;
}

}  // namespace mfsql::testing
