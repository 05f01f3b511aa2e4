// Walks the whole of the local fixture's oracle.json — what Metaflow's own client reports — and
// compares every flows/runs/steps/tasks field it holds with what mfsql returns.
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

// The oracle's naive-UTC isoformat ("2026-11-27T00:09:29.165000") in the column form
// ("2026-11-27 00:09:29.165"): the same instant, cut to milliseconds.
std::optional<std::string> as_column_time(const json& v) {
  if (v.is_null()) return std::nullopt;
  std::string s = v.get<std::string>();
  return s.substr(0, 10) + " " + s.substr(11, 12);
}
std::optional<std::string> as_bool(const json& v) {
  if (v.is_null()) return std::nullopt;
  return std::string(v.get<bool>() ? "1" : "0");
}
std::optional<std::string> as_text(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.is_string() ? v.get<std::string>() : v.dump();
}
json parse_or_null(const Cell& c) { return c ? json::parse(*c) : json(); }

class OracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = json::parse(read_file(local_fixture() / "oracle.json"));
    std::string root = quote(local_fixture().string());
    for (auto t : {"flows", "runs", "steps", "tasks"})
      db_.query(std::string("CREATE VIRTUAL TABLE temp.o_") + t + " USING " + t + "(root=" + root + ")");
  }

  // Records one comparison; the note reports how many fields were compared.
  template <typename A, typename B>
  void same(const A& expected, const B& actual, const std::string& what) {
    ++compared_;
    EXPECT_EQ(expected, actual) << what;
  }

  TestDb db_;
  json oracle_;
  int compared_ = 0;
};

TEST_F(OracleTest, EveryFlowRunStepAndTaskFieldMatchesTheClient) {
  for (auto& flow : oracle_["flows"]) {
    const std::string name = flow["name"];
    auto f = db_.query("SELECT created_at, latest_run, latest_successful_run FROM o_flows WHERE flow = " + quote(name));
    ASSERT_EQ(f.size(), 1u) << name;
    same(as_column_time(flow["created_at"]), f[0][0], name + " created_at");
    same(as_text(flow["latest_run"]), f[0][1], name + " latest_run");
    same(as_text(flow["latest_successful_run"]), f[0][2], name + " latest_successful_run");

    auto run_ids = db_.query("SELECT run_id FROM o_runs WHERE flow = " + quote(name));
    ASSERT_EQ(run_ids.size(), flow["runs"].size()) << name;
    for (size_t i = 0; i < run_ids.size(); ++i) same(as_text(flow["runs"][i]["id"]), run_ids[i][0], name + " run order");

    for (auto& run : flow["runs"]) {
      const std::string run_id = run["id"], ps = run["pathspec"];
      auto r = db_.query(
          "SELECT created_at, finished, successful, finished_at, user_tags, system_tags, origin_run_id, end_task, "
          "pathspec FROM o_runs WHERE flow = " + quote(name) + " AND run_id = " + quote(run_id));
      ASSERT_EQ(r.size(), 1u) << ps;
      same(as_column_time(run["created_at"]), r[0][0], ps + " created_at");
      same(as_bool(run["finished"]), r[0][1], ps + " finished");
      same(as_bool(run["successful"]), r[0][2], ps + " successful");
      same(as_column_time(run["finished_at"]), r[0][3], ps + " finished_at");
      same(run["user_tags"], parse_or_null(r[0][4]), ps + " user_tags");
      same(run["system_tags"], parse_or_null(r[0][5]), ps + " system_tags");
      std::optional<std::string> origin;
      if (run["origin_pathspec"].is_string()) {
        std::string o = run["origin_pathspec"].get<std::string>().substr(name.size() + 1);
        if (o != "None") origin = o;
      }
      same(origin, r[0][6], ps + " origin_run_id");
      const json& end = run["graph_end_task"];
      same(end.is_null() ? std::nullopt : as_text(end["pathspec"]), r[0][7], ps + " end_task");
      same(as_text(run["pathspec"]), r[0][8], ps + " pathspec");

      auto steps = db_.query("SELECT step, created_at, finished_at, task_count FROM o_steps WHERE flow = " +
                             quote(name) + " AND run_id = " + quote(run_id));
      ASSERT_EQ(steps.size(), run["steps"].size()) << ps;
      std::map<std::string, std::vector<Cell>> by_step;
      for (auto& s : steps) by_step[*s[0]] = s;
      for (auto& step : run["steps"]) {
        const std::string sp = step["pathspec"];
        const std::string step_name = sp.substr(sp.rfind('/') + 1);
        ASSERT_TRUE(by_step.count(step_name)) << sp;
        auto& s = by_step[step_name];
        same(as_column_time(step["created_at"]), s[1], sp + " created_at");
        same(as_column_time(step["finished_at"]), s[2], sp + " finished_at");
        same(std::optional<std::string>(std::to_string(step["tasks"].size())), s[3], sp + " task_count");

        for (auto& task : step["tasks"]) {
          const std::string tp = task["pathspec"];
          auto t = db_.query(
              "SELECT task_id, attempt, created_at, finished, successful, finished_at, origin_pathspec, user_tags, "
              "system_tags, foreach_index, metadata, exception FROM o_tasks WHERE pathspec = " + quote(tp));
          ASSERT_EQ(t.size(), 1u) << tp;
          auto& row = t[0];
          same(as_text(task["id"]), row[0], tp + " id");
          same(as_text(task["attempt"]), row[1], tp + " attempt");
          same(as_column_time(task["created_at"]), row[2], tp + " created_at");
          same(as_bool(task["finished"]), row[3], tp + " finished");
          same(as_bool(task["successful"]), row[4], tp + " successful");
          same(as_column_time(task["finished_at"]), row[5], tp + " finished_at");
          same(as_text(task["origin_pathspec"]), row[6], tp + " origin_pathspec");
          same(task["user_tags"], parse_or_null(row[7]), tp + " user_tags");
          same(task["system_tags"], parse_or_null(row[8]), tp + " system_tags");
          same(as_text(task["index"]), row[9], tp + " foreach_index");
          json exception = parse_or_null(row[11]);
          same(task["exception"].is_null(), exception.is_null(), tp + " exception present");
          if (!exception.is_null()) {
            same(task["exception"].get<std::string>(), exception["stacktrace"].get<std::string>(), tp + " exception");
          }
        }
      }
    }
  }
  std::cout << "[oracle] compared " << compared_ << " flows/runs/steps/tasks fields with Metaflow's client\n";
  EXPECT_GE(compared_, 3000);
}

// The fixture README tells each run's fate: successful runs completed; the run killed mid-run
// (tag killed:mid-run) cannot be told from a running one locally; every other run failed for good
// (an exception without retries, retries exhausted, a failed end step).
TEST_F(OracleTest, RunStatusFollowsTheFixturesKnownOutcomes) {
  int checked = 0;
  for (auto& flow : oracle_["flows"])
    for (auto& run : flow["runs"]) {
      std::string expected = run["successful"].get<bool>() ? "completed" : "failed";
      for (auto& tag : run["user_tags"])
        if (tag == "killed:mid-run") expected = "running";
      auto status = db_.scalar("SELECT status FROM o_runs WHERE pathspec = " + quote(run["pathspec"]));
      EXPECT_EQ(status, Cell(expected)) << run["pathspec"];
      ++checked;
    }
  EXPECT_EQ(checked, 15);
}

// Private steps (`_parameters`) appear only with the `private = 1` argument, whatever the plan:
// a lookup, an OR (which SQLite cannot hand to the table), IN, GLOB and a join agree.
TEST_F(OracleTest, PrivateStepsAppearOnlyWithThePrivateArgument) {
  auto run = oracle_["flows"][0]["runs"][0];
  std::string where = "flow = 'BranchForeachFlow' AND run_id = " + quote(run["id"]);
  auto count = [&](const std::string& sql) { return *db_.scalar(sql); };
  EXPECT_EQ(count("SELECT count(*) FROM o_steps WHERE " + where + " AND step LIKE '\\_%' ESCAPE '\\'"), "0");
  EXPECT_EQ(count("SELECT count(*) FROM o_steps WHERE " + where + " AND step = '_parameters'"), "0");
  EXPECT_EQ(count("SELECT count(*) FROM o_steps WHERE " + where + " AND step = '_parameters' AND private = 1"), "1");
  EXPECT_EQ(count("SELECT count(*) FROM o_steps(1) WHERE " + where + " AND step = '_parameters'"), "1");
  EXPECT_EQ(count("SELECT count(*) FROM o_tasks WHERE " + where + " AND step = '_parameters' AND private = 1"), "1");
  const std::string with_private = count("SELECT count(*) FROM o_steps WHERE " + where + " AND private = 1");
  const std::string without = count("SELECT count(*) FROM o_steps WHERE " + where);
  EXPECT_EQ(std::stoi(with_private), std::stoi(without) + 1);
  for (const std::string& term : {"(step = '_parameters' OR step LIKE 'e%')", "step IN ('_parameters', 'end')",
                                  "step GLOB '_*'", "+step = '_parameters'"}) {
    SCOPED_TRACE(term);
    const int hidden = std::stoi(count("SELECT count(*) FROM o_steps WHERE " + where + " AND " + term));
    const int shown = std::stoi(count("SELECT count(*) FROM o_steps WHERE " + where + " AND private = 1 AND " + term));
    EXPECT_EQ(std::stoi(count("SELECT count(*) FROM o_steps WHERE " + where + " AND " + term + " AND step = '_parameters'")), 0);
    EXPECT_EQ(shown, hidden + 1);
  }
  EXPECT_EQ(count("SELECT count(*) FROM o_runs r JOIN o_steps s ON s.flow = r.flow AND s.run_id = r.run_id AND "
                  "s.private = 1 WHERE r." + where.substr(0, where.find(" AND")) + " AND r.run_id = " + quote(run["id"]) +
                  " AND s.step = '_parameters'"),
            "1");
  EXPECT_NE(db_.error_of("SELECT * FROM o_steps WHERE " + where + " AND private > 0").find("private is an argument"),
            std::string::npos);
  EXPECT_NE(db_.error_of("SELECT * FROM o_steps WHERE " + where + " AND private = 2").find("0 or 1"), std::string::npos);
}

}  // namespace
}  // namespace mfsql::testing
