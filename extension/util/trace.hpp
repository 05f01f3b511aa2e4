#pragma once
// The record of what each provider call cost: one entry per file read, directory listing or HTTP
// request. `metaflow_trace` shows it, and tests count it to prove that pushdown reads only what a
// question needs.
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace mfsql {

struct TraceEntry {
  int64_t seq = 0;
  std::string kind;    // "file", "dir", "http", "s3"
  std::string target;  // path relative to the store, or URL without secrets
  int status = 0;      // 0 ok for files (-1 missing); HTTP status for requests
  double ms = 0;
  int64_t bytes = 0;
  bool cache_hit = false;
};

class Trace {
 public:
  static constexpr size_t kKeep = 20000;  // newest entries kept; counters cover everything

  void record(TraceEntry e) {
    std::lock_guard lock(mu_);
    e.seq = ++seq_;
    if (e.kind == "file" && !e.cache_hit && e.status == 0) ++files_opened_;
    entries_.push_back(std::move(e));
    if (entries_.size() > kKeep) entries_.pop_front();
  }
  std::vector<TraceEntry> snapshot() const {
    std::lock_guard lock(mu_);
    return {entries_.begin(), entries_.end()};
  }
  void clear() {
    std::lock_guard lock(mu_);
    entries_.clear();
    files_opened_ = 0;
  }
  int64_t files_opened() const {
    std::lock_guard lock(mu_);
    return files_opened_;
  }

 private:
  mutable std::mutex mu_;
  std::deque<TraceEntry> entries_;
  int64_t seq_ = 0;
  int64_t files_opened_ = 0;
};

// Measures one call and records it when it goes out of scope.
class TraceTimer {
 public:
  TraceTimer(Trace* trace, std::string kind, std::string target)
      : trace_(trace), start_(std::chrono::steady_clock::now()) {
    entry_.kind = std::move(kind);
    entry_.target = std::move(target);
  }
  ~TraceTimer() {
    if (!trace_) return;
    entry_.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    trace_->record(std::move(entry_));
  }
  TraceEntry& entry() { return entry_; }

 private:
  Trace* trace_;
  std::chrono::steady_clock::time_point start_;
  TraceEntry entry_;
};

}  // namespace mfsql
