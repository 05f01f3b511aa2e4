#pragma once
// The one thread budget. A local question is thousands of small independent file reads, which
// the OS answers faster from several threads; the budget is the machine's cores, at most
// kMaxThreads (past that, the reads contend on the same folders and gain nothing). Whoever calls
// parallel_for first (the walk, over runs or rows) spends the budget: a parallel_for inside it
// (the local provider reading a step's tasks) runs on the calling thread, so nested calls never
// multiply threads.
#include <algorithm>
#include <atomic>
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
inline thread_local bool in_parallel_region = false;
}

// Runs f(i) for i in [0, n), on up to thread_budget() threads when there are at least
// `min_per_thread` items per thread; on the calling thread otherwise, or inside another parallel_for.
template <typename F>
void parallel_for(size_t n, F&& f, size_t min_per_thread = 32) {
  size_t workers = detail::in_parallel_region ? 1 : std::min(thread_budget(), n / std::max<size_t>(min_per_thread, 1));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    const bool outer = detail::in_parallel_region;
    detail::in_parallel_region = true;
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        f(i);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
    detail::in_parallel_region = outer;
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace mfsql
