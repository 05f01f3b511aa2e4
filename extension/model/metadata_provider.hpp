#pragma once
// The narrow interface behind which each place Metaflow keeps its records lives (the local
// `.metaflow` tree, the metadata service). It answers exactly the questions Metaflow's own
// metadata providers answer; the client's semantics on top of it live in model/client.*.
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/records.hpp"

namespace mfsql {

enum class TagMatch { kAll, kAny };

inline bool carries_tags(const RunRecord& r, const std::vector<std::string>& tags, TagMatch match) {
  auto has = [&](const std::string& t) {
    return std::binary_search(r.tags.begin(), r.tags.end(), t) ||
           std::binary_search(r.system_tags.begin(), r.system_tags.end(), t);
  };
  return match == TagMatch::kAll ? std::all_of(tags.begin(), tags.end(), has)
                                 : std::any_of(tags.begin(), tags.end(), has);
}

// The user a run belongs to, as mfsql's runs.user shows it: its first `user:` system tag.
inline std::optional<std::string> run_user(const RunRecord& r) {
  for (auto& t : r.system_tags)
    if (t.rfind("user:", 0) == 0) return t.substr(5);
  return std::nullopt;
}

// Which runs of a flow a statement asks about. Every part only narrows: an answer may hold runs
// that fail it (SQLite re-checks each row), never lack one that passes it.
struct RunQuery {
  std::vector<std::string> tags_any;              // carries at least one of these (user or system tag)
  std::optional<std::string> user;                // run_user() is this
  std::optional<int64_t> created_from_ms, created_to_ms;  // ts_ms within these bounds, inclusive
  // How many runs the statement may stop after (a LIMIT): the first page asks for about this
  // many; later pages are read only when the statement goes on. nullopt: it reads them all.
  std::optional<int64_t> wanted;
  // Ask for the server's own status of each run (RunRecord::server_status), where it has one.
  bool with_server_status = false;
  // Only runs whose server status is one of these (`status:eq=a,b`); empty: any. Set only where
  // client::server_status_stands makes them a superset of the runs the statement keeps
  // (client::server_candidates); others ignore it.
  std::vector<std::string> server_statuses;
  // The mfsql statuses (completed, failed, running) the statement keeps, from `status = ?`,
  // `status <> ?`, `successful = ?` (SQLite re-checks); nullopt: any. The walk turns them into
  // server_statuses for each flow where client::server_status_stands.
  std::optional<std::vector<std::string>> statuses;
  // Only runs without a heartbeat or with one at or after this (epoch s): a run whose heartbeat
  // stopped longer ago than client::kRunInactiveAfterS is never `running` (whatever the graph).
  std::optional<int64_t> heartbeat_from_s;

  bool filters() const { return !tags_any.empty() || user || created_from_ms || created_to_ms || heartbeat_from_s; }
  bool admits(const RunRecord& r) const {
    if (!tags_any.empty() && !carries_tags(r, tags_any, TagMatch::kAny)) return false;
    if (user && run_user(r) != *user) return false;
    if ((created_from_ms || created_to_ms) && r.ts_ms == kUnknownTime) return false;  // a NULL time passes no bound
    if (heartbeat_from_s && r.last_heartbeat_s && *r.last_heartbeat_s < *heartbeat_from_s) return false;
    return !(created_from_ms && r.ts_ms < *created_from_ms) && !(created_to_ms && r.ts_ms > *created_to_ms);
  }
};

// Runs handed out a page at a time, newest first across pages.
class RunPages {
 public:
  virtual ~RunPages() = default;
  // The next page (newest first); nullopt when there are no more.
  virtual std::optional<std::vector<RunRecord>> next() = 0;
};

class MetadataProvider {
 public:
  virtual ~MetadataProvider() = default;

  // "local store at /home/u/proj/.metaflow" — for error messages and metaflow_config.
  virtual std::string describe() const = 0;
  // True when many small reads may run on several threads at once (the local store). A network
  // provider answers a whole step or run in one request, which concurrent callers would each make.
  virtual bool reads_in_parallel() const { return false; }
  // How Metaflow's filter_tasks_by_metadata (which task lineage rests on) matches a pattern on
  // this backend: locally Python's re.match, from the value's start; the service's PostgreSQL
  // regexp_match, anywhere in the value. The client's lineage follows the backend, so ours does.
  virtual bool metadata_patterns_match_at_start() const { return true; }

  virtual std::vector<FlowRecord> flows() = 0;
  virtual std::optional<FlowRecord> flow(const std::string& flow) = 0;
  virtual std::vector<RunRecord> runs(const std::string& flow) = 0;
  virtual std::optional<RunRecord> run(const ObjectPath& run) = 0;
  virtual std::vector<StepRecord> steps(const ObjectPath& run) = 0;
  virtual std::optional<StepRecord> step(const ObjectPath& step) = 0;
  virtual std::vector<TaskRecord> tasks(const ObjectPath& step) = 0;
  virtual std::optional<TaskRecord> task(const ObjectPath& task) = 0;

  // The artifacts registered by one attempt of a task; with no attempt, those of the attempt the
  // client reads (locally the last `attempt-done`; on the service the newest attempt that has the
  // flow-name artifact). `name` narrows to one artifact. An unfinished task has none.
  virtual std::vector<ArtifactRecord> artifacts(const ObjectPath& task, std::optional<int> attempt,
                                                const std::optional<std::string>& name) = 0;

  // Every metadata entry of a task, all attempts.
  virtual std::vector<MetadataEntry> metadata(const ObjectPath& task) = 0;

  // Narrower reads for the client's hot questions; providers that can answer them with fewer
  // reads override them (locally: only the files of those names).
  // The entries of one field (e.g. "end_step", "attempt").
  virtual std::vector<MetadataEntry> metadata_field(const ObjectPath& task, const std::string& field) {
    std::vector<MetadataEntry> out;
    for (auto& e : metadata(task))
      if (e.field_name == field) out.push_back(std::move(e));
    return out;
  }
  // artifacts(task, attempt, name) for each of `names`, in one pass.
  virtual std::vector<ArtifactRecord> artifacts_named(const ObjectPath& task, std::optional<int> attempt,
                                                      const std::vector<std::string>& names) {
    std::vector<ArtifactRecord> out;
    for (auto& a : artifacts(task, attempt, std::nullopt))
      if (std::find(names.begin(), names.end(), a.name) != names.end()) out.push_back(std::move(a));
    return out;
  }

  // The runs of `flow` that carry every one (kAll) or at least one (kAny) of `tags`, as user or
  // system tags. The default filters the listing; the service asks the server.
  virtual std::vector<RunRecord> runs_with_tags(const std::string& flow, const std::vector<std::string>& tags,
                                                TagMatch match) {
    std::vector<RunRecord> out;
    for (auto& r : runs(flow))
      if (carries_tags(r, tags, match)) out.push_back(std::move(r));
    return out;
  }

  // The _graph_info artifact of the run's _parameters task when the provider finds it in one read
  // (the service: the _parameters step's artifact listing, one small page, instead of its task
  // list and then the task's artifacts); nullopt: the caller asks the usual way.
  virtual std::optional<ArtifactRecord> parameters_graph_artifact(const ObjectPath&) { return std::nullopt; }

  // The ids of the tasks of `step` that have a `field` metadata entry (any attempt) whose value
  // the regular expression `pattern` matches anywhere: Metaflow's filter_tasks_by_metadata as the
  // service answers it (filtered_tasks). nullopt where there is no cheaper way than reading every
  // task's metadata (the local store) or the server does not answer: the caller reads the tasks.
  // Whether tasks_with_metadata may answer at all (checked before reading what its use rests on).
  virtual bool filters_tasks_by_metadata() const { return false; }
  virtual std::optional<std::vector<std::string>> tasks_with_metadata(const ObjectPath& /*step*/,
                                                                      const std::string& /*field*/,
                                                                      const std::string& /*pattern*/) {
    return std::nullopt;
  }

  // Whether runs_where may carry the server's own run status (RunRecord::server_status).
  virtual bool may_know_server_status() const { return false; }

  // The runs of `flow` that `query` admits, newest first, a page at a time. The default lists the
  // runs (or asks runs_with_tags) and filters them; the service sends the query to the server.
  virtual std::unique_ptr<RunPages> runs_where(const std::string& flow, const RunQuery& query) {
    struct One final : RunPages {
      std::optional<std::vector<RunRecord>> page;
      std::optional<std::vector<RunRecord>> next() override { return std::exchange(page, std::nullopt); }
    };
    auto out = std::make_unique<One>();
    auto runs_of_flow = query.tags_any.empty() ? runs(flow) : runs_with_tags(flow, query.tags_any, TagMatch::kAny);
    std::erase_if(runs_of_flow, [&](const RunRecord& r) { return !query.admits(r); });
    sort_newest_first(runs_of_flow);
    out->page = std::move(runs_of_flow);
    return out;
  }

  // What the caller is about to read under one run or step, so that the provider can fetch it in
  // bulk instead of object by object. Purely a hint: every question above answers the same
  // without it. The local store reads small files, for which nothing is cheaper in bulk; the
  // service answers a whole run's or step's artifacts or metadata in one request.
  struct ReadAhead {
    ObjectPath scope;          // a run (step empty), or one step
    bool task_lists = false;   // the task list of every step of the run
    bool artifacts = false;    // the shown attempt's artifacts of (many of) the tasks under scope
    bool metadata = false;     // the metadata of (many of) the tasks under scope
    // With `artifacts`: the only artifact names whose records the statement reads (empty: any),
    // so that a bulk listing need keep no others.
    std::vector<std::string> artifact_names;
    // With `artifacts` and a step as scope: only these tasks' are read (the service then fetches
    // each one's own listing, all at once, instead of the step's). Empty: (many of) all of them.
    std::vector<std::string> task_ids;
  };
  virtual void read_ahead(const ReadAhead&) {}

  // A value derived from this provider's answers (a run's outcome), remembered across statements
  // where the provider can tell everything it depended on (the local store: util/local_files.hpp,
  // LocalFiles::derived); made afresh otherwise. `make` clears `keep` for a value that must not
  // be remembered.
  virtual std::shared_ptr<const void> derived(const std::string& /*key*/,
                                              const std::function<std::shared_ptr<const void>(bool& keep)>& make,
                                              size_t /*estimate*/) {
    bool keep = true;
    return make(keep);
  }
};

}  // namespace mfsql
