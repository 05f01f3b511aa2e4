// ServiceMetadata's bulk listings (a run's or step's artifacts or metadata, read row by row into
// their indexes) and the artifact and metadata questions answered from them or from a task's routes.
#include <algorithm>
#include <set>
#include <unordered_map>

#include "model/json_fields.hpp"
#include "providers/service/listing_rows.hpp"
#include "providers/service/routes.hpp"
#include "providers/service/service_ids.hpp"
#include "providers/service/service_metadata.hpp"

namespace mfsql {

using nlohmann::json;
using service::DocPtr;
using service::id_field;
using service::run_key;
using service::step_key;
using service::task_key;
using service::valid;

namespace {

constexpr size_t kMetadataWindow = 32;  // tasks whose metadata one batch fetches

std::vector<ArtifactRecord> only_named(std::vector<ArtifactRecord> rows, const std::optional<std::string>& name) {
  if (!name) return rows;
  std::vector<ArtifactRecord> out;
  for (auto& r : rows)
    if (r.name == *name) out.push_back(std::move(r));
  return out;
}

bool has_name(const std::vector<ArtifactRecord>& rows, const std::string& name) {
  return std::any_of(rows.begin(), rows.end(), [&](const ArtifactRecord& a) { return a.name == name; });
}

}  // namespace

namespace {

void add_artifact_row(service::ArtifactIndex& index, const json& j, const ObjectPath& run) {
  if (!j.is_object()) return;
  ObjectPath task{run.flow, run.run_id, id_field(j, "step_name"), id_field(j, "task_id")};
  try {
    index[task_key(task.step, task.task_id)].push_back(artifact_from_json(j, task));
  } catch (const CorruptRecord&) {
  }
}

// The routes send the latest attempt only; make sure of it. `latest` (by task key), when given,
// is each task's latest attempt over all its rows, kept or not.
void keep_latest_attempts(service::ArtifactIndex& index, const std::unordered_map<std::string, int>* latest = nullptr) {
  for (auto& [key, rows] : index) {
    int newest = 0;
    if (latest) newest = latest->at(key);
    else for (auto& a : rows) newest = std::max(newest, a.attempt);
    std::erase_if(rows, [&](const ArtifactRecord& a) { return a.attempt != newest; });
  }
}

// Memory a record holds: the struct, the text of its strings past the small-string buffer, and
// (roughly) its share of the index's node and allocation overheads.
size_t text_bytes(const std::string& s) { return s.size() > 15 ? s.capacity() + 16 : 0; }
size_t path_bytes(const ObjectPath& p) {
  return text_bytes(p.flow) + text_bytes(p.run_id) + text_bytes(p.step) + text_bytes(p.task_id);
}
size_t record_bytes(const ArtifactRecord& a) {
  return sizeof a + 32 + path_bytes(a.task) + text_bytes(a.name) + text_bytes(a.sha) + text_bytes(a.content_type) +
         text_bytes(a.location) + text_bytes(a.ds_type);
}
size_t record_bytes(const MetadataEntry& e) {
  size_t n = sizeof e + 32 + path_bytes(e.task) + text_bytes(e.field_name) + text_bytes(e.value) + text_bytes(e.type) +
             text_bytes(e.user_name);
  for (auto& t : e.tags) n += sizeof t + text_bytes(t);
  return n;
}
template <typename Index>
size_t index_bytes(const Index& index) {
  size_t n = sizeof index + index.bucket_count() * sizeof(void*);
  for (auto& [key, rows] : index) {
    n += 64 + key.size() + rows.capacity() * sizeof(rows[0]) - rows.size() * sizeof(rows[0]);
    for (auto& r : rows) n += record_bytes(r);
  }
  return n;
}

void add_metadata_row(service::MetadataIndex& index, const json& j, const ObjectPath& run) {
  if (!j.is_object()) return;
  ObjectPath task{run.flow, run.run_id, id_field(j, "step_name"), id_field(j, "task_id")};
  try {
    index[task_key(task.step, task.task_id)].push_back(metadata_from_json(j, task));
  } catch (const CorruptRecord&) {
  }
}

}  // namespace

std::shared_ptr<const service::ArtifactIndex> ServiceMetadata::artifact_index(const DocPtr& doc, const ObjectPath& run) {
  std::lock_guard lock(doc->index_mu);
  if (doc->artifact_index) return doc->artifact_index;
  auto index = std::make_shared<service::ArtifactIndex>();
  for (auto& j : array_of(doc)) add_artifact_row(*index, j, run);
  keep_latest_attempts(*index);
  doc->artifact_index = index;
  return index;
}

std::shared_ptr<const service::MetadataIndex> ServiceMetadata::metadata_index(const DocPtr& doc, const ObjectPath& run) {
  std::lock_guard lock(doc->index_mu);
  if (doc->metadata_index) return doc->metadata_index;
  auto index = std::make_shared<service::MetadataIndex>();
  note_metadata(array_of(doc));
  for (auto& j : array_of(doc)) add_metadata_row(*index, j, run);
  doc->metadata_index = index;
  return index;
}

bool ServiceMetadata::index_while_reading(service::CachedDoc& doc, const ObjectPath& run, bool artifacts,
                                          const std::string& text,
                                          const std::function<bool(const std::string&)>& keep,
                                          const std::set<std::string>* only_names) {
  if (artifacts) {
    auto index = std::make_shared<service::ArtifactIndex>();
    std::unordered_map<std::string, int> latest;  // per task, over every row (only_names)
    auto row = [&](const json& j) {
      if (!only_names) return add_artifact_row(*index, j, run);
      if (!j.is_object()) return;
      ObjectPath task{run.flow, run.run_id, id_field(j, "step_name"), id_field(j, "task_id")};
      try {  // every row that add_artifact_row would index counts for its task's latest attempt
        ArtifactRecord a = artifact_from_json(j, task);
        const std::string key = task_key(task.step, task.task_id);
        int& newest = latest.try_emplace(key, a.attempt).first->second;
        newest = std::max(newest, a.attempt);
        auto& rows = (*index)[key];  // every task seen has its entry, kept rows or not
        if (only_names->count(a.name)) rows.push_back(std::move(a));
      } catch (const CorruptRecord&) {
      }
    };
    if (!service::for_each_row(text, keep, row)) return false;
    keep_latest_attempts(*index, only_names ? &latest : nullptr);
    doc.held = index_bytes(*index);
    doc.artifact_index = index;
  } else {
    auto index = std::make_shared<service::MetadataIndex>();
    if (!service::for_each_row(text, keep, [&](const json& j) {
          note_metadata(json::array({j}));
          add_metadata_row(*index, j, run);
        }))
      return false;
    doc.held = index_bytes(*index);
    doc.metadata_index = index;
  }
  doc.json = std::make_shared<const json>(json::array());  // the rows live in the index only
  return true;
}

// ---- artifacts and metadata ---------------------------------------------------------------------

std::vector<std::string> ServiceMetadata::announced_names(const std::string& scope) {
  if (!memo_) return {};
  auto hit = memo_->find("\x01svc " + base_ + " artifact names " + scope);
  if (!hit || !*hit || (*hit)->empty()) return {};
  std::vector<std::string> names{"name"};  // the shown-attempt rule reads it
  for (size_t start = 0; start <= (*hit)->size();) {
    size_t comma = (*hit)->find(',', start);
    if (comma == std::string::npos) comma = (*hit)->size();
    names.push_back((*hit)->substr(start, comma - start));
    start = comma + 1;
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::optional<std::vector<ArtifactRecord>> ServiceMetadata::latest_artifacts_at_hand(
    const ObjectPath& task, bool may_fetch, const std::vector<std::string>* wanted) {
  const ObjectPath run = task.run_path();
  const ObjectPath step{task.flow, task.run_id, task.step, {}};
  auto from_index = [&](const DocPtr& doc) {
    auto index = artifact_index(doc, run);
    auto it = index->find(task_key(task.step, task.task_id));
    return it == index->end() ? std::vector<ArtifactRecord>{} : it->second;
  };
  // A listing kept for some names answers for a task only when it holds every wanted name and
  // the task's shown attempt is plain (its `name` artifact is there); else the exact routes.
  auto from_partial = [&](const DocPtr& doc) -> std::optional<std::vector<ArtifactRecord>> {
    auto index = artifact_index(doc, run);
    auto it = index->find(task_key(task.step, task.task_id));
    if (it == index->end()) return std::vector<ArtifactRecord>{};  // the task registered none
    if (!has_name(it->second, "name")) return std::nullopt;
    return it->second;
  };
  if (DocPtr d = cached(service::run_artifacts_path(run))) return from_index(d);
  if (DocPtr d = cached(service::step_artifacts_path(step))) return from_index(d);
  if (DocPtr d = cached(service::task_artifacts_path(task))) return parse_artifacts(d, task);
  // Names announced for the run or the step, when they cover what is wanted.
  auto partial_path = [&](const std::string& listing, const std::string& scope) -> std::optional<std::string> {
    if (!wanted) return std::nullopt;
    auto names = announced_names(scope);
    for (auto& w : *wanted)
      if (!std::binary_search(names.begin(), names.end(), w)) return std::nullopt;
    return service::only_names_key(listing, names);
  };
  const auto run_partial = partial_path(service::run_artifacts_path(run), run_key(run));
  const auto step_partial = partial_path(service::step_artifacts_path(step), step_key(step));
  if (run_partial)
    if (DocPtr d = cached(*run_partial)) return from_partial(d);
  if (step_partial)
    if (DocPtr d = cached(*step_partial)) return from_partial(d);
  if (!may_fetch) return std::nullopt;
  // The statement reads the artifacts of many tasks of this run, or of this step (read_ahead).
  if (marked("artifacts " + run_key(run))) {
    if (run_partial) return from_partial(fetch(*run_partial));
    return from_index(fetch(service::run_artifacts_path(run)));
  }
  if (marked("artifacts " + step_key(step))) {
    if (step_partial) return from_partial(fetch(*step_partial));
    return from_index(fetch(service::step_artifacts_path(step)));
  }
  return std::nullopt;
}

std::vector<ArtifactRecord> ServiceMetadata::artifacts(const ObjectPath& task, std::optional<int> attempt,
                                                       const std::optional<std::string>& name) {
  if (!valid(task, 4) || (name && !safe_component(*name)) || (attempt && *attempt < 0)) return {};
  const std::vector<std::string> wanted = name ? std::vector<std::string>{*name} : std::vector<std::string>{};
  if (auto latest = latest_artifacts_at_hand(task, !attempt, name && !attempt ? &wanted : nullptr)) {
    if (!attempt) {
      // The name route's rule: the newest attempt that has the flow-name artifact `name`. A list
      // holds the newest attempt with any artifact; they differ only when that one lacks `name`.
      if (!name || latest->empty() || has_name(*latest, "name")) return only_named(std::move(*latest), name);
    } else if (latest->empty()) {
      return {};  // no attempt of this task registered any artifact
    } else if (latest->front().attempt == *attempt) {
      return only_named(std::move(*latest), name);
    }
  }
  if (attempt) return only_named(parse_artifacts(fetch(service::attempt_artifacts_path(task, *attempt)), task), name);
  if (name) {
    DocPtr doc = fetch(service::task_artifact_path(task, *name));
    if (doc->status == 404 || !doc->json->is_object()) return {};
    return {artifact_from_json(*doc->json, task)};
  }
  return parse_artifacts(fetch(service::task_artifacts_path(task)), task);
}

std::vector<ArtifactRecord> ServiceMetadata::artifacts_named(const ObjectPath& task, std::optional<int> attempt,
                                                             const std::vector<std::string>& names) {
  if (!attempt && valid(task, 4))
    if (auto latest = latest_artifacts_at_hand(task, true, &names)) {  // what the whole list, filtered, holds
      std::erase_if(*latest, [&](const ArtifactRecord& a) { return std::find(names.begin(), names.end(), a.name) == names.end(); });
      return std::move(*latest);
    }
  return MetadataProvider::artifacts_named(task, attempt, names);
}

std::vector<MetadataEntry> ServiceMetadata::metadata(const ObjectPath& task) {
  if (!valid(task, 4)) return {};
  const ObjectPath run = task.run_path();
  const ObjectPath step{task.flow, task.run_id, task.step, {}};
  auto from_index = [&](const DocPtr& doc) {
    auto index = metadata_index(doc, run);
    auto it = index->find(task_key(task.step, task.task_id));
    return it == index->end() ? std::vector<MetadataEntry>{} : it->second;
  };
  if (DocPtr d = cached(service::run_metadata_path(run))) return from_index(d);
  const std::string own = service::task_metadata_path(task);
  if (DocPtr d = cached(own)) return parse_metadata(d, task);
  if (marked("metadata " + run_key(run))) return from_index(fetch(service::run_metadata_path(run)));
  if (marked("metadata " + step_key(step))) {
    // The statement reads the metadata of this step's tasks: fetch the metadata of this task and of the next ones in the
    // listing at once (a window, so that a LIMIT does not pay for a huge step).
    if (DocPtr list = peek(service::tasks_path(step))) {
      auto tasks = parse_tasks(list, step);
      auto self = std::find_if(tasks.begin(), tasks.end(), [&](const TaskRecord& t) { return t.path == task; });
      std::vector<std::string> paths;
      for (auto it = self; it != tasks.end() && paths.size() < kMetadataWindow; ++it)
        if (auto p = service::task_metadata_path(it->path); !peek(p)) paths.push_back(p);
      if (paths.size() > 1) fetch_many(paths);
    }
  }
  return parse_metadata(fetch(own), task);
}

}  // namespace mfsql
