// Issue 14 parts 1, 4, 5, 8 over the metadata service (part 9): the recorded service replayed on
// loopback, the recorded datastore for values. Each answer is checked against another answer of
// the same server (its attempt_ok metadata, its artifacts, its flow records) or the datastore the
// runs wrote, and each run-wide question costs the run's listings, not a request per task.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

using nlohmann::json;

void create_attempts_table(TestDb& db, const std::string& url, const fs::path& store) {
  db.query("CREATE VIRTUAL TABLE temp.s_task_attempts USING task_attempts(service=" + quote(url) +
           ", datastore=" + quote(store.string()) + ")");
}

// Requests for one task's own metadata: what a run-wide answer must not need.
int per_task_metadata_requests(const std::vector<std::string>& targets) {
  int n = 0;
  for (auto& t : targets) n += t.find("/tasks/") != std::string::npos && t.find("/metadata") != std::string::npos;
  return n;
}

TEST_F(ServiceTest, EveryAttemptOfEveryTaskMatchesTheServersAttemptOk) {
  TestDb db;
  create_tables(db);
  create_attempts_table(db, server_->url(), *store_);
  // The server records attempt_ok per attempt (tag attempt_id:N): successful must say the same.
  std::map<std::string, std::string> attempt_ok;
  for (auto& r : db.query("SELECT pathspec, attempt, value FROM s_metadata WHERE field_name = 'attempt_ok'"))
    attempt_ok[*r[0] + "#" + *r[1]] = *r[2] == "True" ? "1" : "0";
  auto rows = db.query("SELECT pathspec || '#' || attempt, successful, finished, finished_at, exception, pathspec, attempt "
                       "FROM s_task_attempts");
  ASSERT_FALSE(rows.empty());
  int retried = 0;
  for (auto& r : rows) {
    ASSERT_TRUE(attempt_ok.count(*r[0])) << *r[0];
    EXPECT_EQ(r[1], attempt_ok[*r[0]]) << *r[0];
    EXPECT_EQ(r[2], attempt_ok[*r[0]]) << *r[0];  // no @catch here: finished is successful
    // ... and that attempt's _task_ok registration is its finished_at.
    EXPECT_EQ(r[3], db.scalar("SELECT created_at FROM s_artifacts(1, " + *r[6] + ") WHERE pathspec = " +
                              quote(*r[5] + "/_task_ok")))
        << *r[0];
    EXPECT_EQ(r[4].has_value(), r[1] == "0") << *r[0];
    retried += r[0]->find("#0") == std::string::npos;
  }
  EXPECT_EQ(rows.size(), attempt_ok.size());
  EXPECT_EQ(retried, 2);  // RetryFlow/6/flaky/34: attempts 0 and 1 failed, 2 succeeded
  EXPECT_EQ(db.scalar("SELECT group_concat(attempt || ':' || successful) FROM s_task_attempts "
                      "WHERE pathspec = 'RetryFlow/6/flaky/34' AND attempt IN (0, 2)"),
            "0:0,2:1");
}

TEST_F(ServiceTest, AttemptsOfARunCostItsListingsAndOneRequestPerEarlierAttempt) {
  TestDb db;
  create_tables(db);
  create_attempts_table(db, server_->url(), *store_);
  Cost cold = run(db, "SELECT pathspec, attempt, started_at, successful, exception FROM s_task_attempts "
                      "WHERE flow = 'RetryFlow' AND run_id = '6'");
  EXPECT_EQ(cold.rows.size(), 5u);  // start, flaky x3, end
  auto targets = server_->targets();
  EXPECT_EQ(per_task_metadata_requests(targets), 0);
  EXPECT_EQ(requests_for("/flows/RetryFlow/runs/6/metadata"), 1);
  EXPECT_EQ(requests_for("/flows/RetryFlow/runs/6/artifacts"), 1);
  int attempt_routes = 0;
  for (auto& t : targets) attempt_routes += t.find("/attempt/") != std::string::npos;
  EXPECT_EQ(attempt_routes, 2);  // flaky/34's attempts 0 and 1; its attempt 2 is the run listing's
  EXPECT_LE(cold.requests, 9);
  Cost warm = run(db, "SELECT pathspec, attempt, started_at, successful, exception FROM s_task_attempts "
                      "WHERE flow = 'RetryFlow' AND run_id = '6'");
  EXPECT_EQ(warm.rows, cold.rows);
  print("task_attempts of a run with retries", cold, warm);
}

TEST_F(ServiceTest, LogSizesAndRuntimeNamesComeFromTheRunsMetadataAndTheDatastore) {
  TestDb db;
  create_tables(db);
  Cost cost = run(db, "SELECT step, task_id, attempt, stdout_size, stderr_size, runtime_name FROM s_tasks "
                      "WHERE flow = 'ForeachFlow' AND run_id = '4'");
  ASSERT_EQ(cost.rows.size(), 13u);
  EXPECT_EQ(per_task_metadata_requests(server_->targets()), 0);
  const fs::path run_dir = *store_ / ".metaflow" / "ForeachFlow" / "4";
  for (auto& r : cost.rows) {
    for (auto [column, stream] : {std::pair{3, "stdout"}, std::pair{4, "stderr"}}) {
      uint64_t bytes = 0;
      for (const char* source : {"runtime", "task"}) {
        fs::path f = run_dir / *r[0] / *r[1] / (*r[2] + "." + source + "_" + stream + ".log");
        if (fs::exists(f)) bytes += fs::file_size(f);
      }
      EXPECT_EQ(r[column], std::to_string(bytes)) << *r[0] << "/" << *r[1] << " " << stream;
    }
    EXPECT_EQ(r[5], "dev");  // every run's system tags hold runtime:dev (the fixture's README)
  }
  // Sizes are not reads: no log file of the datastore was opened.
  EXPECT_EQ(db.files_opened_by("SELECT stdout_size FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4'", "%.log"), 0);
}

TEST_F(ServiceTest, ParametersTagsAndPathComponents) {
  TestDb db;
  create_tables(db);
  // runs.parameters against the _parameters task's artifacts, as the artifacts table decodes them.
  for (auto& r : db.query("SELECT pathspec, parameters, flow, run_id FROM s_runs")) {
    ASSERT_TRUE(r[1].has_value()) << *r[0];
    json expected = json::object();
    for (auto& a : db.query("SELECT name, value FROM s_artifacts(1) WHERE flow = " + quote(*r[2]) + " AND run_id = " +
                            quote(*r[3]) + " AND step = '_parameters' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name <> 'name'"))
      expected[*a[0]] = json::parse(*a[1]);
    EXPECT_EQ(json::parse(*r[1]), expected) << *r[0];
  }
  EXPECT_EQ(db.scalar("SELECT json_extract(parameters, '$.alpha') FROM s_runs WHERE flow = 'LinearFlow' AND run_id = '2'"),
            "2.0");
  // A flow's tags are the flow record's own: Metaflow's service registers flows with null tags.
  EXPECT_EQ(db.scalar("SELECT group_concat(DISTINCT tags) FROM s_flows"), "[]");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_flows WHERE parent IS NULL AND path_components = json_array(flow)"), "5");
  // An artifact carries its run's tags, its task as parent.
  auto a = db.query("SELECT a.tags = r.tags, a.parent, a.path_components FROM s_artifacts a JOIN s_runs r USING (flow, run_id) "
                    "WHERE a.flow = 'LinearFlow' AND a.run_id = '1' AND a.step = 'start'");
  ASSERT_FALSE(a.empty());
  for (auto& row : a) {
    EXPECT_EQ(row[0], "1");
    EXPECT_EQ(row[1], "LinearFlow/1/start/2");
    EXPECT_EQ(json::parse(*row[2]).size(), 5u);
  }
  expect_all_recorded();
}

}  // namespace
}  // namespace mfsql::testing
