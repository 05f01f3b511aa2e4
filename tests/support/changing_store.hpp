#pragma once
// A store that changes while it is read (issue 8, part 4), shared by changing_store_test.cpp and
// changing_store_cache_test.cpp. A copy of one flow of the public
// fixture gets a new flow, ChangingFlow, written file by file in the order Metaflow writes it:
//  * `_meta` JSON (_self.json, sysmeta_*, <a>_artifact_*) as LocalMetadataProvider._save_meta does:
//    a `tmpXXXXXXXX` file in the same folder, then os.rename (a reader can see the stray temp file);
//  * datastore files (<a>.attempt.json, <a>.data.json, <a>.DONE.lock, blobs and their _meta,
//    logs, latest_run) as LocalStorage.save_bytes does: open("wb") and write, NOT atomic, so a
//    reader can see them half written (each is written here in two halves);
//  * a task's attempt in run_step's order: system metadata, attempt.json, attempt metadata,
//    task_begin, blobs, attempt_ok, task_end, then done(): data.json, DONE.lock, attempt-done,
//    the artifact registrations in data.json order; then the runtime's logs and <a>.runtime.
// Run 1's `train` step has @retry(times=2) and fails twice before succeeding, so attempts are added
// to a task that is already listed.
//
// Metaflow itself leaves one window a reader must not show: the artifact registrations are written
// one file at a time AFTER attempt-done, _task_ok before _success. Reading the client's way, a task
// in that window was finished-but-not-successful, and its run `failed` (the end task "failed" on
// its last allowed attempt) until _success landed; model/client.cpp now shows such an attempt as
// not finished yet. While a failed attempt's _exception is not yet registered, `exception` is
// still NULL (0/0/T/NULL below): registration order, not a wrong value.
//
// Two tests over the same list of file operations:
//  * EveryIntermediateState: applies the operations one at a time and queries after each: every
//    state the store passes through is checked, deterministically.
//  * ConcurrentReaderAndWriter: a writer thread applies them while a reader thread (its own
//    connection) queries in a loop; the same checks on whatever it sees, no crash, no error.
// The checks (`Checker`): every task row is one of the states its attempts define (nothing shown:
// 0/0/NULL; a failed attempt: 0/0/T with its ValueError; the successful one: 1/1/T, never 1/0 or
// 0/1), the shown attempt never goes backwards, run status is never `failed` and `completed` only with a successful end task,
// every artifact value shown equals what that attempt stored, counts of runs/steps/tasks never go
// backwards, and once the writer is done every query equals the final state's expected answer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "storegen/blob_store.hpp"
#include "storegen/flow_spec.hpp"
#include "storegen/pickle_writer.hpp"
#include "storegen/py_json.hpp"
#include "storegen/py_value.hpp"
#include "support/changing_store_script.hpp"
#include "support/test_db.hpp"
#include "support/cache_env.hpp"
#include "support/scoped_env.hpp"
#include "support/test_env.hpp"
#include "util/sha1.hpp"

namespace mfsql::testing::changing_store {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// What a reader may see.

inline const std::string kRunsSql =
    "SELECT run_id, status, finished, successful, end_task FROM runs WHERE flow = '" + kFlow + "' ORDER BY run_id";
inline const std::string kTasksSql =
    "SELECT run_id, step, task_id, attempt, finished, successful, finished_at, exception FROM tasks WHERE flow = '" +
    kFlow + "' ORDER BY run_id, step, task_id";
inline const std::string kArtifactsSql = "SELECT run_id, step, task_id, attempt, name, value FROM artifacts WHERE flow = '" +
                                  kFlow + "' ORDER BY run_id, step, task_id, name";
inline const std::string kStepsSql = "SELECT run_id, step FROM steps WHERE flow = '" + kFlow + "' ORDER BY run_id, step";
inline std::string cell(const Cell& c) { return c ? *c : "NULL"; }

class Checker {
 public:
  explicit Checker(const StoreScript& script) : script_(script) {}

  // Checks one round of queries; failures name the round (and the operation, when stepped).
  void check_round(TestDb& db, const std::string& where) {
    Rows runs = timed(db, kRunsSql, 0), tasks = timed(db, kTasksSql, 1);
    check_runs(runs, where);
    check_tasks(tasks, where);
    check_artifacts(timed(db, kArtifactsSql, 2), where);
    Rows steps = timed(db, kStepsSql, 3);
    check_steps(steps, where);
    check_counts({static_cast<int64_t>(runs.size()), static_cast<int64_t>(steps.size()), static_cast<int64_t>(tasks.size())},
                 where);
  }
  double ms[4] = {0, 0, 0, 0};
  Rows timed(TestDb& db, const std::string& sql, int i) {
    auto start = std::chrono::steady_clock::now();
    Rows rows = db.query(sql);
    ms[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return rows;
  }

  void check_final(TestDb& db) {
    auto runs = db.query(kRunsSql);
    ASSERT_EQ(runs.size(), script_.run_ids.size());
    for (size_t i = 0; i < runs.size(); ++i) {
      EXPECT_EQ(cell(runs[i][0]), script_.run_ids[i]);
      EXPECT_EQ(cell(runs[i][1]), "completed");
      EXPECT_EQ(cell(runs[i][2]), "1");
      EXPECT_EQ(cell(runs[i][3]), "1");
      EXPECT_EQ(cell(runs[i][4]), kFlow + "/" + script_.run_ids[i] + "/end/3");
    }
    auto tasks = db.query(kTasksSql);
    size_t expected_tasks = 0;
    for (auto& [key, t] : script_.tasks)
      if (t.step != "_parameters") ++expected_tasks;
    EXPECT_EQ(tasks.size(), expected_tasks);
    for (auto& row : tasks) {
      const TaskTruth& t = script_.tasks.at(cell(row[0]) + "/" + cell(row[1]) + "/" + cell(row[2]));
      EXPECT_EQ(cell(row[3]), std::to_string(t.attempts.size() - 1)) << t.key();
      EXPECT_EQ(cell(row[4]), "1") << t.key();
      EXPECT_EQ(cell(row[5]), "1") << t.key();
      EXPECT_TRUE(row[6]) << t.key();
      EXPECT_FALSE(row[7]) << t.key();
    }
    auto artifacts = db.query(kArtifactsSql);
    EXPECT_EQ(artifacts.size(), expected_tasks * 3);  // name, x, label
    for (auto& row : artifacts) {
      const TaskTruth& t = script_.tasks.at(cell(row[0]) + "/" + cell(row[1]) + "/" + cell(row[2]));
      EXPECT_EQ(cell(row[3]), std::to_string(t.attempts.size() - 1));
      EXPECT_EQ(cell(row[5]), t.attempts.back().public_values.at(cell(row[4]))) << t.key() << " " << cell(row[4]);
    }
    EXPECT_EQ(db.query(kStepsSql).size(), script_.run_ids.size() * 3);
  }

  int rounds_with_partial_tasks = 0;  // rounds where some task was listed but not finished

 private:
  // Runs, steps and tasks of the flow: what was listed once stays listed.
  void check_counts(const std::vector<int64_t>& counts, const std::string& where) {
    static const char* what[] = {"runs", "steps", "tasks"};
    for (int i = 0; i < 3; ++i) {
      int64_t n = counts[i];
      EXPECT_GE(n, counts_[i]) << "the number of " << what[i] << " went backwards " << where;
      counts_[i] = std::max(counts_[i], n);
    }
  }

  void check_runs(const Rows& rows, const std::string& where) {
    for (auto& row : rows) {
      std::string run_id = cell(row[0]), status = cell(row[1]);
      EXPECT_TRUE(status == "running" || status == "completed") << run_id << " is " << status << " " << where;
      bool completed = status == "completed";
      EXPECT_EQ(cell(row[2]), completed ? "1" : "0") << run_id << " finished, status " << status << " " << where;
      EXPECT_EQ(cell(row[3]), completed ? "1" : "0") << run_id << " successful, status " << status << " " << where;
      if (completed) {
        EXPECT_EQ(cell(row[4]), kFlow + "/" + run_id + "/end/3") << where;
      }
      if (completed_runs_.count(run_id)) {
        EXPECT_TRUE(completed) << run_id << " was completed before " << where;
      }
      if (completed) completed_runs_.insert(run_id);
    }
  }

  void check_tasks(const Rows& rows, const std::string& where) {
    bool partial = false;
    for (auto& row : rows) {
      const std::string key = cell(row[0]) + "/" + cell(row[1]) + "/" + cell(row[2]);
      auto it = script_.tasks.find(key);
      ASSERT_NE(it, script_.tasks.end()) << "unknown task " << key << " " << where;
      const TaskTruth& t = it->second;
      ASSERT_TRUE(row[3]) << key << " has no attempt " << where;
      int attempt = std::stoi(*row[3]);
      EXPECT_GE(attempt, 0);
      EXPECT_LT(attempt, static_cast<int>(t.attempts.size())) << key << " " << where;
      EXPECT_GE(attempt, attempts_[key]) << key << ": attempt went backwards " << where;
      attempts_[key] = std::max(attempts_[key], attempt);
      const std::string state = cell(row[4]) + "/" + cell(row[5]) + "/" + (row[6] ? "T" : "NULL") + "/" +
                                (row[7] ? "exception" : "NULL");
      // Nothing done yet (or the shown attempt's registrations not yet started): 0/0/NULL.
      // A failed attempt: 0/0/T with its exception (or, while _exception is still being
      // registered, without). The successful attempt: 1/1/T, no exception. Never 1/0 or 0/1.
      bool any_failed = t.attempts.size() > 1;
      bool allowed = state == "0/0/NULL/NULL" || state == "1/1/T/NULL" ||
                     (any_failed && (state == "0/0/T/exception" || state == "0/0/T/NULL"));
      EXPECT_TRUE(allowed) << key << " shows finished/successful/finished_at/exception = " << state << " " << where;
      if (row[7]) {
        auto e = nlohmann::json::parse(*row[7], nullptr, false);
        EXPECT_TRUE(e.is_object() && e.value("type", "") == "builtins.ValueError" &&
                    e.value("message", "").find("failed") != std::string::npos)
            << key << " exception " << *row[7] << " " << where;
      }
      if (state != "1/1/T/NULL") partial = true;
    }
    if (partial) ++rounds_with_partial_tasks;
  }

  void check_artifacts(const Rows& rows, const std::string& where) {
    for (auto& row : rows) {
      const std::string key = cell(row[0]) + "/" + cell(row[1]) + "/" + cell(row[2]);
      auto it = script_.tasks.find(key);
      ASSERT_NE(it, script_.tasks.end()) << key;
      ASSERT_TRUE(row[3]) << key;
      size_t attempt = std::stoul(*row[3]);
      ASSERT_LT(attempt, it->second.attempts.size()) << key << " " << where;
      const auto& values = it->second.attempts[attempt].public_values;
      auto v = values.find(cell(row[4]));
      ASSERT_NE(v, values.end()) << key << " lists an artifact it never had: " << cell(row[4]) << " " << where;
      EXPECT_EQ(cell(row[5]), v->second) << key << " attempt " << attempt << " " << cell(row[4]) << " " << where;
    }
  }

  void check_steps(const Rows& rows, const std::string& where) {
    for (auto& row : rows) {
      std::string step = cell(row[1]);
      EXPECT_TRUE(step == "start" || step == "train" || step == "end") << step << " " << where;
    }
  }

  const StoreScript& script_;
  int64_t counts_[3] = {0, 0, 0};
  std::set<std::string> completed_runs_;
  std::map<std::string, int> attempts_;
};

class ChangingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A copy of one flow of the public fixture (the whole fixture is 12,000 files): the new flow is
    // written beside a real one, and the reader lists both.
    store_ = tmp_.path() / "store";
    fs::create_directories(store_ / ".metaflow");
    fs::copy(local_fixture() / ".metaflow" / "RetryCatchFlow", store_ / ".metaflow" / "RetryCatchFlow",
             fs::copy_options::recursive);
    for (auto& e : fs::recursive_directory_iterator(store_))
      fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
    env_.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", store_.string());
    env_.set("METAFLOW_DEFAULT_METADATA", "local");
    env_.set("METAFLOW_DEFAULT_DATASTORE", "local");
    env_.set("METAFLOW_PROFILE", std::nullopt);
    env_.set("METAFLOW_HOME", (tmp_.path() / "no-config").string());
  }
  // Records the operations that write `runs` runs (the first one with the retried task).
  void script(int runs) {
    script_ = std::make_unique<StoreScript>(store_ / ".metaflow", runs);
    script_->write_all();
  }

  TempDir tmp_;
  ScopedEnv env_;
  fs::path store_;
  std::unique_ptr<StoreScript> script_;
};

inline std::string describe(const Op& op, size_t i) {
  static const char* kinds[] = {"mkdir", "write", "append", "rename"};
  return "after operation " + std::to_string(i) + " (" + kinds[op.kind] + " " + op.path + ")";
}

}  // namespace mfsql::testing::changing_store
