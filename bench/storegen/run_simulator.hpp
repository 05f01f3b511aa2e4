#pragma once
// Plays one run of a flow the way Metaflow's local runtime does, on a simulated clock, and writes
// every file it would leave behind: the run and step objects, the `_parameters` task, each task's
// attempts (with @retry), foreach fan-out over 16 worker slots, failures, and resume clones.
// The flow's behaviour (artifacts, printed lines, errors, durations) comes from a StepScript.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storegen/flow_spec.hpp"
#include "storegen/store_writer.hpp"

namespace mfsql::storegen {

struct TaskInput {
  const StepSpec& step;
  int attempt = 0;
  const ForeachFrame* frame = nullptr;  // the innermost foreach frame, inside a foreach
  int num_inputs = 1;                   // a join's fan-in
  Rng& rng;
};

// What the user's step code did in one attempt.
struct StepOutcome {
  std::vector<std::pair<std::string, PyRef>> artifacts;  // self.x = ... (before the error, if any)
  std::vector<std::string> stdout_lines;
  std::vector<std::string> stderr_lines;
  std::optional<UserError> error;  // its `line` counts from the step's `def` line
  double seconds = 1.0;                     // time spent in the step function
  std::vector<std::string> foreach_values;  // split-foreach: str(item) for each item
};

using StepScript = std::function<StepOutcome(const TaskInput&)>;

// One task as it ended, enough to clone it when a later run resumes this one.
struct TaskRecord {
  std::string step;
  std::string task_id;
  bool ok = false;
  std::string data_json;                      // of the final attempt
  std::vector<PersistedArtifact> artifacts;   // of the final attempt, in data.json order
  std::vector<PersistedArtifact> carried;     // user artifacts the next step inherits
};

struct RunRecord {
  std::string run_id;
  bool succeeded = false;
  std::string failed_step;  // empty when the run finished
  int64_t end_us = 0;
  std::vector<TaskRecord> tasks;  // in task-id order
};

struct RunPlan {
  RunIdentity identity;  // identity.run_id must be the µs start time as text
  int64_t start_us = 0;
  std::vector<std::pair<std::string, PyRef>> parameters;  // Parameter name -> value
  StepScript script;
  const RunRecord* resume_of = nullptr;  // `resume`: clone this failed run's finished steps
  int max_workers = 16;                  // the local runtime's default --max-workers
  bool code_package = false;             // METAFLOW_FEAT_ALWAYS_UPLOAD_CODE_PACKAGE: a package, named by every task but start
  uint64_t seed = 0;
};

// Writes the run (not the flow's _self.json or latest_run: those belong to the flow's history).
RunRecord simulate_run(StoreWriter& store, const FlowSpec& flow, const RunPlan& plan, BlobStore& blobs);

}  // namespace mfsql::storegen
