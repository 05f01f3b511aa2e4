// flows: one row per flow, with its newest run and newest successful run.
#include "model/client.hpp"
#include "tables/object_columns.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kPathspec, kCreatedAt, kLatestRun, kLatestSuccessfulRun,
           kPathComponents, kParent, kUserTags, kSystemTags, kTags, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"pathspec", Type::Text, kKey | kPattern, 10, "Same as flow"},
    {"created_at", Type::Text, kPlain, 0, "When the flow was first run, UTC"},
    {"latest_run", Type::Text, kPlain, 0, "Id of the newest run, finished or not"},
    {"latest_successful_run", Type::Text, kPlain, 0, "Id of the newest successful run"},
    {"path_components", Type::Json, kPlain, 0, "The client's path_components: [flow]"},
    {"parent", Type::Text, kPlain, 0, "Always NULL: a flow has no parent (the client's Flow.parent is None)"},
    {"user_tags", Type::Json, kPlain, 0, "The client's Flow.user_tags: the flow record's own tags (Metaflow registers none)"},
    {"system_tags", Type::Json, kPlain, 0, "The client's Flow.system_tags (Metaflow registers none)"},
    {"tags", Type::Json, kPlain, 0, "Union of the flow's user and system tags"},
};

void put_row(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  engine::Row& row = out.emplace_back(kCount);
  row[kFlow] = Value::of(found.flow.flow);
  row[kPathspec] = Value::of(found.flow.flow);
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(found.flow.ts_ms));
  row[kPathComponents] = Value::json(path_components_json({found.flow.flow, {}, {}, {}}));
  put_tags(row, kUserTags, found.flow.tags, found.flow.system_tags, plan);
  // A flow's runs are read only for flows the query keeps.
  if (plan.uses(kLatestRun) || plan.uses(kLatestSuccessfulRun))
    row.defer(engine::column_bits({kLatestRun, kLatestSuccessfulRun}), [&store, &plan, flow = &found.flow.flow](engine::Row& r) {
      auto latest = client::latest_runs(store, *flow, plan.uses(kLatestSuccessfulRun));
      r[kLatestRun] = Value::maybe(latest.any);
      r[kLatestSuccessfulRun] = Value::maybe(latest.successful);
    });
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  return walk(source, plan, {.flow = kFlow, .pathspec = kPathspec}, {.level = Level::kFlow, .min_per_thread = 1}, put_row);
}

}  // namespace

const engine::TableSpec kFlowsTable = {
    .name = "flows",
    .doc = "Every flow in the store.",
    .columns = kColumns,
    .scan_rows = 10,
    .rows = rows,
    .example = "SELECT flow, latest_run, latest_successful_run FROM flows;",
};

}  // namespace mfsql::tables
