#pragma once
#include <functional>
// Metaflow's metadata service, read-only, answered as metaflow/plugins/metadata_providers/service.py
// answers (metaflow-service-api.md, metaflow-format.md §5). A missing object (404) is nullopt, a
// missing parent's list is empty; a task's artifacts without an attempt follow the service's
// latest-attempt rule, with an attempt its /attempt/N routes.
//
// What keeps the request count down:
// - a connection cache by URL: objects of a settled run (its heartbeat older than the service's
//   360 s, or its end step succeeded) for long, lists that grow, run records (tags change) and
//   objects of running runs briefly; within one statement an answer is never asked for twice;
// - final answers (final_answers.cpp) for the whole connection, and across processes in the cache
//   file (persisted_answers.hpp);
// - single lookups answered from a cached listing of their parent;
// - bulk routes when the caller said it will read many tasks (read_ahead, for the rest of the
//   statement): a run's artifacts or metadata from the run-level routes (one call for the run); a
//   step's artifacts from the step-level route, its tasks' metadata fetched a window at a time
//   concurrently; the task lists of all steps of a run fetched concurrently;
// - the runs tag filter on the server, when it supports filters (detected once per connection by
//   the X-Limit header that filtered answers carry), with cursor pages followed;
// - runs_where (service_runs.cpp): a statement's run filters (tags, user, created_at bounds) and
//   its LIMIT as the server's filters and page size, pages of at most 500 followed lazily.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/metadata_provider.hpp"
#include "net/http_client.hpp"
#include "providers/service/persisted_answers.hpp"
#include "providers/service/response_cache.hpp"
#include "util/statement_memo.hpp"
#include "util/trace.hpp"

namespace mfsql {

struct ServiceOptions {
  std::string url;                          // METAFLOW_SERVICE_URL
  double ttl_settled_s = 3600;              // objects of settled runs (MFSQL_SERVICE_CACHE_TTL_S)
  double ttl_changing_s = 2;                // everything else (MFSQL_SERVICE_CACHE_TTL_RUNNING_S)
  size_t cache_max_bytes = size_t{48} << 20;  // memory the answers kept for the connection may hold (estimated)
  int64_t run_inactive_s = 360;             // the service's RUN_INACTIVE_CUTOFF_TIME
};

class ServiceMetadata final : public MetadataProvider {
 public:
  // `memo` (the connection's statement memo, may be null) marks what the running statement
  // already asked and when it started: the HTTP deadline is per statement.
  ServiceMetadata(ServiceOptions options, std::shared_ptr<net::HttpClient> http, std::shared_ptr<Trace> trace,
                  StatementMemo* memo);

  std::string describe() const override;
  bool metadata_patterns_match_at_start() const override { return false; }
  std::vector<FlowRecord> flows() override;
  std::optional<FlowRecord> flow(const std::string& flow) override;
  std::vector<RunRecord> runs(const std::string& flow) override;
  std::optional<RunRecord> run(const ObjectPath& run) override;
  std::vector<StepRecord> steps(const ObjectPath& run) override;
  std::optional<StepRecord> step(const ObjectPath& step) override;
  std::vector<TaskRecord> tasks(const ObjectPath& step) override;
  std::optional<TaskRecord> task(const ObjectPath& task) override;
  std::vector<ArtifactRecord> artifacts(const ObjectPath& task, std::optional<int> attempt,
                                        const std::optional<std::string>& name) override;
  std::vector<MetadataEntry> metadata(const ObjectPath& task) override;
  std::vector<ArtifactRecord> artifacts_named(const ObjectPath& task, std::optional<int> attempt,
                                              const std::vector<std::string>& names) override;

  std::vector<RunRecord> runs_with_tags(const std::string& flow, const std::vector<std::string>& tags,
                                        TagMatch match) override;
  void read_ahead(const ReadAhead& ahead) override;
  std::unique_ptr<RunPages> runs_where(const std::string& flow, const RunQuery& query) override;
  std::optional<ArtifactRecord> parameters_graph_artifact(const ObjectPath& run) override;
  bool filters_tasks_by_metadata() const override { return true; }
  std::optional<std::vector<std::string>> tasks_with_metadata(const ObjectPath& step, const std::string& field,
                                                              const std::string& pattern) override;
  bool may_know_server_status() const override { return server_filters() != false; }

  // Whether the server takes filters and pagination: nullopt until a filtered request told.
  std::optional<bool> server_filters() const;
  net::HttpClient& http() { return *http_; }
  // Keep final answers across processes in `answers` while `enabled()` (the connection's cache
  // setting); written at each statement's end.
  void persist_in(std::shared_ptr<service::PersistedAnswers> answers, std::function<bool()> enabled);

 private:
  friend class ServiceRunPages;  // service_runs.cpp
  void set_server_filters(bool supported);
  // service_fetch.cpp: the cache, the statement marks, the requests.
  service::DocPtr fetch(const std::string& path, bool allow_400 = false);
  std::vector<service::DocPtr> fetch_many(const std::vector<std::string>& paths, bool allow_400 = false);
  service::DocPtr peek(const std::string& path);    // the answer if at hand, else null; no side effects
  service::DocPtr cached(const std::string& path);  // the same, recorded as a cache hit when at hand
  double ttl_for(const std::string& path) const;  // seconds an answer to `path` stays usable
  bool expired(const std::string& path, const service::CachedDoc& doc) const;  // older than that
  // final_answers.cpp: whether the answer to `path` never changes once its run is quiet (decided as
  // it arrives), and whether it is final now (no TTL): nullopt while its run's heartbeat is unknown.
  bool final_candidate(const std::string& path, const service::CachedDoc& doc) const;
  std::optional<bool> final_now(const std::string& path, const service::CachedDoc& doc) const;
  void learn_run_of(const std::string& path);
  // Across processes (final_answers.cpp, persisted_answers.hpp): the body of a final candidate is
  // held until its statement's end, when the answers decided final are kept in the cache file;
  // recall rebuilds an answer kept there (null when there is none, or persisting is off).
  void hold_for_persisting(const std::string& path, std::string body, const service::CachedDoc& doc);
  void persist_final_answers();
  service::DocPtr recall(const std::string& path);
  bool persisting() const { return persisted_ && (!persist_enabled_ || persist_enabled_()); }
  // The answer to `path` built from its body (a response's or a kept one's).
  std::shared_ptr<service::CachedDoc> doc_from_body(const std::string& path, const std::string& body, bool paginated,
                                                    std::string next_cursor, const std::string& shown);  // a final candidate past its TTL: ask for its run record
  net::Clock::time_point deadline();
  bool marked(const std::string& mark);
  void mark(const std::string& mark);
  void note_run(const RunRecord& run);
  void note_metadata(const nlohmann::json& rows);
  const nlohmann::json& array_of(const service::DocPtr& doc) const;

  // service_metadata.cpp
  RunRecord parse_run(const nlohmann::json& j, const ObjectPath& path);
  std::vector<RunRecord> parse_runs(const service::DocPtr& doc, const std::string& flow);
  std::vector<RunRecord> runs_in_page_order(const service::DocPtr& listing, const std::string& flow);
  std::vector<StepRecord> parse_steps(const service::DocPtr& doc, const ObjectPath& run);
  std::vector<TaskRecord> parse_tasks(const service::DocPtr& doc, const ObjectPath& step);
  std::vector<ArtifactRecord> parse_artifacts(const service::DocPtr& doc, const ObjectPath& task);
  std::vector<MetadataEntry> parse_metadata(const service::DocPtr& doc, const ObjectPath& task);
  std::shared_ptr<const service::ArtifactIndex> artifact_index(const service::DocPtr& doc, const ObjectPath& run);
  std::shared_ptr<const service::MetadataIndex> metadata_index(const service::DocPtr& doc, const ObjectPath& run);
  // A run's or step's artifact or metadata listing read row by row (listing_rows.hpp) straight into
  // its index, keeping the fields `keep` names; doc.json is then an empty list. False when the
  // text is not a list: the caller parses it whole (for its answer or error).
  // `only_names` (artifacts): the index keeps these names' records only (each task's latest
  // attempt still told from all its rows).
  bool index_while_reading(service::CachedDoc& doc, const ObjectPath& run, bool artifacts, const std::string& text,
                           const std::function<bool(const std::string&)>& keep,
                           const std::set<std::string>* only_names = nullptr);
  // The shown attempt's artifacts of `task` from a bulk listing at hand (or fetched, when the
  // statement said it reads many and may_fetch): all of them, or, when `wanted` is given, at
  // least those of these names (a listing kept for some names only answers for them).
  std::optional<std::vector<ArtifactRecord>> latest_artifacts_at_hand(const ObjectPath& task, bool may_fetch,
                                                                     const std::vector<std::string>* wanted = nullptr);
  // The names read_ahead said the statement reads under `scope` (sorted, with "name"), or empty.
  std::vector<std::string> announced_names(const std::string& scope);
  void prefetch_step_tasks(const ObjectPath& run);

  ServiceOptions options_;
  std::string base_;  // the URL without a trailing '/'
  std::shared_ptr<net::HttpClient> http_;
  std::shared_ptr<Trace> trace_;
  StatementMemo* memo_;
  service::ResponseCache cache_;

  mutable std::mutex state_mu_;
  std::set<std::string> settled_runs_;  // "flow/run"
  // "flow/run": the newest last_heartbeat_ts seen, and when it was seen (wall clock, s).
  std::map<std::string, std::pair<int64_t, int64_t>> run_heartbeats_;
  std::optional<bool> server_filters_;

  std::shared_ptr<service::PersistedAnswers> persisted_;
  std::function<bool()> persist_enabled_;
  struct Held {
    std::string body;
    bool paginated = false;
    std::string next_cursor;
    int64_t fetched_epoch_s = 0;
  };
  static constexpr size_t kMaxHeldBodies = size_t{64} << 20;
  std::mutex held_mu_;
  std::map<std::string, Held> held_;  // by path (with its fragment): final candidates not decided yet
  size_t held_bytes_ = 0;
};

}  // namespace mfsql
