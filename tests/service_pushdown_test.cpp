// A statement's run filters, LIMIT and order against the recorded service, which answers only the
// recorded requests: the recorded page (`/flows/LinearFlow/runs?_limit=1`) is answered by the
// server; any other filtered request gets the replay's 404, which is what a server without filters
// says, and the provider falls back to listing the runs, once per connection, with the same
// answers. (The real service's answers to them: live_pushdown_test.cpp.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/client.hpp"
#include "support/service_fixture.hpp"

namespace mfsql::testing {
namespace {

class ServicePushdown : public ServiceTest {};

// Every question over every flow: with the pushdown (created_at, user, LIMIT, OFFSET, ORDER BY)
// and without it (`+column`: an expression, which SQLite never hands a table, and no LIMIT then).
TEST_F(ServicePushdown, AnswersEqualThoseWithoutThePushdown) {
  TestDb db;
  create_tables(db);
  const char* const questions[][2] = {
      {"SELECT run_id FROM s_runs WHERE flow = $F LIMIT 1", "SELECT run_id FROM s_runs WHERE flow = $F AND +run_id <> '' "
                                                            "ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1"},
      {"SELECT run_id FROM s_runs WHERE flow = $F ORDER BY created_at DESC LIMIT 2 OFFSET 1",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +run_id <> '' ORDER BY created_at DESC, CAST(run_id AS INT) DESC "
       "LIMIT 2 OFFSET 1"},
      {"SELECT run_id FROM s_runs WHERE flow = $F AND created_at >= '2000' AND created_at < '2999-01-01 00:00:00'",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +created_at >= '2000' AND +created_at < '2999-01-01 00:00:00'"},
      {"SELECT run_id FROM s_runs WHERE flow = $F AND created_at > 'zzz'",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +created_at > 'zzz'"},
      {"SELECT run_id, user FROM s_runs WHERE flow = $F AND user = (SELECT user FROM s_runs WHERE flow = $F LIMIT 1)",
       "SELECT run_id, user FROM s_runs WHERE flow = $F AND +user = (SELECT +user FROM s_runs WHERE flow = $F AND "
       "+run_id <> '' ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1)"},
      {"SELECT run_id, status, successful FROM s_runs WHERE flow = $F LIMIT 3",
       "SELECT run_id, status, successful FROM s_runs WHERE flow = $F AND +run_id <> '' "
       "ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 3"},
      {"SELECT run_id, status FROM s_runs WHERE flow = $F AND status = 'failed'",
       "SELECT run_id, status FROM s_runs WHERE flow = $F AND +status = 'failed'"},
      {"SELECT run_id FROM s_runs WHERE flow = $F AND status IN ('running', 'completed')",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +status IN ('running', 'completed')"},
      {"SELECT run_id FROM s_runs WHERE flow = $F AND successful = 0",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +successful = 0"},
      {"SELECT run_id FROM s_tags WHERE flow = $F AND tag = 'fixture' LIMIT 1",
       "SELECT run_id FROM s_runs WHERE flow = $F AND +tags LIKE '%\"fixture\"%' "
       "ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1"},
  };
  for (const char* flow : {"LinearFlow", "BranchFlow", "FailFlow", "ForeachFlow", "RetryFlow"})
    for (auto& [pushed, plain] : questions) {
      auto fill = [&](std::string s) {
        for (size_t at; (at = s.find("$F")) != std::string::npos;) s.replace(at, 2, quote(flow));
        return s;
      };
      Rows expected = db.query(fill(plain));
      EXPECT_EQ(run(db, fill(pushed)).rows, expected) << fill(pushed);
    }
}

TEST_F(ServicePushdown, ARecordedPageAnswersALimitAlone) {
  TestDb db;
  create_tables(db);
  Cost c = run(db, "SELECT run_id FROM s_runs WHERE flow = 'LinearFlow' LIMIT 1");
  EXPECT_EQ(server_->targets(), std::vector<std::string>{"GET /flows/LinearFlow/runs?_limit=1"});
  EXPECT_EQ(c.requests, 1);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0][0], db.scalar("SELECT run_id FROM s_runs WHERE flow = 'LinearFlow' AND +run_id <> '' "
                                    "ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 1"));
  Cost latest = run(db, "SELECT latest_run FROM s_flows WHERE flow = 'LinearFlow'");  // the same page
  EXPECT_EQ(latest.rows, c.rows);
}

TEST_F(ServicePushdown, AServerWithoutFiltersIsToldOncePerConnection) {
  TestDb db;
  create_tables(db);
  // BranchFlow's page was not recorded: the replay's 404, then the plain listing answers.
  Cost first = run(db, "SELECT run_id FROM s_runs WHERE flow = 'BranchFlow' LIMIT 1");
  EXPECT_EQ(server_->targets(),
            (std::vector<std::string>{"GET /flows/BranchFlow/runs?_limit=1", "GET /flows/BranchFlow/runs"}));
  EXPECT_EQ(first.rows.size(), 1u);
  // From then on this connection lists runs and filters them itself: no filtered request.
  Cost next = run(db, "SELECT run_id FROM s_runs WHERE flow = 'FailFlow' AND created_at >= '2000' LIMIT 1");
  EXPECT_EQ(server_->targets(), std::vector<std::string>{"GET /flows/FailFlow/runs"});
  EXPECT_EQ(next.rows.size(), 1u);
  // The trace shows what was sent.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM metaflow_trace WHERE target LIKE '%/flows/BranchFlow/runs?_limit=1'"), "1");
}

// A run whose heartbeat stopped long ago (the recording's are days old) and whose end task did not
// succeed is failed whatever its tasks say: its status reads the end step, not every task of the
// run (FailFlow/5 failed in `explode`, before its end step).
TEST_F(ServicePushdown, AStaleRunsStatusReadsNoTaskBeyondItsEndStep) {
  TestDb db;
  create_tables(db);
  Cost c = run(db, "SELECT status FROM s_runs WHERE flow = 'FailFlow' AND run_id = '5'");
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0][0], "failed");
  for (auto& t : server_->targets()) {
    EXPECT_EQ(t.find("/steps/explode"), std::string::npos) << t;
    EXPECT_EQ(t.find("/steps/start"), std::string::npos) << t;
  }
  std::printf("[cost] status of a stale failed run: %d requests\n", c.requests);
}

TEST_F(ServicePushdown, ExplainShowsTheLimitOffsetAndOrder) {
  TestDb db;
  create_tables(db);
  auto detail = [&](const std::string& sql) { return *db.query("EXPLAIN QUERY PLAN " + sql).back()[3]; };
  EXPECT_NE(detail("SELECT run_id FROM s_runs WHERE flow = 'F' ORDER BY created_at DESC LIMIT 3 OFFSET 2")
                .find("flow=? order=desc limit=? offset:skip=?"),
            std::string::npos);
  // A term SQLite re-checks: SQLite skips the OFFSET itself.
  EXPECT_NE(detail("SELECT run_id FROM s_runs WHERE flow = 'F' AND created_at > '2020' LIMIT 3 OFFSET 2")
                .find("created_at>? limit=? offset=?"),
            std::string::npos);
  // Another order, or no fixed flow: SQLite sorts, and the LIMIT is not the table's.
  for (const char* sql : {"SELECT run_id FROM s_runs WHERE flow = 'F' ORDER BY created_at LIMIT 3",
                          "SELECT run_id FROM s_runs ORDER BY created_at DESC LIMIT 3",
                          "SELECT run_id FROM s_runs WHERE flow IN ('F', 'G') ORDER BY created_at DESC LIMIT 3"}) {
    EXPECT_EQ(detail(sql).find("limit"), std::string::npos) << sql;
    EXPECT_EQ(detail(sql).find("order=desc"), std::string::npos) << sql;
  }
}

}  // namespace
}  // namespace mfsql::testing

namespace mfsql::testing {
namespace {

// The rule for when the server's `completed` is mfsql's successful, both sides of it: the graph's
// end step is `end` and has no @catch. (A custom end step against the real service:
// live_pushdown_test.cpp, LiveStatus.ACustomEndStepIsCheckedByMfsqlsRule.)
TEST(ServerStatusRule, AgreesOnlyForAnEndStepNamedEndWithoutCatch) {
  using nlohmann::ordered_json;
  auto graph = [](const char* end_decorators) {
    return ordered_json::parse(std::string(R"({"steps": {"start": {"decorators": [{"name": "catch"}]},
                                                          "end": {"decorators": )") + end_decorators + "}}}");
  };
  EXPECT_TRUE(client::server_completed_is_successful(graph("[]"), "end"));
  EXPECT_TRUE(client::server_completed_is_successful(graph(R"([{"name": "retry", "attributes": {"times": 2}}])"), "end"));
  EXPECT_FALSE(client::server_completed_is_successful(graph(R"([{"name": "catch", "attributes": {}}])"), "end"));
  EXPECT_FALSE(client::server_completed_is_successful(graph("[]"), "finish"));  // a custom end step
  EXPECT_FALSE(client::server_completed_is_successful(std::nullopt, "end"));    // no graph recorded
  EXPECT_FALSE(client::server_completed_is_successful(ordered_json::parse(R"({"steps": {"finish": {}}})"), "end"));
}

// Which server answers stand for mfsql's status where the rule above holds, both sides of it
// (against the real service: live_status_test.cpp).
TEST(ServerStatusRule, FailedStandsOnlyWithAStaleHeartbeat) {
  const int64_t now = 1'800'000'000;
  auto run = [&](std::optional<std::string> server, std::optional<int64_t> heartbeat_age_s) {
    RunRecord r;
    r.server_status = std::move(server);
    if (heartbeat_age_s) r.last_heartbeat_s = now - *heartbeat_age_s;
    return r;
  };
  const int64_t cutoff = client::kRunInactiveAfterS;
  // Completed on the server: completed, whatever the heartbeat.
  EXPECT_EQ(client::status_from_server(run("completed", std::nullopt), now), "completed");
  EXPECT_EQ(client::status_from_server(run("completed", 3600), now), "completed");
  // Failed or running on the server with a stale heartbeat: failed (not completed, and stale).
  EXPECT_EQ(client::status_from_server(run("failed", cutoff + 1), now), "failed");
  EXPECT_EQ(client::status_from_server(run("running", 3600), now), "failed");  // a retry of end, the runtime gone
  // Not stale, or no heartbeat at all: mfsql checks (the server's failed may be running here: no
  // heartbeat, or an end task that failed with a retry left).
  EXPECT_EQ(client::status_from_server(run("failed", cutoff), now), std::nullopt);
  EXPECT_EQ(client::status_from_server(run("failed", std::nullopt), now), std::nullopt);
  EXPECT_EQ(client::status_from_server(run("running", 10), now), std::nullopt);
  EXPECT_EQ(client::status_from_server(run(std::nullopt, 3600), now), std::nullopt);  // the listing had no status
  EXPECT_EQ(client::status_from_server(run("pending", 3600), now), std::nullopt);      // a status mfsql does not know
  // successful follows the server's completed both ways; unknown statuses say nothing.
  EXPECT_EQ(client::successful_from_server(run("completed", 10)), true);
  EXPECT_EQ(client::successful_from_server(run("failed", std::nullopt)), false);
  EXPECT_EQ(client::successful_from_server(run("running", 10)), false);
  EXPECT_EQ(client::successful_from_server(run(std::nullopt, 10)), std::nullopt);
  // The candidate sets: a failed or running run is failed or running on the server.
  using V = std::vector<std::string>;
  EXPECT_EQ(client::server_candidates({"completed"}), V{"completed"});
  EXPECT_EQ(client::server_candidates({"failed"}), (V{"failed", "running"}));
  EXPECT_EQ(client::server_candidates({"running"}), (V{"failed", "running"}));
  EXPECT_EQ(client::server_candidates({"running", "completed"}), (V{"completed", "failed", "running"}));
  EXPECT_EQ(client::server_candidates({"bogus"}), V{});
}

}  // namespace
}  // namespace mfsql::testing
