#include "storegen/run_simulator.hpp"

#include <algorithm>
#include <functional>
#include <queue>
#include <stdexcept>

#include "storegen/code_package.hpp"
#include "storegen/py_json.hpp"

namespace mfsql::storegen {

namespace {

int64_t ms(int64_t us) { return us / 1000; }

// Private artifacts every task persists, split into the two groups data.json lists around the
// user's artifacts (the order seen in real stores).
const std::vector<std::string> kLeadingPrivate = {"_transition", "_task_ok", "_success", "_graph_info",
                                                  "_foreach_stack", "_configs_processed"};
const std::vector<std::string> kTrailingPrivate = {"_iteration_stack", "_foreach_var", "_foreach_num_splits",
                                                   "_exception", "_current_step"};

class RunSimulation {
 public:
  RunSimulation(StoreWriter& store, const FlowSpec& flow, const RunPlan& plan, BlobStore& blobs)
      : store_(store), flow_(flow), plan_(plan), blobs_(blobs), run_(plan.identity),
        rng_(Rng::derive(plan.seed, flow.name + "/" + plan.identity.run_id)) {
    source_dir_ = "/home/" + run_.user + "/project";
    site_packages_ = "/home/" + run_.user + "/.local/lib/python3.11/site-packages";
    origin_run_ = plan.resume_of ? plan.resume_of->run_id : "None";
  }

  RunRecord run() {
    now_ = plan_.start_us;
    store_.write_run_self(run_, ms(now_) + 2);
    graph_info_ = blobs_.persist("_graph_info", *graph_info_value(flow_, source_dir_));
    if (plan_.code_package)
      code_package_ = write_code_package(blobs_, store_.env(), flow_.name, flow_.script_name, flow_source(), run_.user);
    parameters_task();
    std::vector<PersistedArtifact> carried;
    size_t first = 0;
    if (plan_.resume_of) first = clone_finished_steps(carried);
    record_.succeeded = true;
    for (size_t i = first; i < flow_.steps.size() && record_.succeeded; ++i) {
      const StepSpec& step = flow_.steps[i];
      if (step.type == "split-foreach") {
        run_foreach(i, carried);
        i += 2;  // the body and the join ran inside run_foreach
      } else {
        now_ += 2000 + rng_.between(0, 3000);
        store_.write_step_self(run_, step.name, ms(now_));
        for (int k = 0; k < std::max(1, step.iterations) && record_.succeeded; ++k) {
          auto result = run_task(step, carried, {}, 1, now_ + rng_.between(300, 1200));
          carried = result.carried;
          now_ = result.exit_us;
        }
      }
    }
    record_.end_us = now_;
    record_.run_id = run_.run_id;
    return std::move(record_);
  }

 private:
  struct TaskResult {
    std::vector<PersistedArtifact> carried;
    int64_t exit_us = 0;
  };

  std::string next_task_id() { return std::to_string(next_task_id_++); }

  PersistedArtifact persist(const std::string& name, const PyRef& value) { return blobs_.persist(name, *value); }

  // The flow file the package carries: its class and steps.
  std::string flow_source() const {
    std::string out = "from metaflow import FlowSpec, step\n\n\nclass " + flow_.name + "(FlowSpec):\n";
    for (const StepSpec& s : flow_.steps) out += "    @step\n    def " + s.name + "(self):\n        pass\n\n";
    return out + "\nif __name__ == \"__main__\":\n    " + flow_.name + "()\n";
  }

  // Parameters and the flow name, which every task carries; pickled once per run.
  const std::vector<PersistedArtifact>& parameter_artifacts() {
    if (parameter_artifacts_) return *parameter_artifacts_;
    std::vector<PersistedArtifact> out;
    for (const auto& [name, value] : plan_.parameters) out.push_back(persist(name, value));
    out.push_back(persist("name", py_str(flow_.name)));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name > b.name; });
    return *(parameter_artifacts_ = std::move(out));
  }

  void parameters_task() {
    now_ += 4000 + rng_.between(0, 2000);
    store_.write_step_self(run_, "_parameters", ms(now_));
    TaskWriter task(store_, run_, "_parameters", next_task_id());
    now_ += 1000 + rng_.between(0, 1500);
    task.write_self(ms(now_));
    now_ += 1000;
    task.write_system_metadata(0, flow_.script_name, ms(now_));
    now_ += 2000 + rng_.between(0, 800);
    task.write_attempt_started(0, now_, static_cast<int>(rng_.between(0, 9)));
    std::vector<PersistedArtifact> artifacts = parameter_artifacts();
    artifacts.push_back(persist("_transition", py_none()));
    artifacts.push_back(persist("_task_ok", py_bool(true)));
    artifacts.push_back(persist("_success", py_bool(true)));
    artifacts.push_back(graph_info_);
    artifacts.push_back(persist("_foreach_stack", py_list({})));
    artifacts.push_back(persist("_configs_processed", py_bool(true)));
    now_ += 4000 + rng_.between(0, 3000);
    std::string data = task.write_done(0, artifacts, ms(now_), ms(now_) + 1);
    if (plan_.resume_of) {
      task.write_file_in_task("_resume_done", "true");
    } else {  // persist_constants: only fresh runs record the graph's endpoints
      now_ += 3000 + rng_.between(0, 2000);
      task.write_metadata({{"start_step", "graph_structure", py_json_string(flow_.start_step().name), {}},
                           {"end_step", "graph_structure", py_json_string(flow_.end_step().name), {}}},
                          ms(now_));
    }
    record_.tasks.push_back({"_parameters", task.task_id(), true, data, artifacts, {}});
  }

  // The data.json of one attempt: parameters and name, the leading private artifacts, the user's
  // artifacts, the trailing private ones, then _foreach_values inside a foreach.
  std::vector<PersistedArtifact> task_artifacts(const StepSpec& step, const std::vector<PersistedArtifact>& user,
                                                const std::vector<ForeachFrame>& frames, const StepOutcome& outcome,
                                                int num_splits, const std::string& stacktrace) {
    const bool ok = !outcome.error;
    std::vector<PersistedArtifact> out = parameter_artifacts();
    std::vector<PersistedArtifact> leading = {
        persist("_transition", ok ? transition_value(step) : py_none()),
        persist("_task_ok", py_bool(ok)),
        persist("_success", py_bool(ok)),
        graph_info_,
        persist("_foreach_stack", foreach_stack_value(frames)),
        persist("_configs_processed", py_bool(true)),
    };
    out.insert(out.end(), leading.begin(), leading.end());
    out.insert(out.end(), user.begin(), user.end());
    bool splits = ok && step.type == "split-foreach";
    std::vector<PersistedArtifact> trailing = {
        persist("_iteration_stack", py_list({})),
        persist("_foreach_var", splits ? py_str(step.foreach_artifact) : py_none()),
        persist("_foreach_num_splits", splits ? py_int(num_splits) : py_none()),
        persist("_exception", ok ? py_none() : exception_value(*outcome.error, stacktrace)),
        persist("_current_step", py_str(step.name)),
    };
    out.insert(out.end(), trailing.begin(), trailing.end());
    if (foreach_values_) out.push_back(*foreach_values_);
    return out;
  }

  // The user's artifacts after the attempt: inherited ones, overwritten or extended by this one.
  std::vector<PersistedArtifact> merge_user(const std::vector<PersistedArtifact>& inherited, const StepOutcome& outcome) {
    std::vector<PersistedArtifact> merged = inherited;
    for (const auto& [name, value] : outcome.artifacts) {
      PersistedArtifact a = persist(name, value);
      auto it = std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m.name == name; });
      if (it != merged.end()) *it = std::move(a);
      else merged.push_back(std::move(a));
    }
    std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.name > b.name; });
    return merged;
  }

  // One task from launch (task id, _self.json, runtime-side system metadata) through its attempts.
  TaskResult run_task(const StepSpec& step, const std::vector<PersistedArtifact>& inherited,
                      const std::vector<ForeachFrame>& frames, int num_inputs, int64_t launch_us) {
    TaskWriter task(store_, run_, step.name, next_task_id());
    task.write_self(ms(launch_us));
    task.write_system_metadata(0, flow_.script_name, ms(launch_us) + rng_.between(0, 1));
    // The package is uploaded while the run starts: tasks launched after the upload name it.
    if (!code_package_.empty() && step.name != flow_.start_step().name)
      task.write_metadata({TaskWriter::string_field("code-package", code_package_, 0)}, ms(launch_us) + 2);
    Rng task_rng = Rng::derive(plan_.seed, run_.run_id + "/" + step.name, std::stoull(task.task_id()));
    int64_t clock = launch_us + 2000;
    for (int attempt = 0;; ++attempt) {
      int64_t start = clock + rng_.between(700000, 950000);  // a fresh Python process imports Metaflow
      task.write_system_metadata(attempt, flow_.script_name, ms(start));
      task.write_attempt_started(attempt, start + 1500, static_cast<int>(rng_.between(0, 9)));
      std::vector<MetadataField> started = {
          TaskWriter::string_field("attempt", std::to_string(attempt), attempt),
          TaskWriter::string_field("origin-run-id", origin_run_, attempt),
          TaskWriter::string_field("ds-type", "local", attempt),
          TaskWriter::string_field("ds-root", store_.env().ds_root, attempt)};
      if (!frames.empty()) {
        std::vector<std::string> stack;
        std::string path;
        for (const auto& f : frames) {
          stack.push_back(f.var + "=" + f.value);
          path += (path.empty() ? "" : ",") + f.step + ":" + std::to_string(f.index);
        }
        started.push_back({"foreach-stack", "foreach-stack", py_json_string_list(stack), {"attempt_id:" + std::to_string(attempt)}});
        started.push_back(TaskWriter::string_field("foreach-execution-path", path, attempt));
      }
      task.write_metadata(started, ms(start) + 3);
      task.write_task_begin(attempt);

      TaskInput input{step, attempt, frames.empty() ? nullptr : &frames.back(), num_inputs, task_rng};
      StepOutcome outcome = plan_.script(input);
      if (outcome.error) outcome.error->line += step.line;
      if (step.type == "split-foreach" && !outcome.error) {
        std::vector<std::string> values = outcome.foreach_values;
        foreach_values_ = persist("_foreach_values", py_list(py_str_list(values)));
        pending_splits_ = std::move(values);
      }
      int64_t code_start = start + 5000;
      int64_t code_end = code_start + static_cast<int64_t>(outcome.seconds * 1e6);
      std::vector<LogLine> out, err;
      auto spread = [&](const std::vector<std::string>& lines, std::vector<LogLine>& into) {
        for (size_t i = 0; i < lines.size(); ++i)
          into.push_back({code_start + 300 + (code_end - code_start) * static_cast<int64_t>(i) /
                                                 static_cast<int64_t>(lines.size() + 1) + rng_.between(0, 400),
                          lines[i]});
      };
      spread(outcome.stdout_lines, out);
      spread(outcome.stderr_lines, err);
      std::string source_file = source_dir_ + "/" + flow_.script_name;
      std::string stacktrace;
      if (outcome.error) {
        stacktrace = metaflow_stacktrace(*outcome.error, source_file, step.name, site_packages_);
        int64_t at = code_end + 2000;
        for (auto& line : failure_stderr_lines(run_.flow, step.name, *outcome.error, source_file, site_packages_))
          err.push_back({at += rng_.between(60, 400), std::move(line)});
        err.back().newline = false;
      }
      std::vector<PersistedArtifact> user = merge_user(step.type == "join" ? std::vector<PersistedArtifact>{} : inherited, outcome);
      int splits = static_cast<int>(pending_splits_.size());
      auto artifacts = task_artifacts(step, user, frames, outcome, splits, stacktrace);
      int64_t ok_ms = ms(code_end) + 1;
      task.write_metadata({TaskWriter::field("attempt_ok", "internal_attempt_status", outcome.error ? "False" : "True", attempt)},
                          ok_ms);
      int64_t done_ms = ok_ms + rng_.between(1, 2);
      std::string data = task.write_done(attempt, artifacts, done_ms, done_ms + rng_.between(0, 1));
      task.write_task_end(attempt);
      task.write_logs(attempt, out, err, task_rng);
      bool ok = !outcome.error;
      task.write_runtime_status(attempt, ok ? 0 : 1, false, ok);
      clock = std::max(done_ms * 1000, err.empty() ? 0 : err.back().at_us) + rng_.between(120000, 260000);
      if (ok || attempt >= step.retry_times()) {
        record_.tasks.push_back({step.name, task.task_id(), ok, data, artifacts, user});
        if (!ok) {
          record_.succeeded = false;
          record_.failed_step = step.name;
        }
        return {user, clock};
      }
    }
  }

  // split -> N body tasks on `max_workers` slots -> join.
  void run_foreach(size_t split_index, std::vector<PersistedArtifact>& carried) {
    const StepSpec& split = flow_.steps[split_index];
    const StepSpec& body = flow_.steps.at(split_index + 1);
    const StepSpec& join = flow_.steps.at(split_index + 2);
    now_ += 2000 + rng_.between(0, 3000);
    store_.write_step_self(run_, split.name, ms(now_));
    auto split_result = run_task(split, carried, {}, 1, now_ + rng_.between(300, 1200));
    now_ = split_result.exit_us;
    if (!record_.succeeded) return;
    std::vector<std::string> values = std::move(pending_splits_);
    const int64_t n = static_cast<int64_t>(values.size());
    std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> free_at;
    for (int w = 0; w < plan_.max_workers; ++w) free_at.push(now_);
    int64_t launch = now_, last_exit = now_;
    for (int64_t i = 0; i < n && record_.succeeded; ++i) {
      launch = std::max(launch + rng_.between(2000, 40000), free_at.top());
      free_at.pop();
      if (i == 0) store_.write_step_self(run_, body.name, ms(launch) - 1);
      ForeachFrame frame{body.name, split.foreach_artifact, n, i, values[static_cast<size_t>(i)]};
      auto result = run_task(body, split_result.carried, {frame}, 1, launch);
      for (int k = 1; k < body.iterations && record_.succeeded; ++k)  // a body that loops back to itself
        result = run_task(body, result.carried, {frame}, 1, result.exit_us + rng_.between(2000, 5000));
      free_at.push(result.exit_us);
      last_exit = std::max(last_exit, result.exit_us);
    }
    now_ = last_exit;
    foreach_values_.reset();
    if (!record_.succeeded) return;
    now_ += 2000 + rng_.between(0, 3000);
    store_.write_step_self(run_, join.name, ms(now_));
    auto join_result = run_task(join, {}, {}, static_cast<int>(n), now_ + rng_.between(300, 1200));
    carried = join_result.carried;
    now_ = join_result.exit_us;
  }

  // `resume`: the origin's finished steps before its failed one are cloned (new task ids, the
  // same data.json), in parallel and within milliseconds; returns the first step to execute.
  size_t clone_finished_steps(std::vector<PersistedArtifact>& carried) {
    const RunRecord& origin = *plan_.resume_of;
    size_t failed = 0;
    while (failed < flow_.steps.size() && flow_.steps[failed].name != origin.failed_step) ++failed;
    if (failed == flow_.steps.size()) throw std::invalid_argument("resume needs a run that failed");
    now_ += 8000;
    int64_t base = now_;
    for (size_t i = 0; i < failed; ++i) {
      const StepSpec& step = flow_.steps[i];
      if (step.type == "split-foreach") throw std::invalid_argument("resume across a foreach is not modelled");
      for (const auto& t : origin.tasks) {
        if (t.step != step.name) continue;
        int64_t at = base + static_cast<int64_t>(i) * 1700 + rng_.between(0, 900);
        store_.write_step_self(run_, step.name, ms(at));
        TaskWriter task(store_, run_, step.name, next_task_id());
        task.write_self(ms(at) + 1);
        task.write_system_metadata(0, flow_.script_name, ms(at) + 3);
        task.write_attempt_started(0, at + 8500, static_cast<int>(rng_.between(0, 9)));
        task.write_system_metadata(0, flow_.script_name, ms(at) + 10);
        task.write_metadata({TaskWriter::string_field("origin-run-id", origin.run_id, 0),
                             TaskWriter::string_field("origin-task-id", t.task_id, 0),
                             TaskWriter::string_field("attempt", "0", 0),
                             TaskWriter::field("attempt_ok", "internal_attempt_status", "True", 0)},
                            ms(at) + 14);
        int64_t done = ms(at) + 19;
        task.write_cloned_done(0, t.data_json, t.artifacts, done, done + 3);
        record_.tasks.push_back({t.step, task.task_id(), true, t.data_json, t.artifacts, t.carried});
        carried = t.carried;
        now_ = std::max(now_, (done + 3) * 1000);
      }
    }
    now_ += 40000;
    return failed;
  }

  StoreWriter& store_;
  const FlowSpec& flow_;
  const RunPlan& plan_;
  BlobStore& blobs_;
  const RunIdentity& run_;
  Rng rng_;
  std::string source_dir_, site_packages_, origin_run_;
  int64_t now_ = 0;
  int next_task_id_ = 0;
  PersistedArtifact graph_info_;
  std::string code_package_;  // the code-package metadata value; empty without a package
  std::optional<PersistedArtifact> foreach_values_;  // set inside a foreach
  std::optional<std::vector<PersistedArtifact>> parameter_artifacts_;
  std::vector<std::string> pending_splits_;
  RunRecord record_;
};

}  // namespace

RunRecord simulate_run(StoreWriter& store, const FlowSpec& flow, const RunPlan& plan, BlobStore& blobs) {
  return RunSimulation(store, flow, plan, blobs).run();
}

}  // namespace mfsql::storegen
