// FactMemory (cache/fact_memory.hpp) keeps what fits in its bound: a store's facts well under it
// are all found again. Its stripes start over one at a time, so a stripe that takes more than its
// share of the folders empties itself while the bound as a whole is far from reached.
#include <gtest/gtest.h>

#include <string>

#include "cache/fact_memory.hpp"

namespace mfsql {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// A folder checked long after it last changed: trusted (not racy).
FolderCheck settled_check(uint64_t ino) {
  FileStat stat{.dev = 1, .ino = ino, .size = 4096, .mtime_ns = 100 * kSecond, .ctime_ns = 100 * kSecond};
  return FolderCheck{stat, 1000 * kSecond};
}

// The folders of the runs-with-status question: each run's `_meta`, its `end` step, and that
// step's task's `_meta`. Named as Metaflow's local store names them: run ids are microsecond
// timestamps, and task ids count within a run, so every run's `end` task has the same id.
std::vector<std::string> folders_of_runs(int runs) {
  std::vector<std::string> out;
  for (int r = 1; r <= runs; ++r) {
    const std::string run = "BenchFlow/" + std::to_string(1748941200185092 + 2160180513LL * r);
    out.push_back(run + "/_meta");
    out.push_back(run + "/end");
    out.push_back(run + "/end/5/_meta");
  }
  return out;
}

TEST(FactMemory, FactsWellUnderTheBoundAreAllKeptAtTwoSizes) {
  for (int runs : {1000, 3000}) {
    FactMemory memory;
    const auto folders = folders_of_runs(runs);
    // 300 bytes a folder (a run record is about that): 4.5 MB for 3,000 runs, under a third of the bound.
    constexpr size_t kFactBytes = 300;
    ASSERT_LT(folders.size() * (kFactBytes + 200), FactMemory::kMaxBytes / 3);
    for (size_t i = 0; i < folders.size(); ++i)
      memory.remember<int>(folders[i], settled_check(i + 1), "record", static_cast<int>(i), kFactBytes);
    size_t found = 0;
    for (size_t i = 0; i < folders.size(); ++i)
      if (auto hit = memory.find<int>(folders[i], settled_check(i + 1), "record"); hit && *hit == static_cast<int>(i))
        ++found;
    EXPECT_EQ(found, folders.size()) << runs << " runs: facts were dropped long before the bound";
  }
}

TEST(FactMemory, AFolderInANewStateHasNoFacts) {
  FactMemory memory;
  memory.remember<int>("F/1/_meta", settled_check(7), "record", 1, 64);
  FolderCheck renamed = settled_check(7);
  renamed.stat.mtime_ns += 1;
  EXPECT_EQ(memory.find<int>("F/1/_meta", renamed, "record"), nullptr);
  EXPECT_NE(memory.find<int>("F/1/_meta", settled_check(7), "record"), nullptr);
}

TEST(FactMemory, OverTheBoundItStartsOverAndStaysBounded) {
  FactMemory memory;
  const auto folders = folders_of_runs(3000);
  const size_t big = FactMemory::kMaxBytes / 1000;  // 9,000 facts of this size are 9x the bound
  for (size_t i = 0; i < folders.size(); ++i) memory.remember<int>(folders[i], settled_check(i + 1), "record", 0, big);
  EXPECT_LE(memory.bytes(), FactMemory::kMaxBytes);
}

}  // namespace
}  // namespace mfsql
