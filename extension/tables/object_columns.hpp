#pragma once
// Columns every object table shares (issue 14, part 1): the client's path_components.
#include <string>
#include <vector>

#include "model/client.hpp"
#include "model/records.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

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

// A task attempt's outcome columns (tasks, task_attempts), from the artifacts of the attempt shown:
// `arts` holds client::kOutcomeArtifacts, plus _exception when the statement reads `exception`.
struct OutcomeColumns {
  int finished, successful, finished_at, exception;
};
inline void put_task_outcome(Store& store, const std::vector<ArtifactRecord>& arts, const engine::Plan& plan,
                             OutcomeColumns col, engine::Row& row) {
  using engine::Value;
  auto outcome = client::task_outcome(store, arts);
  row[col.finished] = outcome.finished ? Value::boolean(*outcome.finished) : Value::null();
  row[col.successful] = outcome.successful ? Value::boolean(*outcome.successful) : Value::null();
  row[col.finished_at] = outcome.finished_at_ms ? Value::of(iso_utc_ms(*outcome.finished_at_ms)) : Value::null();
  if (plan.uses(col.exception))
    row[col.exception] = guarded([&] { return Value::json_maybe(client::task_exception_json(store, arts)); });
}

}  // namespace mfsql::tables
