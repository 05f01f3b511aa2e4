// The one thread budget (util/parallel.hpp): every index runs exactly once, errors reach the
// caller, and a parallel_for inside another never adds threads.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <atomic>
#include <csignal>
#include <cstdlib>
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

// The helpers are kept between calls (a warm statement is shorter than starting a thread): every
// call's helper threads are the same few. Kernel thread ids, not std::thread::id: glibc hands a
// new thread the descriptor of one that ended, but never its tid this soon.
TEST(ThreadBudget, HelperThreadsAreKeptBetweenCalls) {
  if (thread_budget() < 2) GTEST_SKIP() << "one core: no helper threads";
  const long caller = ::syscall(SYS_gettid);
  std::mutex mu;
  std::set<long> helpers;
  for (int call = 0; call < 5; ++call)
    parallel_for(4096, [&](size_t) {
      const long tid = ::syscall(SYS_gettid);
      std::this_thread::yield();  // let every helper take a share
      if (tid == caller) return;
      std::lock_guard lock(mu);
      helpers.insert(tid);
    }, 1);
  EXPECT_GE(helpers.size(), 1u);
  EXPECT_LE(helpers.size(), thread_budget() - 1);
}

// A process forked after the helpers started has none of them: its parallel_for still runs every
// index, and its exit does not wait for the parent's threads.
TEST(ThreadBudget, AForkedChildRunsAndExits) {
  parallel_for(256, [](size_t) {}, 1);  // the helpers are started
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::atomic<int> ran{0};
    parallel_for(256, [&](size_t) { ++ran; }, 1);
    std::exit(ran == 256 ? 0 : 1);  // runs the static destructors, the kept threads' too
  }
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      FAIL() << "the forked child hung";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ctest runs each test in a process of its own, so this is the process's first region: the kept
// threads start inside it, and used to miss it (each took the generation it found at its start,
// after the region had been handed out, and waited for the next).
TEST(ThreadBudget, TheProcesssFirstRegionHasHelpersToo) {
  if (thread_budget() < 2) GTEST_SKIP() << "one core: no helper thread to be had";
  const auto caller = std::this_thread::get_id();
  std::atomic<int> on_helpers{0};
  parallel_for(64, [&](size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // worth a thread
    if (std::this_thread::get_id() != caller) ++on_helpers;
  }, 1);
  EXPECT_GT(on_helpers.load(), 0);
}

}  // namespace
}  // namespace mfsql
