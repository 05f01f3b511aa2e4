// steps: one row per step of a run (the hidden `_parameters` step only when asked for by name).
#include "model/client.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kPathspec, kParent, kCreatedAt, kFinishedAt, kTaskCount, kUserTags,
           kSystemTags, kTags, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"pathspec", Type::Text, kKey, 5000, "Flow/Run/Step"},
    {"parent", Type::Text, kPlain, 0, "The run's pathspec"},
    {"created_at", Type::Text, kPlain, 0, "When the step's first task was created"},
    {"finished_at", Type::Text, kPlain, 0, "Latest finished_at of its tasks; NULL while any is unfinished"},
    {"task_count", Type::Integer, kPlain, 0, "Number of tasks"},
    {"user_tags", Type::Json, kPlain, 0, "The run's user tags"},
    {"system_tags", Type::Json, kPlain, 0, "The run's system tags"},
    {"tags", Type::Json, kPlain, 0, "Union of the run's tags"},
};

bool uses_run(const engine::Plan& plan) { return plan.uses(kUserTags) || plan.uses(kSystemTags) || plan.uses(kTags); }

std::vector<engine::Row> rows_of_run(Store& store, const std::string& flow, const RunRecord& run,
                                     const PathFilter& filter, const engine::Plan& plan) {
  std::vector<engine::Row> out;
  for (StepRecord& step : select_steps(store, run.path, filter)) {
    const std::string pathspec = step.path.pathspec();
    if (!filter.accepts(pathspec)) continue;
    engine::Row row(kCount);
    row[kFlow] = Value::of(flow);
    row[kRunId] = Value::of(run.path.run_id);
    row[kStep] = Value::of(step.path.step);
    row[kPathspec] = Value::of(pathspec);
    row[kParent] = Value::of(run.path.pathspec());
    row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(step.ts_ms));
    if (plan.uses(kFinishedAt) || plan.uses(kTaskCount)) {
      auto tasks = store.meta().tasks(step.path);
      row[kTaskCount] = Value::of(static_cast<int64_t>(tasks.size()));
      if (plan.uses(kFinishedAt))
        row[kFinishedAt] = guarded([&] {
          std::optional<int64_t> latest;
          for (auto& t : tasks) {
            auto ok = store.meta().artifacts(t.path, std::nullopt, std::string("_task_ok"));
            if (ok.empty()) return Value::null();
            latest = std::max(latest.value_or(ok.front().ts_ms), ok.front().ts_ms);
          }
          return latest ? Value::of(iso_utc_ms(*latest)) : Value::null();
        });
    }
    if (uses_run(plan)) {
      row[kUserTags] = Value::json(json_array(run.tags));
      row[kSystemTags] = Value::json(json_array(run.system_tags));
      row[kTags] = Value::json(json_array(union_sorted(run.tags, run.system_tags)));
    }
    out.push_back(std::move(row));
  }
  return out;
}

// Runs are answered a batch at a time on both cores (a run's steps are a handful of small
// folders each). Batches start at one run and grow, so a LIMIT reads no further than it must.
constexpr size_t kMaxRunsAtOnce = 32;

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId, .step = kStep, .pathspec = kPathspec});
  for (const std::string& flow : flow_names(store, filter)) {
    std::vector<RunRecord> runs = select_runs(store, flow, filter, uses_run(plan));
    for (size_t first = 0, batch = 1; first < runs.size(); first += batch, batch = std::min(batch * 2, kMaxRunsAtOnce)) {
      const size_t n = std::min(batch, runs.size() - first);
      std::vector<std::vector<engine::Row>> out(n);
      for_each_index(store, n, [&](size_t i) { out[i] = rows_of_run(store, flow, runs[first + i], filter, plan); }, 1);
      for (auto& run_rows : out)
        for (auto& row : run_rows) co_yield std::move(row);
    }
  }
}

}  // namespace

const engine::TableSpec kStepsTable = {
    .name = "steps",
    .doc = "Every step of every run, newest first.",
    .columns = kColumns,
    .scan_rows = 10000,
    .rows = rows,
    .example = "SELECT step, task_count, finished_at FROM steps WHERE flow = 'TrainFlow' AND run_id = '123';",
};

}  // namespace mfsql::tables
