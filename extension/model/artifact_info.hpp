#pragma once
// What <attempt>.data.json, the task datastore's index of one attempt's artifacts, says of each
// artifact (metaflow/datastore/task_datastore.py writes {"objects": {name: sha}, "info": {name:
// {size, type, encoding, serializer_info}}}; metaflow-format.md).
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "model/store.hpp"

namespace mfsql {

struct ArtifactInfo {
  std::optional<int64_t> size;  // bytes of the serialized value, uncompressed
  std::optional<std::string> type_repr, encoding, serializer;
};
using ArtifactInfoIndex = std::map<std::string, ArtifactInfo>;  // by artifact name

// Empty when the attempt has no data.json; throws CorruptRecord when it is not such an index.
ArtifactInfoIndex read_artifact_info(Store& store, const ObjectPath& task, int attempt);

}  // namespace mfsql
