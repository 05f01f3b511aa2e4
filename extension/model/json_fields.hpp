#pragma once
// Decoding of the JSON objects Metaflow's metadata providers write and serve (the local _meta
// files and the metadata service's responses share their keys). Every function throws
// CorruptRecord with the reason when the text is not what Metaflow writes.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/records.hpp"

namespace mfsql {

nlohmann::json parse_json_text(const std::string& text, const std::string& what);

int64_t parse_ts_epoch(const std::string& text);
FlowRecord parse_flow_json(const std::string& text, const std::string& flow);
RunRecord parse_run_json(const std::string& text, const ObjectPath& path);
RunRecord run_from_json(const nlohmann::json& j, const ObjectPath& path);
ArtifactRecord parse_artifact_json(const std::string& text, const ObjectPath& task, int attempt);
ArtifactRecord artifact_from_json(const nlohmann::json& j, const ObjectPath& task);
MetadataEntry parse_metadata_json(const std::string& text, const ObjectPath& task);
MetadataEntry metadata_from_json(const nlohmann::json& j, const ObjectPath& task);
std::optional<int> parse_attempt_done(const std::string& text);

// An id as Metaflow serializes it: a JSON string, or a JSON integer on the service.
std::string id_text(const nlohmann::json& v);
std::vector<std::string> sorted_tags(const nlohmann::json& v);

}  // namespace mfsql
