// Every sql-examples/<name>.sql runs against the public fixture through the eponymous tables, and
// its output must equal sql-examples/expected/<name>.out, written as `sqlite3 -header -nullvalue
// NULL` prints it (so `mfsql` and the expected files can be compared by eye, too).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using namespace mfsql::testing;

namespace {

fs::path examples_dir() { return source_dir() / "sql-examples"; }

std::vector<std::string> example_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(examples_dir(), ec))
    if (entry.path().extension() == ".sql") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Runs every statement of `sql` and renders the rows the way the sqlite3 shell does in list mode
// with headers on: a header line before a statement's first row, cells joined by '|', NULL as NULL.
std::string run_script(sqlite3* db, const std::string& sql) {
  std::string out;
  const char* tail = sql.c_str();
  while (*tail) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, tail, -1, &stmt, &tail) != SQLITE_OK)
      throw std::runtime_error(std::string("prepare: ") + sqlite3_errmsg(db));
    if (!stmt) continue;  // only whitespace or comments were left
    bool header_done = false;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const int n = sqlite3_column_count(stmt);
      if (!header_done) {
        for (int i = 0; i < n; ++i) out += (i ? "|" : "") + std::string(sqlite3_column_name(stmt, i));
        out += "\n";
        header_done = true;
      }
      for (int i = 0; i < n; ++i) {
        if (i) out += "|";
        if (sqlite3_column_type(stmt, i) == SQLITE_NULL) {
          out += "NULL";
        } else {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
          out.append(text, sqlite3_column_bytes(stmt, i));
        }
      }
      out += "\n";
    }
    std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    if (!err.empty()) throw std::runtime_error("step: " + err);
  }
  return out;
}

// The fixture an example names on a `-- Store: <name>` line (a folder of ../shared/fixtures), else
// the public one.
fs::path store_of(const std::string& sql) {
  const std::string tag = "\n-- Store: ";
  const size_t at = sql.find(tag);
  if (at == std::string::npos) return local_fixture();
  const size_t from = at + tag.size();
  return shared_dir() / "fixtures" / sql.substr(from, sql.find('\n', from) - from);
}

class ExampleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleTest, OutputMatchesTheHandCheckedExpectedFile) {
  const std::string name = GetParam();
  const std::string sql = read_file(examples_dir() / (name + ".sql"));
  ASSERT_EQ(sql.rfind("-- Question: ", 0), 0u) << name << ".sql must start with a `-- Question: ...` line";
  ASSERT_NE(sql.find("ORDER BY"), std::string::npos) << name << ".sql needs an ORDER BY for a stable output";
  const fs::path expected_file = examples_dir() / "expected" / (name + ".out");
  ASSERT_TRUE(fs::exists(expected_file)) << "missing " << expected_file;
  // The examples use the eponymous tables, which read the store Metaflow's configuration names.
  use_local_store(store_of(sql));
  TestDb db;
  EXPECT_EQ(run_script(db.handle(), sql), read_file(expected_file)) << "example " << name;
}

INSTANTIATE_TEST_SUITE_P(SqlExamples, ExampleTest, ::testing::ValuesIn(example_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(SqlExamplesFolder, HasAtLeastTwelveExamplesEachWithAnExpectedOutput) {
  auto names = example_names();
  EXPECT_GE(names.size(), 12u);
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(examples_dir() / "expected", ec)) {
    const std::string stem = entry.path().stem().string();
    EXPECT_NE(std::find(names.begin(), names.end(), stem), names.end())
        << entry.path() << " has no " << stem << ".sql beside it";
  }
}

}  // namespace
