#pragma once
// A SQLite connection with the built `metaflow` module loaded, as a user's would be.
#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

namespace mfsql::testing {

using Cell = std::optional<std::string>;
using Rows = std::vector<std::vector<Cell>>;

class TestDb {
 public:
  TestDb();  // loads <build_dir>/metaflow; throws on failure
  ~TestDb();
  TestDb(const TestDb&) = delete;

  // Runs one statement; NULL cells are nullopt, everything else its text. Throws std::runtime_error
  // with SQLite's message on error.
  Rows query(const std::string& sql);
  // The single value of a one-row, one-column query.
  Cell scalar(const std::string& sql);
  // The error message a statement fails with, or "" when it succeeds.
  std::string error_of(const std::string& sql);
  // Number of files (and blobs) the statement opened, from metaflow_trace.
  int files_opened_by(const std::string& sql, const std::string& target_like = "%");

  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// SQL string literal.
std::string quote(const std::string& text);

// Every artifact column (value and blob included) of two artifacts tables over the same store,
// e.g. one reading blobs locally and one from S3: they must be equal row for row. Returns the rows.
Rows expect_same_artifacts(TestDb& db, const std::string& expected_table, const std::string& actual_table);

}  // namespace mfsql::testing
