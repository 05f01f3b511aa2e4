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
#include "support/test_db.hpp"
#include "support/cache_env.hpp"
#include "support/scoped_env.hpp"
#include "support/test_env.hpp"
#include "util/sha1.hpp"

namespace mfsql::testing::changing_store {

namespace fs = std::filesystem;
using namespace mfsql::storegen;


inline const std::string kFlow = "ChangingFlow";

// ---------------------------------------------------------------------------------------------
// File operations, recorded first and applied later (one at a time, or by the writer thread).

struct Op {
  enum Kind { Mkdir, Write, Append, Rename } kind;
  std::string path;
  std::string data;  // Write/Append: bytes; Rename: the new name
};

inline void apply(const Op& op) {
  switch (op.kind) {
    case Op::Mkdir:
      fs::create_directories(op.path);
      return;
    case Op::Write:
    case Op::Append: {
      int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (op.kind == Op::Write ? O_TRUNC : O_APPEND);
      int fd = ::open(op.path.c_str(), flags, 0600);
      if (fd < 0) throw std::runtime_error("cannot open " + op.path);
      size_t done = 0;
      while (done < op.data.size()) {
        ssize_t n = ::write(fd, op.data.data() + done, op.data.size() - done);
        if (n < 0) {
          ::close(fd);
          throw std::runtime_error("cannot write " + op.path);
        }
        done += static_cast<size_t>(n);
      }
      ::close(fd);
      return;
    }
    case Op::Rename:
      if (::rename(op.path.c_str(), op.data.c_str()) != 0) throw std::runtime_error("cannot rename " + op.path);
      return;
  }
}

// What the reader should eventually see of one attempt of one task.
struct AttemptTruth {
  bool ok = true;
  std::map<std::string, std::string> public_values;  // artifact name -> JSON of its value
};
struct TaskTruth {
  std::string run_id, step, task_id;
  std::vector<AttemptTruth> attempts;
  std::string key() const { return run_id + "/" + step + "/" + task_id; }
};

class StoreScript {
 public:
  StoreScript(fs::path metaflow_root, int runs) : root_(std::move(metaflow_root)), runs_(runs) {}

  std::vector<Op> ops;
  std::map<std::string, TaskTruth> tasks;  // by run/step/task
  std::vector<std::string> run_ids;

  // LocalMetadataProvider._dump_json_to_file: NamedTemporaryFile(dir=...) then os.rename.
  void meta_json(const std::string& dir, const std::string& name, const std::string& json) {
    std::string tmp = dir + "/tmp" + random_suffix();
    ops.push_back({Op::Write, tmp, json});
    ops.push_back({Op::Rename, tmp, dir + "/" + name});
  }
  // LocalStorage.save_bytes: open(path, "wb").write(bytes), seen half written in between.
  void data_file(const std::string& path, const std::string& bytes) {
    size_t half = bytes.size() / 2;
    ops.push_back({Op::Write, path, bytes.substr(0, half)});
    if (half < bytes.size()) ops.push_back({Op::Append, path, bytes.substr(half)});
  }
  void mkdir(const std::string& dir) { ops.push_back({Op::Mkdir, dir, {}}); }

  // The CAS: gzip(pickle) named by sha1(pickle), then its sidecar; stored once.
  PersistedArtifact persist(const std::string& name, const PyRef& value) {
    std::string pickle = pickle_dumps(*value);
    PersistedArtifact a{name, sha1_hex(pickle), pickle.size(), python_type_repr(*value)};
    if (blobs_.insert(a.sha).second) {
      std::string dir = root_.string() + "/" + kFlow + "/data/" + a.sha.substr(0, 2);
      mkdir(dir);
      data_file(dir + "/" + a.sha, python_gzip(pickle, 1800000000));
      data_file(dir + "/" + a.sha + "_meta", R"({"cas_raw": false, "cas_version": 1})");
    }
    return a;
  }

  void write_all() {
    const std::string flow_dir = root_.string() + "/" + kFlow;
    FlowSpec flow = linear_flow(kFlow, "changing_flow.py", {"start", "train", "end"});
    flow.steps[1].decorators.push_back(retry_decorator(2));
    graph_info_ = {"_graph_info", graph_info_value(flow, "/home/alice/project")};  // stored by the first attempt
    mkdir(flow_dir + "/_meta");
    meta_json(flow_dir + "/_meta", "_self.json", PyJsonObject().str("flow_id", kFlow).integer("ts_epoch", now_).finish());
    for (int r = 0; r < runs_; ++r) write_run(flow, r);
  }

 private:
  std::string random_suffix() {
    static const char* letters = "abcdefghijklmnopqrstuvwxyz0123456789_";
    std::string s;
    for (int i = 0; i < 8; ++i) s += letters[(seed_ = seed_ * 6364136223846793005ULL + 1442695040888963407ULL) >> 59];
    return s;
  }
  std::vector<std::string> system_tags() const {
    return {"python_version:3.11.2", "user:alice", "metaflow_version:2.19.38", "runtime:dev"};
  }

  std::string self_json(const std::string& run_id, const std::string& step, const std::string& task_id) {
    PyJsonObject o;
    o.str("run_number", run_id);
    if (!step.empty()) o.str("step_name", step);
    if (!task_id.empty()) o.str("task_id", task_id);
    return o.str("flow_id", kFlow).str("user_name", "alice").str_list("tags", {"changing"})
        .str_list("system_tags", system_tags()).integer("ts_epoch", now_).finish();
  }

  void metadata(const std::string& meta_dir, const std::string& run_id, const std::string& step,
                const std::string& task_id, const std::vector<std::tuple<std::string, std::string, std::string>>& fields,
                int attempt) {
    ++now_;
    for (auto& [field, type, value] : fields) {
      std::vector<std::string> tags;
      if (attempt >= 0) tags.push_back("attempt_id:" + std::to_string(attempt));
      meta_json(meta_dir, "sysmeta_" + field + "_" + std::to_string(now_) + ".json",
                PyJsonObject().str("flow_id", kFlow).str("run_number", run_id).str("step_name", step)
                    .str("task_id", task_id).str("field_name", field).str("type", type)
                    .raw("value", py_json_string(value)).str_list("tags", tags).str("user_name", "alice")
                    .integer("ts_epoch", now_).finish());
    }
  }

  // One task from its creation to its last attempt; `fail_attempts` attempts fail first.
  void write_task(const std::string& run_id, const std::string& step, const std::string& task_id, int fail_attempts,
                  int64_t x_base) {
    const std::string dir = root_.string() + "/" + kFlow + "/" + run_id + "/" + step + "/" + task_id;
    const std::string meta = dir + "/_meta";
    TaskTruth& truth = tasks[run_id + "/" + step + "/" + task_id];
    truth = {run_id, step, task_id, {}};
    mkdir(meta);
    ++now_;
    meta_json(meta, "_self.json", self_json(run_id, step, task_id));
    metadata(meta, run_id, step, task_id, {{"runtime", "runtime", "dev"}, {"user", "user", "alice"}}, 0);
    for (int attempt = 0; attempt <= fail_attempts; ++attempt) {
      const bool ok = attempt == fail_attempts;
      const std::string a = std::to_string(attempt);
      if (attempt > 0)  // the task process's own copy (attempt 0's is the runtime's, above)
        metadata(meta, run_id, step, task_id, {{"runtime", "runtime", "dev"}, {"user", "user", "alice"}}, attempt);
      now_ += 2;
      data_file(dir + "/" + a + ".attempt.json", PyJsonObject().real("time", now_ / 1000.0 + 0.0001).finish());
      metadata(meta, run_id, step, task_id,
               {{"attempt", "attempt", a}, {"origin-run-id", "origin-run-id", "None"}, {"ds-type", "ds-type", "local"},
                {"ds-root", "ds-root", root_.string()}},
               attempt);
      data_file(dir + "/" + a + ".task_begin", R"({"code_package_metadata": "", "retry_count": )" + a + "}");
      // The attempt's artifacts, in the order data.json lists them (run_simulator's order).
      AttemptTruth at;
      at.ok = ok;
      const int64_t x = x_base + attempt;
      const std::string label = run_id + ":" + step + ":" + a;
      std::vector<std::pair<std::string, PyRef>> values = {
          {"name", py_str(kFlow)},
          {"_transition", ok && step != "end" ? py_tuple({py_list(py_str_list({"next"})), py_none()}) : py_none()},
          {"_task_ok", py_bool(ok)},
          {"_success", py_bool(ok)},
          graph_info_,
          {"_foreach_stack", py_list({})},
          {"x", py_int(x)},
          {"label", py_str(label)},
          {"_exception", ok ? py_none()
                            : exception_value({"builtins", "ValueError", "attempt " + a + " failed", "raise ValueError()", 30},
                                              "Traceback (most recent call last):\nValueError: attempt " + a + " failed\n")},
          {"_current_step", py_str(step)},
      };
      at.public_values = {{"name", "\"" + kFlow + "\""}, {"x", std::to_string(x)}, {"label", "\"" + label + "\""}};
      truth.attempts.push_back(at);
      std::vector<PersistedArtifact> arts;
      for (auto& [name, v] : values) arts.push_back(persist(name, v));
      now_ += 5;
      metadata(meta, run_id, step, task_id, {{"attempt_ok", "internal_attempt_status", ok ? "True" : "False"}}, attempt);
      data_file(dir + "/" + a + ".task_end", "{}");
      // TaskDataStore.done()
      std::string objects = "{", info = "{";
      for (size_t i = 0; i < arts.size(); ++i) {
        objects += (i ? ", " : "") + py_json_string(arts[i].name) + ": " + py_json_string(arts[i].sha);
        info += (i ? ", " : "") + py_json_string(arts[i].name) + ": " +
                PyJsonObject().integer("size", static_cast<int64_t>(arts[i].size)).str("type", arts[i].type)
                    .str("encoding", "pickle-v4").raw("serializer_info", R"({"source": "metaflow"})").finish();
      }
      data_file(dir + "/" + a + ".data.json", PyJsonObject().str("datastore", "local").str("version", "1.0")
                                                  .integer("attempt", attempt).str("python_version", "3.11.2")
                                                  .raw("objects", objects + "}").raw("info", info + "}").finish());
      data_file(dir + "/" + a + ".DONE.lock", "\"\"");
      metadata(meta, run_id, step, task_id, {{"attempt-done", "attempt-done", a}}, attempt);
      ++now_;
      for (auto& art : arts)
        meta_json(meta, a + "_artifact_" + art.name + ".json",
                  PyJsonObject().str("run_number", run_id).str("step_name", step).str("task_id", task_id)
                      .integer("attempt_id", attempt).str("name", art.name).str("content_type", "pickle-v4")
                      .str("type", "metaflow.artifact").str("sha", art.sha).str("ds_type", "local")
                      .str("location", ":root:" + root_.string()).str("flow_id", kFlow).str("user_name", "alice")
                      .str_list("tags", {"changing"}).str_list("system_tags", system_tags()).integer("ts_epoch", now_)
                      .finish());
      // The local runtime, once the worker exited.
      data_file(dir + "/" + a + ".runtime_stdout.log",
                "[MFLOG|0|2027-01-15T08:00:00.000000Z|runtime|0c3a9f8e-1111-4b4b-9c9c-000000000001]" + label + "\n");
      data_file(dir + "/" + a + ".runtime_stderr.log", "");
      data_file(dir + "/" + a + ".runtime",
                std::string(R"({"return_code": )") + (ok ? "0" : "1") + R"(, "killed": false, "success": )" +
                    (ok ? "true" : "false") + "}");
    }
  }

  void write_run(const FlowSpec& flow, int r) {
    now_ += 1000;
    const std::string run_id = std::to_string(now_ * 1000 + 123);
    run_ids.push_back(run_id);
    const std::string run_dir = root_.string() + "/" + kFlow + "/" + run_id;
    mkdir(run_dir + "/_meta");
    meta_json(run_dir + "/_meta", "_self.json", self_json(run_id, "", ""));
    data_file(root_.string() + "/" + kFlow + "/latest_run", run_id);
    // The _parameters step and task: no user artifacts; then the graph's endpoints.
    for (const std::string& step : {std::string("_parameters")}) {
      mkdir(run_dir + "/" + step + "/_meta");
      meta_json(run_dir + "/" + step + "/_meta", "_self.json", self_json(run_id, step, ""));
    }
    write_task(run_id, "_parameters", "0", 0, 0);
    metadata(run_dir + "/_parameters/0/_meta", run_id, "_parameters", "0",
             {{"start_step", "graph_structure", "start"}, {"end_step", "graph_structure", "end"}}, -1);
    int task_id = 1;
    for (const auto& step : flow.steps) {
      mkdir(run_dir + "/" + step.name + "/_meta");
      ++now_;
      meta_json(run_dir + "/" + step.name + "/_meta", "_self.json", self_json(run_id, step.name, ""));
      int fails = (r == 0 && step.name == "train") ? 2 : 0;
      const int id = task_id++;
      write_task(run_id, step.name, std::to_string(id), fails, 1000 * (r + 1) + 10 * task_id);
    }
  }

  fs::path root_;
  int runs_;
  int64_t now_ = 1800000000000;
  uint64_t seed_ = 42;
  std::set<std::string> blobs_;
  std::pair<std::string, PyRef> graph_info_;
};

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
