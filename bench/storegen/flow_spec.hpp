#pragma once
// The shape of a flow as Metaflow's graph describes it, and the private artifact values Metaflow
// derives from it (`_graph_info`, `_transition`, `_foreach_stack`, `_exception`), built as the
// same Python objects real blobs contain.
#include <optional>
#include <string>
#include <vector>

#include "storegen/py_value.hpp"

namespace mfsql::storegen {

struct DecoratorSpec {
  std::string name;  // "retry", "catch", ...
  PyRef attributes;  // dict, e.g. {'times': 2, 'minutes_between_retries': 0}
};

struct StepSpec {
  std::string name;
  std::string type;  // "start", "linear", "split-foreach", "join", "end" (graph.py's node types)
  std::vector<std::string> next;
  int line = 0;  // where `def <step>` sits in the flow file
  std::string foreach_artifact;  // split-foreach only
  std::string matching_join;     // split steps only
  std::vector<DecoratorSpec> decorators;
  // A step that loops back to itself through a switch (type split-switch, `next` naming itself)
  // runs this many times in a row, each time as a new task.
  int iterations = 1;

  int retry_times() const;  // @retry(times=) or 0
};

struct ParameterSpec {
  std::string name;
};

struct FlowSpec {
  std::string name;         // class name, e.g. "TrainingFlow"
  std::string script_name;  // "training_flow.py", recorded as metadata `script-name`
  std::vector<ParameterSpec> parameters;
  std::vector<StepSpec> steps;  // in graph order; first is the start step, last the end step

  const StepSpec& step(const std::string& name) const;
  const StepSpec& start_step() const { return steps.front(); }
  const StepSpec& end_step() const { return steps.back(); }
};

// A linear flow start -> steps... -> end, lines spaced like a readable flow file.
FlowSpec linear_flow(std::string name, std::string script, const std::vector<std::string>& step_names);

// start -> <split> (foreach over `foreach_artifact`) -> <body> -> <join> -> end.
FlowSpec foreach_flow(std::string name, std::string script, std::string split, std::string foreach_artifact,
                      std::string body, std::string join);

DecoratorSpec retry_decorator(int times, int minutes_between_retries = 0);

// `_graph_info` as FlowGraph.output_steps() + flow attributes give it; `source_dir` is where the
// flow file lived on the user's machine ("/home/alice/project").
PyRef graph_info_value(const FlowSpec& flow, const std::string& source_dir);

// `_transition`: (["next", ...], foreach_var or None); the end step and failed tasks store None.
PyRef transition_value(const StepSpec& step);

struct ForeachFrame {
  std::string step;  // the step inside the foreach
  std::string var;
  int64_t num_splits = 0;
  int64_t index = 0;
  std::string value;  // str(item), as Metaflow keeps it
};

// `_foreach_stack`: a list of __main__.ForeachFrame namedtuples (NEWOBJ), the class memoized once.
PyRef foreach_stack_value(const std::vector<ForeachFrame>& frames);

struct UserError {
  std::string module = "builtins";
  std::string type = "ValueError";
  std::string message;
  std::string code;  // the raising source line, e.g. raise ValueError("...")
  int line = 0;
};

// The traceback Metaflow stores in MetaflowExceptionWrapper.stacktrace for a step that raised.
std::string metaflow_stacktrace(const UserError& error, const std::string& source_file, const std::string& step,
                                const std::string& site_packages);

// What the local runtime relays to stderr after a step raised: the "failed" banner, the CLI's
// traceback, and the final "Task failed." (which Metaflow writes without a newline).
std::vector<std::string> failure_stderr_lines(const std::string& flow, const std::string& step, const UserError& error,
                                              const std::string& source_file, const std::string& site_packages);

// `_exception` for a failed attempt: MetaflowExceptionWrapper via REDUCE (None,) + BUILD state.
PyRef exception_value(const UserError& error, const std::string& stacktrace);

}  // namespace mfsql::storegen
