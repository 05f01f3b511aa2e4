// metaflow_tables and metaflow_columns: the documentation users read from SQL is complete, agrees
// with what SQLite itself reports of each table, and its example queries run.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

using namespace mfsql::testing;

namespace {

class TableDocsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", local_fixture().c_str(), 1);
    unsetenv("METAFLOW_PROFILE");
  }
  std::set<std::string> documented_tables() {
    std::set<std::string> out;
    for (auto& row : db.query("SELECT table_name FROM metaflow_tables")) out.insert(*row[0]);
    return out;
  }
  TestDb db;
};

// Modules a plain SQLite connection does not have: the ones the extension registered.
std::set<std::string> registered_by_extension(TestDb& db) {
  std::set<std::string> with_extension;
  for (auto& row : db.query("SELECT name FROM pragma_module_list")) with_extension.insert(*row[0]);
  sqlite3* plain = nullptr;
  sqlite3_open(":memory:", &plain);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(plain, "SELECT name FROM pragma_module_list", -1, &stmt, nullptr);
  while (sqlite3_step(stmt) == SQLITE_ROW)
    with_extension.erase(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(plain);
  return with_extension;
}

TEST_F(TableDocsTest, ListsEveryRegisteredTable) {
  EXPECT_EQ(documented_tables(), registered_by_extension(db));
  for (const char* name : {"flows", "runs", "steps", "tasks", "tags", "metaflow_tables", "metaflow_columns"})
    EXPECT_TRUE(documented_tables().count(name)) << name;
}

TEST_F(TableDocsTest, EveryTableHasADescriptionAndAnExampleThatRuns) {
  for (auto& row : db.query("SELECT table_name, description, example FROM metaflow_tables")) {
    SCOPED_TRACE(*row[0]);
    ASSERT_TRUE(row[1] && !row[1]->empty());
    ASSERT_TRUE(row[2] && !row[2]->empty());
    EXPECT_EQ(db.error_of(*row[2]), "") << *row[2];
  }
}

TEST_F(TableDocsTest, ColumnsAgreeWithWhatSqliteDeclares) {
  for (const std::string& table : documented_tables()) {
    SCOPED_TRACE(table);
    auto documented = db.query("SELECT column_name, type, hidden, position FROM metaflow_columns WHERE table_name = " +
                               quote(table) + " ORDER BY position");
    auto declared = db.query("SELECT name, type, hidden FROM pragma_table_xinfo(" + quote(table) + ")");
    ASSERT_EQ(documented.size(), declared.size());
    for (size_t i = 0; i < declared.size(); ++i) {
      EXPECT_EQ(documented[i][0], declared[i][0]);
      EXPECT_EQ(documented[i][1], declared[i][1]);
      EXPECT_EQ(documented[i][2], std::string(*declared[i][2] == "0" ? "0" : "1"));
      EXPECT_EQ(documented[i][3], std::to_string(i + 1));
    }
    EXPECT_EQ(db.scalar("SELECT column_count FROM metaflow_tables WHERE table_name = " + quote(table)),
              std::to_string(declared.size()));
  }
}

TEST_F(TableDocsTest, EveryColumnIsDescribed) {
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_columns WHERE description IS NULL OR description = ''"), "0");
  EXPECT_EQ(db.scalar("SELECT group_concat(column_name) FROM metaflow_columns WHERE table_name = 'tags' AND is_key"),
            "flow,run_id,tag");
}

TEST_F(TableDocsTest, TableNameIsALookup) {
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_columns WHERE table_name = 'runs'"),
            db.scalar("SELECT count(*) FROM pragma_table_xinfo('runs')"));
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT table_name) FROM metaflow_columns WHERE table_name IN ('runs', 'tags')"), "2");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_columns WHERE table_name = 'no_such_table'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_tables WHERE table_name = 'runs'"), "1");
  auto plan = db.query("EXPLAIN QUERY PLAN SELECT * FROM metaflow_columns WHERE table_name = 'runs'");
  ASSERT_FALSE(plan.empty());
  EXPECT_NE(plan.back().back()->find("table_name=?"), std::string::npos) << *plan.back().back();
}

TEST_F(TableDocsTest, ReadsNothingFromTheStore) {
  EXPECT_EQ(db.files_opened_by("SELECT * FROM metaflow_columns"), 0);
  EXPECT_EQ(db.files_opened_by("SELECT * FROM metaflow_tables"), 0);
}

// metaflow_column_types: what each result column of a statement is declared as, through aliases
// and subqueries; null for an expression (clients without sqlite3_column_decltype rely on it).
TEST_F(TableDocsTest, ColumnTypesOfAStatement) {
  EXPECT_EQ(db.scalar("SELECT metaflow_column_types('SELECT a.value AS v, name, size, blob, 1 + 1 FROM artifacts a')"),
            R"(["JSON","TEXT","INTEGER","BLOB",null])");
  EXPECT_EQ(db.scalar("SELECT metaflow_column_types('SELECT value, created_at FROM (SELECT * FROM metadata)')"),
            R"(["TEXT","TEXT"])");
  EXPECT_EQ(db.scalar("SELECT metaflow_column_types('SELECT tags FROM runs WHERE flow = ?')"), R"(["JSON"])");
  for (auto& row : db.query("SELECT table_name, column_name, type FROM metaflow_columns WHERE hidden = 0"))
    EXPECT_EQ(db.scalar("SELECT metaflow_column_types('SELECT \"" + *row[1] + "\" FROM \"" + *row[0] + "\"')"),
              "[\"" + *row[2] + "\"]")
        << *row[0] << "." << *row[1];
  EXPECT_NE(db.error_of("SELECT metaflow_column_types('SELECT nope FROM runs')").find("no such column"), std::string::npos);
}

}  // namespace
