#include "model/client.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include "util/error.hpp"

namespace mfsql::client {

using nlohmann::ordered_json;

MetadataDict metadata_dict(std::vector<MetadataEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const MetadataEntry& a, const MetadataEntry& b) {
    return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.id < b.id;
  });
  MetadataDict dict;
  for (auto& e : entries) dict[e.field_name] = {e.value, e.value_is_json};
  return dict;
}

int current_attempt(const MetadataDict& dict) {
  auto it = dict.find("attempt");
  if (it == dict.end()) return 0;
  try {
    return std::stoi(it->second.text);
  } catch (const std::exception&) {
    return 0;
  }
}

const ArtifactRecord* find_artifact(const std::vector<ArtifactRecord>& artifacts, const std::string& name) {
  for (auto& a : artifacts)
    if (a.name == name) return &a;
  return nullptr;
}

bool registration_complete(const std::vector<ArtifactRecord>& artifacts) {
  return !find_artifact(artifacts, "_task_ok") == !find_artifact(artifacts, "_success");
}

namespace {

// The Python truth of a decoded value; nullopt when it cannot be decoded.
std::optional<bool> truth_of(Store& store, const ArtifactRecord* a) {
  if (!a) return false;
  try {
    JsonValue v = store.value(*a);
    if (!v) return std::nullopt;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_null()) return false;
    if (v->is_number()) return v->get<double>() != 0;
    if (v->is_string()) return !v->get<std::string>().empty();
    return !v->empty();
  } catch (const CorruptRecord&) {
    return std::nullopt;
  }
}

}  // namespace

TaskOutcome task_outcome(Store& store, const std::vector<ArtifactRecord>& artifacts) {
  TaskOutcome out;
  const ArtifactRecord* ok = find_artifact(artifacts, "_task_ok");
  // Metaflow registers an attempt's artifacts one file at a time after its attempt-done, _task_ok
  // before _success: one without the other means the registration is under way. The attempt then
  // shows as not finished yet, never half (finished but not successful) nor briefly failed.
  if (!registration_complete(artifacts)) return out;
  out.finished = truth_of(store, ok);
  out.successful = truth_of(store, find_artifact(artifacts, "_success"));
  if (ok) out.finished_at_ms = ok->ts_ms;
  return out;
}

std::optional<std::string> task_exception_json(Store& store, const std::vector<ArtifactRecord>& artifacts) {
  const ArtifactRecord* a = find_artifact(artifacts, "_exception");
  if (!a) return std::nullopt;
  JsonValue v = store.value(*a);
  if (!v || v->is_null()) return std::nullopt;
  // MetaflowExceptionWrapper renders as {"$object": ..., "attrs": {exception, type, stacktrace}}.
  const ordered_json* attrs = v->is_object() && v->contains("attrs") ? &(*v)["attrs"] : nullptr;
  ordered_json out = ordered_json::object();
  auto field = [&](const char* from) -> ordered_json {
    if (attrs && attrs->is_object() && attrs->contains(from)) return (*attrs)[from];
    return nullptr;
  };
  out["type"] = field("type");
  out["message"] = field("exception");
  out["stacktrace"] = field("stacktrace");
  if (!attrs) out["value"] = *v;  // an exception object mfsql could not take apart: keep what it decoded
  return out.dump();
}

std::optional<int64_t> foreach_index(Store& store, const std::vector<ArtifactRecord>& artifacts) {
  const ArtifactRecord* a = find_artifact(artifacts, "_foreach_stack");
  if (!a) return std::nullopt;
  JsonValue v = store.value(*a);
  if (!v || !v->is_array() || v->empty()) return std::nullopt;
  const std::string what = "The _foreach_stack artifact of " + a->task.pathspec();
  return decoded(what, [&]() -> std::optional<int64_t> {
    const ordered_json& frame = v->back();  // ForeachFrame(step, var, num_splits, index, value)
    if (frame.is_array() && frame.size() >= 4 && frame[3].is_number_integer()) return frame[3].get<int64_t>();
    if (frame.is_object() && frame.contains("attrs") && frame["attrs"].contains("index"))
      return frame["attrs"]["index"].get<int64_t>();
    throw CorruptRecord(what + " has an unexpected shape.");
  });
}

std::optional<TaskRecord> parameters_task(Store& store, const ObjectPath& run) {
  ObjectPath step{run.flow, run.run_id, "_parameters", {}};
  if (auto t = store.meta().task({run.flow, run.run_id, "_parameters", "0"})) return t;
  auto tasks = store.meta().tasks(step);
  if (const TaskRecord* t = newest(tasks)) return *t;
  return std::nullopt;
}

std::optional<ordered_json> graph_info(Store& store, const ObjectPath& run) {
  std::optional<ArtifactRecord> art = store.meta().parameters_graph_artifact(run);
  if (!art) {
    auto params = parameters_task(store, run);
    if (!params) return std::nullopt;
    auto arts = store.meta().artifacts(params->path, std::nullopt, std::string("_graph_info"));
    if (arts.empty()) return std::nullopt;
    art = arts.front();
  }
  try {
    JsonValue v = store.value(*art);
    if (v && v->is_object()) return *v;
  } catch (const CorruptRecord&) {
    // "No graph" for now: Store::value has marked whatever is being derived as not to be kept.
  }
  return std::nullopt;
}

namespace {

// How many attempts the runtime allows a task of `step` (runtime.py: 1 + user-code retries +
// error retries, capped by MAX_ATTEMPTS = 6). @retry gives `times` user retries (or error retries
// with only_system); @catch gives NUM_FALLBACK_RETRIES = 3 error retries.
int allowed_attempts(const std::optional<ordered_json>& graph, const std::string& step) {
  int user = 0, error = 0;
  if (graph && graph->contains("steps") && (*graph)["steps"].is_object() && (*graph)["steps"].contains(step) &&
      (*graph)["steps"][step].is_object()) {
    const ordered_json decos = (*graph)["steps"][step].value("decorators", ordered_json::array());
    for (auto& d : decos) {
      if (!d.is_object()) continue;
      std::string name = d.value("name", "");
      const ordered_json attrs = d.value("attributes", ordered_json::object());
      if (name == "retry") {
        int times = 3;
        if (attrs.contains("times") && attrs["times"].is_number_integer()) times = attrs["times"].get<int>();
        else if (attrs.contains("times") && attrs["times"].is_string()) times = std::atoi(attrs["times"].get<std::string>().c_str());
        if (attrs.value("only_system", false)) error = std::max(error, times);
        else user = std::max(user, times);
      } else if (name == "catch") {
        error = std::max(error, 3);
      }
    }
  }
  return std::min(6, 1 + user + error);
}

}  // namespace

std::string end_step_name(Store& store, const ObjectPath& run) {
  if (auto params = parameters_task(store, run)) {
    for (auto& e : store.meta().metadata_field(params->path, "end_step"))
      if (!e.value.empty()) return e.value;
    if (auto graph = graph_info(store, run)) {
      auto it = graph->find("end_step");
      if (it != graph->end() && it->is_string()) return it->get<std::string>();
    }
  }
  return "end";
}

namespace {

RunOutcome read_run_outcome(Store& store, const ObjectPath& run) {
  RunOutcome out;
  ObjectPath end_step{run.flow, run.run_id, end_step_name(store, run), {}};
  auto tasks = store.meta().tasks(end_step);
  const TaskRecord* end = newest(tasks);
  if (!end) return out;
  out.end_task = *end;
  out.end = task_outcome(store, store.meta().artifacts_named(end->path, std::nullopt, kOutcomeArtifacts));
  return out;
}

}  // namespace

// Remembered with the folders it was read from (the _parameters task's, the end step's, the end
// task's): a second statement checks them and decodes nothing (model/metadata_provider.hpp).
RunOutcome run_outcome(Store& store, const ObjectPath& run) {
  const std::string pathspec = run.pathspec();
  // What the files do not decide goes into the key: the connection's value cap (a value over it is
  // NULL, an undecodable outcome) and the datastore the blobs come from.
  auto remembered = store.meta().derived(
      "run_outcome\n" + pathspec + "\n" + std::to_string(store.settings().max_value_bytes) + "\n" +
          store.data().describe(),
      [&](bool& keep) -> std::shared_ptr<const void> {
        auto out = std::make_shared<const RunOutcome>(read_run_outcome(store, run));
        // An end task whose outcome artifacts did not decode: asked again, never kept.
        keep = !out->end_task || (out->end.finished && out->end.successful);
        return out;
      },
      sizeof(RunOutcome) + 2 * pathspec.size() + 64);
  return *std::static_pointer_cast<const RunOutcome>(remembered);
}

std::string run_status(Store& store, const RunRecord& run, const RunOutcome& outcome) {
  if (outcome.end_task && (!outcome.end.finished || !outcome.end.successful))
    throw CorruptRecord("The end task of " + run.path.pathspec() + " has an undecodable outcome.");  // -> NULL status
  if (outcome.end_task && outcome.end.successful.value_or(false)) return "completed";
  // A stale heartbeat makes a run that is not completed failed whatever its tasks say: asked
  // first, so that such a run's tasks are never read.
  if (heartbeat_stale(run, now_s())) return "failed";
  // A run that cannot finish any more: some task's newest attempt is done, failed, and was the
  // last attempt its step's retry policy allows.
  std::optional<std::optional<ordered_json>> graph;
  store.meta().read_ahead({.scope = run.path, .task_lists = true, .artifacts = true, .metadata = true});
  for (auto& step : store.meta().steps(run.path)) {
    for (auto& task : store.meta().tasks(step.path)) {
      auto arts = store.meta().artifacts_named(task.path, std::nullopt, kOutcomeArtifacts);
      const ArtifactRecord* ok = find_artifact(arts, "_task_ok");
      if (!ok || !registration_complete(arts)) continue;  // not done, or its registration under way
      auto outcome_of_task = task_outcome(store, arts);
      bool failed = !outcome_of_task.finished.value_or(true) ||
                    (step.path.step == outcome.end_task.value_or(TaskRecord{}).path.step &&
                     !outcome_of_task.successful.value_or(true));
      if (!failed) continue;
      int started = current_attempt(metadata_dict(store.meta().metadata_field(task.path, "attempt")));
      if (started > ok->attempt) continue;  // a retry is under way
      if (!graph) graph = graph_info(store, run.path);
      const int allowed = decoded("The _graph_info artifact of " + run.path.pathspec(),
                                  [&] { return allowed_attempts(*graph, step.path.step); });
      if (ok->attempt + 1 >= allowed) return "failed";
    }
  }
  return "running";
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool heartbeat_stale(const RunRecord& run, int64_t now) {
  return run.last_heartbeat_s && now - *run.last_heartbeat_s > kRunInactiveAfterS;
}

namespace {

MetadataDict newest_task_metadata_of(Store& store, const ObjectPath& step) {
  auto tasks = store.meta().tasks(step);
  const TaskRecord* t = newest(tasks);
  return t ? metadata_dict(store.meta().metadata(t->path)) : MetadataDict{};
}

}  // namespace

MetadataDict newest_task_metadata(Store& store, const ObjectPath& run) {
  std::vector<StepRecord> steps = store.meta().steps(run);
  std::erase_if(steps, [](const StepRecord& s) { return s.path.step.empty() || s.path.step[0] == '_'; });
  const StepRecord* step = newest(steps);
  return step ? newest_task_metadata_of(store, step->path) : MetadataDict{};
}

MetadataDict start_task_metadata(Store& store, const ObjectPath& run) {
  std::string start = "start";
  if (auto params = parameters_task(store, run))
    for (auto& e : store.meta().metadata_field(params->path, "start_step"))
      if (!e.value.empty()) start = e.value;
  return newest_task_metadata_of(store, {run.flow, run.run_id, start, {}});
}

std::optional<std::string> origin_run_id(const MetadataDict& d) {
  auto it = d.find("origin-run-id");
  if (it == d.end() || it->second.text == "None") return std::nullopt;
  return it->second.text;
}

std::optional<std::string> json_field(const MetadataDict& d, const std::string& field) {
  auto it = d.find(field);
  if (it == d.end()) return std::nullopt;
  auto parsed = nlohmann::json::parse(it->second.text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(it->second.text).dump() : parsed.dump();
}

std::optional<int64_t> step_finished_at(Store& store, const std::vector<TaskRecord>& tasks) {
  std::optional<int64_t> latest;
  for (auto& t : tasks) {
    auto ok = store.meta().artifacts(t.path, std::nullopt, std::string("_task_ok"));
    if (ok.empty()) return std::nullopt;
    latest = std::max(latest.value_or(ok.front().ts_ms), ok.front().ts_ms);
  }
  return latest;
}

bool server_completed_is_successful(const std::optional<ordered_json>& graph, const std::string& end_step) {
  if (!graph || end_step != "end") return false;
  const ordered_json* steps = graph->contains("steps") ? &(*graph)["steps"] : nullptr;
  if (!steps || !steps->is_object() || !steps->contains("end") || !(*steps)["end"].is_object()) return false;
  for (auto& d : (*steps)["end"].value("decorators", ordered_json::array()))
    if (!d.is_object() || d.value("name", "") == "catch") return false;
  return true;
}

bool server_status_stands(Store& store, const std::string& flow, const RunRecord* newest) {
  if (!store.meta().may_know_server_status()) return false;
  if (auto known = store.remembered_status_rule(flow)) return *known;
  // The newest run with its server status: the first of the page latest_runs reads first.
  std::optional<std::vector<RunRecord>> page;
  if (!newest) {
    page = store.meta().runs_where(flow, RunQuery{.wanted = kNewestPage, .with_server_status = true})->next();
    if (!page || page->empty()) return false;  // no run yet: not remembered, a run may come
    newest = &page->front();
  }
  const ObjectPath run = newest->path;
  bool stands = false;
  try {
    auto graph = graph_info(store, run);
    // Metaflow's runtime writes the end_step metadata from the same graph.end_step that the
    // flow writes into _graph_info's end_step; only a graph without that key (older Metaflow)
    // sends us to the metadata, as end_step_name does.
    const bool named = graph && graph->is_object() && graph->contains("end_step") && (*graph)["end_step"].is_string();
    stands = server_completed_is_successful(graph, named ? (*graph)["end_step"].get<std::string>()
                                                         : end_step_name(store, run));
  } catch (const CorruptRecord&) {
    stands = false;
  }
  store.remember_status_rule(flow, stands);
  return stands;
}

std::optional<bool> successful_from_server(const RunRecord& run) {
  if (run.server_status == "completed") return true;
  if (run.server_status == "failed" || run.server_status == "running") return false;
  return std::nullopt;
}

std::optional<std::string> status_from_server(const RunRecord& run, int64_t now) {
  auto successful = successful_from_server(run);
  if (!successful) return std::nullopt;
  if (*successful) return "completed";
  if (heartbeat_stale(run, now)) return "failed";
  return std::nullopt;
}

std::vector<std::string> server_candidates(const std::vector<std::string>& statuses) {
  std::set<std::string> out;
  for (auto& s : statuses) {
    if (s == "completed") out.insert("completed");
    if (s == "failed" || s == "running") out.insert({"failed", "running"});
  }
  return {out.begin(), out.end()};
}

LatestRuns latest_runs(Store& store, const std::string& flow, bool successful_too) {
  LatestRuns out;
  // Where the server's `completed` is mfsql's successful, the newest such run is the answer: the
  // first completed one of the newest runs' page (the page the rule read), else one page of one
  // run (`status:eq=completed&_limit=1`).
  if (successful_too && server_status_stands(store, flow)) {
    if (auto page = store.meta().runs_where(flow, RunQuery{.wanted = kNewestPage, .with_server_status = true})->next();
        page && !page->empty()) {
      out.any = page->front().path.run_id;
      for (const RunRecord& run : *page)
        if (run.server_status == "completed") {
          out.successful = run.path.run_id;
          return out;
        }
      const bool whole_history = static_cast<int64_t>(page->size()) < kNewestPage;
      if (whole_history && page->front().server_status) return out;  // no run is completed
    }
    auto page = store.meta().runs_where(flow, RunQuery{.wanted = 1, .server_statuses = {"completed"}})->next();
    if (!page || page->empty()) return out;  // no run is completed, so none is successful
    if (page->front().server_status == "completed") {
      out.successful = page->front().path.run_id;
      return out;
    }
    // A provider that does not know the server's status answered: checked one by one below.
  }
  // Newest first, a page at a time: the newest run is the first of a one-run page (the service:
  // `?_limit=1`), and the successful one is looked for only as far back as it takes.
  auto pages = store.meta().runs_where(flow, RunQuery{.wanted = 1});
  out = {};
  while (auto page = pages->next()) {
    for (const RunRecord& run : *page) {
      if (!out.any) out.any = run.path.run_id;
      if (!successful_too) return out;
      try {
        if (run_outcome(store, run.path).end.successful.value_or(false)) {
          out.successful = run.path.run_id;
          return out;
        }
      } catch (const CorruptRecord&) {  // an undecodable outcome is not a success
      }
    }
  }
  return out;
}

}  // namespace mfsql::client
