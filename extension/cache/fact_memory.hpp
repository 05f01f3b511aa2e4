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
  static constexpr size_t kStripes = 16;

  std::shared_ptr<const void> find_erased(const std::string& folder, const FolderCheck& now, std::string_view name);
  void remember_erased(const std::string& folder, const FolderCheck& as_of, std::string name,
                       std::shared_ptr<const void> value, size_t bytes);
  // Not std::hash: the map hashes the path again. Paths differ in their last characters (the
  // run, step or task id), and a few bytes of them spread the stripes well enough.
  Stripe& stripe_of(const std::string& folder) {
    size_t h = folder.size();
    for (size_t k = folder.size() > 8 ? folder.size() - 8 : 0; k < folder.size(); ++k)
      h = h * 31 + static_cast<unsigned char>(folder[k]);
    return stripes_[h % kStripes];
  }

  std::array<Stripe, kStripes> stripes_;
};

}  // namespace mfsql
