#pragma once
// The one thread budget. A local question is thousands of small independent file reads, which
// the OS answers faster from several threads; the budget is the machine's cores, at most
// kMaxThreads (past that, the reads contend on the same folders and gain nothing). Whoever calls
// parallel_for first (the walk, over runs or rows) spends the budget: a parallel_for inside it
// (the local provider reading a step's tasks) runs on the calling thread, so nested calls never
// multiply threads. (Nor do two at once from different connections: the second runs on its own
// thread while the first holds the budget.)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "util/dependency_log.hpp"

namespace mfsql {

inline constexpr size_t kMaxThreads = 8;

inline size_t thread_budget() {
  static const size_t budget = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, kMaxThreads);
  return budget;
}

namespace detail {
// How many parallel_for calls are spending the budget now. A counter, not a thread_local flag:
// thread-local storage in a module that SQLite loads and unloads (dlopen/dlclose per connection)
// trips LeakSanitizer, and one query already using every core leaves none for a second anyway.
inline std::atomic<int> active_regions{0};


// Threads kept between calls, parked on a condition variable: starting a thread costs more than a
// statement answered from the cache's memory (issue #16: the 83-task run's median from the second
// connection on went from 1.38 to 0.81 ms on a 2-core VM once they were kept), so the budget's
// threads are started once and handed each region's work. One region uses them at a time; another
// that finds them taken starts its own threads. A process forked from this one has none of them
// (only the forking thread survives fork()), so it never touches them: it starts threads as before.
// The static's destructor (exit, or the module's unloading) stops and joins them, so none outlives
// the module's code.
class KeptThreads {
 public:
  static KeptThreads& instance() {
    // In a forked child the threads, and the waits the condition variables record, are the
    // parent's: destroying them there would wait for threads that do not exist, so it is left.
    struct Holder {
      KeptThreads* kept = new KeptThreads(thread_budget() - 1);
      ~Holder() {
        if (::getpid() == kept->pid_) delete kept;
      }
    };
    static Holder holder;
    return *holder.kept;
  }

  // Runs `work` on up to `helpers` kept threads while the caller runs it too; returns once every
  // thread that took it has finished it. False, having run nothing, when the threads are busy with
  // another region or belong to the parent of a forked process.
  template <typename Work>
  bool run(size_t helpers, Work& work) {
    if (::getpid() != pid_ || threads_.empty()) return false;
    std::unique_lock region(region_mu_, std::try_to_lock);
    if (!region) return false;
    {
      std::lock_guard lock(mu_);
      job_ = [](void* w) { (*static_cast<Work*>(w))(); };
      job_arg_ = &work;
      wanted_ = std::min(helpers, threads_.size());
      taken_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock lock(mu_);
    wanted_ = taken_;  // a thread that has not woken yet is not waited for: the caller did its share
    done_.wait(lock, [&] { return running_ == 0; });
    job_ = nullptr;
    job_arg_ = nullptr;
    return true;
  }

  ~KeptThreads() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  explicit KeptThreads(size_t count) : pid_(::getpid()) {
    try {
      for (size_t i = 0; i < count; ++i) threads_.emplace_back([this] { serve(); });
    } catch (...) {  // fewer threads to be had: the ones started serve
    }
  }

  // From generation 0, not the one it finds: a thread that starts after the first region was
  // handed out (instance() starts them just before that region's run) would skip it, and the
  // process's first parallel pass ran on the calling thread alone.
  void serve() {
    std::unique_lock lock(mu_);
    uint64_t seen = 0;
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (taken_ >= wanted_) continue;
      ++taken_;
      ++running_;
      void (*job)(void*) = job_;
      void* arg = job_arg_;
      lock.unlock();
      job(arg);  // parallel_for's work: catches what f throws
      lock.lock();
      if (--running_ == 0) done_.notify_all();
    }
  }

  const pid_t pid_;
  std::vector<std::thread> threads_;
  std::mutex region_mu_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  void (*job_)(void*) = nullptr;
  void* job_arg_ = nullptr;
  size_t wanted_ = 0, taken_ = 0, running_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};
}  // namespace detail

// Handing work to a thread costs more than a statement answered from memory spends on all its
// items (a stat each): starting one is ~100 µs (clone, its stack, a new malloc arena's first
// pages), waking a kept one still a few context switches. So the calling thread starts alone, and
// brings the others in only once the items done so far say the rest would take longer than this:
// a cold read of records does after its second item, a warm pass never.
inline constexpr std::chrono::microseconds kWorthAThread{200};

// Runs f(i) for i in [0, n), on up to thread_budget() threads when there are at least
// `min_per_thread` items per thread and the rest is worth a thread (kWorthAThread); on the calling
// thread otherwise, or inside another parallel_for.
template <typename F>
void parallel_for(size_t n, F&& f, size_t min_per_thread = 32) {
  size_t workers = detail::active_regions.load() > 0 ? 1 : std::min(thread_budget(), n / std::max<size_t>(min_per_thread, 1));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  ++detail::active_regions;
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  DependencyLog* const log = DependencyLog::current();  // the helper threads read for it too
  auto work = [&] {
    DependencyLog::Scope noted(log);
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        f(i);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  // Timed from the end of the first item, unless that one alone took long: the first pays for what
  // nothing after it pays again (the code's first page faults, a shard's loading), and would make
  // a warm pass look cold.
  auto start = std::chrono::steady_clock::now();
  for (size_t done = 0; (done = next.load()) < n;) {
    if (done == 1) {
      const auto now = std::chrono::steady_clock::now();
      if (now - start > 5 * kWorthAThread) break;  // a heavy first item: the others are heavy too
      start = now;
    }
    if (done > 1 && (std::chrono::steady_clock::now() - start) * (n - done) / (done - 1) > kWorthAThread) break;
    const size_t i = next.fetch_add(1);
    try {
      f(i);
    } catch (...) {
      std::lock_guard lock(error_mu);
      if (!error) error = std::current_exception();
    }
  }
  if (next.load() < n && !detail::KeptThreads::instance().run(workers - 1, work)) {
    std::vector<std::thread> threads;
    try {
      for (size_t t = 1; t < workers && next.load() < n; ++t) threads.emplace_back(work);
    } catch (...) {  // no thread to be had: the calling thread does the rest
    }
    work();
    for (auto& t : threads) t.join();
  }
  --detail::active_regions;
  if (error) std::rethrow_exception(error);
}

}  // namespace mfsql
