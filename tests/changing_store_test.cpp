// The changing store read directly (tests/support/changing_store.hpp: the store, its writes, the checks).
#include "support/changing_store.hpp"

namespace mfsql::testing {
namespace {
using namespace changing_store;

TEST_F(ChangingStoreTest, EveryIntermediateState) {
  script(1);
  TestDb db;
  Checker checker(*script_);
  int failing_states = 0, states = 0;
  checker.check_round(db, "before any operation");
  const auto& ops = script_->ops;
  for (size_t i = 0; i < ops.size(); ++i) {
    apply(ops[i]);
    // Not checked, as no reader could tell them from the state before: an empty folder, and the
    // content-addressed blobs (and sidecars) of an attempt, which no record names until its
    // data.json and registrations are written after them.
    if (ops[i].kind == Op::Mkdir || ops[i].path.find("/" + kFlow + "/data/") != std::string::npos) continue;
    // The first half of a file and a stray temp file are states too: all are checked.
    ++states;
    const int parts = ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
    checker.check_round(db, describe(ops[i], i));
    if (::testing::Test::HasFatalFailure()) return;
    // Keep going (later states may fail differently), but bound the output.
    if (::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count() > parts &&
        ++failing_states >= 40)
      FAIL() << "stopping after 40 failing states";
  }
  checker.check_final(db);
  std::printf("[ states  ] %zu operations, %d states checked (ms in runs %.0f, tasks %.0f, artifacts %.0f, steps %.0f)\n",
              ops.size(), states, checker.ms[0], checker.ms[1], checker.ms[2], checker.ms[3]);
  EXPECT_GT(states, 300);
  EXPECT_GT(checker.rounds_with_partial_tasks, 0) << "the reader never saw an unfinished task";
}

// The same states read through mfsql's cache (docs/caching.md), in this process and in a second
// one sharing the cache file: every answer equals a fresh read. Each state is made "old" after it
// is written (what it changed gets an mtime of its own, a second apart, long ago), else the racy
// rule would distrust everything and the cache would never answer.
TEST_F(ChangingStoreTest, ConcurrentReaderAndWriter) {
  script(2);
  Checker checker(*script_);
  std::atomic<bool> writer_done{false};
  std::string writer_error;
  std::atomic<int> rounds{0};
  std::thread writer([&] {
    try {
      const auto& ops = script_->ops;
      for (size_t i = 0; i < ops.size(); ++i) {
        apply(ops[i]);
        if (i % 16 == 0) std::this_thread::yield();
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
    writer_done = true;
  });
  std::string reader_error;
  std::thread reader([&] {
    try {
      TestDb db;  // this thread's own connection
      // At least a few rounds, and rounds for as long as the writer writes.
      for (int i = 0; !writer_done || i < 3; ++i) {
        checker.check_round(db, "in concurrent round " + std::to_string(i));
        ++rounds;
        if (::testing::Test::HasFatalFailure()) break;
      }
    } catch (const std::exception& e) {
      reader_error = e.what();  // no error is documented for a store being written
    }
  });
  writer.join();
  reader.join();
  ASSERT_EQ(writer_error, "");
  EXPECT_EQ(reader_error, "") << "a query failed while the store was being written";
  EXPECT_GT(rounds.load(), 0);
  std::printf("[ rounds  ] %d query rounds while %zu operations were applied\n", rounds.load(), script_->ops.size());
  TestDb db;
  checker.check_round(db, "after the writer finished");
  checker.check_final(db);
}

}  // namespace
}  // namespace mfsql::testing
