#include "model/parameters.hpp"

#include <algorithm>
#include <vector>

#include "decode/pickle.hpp"
#include "model/client.hpp"

namespace mfsql::client {

std::optional<std::string> run_parameters_json(Store& store, const ObjectPath& run) {
  auto task = parameters_task(store, run);
  if (!task) return std::nullopt;
  // One listing of the task's artifacts: the graph and every parameter are among them.
  const std::vector<ArtifactRecord> artifacts = store.meta().artifacts(task->path, std::nullopt, std::nullopt);
  const ArtifactRecord* graph_artifact = find_artifact(artifacts, "_graph_info");
  if (!graph_artifact) return std::nullopt;
  JsonValue graph = store.value(*graph_artifact);
  if (!graph) return std::nullopt;
  const std::string what = "The _graph_info artifact of " + run.pathspec();
  std::vector<std::string> names = decoded(what, [&] {
    std::vector<std::string> out;
    for (const auto& p : graph->at("parameters")) out.push_back(p.at("name").get<std::string>());
    return out;
  });
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // Each value keeps the artifacts.value text (Python's float repr, big ints as strings, ...).
  std::string out = "{";
  for (const std::string& name : names) {
    const ArtifactRecord* a = find_artifact(artifacts, name);
    if (!a) continue;  // declared but never stored: not a value the run was given
    std::string value = "null";
    if (Store::is_pickle_encoding(a->content_type))
      if (JsonValue v = store.value(*a))
        value = decoded("The parameter " + name + " of " + run.pathspec(), [&] { return python_json_dumps(*v); });
    out += (out.size() > 1 ? "," : "") + nlohmann::json(name).dump() + ":" + value;
  }
  return out + "}";
}

}  // namespace mfsql::client
