// The statement's run filters, LIMIT and order sent to the real metadata service (the CTest fixture
// `live_service`): two flows of the same shape, one with 4x the history, loaded here through the
// service's REST API (POST /flows/F, POST /flows/F/run, as Metaflow's client writes them). Each
// question costs the same requests on both, and answers what the same question answers with the
// pushdown defeated (`+created_at`, `+user`: an expression, which SQLite never hands a table).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/live_service.hpp"
#include "support/moto.hpp"
#include "support/scoped_env.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
using nlohmann::json;

constexpr int kSmall = 30, kBig = 120;  // runs per flow

long post_status(const std::string& url, const json& body) { return http_post(url, body).status; }

// A flow with `runs` runs: users alternate alice/bob, every third run is tagged `nightly`, every
// run carries `batch:<i/10>`.
void load_flow(const std::string& url, const std::string& flow, int runs) {
  if (http_get(url + "/flows/" + flow).status == 200) return;  // loaded by an earlier test process
  ASSERT_EQ(post_status(url + "/flows/" + flow, {{"user_name", "alice"}, {"tags", json::array()},
                                               {"system_tags", json::array()}}), 200);
  for (int i = 0; i < runs; ++i) {
    const std::string user = i % 2 ? "bob" : "alice";
    json tags = {"batch:" + std::to_string(i / 10)};
    if (i % 3 == 0) tags.push_back("nightly");
    ASSERT_EQ(post_status(url + "/flows/" + flow + "/run",
                        {{"user_name", user}, {"tags", tags}, {"system_tags", {"user:" + user, "runtime:dev"}}}), 200);
  }
}

// The oracle's form: every run of the flow, listed whole (an expression term: SQLite hands the
// table no LIMIT), in the order the walk promises (the server breaks time ties by run number).
const std::string kAll = "SELECT ";
const std::string kFrom = " FROM l_runs WHERE flow = $F AND +run_id <> ''";
const std::string kNewestFirst = " ORDER BY created_at DESC, CAST(run_id AS INT) DESC";

class LivePushdown : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    live_ = LiveService::find();
    if (!live_) return;
    load_flow(live_->url(), "PushSmallFlow", kSmall);
    load_flow(live_->url(), "PushBigFlow", kBig);
  }
  void SetUp() override {
    if (!live_) GTEST_SKIP() << "run through ctest (ctest -L live): its fixture starts the real service";
    fresh_connection();
  }
  // A new connection: nothing cached.
  void fresh_connection() {
    db_ = std::make_unique<TestDb>();
    for (const char* t : {"runs", "tags", "flows"})
      db_->query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(service=" + quote(live_->url()) + ")");
  }

  struct Cost {
    Rows rows;
    int requests;
    std::vector<std::string> targets;
    std::vector<std::string> asked;  // every answer used, cached or not
  };
  Cost run(const std::string& sql) {
    db_->query("SELECT metaflow_trace_clear()");
    Rows rows = db_->query(sql);
    Cost c{std::move(rows), 0, {}};
    for (auto& r : db_->query("SELECT target FROM metaflow_trace WHERE kind = 'http' AND cache_hit = 0")) {
      c.targets.push_back(r[0].value_or(""));
      ++c.requests;
    }
    for (auto& r : db_->query("SELECT target FROM metaflow_trace WHERE kind = 'http'")) c.asked.push_back(r[0].value_or(""));
    return c;
  }
  // The same question on the small and the big flow: equal cost, and each answer equal to `oracle`'s
  // (the same question with the pushdown defeated) on that flow.
  void same_cost_same_answer(const std::string& what, const std::string& sql, const std::string& oracle,
                             int max_requests) {
    std::vector<int> costs;
    for (const char* flow : {"PushSmallFlow", "PushBigFlow"}) {
      auto fill = [&](std::string s) {
        for (size_t at; (at = s.find("$F")) != std::string::npos;) s.replace(at, 2, quote(flow));
        return s;
      };
      fresh_connection();
      Cost pushed = run(fill(sql));
      Rows expected = db_->query(fill(oracle));
      EXPECT_EQ(pushed.rows, expected) << what << " on " << flow;
      EXPECT_FALSE(pushed.rows.empty()) << what << " on " << flow;
      EXPECT_LE(pushed.requests, max_requests) << what << " on " << flow;
      std::printf("[cost] %-44s %-14s %d requests:", what.c_str(), flow, pushed.requests);
      for (auto& t : pushed.targets) std::printf(" %s", t.substr(t.find("/runs")).c_str());
      std::printf("\n");
      costs.push_back(pushed.requests);
    }
    EXPECT_EQ(costs[0], costs[1]) << what << ": the cost grew with the history";
  }

  static inline const LiveService* live_ = nullptr;
  std::unique_ptr<TestDb> db_;
};

TEST_F(LivePushdown, LimitReadsOnePageWhateverTheHistory) {
  same_cost_same_answer("latest 10 runs", "SELECT run_id, created_at FROM l_runs WHERE flow = $F LIMIT 10",
                        kAll + "run_id, created_at" + kFrom + kNewestFirst + " LIMIT 10", 1);
  same_cost_same_answer("latest 5 runs, ordered",
                        "SELECT run_id FROM l_runs WHERE flow = $F ORDER BY created_at DESC LIMIT 5",
                        kAll + "run_id" + kFrom + kNewestFirst + " LIMIT 5", 1);
  same_cost_same_answer("runs 6 to 10", "SELECT run_id FROM l_runs WHERE flow = $F LIMIT 5 OFFSET 5",
                        kAll + "run_id" + kFrom + kNewestFirst + " LIMIT 5 OFFSET 5", 1);
}

TEST_F(LivePushdown, FiltersBecomeTheServersFilters) {
  same_cost_same_answer("runs of one user, first 4", "SELECT run_id FROM l_runs WHERE flow = $F AND user = 'bob' LIMIT 4",
                        kAll + "run_id" + kFrom + " AND +user = 'bob'" + kNewestFirst + " LIMIT 4", 1);
  // The load took well under a minute: the runs created since the 8th newest one.
  same_cost_same_answer("runs created since a time",
                        "SELECT run_id FROM l_runs WHERE flow = $F AND created_at >= (SELECT created_at FROM "
                        "(SELECT created_at FROM l_runs WHERE flow = $F ORDER BY created_at DESC LIMIT 8) "
                        "ORDER BY created_at LIMIT 1)",
                        "SELECT run_id FROM l_runs WHERE flow = $F AND +created_at >= (SELECT created_at FROM "
                        "(SELECT created_at FROM l_runs WHERE flow = $F ORDER BY created_at DESC LIMIT 8) "
                        "ORDER BY created_at LIMIT 1)", 2 + 1);
  same_cost_same_answer("runs with a tag, first 3", "SELECT run_id FROM l_tags WHERE flow = $F AND tag = 'nightly' LIMIT 3",
                        kAll + "run_id" + kFrom + " AND tags LIKE '%\"nightly\"%'" + kNewestFirst + " LIMIT 3", 1);
}

TEST_F(LivePushdown, CreatedAtBoundsAreTheTimesWhoseTextPasses) {
  // A date alone, text that is no time at all, a bound past every run and a number (compared as
  // its text: created_at has TEXT affinity): the same answers as SQLite's own comparison of the
  // column (CAST(... AS TEXT): the same affinity, but an expression SQLite does not hand the table).
  for (const char* bound : {"'2000-01-01'", "'2999'", "'zzz'", "'2026-11-30 23:59:59.999'", "5"})
    for (const char* op : {">=", ">", "<", "<=", "="}) {
      const std::string sql = std::string("SELECT run_id FROM l_runs WHERE flow = 'PushSmallFlow' AND created_at ") + op +
                              " " + bound;
      Cost c = run(sql);
      EXPECT_EQ(c.rows, db_->query(std::string("SELECT run_id FROM l_runs WHERE flow = 'PushSmallFlow' AND CAST(created_at AS TEXT) ") +
                                  op + " " + bound))
          << sql;
      EXPECT_LE(c.requests, 1) << sql;
    }
}

TEST_F(LivePushdown, LatestRunOfEveryFlowIsOneRequestPerFlow) {
  // Every flow of the service: the flow list, then one one-run page per flow, whatever its history.
  Cost c = run("SELECT flow, latest_run FROM l_flows");
  const int flows = std::stoi(*db_->scalar("SELECT count(*) FROM l_flows"));
  ASSERT_GE(flows, 2);
  EXPECT_EQ(c.requests, 1 + flows) << ::testing::PrintToString(c.targets);
  for (auto& row : c.rows)
    EXPECT_EQ(row[1], db_->scalar("SELECT run_id FROM l_runs WHERE flow = " + quote(*row[0]) + " AND +run_id <> '' "
                                  "ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1")) << *row[0];
  for (size_t i = 1; i < c.targets.size(); ++i) EXPECT_NE(c.targets[i].find("/runs?_limit=1"), std::string::npos) << c.targets[i];
}

// The recorded fixture flows, loaded with their own ids, read with the recording's datastore.
class LiveStatus : public LivePushdown {
 protected:
  void SetUp() override {
    if (!live_) GTEST_SKIP() << "run through ctest (ctest -L live): its fixture starts the real service";
    db_ = std::make_unique<TestDb>();
    for (const char* t : {"runs", "flows"})
      db_->query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(service=" + quote(live_->url()) +
                 ", datastore=" + quote((service_fixture() / "datastore").string()) + ")");
  }
};

// Flows whose graph ends in `end` without @catch: the server's completed is mfsql's successful
// (client::server_status_stands), so the status page answers `successful`; asking `finished` too
// makes mfsql check every run by its own rule, and the answers agree.
TEST_F(LiveStatus, TheServersCompletedStandsWhereTheGraphAgrees) {
  for (const char* flow : {"LinearFlow", "FailFlow", "RetryFlow", "ForeachFlow", "BranchFlow"}) {
    const std::string f = quote(flow);
    Cost pushed = run("SELECT run_id, successful FROM l_runs WHERE flow = " + f + " LIMIT 10");
    Cost checked = run("SELECT run_id, successful, finished FROM l_runs WHERE flow = " + f + " LIMIT 10");
    ASSERT_EQ(pushed.rows.size(), checked.rows.size()) << flow;
    for (size_t i = 0; i < pushed.rows.size(); ++i) {
      EXPECT_EQ(pushed.rows[i][0], checked.rows[i][0]) << flow;
      EXPECT_EQ(pushed.rows[i][1], checked.rows[i][1]) << flow << "/" << *pushed.rows[i][0];
    }
    std::printf("[cost] successful of the latest 10 runs of %-12s %d requests (each run checked: %d more)\n", flow,
                pushed.requests, checked.requests);
    // The status page; once per flow, the newest run (a one-run page) and its graph: the _parameters
    // step's artifact listing (its _graph_info), and the task's metadata only where that graph
    // names no end_step (older Metaflow; these recordings). None per run.
    EXPECT_LE(pushed.requests, 1 + 1 + 2) << ::testing::PrintToString(pushed.targets);
    EXPECT_NE(pushed.targets.front().find("status:eq=completed,failed,running&_limit=10"), std::string::npos);
    // Only the successful runs: only the completed ones are asked for.
    for (const char* column : {"successful = 1", "status = 'completed'"}) {
      const std::string where = std::string(" AND ") + column;
      Cost only = run("SELECT run_id FROM l_runs WHERE flow = " + f + where);
      // Checked: an expression (no filter sent) and another outcome column (each run by mfsql's rule).
      EXPECT_EQ(only.rows, db_->query("SELECT run_id FROM l_runs WHERE flow = " + f + " AND +" + column +
                                      " AND finished IS NOT NULL"))
          << flow << where;
      EXPECT_NE(::testing::PrintToString(only.asked).find("status:eq=completed&"), std::string::npos)
          << flow << ::testing::PrintToString(only.asked);  // (the second question: from the cache)
      EXPECT_LE(only.requests, 1 + 1 + 2) << ::testing::PrintToString(only.targets);
    }
  }
}

TEST_F(LiveStatus, LatestSuccessfulRunIsTwoPagesWhereTheGraphAgrees) {
  for (const char* flow : {"LinearFlow", "FailFlow", "RetryFlow", "ForeachFlow"}) {
    const std::string f = quote(flow);
    Cost c = run("SELECT latest_run, latest_successful_run FROM l_flows WHERE flow = " + f);
    ASSERT_EQ(c.rows.size(), 1u);
    Rows checked = db_->query("SELECT run_id FROM l_runs WHERE flow = " + f + " AND successful = 1 AND finished IS NOT "
                              "NULL ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1");
    EXPECT_EQ(c.rows[0][1], checked.empty() ? Cell() : checked[0][0]) << flow;
    std::printf("[cost] latest successful run of %-12s %d requests\n", flow, c.requests);
    // The flow, the newest ten runs with their server status (one page), the newest one's graph
    // (the _parameters step's artifacts; its metadata where the graph names no end_step), and only
    // when none of the ten is completed and there are more, the newest completed run (one-run page).
    const json newest = json::parse(http_get(live_->url() + "/flows/" + flow +
                                             "/runs?status:eq=completed,failed,running&_limit=10").body);
    bool completed_among = false;
    for (auto& r : newest) completed_among = completed_among || r.at("status") == "completed";
    const bool asked_completed = ::testing::PrintToString(c.targets).find("status:eq=completed&_limit=1") !=
                                 std::string::npos;
    EXPECT_EQ(asked_completed, !completed_among && newest.size() == 10) << ::testing::PrintToString(c.targets);
    EXPECT_LE(c.requests, 1 + 1 + 2 + (asked_completed ? 1 : 0)) << ::testing::PrintToString(c.targets);
  }
}

// The other side of the rule: EndpointsFlow ends in a custom step (`finish`), so the server calls
// every run of it failed (no `end` step has attempt_ok) while two of them succeeded. Its graph says
// so, and mfsql answers by its own rule: the local store's oracle, under the service's ids.
TEST_F(LiveStatus, ACustomEndStepIsCheckedByMfsqlsRule) {
  // Its blobs where the service's records say they are: S3 (moto), under the service's ids.
  if (!MotoServer::available()) GTEST_SKIP() << "moto_server is not on PATH";
  TempDir tmp;
  MotoServer moto;
  const auto linked = live_->datastore_as_registered(local_fixture() / ".metaflow", tmp.path() / "linked");
  const auto copied = tmp.path() / "copied" / ".metaflow";  // files, not links, for the upload
  std::filesystem::create_directories(copied);
  std::filesystem::copy(linked, copied, std::filesystem::copy_options::recursive);
  ASSERT_GT(moto.upload_store(copied, LiveService::kBucket, LiveService::kPrefix), 0);
  ScopedEnv env;
  env.set("METAFLOW_S3_ENDPOINT_URL", moto.endpoint());
  env.set("AWS_ACCESS_KEY_ID", MotoServer::kAccessKey);
  env.set("AWS_SECRET_ACCESS_KEY", MotoServer::kSecretKey);
  db_ = std::make_unique<TestDb>();
  for (const char* t : {"runs", "flows"})
    db_->query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(service=" + quote(live_->url()) +
               ", datastore=" + quote(live_->s3_root()) + ")");
  const json oracle = json::parse(read_file(local_fixture() / "oracle.json"));
  const json* flow = nullptr;
  for (auto& f : oracle.at("flows"))
    if (f.at("name") == "EndpointsFlow") flow = &f;
  ASSERT_NE(flow, nullptr);
  const std::string f = "'EndpointsFlow'";
  // The server's own status disagrees with the client's for the successful runs.
  HttpAnswer listing = http_get(live_->url() + "/flows/EndpointsFlow/runs?status:eq=completed&_limit=10");
  ASSERT_EQ(listing.status, 200);
  EXPECT_EQ(json::parse(listing.body).size(), 0u);
  Rows successful = run("SELECT run_id, successful FROM l_runs WHERE flow = " + f + " LIMIT 10").rows;
  ASSERT_EQ(successful.size(), flow->at("runs").size());
  for (auto& r : flow->at("runs")) {
    const std::string id = live_->run("EndpointsFlow", r.at("id").get<std::string>());
    bool found = false;
    for (auto& row : successful)
      if (row[0] == id) {
        found = true;
        EXPECT_EQ(row[1], r.at("successful").get<bool>() ? "1" : "0") << id;
      }
    EXPECT_TRUE(found) << id;
  }
  Cost latest = run("SELECT latest_successful_run FROM l_flows WHERE flow = " + f);
  ASSERT_EQ(latest.rows.size(), 1u);
  EXPECT_EQ(latest.rows[0][0], live_->run("EndpointsFlow", flow->at("latest_successful_run").get<std::string>()));
  // The newest run's page carries the server's status; the completed-only page is never asked for.
  EXPECT_EQ(::testing::PrintToString(latest.targets).find("status:eq=completed&"), std::string::npos)
      << ::testing::PrintToString(latest.targets);
}

TEST_F(LivePushdown, ExplainAndTraceShowWhatWasSent) {
  auto plan = db_->query("EXPLAIN QUERY PLAN SELECT run_id FROM l_runs WHERE flow = 'PushBigFlow' AND created_at >= '2020' "
                        "ORDER BY created_at DESC LIMIT 3");
  ASSERT_FALSE(plan.empty());
  const std::string detail = *plan.back()[3];
  EXPECT_NE(detail.find("created_at>=?"), std::string::npos) << detail;
  EXPECT_NE(detail.find("order=desc"), std::string::npos) << detail;
  EXPECT_NE(detail.find("limit=?"), std::string::npos) << detail;
  Cost c = run("SELECT run_id FROM l_runs WHERE flow = 'PushBigFlow' AND created_at >= '2020' ORDER BY created_at DESC LIMIT 3");
  ASSERT_EQ(c.targets.size(), 1u);
  EXPECT_NE(c.targets[0].find("ts_epoch:ge=1577836800000&_limit=3"), std::string::npos) << c.targets[0];
}

}  // namespace
}  // namespace mfsql::testing
