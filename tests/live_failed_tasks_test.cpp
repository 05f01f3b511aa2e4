// The unsuccessful tasks of a step (`tasks.successful = 0`) on the real metadata service (the CTest
// fixture `live_service`), both sides of the rule in model/failed_tasks.hpp, at two sizes. Two
// flows of the same shape, one with 4x the tasks per step, written here through the service's REST
// API as Metaflow's client writes them (POST .../task, .../metadata, .../artifact), with the
// _graph_info of RetryCatchFlow (step `flaky`: @retry; step `risky`: @catch) and its _task_ok /
// _success blobs (True, False) copied into a datastore of their own:
//   flaky: n successful tasks, 2 failed on every attempt, 1 failed then succeeded on a retry,
//          1 killed (an `attempt` entry, no attempt_ok, no artifacts), 1 with no metadata at all;
//   risky: n successful tasks, 2 caught by @catch (attempt_ok True, _success False), 1 killed.
// Each answer equals the same question with the pushdown defeated (`+successful = 0`), and costs
// the same requests on both flows: on `flaky` the task list, the graph, the filter and one request
// per candidate (never the step's artifact listing); on `risky` (@catch: attempt_ok says nothing)
// every task is checked, from the step's listing kept for the outcome artifacts only.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
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
namespace fs = std::filesystem;

constexpr int kSmall = 6, kBig = 24;  // successful tasks per step
// RetryCatchFlow's blobs (../shared/fixtures/metaflow-local): its graph, True, False, its name.
const std::string kGraph = "3067da8f0f491db15cd7860c04d7aa233bc1726c";
const std::string kTrue = "868436778cb011a1c6230bc12534683ab0b7f1c3";
const std::string kFalse = "2473d4676d5b2aba674167293142f8031ada401b";
const std::string kName = "b15a105b64b9d7fc4268a73b4e14e5b983464be5";

// Writes one flow's run; returns its run number.
std::string load_flow(const std::string& url, const std::string& flow, int n) {
  const json user = {{"user_name", "tester"}, {"tags", json::array()}, {"system_tags", {"user:tester"}}};
  post_ok(url + "/flows/" + flow, json::object());
  const std::string run = std::to_string(post_ok(url + "/flows/" + flow + "/run", user).at("run_number").get<int64_t>());
  const std::string base = url + "/flows/" + flow + "/runs/" + run + "/steps/";
  auto task = [&](const std::string& step) {
    json body = user;
    body["run_number"] = run;
    body["step_name"] = step;
    return std::to_string(post_ok(base + step + "/task", body).at("task_id").get<int64_t>());
  };
  auto metadata = [&](const std::string& step, const std::string& id, const std::string& field, const std::string& value,
                      int attempt) {
    post_ok(base + step + "/tasks/" + id + "/metadata",
              json::array({{{"field_name", field}, {"value", value}, {"type", field == "attempt_ok" ? "internal_attempt_status" : field},
                            {"user_name", "tester"}, {"tags", {"attempt_id:" + std::to_string(attempt)}},
                            {"system_tags", json::array()}}}));
  };
  auto artifacts = [&](const std::string& step, const std::string& id, int attempt,
                       const std::vector<std::pair<std::string, std::string>>& named) {
    json rows = json::array();
    for (auto& [name, sha] : named)
      rows.push_back({{"name", name}, {"location", ":root:/nowhere/.metaflow"}, {"ds_type", "local"}, {"sha", sha},
                      {"type", "metaflow.artifact"}, {"content_type", "pickle-v4"}, {"attempt_id", attempt},
                      {"user_name", "tester"}, {"tags", json::array()}, {"system_tags", json::array()}});
    post_ok(base + step + "/tasks/" + id + "/artifact", rows);
  };
  // An attempt that ran to its end: attempt, its artifacts, attempt_ok (in task.py's order).
  auto attempt = [&](const std::string& step, const std::string& id, int k, bool task_ok, bool success) {
    metadata(step, id, "attempt", std::to_string(k), k);
    metadata(step, id, "attempt_ok", task_ok ? "True" : "False", k);
    artifacts(step, id, k, {{"_task_ok", task_ok ? kTrue : kFalse}, {"_success", success ? kTrue : kFalse}, {"name", kName}});
  };
  for (const char* step : {"_parameters", "flaky", "risky"}) {
    json body = user;
    body["run_number"] = run;
    body["step_name"] = step;
    post_ok(base + step + "/step", body);
  }
  artifacts("_parameters", task("_parameters"), 0, {{"_graph_info", kGraph}, {"name", kName}});
  for (int i = 0; i < n; ++i) attempt("flaky", task("flaky"), 0, true, true);
  for (int i = 0; i < 2; ++i) {
    const std::string id = task("flaky");
    for (int k = 0; k < 3; ++k) attempt("flaky", id, k, false, false);
  }
  const std::string retried = task("flaky");
  attempt("flaky", retried, 0, false, false);
  attempt("flaky", retried, 1, true, true);
  metadata("flaky", task("flaky"), "attempt", "0", 0);  // killed
  task("flaky");                                          // never started
  for (int i = 0; i < n; ++i) attempt("risky", task("risky"), 0, true, true);
  for (int i = 0; i < 2; ++i) attempt("risky", task("risky"), 0, true, false);  // caught
  metadata("risky", task("risky"), "attempt", "0", 0);                          // killed
  return run;
}

class LiveFailedTasks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    live_ = LiveService::find();
    if (!live_) return;
    datastore_ = new TempDir;
    for (const char* flow : {"FailedTasksSmallFlow", "FailedTasksBigFlow"}) {
      for (const std::string& sha : {kGraph, kTrue, kFalse, kName}) {
        const fs::path to = datastore_->path() / ".metaflow" / flow / "data" / sha.substr(0, 2);
        fs::create_directories(to);
        fs::copy_file(local_fixture() / ".metaflow" / "RetryCatchFlow" / "data" / sha.substr(0, 2) / sha, to / sha,
                      fs::copy_options::overwrite_existing);
      }
    }
    runs_["FailedTasksSmallFlow"] = load_flow(live_->url(), "FailedTasksSmallFlow", kSmall);
    runs_["FailedTasksBigFlow"] = load_flow(live_->url(), "FailedTasksBigFlow", kBig);
  }
  static void TearDownTestSuite() {
    delete datastore_;
    datastore_ = nullptr;
  }
  void SetUp() override {
    if (!live_) GTEST_SKIP() << "run through ctest (ctest -L live): its fixture starts the real service";
  }
  std::unique_ptr<TestDb> fresh() {
    auto db = std::make_unique<TestDb>();
    db->query("CREATE VIRTUAL TABLE temp.l_tasks USING tasks(service=" + quote(live_->url()) +
              ", datastore=" + quote(datastore_->path().string()) + ")");
    return db;
  }
  struct Cost {
    Rows rows;
    std::vector<std::string> targets;
  };
  Cost run(const std::string& sql) {
    auto db = fresh();
    Rows rows = db->query(sql);
    Cost c{std::move(rows), {}};
    for (auto& r : db->query("SELECT target FROM metaflow_trace WHERE kind = 'http' AND cache_hit = 0"))
      c.targets.push_back(r[0].value_or(""));
    return c;
  }
  static bool has(const Cost& c, const std::string& part) {
    for (auto& t : c.targets)
      if (t.find(part) != std::string::npos) return true;
    return false;
  }
  // The question on both flows: the answer of the defeated pushdown, `expected_rows` rows, and the
  // same requests on both.
  std::vector<Cost> both(const std::string& where, size_t expected_rows) {
    std::vector<Cost> out;
    for (const char* flow : {"FailedTasksSmallFlow", "FailedTasksBigFlow"}) {
      const std::string fixed = std::string(" FROM l_tasks WHERE flow = '") + flow + "' AND run_id = '" + runs_[flow] + "'" + where;
      Cost pushed = run("SELECT step, task_id" + fixed + " AND successful = 0 ORDER BY step, CAST(task_id AS INT)");
      Cost plain = run("SELECT step, task_id" + fixed + " AND +successful = 0 ORDER BY step, CAST(task_id AS INT)");
      EXPECT_EQ(pushed.rows, plain.rows) << flow << where;
      EXPECT_EQ(pushed.rows.size(), expected_rows) << flow << where;
      std::printf("[cost] %-22s %-40s %zu requests (pushdown defeated: %zu)\n", flow, where.c_str(), pushed.targets.size(),
                  plain.targets.size());
      out.push_back(std::move(pushed));
    }
    EXPECT_EQ(out[0].targets.size(), out[1].targets.size()) << where << ": the cost grew with the step";
    return out;
  }

  static inline const LiveService* live_ = nullptr;
  static inline TempDir* datastore_ = nullptr;
  static inline std::map<std::string, std::string> runs_;
};

TEST_F(LiveFailedTasks, WithoutCatchTheCandidatesAreTheTasksAttemptOkDoesNotCallSuccessful) {
  // 2 failed, the killed one and the one never started; not the one a retry saved.
  for (const Cost& c : both(" AND step = 'flaky'", 4)) {
    EXPECT_TRUE(has(c, "/steps/flaky/filtered_tasks?metadata_field_name=attempt_ok&pattern=True"));
    EXPECT_FALSE(has(c, "/steps/flaky/artifacts"));
    EXPECT_EQ(c.targets.size(), 3u + 4u) << ::testing::PrintToString(c.targets);  // tasks, graph, filter, 4 candidates
  }
}

TEST_F(LiveFailedTasks, WithCatchEveryTaskIsChecked) {
  // The 2 caught tasks (attempt_ok True) and the killed one.
  for (const Cost& c : both(" AND step = 'risky'", 3)) {
    EXPECT_FALSE(has(c, "filtered_tasks"));
    EXPECT_TRUE(has(c, "/steps/risky/artifacts"));
    EXPECT_EQ(c.targets.size(), 3u) << ::testing::PrintToString(c.targets);  // tasks, graph, the step's listing
  }
}

TEST_F(LiveFailedTasks, AWholeRunNarrowsStepByStep) {
  for (const Cost& c : both("", 7)) {
    EXPECT_TRUE(has(c, "/steps/flaky/filtered_tasks"));
    EXPECT_FALSE(has(c, "/steps/flaky/artifacts"));
    for (auto& t : c.targets)  // no run-wide listing of every task's artifacts
      EXPECT_FALSE(t.size() >= 10 && t.compare(t.size() - 10, 10, "/artifacts") == 0 && t.find("/steps/") == std::string::npos) << t;
  }
}

}  // namespace
}  // namespace mfsql::testing
