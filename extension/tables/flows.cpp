// flows: one row per flow, with its newest run and newest successful run.
#include "model/client.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kPathspec, kCreatedAt, kLatestRun, kLatestSuccessfulRun, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"pathspec", Type::Text, kKey, 10, "Same as flow"},
    {"created_at", Type::Text, kPlain, 0, "When the flow was first run"},
    {"latest_run", Type::Text, kPlain, 0, "Id of the newest run, finished or not"},
    {"latest_successful_run", Type::Text, kPlain, 0, "Id of the newest successful run"},
};

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .pathspec = kPathspec});
  for (FlowRecord& flow : select_flows(store, filter)) {
    if (!filter.accepts(flow.flow)) continue;
    engine::Row row(kCount);
    row[kFlow] = Value::of(flow.flow);
    row[kPathspec] = Value::of(flow.flow);
    row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(flow.ts_ms));
    if (plan.uses(kLatestRun) || plan.uses(kLatestSuccessfulRun)) {
      auto runs = select_runs(store, flow.flow, PathFilter({}, {}));
      if (!runs.empty()) row[kLatestRun] = Value::of(runs.front().path.run_id);
      if (plan.uses(kLatestSuccessfulRun))
        for (auto& run : runs) {
          bool ok = false;
          try {
            ok = client::run_outcome(store, run.path).end.successful.value_or(false);
          } catch (const CorruptRecord&) {
          }
          if (ok) {
            row[kLatestSuccessfulRun] = Value::of(run.path.run_id);
            break;
          }
        }
    }
    co_yield std::move(row);
  }
}

}  // namespace

const engine::TableSpec kFlowsTable = {
    .name = "flows",
    .doc = "Every flow in the store.",
    .columns = kColumns,
    .scan_rows = 10,
    .rows = rows,
    .example = "SELECT flow, latest_successful_run FROM flows;",
};

}  // namespace mfsql::tables
