// tags: one row per tag of a run, user and system.
#include <algorithm>
#include <vector>

#include "model/client.hpp"
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

// The runs a flow's rows come from. `tag = 'x'` with no run fixed is a question the provider can
// answer at once (the service filters on its side); the runs come back newest first either way.
std::vector<RunRecord> candidate_runs(Store& store, const std::string& flow, const PathFilter& filter,
                                      const std::vector<std::string>* wanted_tags) {
  if (!wanted_tags || filter.runs()) return select_runs(store, flow, filter);
  auto out = store.meta().runs_with_tags(flow, *wanted_tags, TagMatch::kAny);  // IN is "any of"
  client::sort_newest_first(out);
  return out;
}

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId});
  const std::vector<std::string>* wanted = plan.values(kTag);
  for (const std::string& flow : flow_names(store, filter))
    for (RunRecord& run : candidate_runs(store, flow, filter, wanted))
      for (int system = 0; system < 2; ++system)
        for (auto& tag : system ? run.system_tags : run.tags) {
          if (wanted && std::find(wanted->begin(), wanted->end(), tag) == wanted->end()) continue;
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
