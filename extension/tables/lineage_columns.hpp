#pragma once
// The lineage columns of `steps` and `tasks` (model/lineage.hpp), each a contiguous block of the
// table's columns starting at `first`, computed only for rows the query keeps.
#include <functional>
#include <span>

#include "engine/table.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {

// tasks: parent_task_pathspecs, child_task_pathspecs at first, first + 1.
void defer_task_lineage(Store& store, const TaskRecord& task, engine::Row& row, int first);
// A Walk::before_rows that computes the lineage of each run of a batch once, ahead of its rows,
// on the whole thread budget (rows then only look their task up).
std::function<void(std::span<const Found>)> lineage_ahead(Store& store);

// steps: type, parent_steps, child_steps, control_task at first .. first + 3.
void defer_step_dag(Store& store, const StepRecord& step, const engine::Plan& plan, engine::Row& row, int first);

}  // namespace mfsql::tables
