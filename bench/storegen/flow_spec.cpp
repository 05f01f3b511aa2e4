#include "storegen/flow_spec.hpp"

#include <algorithm>
#include <stdexcept>

namespace mfsql::storegen {

int StepSpec::retry_times() const {
  for (const auto& d : decorators) {
    if (d.name != "retry" || !d.attributes) continue;
    const auto& items = d.attributes->items;
    for (size_t i = 0; i + 1 < items.size(); i += 2)
      if (items[i]->text == "times") return static_cast<int>(items[i + 1]->integer);
  }
  return 0;
}

const StepSpec& FlowSpec::step(const std::string& step_name) const {
  for (const auto& s : steps)
    if (s.name == step_name) return s;
  throw std::out_of_range("flow " + name + " has no step " + step_name);
}

FlowSpec linear_flow(std::string name, std::string script, const std::vector<std::string>& step_names) {
  FlowSpec flow{std::move(name), std::move(script), {}, {}};
  int line = 20;
  for (size_t i = 0; i < step_names.size(); ++i) {
    StepSpec step;
    step.name = step_names[i];
    step.type = i == 0 ? "start" : i + 1 == step_names.size() ? "end" : "linear";
    if (i + 1 < step_names.size()) step.next = {step_names[i + 1]};
    step.line = line;
    line += 9 + static_cast<int>(i % 3) * 4;
    flow.steps.push_back(std::move(step));
  }
  return flow;
}

FlowSpec foreach_flow(std::string name, std::string script, std::string split, std::string foreach_artifact,
                      std::string body, std::string join) {
  FlowSpec flow = linear_flow(std::move(name), std::move(script), {"start", split, body, join, "end"});
  StepSpec& split_step = flow.steps[1];
  split_step.type = "split-foreach";
  split_step.foreach_artifact = std::move(foreach_artifact);
  split_step.matching_join = join;
  flow.steps[3].type = "join";
  return flow;
}

DecoratorSpec retry_decorator(int times, int minutes_between_retries) {
  return {"retry", py_dict({{"times", py_int(times)}, {"minutes_between_retries", py_int(minutes_between_retries)}})};
}

namespace {

PyRef decorator_value(const DecoratorSpec& d) {
  return py_dict({{"name", py_str(d.name)},
                  {"attributes", d.attributes ? d.attributes : py_dict({})},
                  {"statically_defined", py_bool(true)},
                  {"inserted_by", py_none()}});
}

PyRef step_value(const StepSpec& step, const std::string& source_file) {
  std::vector<PyRef> decorators;
  for (const auto& d : step.decorators) decorators.push_back(decorator_value(d));
  std::vector<std::pair<std::string, PyRef>> fields = {
      {"name", py_str(step.name)},
      {"type", py_str(step.type)},
      {"line", py_int(step.line)},
      {"source_file", py_str(source_file)},
      {"doc", py_str("")},
      {"decorators", py_list(std::move(decorators))},
      {"next", py_list(py_str_list(step.next))},
      {"node_info", py_dict({})},
  };
  if (!step.foreach_artifact.empty()) fields.push_back({"foreach_artifact", py_str(step.foreach_artifact)});
  if (!step.matching_join.empty()) fields.push_back({"matching_join", py_str(step.matching_join)});
  return py_dict(std::move(fields));
}

// graph_structure nests the steps between a split and its join: [..., split, [[body...]], join, ...].
PyRef graph_structure(const FlowSpec& flow) {
  std::vector<PyRef> top;
  for (size_t i = 0; i < flow.steps.size(); ++i) {
    const StepSpec& step = flow.steps[i];
    top.push_back(py_str(step.name));
    if (step.type != "split-foreach") continue;
    std::vector<PyRef> branch;
    while (i + 1 < flow.steps.size() && flow.steps[i + 1].name != step.matching_join)
      branch.push_back(py_str(flow.steps[++i].name));
    top.push_back(py_list({py_list(std::move(branch))}));
  }
  return py_list(std::move(top));
}

}  // namespace

PyRef graph_info_value(const FlowSpec& flow, const std::string& source_dir) {
  std::string source_file = source_dir + "/" + flow.script_name;
  std::vector<ParameterSpec> params = flow.parameters;
  std::sort(params.begin(), params.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<PyRef> parameters;
  for (const auto& p : params) parameters.push_back(py_dict({{"name", py_str(p.name)}, {"type", py_str("Parameter")}}));
  std::vector<std::pair<std::string, PyRef>> steps;
  for (const auto& s : flow.steps) steps.push_back({s.name, step_value(s, source_file)});
  return py_dict({
      {"file", py_str(flow.script_name)},
      {"start_step", py_str(flow.start_step().name)},
      {"end_step", py_str(flow.end_step().name)},
      {"parameters", py_list(std::move(parameters))},
      {"constants", py_list({})},
      {"steps", py_dict(std::move(steps))},
      {"graph_structure", graph_structure(flow)},
      {"doc", py_str("")},
      {"decorators", py_list({})},
      {"extensions", py_dict({{"installed", py_dict({})}})},
  });
}

PyRef transition_value(const StepSpec& step) {
  if (step.next.empty()) return py_none();
  PyRef foreach_var = step.foreach_artifact.empty() ? py_none() : py_str(step.foreach_artifact);
  return py_tuple({py_list(py_str_list(step.next)), foreach_var});
}

PyRef foreach_stack_value(const std::vector<ForeachFrame>& frames) {
  PyRef cls = py_global("__main__", "ForeachFrame");
  std::vector<PyRef> items;
  for (const auto& f : frames)
    items.push_back(py_newobj(cls, py_tuple({py_str(f.step), py_str(f.var), py_int(f.num_splits), py_int(f.index),
                                             py_str(f.value)})));
  return py_list(std::move(items));
}

std::string metaflow_stacktrace(const UserError& error, const std::string& source_file, const std::string& step,
                                const std::string& site_packages) {
  const std::string task_py = site_packages + "/metaflow/task.py";
  std::string qualified = error.module == "builtins" ? error.type : error.module + "." + error.type;
  return "Traceback (most recent call last):\n"
         "  File \"" + task_py + "\", line 938, in run_step\n"
         "    self._exec_step_function(step_func, orig_step_func)\n"
         "  File \"" + task_py + "\", line 147, in _exec_step_function\n"
         "    raise raised_exception\n"
         "  File \"" + task_py + "\", line 113, in _exec_step_function\n"
         "    step_function()\n"
         "  File \"" + source_file + "\", line " + std::to_string(error.line) + ", in " + step + "\n"
         "    " + error.code + "\n" +
         qualified + ": " + error.message + "\n";
}

std::vector<std::string> failure_stderr_lines(const std::string& flow, const std::string& step, const UserError& error,
                                              const std::string& source_file, const std::string& site_packages) {
  const std::string mf = site_packages + "/metaflow/";
  auto file = [](const std::string& path, int line, const char* function) {
    return "  File \"" + path + "\", line " + std::to_string(line) + ", in " + function;
  };
  std::vector<std::string> lines = {
      "<flow " + flow + " step " + step + "> failed:",
      "    Internal error",
      "Traceback (most recent call last):",
      file(mf + "cli.py", 739, "main"),
      "    start(auto_envvar_prefix=\"METAFLOW\", obj=state)",
      file(mf + "_vendor/click/core.py", 829, "__call__"),
      "    return self.main(*args, **kwargs)",
      "           ^^^^^^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "_vendor/click/core.py", 782, "main"),
      "    rv = self.invoke(ctx)",
      "         ^^^^^^^^^^^^^^^^",
      file(mf + "cli_components/utils.py", 69, "invoke"),
      "    return _process_result(sub_ctx.command.invoke(sub_ctx))",
      "                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "_vendor/click/core.py", 1066, "invoke"),
      "    return ctx.invoke(self.callback, **ctx.params)",
      "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "_vendor/click/core.py", 610, "invoke"),
      "    return callback(*args, **kwargs)",
      "           ^^^^^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "tracing/__init__.py", 27, "wrapper_func"),
      "    return func(*args, **kwargs)",
      "           ^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "_vendor/click/decorators.py", 21, "new_func"),
      "    return f(get_current_context(), *args, **kwargs)",
      "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
      file(mf + "cli_components/step_cmd.py", 171, "step"),
      "    task.run_step(",
  };
  // The step's own frames are the stored stacktrace minus its header line.
  std::string trace = metaflow_stacktrace(error, source_file, step, site_packages);
  size_t start = trace.find('\n') + 1;
  while (start < trace.size()) {
    size_t end = trace.find('\n', start);
    lines.push_back(trace.substr(start, end - start));
    start = end + 1;
  }
  lines.push_back("");
  lines.push_back("Task failed.");
  return lines;
}

PyRef exception_value(const UserError& error, const std::string& stacktrace) {
  return py_reduce(py_global("metaflow.exception", "MetaflowExceptionWrapper"), py_tuple({py_none()}),
                   py_dict({{"exception", py_str(error.message)},
                            {"type", py_str(error.module + "." + error.type)},
                            {"stacktrace", py_str(stacktrace)}}));
}

}  // namespace mfsql::storegen
