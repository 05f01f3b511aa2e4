// runs: one row per run, newest first, with the client's finished/successful and mfsql's status.
#include <algorithm>

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


void put_outcome(Store& store, const RunRecord& run, const engine::Plan& plan, engine::Row& row) {
  auto outcome = client::run_outcome(store, run.path);
  row[kFinished] = outcome.end.finished ? Value::boolean(*outcome.end.finished) : Value::null();
  row[kSuccessful] = outcome.end.successful ? Value::boolean(*outcome.end.successful) : Value::null();
  if (plan.uses(kFinishedAt))
    row[kFinishedAt] = outcome.end.finished_at_ms ? Value::of(iso_utc_ms(*outcome.end.finished_at_ms)) : Value::null();
  row[kEndTask] = outcome.end_task ? Value::of(outcome.end_task->path.pathspec()) : Value::null();
  if (plan.uses(kStatus)) row[kStatus] = guarded([&] { return Value::of(client::run_status(store, run, outcome)); });
}

constexpr uint64_t kOutcome = engine::column_bits({kFinished, kSuccessful, kFinishedAt, kStatus, kEndTask});
constexpr uint64_t kFromServer = engine::column_bits({kSuccessful, kStatus});

// successful and status from the server's own status, without reading the run's tasks, where the
// flow's graph makes the two rules agree (client::server_status_stands) and the statement reads no
// other outcome column: completed from completed; not successful from failed or running, and
// failed where the run's heartbeat is stale too (client::status_from_server says which stand).
// A status that does not stand is checked by mfsql's rule.
bool outcome_from_server(Store& store, const RunRecord& run, const engine::Plan& plan, engine::Row& row) {
  const std::optional<bool> successful = client::successful_from_server(run);
  if (!successful || (plan.columns_used & kOutcome & ~kFromServer)) return false;
  const std::optional<std::string> status = client::status_from_server(run, client::now_s());
  if (plan.uses(kStatus) && !status) return false;
  if (!client::server_status_stands(store, run.path.flow)) return false;
  row[kSuccessful] = Value::boolean(*successful);
  if (status) row[kStatus] = Value::of(*status);
  return true;
}
constexpr uint64_t kStartTask = engine::column_bits({kTrigger});
constexpr uint64_t kCodeColumns = engine::column_bits({kCode, kScriptName});

void put_row(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const RunRecord* run = found.run;
  engine::Row& row = out.emplace_back(kCount);
  put_path(row, run->path, kPath);
  row[kParent] = Value::of(run->path.flow);
  // Only what the statement reads: formatting a time or a tag list costs more than a remembered row.
  if (plan.uses(kCreatedAt)) row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(run->ts_ms));
  row[kUser] = Value::maybe(run_user(*run));
  if (plan.columns_used & engine::column_bits({kUserTags, kSystemTags, kTags})) put_run_tags(row, kUserTags, *run, plan);
  if (plan.uses(kPathComponents)) row[kPathComponents] = Value::json(path_components_json(run->path));
  if (plan.uses(kParameters))  // the _parameters task's artifacts: read only for runs the query keeps
    row.defer(engine::column_bits({kParameters}), [&store, run](engine::Row& r) {
      r[kParameters] = guarded([&] { return Value::json_maybe(client::run_parameters_json(store, run->path)); });
    });
  // The rest reads the run's tasks: computed only for runs the query keeps.
  if (plan.columns_used & kOutcome)
    row.defer(kOutcome, [&store, &plan, run](engine::Row& r) {
      if (outcome_from_server(store, *run, plan, r)) return;
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

// The statuses a row may have that the statement keeps: `status = / <> 'x'` (an IN list: one value
// per call), `successful = / <> 0|1` (successful is 1 exactly for completed). nullopt: any.
std::optional<std::vector<std::string>> kept_statuses(const engine::Plan& plan) {
  std::optional<std::vector<std::string>> kept;
  auto keep = [&](auto&& passes) {
    std::vector<std::string> out;
    for (const char* s : {"completed", "failed", "running"})
      if (passes(std::string(s)) && (!kept || std::find(kept->begin(), kept->end(), s) != kept->end())) out.push_back(s);
    kept = std::move(out);
  };
  using Check = engine::Plan::Check;
  for (const Check& c : plan.checks) {
    if (c.op != Check::kEq && c.op != Check::kNe) continue;
    const bool eq = c.op == Check::kEq;
    if (c.column == kStatus && c.value.kind == Value::Kind::Text)
      keep([&](const std::string& s) { return (s == c.value.text) == eq; });
    if (c.column == kSuccessful && c.value.kind == Value::Kind::Integer && (c.value.integer == 0 || c.value.integer == 1))
      keep([&](const std::string& s) { return ((s == "completed") == (c.value.integer == 1)) == eq; });
  }
  return kept;
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  // created_at bounds, user and LIMIT go to the provider (the service: its filters and page size),
  // which sends the server's status along when the statement reads successful or status.
  RunQuery query = runs_query(plan, kCreatedAt, kUser, /*rows_are_runs=*/true);
  query.with_server_status = (plan.columns_used & kFromServer) && !(plan.columns_used & kOutcome & ~kFromServer);
  query.statuses = kept_statuses(plan);
  // A running run's heartbeat is not stale (or it has none): the server drops the others.
  if (query.statuses && *query.statuses == std::vector<std::string>{"running"})
    query.heartbeat_from_s = client::now_s() - client::kRunInactiveAfterS;
  return walk(source, plan, kPath,
              {.level = Level::kRun, .run_query = std::move(query),
               .objects_at_once = 32, .min_per_thread = 1},
              put_row);
}

}  // namespace

const engine::TableSpec kRunsTable = {
    .name = "runs",
    .doc = "Every run of every flow, newest first, with the status Metaflow's client reports.",
    .columns = kColumns,
    .scan_rows = 1000,
    .rows = rows,
    .example = "SELECT run_id, status, created_at, finished_at FROM runs WHERE flow = 'TrainingFlow' LIMIT 10;",
    // The walk goes flow by flow, runs newest first: with one flow fixed, that is created_at DESC.
    .order_column = kCreatedAt,
    .order_fixed_by = kFlow,
};

}  // namespace mfsql::tables
