// Code packages and environments over the metadata service (issue 14, part 9), against the
// recorded service: its runs have no code package, so code and environment_info are NULL
// everywhere and code_files is empty, script_name is the runs' script-name metadata, and each
// answer reads the run's metadata in one listing, not task by task.
#include <gtest/gtest.h>

#include "support/service_fixture.hpp"

namespace mfsql::testing {
namespace {

class ServiceCodeTest : public ServiceTest {
 protected:
  static void create_code_files(TestDb& db) {
    db.query("CREATE VIRTUAL TABLE temp.s_code_files USING code_files(service=" + quote(server_->url()) +
             ", datastore=" + quote(store_->string()) + ")");
  }
};

TEST_F(ServiceCodeTest, NoPackagesNoEnvironmentAndTheScriptName) {
  TestDb db;
  create_tables(db);
  create_code_files(db);
  // The truth for script_name: what the service holds for each run's _parameters task.
  const Rows expected = db.query(
      "SELECT r.flow, r.run_id, NULL, m.value FROM s_runs AS r LEFT JOIN s_metadata(1) AS m ON m.flow = r.flow AND "
      "m.run_id = r.run_id AND m.step = '_parameters' AND m.field_name = 'script-name' ORDER BY r.flow, r.run_id");
  ASSERT_EQ(expected.size(), 6u);
  for (auto& row : expected) EXPECT_TRUE(row[3]) << *row[0] << "/" << *row[1] << " has no script-name metadata";
  EXPECT_EQ(db.query("SELECT flow, run_id, code, script_name FROM s_runs ORDER BY flow, run_id"), expected);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_tasks(1) WHERE code IS NOT NULL OR environment_info IS NOT NULL"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_tasks(1)"), "35");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_steps(1) WHERE environment_info IS NOT NULL"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_steps(1)"), "26");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_code_files"), "0");
}

TEST_F(ServiceCodeTest, RunWideInOneMetadataListing) {
  struct Query {
    std::string what, sql;
    int max_requests;
    size_t rows;
  } queries[] = {
      // runs/4, its steps, their task lists, the run's metadata: not one request per task.
      {"the foreach run's code", "SELECT code, script_name FROM s_runs WHERE flow = 'ForeachFlow' AND run_id = '4'", 8, 1},
      {"every task's environment of the foreach run",
       "SELECT task_id, code, environment_info FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4'", 8, 13},
      {"every step's environment of the foreach run",
       "SELECT step, environment_info FROM s_steps WHERE flow = 'ForeachFlow' AND run_id = '4'", 8, 4},
      {"the foreach run's code files", "SELECT path FROM s_code_files WHERE flow = 'ForeachFlow' AND run_id = '4'", 8, 0},
  };
  for (auto& q : queries) {
    TestDb db;
    create_tables(db);
    create_code_files(db);
    Cost cold = run(db, q.sql);
    print(q.what, cold, run(db, q.sql));
    EXPECT_EQ(cold.rows.size(), q.rows) << q.what;
    EXPECT_LE(cold.requests, q.max_requests) << q.what;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'http' AND target LIKE '%/tasks/%/metadata%'"), "0")
        << q.what << " read a task's metadata on its own";
  }
}

}  // namespace
}  // namespace mfsql::testing
