// The runs a statement asks about, asked of the server: its filters and page size.
//
// GET /flows/F/runs takes (services/metadata_service/api/run.py, metaflow-service-api.md):
//   _tags:any=a,b / _tags:all=a,b   the run's tags or system tags hold any / all of them
//   ts_epoch:ge=T / ts_epoch:le=T   creation time bounds, epoch ms (mfsql's created_at is ts_epoch)
//   last_heartbeat_ts:ge=null,T     no heartbeat, or one at or after T (epoch s; values are OR'd)
//   status:eq=a,b                   the server's derived status is one of these (see client.hpp,
//                                   server_candidates: which runs of mfsql's statuses they hold)
//   _limit=N (at most 500), _cursor=C   pages newest first by (ts_epoch, run_number), the next one
//                                   named by X-Next-Cursor; X-Limit marks a filtered answer
// mfsql's user = X becomes _tags:all=user:X: runs.user is the first `user:` system tag, so a run
// with user X carries that tag (the server's own `user` filter also needs user_name = X, which
// could drop one). Every page is filtered again by RunQuery::admits, so a server that ignores a
// parameter still answers correctly.
//
// A server without filters (older versions; a replay of recorded answers) is told once per
// connection: an unfiltered 200 without X-Limit is the whole listing, filtered here; a 400 or 404
// while the plain listing answers 200 means the server does not take the query. Either way the
// connection then lists runs and filters them itself (MetadataProvider::runs_where).
#include <algorithm>
#include <set>

#include "datastore/datastore.hpp"
#include "providers/service/routes.hpp"
#include "providers/service/service_metadata.hpp"

namespace mfsql {

namespace {

constexpr int64_t kMaxPage = 500;  // the service's cap on _limit

bool expressible(const std::string& value) { return !value.empty() && value.find(',') == std::string::npos; }

std::string tag_list(const std::vector<std::string>& tags) {
  std::string out;
  for (size_t i = 0; i < tags.size(); ++i) out += (i ? "," : "") + net::url_escape(tags[i], ":");
  return out;
}

// The query string (without _limit and _cursor) that narrows to what `q` admits, as far as the
// server's grammar can say it.
std::string filter_query(const RunQuery& q) {
  std::vector<std::string> terms;
  if (!q.tags_any.empty() && std::all_of(q.tags_any.begin(), q.tags_any.end(), expressible))
    terms.push_back("_tags:any=" + tag_list(q.tags_any));
  if (q.user && expressible(*q.user)) terms.push_back("_tags:all=" + tag_list({"user:" + *q.user}));
  if (q.created_from_ms) terms.push_back("ts_epoch:ge=" + std::to_string(*q.created_from_ms));
  if (q.created_to_ms) terms.push_back("ts_epoch:le=" + std::to_string(*q.created_to_ms));
  // A run without a heartbeat passes too (`null`: the server's IS NULL); its times are seconds.
  if (q.heartbeat_from_s) terms.push_back("last_heartbeat_ts:ge=null," + std::to_string(*q.heartbeat_from_s));
  // Every run has one of the three (the server's CASE always yields one), so asking for all three
  // drops none and makes the server send each run's status.
  if (!q.server_statuses.empty()) terms.push_back("status:eq=" + tag_list(q.server_statuses));
  else if (q.with_server_status) terms.push_back("status:eq=completed,failed,running");
  std::string out;
  for (auto& t : terms) out += t + "&";
  return out;
}

}  // namespace

class ServiceRunPages final : public RunPages {
 public:
  ServiceRunPages(ServiceMetadata& service, std::string flow, RunQuery query)
      : service_(service), flow_(std::move(flow)), query_(std::move(query)), filters_(filter_query(query_)) {
    page_size_ = std::clamp<int64_t>(query_.wanted.value_or(kMaxPage), 1, kMaxPage);
  }

  std::optional<std::vector<RunRecord>> next() override {
    if (done_) return std::nullopt;
    std::string path = service::runs_path(flow_) + "?" + filters_ + "_limit=" + std::to_string(page_size_);
    if (!cursor_.empty()) path += "&_cursor=" + net::url_escape(cursor_, "=");
    service::DocPtr page = service_.fetch(path, /*allow_400=*/true);
    if (page->status != 200) return fall_back();
    if (!page->paginated) {  // a server that ignored the query: this is the whole listing
      service_.set_server_filters(false);
      done_ = true;
      return without_handed_out(admitted(service_.parse_runs(page, flow_)));
    }
    service_.set_server_filters(true);
    cursor_ = page->next_cursor;
    done_ = cursor_.empty();
    page_size_ = std::min(page_size_ * 2, kMaxPage);  // a statement that goes on reads more at once
    auto runs = admitted(service_.parse_runs(page, flow_));
    for (auto& r : runs) handed_out_.insert(r.path.run_id);
    return runs;
  }

 private:
  // The server does not take the query (400, or a 404 where the flow's plain listing answers):
  // list and filter here, from the runs not handed out yet.
  std::optional<std::vector<RunRecord>> fall_back() {
    service::DocPtr plain = service_.fetch(service::runs_path(flow_));
    if (plain->status != 200) {  // no such flow
      done_ = true;
      return std::vector<RunRecord>{};
    }
    service_.set_server_filters(false);
    done_ = true;
    return without_handed_out(admitted(service_.runs_in_page_order(plain, flow_)));
  }

  std::vector<RunRecord> admitted(std::vector<RunRecord> runs) const {
    std::erase_if(runs, [&](const RunRecord& r) {
      return !query_.admits(r) || (r.server_status && !query_.server_statuses.empty() &&
                                   std::find(query_.server_statuses.begin(), query_.server_statuses.end(),
                                             *r.server_status) == query_.server_statuses.end());
    });
    std::stable_sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) { return a.ts_ms > b.ts_ms; });
    return runs;
  }

  std::optional<std::vector<RunRecord>> without_handed_out(std::optional<std::vector<RunRecord>> runs) const {
    if (runs && !handed_out_.empty())
      std::erase_if(*runs, [&](const RunRecord& r) { return handed_out_.count(r.path.run_id) > 0; });
    return runs;
  }

  ServiceMetadata& service_;
  std::string flow_;
  RunQuery query_;
  std::string filters_;
  int64_t page_size_;
  std::string cursor_;
  bool done_ = false;
  std::set<std::string> handed_out_;
};

void ServiceMetadata::set_server_filters(bool supported) {
  std::lock_guard lock(state_mu_);
  server_filters_ = supported;
}

std::unique_ptr<RunPages> ServiceMetadata::runs_where(const std::string& flow, const RunQuery& query) {
  // Without a filter or a LIMIT the plain listing answers (one request, cached for the run lookups
  // of the rest of the statement); a server known to lack filters is asked the same way.
  const bool only_tags = !query.tags_any.empty() && !query.user && !query.created_from_ms && !query.created_to_ms &&
                         !query.heartbeat_from_s &&
                         !query.wanted && !query.with_server_status && query.server_statuses.empty();
  if (!safe_component(flow) || (!query.filters() && !query.wanted && !query.with_server_status && query.server_statuses.empty()) ||
      only_tags || server_filters() == false)
    return MetadataProvider::runs_where(flow, query);  // (only tags: runs_with_tags, with its own paging)
  return std::make_unique<ServiceRunPages>(*this, flow, query);
}

}  // namespace mfsql
