#pragma once
// Metaflow's lineage, as its client reports it (metaflow/client/core.py): the step DAG that a
// task's `_graph_info` records (Step.parent_steps, child_steps, control_task, the node's type) and
// task-to-task lineage (Task.parent_task_pathspecs / child_task_pathspecs).
//
// The client finds a task's parents by asking filter_tasks_by_metadata, per neighbour step, for
// the tasks whose `foreach-execution-path` matches a pattern made from the task's own path. Asked
// task by task that reads every neighbour's metadata again for each task; here a whole run is
// done at once: one `foreach-execution-path` read per task, each distinct `_graph_info` decoded
// once, the patterns matched in memory, with the client's rules kept exactly — including where
// they surprise (a recursive step is its own parent; locally "a:1" also matches "a:10", as
// Python's re.match does; a clone made by resume matches only ".*", having no path of its own).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/store.hpp"

namespace mfsql::client {

// One node of `_graph_info["steps"]`.
struct GraphNode {
  std::string type;               // start, linear, split-static, split-foreach, split-switch, join, end, ...
  std::vector<std::string> next;  // the steps it may go to, as recorded
};

struct FlowGraph {
  std::string start_step = "start", end_step = "end";
  std::vector<std::pair<std::string, GraphNode>> steps;  // in `_graph_info`'s order

  const GraphNode* node(const std::string& step) const;
  // The steps whose `next` names `step`, in graph order (the client's _get_previous_steps).
  std::vector<std::string> previous(const std::string& step) const;
};

// The `_graph_info` of the task's shown attempt; nullptr when it has none (the client's
// KeyError). Throws CorruptRecord when it cannot be decoded.
std::shared_ptr<const FlowGraph> task_graph(Store& store, const ObjectPath& task);

// What the client's Step says of the DAG, read from the graph of its newest task (Step.task).
// nullopt where the client raises: that task has no `_graph_info`, or the graph names a
// neighbour step that does not exist in the run (Step(...) raises MetaflowNotFound).
struct StepDag {
  std::optional<std::string> type;                             // NULL when the graph has no such node
  std::optional<std::vector<std::string>> parents, children;   // step names, sorted
};
StepDag step_dag(Store& store, const ObjectPath& step, const std::vector<TaskRecord>& tasks_newest_first);

// Step.control_task: the first task (newest first) whose metadata has internal_task_type =
// control_task (what @parallel's control task records); nullopt when there is none.
std::optional<std::string> control_task(Store& store, const std::vector<TaskRecord>& tasks_newest_first);

struct TaskLineage {
  // Pathspecs, sorted; nullopt where the client raises (no `_graph_info`, a step the graph does
  // not know such as `_parameters`, a clone whose origin cannot be found).
  std::optional<std::vector<std::string>> parents, children;
};

struct TaskEdge {
  ObjectPath parent, child;
};

struct RunLineage {
  std::map<std::string, TaskLineage> tasks;  // by task pathspec: every task of the run
  // One per (parent, child) pair that either side's list names, sorted by parent then child
  // pathspec; so an edge into a task whose own lineage is unknown (a killed task) is still there.
  std::vector<TaskEdge> edges;
  // Reads the run had to make (for tests and the trace): tasks, foreach-execution-path reads,
  // distinct graphs decoded.
  size_t task_count = 0, path_reads = 0, graphs_decoded = 0;

  const TaskLineage* of(const ObjectPath& task) const;
};

RunLineage compute_run_lineage(Store& store, const ObjectPath& run);
// The same, computed once per statement (the store's statement memo) however many rows ask.
std::shared_ptr<const RunLineage> run_lineage(Store& store, const ObjectPath& run);

}  // namespace mfsql::client
