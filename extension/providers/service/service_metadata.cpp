#include "providers/service/service_metadata.hpp"

#include <algorithm>
#include <cstdlib>

#include "datastore/datastore.hpp"
#include "model/json_fields.hpp"
#include "providers/service/routes.hpp"
#include "providers/service/service_ids.hpp"
#include "util/error.hpp"

namespace mfsql {

using nlohmann::json;
using service::DocPtr;
using service::id_field;
using service::run_key;
using service::step_key;
using service::task_key;
using service::valid;

namespace {

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
  if (auto it = j.find("status"); it != j.end() && it->is_string()) r.server_status = it->get<std::string>();
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
  // The plain listing comes in no defined order; put it in the order the server pages runs in
  // (newest first, ties by run number), so that a LIMIT answered by a page and the same question
  // answered by the whole listing agree on runs created in the same millisecond.
  return runs_in_page_order(fetch(service::runs_path(flow)), flow);
}

std::vector<RunRecord> ServiceMetadata::runs_in_page_order(const DocPtr& listing, const std::string& flow) {
  auto runs = parse_runs(listing, flow);
  auto number = [](const RunRecord& r) { return std::strtoll(r.path.run_id.c_str(), nullptr, 10); };
  std::stable_sort(runs.begin(), runs.end(), [&](const RunRecord& a, const RunRecord& b) {
    return a.ts_ms != b.ts_ms ? a.ts_ms > b.ts_ms : number(a) > number(b);
  });
  return runs;
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
        // Later pages as large as the server allows: a tag on hundreds of runs costs a few pages, not one per 50.
        page = fetch(path + "&_limit=500&_cursor=" + net::url_escape(page->next_cursor, "="));
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

std::optional<ArtifactRecord> ServiceMetadata::parameters_graph_artifact(const ObjectPath& run) {
  if (!valid(run, 2)) return std::nullopt;
  DocPtr doc = fetch(service::step_artifacts_path({run.flow, run.run_id, "_parameters", {}}));
  if (doc->status != 200) return std::nullopt;
  // One task, as a rule; of several, the client's newest (the highest task id the listing names).
  std::optional<ArtifactRecord> out;
  for (auto& [key, rows] : *artifact_index(doc, run))
    for (auto& a : rows)
      if (a.name == "_graph_info" && (!out || std::pair(a.task.task_id.size(), a.task.task_id) >
                                                   std::pair(out->task.task_id.size(), out->task.task_id)))
        out = a;
  return out;
}

std::optional<std::vector<std::string>> ServiceMetadata::tasks_with_metadata(const ObjectPath& step,
                                                                             const std::string& field,
                                                                             const std::string& pattern) {
  if (!valid(step, 3)) return std::nullopt;
  // filtered_tasks answers pathspecs ("F/R/S/T", sorted); T is the task's name when it has one,
  // which the task listing does not show: such a task is simply not found here (the caller then
  // reads it). An older server without the route (404), or any other answer: nullopt.
  DocPtr doc = fetch(service::filtered_tasks_path(step, field, pattern), /*allow_400=*/true);
  if (doc->status != 200 || !doc->json || !doc->json->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (auto& j : *doc->json) {
    if (!j.is_string()) return std::nullopt;
    const std::string& pathspec = j.get_ref<const std::string&>();
    const size_t slash = pathspec.rfind('/');
    out.push_back(slash == std::string::npos ? pathspec : pathspec.substr(slash + 1));
  }
  return out;
}

void ServiceMetadata::read_ahead(const ReadAhead& ahead) {
  const bool run_wide = ahead.scope.step.empty();
  if (!valid(ahead.scope, run_wide ? 2 : 3)) return;
  const std::string scope = run_wide ? run_key(ahead.scope) : step_key(ahead.scope);
  if (ahead.task_lists && run_wide) mark("task lists " + scope);
  if (ahead.artifacts && !run_wide && !ahead.task_ids.empty()) {
    // A few tasks of the step: their own listings, fetched together (not the step's).
    std::vector<std::string> paths;
    for (auto& id : ahead.task_ids)
      if (safe_component(id))
        if (auto p = service::task_artifacts_path({ahead.scope.flow, ahead.scope.run_id, ahead.scope.step, id}); !peek(p))
          paths.push_back(p);
    if (!paths.empty()) fetch_many(paths);
  } else if (ahead.artifacts) {
    mark("artifacts " + scope);
    // The names the statement reads, for a listing that keeps only theirs; none (or a name the
    // key cannot spell): any.
    std::string names;
    for (auto& n : ahead.artifact_names) {
      if (!safe_component(n) || n.find(',') != std::string::npos) {
        names.clear();
        break;
      }
      names += (names.empty() ? "" : ",") + n;
    }
    if (memo_) memo_->remember("\x01svc " + base_ + " artifact names " + scope, names);
  }
  if (ahead.metadata) mark("metadata " + scope);
}

}  // namespace mfsql
