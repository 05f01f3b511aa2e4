// task_attempts: one row per attempt of every task, as the client's Task(pathspec, attempt=N)
// shows it, so "which tasks needed a retry, and why did attempt 0 fail" is one query. What each
// column costs:
//   path, attempt, created_at, started_at  the task's metadata (which attempts started), always
//   finished, successful, finished_at      + that attempt's _task_ok/_success registrations
//   exception                              + its _exception, decoded
#include <algorithm>

#include "model/client.hpp"
#include "model/task_history.hpp"
#include "tables/attempt_filter.hpp"
#include "tables/object_columns.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kTaskId, kPathspec, kAttempt, kCreatedAt, kStartedAt, kFinishedAt, kFinished,
           kSuccessful, kException, kPrivate, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"pathspec", Type::Text, kKey | kPattern, 50000, "The task's Flow/Run/Step/Task"},
    {"attempt", Type::Integer, kKey, 2,
     "The attempt, 0 up to the task's current (latest started) attempt; = N and IN (...) read only those"},
    {"created_at", Type::Text, kPlain, 0, "When the task was created, UTC (the client's Task(..., attempt=N).created_at)"},
    {"started_at", Type::Text, kPlain, 0, "When this attempt started (its attempt metadata entry), UTC"},
    {"finished_at", Type::Text, kPlain, 0, "When this attempt finished (its _task_ok), UTC; NULL while unfinished"},
    {"finished", Type::Integer, kPlain, 0, "1 when this attempt's _task_ok is true (a failed attempt is not finished)"},
    {"successful", Type::Integer, kPlain, 0, "1 when this attempt's _success is true"},
    {"exception", Type::Json, kPlain, 0, "{type, message, stacktrace} of this attempt's exception, else NULL"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, ...), as in FROM task_attempts(1); 0 by default"},
};

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId, .pathspec = kPathspec,
                            .private_names = kPrivate};
constexpr uint64_t kOutcome = engine::column_bits({kFinishedAt, kFinished, kSuccessful, kException});

void put_outcome(Store& store, const ObjectPath& task, int attempt, const engine::Plan& plan, engine::Row& row) {
  std::vector<std::string> names = client::kOutcomeArtifacts;
  if (plan.uses(kException)) names.push_back("_exception");
  put_task_outcome(store, client::attempt_artifacts(store, task, attempt, names), plan,
                   {kFinished, kSuccessful, kFinishedAt, kException}, row);
}

void put_rows(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const TaskRecord* task = &found.task;
  // Which attempts started: the task's current attempt, as tasks.attempt gives it.
  const int last = client::current_attempt(client::task_metadata_dict(store, task->path));
  const std::vector<MetadataEntry> entries =
      plan.uses(kStartedAt) ? store.meta().metadata_field(task->path, "attempt") : std::vector<MetadataEntry>{};
  const std::vector<std::optional<int>> wanted = requested_attempts(plan, kAttempt);
  for (int attempt = 0; attempt <= last; ++attempt) {
    if (plan.values(kAttempt) && std::find(wanted.begin(), wanted.end(), std::optional<int>(attempt)) == wanted.end())
      continue;
    engine::Row& row = out.emplace_back(kCount);
    put_path(row, task->path, kPath);
    row[kPrivate] = private_value(plan, kPrivate);
    row[kAttempt] = Value::of(int64_t{attempt});
    row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(task->ts_ms));
    if (auto started = client::attempt_started_at(entries, attempt)) row[kStartedAt] = Value::of(iso_utc_ms(*started));
    if (plan.columns_used & kOutcome)  // that attempt's artifacts: read only for rows the query keeps
      row.defer(kOutcome, [&store, &plan, path = &task->path, attempt](engine::Row& r) {
        guarded_fill([&] { put_outcome(store, *path, attempt, plan, r); });  // a damaged registration: NULL outcome
      });
  }
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  if (plan.values(kAttempt) && requested_attempts(plan, kAttempt).empty()) return {};
  const Walk how{.level = Level::kTask,
                 .reads_artifacts = (plan.columns_used & kOutcome) != 0,
                 .reads_metadata = true,
                 .rows_read = true};
  return walk(source, plan, kPath, how, put_rows);
}

}  // namespace

const engine::TableSpec kTaskAttemptsTable = {
    .name = "task_attempts",
    .doc = "Every attempt of every task (retries included), as Metaflow's client shows Task(pathspec, attempt=N).",
    .columns = kColumns,
    .scan_rows = 100000,
    .rows = rows,
    .example = "SELECT pathspec, attempt, successful, json_extract(exception, '$.type') AS error FROM task_attempts WHERE flow = 'TrainingFlow' AND attempt > 0;",
};

}  // namespace mfsql::tables
