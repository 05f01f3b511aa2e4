#pragma once
// runs.parameters: the Parameters a run was given, as one JSON object (issue 14, part 8).
#include <optional>
#include <string>

#include "model/store.hpp"

namespace mfsql::client {

// {name: value} for every parameter the run's flow graph declares (`_graph_info["parameters"]`,
// a list of {"name", "type"}), each value the `_parameters` task's artifact of that name rendered
// exactly as artifacts.value renders it (null past the value cap or for a non-pickle encoding).
// The task's other artifacts (`name`, the flow's name) are not parameters and are left out.
// nullopt when the run has no `_parameters` task or it has no `_graph_info`; throws CorruptRecord
// when `_graph_info` does not decode to that shape.
std::optional<std::string> run_parameters_json(Store& store, const ObjectPath& run);

}  // namespace mfsql::client
