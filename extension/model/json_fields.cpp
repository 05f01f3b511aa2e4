#include "model/json_fields.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace mfsql {

using nlohmann::json;

json parse_json_text(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw CorruptRecord(what + " is not valid JSON (truncated or damaged).");
  return j;
}

namespace {

int64_t ts_of(const json& j) {
  auto it = j.find("ts_epoch");
  if (it == j.end() || !it->is_number()) throw CorruptRecord("a record has no numeric ts_epoch");
  if (it->is_number_float()) {
    // A float outside int64's range (or NaN) cannot be converted: undefined behaviour (fuzz_store_json).
    double d = it->get<double>();
    if (!(d > -9.2e18 && d < 9.2e18)) throw CorruptRecord("a record's ts_epoch is out of range");
    return static_cast<int64_t>(d);
  }
  return it->get<int64_t>();
}

std::string string_or(const json& j, const char* key, std::string fallback = {}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

json object_of(const std::string& text, const char* what) {
  json j = parse_json_text(text, what);
  if (!j.is_object()) throw CorruptRecord(std::string(what) + " is not a JSON object.");
  return j;
}

}  // namespace

std::string id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_null()) return {};
  return v.dump();
}

std::vector<std::string> sorted_tags(const json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (auto& t : v)
    if (t.is_string()) out.push_back(t.get<std::string>());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int64_t parse_ts_epoch(const std::string& text) { return ts_of(object_of(text, "an object's _self.json")); }

FlowRecord parse_flow_json(const std::string& text, const std::string& flow) {
  const json j = object_of(text, "a flow's _self.json");
  return {flow, ts_of(j), sorted_tags(j.value("tags", json())), sorted_tags(j.value("system_tags", json()))};
}

RunRecord run_from_json(const json& j, const ObjectPath& path) {
  RunRecord r;
  r.path = path;
  r.ts_ms = ts_of(j);
  r.user_name = string_or(j, "user_name");
  r.tags = sorted_tags(j.value("tags", json()));
  r.system_tags = sorted_tags(j.value("system_tags", json()));
  if (auto it = j.find("last_heartbeat_ts"); it != j.end() && it->is_number()) r.last_heartbeat_s = it->get<int64_t>();
  return r;
}

RunRecord parse_run_json(const std::string& text, const ObjectPath& path) {
  return run_from_json(object_of(text, "a run's _self.json"), path);
}

ArtifactRecord artifact_from_json(const json& j, const ObjectPath& task) {
  ArtifactRecord a;
  a.task = task;
  a.name = string_or(j, "name");
  a.sha = string_or(j, "sha");
  a.content_type = string_or(j, "content_type");
  a.location = string_or(j, "location");
  a.ds_type = string_or(j, "ds_type");
  auto at = j.find("attempt_id");
  a.attempt = at != j.end() && at->is_number_integer() ? at->get<int>() : 0;
  a.ts_ms = ts_of(j);
  if (a.name.empty() || a.sha.empty()) throw CorruptRecord("an artifact record lacks its name or sha");
  return a;
}

ArtifactRecord parse_artifact_json(const std::string& text, const ObjectPath& task, int attempt) {
  auto a = artifact_from_json(object_of(text, "an artifact registration"), task);
  a.attempt = attempt;
  return a;
}

MetadataEntry metadata_from_json(const json& j, const ObjectPath& task) {
  MetadataEntry m;
  m.task = task;
  m.field_name = string_or(j, "field_name");
  m.value = string_or(j, "value");
  if (auto it = j.find("value"); it != j.end() && !it->is_string() && !it->is_null()) m.value_is_json = true;
  m.type = string_or(j, "type");
  m.user_name = string_or(j, "user_name");
  if (auto it = j.find("tags"); it != j.end() && it->is_array())
    for (auto& t : *it)
      if (t.is_string()) m.tags.push_back(t.get<std::string>());
  m.ts_ms = ts_of(j);
  if (auto it = j.find("id"); it != j.end() && it->is_number_integer()) m.id = it->get<int64_t>();
  return m;
}

MetadataEntry parse_metadata_json(const std::string& text, const ObjectPath& task) {
  return metadata_from_json(object_of(text, "a metadata entry"), task);
}

std::optional<int> parse_attempt_done(const std::string& text) {
  auto j = object_of(text, "an attempt-done entry");
  std::string v = string_or(j, "value");
  try {
    size_t used = 0;
    int n = std::stoi(v, &used);
    if (used == v.size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace mfsql
