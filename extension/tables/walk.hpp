#pragma once
// Turning a plan's path constraints into direct lookups: each level of the tree is either looked
// up by the values the query fixed (`=`, `IN`, or a `pathspec`) or listed when nothing fixed it.
// Listings hide private names (`_parameters`, `_task_ok`), as the client does; lookups return them.
#include <optional>
#include <string>
#include <vector>

#include "engine/generator.hpp"
#include "engine/table.hpp"
#include "model/store.hpp"
#include "session/session.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"

namespace mfsql::tables {

Store& store_of(engine::Source& source);
Session& session_of(engine::Source& source);

// The column numbers of a table's path columns (-1 where the table has none).
struct PathColumns {
  int flow = -1, run_id = -1, step = -1, task_id = -1, pathspec = -1, name = -1;
};

// Per level, the values the query allows (nullopt: any). Pathspec constraints are split into
// their parts and intersected with the per-column ones; `accepts` re-checks whole pathspecs.
class PathFilter {
 public:
  PathFilter(const engine::Plan& plan, const PathColumns& columns);

  const std::vector<std::string>* flows() const { return level(0); }
  const std::vector<std::string>* runs() const { return level(1); }
  const std::vector<std::string>* steps() const { return level(2); }
  const std::vector<std::string>* tasks() const { return level(3); }
  const std::vector<std::string>* names() const { return level(4); }
  bool accepts(const std::string& pathspec) const;

 private:
  const std::vector<std::string>* level(int i) const { return levels_[i] ? &*levels_[i] : nullptr; }
  std::optional<std::vector<std::string>> levels_[5];
  std::optional<std::vector<std::string>> pathspecs_;
};

std::vector<FlowRecord> select_flows(Store& store, const PathFilter& f);
// Just the names: no flow record is read when the query fixed them.
std::vector<std::string> flow_names(Store& store, const PathFilter& f);
// Newest first, as the client iterates.
// With `need_record` false, values the query fixed are not looked up: a walk down to tasks does
// not read the run's and step's records when no column needs them (a missing run then simply has
// no tasks).
std::vector<RunRecord> select_runs(Store& store, const std::string& flow, const PathFilter& f, bool need_record = true);
std::vector<StepRecord> select_steps(Store& store, const ObjectPath& run, const PathFilter& f, bool need_record = true);
std::vector<TaskRecord> select_tasks(Store& store, const ObjectPath& step, const PathFilter& f);

// Runs f(i) for i in [0, n): on both cores when the provider reads_in_parallel (the local store,
// where a question is thousands of small independent reads), else in order on this thread.
template <typename F>
void for_each_index(Store& store, size_t n, F&& f, size_t min_per_thread) {
  if (store.meta().reads_in_parallel()) {
    parallel_for(n, f, min_per_thread);
  } else {
    for (size_t i = 0; i < n; ++i) f(i);
  }
}

// Every task the filter allows (flow by flow, runs newest first), without reading the records of
// the runs and steps on the way: the walk of the tables with per-task rows.
engine::Generator<TaskRecord> each_task(Store& store, const PathFilter& f);
// The flow, run_id, step, task_id and pathspec columns of a row about `task`.
void put_task_path(engine::Row& row, const ObjectPath& task, const PathColumns& columns);

// A JSON array of strings.
std::string json_array(const std::vector<std::string>& items);
std::vector<std::string> union_sorted(const std::vector<std::string>& a, const std::vector<std::string>& b);

// Evaluates one column; a damaged record makes it NULL instead of failing the query.
template <typename F>
engine::Value guarded(F&& compute) {
  try {
    return compute();
  } catch (const CorruptRecord&) {
    return engine::Value::null();
  }
}

}  // namespace mfsql::tables
