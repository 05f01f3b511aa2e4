#include "model/failed_tasks.hpp"

#include <set>
#include <string_view>

#include "model/client.hpp"

namespace mfsql::client {

using nlohmann::ordered_json;

namespace {

// Metaflow's own step decorators that leave task_exception as the base class has it (returning
// nothing: the exception stands). Anything else, @catch above all, may handle an exception.
bool leaves_exceptions_alone(std::string_view name) {
  // (metaflow/plugins: only catch_decorator.py overrides task_exception.)
  static const std::set<std::string_view> kKnown = {"retry", "timeout", "resources", "environment", "batch", "kubernetes",
                                                     "conda", "pypi",    "card",      "secrets",     "parallel"};
  return kKnown.count(name) > 0;
}

}  // namespace

bool attempt_ok_means_success(const ordered_json& graph, const std::string& step) {
  if (!graph.is_object() || !graph.contains("steps") || !graph["steps"].is_object()) return false;
  const ordered_json& steps = graph["steps"];
  if (!steps.contains(step) || !steps[step].is_object()) return false;
  const ordered_json& node = steps[step];
  if (!node.contains("decorators")) return true;  // none recorded
  if (!node["decorators"].is_array()) return false;
  for (auto& d : node["decorators"]) {
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string()) return false;
    if (!leaves_exceptions_alone(d["name"].get_ref<const std::string&>())) return false;
  }
  return true;
}

std::optional<std::vector<TaskRecord>> tasks_maybe_unsuccessful(Store& store, const ObjectPath& step,
                                                                const std::vector<TaskRecord>& tasks) {
  if (tasks.empty() || !store.meta().filters_tasks_by_metadata()) return std::nullopt;
  const auto graph = graph_info(store, {step.flow, step.run_id, {}, {}});
  if (!graph || !attempt_ok_means_success(*graph, step.step)) return std::nullopt;
  // "True" anywhere in the value: attempt_ok is "True" or "False" (str of a bool).
  const auto succeeded = store.meta().tasks_with_metadata(step, "attempt_ok", "True");
  if (!succeeded) return std::nullopt;
  const std::set<std::string> ok(succeeded->begin(), succeeded->end());
  std::vector<TaskRecord> out;
  for (const TaskRecord& t : tasks)
    if (!ok.count(t.path.task_id)) out.push_back(t);
  return out;
}

}  // namespace mfsql::client
