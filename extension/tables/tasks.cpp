// tasks: one row per task, with the attempt the client shows and its outcome.
#include "model/client.hpp"
#include "model/code_package.hpp"
#include "model/failed_tasks.hpp"
#include "model/task_history.hpp"
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

enum Col { kFlow, kRunId, kStep, kTaskId, kPathspec, kParent, kAttempt, kCreatedAt, kFinishedAt, kFinished,
           kSuccessful, kException, kForeachIndex, kStdout, kStderr, kMetadata, kOriginPathspec, kUserTags,
           kSystemTags, kTags, kPathComponents, kStdoutSize, kStderrSize, kRuntimeName,
           kParentTaskPathspecs, kChildTaskPathspecs,  // lineage (tables/lineage_columns.cpp)
           kCode, kEnvironmentInfo,  // model/code_package.*
           kPrivate, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"pathspec", Type::Text, kKey | kPattern, 50000, "Flow/Run/Step/Task"},
    {"parent", Type::Text, kPlain, 0, "The step's pathspec"},
    {"attempt", Type::Integer, kPlain, 0, "The current attempt, as the client picks it"},
    {"created_at", Type::Text, kPlain, 0, "When the task was created, UTC"},
    {"finished_at", Type::Text, kPlain, 0, "When its shown attempt finished, UTC"},
    {"finished", Type::Integer, kPlain, 0, "1 when _task_ok is true (a failed task is not finished)"},
    {"successful", Type::Integer, kPlain, 0, "1 when _success is true"},
    {"exception", Type::Json, kPlain, 0, "{type, message, stacktrace} of a failed task, else NULL"},
    {"foreach_index", Type::Integer, kPlain, 0, "Index within the innermost foreach, NULL outside one"},
    {"stdout", Type::Text, kPlain, 0, "What the client's task.stdout returns (latest started attempt)"},
    {"stderr", Type::Text, kPlain, 0, "What the client's task.stderr returns (latest started attempt)"},
    {"metadata", Type::Json, kPlain, 0, "The client's metadata_dict: newest value of each field (a resumed task adds its origin's)"},
    {"origin_pathspec", Type::Text, kPlain, 0, "For a task cloned by resume: the task it came from"},
    {"user_tags", Type::Json, kPlain, 0, "The run's user tags"},
    {"system_tags", Type::Json, kPlain, 0, "The run's system tags"},
    {"tags", Type::Json, kPlain, 0, "Union of the run's tags"},
    {"path_components", Type::Json, kPlain, 0, "The client's path_components: [flow, run_id, step, task_id]"},
    {"stdout_size", Type::Integer, kPlain, 0,
     "The client's stdout_size: bytes of the latest started attempt's stdout files as stored (not length(stdout)); sized, not read"},
    {"stderr_size", Type::Integer, kPlain, 0, "The client's stderr_size, as stdout_size"},
    {"runtime_name", Type::Text, kPlain, 0, "The client's runtime_name: from the runtime: tag (e.g. dev), NULL without one"},
    {"parent_task_pathspecs", Type::Json, kPlain, 0,
     "Sorted JSON array of the tasks that fed this one (the client's parent_task_pathspecs); NULL where the client raises (no _graph_info)"},
    {"child_task_pathspecs", Type::Json, kPlain, 0,
     "Sorted JSON array of the tasks this one fed (the client's child_task_pathspecs); NULL where the client raises"},
    {"code", Type::Json, kPlain, 0,
     "Task.code: {sha, ds_type, location, info, script_name} of its code-package metadata and the package's INFO; NULL without one"},
    {"environment_info", Type::Json, kPlain, 0,
     "Task.environment_info: \"Local environment\" for local, the conda/pypi environment, NULL without a code package"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, _task_ok, ...), as in FROM tasks(1); 0 by default"},
};

constexpr uint64_t bit(int c) { return uint64_t{1} << c; }
constexpr uint64_t kNeedsArtifacts =
    bit(kFinishedAt) | bit(kFinished) | bit(kSuccessful) | bit(kException) | bit(kForeachIndex);
constexpr uint64_t kLogSizes = bit(kStdoutSize) | bit(kStderrSize);
constexpr uint64_t kNeedsCode = bit(kCode) | bit(kEnvironmentInfo);
constexpr uint64_t kNeedsMetadata =
    bit(kAttempt) | bit(kMetadata) | bit(kOriginPathspec) | bit(kStdout) | bit(kStderr) | kLogSizes | kNeedsCode;
constexpr uint64_t kNeedsRun = bit(kUserTags) | bit(kSystemTags) | bit(kTags) | bit(kRuntimeName);
constexpr uint64_t kNeedsLineage = bit(kParentTaskPathspecs) | bit(kChildTaskPathspecs);

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId, .pathspec = kPathspec,
                            .private_names = kPrivate};

void put_outcome(Store& store, const TaskRecord& task, const engine::Plan& plan, engine::Row& row) {
  std::vector<std::string> names = client::kOutcomeArtifacts;
  if (plan.uses(kException)) names.push_back("_exception");
  if (plan.uses(kForeachIndex)) names.push_back("_foreach_stack");
  auto arts = store.meta().artifacts_named(task.path, std::nullopt, names);
  put_task_outcome(store, arts, plan, {kFinished, kSuccessful, kFinishedAt, kException}, row);
  if (plan.uses(kForeachIndex))
    row[kForeachIndex] = guarded([&] { return Value::maybe(client::foreach_index(store, arts)); });
}

constexpr uint64_t kNeedsLogs = bit(kStdout) | bit(kStderr);

// The client's dict, origin entries included (a clone's logs need its origin's ds-type/ds-root):
// read once per row, by whichever of the metadata and log columns is asked for first.
using SharedDict = std::shared_ptr<std::optional<client::MetadataDict>>;
const client::MetadataDict& dict_of(Store& store, const TaskRecord& task, const SharedDict& dict) {
  if (!*dict) *dict = client::task_metadata_dict(store, task.path);
  return **dict;
}

void put_metadata(Store& store, const TaskRecord& task, const engine::Plan& plan, const client::MetadataDict& dict,
                  engine::Row& row) {
  row[kAttempt] = Value::of(int64_t{client::current_attempt(dict)});
  if (plan.uses(kMetadata)) row[kMetadata] = Value::json(client::metadata_dict_json(dict));
  row[kOriginPathspec] = Value::maybe(client::origin_pathspec(task.path, dict));
}

void put_logs(Store& store, const TaskRecord& task, const engine::Plan& plan, const client::MetadataDict& dict,
              engine::Row& row) {
  for (auto [column, stream_name] : {std::pair{kStdout, "stdout"}, std::pair{kStderr, "stderr"}})
    if (const char* stream = stream_name; plan.uses(column))  // (clang 14: no binding captures)
      row[column] = guarded([&] {
        return Value::maybe(client::log_text(client::load_task_log(store, task.path, dict, std::nullopt, stream)));
      });
}

void put_log_sizes(Store& store, const TaskRecord& task, const client::MetadataDict& dict, engine::Row& row) {
  row[kStdoutSize] = guarded([&] { return Value::maybe(client::log_size(store, task.path, dict, std::nullopt, "stdout")); });
  row[kStderrSize] = guarded([&] { return Value::maybe(client::log_size(store, task.path, dict, std::nullopt, "stderr")); });
}

void put_code(Store& store, const TaskRecord& task, const engine::Plan& plan, const client::MetadataDict& dict,
              engine::Row& row) {
  if (plan.uses(kCode)) row[kCode] = guarded([&] { return Value::json_maybe(client::task_code_json(store, task.path.flow, dict)); });
  if (plan.uses(kEnvironmentInfo))
    row[kEnvironmentInfo] = guarded([&] { return Value::json_maybe(client::environment_info_json(store, task.path.flow, dict)); });
}

void put_row(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const TaskRecord* task = &found.task;
  engine::Row& row = out.emplace_back(kCount);
  put_path(row, task->path, kPath);
  row[kPrivate] = private_value(plan, kPrivate);
  row[kParent] = Value::of(found.step.path.pathspec());
  if (plan.uses(kCreatedAt)) row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(task->ts_ms));
  if (plan.columns_used & kNeedsRun) put_run_tags(row, kUserTags, *found.run, plan);
  if (plan.uses(kPathComponents)) row[kPathComponents] = Value::json(path_components_json(task->path));
  if (plan.uses(kRuntimeName)) row[kRuntimeName] = Value::maybe(client::runtime_name(*found.run));
  // The rest reads the task's records: computed only for tasks the query keeps.
  if (plan.columns_used & kNeedsArtifacts)
    row.defer(kNeedsArtifacts, [&store, &plan, task](engine::Row& r) {
      guarded_fill([&] { put_outcome(store, *task, plan, r); });  // a damaged artifact index: NULL outcome
    });
  auto dict = std::make_shared<std::optional<client::MetadataDict>>();
  if (plan.columns_used & (kNeedsMetadata & ~kNeedsLogs & ~kLogSizes & ~kNeedsCode))
    row.defer(kNeedsMetadata & ~kNeedsLogs & ~kLogSizes & ~kNeedsCode, [&store, &plan, task, dict](engine::Row& r) {
      put_metadata(store, *task, plan, dict_of(store, *task, dict), r);
    });
  if (plan.columns_used & kNeedsCode)
    row.defer(kNeedsCode, [&store, &plan, task, dict](engine::Row& r) { put_code(store, *task, plan, dict_of(store, *task, dict), r); });
  if (plan.columns_used & kNeedsLogs)
    row.defer(kNeedsLogs, [&store, &plan, task, dict](engine::Row& r) {
      put_logs(store, *task, plan, dict_of(store, *task, dict), r);
    });
  if (plan.columns_used & kLogSizes)
    row.defer(kLogSizes, [&store, task, dict](engine::Row& r) { put_log_sizes(store, *task, dict_of(store, *task, dict), r); });
  if (plan.columns_used & kNeedsLineage) defer_task_lineage(store, *task, row, kParentTaskPathspecs);
}

// Whether one of the statement's terms on `successful` drops every row where it is 1 (`= 0`,
// `< 1`, `!= 1`, ...): then only the tasks that may be unsuccessful need be looked at.
bool keeps_no_successful_task(const engine::Plan& plan) {
  using Check = engine::Plan::Check;
  for (const Check& c : plan.checks) {
    if (c.column != kSuccessful) continue;
    double v;
    if (c.value.kind == Value::Kind::Integer) v = static_cast<double>(c.value.integer);
    else if (c.value.kind == Value::Kind::Real) v = c.value.real;
    else continue;  // text or NULL: SQLite's own comparison rules, not guessed here
    const bool one_passes = c.op == Check::kEq ? 1 == v : c.op == Check::kNe ? 1 != v : c.op == Check::kLt ? 1 < v
                          : c.op == Check::kLe ? 1 <= v : c.op == Check::kGt ? 1 > v : c.op == Check::kGe ? 1 >= v : true;
    if (!one_passes) return true;
  }
  return false;
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  Walk how{.level = Level::kTask,
           .run_records = (plan.columns_used & kNeedsRun) != 0,
           .reads_artifacts = (plan.columns_used & kNeedsArtifacts) != 0,
           .reads_metadata = (plan.columns_used & kNeedsMetadata) != 0};
  // `successful = 0`: the tasks the server's attempt_ok does not show succeeded, each then
  // checked (model/failed_tasks.hpp: the rule, and where it does not hold).
  if (keeps_no_successful_task(plan)) how.narrow_tasks = client::tasks_maybe_unsuccessful;
  how.artifact_names = client::kOutcomeArtifacts;  // what put_outcome reads
  how.artifact_names.insert(how.artifact_names.end(), {"_exception", "_foreach_stack"});
  if (plan.columns_used & kNeedsLineage) how.before_rows = lineage_ahead(source.store());
  return walk(source, plan, kPath, how, put_row);
}

}  // namespace

const engine::TableSpec kTasksTable = {
    .name = "tasks",
    .doc = "Every task of every step, newest first, as Metaflow's client shows it.",
    .columns = kColumns,
    .scan_rows = 100000,
    .rows = rows,
    .example = "SELECT pathspec, attempt, json_extract(exception, '$.type') AS error FROM tasks WHERE flow = 'TrainingFlow' AND successful = 0;",
};

}  // namespace mfsql::tables
