#include "model/artifact_info.hpp"

#include <nlohmann/json.hpp>

#include "datastore/cas.hpp"
#include "util/error.hpp"

namespace mfsql {

ArtifactInfoIndex read_artifact_info(Store& store, const ObjectPath& task, int attempt) {
  ArtifactInfoIndex out;
  auto stored = store.data().get(task_file_key(task, attempt, "data.json"), false);
  if (!stored) return out;
  auto doc = nlohmann::json::parse(stored->bytes, nullptr, false);
  if (!doc.is_object() || !doc.contains("info") || !doc["info"].is_object())
    throw CorruptRecord("The file " + task_file_key(task, attempt, "data.json") + " is not an artifact index.");
  for (auto& [name, info] : doc["info"].items()) {
    if (!info.is_object()) continue;
    ArtifactInfo e;
    if (info.contains("size") && info["size"].is_number_integer()) e.size = info["size"].get<int64_t>();
    if (info.contains("type") && info["type"].is_string()) e.type_repr = info["type"].get<std::string>();
    if (info.contains("encoding") && info["encoding"].is_string()) e.encoding = info["encoding"].get<std::string>();
    if (info.contains("serializer_info") && info["serializer_info"].is_object()) {
      const auto& si = info["serializer_info"];
      if (si.contains("source") && si["source"].is_string()) e.serializer = si["source"].get<std::string>();
    }
    out.emplace(name, std::move(e));
  }
  return out;
}

}  // namespace mfsql
