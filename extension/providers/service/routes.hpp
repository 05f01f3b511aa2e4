#pragma once
// The metadata service's GET routes (metaflow-service-api.md), each path component percent-encoded
// so that no id can reach another route.
#include <string>
#include <vector>

#include "model/records.hpp"
#include "net/http_client.hpp"

namespace mfsql::service {

inline std::string esc(const std::string& component) { return net::url_escape(component); }

inline std::string flows_path() { return "/flows"; }
inline std::string flow_path(const std::string& flow) { return "/flows/" + esc(flow); }
inline std::string runs_path(const std::string& flow) { return flow_path(flow) + "/runs"; }
inline std::string run_path(const ObjectPath& p) { return runs_path(p.flow) + "/" + esc(p.run_id); }
inline std::string steps_path(const ObjectPath& run) { return run_path(run) + "/steps"; }
inline std::string step_path(const ObjectPath& p) { return steps_path(p) + "/" + esc(p.step); }
inline std::string tasks_path(const ObjectPath& step) { return step_path(step) + "/tasks"; }
inline std::string task_path(const ObjectPath& p) { return tasks_path(p) + "/" + esc(p.task_id); }

inline std::string run_artifacts_path(const ObjectPath& run) { return run_path(run) + "/artifacts"; }
inline std::string run_metadata_path(const ObjectPath& run) { return run_path(run) + "/metadata"; }
inline std::string step_artifacts_path(const ObjectPath& step) { return step_path(step) + "/artifacts"; }
inline std::string task_artifacts_path(const ObjectPath& task) { return task_path(task) + "/artifacts"; }
inline std::string task_artifact_path(const ObjectPath& task, const std::string& name) {
  return task_artifacts_path(task) + "/" + esc(name);
}
inline std::string attempt_artifacts_path(const ObjectPath& task, int attempt) {
  return task_path(task) + "/attempt/" + std::to_string(attempt) + "/artifacts";
}
inline std::string task_metadata_path(const ObjectPath& task) { return task_path(task) + "/metadata"; }
inline std::string filtered_tasks_path(const ObjectPath& step, const std::string& field, const std::string& pattern) {
  return step_path(step) + "/filtered_tasks?metadata_field_name=" + esc(field) + "&pattern=" + esc(pattern);
}

// A bulk artifact listing kept only for these artifact names (sorted, "name" among them): the
// cache's key for it, `path#only=a,b`. The fragment is never sent (fetch strips it).
inline std::string only_names_key(const std::string& path, const std::vector<std::string>& names) {
  std::string out = path + "#only=";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  return out;
}

// "step/task": how bulk listings index their rows.
inline std::string task_key(const std::string& step, const std::string& task_id) { return step + "/" + task_id; }

}  // namespace mfsql::service
