// tasks: one row per task, with the attempt the client shows and its outcome.
#include "model/client.hpp"
#include "model/task_history.hpp"
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
           kSystemTags, kTags, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"pathspec", Type::Text, kKey, 50000, "Flow/Run/Step/Task"},
    {"parent", Type::Text, kPlain, 0, "The step's pathspec"},
    {"attempt", Type::Integer, kPlain, 0, "The current attempt, as the client picks it"},
    {"created_at", Type::Text, kPlain, 0, "When the task was created"},
    {"finished_at", Type::Text, kPlain, 0, "When its shown attempt finished"},
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
};

constexpr uint64_t bit(int c) { return uint64_t{1} << c; }
constexpr uint64_t kNeedsArtifacts =
    bit(kFinishedAt) | bit(kFinished) | bit(kSuccessful) | bit(kException) | bit(kForeachIndex);
constexpr uint64_t kNeedsMetadata = bit(kAttempt) | bit(kMetadata) | bit(kOriginPathspec) | bit(kStdout) | bit(kStderr);
constexpr uint64_t kNeedsRun = bit(kUserTags) | bit(kSystemTags) | bit(kTags);

void fill(Store& store, const TaskRecord& task, const RunRecord& run, const engine::Plan& plan, engine::Row& row) {
  if (plan.columns_used & kNeedsArtifacts) {
    try {
      std::vector<std::string> names = client::kOutcomeArtifacts;
      if (plan.uses(kException)) names.push_back("_exception");
      if (plan.uses(kForeachIndex)) names.push_back("_foreach_stack");
      auto arts = store.meta().artifacts_named(task.path, std::nullopt, names);
      auto outcome = client::task_outcome(store, arts);
      row[kFinished] = outcome.finished ? Value::boolean(*outcome.finished) : Value::null();
      row[kSuccessful] = outcome.successful ? Value::boolean(*outcome.successful) : Value::null();
      row[kFinishedAt] = outcome.finished_at_ms ? Value::of(iso_utc_ms(*outcome.finished_at_ms)) : Value::null();
      if (plan.uses(kException))
        row[kException] = guarded([&] {
          auto e = client::task_exception_json(store, arts);
          return e ? Value::json(*e) : Value::null();
        });
      if (plan.uses(kForeachIndex))
        row[kForeachIndex] = guarded([&] { return Value::maybe(client::foreach_index(store, arts)); });
    } catch (const CorruptRecord&) {
      // The task's artifact index is damaged: its outcome columns stay NULL.
    }
  }
  if (plan.columns_used & kNeedsMetadata) {
    // The client's dict, origin entries included: a clone's logs need its origin's ds-type/ds-root.
    auto dict = client::task_metadata_dict(store, task.path);
    row[kAttempt] = Value::of(int64_t{client::current_attempt(dict)});
    if (plan.uses(kMetadata)) row[kMetadata] = Value::json(client::metadata_dict_json(dict));
    auto origin_task = dict.find("origin-task-id");
    auto origin_run = dict.find("origin-run-id");
    if (origin_task != dict.end() && origin_run != dict.end())
      row[kOriginPathspec] = Value::of(task.path.flow + "/" + origin_run->second.text + "/" + task.path.step + "/" +
                                       origin_task->second.text);
    for (auto [column, stream_name] : {std::pair{kStdout, "stdout"}, std::pair{kStderr, "stderr"}})
      if (const char* stream = stream_name; plan.uses(column))  // (clang 14: no binding captures)
        row[column] = guarded([&] {
          return Value::maybe(client::log_text(client::load_task_log(store, task.path, dict, std::nullopt, stream)));
        });
  }
  if (plan.columns_used & kNeedsRun) {
    row[kUserTags] = Value::json(json_array(run.tags));
    row[kSystemTags] = Value::json(json_array(run.system_tags));
    row[kTags] = Value::json(json_array(union_sorted(run.tags, run.system_tags)));
  }
}

// One task to answer, found by the walk down the tree.
struct Pending {
  const std::string* flow;
  const RunRecord* run;
  ObjectPath step;
  TaskRecord task;
};

engine::Row row_of(Store& store, const Pending& p, const engine::Plan& plan) {
  engine::Row row(kCount);
  row[kFlow] = Value::of(*p.flow);
  row[kRunId] = Value::of(p.run->path.run_id);
  row[kStep] = Value::of(p.step.step);
  row[kTaskId] = Value::of(p.task.path.task_id);
  row[kPathspec] = Value::of(p.task.path.pathspec());
  row[kParent] = Value::of(p.step.pathspec());
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(p.task.ts_ms));
  fill(store, p.task, *p.run, plan, row);
  return row;
}

// Runs are walked a batch at a time, on both cores: first each run's steps and tasks, then each
// task's row, at most kRowsAtOnce rows held. Batches start at one run and grow, so a LIMIT or a
// point lookup reads no further than it must.
constexpr size_t kMaxRunsAtOnce = 32;
constexpr size_t kRowsAtOnce = 64;

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId, .pathspec = kPathspec});
  for (const std::string& flow : flow_names(store, filter)) {
    std::vector<RunRecord> runs = select_runs(store, flow, filter, (plan.columns_used & kNeedsRun) != 0);
    for (size_t first = 0, batch = 1; first < runs.size(); first += batch, batch = std::min(batch * 2, kMaxRunsAtOnce)) {
      const size_t n = std::min(batch, runs.size() - first);
      std::vector<std::vector<Pending>> found(n);
      for_each_index(store, n, [&](size_t i) {
        const RunRecord& run = runs[first + i];
        for (StepRecord& step : select_steps(store, run.path, filter, false))
          for (TaskRecord& task : select_tasks(store, step.path, filter))
            if (filter.accepts(task.path.pathspec())) found[i].push_back({&flow, &run, step.path, std::move(task)});
      }, 1);
      std::vector<Pending> pending;
      for (auto& f : found)
        for (auto& p : f) pending.push_back(std::move(p));
      for (size_t at = 0; at < pending.size(); at += kRowsAtOnce) {
        const size_t m = std::min(kRowsAtOnce, pending.size() - at);
        std::vector<engine::Row> out(m);
        for_each_index(store, m, [&](size_t i) { out[i] = row_of(store, pending[at + i], plan); }, 4);
        for (auto& row : out) co_yield std::move(row);
      }
    }
  }
}

}  // namespace

const engine::TableSpec kTasksTable = {
    .name = "tasks",
    .doc = "Every task of every step, newest first, as Metaflow's client shows it.",
    .columns = kColumns,
    .scan_rows = 100000,
    .rows = rows,
    .example = "SELECT pathspec, exception FROM tasks WHERE flow = 'TrainFlow' AND run_id = '123' AND successful = 0;",
};

}  // namespace mfsql::tables
