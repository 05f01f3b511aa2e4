#include "tables/lineage_columns.hpp"

#include <set>

#include "model/client.hpp"
#include "model/lineage.hpp"

namespace mfsql::tables {

using engine::Value;

namespace {
Value array_or_null(const std::optional<std::vector<std::string>>& items) {
  return items ? Value::json(json_array(*items)) : Value::null();
}
}  // namespace

void defer_task_lineage(Store& store, const TaskRecord& task, engine::Row& row, int first) {
  row.defer(engine::column_bits({first, first + 1}), [&store, path = task.path, first](engine::Row& r) {
    guarded_fill([&] {
      auto lineage = client::run_lineage(store, path.run_path());
      if (const client::TaskLineage* of = lineage->of(path)) {
        r[first] = array_or_null(of->parents);
        r[first + 1] = array_or_null(of->children);
      }
    });
  });
}

std::function<void(std::span<const Found>)> lineage_ahead(Store& store) {
  return [&store](std::span<const Found> objects) {
    std::set<std::string> done;
    for (const Found& f : objects) {
      const ObjectPath run = f.task.path.run_path();
      if (done.insert(run.pathspec()).second) guarded_fill([&] { client::run_lineage(store, run); });
    }
  };
}

void defer_step_dag(Store& store, const StepRecord& step, const engine::Plan& plan, engine::Row& row, int first) {
  const int type = first, parents = first + 1, children = first + 2, control = first + 3;
  if (plan.uses(type) || plan.uses(parents) || plan.uses(children))
    row.defer(engine::column_bits({type, parents, children}), [&store, path = step.path, first](engine::Row& r) {
      guarded_fill([&] {
        auto tasks = store.meta().tasks(path);
        client::sort_newest_first(tasks);
        client::StepDag dag = client::step_dag(store, path, tasks);
        r[first] = Value::maybe(dag.type);
        r[first + 1] = array_or_null(dag.parents);
        r[first + 2] = array_or_null(dag.children);
      });
    });
  if (plan.uses(control))
    row.defer(engine::column_bits({control}), [&store, path = step.path, control](engine::Row& r) {
      auto tasks = store.meta().tasks(path);
      client::sort_newest_first(tasks);
      r[control] = Value::maybe(client::control_task(store, tasks));
    });
}

}  // namespace mfsql::tables
