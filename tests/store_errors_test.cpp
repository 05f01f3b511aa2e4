// Bad input: no store, damaged records, and the promise that mfsql never changes a user's store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

const std::string kFlow = "RetryCatchFlow";
const std::string kRun = "1795738160197500";

void overwrite(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

TEST(StoreErrors, NoStoreNamesEveryPlaceLookedAndTheVariable) {
  TempDir empty;
  fs::path old = fs::current_path();
  fs::current_path(empty.path());
  const char* saved = getenv("METAFLOW_DATASTORE_SYSROOT_LOCAL");
  std::string saved_value = saved ? saved : "";
  unsetenv("METAFLOW_DATASTORE_SYSROOT_LOCAL");
  TestDb db;
  std::string err = db.error_of("SELECT * FROM runs");
  fs::current_path(old);
  if (saved) setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", saved_value.c_str(), 1);
  EXPECT_NE(err.find("No Metaflow store found"), std::string::npos) << err;
  EXPECT_NE(err.find((empty.path() / ".metaflow").string()), std::string::npos) << err;
  EXPECT_NE(err.find("METAFLOW_DATASTORE_SYSROOT_LOCAL"), std::string::npos) << err;
}

TEST(StoreErrors, RootArgumentThatIsNotAStoreSaysSo) {
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.x USING runs(root='/nonexistent/project')");
  std::string err = db.error_of("SELECT * FROM x");
  EXPECT_NE(err.find("/nonexistent/project/.metaflow"), std::string::npos) << err;
  EXPECT_NE(err.find("root='/nonexistent/project': there is no folder /nonexistent/project"), std::string::npos) << err;
  EXPECT_NE(db.error_of("CREATE VIRTUAL TABLE temp.y USING runs(rooot='/x')").find("accepts: root"), std::string::npos);

  TempDir empty;  // a folder, but no store in it
  db.query("CREATE VIRTUAL TABLE temp.z USING runs(root=" + quote(empty.path().string()) + ")");
  err = db.error_of("SELECT * FROM z");
  EXPECT_NE(err.find("the folder " + empty.path().string() + " has no .metaflow folder"), std::string::npos) << err;
  EXPECT_NE(err.find("give root= the folder that contains .metaflow"), std::string::npos) << err;
}

// One damaged registration NULLs that artifact's columns; the task's other artifacts still answer.
TEST(StoreErrors, ADamagedArtifactRegistrationHidesOnlyThatArtifact) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  const std::string task = "TypesFlow/1795738050376863/end/4";
  TestDb before;
  before.query("CREATE VIRTUAL TABLE temp.a USING artifacts(root=" + quote(store.string()) + ")");
  auto all = before.query("SELECT name, sha FROM a WHERE pathspec LIKE " + quote(task + "/%") + " ORDER BY name");
  ASSERT_GT(all.size(), 10u);
  const std::string victim = *all[3][0];
  overwrite(store / ".metaflow" / "TypesFlow" / "1795738050376863" / "end" / "4" / "_meta" / ("0_artifact_" + victim + ".json"),
            "{\"name\": \"" + victim + "\", \"sha\": \"ab");
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.a USING artifacts(root=" + quote(store.string()) + ")");
  auto after = db.query("SELECT name, sha FROM a WHERE flow = 'TypesFlow' AND run_id = '1795738050376863' AND "
                        "step = 'end' AND task_id = '4' ORDER BY name");
  ASSERT_EQ(after.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(after[i][0], all[i][0]);
    EXPECT_EQ(after[i][1], *all[i][0] == victim ? std::nullopt : all[i][1]) << *all[i][0];
  }
  EXPECT_EQ(db.scalar("SELECT value FROM a WHERE pathspec = " + quote(task + "/" + victim)), std::nullopt);
  // A damaged _task_ok registration: its row is there with NULLs, the task's outcome is unknown.
  overwrite(store / ".metaflow" / "TypesFlow" / "1795738050376863" / "end" / "4" / "_meta" / "0_artifact__task_ok.json", "[1,");
  TestDb again;
  again.query("CREATE VIRTUAL TABLE temp.a USING artifacts(root=" + quote(store.string()) + ")");
  again.query("CREATE VIRTUAL TABLE temp.t USING tasks(root=" + quote(store.string()) + ")");
  EXPECT_EQ(again.query("SELECT name FROM a WHERE pathspec LIKE " + quote(task + "/%")).size(), all.size() - 0);
  auto ok = again.query("SELECT name, sha FROM a WHERE pathspec = " + quote(task + "/_task_ok") + " AND private = 1");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0][1], std::nullopt);
  EXPECT_EQ(again.scalar("SELECT finished FROM t WHERE pathspec = " + quote(task)), std::nullopt);
}

// A run whose record cannot be read has unknown tags: NULL, not an empty list, so "runs without
// tag X" does not claim it.
TEST(StoreErrors, ADamagedRunRecordHasUnknownTags) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  overwrite(store / ".metaflow" / kFlow / kRun / "_meta" / "_self.json", "{\"tags\": [\"a");
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.r USING runs(root=" + quote(store.string()) + ")");
  auto row = db.query("SELECT user_tags, system_tags, tags, user FROM r WHERE flow = " + quote(kFlow) +
                      " AND run_id = " + quote(kRun));
  ASSERT_EQ(row.size(), 1u);
  for (auto& cell : row[0]) EXPECT_EQ(cell, std::nullopt);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM r WHERE flow = " + quote(kFlow) + " AND run_id = " + quote(kRun) +
                      " AND NOT (tags LIKE '%\"x\"%')"),
            "0");
  EXPECT_EQ(db.scalar("SELECT json_array_length(tags) FROM r WHERE flow = " + quote(kFlow) + " AND run_id = " + quote(kRun)),
            std::nullopt);
}

// In a join, the message says which table (and so which store) failed: every error a statement
// reports starts with the table's module name.
TEST(StoreErrors, EveryErrorStartsWithTheTablesName) {
  TestDb db;
  for (const char* table : {"flows", "runs", "steps", "tasks", "tags", "artifacts", "metadata", "logs"}) {
    db.query(std::string("CREATE VIRTUAL TABLE temp.bad_") + table + " USING " + table + "(root='/nonexistent/project')");
    std::string err = db.error_of(std::string("SELECT * FROM bad_") + table);
    EXPECT_EQ(err.rfind(std::string(table) + ": ", 0), 0u) << err;
    EXPECT_NE(err.find("/nonexistent/project/.metaflow"), std::string::npos) << err;
  }
  db.query("CREATE VIRTUAL TABLE temp.good_flows USING flows(root='" + local_fixture().string() + "')");
  std::string joined = db.error_of("SELECT * FROM good_flows JOIN bad_runs USING (flow)");
  EXPECT_EQ(joined.rfind("runs: ", 0), 0u) << joined;
}

TEST(StoreErrors, DamagedRecordsGiveNullColumnsAndTheRestAnswers) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  fs::path run = store / ".metaflow" / kFlow / kRun;
  overwrite(run / "flaky" / "2" / "_meta" / "_self.json", "{\"ts_epo");        // truncated task record
  overwrite(run / "risky" / "3" / "_meta" / "0_artifact__task_ok.json", "[1,"); // damaged artifact record
  overwrite(run / "stubborn" / "_meta" / "_self.json", "");                     // empty step record
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.t USING tasks(root=" + quote(store.string()) + ")");
  db.query("CREATE VIRTUAL TABLE temp.s USING steps(root=" + quote(store.string()) + ")");
  std::string where = " WHERE flow = " + quote(kFlow) + " AND run_id = " + quote(kRun);
  auto rows = db.query("SELECT step, created_at, finished, successful FROM t" + where + " ORDER BY step");
  std::map<std::string, std::vector<Cell>> by_step;
  for (auto& r : rows) by_step[*r[0]] = r;
  ASSERT_EQ(by_step.size(), 5u);
  EXPECT_FALSE(by_step["flaky"][1].has_value()) << "a truncated _self.json gives a NULL created_at";
  EXPECT_EQ(by_step["flaky"][2], Cell("1")) << "the task's other columns still answer";
  EXPECT_FALSE(by_step["risky"][2].has_value()) << "a damaged artifact record gives NULL outcome columns";
  EXPECT_EQ(by_step["start"][3], Cell("1"));
  auto steps = db.query("SELECT step, created_at FROM s" + where + " AND step = 'stubborn'");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0][1].has_value());
}

// (path, size, mtime) of every file and folder below `root`.
std::map<std::string, std::pair<uintmax_t, int64_t>> snapshot(const fs::path& root) {
  std::map<std::string, std::pair<uintmax_t, int64_t>> out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    auto t = fs::last_write_time(e.path()).time_since_epoch().count();
    out[e.path().string()] = {e.is_regular_file() ? e.file_size() : 0, t};
  }
  return out;
}

TEST(StoreErrors, ReadingNeverChangesTheStore) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  auto before = snapshot(store);
  TestDb db;
  for (auto t : {"flows", "runs", "steps", "tasks", "tags"}) {
    db.query(std::string("CREATE VIRTUAL TABLE temp.r_") + t + " USING " + t + "(root=" + quote(store.string()) + ")");
    db.query(std::string("SELECT * FROM r_") + t);
  }
  EXPECT_EQ(before, snapshot(store));
}

}  // namespace
}  // namespace mfsql::testing
