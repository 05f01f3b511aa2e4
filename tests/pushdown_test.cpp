// Proof that WHERE clauses on the path become direct lookups: tests count the files each query
// opens (metaflow_trace) and pin the plans SQLite chooses.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "support/test_db.hpp"
#include "storegen/storegen.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

const std::string kFlow = "RetryCatchFlow";
const std::string kRun = "1795738160197500";
const std::string kOtherRun = "1795738152049350";

class PushdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string root = quote(local_fixture().string());
    for (auto t : {"flows", "runs", "steps", "tasks", "tags"})
      db_.query(std::string("CREATE VIRTUAL TABLE temp.p_") + t + " USING " + t + "(root=" + root + ")");
  }
  // How many times each file was opened by the last traced statement.
  std::map<std::string, int> opens() {
    std::map<std::string, int> out;
    for (auto& r : db_.query("SELECT target FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0"))
      ++out[*r[0]];
    return out;
  }
  std::string plan_of(const std::string& sql) {
    std::string detail;
    for (auto& r : db_.query("EXPLAIN QUERY PLAN " + sql)) detail += *r[3] + "\n";
    return detail;
  }
  TestDb db_;
};

TEST_F(PushdownTest, FlowAndRunIdOpenOnlyThatRunsFiles) {
  std::string where = " WHERE flow = " + quote(kFlow) + " AND run_id = " + quote(kRun);
  EXPECT_EQ(db_.files_opened_by("SELECT run_id, created_at, tags FROM p_runs" + where), 1);  // its _self.json
  db_.files_opened_by("SELECT * FROM p_runs" + where);
  auto files = opens();
  ASSERT_FALSE(files.empty());
  for (auto& [path, n] : files) {
    bool in_run = path.rfind(kFlow + "/" + kRun + "/", 0) == 0;
    bool blob = path.rfind(kFlow + "/data/", 0) == 0;
    EXPECT_TRUE(in_run || blob) << path << " is outside the run";
  }
  std::cout << "[pushdown] SELECT * FROM runs WHERE flow=? AND run_id=? opened " << files.size() << " files\n";
}

TEST_F(PushdownTest, InListReadsEachValueOnce) {
  std::string sql = "SELECT run_id FROM p_runs WHERE flow = " + quote(kFlow) + " AND run_id IN (" + quote(kRun) +
                    ", " + quote(kOtherRun) + ", 'no-such-run', " + quote(kRun) + ")";
  EXPECT_EQ(db_.query(sql).size(), 2u);
  EXPECT_EQ(db_.files_opened_by(sql), 2);
  for (auto& [path, n] : opens()) EXPECT_EQ(n, 1) << path;
  EXPECT_NE(plan_of(sql).find("run_id=IN"), std::string::npos) << plan_of(sql);
}

TEST_F(PushdownTest, RunsJoinTagsLooksUpTagsPerRun) {
  std::string sql = "SELECT r.run_id, t.tag FROM p_runs r JOIN p_tags t USING (flow, run_id) WHERE r.flow = " + quote(kFlow);
  std::string plan = plan_of(sql);
  EXPECT_NE(plan.find("SCAN r VIRTUAL TABLE INDEX 1:flow=?"), std::string::npos) << plan;
  EXPECT_NE(plan.find("SCAN t VIRTUAL TABLE INDEX 3:flow=? run_id=?"), std::string::npos) << plan;
  int runs = std::stoi(*db_.scalar("SELECT count(*) FROM p_runs WHERE flow = " + quote(kFlow)));
  int opened = db_.files_opened_by(sql);
  EXPECT_EQ(opened, runs) << "one read per run; the tags lookups find it in the statement memo";
  std::cout << "[pushdown] runs JOIN tags over " << runs << " runs opened " << opened << " files\n";
}

TEST_F(PushdownTest, PathspecIsAPointLookup) {
  std::string task = kFlow + "/" + kRun + "/flaky/2";
  EXPECT_EQ(db_.files_opened_by("SELECT pathspec, created_at FROM p_tasks WHERE pathspec = " + quote(task)), 1);
  EXPECT_NE(plan_of("SELECT * FROM p_tasks WHERE pathspec = 'a/b/c/d'").find("INDEX 16:pathspec=?"), std::string::npos);
  EXPECT_EQ(db_.files_opened_by("SELECT step FROM p_steps WHERE pathspec = " + quote(kFlow + "/" + kRun + "/end")), 1);
}

TEST_F(PushdownTest, ExplainQueryPlanShowsTheLookups) {
  EXPECT_EQ(plan_of("SELECT run_id FROM p_runs WHERE flow = 'F' AND run_id IN ('1', '2')"),
            "SCAN p_runs VIRTUAL TABLE INDEX 3:flow=? run_id=IN cols=0x3\n");
  EXPECT_EQ(plan_of("SELECT flow FROM p_flows"), "SCAN p_flows VIRTUAL TABLE INDEX 0:scan cols=0x1\n");
}

TEST_F(PushdownTest, UnsafePathComponentsMatchNothingAndOpenNothing) {
  for (std::string bad : std::vector<std::string>{"..", "../..", "a/b", "/etc", "RetryCatchFlow/..", std::string("Retry\0Flow", 10)}) {
    std::string q = "SELECT count(*) FROM p_runs WHERE flow = " + quote(bad);
    if (bad.find('\0') != std::string::npos) q = "SELECT count(*) FROM p_runs WHERE flow = CAST(x'526574727900466c6f77' AS TEXT)";
    db_.query("SELECT metaflow_trace_clear()");
    EXPECT_EQ(*db_.scalar(q), "0") << bad;
    EXPECT_EQ(*db_.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0"), "0") << bad;
  }
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_tasks WHERE pathspec = 'RetryCatchFlow/../../../etc/passwd'"), "0");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_tasks WHERE flow = 'RetryCatchFlow' AND run_id = '..' AND "
                        "step = '..' AND task_id = 'etc'"), "0");
}

// Lookups follow SQLite's own comparison rules: a BLOB never equals TEXT (so it matches nothing,
// as it would in an ordinary table with a TEXT column), while integers and reals match the run id
// they spell, as TEXT affinity converts them.
TEST_F(PushdownTest, KeyValuesCompareAsSqliteWould) {
  const std::string flow_hex = "x'" + [] {
    std::string hex;
    for (unsigned char c : kFlow) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
    return hex;
  }() + "'";
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_runs WHERE flow = " + flow_hex), "0");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_runs WHERE flow IN (" + flow_hex + ", 'NoSuchFlow')"), "0");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_tasks WHERE pathspec = CAST(" + quote(kFlow + "/" + kRun + "/end/7") +
                        " AS BLOB)"), "0");
  // The same comparisons in a plain table agree.
  db_.query("CREATE TEMP TABLE plain(flow TEXT)");
  db_.query("INSERT INTO plain VALUES (" + quote(kFlow) + ")");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM plain WHERE flow = " + flow_hex), "0");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_runs WHERE flow = " + quote(kFlow) + " AND run_id = " + kRun), "1");
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM p_runs WHERE flow = " + quote(kFlow) + " AND run_id = " + kRun + ".0"),
            *db_.scalar("SELECT count(*) FROM (SELECT CAST(" + kRun + " AS TEXT) AS r) WHERE r = " + kRun + ".0"));
}

// LIKE and GLOB on pathspec narrow by their literal leading segments: the same lookups as the
// equivalent flow/run_id/step constraints, never a different answer. Each answer equals the one
// SQLite gives for the same pattern checked over a full scan (`+pathspec` is not offered to the
// table, so SQLite applies it to every row itself).
TEST_F(PushdownTest, PathspecPatternsBecomeLookupsWithTheSameAnswers) {
  const std::string run = kFlow + "/" + kRun;
  struct Case {
    std::string pattern_sql, equivalent_where;
  } cases[] = {
      {"pathspec LIKE '" + run + "/%'", "flow = '" + kFlow + "' AND run_id = '" + kRun + "'"},
      {"pathspec GLOB '" + run + "/flaky/*'", "flow = '" + kFlow + "' AND run_id = '" + kRun + "' AND step = 'flaky'"},
      {"pathspec LIKE 'retrycatchFLOW/" + kRun + "/%'", "flow = '" + kFlow + "' AND run_id = '" + kRun + "'"},
      {"pathspec LIKE '" + run + "/flak_/%'", "flow = '" + kFlow + "' AND run_id = '" + kRun + "'"},
      {"pathspec GLOB '" + run + "/[fr]*/*'", "flow = '" + kFlow + "' AND run_id = '" + kRun + "'"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.pattern_sql);
    const std::string sql = "SELECT pathspec FROM p_tasks WHERE " + c.pattern_sql + " ORDER BY 1";
    std::string scan = c.pattern_sql;
    scan.replace(0, 8, "+pathspec");
    auto rows = db_.query(sql);
    ASSERT_FALSE(rows.empty());
    EXPECT_EQ(rows, db_.query("SELECT pathspec FROM p_tasks WHERE " + scan + " ORDER BY 1"));
    const int with_pattern = db_.files_opened_by(sql);
    const int equivalent = db_.files_opened_by("SELECT pathspec FROM p_tasks WHERE " + c.equivalent_where +
                                               " AND " + c.pattern_sql);
    const int flows = std::stoi(*db_.scalar("SELECT count(*) FROM p_flows"));
    // A LIKE segment with letters is matched case-insensitively, so the flows are listed (each
    // flow's record once) instead of looked up: at most that many more files.
    EXPECT_LE(with_pattern, equivalent + flows) << "pattern " << with_pattern << ", equivalent " << equivalent;
    EXPECT_LT(with_pattern * 3, db_.files_opened_by("SELECT pathspec FROM p_tasks WHERE " + scan));
  }
  // Patterns that pin nothing, or name another depth, still answer as SQLite does.
  for (std::string pattern : std::vector<std::string>{"'%/flaky/%'", "'" + run + "'", "'" + run + "/end/%/x'", "'%'"}) {
    SCOPED_TRACE(pattern);
    EXPECT_EQ(db_.query("SELECT pathspec FROM p_tasks WHERE pathspec LIKE " + pattern + " ORDER BY 1"),
              db_.query("SELECT pathspec FROM p_tasks WHERE +pathspec LIKE " + pattern + " ORDER BY 1"));
  }
  EXPECT_NE(plan_of("SELECT * FROM p_tasks WHERE pathspec LIKE 'a/%'").find("pathspec~like=?"), std::string::npos);
  EXPECT_NE(plan_of("SELECT * FROM p_runs WHERE pathspec GLOB 'a/*'").find("pathspec~glob=?"), std::string::npos);
}

// The cost of a pathspec pattern, and of run status for the runs a comparison keeps, follows the
// answer, not the history: the same files on a store of 10 runs and one of 40.
TEST(PushdownAtTwoSizes, PatternsAndKeptRowsCostTheSameOnABiggerStore) {
  struct Cost {
    int pattern_files, status_end_files;
  };
  auto cost_on = [](int runs) {
    TempDir dir;
    storegen::GenerateOptions options;
    options.out_dir = dir.path();
    options.runs = runs;
    storegen::generate_store(options);
    TestDb db;
    for (auto t : {"runs", "tasks", "artifacts"})
      db.query(std::string("CREATE VIRTUAL TABLE temp.g_") + t + " USING " + t + "(root=" + quote(dir.path().string()) + ")");
    const std::string newest = *db.scalar("SELECT run_id FROM g_runs WHERE flow = 'BenchFlow' LIMIT 1");
    const std::string created = *db.scalar("SELECT created_at FROM g_runs WHERE flow = 'BenchFlow' LIMIT 1");
    Cost c{};
    c.pattern_files = db.files_opened_by("SELECT pathspec, successful FROM g_tasks WHERE pathspec LIKE 'BenchFlow/" +
                                         newest + "/%'");
    c.status_end_files = db.files_opened_by("SELECT run_id, status FROM g_runs WHERE flow = 'BenchFlow' AND created_at >= " +
                                            quote(created), "%/end/%");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM g_runs WHERE flow = 'BenchFlow' AND created_at >= " + quote(created)), "1");
    return c;
  };
  const Cost small = cost_on(10), big = cost_on(40);
  EXPECT_GT(small.pattern_files, 0);
  EXPECT_GT(small.status_end_files, 0);
  EXPECT_EQ(small.pattern_files, big.pattern_files);
  EXPECT_EQ(small.status_end_files, big.status_end_files);
}

}  // namespace
}  // namespace mfsql::testing
