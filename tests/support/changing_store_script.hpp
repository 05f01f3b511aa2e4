#pragma once
// The writer half of the changing store (support/changing_store.hpp, which says what it is for):
// the file operations of ChangingFlow's runs, recorded in the order Metaflow writes them, and what
// each attempt leaves behind.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "storegen/blob_store.hpp"
#include "storegen/flow_spec.hpp"
#include "storegen/pickle_writer.hpp"
#include "storegen/py_json.hpp"
#include "storegen/py_value.hpp"
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

}  // namespace mfsql::testing::changing_store
