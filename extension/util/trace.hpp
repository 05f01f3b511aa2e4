#pragma once
// The record of what each provider call cost: one entry per file read, directory listing or HTTP
// request. `metaflow_trace` shows it, and tests count it to prove that pushdown reads only what a
// question needs.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace mfsql {

struct TraceEntry {
  int64_t seq = 0;
  std::string kind;    // "file", "dir", "stat" (a size, no read), "http", "s3"
  std::string target;  // path relative to the store, or URL without secrets
  int status = 0;      // 0 ok for files (-1 missing); HTTP status for requests
  double ms = 0;
  int64_t bytes = 0;
  bool cache_hit = false;
  std::string error;   // why a read failed ("missing", "permission denied", "symlink not followed", ...)
};

// Progress for the mfsql shell: with MFSQL_PROGRESS=1 and stderr a terminal, a long read prints
// "mfsql: 1234 files read, 5.6 MB (3 s)" to stderr once a second. The trace cannot see statements,
// so a pause of over a second between calls starts a new count.
class TraceProgress {
 public:
  using Clock = std::chrono::steady_clock;
  static bool wanted() {
    const char* v = std::getenv("MFSQL_PROGRESS");
    return v && std::strcmp(v, "1") == 0 && isatty(STDERR_FILENO);
  }
  void note(const TraceEntry& e) {
    const auto now = Clock::now();
    const auto began = now - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(e.ms));
    if (began - last_ > std::chrono::seconds(1)) {  // a new burst of reads: most likely a new query
      start_ = printed_ = began;
      files_ = requests_ = bytes_ = 0;
    }
    last_ = now;
    if (e.cache_hit) return;
    ++(e.kind == "http" ? requests_ : files_);
    bytes_ += e.bytes;
    if (now - printed_ < std::chrono::seconds(1)) return;
    printed_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "mfsql: %lld files read, %.1f MB", static_cast<long long>(files_), bytes_ / 1e6);
    if (requests_) std::fprintf(stderr, ", %lld requests", static_cast<long long>(requests_));
    std::fprintf(stderr, " (%.0f s)\n", secs);
  }

 private:
  Clock::time_point start_{}, last_{}, printed_{};
  int64_t files_ = 0, requests_ = 0, bytes_ = 0;
};

class Trace {
 public:
  static constexpr size_t kDefaultKeep = 20000;  // newest entries kept; counters cover everything

  // MFSQL_TRACE_KEEP raises the bound, for benchmarks that need every call of a big question.
  Trace() {
    if (const char* keep = std::getenv("MFSQL_TRACE_KEEP")) keep_ = std::max<size_t>(1, std::strtoull(keep, nullptr, 10));
  }

  void record(TraceEntry e) {
    std::lock_guard lock(mu_);
    e.seq = ++seq_;
    if (e.kind == "file" && !e.cache_hit && e.status == 0) ++files_opened_;
    if (show_progress_) progress_.note(e);
    entries_.push_back(std::move(e));
    if (entries_.size() > keep_) entries_.pop_front();
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
  size_t keep_ = kDefaultKeep;
  const bool show_progress_ = TraceProgress::wanted();
  TraceProgress progress_;
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
