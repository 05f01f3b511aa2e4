// The metadata service provider over real HTTP: the recorded service replayed on loopback, the
// recorded datastore for values. Answers must match the datastore and the fixture README, cost few
// requests, and never show a secret. (Faults: service_faults_test.cpp.)
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

std::string gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 16 + MAX_WBITS);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("not gzip");
  return out;
}

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST_F(ServiceTest, RunOutcomesMatchTheFixture) {
  TestDb db;
  create_tables(db);
  auto rows = db.query("SELECT flow, run_id, status, finished, successful, end_task FROM s_runs ORDER BY CAST(run_id AS INT)");
  ASSERT_EQ(rows.size(), 6u);
  const char* flows[] = {"LinearFlow", "LinearFlow", "BranchFlow", "ForeachFlow", "FailFlow", "RetryFlow"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(rows[i][0], flows[i]);
    EXPECT_EQ(rows[i][1], std::to_string(i + 1));
    bool failed = i == 4;
    EXPECT_EQ(rows[i][2], failed ? "failed" : "completed") << flows[i];
    EXPECT_EQ(rows[i][3], failed ? "0" : "1");
    EXPECT_EQ(rows[i][4], failed ? "0" : "1");
    EXPECT_EQ(rows[i][5].has_value(), !failed);
  }
  EXPECT_EQ(rows[5][5], "RetryFlow/6/end/35");
  auto tags = db.query("SELECT flow, run_id FROM s_tags WHERE tag = 'added-later'");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0][0], "LinearFlow");
  EXPECT_EQ(tags[0][1], "2");
  EXPECT_EQ(db.scalar("SELECT user FROM s_runs WHERE flow = 'LinearFlow' AND run_id = '1'"), "tester");
  auto flow_rows = db.query("SELECT flow, latest_run, latest_successful_run FROM s_flows ORDER BY flow");
  ASSERT_EQ(flow_rows.size(), 5u);
  EXPECT_EQ(flow_rows[1], (std::vector<Cell>{"FailFlow", "5", std::nullopt}));
  EXPECT_EQ(flow_rows[3], (std::vector<Cell>{"LinearFlow", "2", "2"}));
  EXPECT_EQ(db.scalar("SELECT group_concat(step || ':' || task_count) FROM (SELECT * FROM s_steps WHERE flow = "
                      "'ForeachFlow' AND run_id = '4' ORDER BY step)"),
            "end:1,join:1,process:10,start:1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_logs WHERE flow = 'FailFlow' AND run_id = '5' AND stream = 'stderr' "
                      "AND line LIKE '%failed:%'"),
            "1");
  expect_all_recorded();
  EXPECT_EQ(db.scalar("SELECT user_tags FROM s_runs WHERE flow = 'LinearFlow' AND run_id = '1'"), "[\"fixture\",\"team:alpha\"]");
}

TEST_F(ServiceTest, FailedAndRetriedTasks) {
  TestDb db;
  create_tables(db);
  auto explode = db.query("SELECT finished, successful, json_extract(exception, '$.type'), stderr FROM s_tasks "
                          "WHERE flow = 'FailFlow' AND run_id = '5' AND step = 'explode'");
  ASSERT_EQ(explode.size(), 1u);
  EXPECT_EQ(explode[0][0], "0");
  EXPECT_EQ(explode[0][1], "0");
  EXPECT_TRUE(explode[0][2].has_value());
  EXPECT_NE(explode[0][3].value_or("").find("<flow FailFlow step explode> failed:"), std::string::npos);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_steps WHERE flow = 'FailFlow' AND run_id = '5' AND step = 'end'"), "0");

  const std::string flaky = "flow = 'RetryFlow' AND run_id = '6' AND step = 'flaky' AND task_id = '34'";
  EXPECT_EQ(db.scalar("SELECT attempt || '/' || successful FROM s_tasks WHERE " + flaky), "2/1");
  auto oks = db.query("SELECT attempt, value FROM s_metadata WHERE " + flaky + " AND field_name = 'attempt_ok' ORDER BY attempt");
  ASSERT_EQ(oks.size(), 3u);
  EXPECT_EQ(oks[0][1], "False");
  EXPECT_EQ(oks[1][1], "False");
  EXPECT_EQ(oks[2][1], "True");
  auto seen = db.query("SELECT attempt, sha FROM s_artifacts WHERE " + flaky +
                       " AND name = 'attempt_seen' AND attempt IN (0, 1, 2) ORDER BY attempt");
  ASSERT_EQ(seen.size(), 3u);
  for (int a = 0; a < 3; ++a) {
    auto index = nlohmann::json::parse(read_file(*store_ / ".metaflow/RetryFlow/6/flaky/34" / (std::to_string(a) + ".data.json")));
    EXPECT_EQ(seen[a][1], index["objects"]["attempt_seen"].get<std::string>()) << "attempt " << a;
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_artifacts WHERE " + flaky + " AND name = 'ok' AND attempt = 0"), "0");
  EXPECT_EQ(db.scalar("SELECT attempt FROM s_artifacts WHERE " + flaky + " AND name = 'ok'"), "2");
  EXPECT_EQ(db.scalar("SELECT stdout FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'end'"), "total 285\n");
}

// Every public artifact of every run, over the service, against the datastore the runs wrote.
TEST_F(ServiceTest, EveryArtifactMatchesTheDatastore) {
  TestDb db;
  create_tables(db);
  auto c = run(db, "SELECT flow, run_id, step, task_id, name, attempt, sha, hex(blob), value FROM s_artifacts");
  std::printf("[cost] %-48s cold %2d requests %7.1f ms (%zu artifacts)\n", "every public artifact of every run",
              c.requests, c.ms, c.rows.size());
  ASSERT_GT(c.rows.size(), 40u);
  EXPECT_LE(c.requests, 1 + 5 + 6 * 7);
  std::set<std::string> tasks;
  for (auto& r : c.rows) {
    const fs::path dir = *store_ / ".metaflow" / *r[0] / *r[1] / *r[2] / *r[3];
    auto index = nlohmann::json::parse(read_file(dir / (*r[5] + ".data.json")));
    ASSERT_EQ(index["objects"].value(*r[4], ""), *r[6]) << dir << " " << *r[4];
    std::string bytes = gunzip(read_file(*store_ / ".metaflow" / *r[0] / "data" / r[6]->substr(0, 2) / *r[6]));
    EXPECT_EQ(*r[7], hex(bytes));
    EXPECT_EQ(r[8], db.scalar("SELECT metaflow_unpickle(x'" + hex(bytes) + "')")) << dir << " " << *r[4];
    tasks.insert(dir.string());
  }
  EXPECT_GE(tasks.size(), 20u);
}

TEST_F(ServiceTest, RequestCountsStaySmall) {
  struct Query {
    std::string what, sql;
    int max_requests;
    size_t rows;
  } queries[] = {
      // (+1 since the status listing: the first statement of a connection asks for the server's
      // run status, `?status:eq=completed,failed,running`, which the replay answers 404 as a server
      // without filters does; the plain listing then answers, as before, for the connection.)
      {"list runs of a flow with status", "SELECT run_id, status FROM s_runs WHERE flow = 'LinearFlow'", 10, 2},
      {"all tasks of the foreach run with status",
       "SELECT task_id, finished, successful FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4'", 6, 13},
      {"one artifact's value across the foreach tasks",
       "SELECT task_id, value FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
       "AND name = 'square'", 2, 10},
      // A pathspec asks for the artifact alone: the task's own record is not needed for its rows.
      {"one artifact by pathspec", "SELECT value FROM s_artifacts WHERE pathspec = 'ForeachFlow/4/process/17/square'", 1, 1},
      {"runs of a flow with a given tag", "SELECT run_id FROM s_tags WHERE flow = 'LinearFlow' AND tag = 'fixture'", 1, 1},
      {"runs with a given tag, every flow", "SELECT flow, run_id FROM s_tags WHERE tag = 'fixture'", 13, 5},
      {"the attempt of every task of one step",
       "SELECT task_id, attempt FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process'", 11, 10},
      {"a join: each run of a flow with its tasks' outcomes",
       "SELECT r.run_id, t.task_id, t.successful FROM s_runs r JOIN s_tasks t ON t.flow = r.flow AND t.run_id = r.run_id "
       "WHERE r.flow = 'LinearFlow'", 11, 6},
  };
  for (auto& q : queries) {
    TestDb db;
    create_tables(db);
    Cost cold = run(db, q.sql);
    Cost warm = run(db, q.sql);
    print(q.what, cold, warm);
    if (getenv("MFSQL_TEST_VERBOSE"))
      for (auto& r : db.query("SELECT kind, target, status, ms, bytes FROM metaflow_trace WHERE cache_hit = 0"))
        std::printf("    %s %s %s %s ms %s bytes\n", r[0]->c_str(), r[1]->c_str(), r[2]->c_str(), r[3]->c_str(), r[4]->c_str());
    EXPECT_EQ(cold.rows.size(), q.rows) << q.what;
    EXPECT_EQ(warm.rows, cold.rows) << q.what;
    EXPECT_LE(cold.requests, q.max_requests) << q.what;
    EXPECT_LE(warm.requests, cold.requests) << q.what;
    int traced = std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'http' AND cache_hit = 0"));
    EXPECT_EQ(traced, cold.requests + warm.requests) << q.what;
  }
  TestDb db;
  create_tables(db);
  auto squares = db.query("SELECT value FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
                          "AND name = 'square' ORDER BY CAST(value AS INT)");
  auto indexes = db.query("SELECT foreach_index FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
                          "ORDER BY foreach_index");
  ASSERT_EQ(indexes.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(indexes[i][0], std::to_string(i));
}

TEST_F(ServiceTest, MetaflowSettingsSelectTheService) {
  env_.set("METAFLOW_DEFAULT_METADATA", "service");
  env_.set("METAFLOW_SERVICE_URL", server_->url() + "/");
  env_.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", store_->string());
  TestDb db;
  EXPECT_EQ(db.scalar("SELECT group_concat(status) FROM (SELECT status FROM runs WHERE flow = 'LinearFlow')"),
            "completed,completed");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'http' AND target LIKE " +
                      quote(server_->url() + "/flows/LinearFlow/runs")),
            "1");
}

TEST_F(ServiceTest, MissingObjectsAreEmptyNotErrors) {
  TestDb db;
  create_tables(db);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_runs WHERE flow = 'LinearFlow' AND run_id = '999999'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_runs WHERE flow = 'NoSuchFlow'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_tasks WHERE pathspec = 'LinearFlow/1/middle/2'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_tasks WHERE pathspec = 'LinearFlow/1/start/999999'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_artifacts WHERE pathspec = 'LinearFlow/1/start/2/no_such_artifact'"), "0");
  expect_all_recorded();
}

TEST_F(ServiceTest, SecretsAreSentButNeverShown) {
  TestDb db;
  create_tables(db);
  db.query("SELECT * FROM s_runs WHERE flow = 'LinearFlow'");
  auto headers = server_->last_headers();
  EXPECT_EQ(headers["x-api-key"], kKey);
  EXPECT_EQ(headers["x-team-token"], kHeaderValue);
  EXPECT_EQ(db.scalar("SELECT value FROM metaflow_config WHERE name = 'METAFLOW_SERVICE_AUTH_KEY'"), "***");
  EXPECT_EQ(db.scalar("SELECT value FROM metaflow_config WHERE name = 'METAFLOW_SERVICE_HEADERS'"), "***");
  error_without_secrets(db, "SELECT 1");
  // A password in the URL stays out of traces and messages too; a body that echoes the key is scrubbed.
  TestDb other;
  std::string url = server_->url();
  create_tables(other, url.substr(0, 7) + "user:pw-SECRET@" + url.substr(7));
  server_->add_fault({Fault::Error500, "/flows/BranchFlow/runs", -1, 0, -1, "{\"detail\": \"bad key " + kKey + "\"}"});
  std::string err = error_without_secrets(other, "SELECT run_id FROM s_runs WHERE flow = 'BranchFlow'");
  EXPECT_NE(err.find("bad key ***"), std::string::npos) << err;
}

}  // namespace
}  // namespace mfsql::testing
