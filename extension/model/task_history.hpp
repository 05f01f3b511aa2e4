#pragma once
// The client's view of one task's metadata and logs (metaflow/client/core.py Task.metadata,
// metadata_dict, stdout/stderr, loglines; metaflow-format.md §3, §4).
#include <optional>
#include <string>
#include <vector>

#include "decode/mflog.hpp"
#include "model/client.hpp"

namespace mfsql::client {

// Task.metadata_dict for a Task built without an attempt: its own entries, newest value per name,
// and for a task cloned by resume (it has origin-task-id) the origin task's newest value of every
// name it lacks. Logs need this: a clone records no ds-type/ds-root of its own.
MetadataDict task_metadata_dict(Store& store, const ObjectPath& task);

// For a task cloned by resume (origin-run-id and origin-task-id in its dict): the task it came from.
std::optional<std::string> origin_pathspec(const ObjectPath& task, const MetadataDict& dict);

// The dict as a JSON object, each value as the client holds it. Entries keep non-text values
// (foreach-stack is a list) only as their compact JSON text, so text that is a JSON array or
// object exactly as a compact dump writes it is taken to be one; Python's json.dumps output, which
// writers store as text, has spaces after its separators and stays text. (Exact would need the
// provider to say which values were not strings.)
std::string metadata_dict_json(const MetadataDict& dict);

// The log sources Metaflow reads, in the order it merges them (LOG_SOURCES).
inline constexpr const char* kLogSources[] = {"runtime", "task"};

struct TaskLog {
  enum class Kind {
    Mflog,        // `lines` hold the merged lines of <attempt>.runtime_<stream>.log and .task_<stream>.log
    Legacy,       // pre-2.2.10 `log_location_<stream>` metadata: `legacy_text` is <attempt>.<stream>.log
    NoDatastore,  // no ds-type/ds-root metadata: the client yields one empty line
  } kind = Kind::NoDatastore;
  int attempt = 0;
  std::vector<mflog::Line> lines;  // Line::blob indexes kLogSources
  std::optional<std::string> legacy_text;  // nullopt when the legacy file is missing
};

// The log of `stream` ("stdout" or "stderr") of `attempt`, or of the latest started attempt (the
// dict's "attempt") when none is given. `dict` is task_metadata_dict(task). Missing files read as
// empty, as the client's do.
TaskLog load_task_log(Store& store, const ObjectPath& task, const MetadataDict& dict, std::optional<int> attempt,
                      const std::string& stream);

// What Task.stdout_size / Task.stderr_size return: the bytes of that log's files as stored (each
// source's mflog file, summed; a missing one counts 0), found by size alone (a stat, an S3 HEAD),
// never read. 0 without ds-type/ds-root; for a legacy log its file's size, nullopt when missing.
std::optional<int64_t> log_size(Store& store, const ObjectPath& task, const MetadataDict& dict, std::optional<int> attempt,
                                const std::string& stream);

// What Task.stdout / Task.stderr return for that log: "".join(msg + "\n" for each merged line),
// or the legacy file's text. nullopt when a legacy file is missing (the client returns None).
// Invalid UTF-8 becomes U+FFFD where the client would raise.
std::optional<std::string> log_text(const TaskLog& log);

// ---- attempts (the client's Task(pathspec, attempt=N)) -------------------------------------------

// The artifacts named `names` of attempt N of a task, as Task(pathspec, attempt=N) reads them. When
// N is the attempt the task shows, they come from the shown attempt's listing (over the service
// the run's one listing, when the statement reads ahead), else from that attempt's own.
std::vector<ArtifactRecord> attempt_artifacts(Store& store, const ObjectPath& task, int attempt,
                                              const std::vector<std::string>& names);

// When attempt N started: the earliest `attempt` metadata entry naming N (attempt 0's is
// registered twice, at task creation and at attempt start); nullopt when there is none.
std::optional<int64_t> attempt_started_at(const std::vector<MetadataEntry>& entries, int attempt);

// Task.runtime_name: the part after `runtime:` (up to a next ':') of the first such tag of the
// task, whose tags are its run's (both providers give a task its run's tags); system tags first.
std::optional<std::string> runtime_name(const RunRecord& run);

}  // namespace mfsql::client
