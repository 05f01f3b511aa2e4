#include "providers/service/service_metadata.hpp"

#include <algorithm>

#include "datastore/datastore.hpp"
#include "model/json_fields.hpp"
#include "providers/service/routes.hpp"
#include "util/error.hpp"

namespace mfsql {

using nlohmann::json;
using service::DocPtr;
using service::task_key;

namespace {

constexpr size_t kMetadataWindow = 32;  // tasks whose metadata one batch fetches

int64_t ts_or_unknown(const json& j) {
  auto it = j.find("ts_epoch");
  if (it == j.end() || !it->is_number()) return kUnknownTime;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

std::optional<int64_t> heartbeat(const json& j) {
  auto it = j.find("last_heartbeat_ts");
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

// A flow as the client builds it: its tags are the flow object's own (null from Metaflow's service).
FlowRecord flow_of(const json& j, const std::string& name) {
  return FlowRecord{name, ts_or_unknown(j), sorted_tags(j.value("tags", json())), sorted_tags(j.value("system_tags", json()))};
}

// A field that is an id: run_number and task_id come as integers or strings.
std::string id_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? std::string() : id_text(*it);
}

// Every given part of the path can be one URL path segment (and so one route's parameter).
bool valid(const ObjectPath& p, int depth) {
  const std::string* parts[] = {&p.flow, &p.run_id, &p.step, &p.task_id};
  for (int i = 0; i < depth; ++i)
    if (!safe_component(*parts[i])) return false;
  return true;
}

std::string run_key(const ObjectPath& p) { return p.flow + "/" + p.run_id; }
std::string step_key(const ObjectPath& p) { return p.flow + "/" + p.run_id + "/" + p.step; }

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

// ---- parsing ------------------------------------------------------------------------------------

RunRecord ServiceMetadata::parse_run(const json& j, const ObjectPath& path) {
  RunRecord r;
  try {
    r = run_from_json(j, path);
  } catch (const CorruptRecord&) {  // listed with unknown time rather than failing the query
    r.path = path;
    r.ts_ms = kUnknownTime;
    r.tags = sorted_tags(j.value("tags", json()));
    r.system_tags = sorted_tags(j.value("system_tags", json()));
    r.last_heartbeat_s = heartbeat(j);
  }
  note_run(r);
  return r;
}

std::vector<RunRecord> ServiceMetadata::parse_runs(const DocPtr& doc, const std::string& flow) {
  std::vector<RunRecord> out;
  for (auto& j : array_of(doc)) {
    ObjectPath path{flow, j.is_object() ? id_field(j, "run_number") : "", {}, {}};
    if (!path.run_id.empty()) out.push_back(parse_run(j, path));
  }
  return out;
}

std::vector<StepRecord> ServiceMetadata::parse_steps(const DocPtr& doc, const ObjectPath& run) {
  std::vector<StepRecord> out;
  for (auto& j : array_of(doc)) {
    if (!j.is_object()) continue;
    std::string name = id_field(j, "step_name");
    if (!name.empty()) out.push_back(StepRecord{{run.flow, run.run_id, name, {}}, ts_or_unknown(j)});
  }
  return out;
}

std::vector<TaskRecord> ServiceMetadata::parse_tasks(const DocPtr& doc, const ObjectPath& step) {
  std::vector<TaskRecord> out;
  for (auto& j : array_of(doc)) {
    if (!j.is_object()) continue;
    std::string id = id_field(j, "task_id");
    if (!id.empty()) out.push_back(TaskRecord{{step.flow, step.run_id, step.step, id}, ts_or_unknown(j), heartbeat(j)});
  }
  return out;
}

std::vector<ArtifactRecord> ServiceMetadata::parse_artifacts(const DocPtr& doc, const ObjectPath& task) {
  std::vector<ArtifactRecord> out;
  for (auto& j : array_of(doc)) {
    try {
      if (j.is_object()) out.push_back(artifact_from_json(j, task));
    } catch (const CorruptRecord&) {  // a row without name, sha or time cannot be shown
    }
  }
  return out;
}

std::vector<MetadataEntry> ServiceMetadata::parse_metadata(const DocPtr& doc, const ObjectPath& task) {
  const json& rows = array_of(doc);
  note_metadata(rows);
  std::vector<MetadataEntry> out;
  for (auto& j : rows) {
    try {
      if (j.is_object()) out.push_back(metadata_from_json(j, task));
    } catch (const CorruptRecord&) {  // metadata_dict simply lacks it
    }
  }
  return out;
}

std::shared_ptr<const service::ArtifactIndex> ServiceMetadata::artifact_index(const DocPtr& doc, const ObjectPath& run) {
  std::lock_guard lock(doc->index_mu);
  if (doc->artifact_index) return doc->artifact_index;
  auto index = std::make_shared<service::ArtifactIndex>();
  for (auto& j : array_of(doc)) {
    if (!j.is_object()) continue;
    ObjectPath task{run.flow, run.run_id, id_field(j, "step_name"), id_field(j, "task_id")};
    try {
      (*index)[task_key(task.step, task.task_id)].push_back(artifact_from_json(j, task));
    } catch (const CorruptRecord&) {
    }
  }
  for (auto& [key, rows] : *index) {  // the routes send the latest attempt only; make sure of it
    int latest = 0;
    for (auto& a : rows) latest = std::max(latest, a.attempt);
    std::erase_if(rows, [&](const ArtifactRecord& a) { return a.attempt != latest; });
  }
  doc->artifact_index = index;
  return index;
}

std::shared_ptr<const service::MetadataIndex> ServiceMetadata::metadata_index(const DocPtr& doc, const ObjectPath& run) {
  std::lock_guard lock(doc->index_mu);
  if (doc->metadata_index) return doc->metadata_index;
  auto index = std::make_shared<service::MetadataIndex>();
  note_metadata(array_of(doc));
  for (auto& j : array_of(doc)) {
    if (!j.is_object()) continue;
    ObjectPath task{run.flow, run.run_id, id_field(j, "step_name"), id_field(j, "task_id")};
    try {
      (*index)[task_key(task.step, task.task_id)].push_back(metadata_from_json(j, task));
    } catch (const CorruptRecord&) {
    }
  }
  doc->metadata_index = index;
  return index;
}

// ---- objects ------------------------------------------------------------------------------------

std::vector<FlowRecord> ServiceMetadata::flows() {
  std::vector<FlowRecord> out;
  for (auto& j : array_of(fetch(service::flows_path()))) {
    std::string name = j.is_object() ? id_field(j, "flow_id") : "";
    if (!name.empty()) out.push_back(flow_of(j, name));
  }
  return out;
}

std::optional<FlowRecord> ServiceMetadata::flow(const std::string& name) {
  if (!safe_component(name)) return std::nullopt;
  if (DocPtr list = cached(service::flows_path())) {
    for (auto& j : array_of(list))
      if (j.is_object() && id_field(j, "flow_id") == name) return flow_of(j, name);
    return std::nullopt;
  }
  DocPtr doc = fetch(service::flow_path(name));
  if (doc->status == 404 || !doc->json->is_object()) return std::nullopt;
  return flow_of(*doc->json, name);
}

std::vector<RunRecord> ServiceMetadata::runs(const std::string& flow) {
  if (!safe_component(flow)) return {};
  return parse_runs(fetch(service::runs_path(flow)), flow);
}

std::optional<RunRecord> ServiceMetadata::run(const ObjectPath& path) {
  if (!valid(path, 2)) return std::nullopt;
  if (DocPtr list = cached(service::runs_path(path.flow)))
    for (auto& j : array_of(list))
      if (j.is_object() && id_field(j, "run_number") == path.run_id) return parse_run(j, path);
  // Not in the list: the id may be the other form (run number vs. a scheduler's run id).
  DocPtr doc = fetch(service::run_path(path));
  if (doc->status == 404 || !doc->json->is_object()) return std::nullopt;
  return parse_run(*doc->json, path);
}

std::vector<StepRecord> ServiceMetadata::steps(const ObjectPath& run) {
  if (!valid(run, 2)) return {};
  return parse_steps(fetch(service::steps_path(run)), run);
}

std::optional<StepRecord> ServiceMetadata::step(const ObjectPath& path) {
  if (!valid(path, 3)) return std::nullopt;
  if (DocPtr list = cached(service::steps_path(path))) {
    for (auto& j : array_of(list))
      if (j.is_object() && id_field(j, "step_name") == path.step) return StepRecord{path, ts_or_unknown(j)};
    return std::nullopt;
  }
  DocPtr doc = fetch(service::step_path(path));
  if (doc->status == 404 || !doc->json->is_object()) return std::nullopt;
  return StepRecord{path, ts_or_unknown(*doc->json)};
}

void ServiceMetadata::prefetch_step_tasks(const ObjectPath& run) {
  DocPtr steps_doc = peek(service::steps_path(run));
  if (!steps_doc) return;
  std::vector<std::string> paths;
  for (auto& s : parse_steps(steps_doc, run))  // private steps (_parameters) are not walked
    if (auto p = service::tasks_path(s.path); s.path.step[0] != '_' && !peek(p)) paths.push_back(p);
  if (paths.size() > 1) fetch_many(paths);
}

std::vector<TaskRecord> ServiceMetadata::tasks(const ObjectPath& step) {
  if (!valid(step, 3)) return {};
  const std::string path = service::tasks_path(step);
  if (marked("task lists " + run_key(step)) && !peek(path)) prefetch_step_tasks(step.run_path());
  return parse_tasks(fetch(path), step);
}

std::optional<TaskRecord> ServiceMetadata::task(const ObjectPath& path) {
  if (!valid(path, 4)) return std::nullopt;
  const ObjectPath step{path.flow, path.run_id, path.step, {}};
  // The _parameters step has one task whose id callers guess: its list answers as cheaply.
  DocPtr list = path.step == "_parameters" ? fetch(service::tasks_path(step)) : cached(service::tasks_path(step));
  if (list) {
    for (auto& j : array_of(list))
      if (j.is_object() && id_field(j, "task_id") == path.task_id) return TaskRecord{path, ts_or_unknown(j), heartbeat(j)};
    if (path.step == "_parameters") return std::nullopt;
  }
  DocPtr doc = fetch(service::task_path(path));
  if (doc->status == 404 || !doc->json->is_object()) return std::nullopt;
  return TaskRecord{path, ts_or_unknown(*doc->json), heartbeat(*doc->json)};
}

// ---- artifacts and metadata ---------------------------------------------------------------------

std::optional<std::vector<ArtifactRecord>> ServiceMetadata::latest_artifacts_at_hand(const ObjectPath& task,
                                                                                     bool may_fetch) {
  const ObjectPath run = task.run_path();
  const ObjectPath step{task.flow, task.run_id, task.step, {}};
  auto from_index = [&](const DocPtr& doc) {
    auto index = artifact_index(doc, run);
    auto it = index->find(task_key(task.step, task.task_id));
    return it == index->end() ? std::vector<ArtifactRecord>{} : it->second;
  };
  if (DocPtr d = cached(service::run_artifacts_path(run))) return from_index(d);
  if (DocPtr d = cached(service::step_artifacts_path(step))) return from_index(d);
  if (DocPtr d = cached(service::task_artifacts_path(task))) return parse_artifacts(d, task);
  if (!may_fetch) return std::nullopt;
  // The statement reads the artifacts of many tasks of this run, or of this step (read_ahead).
  if (marked("artifacts " + run_key(run))) return from_index(fetch(service::run_artifacts_path(run)));
  if (marked("artifacts " + step_key(step))) return from_index(fetch(service::step_artifacts_path(step)));
  return std::nullopt;
}

std::vector<ArtifactRecord> ServiceMetadata::artifacts(const ObjectPath& task, std::optional<int> attempt,
                                                       const std::optional<std::string>& name) {
  if (!valid(task, 4) || (name && !safe_component(*name)) || (attempt && *attempt < 0)) return {};
  if (auto latest = latest_artifacts_at_hand(task, !attempt)) {
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

// ---- bulk ---------------------------------------------------------------------------------------

std::vector<RunRecord> ServiceMetadata::runs_with_tags(const std::string& flow, const std::vector<std::string>& tags,
                                                       TagMatch match) {
  if (!safe_component(flow)) return {};
  std::vector<RunRecord> candidates;
  bool answered = false;
  const bool expressible = !tags.empty() && std::none_of(tags.begin(), tags.end(), [](const std::string& t) {
    return t.empty() || t.find(',') != std::string::npos;  // ',' separates the filter's values
  });
  if (expressible && server_filters() != false) {
    // One tag: "any" and "all" agree; one spelling lets both questions share the cached answer.
    const bool any = match == TagMatch::kAny || tags.size() == 1;
    std::string query = any ? "?_tags:any=" : "?_tags:all=";
    for (size_t i = 0; i < tags.size(); ++i) query += (i ? "," : "") + net::url_escape(tags[i], ":");
    const std::string path = service::runs_path(flow) + query;
    DocPtr page = fetch(path, /*allow_400=*/true);
    {
      std::lock_guard lock(state_mu_);
      server_filters_ = page->status == 200 && page->paginated;  // an old server ignores the filter
    }
    if (page->status == 200) {
      candidates = parse_runs(page, flow);  // without X-Limit this is every run: filtered below
      answered = true;
      for (int pages = 1; page->paginated && !page->next_cursor.empty() && pages < 10000; ++pages) {
        page = fetch(path + "&_cursor=" + net::url_escape(page->next_cursor, "="));
        auto more = parse_runs(page, flow);
        candidates.insert(candidates.end(), more.begin(), more.end());
      }
    }
  }
  if (!answered) candidates = runs(flow);
  std::vector<RunRecord> out;
  for (auto& r : candidates)
    if (carries_tags(r, tags, match)) out.push_back(std::move(r));
  return out;
}

void ServiceMetadata::read_ahead(const ReadAhead& ahead) {
  const bool run_wide = ahead.scope.step.empty();
  if (!valid(ahead.scope, run_wide ? 2 : 3)) return;
  const std::string scope = run_wide ? run_key(ahead.scope) : step_key(ahead.scope);
  if (ahead.task_lists && run_wide) mark("task lists " + scope);
  if (ahead.artifacts) mark("artifacts " + scope);
  if (ahead.metadata) mark("metadata " + scope);
}

}  // namespace mfsql
