// steps: one row per step of a run (the hidden `_parameters` step only when asked for by name).
#include "model/client.hpp"
#include "model/code_package.hpp"
#include "tables/lineage_columns.hpp"
#include "tables/object_columns.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kPathspec, kParent, kCreatedAt, kFinishedAt, kTaskCount, kUserTags,
           kSystemTags, kTags, kPathComponents,
           kType, kParentSteps, kChildSteps, kControlTask,  // the DAG (tables/lineage_columns.cpp)
           kEnvironmentInfo,  // model/code_package.*
           kPrivate, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"pathspec", Type::Text, kKey | kPattern, 5000, "Flow/Run/Step"},
    {"parent", Type::Text, kPlain, 0, "The run's pathspec"},
    {"created_at", Type::Text, kPlain, 0, "When the step's first task was created, UTC"},
    {"finished_at", Type::Text, kPlain, 0, "Latest finished_at of its tasks (UTC); NULL while any is unfinished"},
    {"task_count", Type::Integer, kPlain, 0, "Number of tasks"},
    {"user_tags", Type::Json, kPlain, 0, "The run's user tags"},
    {"system_tags", Type::Json, kPlain, 0, "The run's system tags"},
    {"tags", Type::Json, kPlain, 0, "Union of the run's tags"},
    {"path_components", Type::Json, kPlain, 0, "The client's path_components: [flow, run_id, step]"},
    {"type", Type::Text, kPlain, 0,
     "The step's node type in _graph_info: start, linear, split-static, split-foreach, split-switch, join, end, ..."},
    {"parent_steps", Type::Json, kPlain, 0,
     "Sorted JSON array of the steps leading here (the client's parent_steps); NULL where the client raises (no _graph_info, or one of them never ran)"},
    {"child_steps", Type::Json, kPlain, 0,
     "Sorted JSON array of the steps this one leads to (the client's child_steps); NULL where the client raises"},
    {"control_task", Type::Text, kPlain, 0,
     "Pathspec of the step's control task (@parallel: internal_task_type control_task), else NULL"},
    {"environment_info", Type::Json, kPlain, 0,
     "Step.environment_info: that of its newest task (NULL when that task has no code package)"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, _task_ok, ...), as in FROM steps(1); 0 by default"},
};

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .pathspec = kPathspec, .private_names = kPrivate};

bool uses_run(const engine::Plan& plan) { return plan.uses(kUserTags) || plan.uses(kSystemTags) || plan.uses(kTags); }

void put_row(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const StepRecord& step = found.step;
  engine::Row& row = out.emplace_back(kCount);
  put_path(row, step.path, kPath);
  row[kPrivate] = private_value(plan, kPrivate);
  row[kParent] = Value::of(found.run->path.pathspec());
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(step.ts_ms));
  if (plan.uses(kPathComponents)) row[kPathComponents] = Value::json(path_components_json(step.path));
  // The step's tasks are read only for steps the query keeps.
  if (plan.uses(kFinishedAt) || plan.uses(kTaskCount))
    row.defer(engine::column_bits({kFinishedAt, kTaskCount}), [&store, &plan, path = &step.path](engine::Row& r) {
      auto tasks = store.meta().tasks(*path);
      r[kTaskCount] = Value::of(static_cast<int64_t>(tasks.size()));
      if (plan.uses(kFinishedAt))
        r[kFinishedAt] = guarded([&] {
          auto at = client::step_finished_at(store, tasks);
          return at ? Value::of(iso_utc_ms(*at)) : Value::null();
        });
    });
  if (uses_run(plan)) put_run_tags(row, kUserTags, *found.run, plan);
  defer_step_dag(store, step, plan, row, kType);
  if (plan.uses(kEnvironmentInfo))
    row.defer(engine::column_bits({kEnvironmentInfo}), [&store, path = &step.path](engine::Row& r) {
      r[kEnvironmentInfo] = guarded([&] { return Value::json_maybe(client::step_environment_info_json(store, *path)); });
    });
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  const bool dag = plan.uses(kType) || plan.uses(kParentSteps) || plan.uses(kChildSteps);  // a task's _graph_info
  const Walk how{.level = Level::kStep, .run_records = uses_run(plan), .reads_artifacts = plan.uses(kFinishedAt) || dag,
                 .reads_metadata = plan.uses(kControlTask) || plan.uses(kEnvironmentInfo),
                 .objects_at_once = 256, .min_per_thread = 1};
  return walk(source, plan, kPath, how, put_row);
}

}  // namespace

const engine::TableSpec kStepsTable = {
    .name = "steps",
    .doc = "Every step of every run, newest first.",
    .columns = kColumns,
    .scan_rows = 10000,
    .rows = rows,
    .example = "SELECT step, task_count, created_at, finished_at FROM steps WHERE flow = 'TrainingFlow' AND run_id = (SELECT latest_run FROM flows WHERE flow = 'TrainingFlow');",
};

}  // namespace mfsql::tables
