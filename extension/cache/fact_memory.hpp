#pragma once
// Decoded facts of a local store (a run's record, a task's metadata entries, its artifact
// registrations), remembered beside the one folder they were decoded from and validated exactly
// as that folder's files are (cache/folder_memory.hpp): a fact is used only while the folder's
// stat equals the one it was decoded under, and only if that stat was not racy when it was taken.
// StoreMemory spares the reads; this spares the decoding, the copies and the allocations that a
// run's few hundred bytes of JSON otherwise cost on every statement (issue #16: the second time a
// question is asked, what is left is a stat per folder).
//
// Kept per process, per store identity, in memory only: a new process decodes once what the
// persistent cache hands it. Bounded; over the bound it starts over.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/file_stat.hpp"
#include "util/path_hash.hpp"

namespace mfsql {

class FactMemory {
 public:
  static constexpr size_t kMaxBytes = size_t{16} << 20;  // estimated; beyond it, start over

  // The process-wide facts of the store `key` (LocalFiles::identity()).
  static std::shared_ptr<FactMemory> shared(const std::string& key);

  // The fact `name` of `folder`, if it was decoded under the stat `now` validated and may be
  // trusted (not racy, the clock not gone backwards). Each name stands for one type T: the
  // callers (providers/local/local_metadata.cpp) name them so.
  template <typename T>
  std::shared_ptr<const T> find(const std::string& folder, const FolderCheck& now, std::string_view name) {
    return std::static_pointer_cast<const T>(find_erased(folder, now, name));
  }
  // `value` was decoded from what `folder` held when validated as `as_of` (every read of it came
  // after that check). `bytes` is its approximate size, for the bound.
  template <typename T>
  void remember(const std::string& folder, const FolderCheck& as_of, std::string name, T value, size_t bytes) {
    remember_erased(folder, as_of, std::move(name), std::make_shared<const T>(std::move(value)), bytes);
  }
  // The same, for a value the caller shares (with the persisted fact that encodes it later).
  template <typename T>
  void remember_shared(const std::string& folder, const FolderCheck& as_of, std::string name,
                       std::shared_ptr<const T> value, size_t bytes) {
    remember_erased(folder, as_of, std::move(name), std::move(value), bytes);
  }

  // The stat of the folder's state that facts are remembered for; nullopt when none are.
  std::optional<FileStat> state_of(const std::string& folder);
  size_t bytes() const;
  // False until a fact is first remembered: a new process's cold statement (whose facts are
  // remembered after it, cache/remember_log.cpp) then asks no stripe for a folder's state.
  bool holds_any() const { return holds_any_.load(std::memory_order_relaxed); }

 private:
  struct Fact {
    std::string name;
    int64_t checked_ns;
    std::shared_ptr<const void> value;
    size_t bytes;
  };
  struct Folder {
    FileStat stat;
    std::vector<Fact> facts;  // a handful per folder: a vector beats a map
  };
  struct Stripe {  // the two threads of parallel_for seldom wait on each other
    mutable std::mutex mu;
    std::unordered_map<std::string, Folder, PathHash> folders;
    size_t bytes = 0;
  };
  static constexpr size_t kStripes = 16;  // stripe_index takes the top four bits

  std::shared_ptr<const void> find_erased(const std::string& folder, const FolderCheck& now, std::string_view name);
  void remember_erased(const std::string& folder, const FolderCheck& as_of, std::string name,
                       std::shared_ptr<const void> value, size_t bytes);
  // The whole path's hash, from its top bits (the map's buckets use the low ones). Not only the
  // path's tail: every run's `end` task is often the same task id, so `…/end/5/_meta` ends alike in
  // a thousand runs. (A `h * 31 + c` loop over the last eight bytes, taken modulo 16, put a flow's
  // 1,000 end tasks in one stripe of sixteen, which then started over on every statement while
  // the others stood nearly empty: two thirds of the facts decoded again, warm.)
  static size_t stripe_index(std::string_view folder) { return (PathHash{}(folder) * 0x9E3779B97F4A7C15ull) >> 60; }
  Stripe& stripe_of(const std::string& folder) { return stripes_[stripe_index(folder)]; }

  std::array<Stripe, kStripes> stripes_;
  std::atomic<bool> holds_any_{false};
};

}  // namespace mfsql
