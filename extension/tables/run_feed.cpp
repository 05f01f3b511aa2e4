#include "tables/run_feed.hpp"

#include <algorithm>

#include "model/client.hpp"

namespace mfsql::tables {
namespace {
// The service's cap on a page of runs (_limit), which a listing without a LIMIT asks for.
constexpr int64_t kMaxPage = 500;
}  // namespace

RunFeed::RunFeed(Store& store, const std::string& flow, const PathFilter& f, const Walk& how) : filter_(f), how_(how) {
  const bool need_record = how.run_records || how.level == Level::kRun;
  if (f.runs() && !need_record) {
    for (auto& id : *f.runs()) {
      if (!f.allows(1, id)) continue;
      RunRecord r;
      r.path = {flow, id, {}, {}};
      r.ts_ms = kUnknownTime;
      runs_.push_back(std::move(r));
    }
    return;
  }
  if (f.runs()) {
    std::vector<RunRecord> out;
    for (auto& id : *f.runs())
      if (auto r = store.meta().run({flow, id, {}, {}})) out.push_back(std::move(*r));
    add(std::move(out));
    return;
  }
  RunQuery query = how.run_query.value_or(RunQuery{});
  // Where the server's completed is mfsql's completed, a statement that keeps some statuses asks
  // for the server statuses those runs may have (client::server_candidates).
  if (query.statuses && !query.statuses->empty() && store.meta().may_know_server_status()) {
    if (!store.remembered_status_rule(flow) && !query.created_to_ms && query.tags_any.empty() && !query.user) {
      // A listing from the newest run on: its own first page, with every status, names the
      // newest run the rule reads (a request fewer than asking for it), and once the rule is
      // known the later pages hold the candidates only (switch_to_candidates).
      candidates_ = query;
      query.with_server_status = true;
      first_page_size_ = std::clamp<int64_t>(query.wanted.value_or(kMaxPage), 1, kMaxPage);
    } else if (client::server_status_stands(store, flow)) {
      query.server_statuses = client::server_candidates(*query.statuses);
    }
  }
  pages_ = store.meta().runs_where(flow, query);
  store_ = &store;
  flow_ = flow;
}

bool RunFeed::has(size_t i) {
  while (i >= runs_.size() && pages_) {
    auto page = pages_->next();
    if (!page) {
      pages_.reset();
      continue;
    }
    const bool first_of_every_status = candidates_.has_value();
    if (first_of_every_status) switch_to_candidates(*page);
    add(std::move(*page), /*skip_seen=*/!first_of_every_status);
  }
  return i < runs_.size();
}

void RunFeed::switch_to_candidates(const std::vector<RunRecord>& first) {
  RunQuery rest = std::move(*candidates_);
  candidates_.reset();
  if (first.empty() || !client::server_status_stands(*store_, flow_, &first.front())) return;
  rest.server_statuses = client::server_candidates(*rest.statuses);
  kept_server_statuses_ = rest.server_statuses;  // for this page and any later one of this listing
  // A page short of its size was the last (the next is then nullopt, without a request); so was
  // one with a run without a time, which no bound can name: the rest comes as it is.
  int64_t oldest = first.front().ts_ms;
  for (auto& r : first) oldest = std::min(oldest, r.ts_ms);
  if (static_cast<int64_t>(first.size()) < first_page_size_ || oldest < 0) return;
  for (auto& r : first) seen_.insert(r.path.run_id);
  rest.created_to_ms = std::min(rest.created_to_ms.value_or(oldest), oldest);
  if (rest.wanted) rest.wanted = std::max<int64_t>(*rest.wanted - static_cast<int64_t>(first.size()), 1);
  pages_ = store_->meta().runs_where(flow_, rest);
}

void RunFeed::add(std::vector<RunRecord> runs, bool skip_seen) {
  std::erase_if(runs, [&](const RunRecord& r) {
    return !filter_.allows(1, r.path.run_id) || (how_.level == Level::kRun && !filter_.accepts(r.path.pathspec())) ||
           (skip_seen && seen_.count(r.path.run_id)) ||
           (r.server_status && !kept_server_statuses_.empty() &&
            std::find(kept_server_statuses_.begin(), kept_server_statuses_.end(), *r.server_status) ==
                kept_server_statuses_.end());
  });
  client::sort_newest_first(runs);  // within a page; pages come newest first
  for (auto& r : runs) runs_.push_back(std::move(r));
}

}  // namespace mfsql::tables
