// runs: one row per run, newest first, with the client's finished/successful and mfsql's status.
#include "model/client.hpp"
#include "model/code_package.hpp"
#include "model/parameters.hpp"
#include "tables/object_columns.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kPathspec, kParent, kCreatedAt, kUser, kUserTags, kSystemTags, kTags, kFinished,
           kSuccessful, kFinishedAt, kStatus, kEndTask, kOriginRunId, kTrigger, kCode,
           kPathComponents, kParameters,
           kScriptName,  // model/code_package.* (with kCode)
           kCount };

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .pathspec = kPathspec};

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"pathspec", Type::Text, kKey | kPattern, 1000, "Flow/Run"},
    {"parent", Type::Text, kPlain, 0, "The flow's pathspec"},
    {"created_at", Type::Text, kPlain, 0, "When the run was created, UTC (a tag change moves it, as in Metaflow)"},
    {"user", Type::Text, kPlain, 0, "From the user: system tag"},
    {"user_tags", Type::Json, kPlain, 0, "User tags, sorted JSON array"},
    {"system_tags", Type::Json, kPlain, 0, "System tags, sorted JSON array"},
    {"tags", Type::Json, kPlain, 0, "Union of user and system tags"},
    {"finished", Type::Integer, kPlain, 0, "1 when the end task finished (its _task_ok)"},
    {"successful", Type::Integer, kPlain, 0, "1 when the end task succeeded (its _success)"},
    {"finished_at", Type::Text, kPlain, 0, "When the end task finished, UTC"},
    {"status", Type::Text, kPlain, 0, "completed, failed or running"},
    {"end_task", Type::Text, kPlain, 0, "Pathspec of the newest task of the graph's end step"},
    {"origin_run_id", Type::Text, kPlain, 0, "The run this one resumed, NULL otherwise"},
    {"trigger", Type::Json, kPlain, 0, "The events that triggered the run, or NULL"},
    {"code", Type::Json, kPlain, 0,
     "Run.code: {sha, ds_type, location, info, script_name} of the newest step whose task has a code package; NULL without one"},
    {"path_components", Type::Json, kPlain, 0, "The client's path_components: [flow, run_id]"},
    {"parameters", Type::Json, kPlain, 0,
     "The run's Parameters, {name: value} (values as artifacts.value renders them; the names _graph_info lists)"},
    {"script_name", Type::Text, kPlain, 0,
     "The flow's file: Run.code.script_name, or for a run without a package its script-name metadata"},
};

std::optional<std::string> user_of(const RunRecord& r) {
  for (auto& t : r.system_tags)
    if (t.rfind("user:", 0) == 0) return t.substr(5);
  return std::nullopt;
}

void put_outcome(Store& store, const RunRecord& run, const engine::Plan& plan, engine::Row& row) {
  auto outcome = client::run_outcome(store, run.path);
  row[kFinished] = outcome.end.finished ? Value::boolean(*outcome.end.finished) : Value::null();
  row[kSuccessful] = outcome.end.successful ? Value::boolean(*outcome.end.successful) : Value::null();
  row[kFinishedAt] = outcome.end.finished_at_ms ? Value::of(iso_utc_ms(*outcome.end.finished_at_ms)) : Value::null();
  row[kEndTask] = outcome.end_task ? Value::of(outcome.end_task->path.pathspec()) : Value::null();
  if (plan.uses(kStatus)) row[kStatus] = guarded([&] { return Value::of(client::run_status(store, run, outcome)); });
}

constexpr uint64_t kOutcome = engine::column_bits({kFinished, kSuccessful, kFinishedAt, kStatus, kEndTask});
constexpr uint64_t kStartTask = engine::column_bits({kTrigger});
constexpr uint64_t kCodeColumns = engine::column_bits({kCode, kScriptName});

void put_row(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const RunRecord* run = found.run;
  engine::Row& row = out.emplace_back(kCount);
  put_path(row, run->path, kPath);
  row[kParent] = Value::of(run->path.flow);
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(run->ts_ms));
  row[kUser] = Value::maybe(user_of(*run));
  put_run_tags(row, kUserTags, *run);
  if (plan.uses(kPathComponents)) row[kPathComponents] = Value::json(path_components_json(run->path));
  if (plan.uses(kParameters))  // the _parameters task's artifacts: read only for runs the query keeps
    row.defer(engine::column_bits({kParameters}), [&store, run](engine::Row& r) {
      r[kParameters] = guarded([&] { return Value::json_maybe(client::run_parameters_json(store, run->path)); });
    });
  // The rest reads the run's tasks: computed only for runs the query keeps.
  if (plan.columns_used & kOutcome)
    row.defer(kOutcome, [&store, &plan, run](engine::Row& r) {
      guarded_fill([&] { put_outcome(store, *run, plan, r); });  // a damaged end task: NULL status columns
    });
  if (plan.uses(kOriginRunId))
    row.defer(engine::column_bits({kOriginRunId}), [&store, run](engine::Row& r) {
      r[kOriginRunId] = guarded([&] { return Value::maybe(client::origin_run_id(client::newest_task_metadata(store, run->path))); });
    });
  if (plan.columns_used & kStartTask)
    row.defer(kStartTask, [&store, run](engine::Row& r) {
      auto d = client::start_task_metadata(store, run->path);
      r[kTrigger] = Value::json_maybe(client::json_field(d, "execution-triggers"));
    });
  if (plan.columns_used & kCodeColumns)
    row.defer(kCodeColumns, [&store, run](engine::Row& r) {
      guarded_fill([&] {  // a package mfsql refuses: both NULL
        auto code = client::run_code(store, run->path);
        r[kCode] = Value::json_maybe(code.code_json);
        r[kScriptName] = Value::maybe(code.script_name);
      });
    });
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  return walk(source, plan, kPath, {.level = Level::kRun, .objects_at_once = 32, .min_per_thread = 1}, put_row);
}

}  // namespace

const engine::TableSpec kRunsTable = {
    .name = "runs",
    .doc = "Every run of every flow, newest first, with the status Metaflow's client reports.",
    .columns = kColumns,
    .scan_rows = 1000,
    .rows = rows,
    .example = "SELECT run_id, status, created_at, finished_at FROM runs WHERE flow = 'TrainingFlow' LIMIT 10;",
};

}  // namespace mfsql::tables
