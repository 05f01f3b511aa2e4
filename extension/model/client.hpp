#pragma once
// Metaflow's client semantics (metaflow/client/core.py, metaflow-format.md §4) over any Store:
// which attempt a task shows, what `finished`/`successful` mean, which task ends a run, and the
// run status. Tables call these; providers never need to know them.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/store.hpp"
#include "util/error.hpp"

namespace mfsql::client {

// A metadata value as the client holds it: text, or JSON for the few fields Metaflow stores as
// lists (foreach-stack).
struct MetadataValue {
  std::string text;
  bool is_json = false;
  bool operator==(const MetadataValue&) const = default;
};
using MetadataDict = std::map<std::string, MetadataValue>;

// Entries sorted by ts_epoch ascending (ties by id); the last value of each name wins.
MetadataDict metadata_dict(std::vector<MetadataEntry> entries);

// The attempt the client shows for logs and `attempt`: metadata "attempt", else 0.
int current_attempt(const MetadataDict& dict);

// The newest object by ts_epoch (the client iterates newest first and takes the first).
template <typename Record>
const Record* newest(const std::vector<Record>& records) {
  const Record* best = nullptr;
  for (auto& r : records)
    if (!best || r.ts_ms > best->ts_ms) best = &r;
  return best;
}

// Newest first, as the client iterates children; ties keep listing order (model/records.hpp).
using mfsql::sort_newest_first;

const ArtifactRecord* find_artifact(const std::vector<ArtifactRecord>& artifacts, const std::string& name);

// What the artifacts of a task's shown attempt say about it. Booleans are false when the
// artifact is absent (the client's KeyError -> False); nullopt when its blob cannot be decoded.
struct TaskOutcome {
  std::optional<bool> finished = false;    // value of _task_ok
  std::optional<bool> successful = false;  // value of _success
  std::optional<int64_t> finished_at_ms;   // registration time of _task_ok
};
TaskOutcome task_outcome(Store& store, const std::vector<ArtifactRecord>& shown_attempt_artifacts);
// False while the shown attempt's outcome artifacts are still being registered (one of _task_ok
// and _success is there, the other not yet); task_outcome then reports an unfinished task.
bool registration_complete(const std::vector<ArtifactRecord>& shown_attempt_artifacts);
// The artifacts task_outcome reads.
inline const std::vector<std::string> kOutcomeArtifacts = {"_task_ok", "_success"};

// {"type", "message", "stacktrace"} from _exception, or nullopt when there is none.
std::optional<std::string> task_exception_json(Store& store, const std::vector<ArtifactRecord>& artifacts);

// _foreach_stack[-1].index, or nullopt outside a foreach.
std::optional<int64_t> foreach_index(Store& store, const std::vector<ArtifactRecord>& artifacts);

// The `_parameters` task of a run (the hidden step holding Parameters), if any.
std::optional<TaskRecord> parameters_task(Store& store, const ObjectPath& run);

// The run's _graph_info (of its _parameters task), decoded; nullopt when it has none or it
// cannot be decoded.
std::optional<nlohmann::ordered_json> graph_info(Store& store, const ObjectPath& run);

// The flow graph's end step: `end_step` metadata of the _parameters task, else the `end_step` of
// its _graph_info artifact, else "end". (The client skips _graph_info; mfsql follows the graph so
// that resumed runs with a custom end step keep their end task: tables.md, `graph_end_task`.)
std::string end_step_name(Store& store, const ObjectPath& run);

struct RunOutcome {
  std::optional<TaskRecord> end_task;
  TaskOutcome end;  // finished/successful/finished_at of the end task (false/false/null without one)
};
RunOutcome run_outcome(Store& store, const ObjectPath& run);

// "completed", "failed" or "running" (tables.md, runs.status).
std::string run_status(Store& store, const RunRecord& run, const RunOutcome& outcome);

// The metadata service's own rule, which mfsql follows: a run whose heartbeat stopped longer ago
// than this is no longer running (services/data/postgres_async_db.py, RUN_INACTIVE_CUTOFF_TIME's
// default). A run without a heartbeat (the local store, an old client) never goes stale.
constexpr int64_t kRunInactiveAfterS = 360;
int64_t now_s();
bool heartbeat_stale(const RunRecord& run, int64_t now_s);

// Step.finished_at: the latest _task_ok registration of its tasks; nullopt while any is unfinished.
std::optional<int64_t> step_finished_at(Store& store, const std::vector<TaskRecord>& tasks);

// The metadata the client consults for run-level facts: Run.origin_run_id reads the newest task
// of the newest (public) step; Run.trigger and Run.code read the start step's newest task (the
// start step as the _parameters task's start_step names it).
MetadataDict newest_task_metadata(Store& store, const ObjectPath& run);
MetadataDict start_task_metadata(Store& store, const ObjectPath& run);
// origin-run-id of a resumed run; nullopt for a fresh one.
std::optional<std::string> origin_run_id(const MetadataDict& newest_task);
// A metadata field Metaflow stores as a JSON document in a string (execution-triggers,
// code-package), as JSON text: the document, or the string itself when it does not parse.
std::optional<std::string> json_field(const MetadataDict& dict, const std::string& field);

// Flow.latest_run and Flow.latest_successful_run: the newest run, and the newest whose end task
// succeeded (a run whose outcome cannot be decoded is not successful); nullopt when there is none.
// The second is looked for only when `successful_too`.
struct LatestRuns {
  std::optional<std::string> any, successful;
};
LatestRuns latest_runs(Store& store, const std::string& flow, bool successful_too);

// When the metadata service's own run status may stand for mfsql's `successful` (and `completed`).
// The service (services/data/postgres_async_db.py, the run table's status joins) calls a run
// completed when the newest attempt_ok metadata of the step literally named `end` is True;
// mfsql's successful is _success of the newest task of the graph's end step. They mean the same
// exactly when the graph's end step is `end` and that step has no @catch (a caught exception
// leaves attempt_ok True and _success False); a custom end step is never completed on the server.
// `graph` is a run's _graph_info; nullopt (not recorded) never agrees.
bool server_completed_is_successful(const std::optional<nlohmann::ordered_json>& graph, const std::string& end_step);
// The same for a flow, from the graph of its newest run (the flow's code as it runs now): a flow
// whose older runs had another end step is the case this does not see.
// `newest`: the flow's newest run, when the caller has it (the first run of a listing from the
// newest on, with its server status); else the newest runs' page is asked for.
bool server_status_stands(Store& store, const std::string& flow, const RunRecord* newest = nullptr);
// The page of the newest runs with their server status that server_status_stands reads (its first
// run is the newest): ten, so that it is also the first page of a statement's `LIMIT 10` and holds
// the newest completed run of most flows (latest_runs).
constexpr int64_t kNewestPage = 10;

// Which of the server's answers stand for mfsql's, where server_status_stands (the server's
// completed is then exactly mfsql's completed, both ways):
//   server completed                        -> completed, successful
//   server failed or running                -> not successful; and where the run's own heartbeat
//                                              is stale (heartbeat_stale) -> failed: mfsql's rule
//                                              says failed for every stale run that is not completed
//   server failed or running, heartbeat     -> not successful; the status is mfsql's to check: a NULL
//     fresh or NULL                            heartbeat is `failed` on the server but `running` here
//                                              unless a task failed with no retry left, and an end task
//                                              that failed with a retry left is `failed` on the server
//                                              but `running` here until the heartbeat goes stale
// nullopt: mfsql checks the run (an unknown server status too). Neither reads the run's tasks, so
// a run whose end task's outcome cannot be decoded (NULL when checked) is not seen as such.
std::optional<std::string> status_from_server(const RunRecord& run, int64_t now_s);
std::optional<bool> successful_from_server(const RunRecord& run);
// The server statuses a run may have whose mfsql status is one of `statuses`, where
// server_status_stands: completed <- {completed}; failed, running <- {failed, running}. Sorted.
std::vector<std::string> server_candidates(const std::vector<std::string>& statuses);

// Runs `read` over a decoded value; a value of an unexpected shape (a nlohmann type or range
// error) becomes CorruptRecord naming `what`, so the damaged-record rule applies to it.
template <typename F>
auto decoded(const std::string& what, F&& read) {
  try {
    return read();
  } catch (const nlohmann::json::exception&) {
    throw CorruptRecord(what + " has an unexpected shape.");
  }
}

}  // namespace mfsql::client
