// task_edges: one row per parent -> child task edge of a run, from the run's lineage
// (model/lineage.hpp), so that a recursive CTE walks a task's ancestors or descendants.
#include "model/lineage.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kParentStep, kParentTaskId, kParentPathspec, kChildStep, kChildTaskId, kChildPathspec,
           kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"parent_step", Type::Text, kPlain, 0, "The parent task's step"},
    {"parent_task_id", Type::Text, kPlain, 0, "The parent task's id"},
    {"parent_pathspec", Type::Text, kKey, 100000, "Flow/Run/Step/Task of the parent task"},
    {"child_step", Type::Text, kPlain, 0, "The child task's step"},
    {"child_task_id", Type::Text, kPlain, 0, "The child task's id"},
    {"child_pathspec", Type::Text, kKey, 100000, "Flow/Run/Step/Task of the child task"},
};

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId};

std::vector<std::string> split_pathspec(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t slash; (slash = p.find('/', start)) != std::string::npos; start = slash + 1)
    parts.push_back(p.substr(start, slash - start));
  parts.push_back(p.substr(start));
  return parts;
}

// The flows and runs a pathspec lookup names become lookups of the walk, so that
// `child_pathspec = 'F/R/S/T'` reads run R only.
void narrow_by_pathspecs(engine::Plan& plan) {
  for (int column : {kParentPathspec, kChildPathspec}) {
    const auto* values = plan.values(column);
    if (!values) continue;
    for (int level : {0, 1}) {
      std::vector<std::string> named;
      for (const auto& p : *values)
        if (auto parts = split_pathspec(p); parts.size() == 4) named.push_back(parts[level]);
      auto& allowed = plan.equals[level == 0 ? kFlow : kRunId];
      if (allowed) std::erase_if(named, [&](const std::string& v) { return std::find(allowed->begin(), allowed->end(), v) == allowed->end(); });
      allowed = std::move(named);
    }
  }
}

bool allowed(const engine::Plan& plan, int column, const std::string& value) {
  const auto* values = plan.values(column);
  return !values || std::find(values->begin(), values->end(), value) != values->end();
}

void put_rows(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  auto lineage = client::run_lineage(store, found.run->path);
  for (const client::TaskEdge& e : lineage->edges) {
    std::string parent = e.parent.pathspec(), child = e.child.pathspec();
    if (!allowed(plan, kParentPathspec, parent) || !allowed(plan, kChildPathspec, child)) continue;
    out.push_back(engine::Row{Value::of(e.parent.flow), Value::of(e.parent.run_id), Value::of(e.parent.step),
                              Value::of(e.parent.task_id), Value::of(std::move(parent)), Value::of(e.child.step),
                              Value::of(e.child.task_id), Value::of(std::move(child))});
  }
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  engine::Plan narrowed = plan;
  narrowed.equals.resize(kCount);
  narrow_by_pathspecs(narrowed);
  Store& store = source.store();
  // One run at a time: each run's lineage is read on the whole thread budget (model/lineage.cpp).
  Walk how{.level = Level::kRun, .objects_at_once = 1, .min_per_thread = 1};
  auto edges = walk(store, PathFilter(narrowed, kPath), how, [&store, &plan](const Found& f, std::vector<engine::Row>& out) {
    put_rows(store, f, plan, out);
  });
  while (edges.next()) co_yield std::move(edges.value());
}

}  // namespace

const engine::TableSpec kTaskEdgesTable = {
    .name = "task_edges",
    .doc = "One row per parent -> child task edge of a run, as Metaflow's client relates tasks (parent_task_pathspecs, "
           "child_task_pathspecs): walk it with a recursive CTE.",
    .columns = kColumns,
    .scan_rows = 100000,
    .rows = rows,
    .example = "SELECT parent_pathspec, child_pathspec FROM task_edges WHERE flow = 'TrainingFlow' AND run_id = (SELECT latest_run FROM flows WHERE flow = 'TrainingFlow');",
};

}  // namespace mfsql::tables
