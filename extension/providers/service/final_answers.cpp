// Which answers of the metadata service are final: kept for the whole connection and never asked
// again, whatever the time-to-live (issue #16, part 3; docs/caching.md). Everything else keeps the
// TTLs of ttl_for (service_fetch.cpp).
//
// An answer is final when its run was already quiet when it was fetched: the run's last heartbeat
// older than the service's cutoff (RUN_INACTIVE_CUTOFF_TIME, 360 s) at that moment, so the runtime
// no longer ran and everything it writes was in. That is decided from the answer's fetch time and
// the run's heartbeat, whenever the heartbeat becomes known (a runs list or run record read
// before or after): an answer fetched while its run still ran stays live even once the run is
// quiet. The run's heartbeat, not the tasks' entries: Metaflow registers an attempt's artifacts
// *after* its `attempt-done` (task_datastore.py, `done()`), so no entry says an artifact list is
// complete, and the runtime's heartbeat outlives them (it stops after the end task's worker exits).
//  - Candidates: artifact listings (the run's, a step's, a task's, an attempt's, one named
//    artifact), and metadata listings (a task's or the run's) in which every task finished its
//    latest attempt: an `attempt-done` entry for it (task.py writes `attempt_ok`, then done()
//    writes `attempt-done`; the _parameters task has only the latter) and no `attempt_ok` False
//    (a failed attempt may still be retried, which adds entries).
//  - Nothing else: runs lists, run records (their tags change), step and task lists, filtered
//    routes (any query string), and every answer other than 200 keep their TTLs.
//  - A candidate past its TTL whose run's heartbeat is not known yet costs one small request, the
//    run record (live: it also brings the run's current tags), instead of the listing again.
// Tags: no final answer is a source of tags. The tables take a run's tags from the run record,
// which stays live (rows of artifact listings carry the run's tags too, but mfsql drops them).
// Trusted as the service's own status is: a run whose runtime fell silent for more than 360 s
// (a laptop asleep) and then went on would have its listings of that pause kept.
// Across processes: a final candidate's body is held (bounded) until its statement's end; those
// then decided final go to the cache file (persisted_answers.hpp), those decided live are
// dropped, and the undecided wait for their run's heartbeat. A later process rebuilds a kept
// answer from its body through the same parsing, and it is final there with no request.
#include <chrono>
#include <map>
#include <set>

#include "net/http_client.hpp"

#include "model/json_fields.hpp"
#include "providers/service/routes.hpp"
#include "providers/service/service_metadata.hpp"

namespace mfsql {

using nlohmann::json;

namespace {

enum class AnswerKind { kNone, kArtifacts, kMetadata };

// The listing a bare path names: /flows/F/runs/R/{artifacts,metadata}, .../steps/S/artifacts,
// .../steps/S/tasks/T/{artifacts,artifacts/N,metadata}, .../tasks/T/attempt/N/artifacts.
AnswerKind listing_named(const std::vector<std::string>& parts) {
  const size_t n = parts.size();
  if (n < 5 || parts[0] != "flows" || parts[2] != "runs") return AnswerKind::kNone;
  if (n == 5) return parts[4] == "artifacts" ? AnswerKind::kArtifacts : parts[4] == "metadata" ? AnswerKind::kMetadata : AnswerKind::kNone;
  if (parts[4] != "steps") return AnswerKind::kNone;
  if (n == 7) return parts[6] == "artifacts" ? AnswerKind::kArtifacts : AnswerKind::kNone;
  if (n < 9 || parts[6] != "tasks") return AnswerKind::kNone;
  if (n == 9) return parts[8] == "artifacts" ? AnswerKind::kArtifacts : parts[8] == "metadata" ? AnswerKind::kMetadata : AnswerKind::kNone;
  if (n == 10 && parts[8] == "artifacts") return AnswerKind::kArtifacts;  // one named artifact
  if (n == 11 && parts[8] == "attempt" && parts[10] == "artifacts") return AnswerKind::kArtifacts;
  return AnswerKind::kNone;
}

struct AttemptState {
  int latest = -1;
  std::map<int, bool> done, failed;  // by attempt
};

void note_entry(AttemptState& s, const MetadataEntry& e) {
  const int attempt = e.attempt_tag().value_or(0);
  s.latest = std::max(s.latest, attempt);
  if (e.field_name == "attempt-done") s.done[attempt] = true;
  if (e.field_name == "attempt_ok" && e.value == "False") s.failed[attempt] = true;
}

bool finished(const AttemptState& s) { return s.latest >= 0 && s.done.count(s.latest) && !s.failed.count(s.latest); }

// Every task the rows name finished its latest attempt (and the rows name at least one).
bool every_task_finished(const service::CachedDoc& doc) {
  std::map<std::string, AttemptState> tasks;
  if (doc.metadata_index) {  // a run's listing, read row by row into its index
    for (auto& [key, entries] : *doc.metadata_index)
      for (auto& e : entries) note_entry(tasks[key], e);
  } else if (doc.json && doc.json->is_array()) {  // a task's listing
    for (auto& row : *doc.json) {
      if (!row.is_object()) continue;
      try {
        note_entry(tasks["task"], metadata_from_json(row, ObjectPath{}));
      } catch (const CorruptRecord&) {
      }
    }
  }
  if (tasks.empty()) return false;
  for (auto& [key, state] : tasks)
    if (!finished(state)) return false;
  return true;
}

}  // namespace

// The parts of a cache key's path; a key kept for some names only (`#only=`, routes.hpp) names
// the same listing, so it is final when the whole one would be.
static std::vector<std::string> path_parts(const std::string& key) {
  const std::string path = key.substr(0, key.find('#'));
  std::vector<std::string> parts;
  for (size_t start = 1; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool ServiceMetadata::final_candidate(const std::string& path, const service::CachedDoc& doc) const {
  if (doc.status != 200 || path.find('?') != std::string::npos) return false;
  const AnswerKind kind = listing_named(path_parts(path));
  return kind == AnswerKind::kArtifacts || (kind == AnswerKind::kMetadata && every_task_finished(doc));
}

std::optional<bool> ServiceMetadata::final_now(const std::string& path, const service::CachedDoc& doc) const {
  if (!doc.final_candidate) return false;
  if (doc.known_final) return true;  // decided final by the process that kept it
  auto parts = path_parts(path);
  std::lock_guard lock(state_mu_);
  auto it = run_heartbeats_.find(parts[1] + "/" + parts[3]);
  if (it == run_heartbeats_.end()) return std::nullopt;
  const auto [heartbeat, seen_at] = it->second;
  const int64_t cutoff = options_.run_inactive_s;
  // Quiet when seen: no heartbeat came between it and then, so the answer is final if it came
  // after the cutoff (the service's own status rule; heartbeats come every few seconds).
  if (seen_at - heartbeat > cutoff) return doc.fetched_epoch_s - heartbeat > cutoff;
  if (doc.fetched_epoch_s - heartbeat <= cutoff) return false;  // came while the run was live
  return std::nullopt;  // live when seen, and long enough ago that it may have stopped since: ask again
}

void ServiceMetadata::persist_in(std::shared_ptr<service::PersistedAnswers> answers, std::function<bool()> enabled) {
  persisted_ = std::move(answers);
  persist_enabled_ = std::move(enabled);
  if (memo_ && persisted_)
    memo_->at_statement_end(this, [this] {
      try {
        persist_final_answers();
      } catch (...) {
        // A cache that cannot be written is not used; the answer was already given.
      }
    });
}

void ServiceMetadata::hold_for_persisting(const std::string& path, std::string body, const service::CachedDoc& doc) {
  if (!persisting() || body.size() > service::PersistedAnswers::kMaxAnswerBytes) return;
  std::lock_guard lock(held_mu_);
  if (auto it = held_.find(path); it != held_.end()) {
    held_bytes_ -= it->second.body.size();
    held_.erase(it);
  }
  if (held_bytes_ + body.size() > kMaxHeldBodies) return;  // not kept across processes
  held_bytes_ += body.size();
  held_[path] = Held{std::move(body), doc.paginated, doc.next_cursor, doc.fetched_epoch_s};
}

// At the statement's end: the held answers decided final are kept; those whose run's heartbeat
// is not known yet make one request for the run record per run (small, concurrent, after the
// answer was given) so that they can be decided now rather than never.
void ServiceMetadata::persist_final_answers() {
  if (!persisted_) return;
  std::vector<std::pair<std::string, Held>> decided;
  std::set<std::string> undecided_runs;  // "/flows/F/runs/R"
  auto decide = [&] {
    std::lock_guard lock(held_mu_);
    const bool on = persisting();
    for (auto it = held_.begin(); it != held_.end();) {
      service::CachedDoc probe;
      probe.final_candidate = true;
      probe.fetched_epoch_s = it->second.fetched_epoch_s;
      const std::optional<bool> final = on ? final_now(it->first, probe) : std::optional<bool>(false);
      if (!final) {  // its run's heartbeat is not known yet
        const auto parts = path_parts(it->first);
        undecided_runs.insert("/flows/" + parts[1] + "/runs/" + parts[3]);
        ++it;
        continue;
      }
      held_bytes_ -= it->second.body.size();
      if (*final) decided.emplace_back(it->first, std::move(it->second));
      it = held_.erase(it);
    }
  };
  decide();
  if (!undecided_runs.empty()) {
    std::vector<std::string> urls;
    for (auto& run : undecided_runs) urls.push_back(base_ + run);
    try {
      auto responses = http_->get_many(urls, net::Clock::now() + std::chrono::seconds(5));
      size_t k = 0;
      for (auto& run : undecided_runs) {
        const net::HttpResponse& r = responses[k++];
        if (r.status != 200) continue;
        auto j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
        const auto parts = path_parts(run);
        if (j.is_object()) parse_run(j, ObjectPath{parts[1], parts[3], {}, {}});  // notes its heartbeat
      }
    } catch (...) {
      // Not decided: they wait for a later statement.
    }
    undecided_runs.clear();
    decide();
  }
  for (auto& [path, held] : decided) {
    service::StoredAnswer answer;
    answer.body = std::make_shared<const std::string>(std::move(held.body));
    answer.paginated = held.paginated;
    answer.next_cursor = std::move(held.next_cursor);
    answer.fetched_epoch_s = held.fetched_epoch_s;
    persisted_->keep(path_parts(path)[1], path.substr(0, path.find('#')), std::move(answer));
  }
  persisted_->flush();
}

service::DocPtr ServiceMetadata::recall(const std::string& path) {
  if (!persisting() || path.find('?') != std::string::npos) return nullptr;
  const auto parts = path_parts(path);
  if (listing_named(parts) == AnswerKind::kNone) return nullptr;
  auto stored = persisted_->find(parts[1], path.substr(0, path.find('#')));
  if (!stored) return nullptr;
  std::shared_ptr<service::CachedDoc> doc;
  try {
    doc = doc_from_body(path, *stored->body, stored->paginated, stored->next_cursor, net::redact_url(base_ + path));
  } catch (const std::exception&) {
    return nullptr;  // CRC-checked, so not expected: asked again
  }
  if (!doc->final_candidate) return nullptr;
  doc->fetched_epoch_s = stored->fetched_epoch_s;
  doc->known_final = true;
  cache_.put(doc);
  return doc;
}

}  // namespace mfsql
