#pragma once
// The one thread budget. A local question is thousands of small independent file reads, which
// the OS answers faster from several threads; the budget is the machine's cores, at most
// kMaxThreads (past that, the reads contend on the same folders and gain nothing). Whoever calls
// parallel_for first (the walk, over runs or rows) spends the budget: a parallel_for inside it
// (the local provider reading a step's tasks) runs on the calling thread, so nested calls never
// multiply threads. (Nor do two at once from different connections: the second runs on its own
// thread while the first holds the budget.)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

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
}

// Starting a thread costs ~100 µs (clone, its stack, a new malloc arena's first pages): more than
// a statement answered from memory spends on all its items (a stat each). So the calling thread
// starts alone, and starts the others only once the items done so far say the rest would take
// longer than this: a cold read of records spawns after its second item, a warm pass never.
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
  auto work = [&] {
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
  std::vector<std::thread> threads;
  try {
    for (size_t t = 1; t < workers && next.load() < n; ++t) threads.emplace_back(work);
  } catch (...) {  // no thread to be had: the calling thread does the rest
  }
  work();
  for (auto& t : threads) t.join();
  --detail::active_regions;
  if (error) std::rethrow_exception(error);
}

}  // namespace mfsql
