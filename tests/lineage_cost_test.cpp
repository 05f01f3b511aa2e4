// What lineage costs: a whole run's parent/child task pathspecs (and its task_edges) read one
// `_graph_info` blob per run and at most one foreach-execution-path read per task, however wide
// the run — counted in the files opened, on foreach runs of 10 and 40 tasks and on the fixture's
// BranchForeachFlow run.
#include <gtest/gtest.h>

#include <iostream>

#include "storegen/storegen.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

struct LineageCost {
  int tasks = 0;           // tasks of the run, _parameters included
  int path_files = 0;      // sysmeta_foreach-execution-path_* files opened
  int graph_blobs = 0;     // blobs opened: the _graph_info value (nothing else reads a blob here)
  int clone_files = 0;     // a clone's origin-task-id / origin-run-id, to find its origin's path
  int per_task_files = 0;  // everything else (task records, attempt-done, the _graph_info registration)
  int total = 0;
};

LineageCost cost_of(TestDb& db, const std::string& table, const std::string& flow, const std::string& run) {
  db.query("SELECT metaflow_trace_clear()");
  auto rows = db.query("SELECT parent_task_pathspecs, child_task_pathspecs FROM " + table + "(1) WHERE flow = " +
                       quote(flow) + " AND run_id = " + quote(run));
  auto count = [&](const std::string& like) {
    return std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND "
                                "cache_hit = 0 AND target LIKE " + quote(like)));
  };
  LineageCost c;
  c.tasks = static_cast<int>(rows.size());
  c.path_files = count("%sysmeta_foreach-execution-path_%");
  c.graph_blobs = count(flow + "/data/%") - count(flow + "/data/%_meta");
  c.clone_files = count("%sysmeta_origin-task-id_%") + count("%sysmeta_origin-run-id_%");
  c.total = count("%") - count(flow + "/data/%_meta");
  c.per_task_files = c.total - c.path_files - c.graph_blobs - c.clone_files;
  return c;
}

void expect_within_bound(const LineageCost& c, const std::string& what) {
  EXPECT_EQ(c.graph_blobs, 1) << what << ": one _graph_info per run";
  EXPECT_LE(c.path_files, c.tasks) << what << ": at most one foreach-execution-path read per task";
  EXPECT_LE(c.per_task_files, 4 * c.tasks) << what;
  std::cout << "[lineage cost] " << what << ": " << c.tasks << " tasks, " << c.total << " files opened = "
            << c.graph_blobs << " _graph_info blob + " << c.path_files << " foreach-execution-path files + "
            << c.clone_files << " clones' origin ids + " << c.per_task_files
            << " task records, attempt-done, _graph_info registrations (and clones' origin records)\n";
}

TEST(LineageCost, OneGraphAndOnePathReadPerTaskAtTwoRunSizes) {
  std::vector<LineageCost> costs;
  for (int width : {10, 40}) {
    TempDir dir;
    storegen::GenerateOptions options;
    options.out_dir = dir.path();
    options.foreach_width = width;
    storegen::generate_store(options);
    TestDb db;
    db.query("CREATE VIRTUAL TABLE temp.g_tasks USING tasks(root=" + quote(dir.path().string()) + ")");
    const std::string run = *db.scalar("SELECT run_id FROM g_tasks WHERE flow = 'BenchForeachFlow' LIMIT 1");
    costs.push_back(cost_of(db, "g_tasks", "BenchForeachFlow", run));
    EXPECT_EQ(costs.back().tasks, width + 5);
    // Every process task has the start task's fan-out as parent and the join as child.
    EXPECT_EQ(*db.scalar("SELECT count(*) FROM g_tasks WHERE flow = 'BenchForeachFlow' AND step = 'process' AND "
                         "json_array_length(parent_task_pathspecs) = 1 AND json_array_length(child_task_pathspecs) = 1"),
              std::to_string(width));
    expect_within_bound(costs.back(), "BenchForeachFlow, " + std::to_string(width) + "-way foreach");
  }
  // The rest grows by the same number of files per task at both sizes: nothing is per pair of tasks.
  const LineageCost &small = costs[0], &big = costs[1];
  const int extra_tasks = big.tasks - small.tasks;
  ASSERT_GT(extra_tasks, 0);
  EXPECT_EQ((big.per_task_files - small.per_task_files) % extra_tasks, 0);
  EXPECT_LE((big.per_task_files - small.per_task_files) / extra_tasks, 4);
  EXPECT_EQ(big.path_files - small.path_files, extra_tasks);
}

TEST(LineageCost, BranchForeachFlowRunOfTheFixture) {
  const std::string root = quote(local_fixture().string());
  const std::string run = "1795738136324997";  // the resume: clones and re-run tasks
  for (const std::string& other : {std::string("1795738098817315"), run}) {
    TestDb fresh;  // (values are cached by the connection)
    fresh.query("CREATE VIRTUAL TABLE temp.f_tasks USING tasks(root=" + root + ")");
    LineageCost c = cost_of(fresh, "f_tasks", "BranchForeachFlow", other);
    expect_within_bound(c, "BranchForeachFlow/" + other);
  }
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.f_edges USING task_edges(root=" + root + ")");
  // task_edges over the same run costs the same reads, and a lookup by pathspec reads that run only.
  db.query("SELECT metaflow_trace_clear()");
  db.query("SELECT * FROM f_edges WHERE flow = 'BranchForeachFlow' AND run_id = " + quote(run));
  const int edges_files = std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0"));
  const int lookup_files = db.files_opened_by("SELECT parent_pathspec FROM f_edges WHERE child_pathspec = " +
                                              quote("BranchForeachFlow/" + run + "/end/57"));
  EXPECT_GT(lookup_files, 0);
  EXPECT_LE(lookup_files, edges_files + 2);  // + the run's own record
  EXPECT_EQ(db.files_opened_by("SELECT parent_pathspec FROM f_edges WHERE child_pathspec = " +
                               quote("BranchForeachFlow/" + run + "/end/57"), "%/1795738070029733/%"), 0);
  std::cout << "[lineage cost] task_edges of BranchForeachFlow/" << run << ": " << edges_files
            << " files; child_pathspec lookup: " << lookup_files << " files\n";
}

}  // namespace
}  // namespace mfsql::testing
