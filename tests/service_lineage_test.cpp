// Lineage over the metadata service (the recorded service replayed): tasks' parent/child task
// pathspecs equal what the client gets from the service's own filtered_tasks answers (recorded for
// the patterns these runs need, all ".*"), task_edges agrees, and a whole run's lineage costs a
// few run-wide requests — never filtered_tasks or a task's own metadata.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "support/service_fixture.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

// The recorded answer of the service to GET <target>, or nullopt when it was not recorded.
std::optional<json> recorded(const std::string& target) {
  static const json manifest = json::parse(read_file(service_fixture() / "recorded" / "manifest.json"));
  auto it = manifest.at("requests").find("GET " + target);
  if (it == manifest.at("requests").end()) return std::nullopt;
  return json::parse(read_file(service_fixture() / "recorded" / it->at("file").get<std::string>()));
}

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t slash; (slash = p.find('/', start)) != std::string::npos; start = slash + 1) parts.push_back(p.substr(start, slash - start));
  parts.push_back(p.substr(start));
  return parts;
}

// filter_tasks_by_metadata(flow, run, step, ..., ".*") as the service answered the client.
std::vector<std::string> every_task_of(const std::string& flow, const std::string& run, const std::string& step) {
  auto answer = recorded("/flows/" + flow + "/runs/" + run + "/steps/" + step + "/filtered_tasks");
  return answer ? answer->get<std::vector<std::string>>() : std::vector<std::string>{};
}

TEST_F(ServiceTest, LineageEqualsTheServicesFilteredTasks) {
  TestDb db;
  create_tables(db);
  db.query("CREATE VIRTUAL TABLE temp.s_task_edges USING task_edges(service=" + quote(server_->url()) +
           ", datastore=" + quote(store_->string()) + ")");
  std::map<std::string, std::pair<Cell, Cell>> dag;  // step pathspec -> parent_steps, child_steps
  for (auto& r : db.query("SELECT pathspec, parent_steps, child_steps FROM s_steps")) dag[*r[0]] = {r[1], r[2]};
  ASSERT_FALSE(dag.empty());
  int compared = 0, matched = 0;
  std::set<std::pair<std::string, std::string>> from_lists;
  for (auto& r : db.query("SELECT pathspec, parent_task_pathspecs, child_task_pathspecs FROM s_tasks")) {
    const auto parts = split_path(*r[0]);
    const auto& [parent_steps, child_steps] = dag.at(parts[0] + "/" + parts[1] + "/" + parts[2]);
    for (auto [steps, lineage] : {std::pair{parent_steps, r[1]}, std::pair{child_steps, r[2]}}) {
      if (!steps) continue;  // a neighbour step that never ran (FailFlow's end): the client's Step raises
      std::vector<std::string> expected;
      for (const auto& s : json::parse(*steps))
        for (auto& t : every_task_of(parts[0], parts[1], s.get<std::string>())) expected.push_back(t);
      std::sort(expected.begin(), expected.end());
      ++compared;
      ASSERT_TRUE(lineage) << *r[0];
      matched += json::parse(*lineage) == json(expected);
      EXPECT_EQ(json::parse(*lineage), json(expected)) << *r[0];
    }
    for (const auto& p : json::parse(r[1].value_or("[]"))) from_lists.emplace(p.get<std::string>(), *r[0]);
    for (const auto& c : json::parse(r[2].value_or("[]"))) from_lists.emplace(*r[0], c.get<std::string>());
  }
  std::cout << "[service lineage] compared " << compared << " task lists, matched " << matched << "\n";
  EXPECT_GT(compared, 20);
  std::set<std::pair<std::string, std::string>> edges;
  for (auto& r : db.query("SELECT parent_pathspec, child_pathspec FROM s_task_edges")) edges.emplace(*r[0], *r[1]);
  EXPECT_EQ(edges, from_lists);
  expect_all_recorded();
}

TEST_F(ServiceTest, ARunsLineageIsAFewRunWideRequests) {
  TestDb db;
  create_tables(db);
  const std::string sql = "SELECT task_id, parent_task_pathspecs, child_task_pathspecs FROM s_tasks "
                          "WHERE flow = 'ForeachFlow' AND run_id = '4'";
  Cost cold = run(db, sql);
  auto targets = server_->targets();
  for (const auto& t : targets) {
    std::cout << "    " << t << "\n";
    EXPECT_EQ(t.find("filtered_tasks"), std::string::npos) << t;
    EXPECT_FALSE(t.find("/tasks/") != std::string::npos && t.find("/metadata") != std::string::npos) << t;
  }
  EXPECT_EQ(requests_for("/flows/ForeachFlow/runs/4/metadata"), 1);
  Cost warm = run(db, sql);
  print("lineage of every task of the foreach run", cold, warm);
  EXPECT_EQ(cold.rows.size(), 13u);
  EXPECT_EQ(warm.rows, cold.rows);
  EXPECT_LE(cold.requests, 10);

  TestDb steps_db;
  create_tables(steps_db);
  const std::string dag_sql = "SELECT step, type, parent_steps, child_steps, control_task FROM s_steps "
                              "WHERE flow = 'ForeachFlow' AND run_id = '4'";
  Cost dag = run(steps_db, dag_sql);
  for (const auto& t : server_->targets())
    EXPECT_FALSE(t.find("/tasks/") != std::string::npos) << "no request per task: " << t;
  Cost dag_warm = run(steps_db, dag_sql);
  print("the step DAG of the foreach run", dag, dag_warm);
  EXPECT_EQ(dag.rows.size(), 4u);
  EXPECT_LE(dag.requests, 10);
}

}  // namespace
}  // namespace mfsql::testing
