// ServiceMetadata's plumbing: which answers are at hand, for how long, and the requests for the rest.
#include <chrono>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "model/json_fields.hpp"
#include "providers/service/routes.hpp"
#include "providers/service/service_metadata.hpp"
#include "util/error.hpp"

namespace mfsql {

using nlohmann::json;
using service::CachedDoc;
using service::DocPtr;

namespace {

// The path's components before any query string: {"flows", F, "runs", R, ...}.
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t end = path.find_first_of("?#");
  std::string bare = path.substr(0, end);
  size_t start = 1;
  while (start <= bare.size()) {
    size_t slash = bare.find('/', start);
    if (slash == std::string::npos) slash = bare.size();
    out.push_back(bare.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// The fields mfsql reads from the rows of an artifact or metadata listing (json_fields.cpp's
// artifact_from_json / metadata_from_json, the indexes by step_name and task_id, note_metadata's
// flow_id and run_number). A wide step's listing is 5,000+ rows, each carrying the run's tags and
// system tags again: parsed whole, 40 MB of text became ~250 MB of nodes.
enum class ListingKind { kOther, kArtifacts, kMetadata };

ListingKind listing_of(const std::vector<std::string>& parts) {
  if (parts.size() < 4 || parts[0] != "flows" || parts[2] != "runs") return ListingKind::kOther;
  if (parts.back() == "artifacts") return ListingKind::kArtifacts;
  if (parts.back() == "metadata") return ListingKind::kMetadata;
  return ListingKind::kOther;
}

bool kept_field(ListingKind listing, const std::string& key) {
  static const std::unordered_set<std::string> kArtifactFields = {
      "name", "sha", "content_type", "location", "ds_type", "attempt_id", "ts_epoch",
      "step_name", "task_id", "flow_id", "run_number"};
  static const std::unordered_set<std::string> kMetadataFields = {
      "field_name", "value", "type", "user_name", "tags", "ts_epoch", "id",
      "step_name", "task_id", "flow_id", "run_number", "attempt_id"};
  return (listing == ListingKind::kArtifacts ? kArtifactFields : kMetadataFields).count(key) > 0;
}

// The answer's JSON; a listing's rows keep only the fields above (dropped as the parser meets
// them, so the rest is never built). Discarded when not valid JSON.
json parse_answer(const std::string& path, const std::string& body) {
  const ListingKind listing = listing_of(components(path));
  if (listing == ListingKind::kOther) return json::parse(body, nullptr, /*allow_exceptions=*/false);
  json::parser_callback_t keep = [listing](int depth, json::parse_event_t event, json& parsed) {
    // depth 0: the list; 1: a row; 2: a row's field, dropped (with its value) unless read.
    if (event == json::parse_event_t::key && depth == 2 && parsed.is_string())
      return kept_field(listing, parsed.get_ref<const std::string&>());
    return true;
  };
  return json::parse(body, keep, /*allow_exceptions=*/false);
}

// A path without its cache-key fragment (routes.hpp, only_names_key), and the names it keeps.
std::string without_fragment(const std::string& path) { return path.substr(0, path.find('#')); }
std::optional<std::set<std::string>> only_names(const std::string& path) {
  const size_t at = path.find("#only=");
  if (at == std::string::npos) return std::nullopt;
  std::set<std::string> out;
  for (size_t start = at + 6; start <= path.size();) {
    size_t comma = path.find(',', start);
    if (comma == std::string::npos) comma = path.size();
    out.insert(path.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

ServiceMetadata::ServiceMetadata(ServiceOptions options, std::shared_ptr<net::HttpClient> http,
                                 std::shared_ptr<Trace> trace, StatementMemo* memo)
    : options_(std::move(options)),
      base_(options_.url),
      http_(std::move(http)),
      trace_(std::move(trace)),
      memo_(memo),
      cache_(options_.cache_max_bytes) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

std::string ServiceMetadata::describe() const { return "the metadata service at " + net::redact_url(base_); }

std::optional<bool> ServiceMetadata::server_filters() const {
  std::lock_guard lock(state_mu_);
  return server_filters_;
}

bool ServiceMetadata::marked(const std::string& what) {
  if (!memo_) return false;
  auto hit = memo_->find("\x01svc " + base_ + " " + what);
  return hit.has_value();
}

void ServiceMetadata::mark(const std::string& what) {
  if (memo_) memo_->remember("\x01svc " + base_ + " " + what, std::nullopt);
}

net::Clock::time_point ServiceMetadata::deadline() {
  const auto limit = std::chrono::milliseconds(http_->options().deadline_ms);
  const std::string key = "\x01svc-statement " + base_;
  if (memo_)
    if (auto started = memo_->find(key); started && *started)
      return net::Clock::time_point(net::Clock::duration(std::stoll(**started))) + limit;
  auto now = net::Clock::now();
  if (memo_) memo_->remember(key, std::to_string(now.time_since_epoch().count()));
  return now + limit;
}

double ServiceMetadata::ttl_for(const std::string& path) const {
  auto parts = components(path);
  const bool query = path.find('?') != std::string::npos;
  if (parts.size() == 2 && !query) return options_.ttl_settled_s;  // a flow record never changes
  if (parts.size() <= 4 || query) return options_.ttl_changing_s;  // lists that grow; runs (tags change)
  std::lock_guard lock(state_mu_);
  return settled_runs_.count(parts[1] + "/" + parts[3]) ? options_.ttl_settled_s : options_.ttl_changing_s;
}

bool ServiceMetadata::expired(const std::string& path, const CachedDoc& doc) const {
  double ttl = doc.status == 200 ? ttl_for(path) : options_.ttl_changing_s;
  return std::chrono::duration<double>(net::Clock::now() - doc.fetched).count() > ttl;
}

DocPtr ServiceMetadata::peek(const std::string& path) {
  DocPtr doc = cache_.find(base_ + path, std::nullopt);
  if (!doc) doc = recall(path);  // a final answer an earlier process kept (final_answers.cpp)
  if (!doc) return nullptr;
  // A final answer (final_answers.cpp) has no TTL.
  if (!marked("seen " + path) && final_now(path, *doc) != true && expired(path, *doc)) return nullptr;
  return doc;
}

void ServiceMetadata::learn_run_of(const std::string& path) {
  DocPtr doc = cache_.find(base_ + path, std::nullopt);
  if (!doc || !doc->final_candidate || final_now(path, *doc) || !expired(path, *doc) || marked("seen " + path)) return;
  auto parts = components(path);  // flows/F/runs/R/...: the run record says whether R was quiet then
  DocPtr run = fetch("/flows/" + parts[1] + "/runs/" + parts[3]);
  if (run->status == 200 && run->json && run->json->is_object()) parse_run(*run->json, ObjectPath{parts[1], parts[3], {}, {}});
}

DocPtr ServiceMetadata::cached(const std::string& path) {
  learn_run_of(path);
  DocPtr doc = peek(path);
  if (!doc) return nullptr;
  mark("seen " + path);
  if (trace_) {
    TraceEntry e;
    e.kind = "http";
    e.target = net::redact_url(doc->url);
    e.status = doc->status;
    e.bytes = static_cast<int64_t>(doc->bytes);
    e.cache_hit = true;
    trace_->record(std::move(e));
  }
  return doc;
}

std::vector<DocPtr> ServiceMetadata::fetch_many(const std::vector<std::string>& paths, bool allow_400) {
  std::vector<DocPtr> out(paths.size());
  std::vector<std::string> urls;
  std::vector<std::vector<size_t>> wanted_by;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (DocPtr doc = cached(paths[i])) {
      out[i] = doc;
      continue;
    }
    auto [it, fresh] = position.emplace(paths[i], urls.size());
    if (fresh) {
      urls.push_back(base_ + without_fragment(paths[i]));
      wanted_by.emplace_back();
    }
    wanted_by[it->second].push_back(i);
  }
  if (urls.empty()) return out;
  auto responses = http_->get_many(urls, deadline());
  for (size_t k = 0; k < responses.size(); ++k) {
    net::HttpResponse& r = responses[k];
    const std::string& path = paths[wanted_by[k].front()];
    std::shared_ptr<CachedDoc> doc;
    if (r.status == 200) {
      doc = doc_from_body(path, r.body, r.header("x-limit").has_value(), r.header("x-next-cursor").value_or(""),
                          net::redact_url(r.url));
      if (doc->final_candidate) hold_for_persisting(path, std::move(r.body), *doc);
      std::string().swap(r.body);  // the text is not needed any more
    } else {
      if (r.status != 404 && !(r.status == 400 && allow_400))
        throw UserError("The metadata service answered " + net::redact_url(r.url) + " with HTTP " +
                        std::to_string(r.status) + ": " + http_->excerpt(r.body));
      doc = std::make_shared<CachedDoc>();
      doc->url = base_ + path;
      doc->status = r.status;
      doc->bytes = r.body.size();
      doc->fetched = net::Clock::now();
      doc->fetched_epoch_s = now_s();
    }
    if (doc->status != 400) cache_.put(doc);
    for (size_t i : wanted_by[k]) {
      out[i] = doc;
      mark("seen " + paths[i]);
    }
  }
  return out;
}

std::shared_ptr<CachedDoc> ServiceMetadata::doc_from_body(const std::string& path, const std::string& body,
                                                          bool paginated, std::string next_cursor,
                                                          const std::string& shown) {
  auto doc = std::make_shared<CachedDoc>();
  doc->url = base_ + path;  // the cache's key (with its fragment, if any)
  doc->status = 200;
  doc->bytes = body.size();
  doc->fetched = net::Clock::now();
  doc->fetched_epoch_s = now_s();
  doc->paginated = paginated;
  doc->next_cursor = std::move(next_cursor);
  const auto parts = components(path);
  const ListingKind listing = listing_of(parts);
  const auto names = only_names(path);
  // A run's or step's listing (read through its index only): row by row, never whole.
  if (listing != ListingKind::kOther && (parts.size() == 5 || parts.size() == 7) &&
      index_while_reading(*doc, {parts[1], parts[3], {}, {}}, listing == ListingKind::kArtifacts, body,
                          [listing](const std::string& key) { return kept_field(listing, key); },
                          names ? &*names : nullptr)) {
    doc->final_candidate = final_candidate(path, *doc);
    return doc;
  }
  json parsed = parse_answer(path, body);
  if (parsed.is_discarded())
    throw UserError("The metadata service answered " + shown + " with text that is not valid JSON (HTTP 200, " +
                    std::to_string(body.size()) + " bytes): " + http_->excerpt(body));
  doc->json = std::make_shared<const json>(std::move(parsed));
  doc->final_candidate = final_candidate(path, *doc);
  return doc;
}

DocPtr ServiceMetadata::fetch(const std::string& path, bool allow_400) { return fetch_many({path}, allow_400).front(); }

const json& ServiceMetadata::array_of(const DocPtr& doc) const {
  static const json kEmpty = json::array();
  if (doc->status == 404) return kEmpty;
  if (!doc->json || !doc->json->is_array())
    throw UserError("The metadata service answered " + net::redact_url(doc->url) +
                    " with something other than the JSON list expected: " +
                    http_->excerpt(doc->json ? doc->json->dump() : std::string()));
  return *doc->json;
}

void ServiceMetadata::note_run(const RunRecord& run) {
  if (!run.last_heartbeat_s) return;
  const std::string key = run.path.flow + "/" + run.path.run_id;
  const int64_t now = now_s();
  std::lock_guard lock(state_mu_);
  auto [seen, fresh] = run_heartbeats_.try_emplace(key, *run.last_heartbeat_s, now);  // final_answers.cpp
  if (!fresh && *run.last_heartbeat_s > seen->second.first) seen->second = {*run.last_heartbeat_s, now};
  if (!fresh && *run.last_heartbeat_s == seen->second.first) seen->second.second = std::max(seen->second.second, now);
  if (now - *run.last_heartbeat_s <= options_.run_inactive_s) return;
  settled_runs_.insert(key);
}

void ServiceMetadata::note_metadata(const json& rows) {
  for (auto& row : rows) {
    if (!row.is_object() || row.value("step_name", json()) != "end" || row.value("field_name", json()) != "attempt_ok" ||
        row.value("value", json()) != "True")
      continue;
    std::lock_guard lock(state_mu_);
    settled_runs_.insert(id_text(row.value("flow_id", json())) + "/" + id_text(row.value("run_number", json())));
  }
}

}  // namespace mfsql
