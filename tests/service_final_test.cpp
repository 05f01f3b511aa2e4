// Final answers of the metadata service are never asked twice on one connection (issue #16, part
// 3; extension/providers/service/final_answers.cpp): with both time-to-lives at 0, the second
// statement asks again for every live answer (runs, run records, step and task lists) and for
// none of the artifact and metadata listings of finished tasks of quiet runs (the recorded runs'
// heartbeats are months old). A failed or unfinished task's metadata stays live.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cache_env.hpp"
#include "support/service_fixture.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

class ServiceFinal : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    env_.set("MFSQL_SERVICE_CACHE_TTL_S", "0");  // every TTL has passed by the next statement
    env_.set("MFSQL_SERVICE_CACHE_TTL_RUNNING_S", "0");
  }
  struct Twice {
    std::set<std::string> cold, warm;
    Rows cold_rows, warm_rows;
  };
  // The question twice on one connection, after the TTLs passed; the requests of each.
  Twice ask_twice(const std::string& sql, const std::string& url) {
    TestDb db;
    create_tables(db, url);
    Twice t;
    t.cold_rows = run(db, sql).rows;
    t.cold = as_set(server_targets());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    t.warm_rows = run(db, sql).rows;
    t.warm = as_set(server_targets());
    if (getenv("MFSQL_TEST_VERBOSE")) {
      std::printf("%s\n", sql.c_str());
      for (auto& c : t.cold) std::printf("  cold %s%s\n", c.c_str(), t.warm.count(c) ? "  (asked again)" : "");
    }
    return t;
  }
  virtual std::vector<std::string> server_targets() { return server_->targets(); }
};

// The run record of a run: what a final candidate whose run's heartbeat is not known yet asks instead
// of itself, once (final_answers.cpp).
bool run_record(const std::string& target) {
  auto parts = std::count(target.begin(), target.end(), '/');
  return parts == 4 && target.find("/runs/") != std::string::npos && target.find('?') == std::string::npos;
}

TEST_F(ServiceFinal, FinalAnswersAreNotAskedAgainLiveOnesAre) {
  const char* const questions[] = {
      "SELECT task_id, successful, finished_at FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4'",
      "SELECT task_id, value FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
      "AND name = 'square'",
      "SELECT run_id, successful, finished_at, tags FROM s_runs WHERE flow = 'LinearFlow'",
      "SELECT task_id, attempt, successful FROM s_tasks WHERE flow = 'RetryFlow' AND run_id = '6'",
      "SELECT name, value FROM s_artifacts WHERE pathspec LIKE 'BranchFlow/3/join/13/%'",
      "SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
      "AND task_id = '18'",
  };
  for (const char* sql : questions) {
    Twice t = ask_twice(sql, server_->url());
    EXPECT_EQ(t.warm_rows, t.cold_rows) << sql;
    int final_cold = 0;
    for (auto& target : t.cold) {
      const bool final = final_kind(target.substr(4));
      final_cold += final;
      // Final ones are not asked again; every live one is (its TTL passed).
      EXPECT_EQ(t.warm.count(target), final ? 0u : 1u) << sql << ": " << target;
    }
    EXPECT_GT(final_cold, 0) << sql << ": the question reads no artifact or metadata listing";
    for (auto& target : t.warm)
      EXPECT_TRUE(t.cold.count(target) || run_record(target.substr(4))) << sql << ": new request " << target;
  }
}

// FailFlow/5 failed in `explode` (attempt_ok False): a failed attempt may be retried, so its
// metadata stays live, while the listing of its artifacts (a quiet run's) is final.
TEST_F(ServiceFinal, AFailedTasksMetadataIsAskedAgain) {
  Twice t = ask_twice("SELECT field_name, value FROM s_metadata WHERE flow = 'FailFlow' AND run_id = '5' "
                      "AND step = 'explode' AND task_id = '31'",
                      server_->url());
  EXPECT_EQ(t.warm_rows, t.cold_rows);
  const std::string failed_task = "GET /flows/FailFlow/runs/5/steps/explode/tasks/31/metadata";
  ASSERT_TRUE(t.cold.count(failed_task)) << "the question reads no metadata of task 31";
  EXPECT_TRUE(t.warm.count(failed_task)) << "the failed task's metadata was not asked again";
}

// A copy of the recording in which ForeachFlow/4's task 17 has not finished yet (its attempt_ok
// and attempt-done entries removed from every answer that holds them), and BranchFlow/3 is still
// running (its heartbeat now).
class ServiceUnfinished : public ServiceFinal {
 protected:
  static bool unfinished_entry(const nlohmann::json& r) {
    return r.is_object() && r.value("flow_id", "") == "ForeachFlow" && r.value("task_id", nlohmann::json()) == 17 &&
           (r.value("field_name", "") == "attempt_ok" || r.value("field_name", "") == "attempt-done");
  }
  static bool running(nlohmann::json& r) {  // sets BranchFlow/3's heartbeat to now
    if (!r.is_object() || r.value("flow_id", "") != "BranchFlow" || r.value("run_number", nlohmann::json()) != 3 ||
        !r.contains("last_heartbeat_ts") || !r.contains("system_tags"))
      return false;
    r["last_heartbeat_ts"] = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
    return true;
  }
  static void SetUpTestSuite() {
    ServiceTest::SetUpTestSuite();
    unfinished_dir_ = new TempDir;
    fs::copy(service_fixture() / "recorded", unfinished_dir_->path(), fs::copy_options::recursive);
    for (auto& entry : fs::directory_iterator(unfinished_dir_->path() / "responses")) {
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      auto doc = nlohmann::json::parse(text.str(), nullptr, false);
      bool edited = running(doc);
      if (doc.is_array()) {
        const size_t before = doc.size();
        doc.erase(std::remove_if(doc.begin(), doc.end(), unfinished_entry), doc.end());
        edited |= doc.size() != before;
        for (auto& row : doc) edited |= running(row);
      }
      if (edited) {
        std::ofstream(entry.path(), std::ios::trunc) << doc.dump();
        ++edited_;
      }
    }
    unfinished_ = new ReplayServer(unfinished_dir_->path());
  }
  static void TearDownTestSuite() {
    delete unfinished_;
    delete unfinished_dir_;
    ServiceTest::TearDownTestSuite();
  }
  void SetUp() override {
    ServiceFinal::SetUp();
    unfinished_->reset_counts();
  }
  std::vector<std::string> server_targets() override { return unfinished_->targets(); }
  static inline TempDir* unfinished_dir_ = nullptr;
  static inline ReplayServer* unfinished_ = nullptr;
  static inline int edited_ = 0;
};

TEST_F(ServiceUnfinished, AnUnfinishedTasksMetadataIsAskedAgain) {
  ASSERT_GT(edited_, 0) << "no recorded answer holds task 17's attempt entries";
  auto ask = [&](const std::string& sql) {
    TestDb db;
    create_tables(db, unfinished_->url());
    unfinished_->reset_counts();
    Rows cold = db.query(sql);
    auto cold_targets = as_set(unfinished_->targets());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    unfinished_->reset_counts();
    Rows warm = db.query(sql);
    EXPECT_EQ(warm, cold) << sql;
    return std::pair(cold_targets, as_set(unfinished_->targets()));
  };
  // Task 17 alone, then the whole step: the listing that holds task 17 is asked again; a finished
  // neighbour's own listing is not.
  auto [cold, warm] = ask("SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' "
                          "AND step = 'process' AND task_id = '17'");
  const std::string own = "GET /flows/ForeachFlow/runs/4/steps/process/tasks/17/metadata";
  const std::string run_wide = "GET /flows/ForeachFlow/runs/4/metadata";
  ASSERT_TRUE(cold.count(own) || cold.count(run_wide)) << "the question reads no metadata of task 17";
  EXPECT_TRUE(warm.count(own) || warm.count(run_wide)) << "the unfinished task's metadata was not asked again";

  auto [cold18, warm18] = ask("SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' "
                              "AND step = 'process' AND task_id = '18'");
  const std::string own18 = "GET /flows/ForeachFlow/runs/4/steps/process/tasks/18/metadata";
  ASSERT_TRUE(cold18.count(own18));
  EXPECT_EQ(warm18.count(own18), 0u) << "a finished task's metadata was asked again";
}

// A run still running (heartbeat now): its listings stay live, asked again once the TTL passed.
TEST_F(ServiceUnfinished, ARunningRunsListingsAreAskedAgain) {
  TestDb db;
  create_tables(db, unfinished_->url());
  const std::string sql = "SELECT name, value FROM s_artifacts WHERE pathspec LIKE 'BranchFlow/3/join/13/%'";
  Rows cold = db.query(sql);
  ASSERT_TRUE(as_set(unfinished_->targets()).count("GET /flows/BranchFlow/runs/3/artifacts"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  unfinished_->reset_counts();
  EXPECT_EQ(db.query(sql), cold);
  auto warm = as_set(unfinished_->targets());
  EXPECT_TRUE(warm.count("GET /flows/BranchFlow/runs/3")) << "the run's heartbeat was not asked";
  EXPECT_TRUE(warm.count("GET /flows/BranchFlow/runs/3/artifacts")) << "a running run's listing was kept";
}

// Across processes (persisted_answers.*): only final answers go to the cache file. A new process
// asks again for the running run's listing and the unfinished task's metadata, not for the
// finished neighbour's (the control).
TEST_F(ServiceUnfinished, ANewProcessAsksAgainWhatWasLive) {
  TempDir dir;
  CacheOn cache(dir.path());
  const char* const questions[] = {
      "SELECT name, value FROM s_artifacts WHERE pathspec LIKE 'BranchFlow/3/join/13/%'",
      "SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
      "AND task_id = '17'",
      "SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
      "AND task_id = '18'",
  };
  std::string script;
  for (const char* t : kTables)
    script += std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(service=" + quote(unfinished_->url()) +
              ", datastore=" + quote(store_->string()) + ");\n";
  {
    TestDb db;
    create_tables(db, unfinished_->url());
    for (const char* sql : questions) db.query(sql);
  }
  unfinished_->reset_counts();
  for (const char* sql : questions) script += std::string(sql) + ";\n";
  run_cli(dir.path(), script);
  auto again = as_set(unfinished_->targets());
  EXPECT_TRUE(again.count("GET /flows/BranchFlow/runs/3/artifacts")) << "a running run's listing was kept";
  EXPECT_TRUE(again.count("GET /flows/ForeachFlow/runs/4/steps/process/tasks/17/metadata"))
      << "an unfinished task's metadata was kept";
  EXPECT_FALSE(again.count("GET /flows/ForeachFlow/runs/4/steps/process/tasks/18/metadata"))
      << "a finished task's metadata was not kept";
}

}  // namespace
}  // namespace mfsql::testing
