#pragma once
// Runs f(i) for i in [0, n) on up to `workers` threads (the machine's cores by default), for the
// few places where a question reads many independent small files: listing a step's tasks or a
// flow's runs. Small batches stay on the calling thread, where a thread would cost more than it saves.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mfsql {

template <typename F>
void parallel_for(size_t n, F&& f, size_t min_per_thread = 32) {
  size_t workers = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  workers = std::min(workers, n / std::max<size_t>(min_per_thread, 1));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
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
  std::vector<std::thread> threads;
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace mfsql
