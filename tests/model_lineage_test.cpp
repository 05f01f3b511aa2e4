// Lineage against what Metaflow's own client reports (oracle-model.json of metaflow-local and
// metaflow-code): steps.parent_steps / child_steps / control_task, tasks.parent_task_pathspecs /
// child_task_pathspecs (NULL where the client raised: the oracle's *_error fields), and the
// task_edges table agreeing with both lists.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "storegen/storegen.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

std::string last_part(const std::string& pathspec) { return pathspec.substr(pathspec.rfind('/') + 1); }

// The oracle's value of `field` as mfsql shows it: NULL where the client raised, else the sorted
// list (`names`: the step pathspecs the client yields, as step names).
json expected_list(const json& object, const std::string& field, bool names) {
  if (object.contains(field + "_error")) return json();
  json out = json::array();
  for (const auto& v : object.at(field)) out.push_back(names ? last_part(v.get<std::string>()) : v.get<std::string>());
  std::vector<std::string> sorted = out.get<std::vector<std::string>>();
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

json cell_json(const Cell& c) { return c ? json::parse(*c) : json(); }

struct Tally {
  int compared = 0, matched = 0;
  void check(const json& expected, const json& actual, const std::string& what) {
    ++compared;
    if (expected == actual) ++matched;
    else ADD_FAILURE() << what << ": expected " << expected.dump() << ", mfsql gives " << actual.dump();
  }
};

class ModelLineageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    fixture_ = shared_dir() / "fixtures" / GetParam();
    oracle_ = json::parse(read_file(fixture_ / "oracle-model.json"));
    const std::string root = quote(fixture_.string());
    for (auto t : {"steps", "tasks", "task_edges", "artifacts"})
      db_.query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(root=" + root + ")");
  }
  std::filesystem::path fixture_;
  json oracle_;
  TestDb db_;
};

TEST_P(ModelLineageTest, EveryLineageFieldEqualsTheClients) {
  std::map<std::string, std::vector<Cell>> steps, tasks;
  for (auto& r : db_.query("SELECT pathspec, parent_steps, child_steps, control_task FROM l_steps")) steps[*r[0]] = r;
  for (auto& r : db_.query("SELECT pathspec, parent_task_pathspecs, child_task_pathspecs FROM l_tasks")) tasks[*r[0]] = r;
  Tally tally;
  for (const auto& flow : oracle_.at("flows"))
    for (const auto& run : flow.at("runs"))
      for (const auto& step : run.at("steps")) {
        const std::string ps = step.at("pathspec");
        ASSERT_TRUE(steps.count(ps)) << ps << " is not in steps";
        const auto& s = steps[ps];
        tally.check(expected_list(step, "parent_steps", true), cell_json(s[1]), ps + " parent_steps");
        tally.check(expected_list(step, "child_steps", true), cell_json(s[2]), ps + " child_steps");
        tally.check(step.at("control_task"), s[3] ? json(*s[3]) : json(), ps + " control_task");
        for (const auto& task : step.at("tasks")) {
          const std::string tp = task.at("pathspec");
          ASSERT_TRUE(tasks.count(tp)) << tp << " is not in tasks";
          const auto& t = tasks[tp];
          tally.check(expected_list(task, "parent_task_pathspecs", false), cell_json(t[1]), tp + " parents");
          tally.check(expected_list(task, "child_task_pathspecs", false), cell_json(t[2]), tp + " children");
        }
      }
  std::cout << "[model_lineage] " << GetParam() << ": compared " << tally.compared << " fields, matched "
            << tally.matched << "\n";
  EXPECT_GT(tally.compared, 0);
  EXPECT_EQ(tally.compared, tally.matched);
}

// Every edge is named by the parent's child list or the child's parent list, and every name in
// those lists is an edge; lookups by either pathspec give the same edges as the scan.
TEST_P(ModelLineageTest, TaskEdgesAreTheUnionOfBothLists) {
  std::set<std::pair<std::string, std::string>> from_lists, edges;
  for (auto& r : db_.query("SELECT pathspec, parent_task_pathspecs, child_task_pathspecs FROM l_tasks")) {
    for (const auto& p : cell_json(r[1])) from_lists.emplace(p.get<std::string>(), *r[0]);
    for (const auto& c : cell_json(r[2])) from_lists.emplace(*r[0], c.get<std::string>());
  }
  for (auto& r : db_.query("SELECT parent_pathspec, child_pathspec, flow || '/' || run_id || '/' || parent_step || '/' || "
                           "parent_task_id, flow || '/' || run_id || '/' || child_step || '/' || child_task_id FROM l_task_edges")) {
    edges.emplace(*r[0], *r[1]);
    EXPECT_EQ(*r[0], *r[2]);
    EXPECT_EQ(*r[1], *r[3]);
  }
  EXPECT_FALSE(edges.empty());
  EXPECT_EQ(edges, from_lists);
  int checked = 0;
  for (const auto& [parent, child] : edges) {
    if (++checked % 7) continue;  // a sample of point lookups
    auto by_child = db_.query("SELECT parent_pathspec FROM l_task_edges WHERE child_pathspec = " + quote(child));
    std::set<std::string> parents;
    for (auto& r : by_child) parents.insert(*r[0]);
    EXPECT_TRUE(parents.count(parent)) << child;
    for (const auto& p : parents) EXPECT_TRUE(edges.count({p, child})) << p << " -> " << child;
    EXPECT_EQ(*db_.scalar("SELECT count(*) FROM l_task_edges WHERE parent_pathspec = " + quote(parent) +
                          " AND child_pathspec = " + quote(child)), "1");
  }
}

// steps.type is the node type the run's _graph_info records for the step (read here through the
// artifacts table's own decoding of the newest task's _graph_info).
TEST_P(ModelLineageTest, StepTypeIsTheGraphsNodeType) {
  auto rows = db_.query(
      "SELECT s.pathspec, s.type, json_extract(a.value, '$.steps.' || s.step || '.type') FROM l_steps s "
      "JOIN l_tasks t ON t.flow = s.flow AND t.run_id = s.run_id AND t.step = s.step "
      "JOIN l_artifacts(1) a ON a.flow = t.flow AND a.run_id = t.run_id AND a.step = t.step AND a.task_id = t.task_id "
      "AND a.name = '_graph_info' "
      "WHERE t.created_at = (SELECT max(created_at) FROM l_tasks t2 WHERE t2.flow = s.flow AND t2.run_id = s.run_id AND t2.step = s.step)");
  ASSERT_FALSE(rows.empty());
  for (auto& r : rows) {
    ASSERT_TRUE(r[2]) << *r[0];
    EXPECT_EQ(r[1], r[2]) << *r[0];
  }
}

// A step that loops back to itself through a switch (no fixture of Metaflow's has one; storegen
// writes it as the runtime would). What the client gives, read from core.py (Metaflow cannot run
// here): `loop` has two previous steps (start and itself) and two next ones (itself and end), so
// its tasks take the "static join/split" rule: pattern = path or ".*", and outside any foreach
// that is ".*": every start and loop task (itself included) are its parents, every loop and end
// task its children; start's only child step is loop (".*": all loop tasks), end's only parent
// step is loop (all loop tasks).
TEST(ModelLineageRecursive, ALoopingStepFollowsTheClientsRules) {
  TempDir dir;
  storegen::GenerateOptions options;
  options.out_dir = dir.path();
  options.recursive_iterations = 4;
  storegen::generate_store(options);
  TestDb db;
  for (auto t : {"steps", "tasks", "task_edges"})
    db.query(std::string("CREATE VIRTUAL TABLE temp.r_") + t + " USING " + t + "(root=" + quote(dir.path().string()) + ")");
  auto tasks_of = [&](const std::string& step) {
    std::vector<std::string> out;
    for (auto& r : db.query("SELECT pathspec FROM r_tasks WHERE flow = 'BenchRecursiveFlow' AND step = " + quote(step)))
      out.push_back(*r[0]);
    std::sort(out.begin(), out.end());
    return out;
  };
  auto joined = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    std::sort(a.begin(), a.end());
    return a;
  };
  const auto start = tasks_of("start"), loop = tasks_of("loop"), end = tasks_of("end");
  ASSERT_EQ(loop.size(), 4u);
  auto dag = db.query("SELECT type, parent_steps, child_steps FROM r_steps WHERE flow = 'BenchRecursiveFlow' AND step = 'loop'");
  ASSERT_EQ(dag.size(), 1u);
  EXPECT_EQ(dag[0][0], "split-switch");
  EXPECT_EQ(cell_json(dag[0][1]), json({"loop", "start"}));
  EXPECT_EQ(cell_json(dag[0][2]), json({"end", "loop"}));
  std::map<std::string, std::pair<json, json>> expected;
  for (const auto& t : start) expected[t] = {json::array(), json(loop)};
  for (const auto& t : loop) expected[t] = {json(joined(start, loop)), json(joined(loop, end))};
  for (const auto& t : end) expected[t] = {json(loop), json::array()};
  auto rows = db.query("SELECT pathspec, parent_task_pathspecs, child_task_pathspecs FROM r_tasks WHERE flow = 'BenchRecursiveFlow'");
  ASSERT_EQ(rows.size(), expected.size());
  for (auto& r : rows) {
    EXPECT_EQ(cell_json(r[1]), expected.at(*r[0]).first) << *r[0];
    EXPECT_EQ(cell_json(r[2]), expected.at(*r[0]).second) << *r[0];
  }
  // The walk up from the end task ends although the graph has a cycle (UNION drops repeats).
  auto up = db.query("WITH RECURSIVE up(p) AS (SELECT parent_pathspec FROM r_task_edges WHERE child_pathspec = " +
                     quote(end.at(0)) + " UNION SELECT e.parent_pathspec FROM r_task_edges e JOIN up ON e.child_pathspec = up.p) "
                     "SELECT p FROM up ORDER BY p");
  std::vector<std::string> ancestors;
  for (auto& r : up) ancestors.push_back(*r[0]);
  EXPECT_EQ(ancestors, joined(start, loop));

  // Inside a 12-way foreach, `process` loops back to itself (four tasks per item). Its previous
  // steps are fan_out and itself, so its parents are the tasks whose foreach-execution-path
  // matches its own path with re.match (a prefix: "process:1" also takes "process:10" and
  // "process:11"), and fan_out, having no path, is none of them; its children likewise (process
  // and combine, which has no path). combine (a foreach join outside the foreach) takes ".*":
  // every process task; fan_out's only next step is process, with no path of its own: ".*".
  db.query("CREATE VIRTUAL TABLE temp.r_metadata USING metadata(root=" + quote(dir.path().string()) + ")");
  const std::string flow = "BenchRecursiveForeachFlow";
  std::map<std::string, std::string> path_of;  // process task -> its foreach-execution-path
  for (auto& r : db.query("SELECT pathspec, value FROM r_metadata WHERE flow = " + quote(flow) +
                          " AND step = 'process' AND field_name = 'foreach-execution-path'"))
    path_of[*r[0]] = *r[1];
  auto tasks_in = [&](const std::string& step) {
    std::vector<std::string> out;
    for (auto& r : db.query("SELECT pathspec FROM r_tasks WHERE flow = " + quote(flow) + " AND step = " + quote(step)))
      out.push_back(*r[0]);
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto process = tasks_in("process");
  ASSERT_EQ(process.size(), 12u * 4);
  ASSERT_EQ(path_of.size(), process.size()) << "every process task records its path";
  int prefix_matches = 0;
  for (auto& r : db.query("SELECT pathspec, step, parent_task_pathspecs, child_task_pathspecs FROM r_tasks WHERE flow = " +
                          quote(flow))) {
    json parents = json::array(), children = json::array();
    if (*r[1] == "process") {
      std::vector<std::string> same;
      for (const auto& t : process)
        if (path_of.at(t).rfind(path_of.at(*r[0]), 0) == 0) same.push_back(t);
      prefix_matches += same.size() > 4;  // more than the item's own four
      parents = children = same;
    } else if (*r[1] == "combine") {
      parents = process;
      children = tasks_in("end");
    } else if (*r[1] == "fan_out") {
      parents = tasks_in("start");
      children = process;
    } else if (*r[1] == "start") {
      children = tasks_in("fan_out");
    } else {
      parents = tasks_in("combine");
    }
    EXPECT_EQ(cell_json(r[2]), parents) << *r[0];
    EXPECT_EQ(cell_json(r[3]), children) << *r[0];
  }
  EXPECT_EQ(prefix_matches, 4) << "the four tasks of item 1 take those of items 10 and 11 too (re.match is a prefix match)";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelLineageTest, ::testing::Values("metaflow-local", "metaflow-code"));

}  // namespace
}  // namespace mfsql::testing
