#pragma once
// The metadata service's final answers (final_answers.cpp) kept across processes, in the cache file
// the local store uses (cache/cache_file.*; docs/caching.md): one row per (service, flow), keyed by
// the service's URL without credentials, query or fragment (no header, so no API key, is part of
// it). A row holds, per route, the body as received (deflated), the paging headers and when it was
// fetched: what rebuilding the answer needs, through the same parsing a response goes through.
// Only answers decided final are kept; live ones (runs, run records, step and task lists,
// filtered routes, non-200) never are. The row carries a format tag and a CRC: a damaged row is
// ignored. One load per (service, flow) per process; writes go to the shard writer thread after
// the statement (cache/folder_memory.hpp, write_behind).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "cache/folder_memory.hpp"

namespace mfsql::service {

struct StoredAnswer {
  std::shared_ptr<const std::string> body;  // as received
  bool paginated = false;                   // it carried X-Limit
  std::string next_cursor;
  int64_t fetched_epoch_s = 0;
};

// One kept answer: its body raw until the writer thread deflates it.
struct KeptAnswer {
  StoredAnswer answer;  // answer.body null once deflated
  std::shared_ptr<const std::string> deflated;
  uint64_t raw_size = 0;
  size_t bytes() const;
};
using AnswerShard = std::map<std::string, KeptAnswer>;  // route (no fragment) -> answer

// Format tag, CRC-32, then the answers; damaged or foreign bytes decode to nullopt. Every answer
// must be deflated (the writer's encoding) to be encoded.
std::string encode_answers(const AnswerShard& shard);
std::optional<AnswerShard> decode_answers(std::string_view bytes);

class PersistedAnswers final : public WritesBehind, public std::enable_shared_from_this<PersistedAnswers> {
 public:
  static constexpr size_t kMaxAnswerBytes = size_t{64} << 20;   // a larger body is not kept
  static constexpr size_t kMaxShardBytes = size_t{32} << 20;    // one flow's deflated bodies (oldest go first)
  static constexpr size_t kMaxHeldBytes = size_t{128} << 20;    // the process's, beyond which it starts over

  // The process's answers of the service at `url` (one per key).
  static std::shared_ptr<PersistedAnswers> shared(const std::string& url, std::shared_ptr<ShardPersistence> persistence);
  // "service " and `url` without userinfo, query string, fragment or trailing '/'.
  static std::string key_of(const std::string& url);

  PersistedAnswers(std::string key, std::shared_ptr<ShardPersistence> persistence)
      : key_(std::move(key)), persistence_(std::move(persistence)) {}

  // The kept answer to `route` ("/flows/F/..."), loading F's row on first use.
  std::optional<StoredAnswer> find(const std::string& flow, const std::string& route);
  void keep(const std::string& flow, const std::string& route, StoredAnswer answer);
  // At a statement's end: hands what changed to the writer thread.
  void flush();
  void write_dirty() override;
  const std::string& key() const { return key_; }

 private:
  AnswerShard& shard_locked(const std::string& flow);

  std::string key_;
  std::shared_ptr<ShardPersistence> persistence_;
  std::mutex mu_;
  std::map<std::string, AnswerShard> shards_;  // by flow
  std::set<std::string> dirty_;
  size_t held_ = 0;
};

}  // namespace mfsql::service
