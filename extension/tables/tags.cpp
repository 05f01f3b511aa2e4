// tags: one row per tag of a run, user and system.
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
    {"tag", Type::Text, kPlain, 0, "The tag"},
    {"system", Type::Integer, kPlain, 0, "1 for a system tag (user:, runtime:, ...), 0 for a user tag"},
};

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId});
  for (const std::string& flow : flow_names(store, filter))
    for (RunRecord& run : select_runs(store, flow, filter))
      for (int system = 0; system < 2; ++system)
        for (auto& tag : system ? run.system_tags : run.tags) {
          engine::Row row{Value::of(flow), Value::of(run.path.run_id), Value::of(tag), Value::of(int64_t{system})};
          co_yield std::move(row);
        }
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
