// runs: one row per run, newest first, with the client's finished/successful and mfsql's status.
#include "model/client.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kPathspec, kParent, kCreatedAt, kUser, kUserTags, kSystemTags, kTags, kFinished,
           kSuccessful, kFinishedAt, kStatus, kEndTask, kOriginRunId, kTrigger, kCode, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"pathspec", Type::Text, kKey, 1000, "Flow/Run"},
    {"parent", Type::Text, kPlain, 0, "The flow's pathspec"},
    {"created_at", Type::Text, kPlain, 0, "When the run was created (a tag change moves it, as in Metaflow)"},
    {"user", Type::Text, kPlain, 0, "From the user: system tag"},
    {"user_tags", Type::Json, kPlain, 0, "User tags, sorted JSON array"},
    {"system_tags", Type::Json, kPlain, 0, "System tags, sorted JSON array"},
    {"tags", Type::Json, kPlain, 0, "Union of user and system tags"},
    {"finished", Type::Integer, kPlain, 0, "1 when the end task finished (its _task_ok)"},
    {"successful", Type::Integer, kPlain, 0, "1 when the end task succeeded (its _success)"},
    {"finished_at", Type::Text, kPlain, 0, "When the end task finished"},
    {"status", Type::Text, kPlain, 0, "completed, failed or running"},
    {"end_task", Type::Text, kPlain, 0, "Pathspec of the newest task of the graph's end step"},
    {"origin_run_id", Type::Text, kPlain, 0, "The run this one resumed, NULL otherwise"},
    {"trigger", Type::Json, kPlain, 0, "The events that triggered the run, or NULL"},
    {"code", Type::Json, kPlain, 0, "The code package, or NULL for purely local runs"},
};

std::optional<std::string> user_of(const RunRecord& r) {
  for (auto& t : r.system_tags)
    if (t.rfind("user:", 0) == 0) return t.substr(5);
  return std::nullopt;
}

// The metadata of the task the client consults for run-level facts: the newest task of the
// newest (non-private) step.
client::MetadataDict newest_task_metadata(Store& store, const ObjectPath& run) {
  auto steps = select_steps(store, run, PathFilter({}, {}));
  if (steps.empty()) return {};
  auto tasks = store.meta().tasks(steps.front().path);
  const TaskRecord* t = client::newest(tasks);
  return t ? client::metadata_dict(store.meta().metadata(t->path)) : client::MetadataDict{};
}

client::MetadataDict start_task_metadata(Store& store, const ObjectPath& run) {
  std::string start = "start";
  if (auto params = client::parameters_task(store, run))
    for (auto& e : store.meta().metadata_field(params->path, "start_step"))
      if (!e.value.empty()) start = e.value;
  auto tasks = store.meta().tasks({run.flow, run.run_id, start, {}});
  const TaskRecord* t = client::newest(tasks);
  return t ? client::metadata_dict(store.meta().metadata(t->path)) : client::MetadataDict{};
}

Value json_metadata(const client::MetadataDict& d, const char* field) {
  auto it = d.find(field);
  if (it == d.end()) return Value::null();
  // execution-triggers and code-package are JSON documents stored as strings.
  auto parsed = nlohmann::json::parse(it->second.text, nullptr, false);
  return parsed.is_discarded() ? Value::json(nlohmann::json(it->second.text).dump()) : Value::json(parsed.dump());
}

engine::Row row_of(Store& store, const RunRecord& run, const engine::Plan& plan) {
  const std::string pathspec = run.path.pathspec();
  engine::Row row(kCount);
  row[kFlow] = Value::of(run.path.flow);
  row[kRunId] = Value::of(run.path.run_id);
  row[kPathspec] = Value::of(pathspec);
  row[kParent] = Value::of(run.path.flow);
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(run.ts_ms));
  row[kUser] = Value::maybe(user_of(run));
  row[kUserTags] = Value::json(json_array(run.tags));
  row[kSystemTags] = Value::json(json_array(run.system_tags));
  row[kTags] = Value::json(json_array(union_sorted(run.tags, run.system_tags)));
  if (plan.uses(kFinished) || plan.uses(kSuccessful) || plan.uses(kFinishedAt) || plan.uses(kStatus) ||
      plan.uses(kEndTask)) {
    try {
      auto outcome = client::run_outcome(store, run.path);
      row[kFinished] = outcome.end.finished ? Value::boolean(*outcome.end.finished) : Value::null();
      row[kSuccessful] = outcome.end.successful ? Value::boolean(*outcome.end.successful) : Value::null();
      row[kFinishedAt] = outcome.end.finished_at_ms ? Value::of(iso_utc_ms(*outcome.end.finished_at_ms)) : Value::null();
      row[kEndTask] = outcome.end_task ? Value::of(outcome.end_task->path.pathspec()) : Value::null();
      if (plan.uses(kStatus)) row[kStatus] = guarded([&] { return Value::of(client::run_status(store, run, outcome)); });
    } catch (const CorruptRecord&) {
      // A damaged end task leaves the status columns NULL; the run itself is still listed.
    }
  }
  if (plan.uses(kOriginRunId))
    row[kOriginRunId] = guarded([&] {
      auto d = newest_task_metadata(store, run.path);
      auto it = d.find("origin-run-id");
      return it == d.end() || it->second.text == "None" ? Value::null() : Value::of(it->second.text);
    });
  if (plan.uses(kTrigger) || plan.uses(kCode)) {
    auto d = start_task_metadata(store, run.path);
    row[kTrigger] = json_metadata(d, "execution-triggers");
    row[kCode] = json_metadata(d, "code-package");
  }
  return row;
}

// A run's status reads its end task (and, for a run that did not complete, every task), so runs
// are answered a batch at a time on both cores. Batches start at one run and grow, so a LIMIT
// reads no further than it must.
constexpr size_t kMaxRunsAtOnce = 32;

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId, .pathspec = kPathspec});
  for (const std::string& flow : flow_names(store, filter)) {
    std::vector<RunRecord> runs;
    for (RunRecord& run : select_runs(store, flow, filter))
      if (filter.accepts(run.path.pathspec())) runs.push_back(std::move(run));
    for (size_t first = 0, batch = 1; first < runs.size(); first += batch, batch = std::min(batch * 2, kMaxRunsAtOnce)) {
      const size_t n = std::min(batch, runs.size() - first);
      std::vector<engine::Row> out(n);
      for_each_index(store, n, [&](size_t i) { out[i] = row_of(store, runs[first + i], plan); }, 1);
      for (auto& row : out) co_yield std::move(row);
    }
  }
}

}  // namespace

const engine::TableSpec kRunsTable = {
    .name = "runs",
    .doc = "Every run of every flow, newest first, with the status Metaflow's client reports.",
    .columns = kColumns,
    .scan_rows = 1000,
    .rows = rows,
    .example = "SELECT run_id, status, finished_at FROM runs WHERE flow = 'TrainFlow' LIMIT 10;",
};

}  // namespace mfsql::tables
