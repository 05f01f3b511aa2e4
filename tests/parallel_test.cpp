// The one thread budget (util/parallel.hpp): every index runs exactly once, errors reach the
// caller, and a parallel_for inside another never adds threads.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/parallel.hpp"

namespace mfsql {
namespace {

TEST(ThreadBudget, EveryIndexRunsOnceWithinTheBudget) {
  std::vector<int> hits(1000, 0);
  std::mutex mu;
  std::set<std::thread::id> threads;
  parallel_for(hits.size(), [&](size_t i) {
    ++hits[i];
    std::lock_guard lock(mu);
    threads.insert(std::this_thread::get_id());
  }, 1);
  for (int h : hits) EXPECT_EQ(h, 1);
  EXPECT_LE(threads.size(), thread_budget());
  EXPECT_GE(thread_budget(), 1u);
  EXPECT_LE(thread_budget(), kMaxThreads);
}

TEST(ThreadBudget, NestedCallsRunOnTheCallingThread) {
  std::mutex mu;
  std::set<std::thread::id> all;
  bool inner_left_its_thread = false;
  parallel_for(64, [&](size_t) {
    const auto outer = std::this_thread::get_id();
    parallel_for(64, [&](size_t) {
      std::lock_guard lock(mu);
      all.insert(std::this_thread::get_id());
      if (std::this_thread::get_id() != outer) inner_left_its_thread = true;
    }, 1);
  }, 1);
  EXPECT_FALSE(inner_left_its_thread);
  EXPECT_LE(all.size(), thread_budget());
  // Outside any parallel_for again, a call may use the whole budget.
  std::set<std::thread::id> after;
  parallel_for(256, [&](size_t) {
    std::lock_guard lock(mu);
    after.insert(std::this_thread::get_id());
  }, 1);
  EXPECT_LE(after.size(), thread_budget());
}

TEST(ThreadBudget, AnErrorReachesTheCaller) {
  EXPECT_THROW(parallel_for(100, [](size_t i) { if (i == 57) throw std::runtime_error("boom"); }, 1),
               std::runtime_error);
}

}  // namespace
}  // namespace mfsql
