#pragma once
// The runs of one flow the walk goes through (tables/walk.cpp): newest first, read from the
// provider a page at a time as the walk needs them, with the server's run status asked for and
// narrowed where the flow's graph lets it stand (model/client.hpp, server_status_stands).
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tables/walk.hpp"

namespace mfsql::tables {

// A deque: a batch's Found::run pointers stay valid as it grows.
class RunFeed {
 public:
  RunFeed(Store& store, const std::string& flow, const PathFilter& f, const Walk& how);

  // Whether there is a run at `i`, reading pages until there is or none are left.
  bool has(size_t i);
  size_t available() const { return runs_.size(); }
  RunRecord& operator[](size_t i) { return runs_[i]; }

 private:
  // After the first page of every status: the rule from its first run, the newest. Where it
  // stands, runs keep their candidates only (add), and unless that page held the whole listing
  // the rest is asked for as candidates, from its oldest time on down (no run handed out twice).
  void switch_to_candidates(const std::vector<RunRecord>& first);
  void add(std::vector<RunRecord> runs, bool skip_seen = true);

  const PathFilter& filter_;
  const Walk& how_;
  std::deque<RunRecord> runs_;
  std::unique_ptr<RunPages> pages_;
  Store* store_ = nullptr;
  std::string flow_;
  std::optional<RunQuery> candidates_;  // the query of the pages after the first (switch_to_candidates)
  int64_t first_page_size_ = 0;
  std::set<std::string> seen_;          // the first page's runs, when the rest are candidates
  std::vector<std::string> kept_server_statuses_;  // once the rule stands: the candidates' statuses
};

}  // namespace mfsql::tables
