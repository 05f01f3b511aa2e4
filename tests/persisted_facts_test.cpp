// Decoded facts persist with their folder (cache/stored_facts.cpp): a new process answers from the
// facts an earlier one decoded, reading no `_meta` JSON file at all (not even from the remembered
// bytes: nothing is parsed) and stat'ing no blob (values by sha), and a folder changed since is
// read and decoded again.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "storegen/storegen.hpp"
#include "support/cache_env.hpp"
#include "support/old_store.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

const std::string kQuestion =
    "SELECT run_id, successful, finished_at, tags FROM g_runs WHERE flow = 'BenchFlow' ORDER BY run_id";
// Every `_meta` JSON file the statement asked for: read, or answered from remembered bytes.
const std::string kJsonAsked = "SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND target LIKE '%.json'";
const std::string kJsonRead =
    "SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND target LIKE '%.json' AND cache_hit = 0";
// Every blob (data/<sha[:2]>/<sha>) the statement checked or read: values come decoded by sha.
const std::string kBlobsTouched = "SELECT count(*) FROM metaflow_trace WHERE target LIKE '%/data/%'";

Rows fresh_rows(const fs::path& root) {
  TestDb db;
  db.query(create_runs_table(root));
  db.query("SELECT metaflow_set('cache', 'off')");
  return db.query(kQuestion);
}

// The question in a new process: its rows, then how many JSON files it asked for and read, and
// how many blobs it touched.
std::string in_new_process(const TempDir& dir, const fs::path& root) {
  std::string out = run_cli(dir.path(), create_runs_table(root) + ";\nSELECT metaflow_trace_clear();\n" + kQuestion +
                                            ";\n" + kJsonAsked + ";\n" + kJsonRead + ";\n" + kBlobsTouched + ";\n");
  return out.rfind("NULL\n", 0) == 0 ? out.substr(5) : "(no trace_clear row) " + out;
}

fs::path first_run(const fs::path& root) {
  std::vector<fs::path> runs;
  for (auto& e : fs::directory_iterator(root / ".metaflow" / "BenchFlow"))
    if (e.is_directory() && e.path().filename() != "data") runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  return runs.front();
}

// As Metaflow retags a run: a new _self.json renamed into its _meta folder (the folder's stat
// changes), then the folder aged so that its new state is not racy either.
void retag_by_rename(const fs::path& run, const std::string& tag) {
  const fs::path meta = run / "_meta", self = meta / "_self.json", tmp = meta / "tmpretag";
  std::string text = read_file(self);
  auto at = text.find("\"tags\": [");
  ASSERT_NE(at, std::string::npos) << text;
  text.insert(at + 9, "\"" + tag + (text[at + 9] == ']' ? "\"" : "\", "));
  std::ofstream(tmp, std::ios::binary) << text;
  fs::rename(tmp, self);
  age_tree(meta, an_hour_ago() + 60);
}

TEST(CacheAcrossProcesses, ANewProcessParsesNoJsonAtTwoSizes) {
  for (int runs : {10, 40}) {
    TempDir dir;
    CacheOn cache(dir.path());
    fs::path root = old_store(dir, runs);
    const Rows fresh = fresh_rows(root);
    ASSERT_EQ(static_cast<int>(fresh.size()), runs);
    // The first process reads (and decodes) every record; its facts are persisted at its end.
    const std::string first = in_new_process(dir, root);
    const std::string first_counts = first.substr(rows_text(fresh).size());
    ASSERT_EQ(first.substr(0, rows_text(fresh).size()), rows_text(fresh));
    EXPECT_GT(std::stoi(first_counts), runs) << first_counts;                         // JSON asked
    EXPECT_GT(std::stoi(first_counts.substr(first_counts.rfind('\n', first_counts.size() - 2))), 0) << first_counts;  // blobs
    // The second asks for no JSON file and no blob: every record, metadata entry and registration
    // comes decoded, and the outcome values (_task_ok, _success) by sha.
    EXPECT_EQ(in_new_process(dir, root), rows_text(fresh) + "0\n0\n0\n") << runs << " runs";
  }
}

// The tasks question lists each task's `_meta` folder before it reads its files. A new process
// after the first one reads no file and no listing at all: the first one's reads were all kept
// and written out. (Remembered after the statement, a folder's files, logged with the time of the
// folder's check, were once dropped as older than its listing, logged with the time of its read:
// the second process read 252 files and 63 listings of the 83-task run again.)
TEST(CacheAcrossProcesses, ANewProcessReadsNoFileOrListingOfTheTasksAtTwoSizes) {
  const std::string tasks = "SELECT step, task_id, successful, finished_at FROM g_tasks WHERE flow = 'BenchFlow'";
  const std::string read_again =
      "SELECT count(*) FROM metaflow_trace WHERE kind IN ('file', 'dir') AND cache_hit = 0";
  for (int runs : {3, 12}) {
    TempDir dir;
    CacheOn cache(dir.path());
    const fs::path root = old_store(dir, runs);
    const std::string create = "CREATE VIRTUAL TABLE temp.g_tasks USING tasks(root=" + quote(root.string()) + ")";
    auto ask = [&] {
      return run_cli(dir.path(), create + ";\nSELECT metaflow_trace_clear();\n" + tasks + ";\n" + read_again + ";\n");
    };
    const std::string first = ask();
    const std::string rows = first.substr(0, first.rfind('\n', first.size() - 2) + 1);
    ASSERT_GT(std::stoi(first.substr(rows.size())), runs) << "the first process reads the store";
    const std::string second = ask();
    EXPECT_EQ(second.substr(0, rows.size()), rows);
    EXPECT_EQ(second.substr(rows.size()), "0\n") << "files and listings read again, " << runs << " runs";
  }
}

TEST(CacheNeverStale, AFolderChangedSinceTheFactsWereDecodedIsReadAgain) {
  TempDir dir;
  CacheOn cache(dir.path());
  fs::path root = old_store(dir, 8);
  const std::string before = rows_text(fresh_rows(root));
  ASSERT_EQ(in_new_process(dir, root).substr(0, before.size()), before);  // decodes and persists
  ASSERT_EQ(in_new_process(dir, root), before + "0\n0\n0\n");
  retag_by_rename(first_run(root), "retagged");
  const Rows fresh = fresh_rows(root);
  ASSERT_NE(rows_text(fresh).find("retagged"), std::string::npos);
  // The changed run's record, and only it, is read again: one JSON file.
  EXPECT_EQ(in_new_process(dir, root), rows_text(fresh) + "1\n1\n0\n");
  EXPECT_EQ(in_new_process(dir, root), rows_text(fresh) + "0\n0\n0\n");
}

}  // namespace
}  // namespace mfsql::testing
