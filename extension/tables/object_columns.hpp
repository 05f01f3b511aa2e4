#pragma once
// Columns every object table shares (issue 14, part 1): the client's path_components.
#include <string>
#include <vector>

#include "model/records.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {

// The client's path_components: the pathspec split on '/', as a JSON array ("Flow/Run/Step/Task"
// as deep as the path goes, then the artifact's name when given).
inline std::string path_components_json(const ObjectPath& path, const std::string* artifact_name = nullptr) {
  std::vector<std::string> parts{path.flow};
  for (const std::string* part : {&path.run_id, &path.step, &path.task_id}) {
    if (part->empty()) break;
    parts.push_back(*part);
  }
  if (artifact_name) parts.push_back(*artifact_name);
  return json_array(parts);
}

}  // namespace mfsql::tables
