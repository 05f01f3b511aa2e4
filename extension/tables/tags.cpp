// tags: one row per tag of a run, user and system.
#include <algorithm>
#include <vector>

#include "tables/specs.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kTag, kSystem, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"tag", Type::Text, kKey, 50, "The tag"},
    {"system", Type::Integer, kPlain, 0, "1 for a system tag (user:, runtime:, ...), 0 for a user tag"},
};

void put_rows(Store&, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const std::vector<std::string>* wanted = plan.values(kTag);
  const RunRecord& run = *found.run;
  for (int system = 0; system < 2; ++system)
    for (auto& tag : system ? run.system_tags : run.tags)
      if (!wanted || std::find(wanted->begin(), wanted->end(), tag) != wanted->end())
        out.push_back({Value::of(run.path.flow), Value::of(run.path.run_id), Value::of(tag), Value::of(int64_t{system})});
}

// `tag = 'x'` is a question the provider can answer for a whole flow at once (the service
// filters on its side): IN is "any of".
engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  // A LIMIT counts tag rows; each run kept has at least one, so as many runs are enough.
  RunQuery query = runs_query(plan, -1, -1, /*rows_are_runs=*/true);
  if (const std::vector<std::string>* wanted = plan.values(kTag)) query.tags_any = *wanted;
  return walk(source, plan, {.flow = kFlow, .run_id = kRunId},
              {.level = Level::kRun, .run_query = std::move(query), .min_per_thread = 1000},  // no reads: one thread
              put_rows);
}

}  // namespace

const engine::TableSpec kTagsTable = {
    .name = "tags",
    .doc = "One row per tag of each run.",
    .columns = kColumns,
    .scan_rows = 8000,
    .rows = rows,
    .example = "SELECT flow, run_id FROM tags WHERE tag = 'team:ml' AND system = 0;",
};

}  // namespace mfsql::tables
