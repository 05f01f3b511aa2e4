// The access paths issue 14 (parts 4, 5, 8) adds cost what their answer needs, not what the store
// holds: each question is asked of a generated store of 10 and of 40 runs (the first 10 runs are
// the same in both), and must open the same files in both.
#include <gtest/gtest.h>

#include "storegen/storegen.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

struct Cost {
  int attempts_of_run, one_attempt, parameters_of_run, parameters_kept, sizes_of_run, sizes_stats, sizes_logs_read;
  size_t attempt_rows;
};

int stats_of(TestDb& db, const std::string& sql) {
  db.query("SELECT metaflow_trace_clear()");
  db.query(sql);
  return std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'stat' AND cache_hit = 0"));
}

// `retried_run` is a run with a retried task, found in the smaller store (empty: find it now).
Cost cost_on(int runs, std::string& retried_run) {
  TempDir dir;
  storegen::GenerateOptions options;
  options.out_dir = dir.path();
  options.runs = runs;
  storegen::generate_store(options);
  TestDb db;
  for (auto t : {"runs", "tasks", "task_attempts"})
    db.query(std::string("CREATE VIRTUAL TABLE temp.g_") + t + " USING " + t + "(root=" + quote(dir.path().string()) + ")");
  if (retried_run.empty()) retried_run = db.scalar("SELECT run_id FROM g_task_attempts WHERE flow = 'BenchFlow' AND attempt > 0 LIMIT 1").value_or("");
  EXPECT_FALSE(retried_run.empty()) << "the generated store has no retried task";
  const std::string run = "flow = 'BenchFlow' AND run_id = " + quote(retried_run);
  const std::string retried_task =
      *db.scalar("SELECT pathspec FROM g_task_attempts WHERE " + run + " AND attempt = 1 LIMIT 1");
  const std::string newest_created = *db.scalar("SELECT created_at FROM g_runs WHERE flow = 'BenchFlow' LIMIT 1");
  Cost c{};
  const std::string attempts_sql = "SELECT pathspec, attempt, started_at, successful, exception FROM g_task_attempts WHERE " + run;
  c.attempts_of_run = db.files_opened_by(attempts_sql);
  c.attempt_rows = db.query(attempts_sql).size();
  c.one_attempt = db.files_opened_by("SELECT successful, exception FROM g_task_attempts WHERE pathspec = " +
                                     quote(retried_task) + " AND attempt = 1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM g_task_attempts WHERE pathspec = " + quote(retried_task) + " AND attempt = 1"), "1");
  c.parameters_of_run = db.files_opened_by("SELECT parameters FROM g_runs WHERE " + run);
  // Only the runs the query keeps have their parameters read (one here, however many there are).
  c.parameters_kept = db.files_opened_by("SELECT run_id, parameters FROM g_runs WHERE flow = 'BenchFlow' AND created_at >= " +
                                         quote(newest_created), "%/_parameters/%");
  const std::string sizes_sql = "SELECT stdout_size, stderr_size FROM g_tasks WHERE " + run;
  c.sizes_of_run = db.files_opened_by(sizes_sql);
  c.sizes_stats = stats_of(db, sizes_sql);
  c.sizes_logs_read = db.files_opened_by(sizes_sql, "%.log");
  return c;
}

TEST(ModelPushdownAtTwoSizes, AttemptsParametersAndLogSizesCostTheSameOnABiggerStore) {
  std::string retried_run;
  const Cost small = cost_on(10, retried_run), big = cost_on(40, retried_run);
  std::printf("[cost] task_attempts of a run: %d files; one attempt: %d; parameters of a run: %d; of the kept run: %d; "
              "log sizes of a run: %d files + %d stats\n",
              small.attempts_of_run, small.one_attempt, small.parameters_of_run, small.parameters_kept, small.sizes_of_run,
              small.sizes_stats);
  EXPECT_GT(small.attempt_rows, 5u);  // five steps, one of them retried
  EXPECT_EQ(small.attempt_rows, big.attempt_rows);
  EXPECT_GT(small.attempts_of_run, 0);
  EXPECT_EQ(small.attempts_of_run, big.attempts_of_run);
  EXPECT_GT(small.one_attempt, 0);
  EXPECT_LT(small.one_attempt, small.attempts_of_run);
  EXPECT_EQ(small.one_attempt, big.one_attempt);
  EXPECT_GT(small.parameters_of_run, 0);
  EXPECT_EQ(small.parameters_of_run, big.parameters_of_run);
  EXPECT_GT(small.parameters_kept, 0);
  EXPECT_EQ(small.parameters_kept, big.parameters_kept);
  EXPECT_EQ(small.sizes_of_run, big.sizes_of_run);
  EXPECT_GT(small.sizes_stats, 0);
  EXPECT_EQ(small.sizes_stats, big.sizes_stats);
  EXPECT_EQ(small.sizes_logs_read, 0);  // sized, never read
}

}  // namespace
}  // namespace mfsql::testing
