#pragma once
// The metadata service's answers kept for the connection, by URL: parsed once, dropped after the
// time-to-live the provider gives per lookup, and within a memory budget (oldest first).
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/records.hpp"

namespace mfsql::service {

using Clock = std::chrono::steady_clock;

// Records of a bulk listing, by "step/task_id", built on first use.
using ArtifactIndex = std::unordered_map<std::string, std::vector<ArtifactRecord>>;
using MetadataIndex = std::unordered_map<std::string, std::vector<MetadataEntry>>;

struct CachedDoc {
  std::string url;
  int status = 0;                             // 200, 404, or 400 for a refused filter
  std::shared_ptr<const nlohmann::json> json;  // null unless 200
  bool paginated = false;                     // the answer carried X-Limit
  std::string next_cursor;                    // X-Next-Cursor, when there are more pages
  size_t bytes = 0;
  // What the entry holds in memory, when known (a listing read row by row into its index holds
  // its records, not its text); 0: estimated from the body.
  size_t held = 0;
  Clock::time_point fetched{};
  bool final_candidate = false;  // final (no TTL) if its run was quiet when it came (final_answers.cpp)
  int64_t fetched_epoch_s = 0;   // when it came, wall clock, for that
  bool known_final = false;      // rebuilt from the cache file, where only final answers go

  mutable std::mutex index_mu;
  mutable std::shared_ptr<const ArtifactIndex> artifact_index;
  mutable std::shared_ptr<const MetadataIndex> metadata_index;
};
using DocPtr = std::shared_ptr<const CachedDoc>;

class ResponseCache {
 public:
  explicit ResponseCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The entry for `url` if it is younger than `ttl_s` (any age when nullopt), else null.
  DocPtr find(const std::string& url, std::optional<double> ttl_s);
  void put(DocPtr doc);
  void clear();

 private:
  std::mutex mu_;
  size_t max_bytes_, bytes_ = 0;
  std::list<std::string> order_;  // oldest first
  struct Slot {
    DocPtr doc;
    std::list<std::string>::iterator position;
  };
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace mfsql::service
