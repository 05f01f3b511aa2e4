// mfsql's cache (issue 16, docs/caching.md): what a connection remembers is answered again only
// after a stat shows nothing changed, in this process and in the next one, and never stale.
// Each test compares the cached answer with a fresh read (a connection with the cache off).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "storegen/storegen.hpp"
#include "support/cache_env.hpp"
#include "support/old_store.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

const std::string kQuestion =
    "SELECT run_id, successful, finished_at, tags FROM g_runs WHERE flow = 'BenchFlow' ORDER BY run_id";
const std::string kReads =
    "SELECT count(*) FROM metaflow_trace WHERE kind IN ('file', 'dir') AND cache_hit = 0 AND status = 0";
const std::string kChecks = "SELECT count(*) FROM metaflow_trace WHERE kind = 'check'";
// Files and listings answered from remembered bytes: what decoded facts spare (cache/fact_memory.hpp).
const std::string kMemoryHits = "SELECT count(*) FROM metaflow_trace WHERE kind IN ('file', 'dir') AND cache_hit = 1";

struct Answer {
  Rows rows;
  int reads = 0, checks = 0, memory_hits = 0;
};
Answer ask(const fs::path& root, bool cache = true, const std::string& sql = kQuestion) {
  TestDb db;
  db.query(create_runs_table(root));
  db.query("CREATE VIRTUAL TABLE temp.g_tasks USING tasks(root=" + quote(root.string()) + ")");
  if (!cache) db.query("SELECT metaflow_set('cache', 'off')");
  db.query("SELECT metaflow_trace_clear()");
  Answer a;
  a.rows = db.query(sql);
  a.reads = std::stoi(*db.scalar(kReads));
  a.checks = std::stoi(*db.scalar(kChecks));
  a.memory_hits = std::stoi(*db.scalar(kMemoryHits));
  return a;
}

// The run whose tags the tests change in place (Metaflow renames; an in-place rewrite is what a
// folder stat cannot see, so only the racy rule stands between it and a stale answer).
fs::path first_run_self(const fs::path& root) {
  fs::path flow = root / ".metaflow" / "BenchFlow";
  std::vector<fs::path> runs;
  for (auto& e : fs::directory_iterator(flow))
    if (e.is_directory() && e.path().filename() != "data") runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  return runs.front() / "_meta" / "_self.json";
}
void retag_in_place(const fs::path& self_json, const std::string& tag) {
  std::string text = read_file(self_json);
  auto at = text.find("\"tags\": [");
  ASSERT_NE(at, std::string::npos) << text;
  text.insert(at + 9, "\"" + tag + "\", ");
  std::ofstream(self_json, std::ios::binary | std::ios::in | std::ios::out) << text;  // same inode, same folder stat
}

TEST(CacheAtTwoSizes, SecondConnectionChecksButReadsNothing) {
  struct Cost {
    int cold_reads, warm_reads, warm_checks, warm_memory_hits;
  };
  auto cost_on = [](int runs) {
    TempDir dir;
    CacheOn cache(dir.path());
    fs::path root = old_store(dir, runs);
    Answer fresh = ask(root, false), first = ask(root), second = ask(root), third = ask(root);
    EXPECT_EQ(first.rows, fresh.rows);
    EXPECT_EQ(second.rows, fresh.rows);
    EXPECT_EQ(third.rows, fresh.rows);
    EXPECT_EQ(static_cast<int>(fresh.rows.size()), runs);
    EXPECT_EQ(first.reads, fresh.reads);  // the first connection reads what an uncached one reads
    EXPECT_EQ(second.checks, third.checks);
    return Cost{first.reads, second.reads, second.checks, second.memory_hits};
  };
  const Cost small = cost_on(10), big = cost_on(40);
  EXPECT_GT(small.cold_reads, 10 * 5);
  EXPECT_EQ(small.warm_reads, 0);
  EXPECT_EQ(big.warm_reads, 0);
  // A few stats per run (the run's and its parameters' _meta, the end step's folder, the end
  // task's _meta: fewer for a run without an end step), and nothing else.
  for (auto [c, runs] : {std::pair{small, 10}, std::pair{big, 40}}) {
    EXPECT_LE(c.warm_checks, 4 * runs + 3) << runs << " runs";
    EXPECT_GE(c.warm_checks, 3 * runs) << runs << " runs";
  }
  // Runs' records, tasks' entries and artifact registrations come decoded (cache/fact_memory.hpp),
  // and the outcome values decoded by sha (SharedValues): no remembered file is asked for at all.
  EXPECT_EQ(small.warm_memory_hits, 0);
  EXPECT_EQ(big.warm_memory_hits, 0);
  std::printf("[ cost    ] cold reads %d / %d, warm checks %d / %d, warm memory hits %d / %d\n", small.cold_reads,
              big.cold_reads, small.warm_checks, big.warm_checks, small.warm_memory_hits, big.warm_memory_hits);
}

// Values decoded in one connection are shared with the next, by sha, and still obey each
// connection's own settings: its value cap, and the cache switched off.
TEST(CacheAcrossConnections, SharedValuesKeepEachConnectionsCap) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 6);
  const std::string artifacts = "CREATE VIRTUAL TABLE temp.g_artifacts USING artifacts(root=" + quote(root.string()) + ")";
  const std::string values =
      "SELECT run_id, step, task_id, name, value FROM g_artifacts WHERE flow = 'BenchFlow' ORDER BY 1, 2, 3, 4";
  auto ask_values = [&](const std::string& setting) {
    TestDb db;
    db.query(artifacts);
    if (!setting.empty()) db.query(setting);
    db.query("SELECT metaflow_trace_clear()");
    Answer a;
    a.rows = db.query(values);
    a.reads = std::stoi(*db.scalar(kReads));
    a.memory_hits = std::stoi(*db.scalar(kMemoryHits));
    return a;
  };
  Answer fresh = ask_values("SELECT metaflow_set('cache', 'off')");
  ASSERT_GT(fresh.rows.size(), 20u);
  EXPECT_EQ(ask_values("").rows, fresh.rows);
  Answer shared = ask_values("");
  EXPECT_EQ(shared.rows, fresh.rows);
  EXPECT_EQ(shared.reads, 0);
  EXPECT_EQ(shared.memory_hits, 0);  // not even a remembered blob: the values themselves
  Answer capped = ask_values("SELECT metaflow_set('max_value_bytes', 1)");
  ASSERT_EQ(capped.rows.size(), fresh.rows.size());
  for (auto& row : capped.rows) EXPECT_FALSE(row.back().has_value()) << row[3].value_or("");
  EXPECT_EQ(ask_values("SELECT metaflow_set('cache', 'off')").reads, fresh.reads);
}

TEST(CacheAcrossProcesses, ANewProcessReadsNothingAndAnswersTheSame) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 12);
  Answer fresh = ask(root, false), first = ask(root);
  ASSERT_EQ(first.rows, fresh.rows);
  ASSERT_TRUE(fs::exists(cache.file()));
  const std::string script = create_runs_table(root) + ";\n" + kQuestion + ";\n" + kReads + ";\n";
  EXPECT_EQ(run_cli(dir.path(), script), rows_text(fresh.rows) + "0\n");
  // Off for the connection: it reads everything again.
  EXPECT_EQ(run_cli(dir.path(), "SELECT metaflow_set('cache', 'off');\n" + script),
            "off\n" + rows_text(fresh.rows) + std::to_string(fresh.reads) + "\n");
  ScopedEnv off;
  off.set("MFSQL_CACHE", "off");
  EXPECT_EQ(run_cli(dir.path(), script), rows_text(fresh.rows) + std::to_string(fresh.reads) + "\n");
}

TEST(CacheNeverStale, ARacyEntryIsReadAgain) {
  // Control first: on an old store the cache trusts the folder stat, which an in-place rewrite
  // does not change, so the remembered tags come back (this is why the next part can fail).
  {
    TempDir dir;
    CacheOn cache(dir.path());
    fs::path root = old_store(dir, 3);
    Answer before = ask(root);
    retag_in_place(first_run_self(root), "inplace");
    age_tree(root, an_hour_ago(), 0, 60);  // the file's own mtime back: nothing a stat of _meta sees
    EXPECT_EQ(ask(root).rows, before.rows);
    EXPECT_NE(ask(root, false).rows, before.rows);
  }
  // The run's _meta changed just now (racy): the same rewrite is seen.
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 3);
  fs::path self = first_run_self(root);
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  set_mtime(self.parent_path(), now.tv_sec, now.tv_nsec);
  Answer before = ask(root);
  retag_in_place(self, "inplace");  // the folder's stat stays the same: only the rule can tell
  Answer after = ask(root);
  EXPECT_NE(after.rows, before.rows);
  EXPECT_EQ(after.rows, ask(root, false).rows);
}

TEST(CacheNeverStale, AFolderFromTheFutureIsReadAgain) {
  // A clock that went backwards: the folder's mtime is later than the moment it is read.
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 3);
  fs::path self = first_run_self(root);
  set_mtime(self.parent_path(), wall_s() + 3600);
  Answer before = ask(root);
  retag_in_place(self, "inplace");  // the folder's stat stays the same: only the rule can tell
  EXPECT_NE(ask(root).rows, before.rows);
  EXPECT_EQ(ask(root).rows, ask(root, false).rows);
}

TEST(CacheNeverStale, AFileAppendedInPlaceIsSeen) {
  // Metaflow before 2.19.20 wrote datastore files in place (docs/caching.md): a log, data.json or
  // blob is validated by its own stat, which an append changes even when the folder's does not.
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 2);
  fs::path log = first_run_self(root).parent_path().parent_path() / "start" / "1" / "0.runtime_stdout.log";
  ASSERT_TRUE(fs::exists(log));
  const std::string sql = "SELECT run_id, stdout FROM g_tasks WHERE flow = 'BenchFlow' AND step = 'start' ORDER BY run_id";
  Answer before = ask(root, true, sql);
  ASSERT_EQ(ask(root, true, sql).reads, 0);  // answered from memory
  std::ofstream(log, std::ios::app) << "appended in place\n";
  age_tree(root, an_hour_ago(), 0, 60);  // the same old mtime as before: only size and ctime differ
  Answer after = ask(root, true, sql);
  EXPECT_NE(after.rows, before.rows);
  EXPECT_EQ(after.rows, ask(root, false, sql).rows);
}

TEST(CacheNeverStale, ADeletedRunIsGone) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 5);
  Answer before = ask(root);
  fs::remove_all(first_run_self(root).parent_path().parent_path());
  Answer after = ask(root);
  EXPECT_EQ(after.rows.size(), before.rows.size() - 1);
  EXPECT_EQ(after.rows, ask(root, false).rows);
}

// The cache's one-syscall stat follows a symlink in the middle of a path; what it remembers must
// still be what a fresh (symlink-refusing) read gives, in this process and the next.
TEST(CacheNeverStale, ALinkOutOfTheStoreReadsAsMissingThroughTheCache) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 4);
  fs::path run = first_run_self(root).parent_path().parent_path();
  fs::path outside = dir.path() / "outside";
  fs::create_directories(outside);
  fs::copy(run, outside / "run", fs::copy_options::recursive);
  fs::remove_all(run);
  fs::create_directory_symlink(outside / "run", run);
  const std::string tasks = "SELECT run_id, step, task_id, successful FROM g_tasks WHERE flow = 'BenchFlow' AND run_id = '" +
                            run.filename().string() + "'";
  Answer fresh = ask(root, false), fresh_tasks = ask(root, false, tasks);
  EXPECT_EQ(fresh.rows.size(), 3u);
  EXPECT_TRUE(fresh_tasks.rows.empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ask(root).rows, fresh.rows);
    EXPECT_EQ(ask(root, true, tasks).rows, fresh_tasks.rows);
  }
  EXPECT_EQ(run_cli(dir.path(), create_runs_table(root) + ";\n" + kQuestion + ";"), rows_text(fresh.rows));
}

TEST(CacheNeverStale, ACopyAndAReplacementAreOtherStores) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 4);
  Answer original = ask(root);
  // A copy elsewhere, with the same mtimes, retagged in place: not the original's memory.
  fs::path copy = dir.path() / "copy";
  ASSERT_EQ(std::system(("cp -a '" + root.string() + "' '" + copy.string() + "'").c_str()), 0);
  retag_in_place(first_run_self(copy), "copied");
  age_tree(copy, an_hour_ago(), 0, 60);
  Answer copied = ask(copy);
  EXPECT_NE(copied.rows, original.rows);
  EXPECT_EQ(copied.rows, ask(copy, false).rows);
  // The copy moved to the original's path: another store at the same path.
  fs::rename(root, dir.path() / "moved-away");
  fs::rename(copy, root);
  EXPECT_EQ(ask(root).rows, copied.rows);
  // And in a new process, through the cache file.
  EXPECT_EQ(run_cli(dir.path(), create_runs_table(root) + ";\n" + kQuestion + ";"), rows_text(copied.rows));
}

TEST(CacheFile, ADamagedOrForeignFileIsNeverTrusted) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 4);
  Answer fresh = ask(root, false);
  ASSERT_EQ(ask(root).rows, fresh.rows);  // writes the cache file
  const std::string script = create_runs_table(root) + ";\n" + kQuestion + ";\n" + kReads + ";\n";
  const std::string cold = rows_text(fresh.rows) + std::to_string(fresh.reads) + "\n";
  const std::string warm = rows_text(fresh.rows) + "0\n";
  ASSERT_EQ(run_cli(dir.path(), script), warm);
  // A shard's bytes damaged: decoded to nothing, so everything is read again (and written anew).
  std::string damage = "sqlite3 '" + cache.file().string() +
                       "' \"UPDATE shards SET data = substr(data, 1, 40) || x'00' || substr(data, 42)\"";
  ASSERT_EQ(std::system(damage.c_str()), 0);
  EXPECT_EQ(run_cli(dir.path(), script), cold);
  EXPECT_EQ(run_cli(dir.path(), script), warm);
  // Not a database at all.
  std::ofstream(cache.file(), std::ios::trunc) << "this is not an SQLite file, and it is long enough to look like one";
  EXPECT_EQ(run_cli(dir.path(), script), cold);
  EXPECT_EQ(run_cli(dir.path(), script), warm);
  // Someone else's SQLite file at that path.
  fs::remove(cache.file());
  ASSERT_EQ(std::system(("sqlite3 '" + cache.file().string() + "' 'CREATE TABLE shards(x); INSERT INTO shards VALUES (1)'").c_str()), 0);
  EXPECT_EQ(run_cli(dir.path(), script), cold);
  EXPECT_EQ(run_cli(dir.path(), script), warm);
}


TEST(CacheFile, ConcurrentProcessesShareItSafely) {
  // Four processes at once, each reading and writing the same cache file (rollback journal, busy
  // timeout): every answer equals a fresh read, and the file is still mfsql's afterwards.
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 8);
  const std::string expected = rows_text(ask(root, false).rows);
  const std::string script = create_runs_table(root) + ";\n" + kQuestion + ";\n";
  std::vector<std::string> outputs(4);
  std::vector<std::thread> processes;
  for (size_t i = 0; i < outputs.size(); ++i) {
    fs::create_directories(dir.path() / std::to_string(i));
    processes.emplace_back([&, i] { outputs[i] = run_cli(dir.path() / std::to_string(i), script); });
  }
  for (auto& p : processes) p.join();
  for (auto& out : outputs) EXPECT_EQ(out, expected);
  EXPECT_EQ(run_cli(dir.path(), script + kReads + ";\n"), expected + "0\n");
}

}  // namespace
}  // namespace mfsql::testing
