#include "model/task_history.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "datastore/cas.hpp"

namespace mfsql::client {
namespace {

// A resume of a resume clones a clone; the chain is followed this far (a cycle would be a
// corrupt store, not a deeper history).
constexpr int kMaxCloneDepth = 16;

MetadataDict metadata_dict_following_clones(Store& store, const ObjectPath& task, int depth) {
  MetadataDict own = metadata_dict(store.meta().metadata(task));
  auto origin_task = own.find("origin-task-id");
  if (origin_task == own.end() || origin_task->second.text.empty() || depth >= kMaxCloneDepth) return own;
  // core.py builds Task("<flow>/<origin-run-id>/<step>/<origin-task-id>"); a missing origin-run-id
  // leaves the clone's own run id in place.
  ObjectPath origin = task;
  origin.task_id = origin_task->second.text;
  if (auto origin_run = own.find("origin-run-id"); origin_run != own.end()) origin.run_id = origin_run->second.text;
  if (origin == task) return own;
  MetadataDict merged = own;
  // Only names the clone lacks are added, so their order against its own entries never matters.
  for (auto& [name, value] : metadata_dict_following_clones(store, origin, depth + 1)) merged.emplace(name, value);
  return merged;
}

std::string read_or_empty(Store& store, const std::string& key) {
  auto stored = store.data().get(key, false);
  return stored ? std::move(stored->bytes) : std::string();
}

}  // namespace

MetadataDict task_metadata_dict(Store& store, const ObjectPath& task) {
  return metadata_dict_following_clones(store, task, 0);
}

std::string metadata_dict_json(const MetadataDict& dict) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (auto& [name, value] : dict) {
    if (value.is_json) {
      auto parsed = nlohmann::ordered_json::parse(value.text, nullptr, false);
      if (!parsed.is_discarded()) {
        out[name] = std::move(parsed);
        continue;
      }
    }
    out[name] = value.text;
  }
  return out.dump();
}

namespace {

// A pre-mflog log (`log_location_<stream>` metadata): the attempt it names, or nullopt when the
// task has no such log. {"ds_type", "location", "attempt"}: the client reads the attempt named there.
std::optional<int> legacy_log_attempt(const MetadataDict& dict, std::optional<int> attempt, const std::string& stream) {
  auto legacy = dict.find("log_location_" + stream);
  if (legacy == dict.end() || legacy->second.text.empty()) return std::nullopt;
  int chosen = attempt ? *attempt : current_attempt(dict);
  auto info = nlohmann::json::parse(legacy->second.text, nullptr, false);
  if (!attempt && info.is_object() && info.contains("attempt")) {
    const auto& a = info["attempt"];
    if (a.is_number_integer()) chosen = a.get<int>();
    else if (a.is_string()) chosen = std::atoi(a.get<std::string>().c_str());
  }
  return chosen;
}

}  // namespace

std::optional<int64_t> log_size(Store& store, const ObjectPath& task, const MetadataDict& dict, std::optional<int> attempt,
                                const std::string& stream) {
  if (auto legacy = legacy_log_attempt(dict, attempt, stream)) {
    auto bytes = store.data().size(task_file_key(task, *legacy, stream + ".log"));
    return bytes ? std::optional<int64_t>(static_cast<int64_t>(*bytes)) : std::nullopt;
  }
  if (!dict.count("ds-type") || !dict.count("ds-root")) return 0;
  const int at = attempt ? *attempt : current_attempt(dict);
  int64_t total = 0;
  for (const char* source : kLogSources)
    total += static_cast<int64_t>(store.data().size(task_file_key(task, at, std::string(source) + "_" + stream + ".log")).value_or(0));
  return total;
}

TaskLog load_task_log(Store& store, const ObjectPath& task, const MetadataDict& dict, std::optional<int> attempt,
                      const std::string& stream) {
  TaskLog log;
  log.attempt = attempt ? *attempt : current_attempt(dict);
  if (auto legacy = legacy_log_attempt(dict, attempt, stream)) {
    log.kind = TaskLog::Kind::Legacy;
    log.attempt = *legacy;
    if (auto stored = store.data().get(task_file_key(task, log.attempt, stream + ".log"), false))
      log.legacy_text = std::move(stored->bytes);
    return log;
  }
  if (!dict.count("ds-type") || !dict.count("ds-root")) return log;
  // The files are read from the store being read, not from the recorded ds-root: stores move.
  log.kind = TaskLog::Kind::Mflog;
  std::vector<std::vector<mflog::Line>> files;
  for (const char* source : kLogSources)
    files.push_back(mflog::parse(read_or_empty(store, task_file_key(task, log.attempt, std::string(source) + "_" + stream + ".log"))));
  log.lines = mflog::merge(std::move(files));
  return log;
}

std::optional<std::string> log_text(const TaskLog& log) {
  switch (log.kind) {
    case TaskLog::Kind::NoDatastore:
      return std::string("\n");  // loglines() yields (None, ""), and _load_log appends "\n"
    case TaskLog::Kind::Legacy:
      if (!log.legacy_text) return std::nullopt;
      return mflog::valid_utf8(*log.legacy_text);
    case TaskLog::Kind::Mflog:
      break;
  }
  std::string text;
  for (auto& line : log.lines) {
    text += line.message;
    text += '\n';
  }
  return mflog::valid_utf8(text);
}

std::optional<std::string> origin_pathspec(const ObjectPath& task, const MetadataDict& dict) {
  auto origin_task = dict.find("origin-task-id");
  auto origin_run = dict.find("origin-run-id");
  if (origin_task == dict.end() || origin_run == dict.end()) return std::nullopt;
  return task.flow + "/" + origin_run->second.text + "/" + task.step + "/" + origin_task->second.text;
}

std::vector<ArtifactRecord> attempt_artifacts(Store& store, const ObjectPath& task, int attempt,
                                              const std::vector<std::string>& names) {
  auto shown = store.meta().artifacts_named(task, std::nullopt, names);
  if (!shown.empty() && shown.front().attempt == attempt) return shown;
  return store.meta().artifacts_named(task, attempt, names);
}

std::optional<int64_t> attempt_started_at(const std::vector<MetadataEntry>& entries, int attempt) {
  std::optional<int64_t> first;
  const std::string wanted = std::to_string(attempt);
  for (auto& e : entries)
    if (e.field_name == "attempt" && e.value == wanted && e.ts_ms >= 0) first = std::min(first.value_or(e.ts_ms), e.ts_ms);
  return first;
}

std::optional<std::string> runtime_name(const RunRecord& run) {
  if (run.damaged) return std::nullopt;
  for (const auto* tags : {&run.system_tags, &run.tags})
    for (const std::string& t : *tags)
      if (t.rfind("runtime:", 0) == 0) return t.substr(8, t.find(':', 8) == std::string::npos ? std::string::npos : t.find(':', 8) - 8);
  return std::nullopt;
}

}  // namespace mfsql::client
