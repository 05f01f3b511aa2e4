#pragma once
// What a value derived from several folders depended on (cache/derived_memory.hpp): while a
// DependencyLog is current on a thread, LocalFiles notes there every folder check a read relied
// on, and marks the log tainted by any read that no folder check covers (a file outside `_meta`
// other than a content-addressed blob, a missing folder, another store). parallel_for carries
// the current log to its helper threads, so no read made for the value goes unnoted.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "util/file_stat.hpp"

namespace mfsql {

struct FolderDependency {
  std::string folder;  // relative to the store's root
  FileStat stat;       // as the check saw it
  int64_t checked_ns;  // the wall clock just before that stat (the racy rule)
};

class DependencyLog {
 public:
  explicit DependencyLog(const void* owner) : owner_(owner) {}

  // The log reads on this thread are noted in, or null. Not a thread_local: thread-local storage
  // in a module SQLite loads and unloads trips LeakSanitizer (util/parallel.hpp), so the current
  // logs are a short list by thread, and no derivation anywhere costs one atomic load.
  static DependencyLog* current() {
    Current& c = current_logs();
    if (c.scopes.load(std::memory_order_acquire) == 0) return nullptr;
    const auto me = std::this_thread::get_id();
    std::lock_guard lock(c.mu);
    for (auto it = c.by_thread.rbegin(); it != c.by_thread.rend(); ++it)
      if (it->first == me) return it->second;
    return nullptr;
  }
  // Makes `log` current on this thread for a scope (none for null); the previous one is restored
  // after. (A value derived inside another: the caller hands the inner log to the outer one with
  // absorb.)
  class Scope {
   public:
    explicit Scope(DependencyLog* log) : previous_(current()), log_(log) {
      if (!log_) return;
      Current& c = current_logs();
      std::lock_guard lock(c.mu);
      c.by_thread.emplace_back(std::this_thread::get_id(), log_);
      c.scopes.fetch_add(1, std::memory_order_release);
    }
    ~Scope() {
      if (!log_) return;
      Current& c = current_logs();
      const auto me = std::this_thread::get_id();
      std::lock_guard lock(c.mu);
      for (auto it = c.by_thread.end(); it != c.by_thread.begin();)
        if (--it; it->first == me && it->second == log_) {
          c.by_thread.erase(it);
          break;
        }
      c.scopes.fetch_sub(1, std::memory_order_release);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    DependencyLog* previous() const { return previous_; }

   private:
    DependencyLog* previous_;
    DependencyLog* log_;
  };

  void note(const void* owner, const std::string& folder, const FileStat& stat, int64_t checked_ns) {
    std::lock_guard lock(mu_);
    if (owner != owner_) {
      tainted_ = true;
      return;
    }
    for (auto& d : deps_)
      if (d.folder == folder) {
        if (!(d.stat == stat)) tainted_ = true;  // two states of one folder: nothing to stand for
        d.checked_ns = std::min(d.checked_ns, checked_ns);  // the racy rule, from the earliest check
        return;
      }
    deps_.push_back({folder, stat, checked_ns});
  }
  void taint() {
    std::lock_guard lock(mu_);
    tainted_ = true;
  }
  void absorb(const DependencyLog& inner) {
    if (&inner == this) return;
    std::vector<FolderDependency> deps;
    bool tainted;
    {
      std::lock_guard lock(inner.mu_);
      deps = inner.deps_;
      tainted = inner.tainted_ || inner.owner_ != owner_;
    }
    if (tainted) taint();
    for (auto& d : deps) note(inner.owner_, d.folder, d.stat, d.checked_ns);
  }

  bool tainted() const {
    std::lock_guard lock(mu_);
    return tainted_;
  }
  std::vector<FolderDependency> take() {
    std::lock_guard lock(mu_);
    return std::move(deps_);
  }

 private:
  struct Current {
    std::atomic<int> scopes{0};
    std::mutex mu;
    std::vector<std::pair<std::thread::id, DependencyLog*>> by_thread;
  };
  static Current& current_logs() {
    static Current c;
    return c;
  }

  mutable std::mutex mu_;
  const void* owner_;
  std::vector<FolderDependency> deps_;
  bool tainted_ = false;
};

}  // namespace mfsql
