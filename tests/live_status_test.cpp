// Run status questions sent to the real metadata service (the CTest fixture `live_service`): which
// of the server's statuses stand for mfsql's (client::status_from_server) and the statuses a
// statement keeps sent as the server's candidate sets (client::server_candidates), both sides of
// the rule. Two flows whose graph (the recorded FailFlow's: start, explode, end without @catch)
// lets the server's `completed` stand, written through the REST API as Metaflow's client writes
// them; the big one has 4x the completed runs and the stale failed runs of the small one, and
// both have the same runs mfsql must check by its own rule: a run without a heartbeat (`failed`
// on the server, running here), a fresh one whose task failed with no retry left (failed) and a
// fresh one still going (running; the fixture's server calls it failed after 1 s). Each question
// costs the same requests on both flows and answers what it answers with the pushdown defeated
// (`+status`: an expression, which SQLite never hands a table: every run checked by mfsql's rule).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/live_service.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
using nlohmann::json;

// Blobs of the recorded FailFlow (its datastore is copied under each test flow).
constexpr const char* kGraph = "711c96f956ef7b765b3ea652c5e414b8c353d27a";  // FailFlow's _graph_info
constexpr const char* kTrue = "868436778cb011a1c6230bc12534683ab0b7f1c3";
constexpr const char* kFalse = "2473d4676d5b2aba674167293142f8031ada401b";

enum class Kind { kCompleted, kStaleFailed, kNoHeartbeat, kFreshFailed, kFreshRunning };

class RunWriter {
 public:
  RunWriter(std::string url, std::string flow) : url_(std::move(url)), flow_(std::move(flow)) {}

  // One run: its _parameters task (the graph), then the task its kind is about. Returns its number.
  std::string write(Kind kind) {
    // The service fills the heartbeat at creation for a client that sends heartbeats (its version tag).
    json system_tags = {"user:alice"};
    if (kind != Kind::kNoHeartbeat) system_tags.push_back("metaflow_version:2.19.38");
    const std::string run = std::to_string(
        post_ok(url_ + "/flows/" + flow_ + "/run", {{"user_name", "alice"}, {"tags", json::array()}, {"system_tags", system_tags}})
            .at("run_number")
            .get<int64_t>());
    const std::string params = task(run, "_parameters");
    metadata(run, "_parameters", params, {{"end_step", "end"}, {"start_step", "start"}});
    artifacts(run, "_parameters", params, {{"_graph_info", kGraph}, {"_task_ok", kTrue}, {"_success", kTrue}});
    const bool ok = kind == Kind::kCompleted || kind == Kind::kNoHeartbeat || kind == Kind::kFreshRunning;
    const std::string step = kind == Kind::kCompleted ? "end" : ok ? "start" : "explode";
    const std::string t = task(run, step);
    metadata(run, step, t, {{"attempt", "0"}, {"attempt_ok", ok ? "True" : "False"}});
    artifacts(run, step, t, {{"_task_ok", ok ? kTrue : kFalse}, {"_success", ok ? kTrue : kFalse}});
    return run;
  }

 private:
  std::string base(const std::string& run, const std::string& step) const {
    return url_ + "/flows/" + flow_ + "/runs/" + run + "/steps/" + step;
  }
  std::string task(const std::string& run, const std::string& step) {
    const json who = {{"user_name", "alice"}, {"tags", json::array()}, {"system_tags", json::array()}};
    post_ok(base(run, step) + "/step", who);
    return std::to_string(post_ok(base(run, step) + "/task", who).at("task_id").get<int64_t>());
  }
  void metadata(const std::string& run, const std::string& step, const std::string& task,
                const std::vector<std::pair<std::string, std::string>>& fields) {
    json rows = json::array();
    for (auto& [name, value] : fields)
      rows.push_back({{"field_name", name}, {"value", value}, {"type", name}, {"user_name", "alice"},
                      {"tags", {"attempt_id:0"}}, {"system_tags", json::array()}});
    post_ok(base(run, step) + "/tasks/" + task + "/metadata", rows);
  }
  void artifacts(const std::string& run, const std::string& step, const std::string& task,
                 const std::vector<std::pair<std::string, std::string>>& named) {
    json rows = json::array();
    for (auto& [name, sha] : named)
      rows.push_back({{"name", name}, {"location", ":root:/nowhere/.metaflow"}, {"ds_type", "local"}, {"sha", sha},
                      {"type", "metaflow.artifact"}, {"content_type", "pickle-v4"}, {"attempt_id", 0},
                      {"user_name", "alice"}, {"tags", json::array()}, {"system_tags", json::array()}});
    post_ok(base(run, step) + "/tasks/" + task + "/artifact", rows);
  }
  std::string url_, flow_;
};

// A stale heartbeat (an hour old) for `runs`, in the fixture's own PostgreSQL: the API only ever
// stamps the current time.
void make_stale(const LiveService& live, const std::string& flow, const std::vector<std::string>& runs) {
  std::string list;
  for (auto& r : runs) list += (list.empty() ? "" : ",") + r;
  const std::string sql = "UPDATE runs_v3 SET last_heartbeat_ts = last_heartbeat_ts - 3600 WHERE flow_id = '" + flow +
                          "' AND run_number IN (" + list + ")";
  const std::string cmd = "PGPASSWORD=postgres \"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql\" -h 127.0.0.1 -p " +
                          std::to_string(live.pg_port()) + " -U postgres -d metaflow -qtA -c \"" + sql + "\" >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

constexpr int kSmall = 1, kBig = 4;  // x (4 completed, 2 stale failed)

class LiveRunStatus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    live_ = LiveService::find();
    if (!live_) return;
    tmp_ = new TempDir;
    for (auto [flow, times] : {std::pair{"StatusSmallFlow", kSmall}, std::pair{"StatusBigFlow", kBig}}) {
      std::filesystem::create_directories(tmp_->path() / ".metaflow" / flow);
      std::filesystem::copy(service_fixture() / "datastore" / ".metaflow" / "FailFlow" / "data",
                            tmp_->path() / ".metaflow" / flow / "data", std::filesystem::copy_options::recursive);
      if (http_get(live_->url() + "/flows/" + flow).status == 200) continue;  // written by an earlier test process
      post_ok(live_->url() + "/flows/" + flow, {{"user_name", "alice"}, {"tags", json::array()}, {"system_tags", json::array()}});
      RunWriter w(live_->url(), flow);
      std::vector<std::string> stale;
      for (int i = 0; i < 2 * times; ++i) stale.push_back(w.write(Kind::kStaleFailed));
      for (Kind k : {Kind::kNoHeartbeat, Kind::kFreshFailed, Kind::kFreshRunning}) w.write(k);
      for (int i = 0; i < 4 * times; ++i) w.write(Kind::kCompleted);  // the newest run is completed
      make_stale(*live_, flow, stale);
    }
  }
  static void TearDownTestSuite() { delete tmp_; }
  void SetUp() override {
    if (!live_) GTEST_SKIP() << "run through ctest (ctest -L live): its fixture starts the real service";
  }

  struct Cost {
    Rows rows;
    std::vector<std::string> targets;
  };
  static Cost run(const std::string& sql, const std::filesystem::path* datastore = nullptr) {
    TestDb db;  // a new connection: nothing cached, the rule not known yet
    db.query("CREATE VIRTUAL TABLE temp.l_runs USING runs(service=" + quote(live_->url()) +
             ", datastore=" + quote((datastore ? *datastore : tmp_->path()).string()) + ")");
    Cost c{db.query(sql), {}};
    for (auto& r : db.query("SELECT target FROM metaflow_trace WHERE kind = 'http' AND cache_hit = 0"))
      c.targets.push_back(r[0].value_or(""));
    return c;
  }
  // On both flows: the same requests, and the answer of `checked` (the pushdown defeated).
  static std::vector<Cost> same_cost_same_answer(const std::string& sql, const std::string& checked) {
    std::vector<Cost> out;
    for (const char* flow : {"StatusSmallFlow", "StatusBigFlow"}) {
      auto fill = [&](std::string s) {
        for (size_t at; (at = s.find("$F")) != std::string::npos;) s.replace(at, 2, quote(flow));
        return s;
      };
      Cost pushed = run(fill(sql));
      EXPECT_EQ(pushed.rows, run(fill(checked)).rows) << fill(sql);
      std::printf("[cost] %-100s %zu requests\n", fill(sql).c_str(), pushed.targets.size());
      out.push_back(std::move(pushed));
    }
    EXPECT_EQ(out[0].targets.size(), out[1].targets.size())
        << sql << ": the cost grew with the history\n" << ::testing::PrintToString(out[1].targets);
    return out;
  }
  static bool asked(const Cost& c, const std::string& part) {
    for (auto& t : c.targets)
      if (t.find(part) != std::string::npos) return true;
    return false;
  }

  static inline const LiveService* live_ = nullptr;
  static inline TempDir* tmp_ = nullptr;
};

const std::string kRuns = "SELECT run_id, status FROM l_runs WHERE flow = $F";
const std::string kOrder = " ORDER BY CAST(run_id AS INT)";

TEST_F(LiveRunStatus, FailedRunsAreTheServersFailedOrRunningOnes) {
  auto costs = same_cost_same_answer(kRuns + " AND status = 'failed'" + kOrder, kRuns + " AND +status = 'failed'" + kOrder);
  // The stale ones and the fresh one whose task failed for good; not the one without a heartbeat.
  EXPECT_EQ(costs[0].rows.size(), 2u * kSmall + 1);
  EXPECT_EQ(costs[1].rows.size(), 2u * kBig + 1);
  // The whole listing fits its first page, asked with every status: that names the newest run,
  // whose graph the rule reads, and the completed runs in it stand without a read.
  for (auto& c : costs) {
    EXPECT_TRUE(asked(c, "status:eq=completed,failed,running&_limit=500")) << ::testing::PrintToString(c.targets);
    EXPECT_FALSE(asked(c, "status:eq=failed,running&")) << ::testing::PrintToString(c.targets);
  }
  // A LIMIT: the first page (every status) holds only completed runs; once the rule is known the
  // rest is asked for as candidates, from that page's oldest time down.
  auto limited = same_cost_same_answer(kRuns + " AND status = 'failed' ORDER BY created_at DESC LIMIT 3",
                                       kRuns + " AND +status = 'failed' ORDER BY created_at DESC, CAST(run_id AS INT) DESC LIMIT 3");
  for (auto& c : limited) {
    EXPECT_EQ(c.rows.size(), 3u);
    EXPECT_TRUE(asked(c, "status:eq=completed,failed,running&_limit=3")) << ::testing::PrintToString(c.targets);
    EXPECT_TRUE(asked(c, "status:eq=failed,running&")) << ::testing::PrintToString(c.targets);
  }
}

TEST_F(LiveRunStatus, RunningRunsHaveNoStaleHeartbeat) {
  auto costs =
      same_cost_same_answer(kRuns + " AND status = 'running'" + kOrder, kRuns + " AND +status = 'running'" + kOrder);
  EXPECT_EQ(costs[0].rows.size(), 2u);  // no heartbeat (failed on the server), and the fresh one
  for (auto& c : costs) EXPECT_TRUE(asked(c, "last_heartbeat_ts:ge=null,")) << ::testing::PrintToString(c.targets);
}

TEST_F(LiveRunStatus, InListsAndOtherFormsOfTheSameQuestion) {
  same_cost_same_answer(kRuns + " AND status IN ('failed', 'running')" + kOrder,
                        kRuns + " AND +status IN ('failed', 'running')" + kOrder);
  same_cost_same_answer(kRuns + " AND status <> 'completed'" + kOrder, kRuns + " AND +status <> 'completed'" + kOrder);
  same_cost_same_answer("SELECT run_id FROM l_runs WHERE flow = $F AND successful = 0" + kOrder,
                        "SELECT run_id FROM l_runs WHERE flow = $F AND +successful = 0" + kOrder);
  auto completed = same_cost_same_answer(kRuns + " AND status = 'completed'" + kOrder,
                                         kRuns + " AND +status = 'completed'" + kOrder);
  EXPECT_EQ(completed[1].rows.size(), 4u * kBig);
}

// Every run with its status and successful: the completed and the stale failed ones from the
// listing alone, only the three others checked (reading `finished` too checks every run).
TEST_F(LiveRunStatus, StatusOfEveryRunChecksOnlyWhatCannotStand) {
  const std::string sql = "SELECT run_id, status, successful FROM l_runs WHERE flow = $F" + kOrder;
  const std::string checked =
      "SELECT run_id, status, successful FROM l_runs WHERE flow = $F AND (finished IS NULL OR finished IS NOT NULL)" + kOrder;
  auto costs = same_cost_same_answer(sql, checked);
  EXPECT_EQ(costs[1].rows.size(), 6u * kBig + 3);
}

// The graph's blob missing from the datastore (a copied store, a cleaned-up bucket): no graph, so
// the rule does not hold; nothing is narrowed and every run is checked by mfsql's own rule.
TEST_F(LiveRunStatus, AMissingGraphBlobMeansEveryRunIsChecked) {
  TempDir bare;
  std::filesystem::copy(tmp_->path(), bare.path(), std::filesystem::copy_options::recursive);
  size_t removed = 0;
  for (const char* flow : {"StatusSmallFlow", "StatusBigFlow"})
    removed += std::filesystem::remove(bare.path() / ".metaflow" / flow / "data" / std::string(kGraph).substr(0, 2) / kGraph);
  ASSERT_EQ(removed, 2u);
  for (const char* where : {" AND status = 'failed'", " AND status = 'completed'", ""}) {
    const std::string sql = "SELECT run_id, status, successful FROM l_runs WHERE flow = 'StatusBigFlow'" + std::string(where);
    Cost c = run(sql + kOrder, &bare.path());
    EXPECT_EQ(c.rows, run(sql + " AND (finished IS NULL OR finished IS NOT NULL)" + kOrder).rows) << sql;
    EXPECT_FALSE(asked(c, "status:eq=failed,running&")) << sql;
    EXPECT_FALSE(asked(c, "status:eq=completed&")) << sql;
    EXPECT_GT(c.targets.size(), 6u * kBig) << sql;  // every run checked
  }
}

}  // namespace
}  // namespace mfsql::testing
