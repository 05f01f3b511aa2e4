#pragma once
// Which tasks of a step a question about unsuccessful tasks (`tasks.successful = 0`) must look
// at, from one server answer instead of every task's outcome (issue 15).
//
// The rule. Metaflow's task.py writes `attempt_ok` = str(_task_ok) at the end of every attempt,
// and _task_ok is True only when the step's code returned (then _success is True too) or a
// decorator's task_exception handled the exception (then _success stays False). Of Metaflow's
// step decorators only @catch handles exceptions; a user's own step decorators (recorded in
// _graph_info under their names) may too. A task with an attempt_ok True attempt had no later
// attempt (the runtime retries failures only), and that attempt's artifacts are registered right
// after its attempt_ok (TaskDataStore.done). So, where the run's _graph_info shows the step with
// only decorators known not to handle exceptions:
//   a task with any attempt_ok = True is successful,
// and the unsuccessful tasks are among the others: those whose attempts all failed, and those
// without any attempt_ok (killed, still running, never started, or a clone that did not record
// one), which only the step's task list shows. Those candidates are then checked one by one by
// the usual rule (their _success), so the answer is exact whatever they are. Where the graph
// does not show that (no _graph_info, a step it does not know, @catch, any other decorator),
// every task is checked, as before. The one case the rule misses: a task killed in the
// milliseconds between writing attempt_ok True and registering its artifacts.
#include <optional>
#include <vector>

#include "model/store.hpp"

namespace mfsql::client {

// Of `tasks` (one step's), those that may be unsuccessful; nullopt when the provider cannot tell
// more cheaply than reading each task's outcome, or the rule above does not hold for the step.
std::optional<std::vector<TaskRecord>> tasks_maybe_unsuccessful(Store& store, const ObjectPath& step,
                                                                const std::vector<TaskRecord>& tasks);

// Whether a step of this _graph_info carries only decorators that never turn a failed attempt
// into attempt_ok True (false for @catch, user decorators, a step the graph does not name).
bool attempt_ok_means_success(const nlohmann::ordered_json& graph, const std::string& step);

}  // namespace mfsql::client
