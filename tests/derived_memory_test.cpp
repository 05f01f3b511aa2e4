// LocalFiles::derived (cache/derived_memory.hpp): a value made from several folders' files is
// made again whenever any folder it read from moved on, including folders read on parallel_for's
// helper threads; a value that read what no folder check covers is never kept.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "cache/folder_memory.hpp"
#include "util/local_files.hpp"
#include "util/parallel.hpp"

namespace fs = std::filesystem;

namespace mfsql {
namespace {

class DerivedValues : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mfsql-derived-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    for (int r = 0; r < 64; ++r) write("F/" + std::to_string(r) + "/_meta/_self.json", std::to_string(r));
    write("F/0/end/5/_meta/0_artifact__task_ok.json", "ok");
    write("F/0/end/5/0.data.json", "{}");
    write("F/data/ab/ab01", "blob");
    settle_all();
    files_ = std::make_unique<LocalFiles>(root_.string(), &trace_, &memo_);
    files_->remember_in(StoreMemory::shared(files_->identity(), nullptr), nullptr);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  // Every folder last changed a minute ago: its stat is trusted, not racy (cache/folder_memory.hpp).
  void settle(const fs::path& p) {
    const auto when = std::chrono::system_clock::now() - std::chrono::minutes(1);
    const timespec ts{std::chrono::system_clock::to_time_t(when), 0};
    const timespec both[2] = {ts, ts};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), both, 0), 0);
  }
  void settle_all() {
    for (auto& e : fs::recursive_directory_iterator(root_))
      if (e.is_directory()) settle(e.path());
  }
  // A file added to a folder, as Metaflow adds one (the folder's stat moves on), then settled.
  void add(const std::string& relative, const std::string& text) {
    write(relative, text);
    settle((root_ / relative).parent_path());
  }

  // One statement: derives `key` with `make`, which counts its calls.
  int derive(const std::function<int()>& make) {
    memo_.cursor_opened();
    auto v = files_->derived(
        "key",
        [&](bool&) -> std::shared_ptr<const void> {
          ++made_;
          return std::make_shared<const int>(make());
        },
        16);
    memo_.cursor_closed();
    return *std::static_pointer_cast<const int>(v);
  }
  int read_int(const std::string& relative) { return std::stoi(files_->read(relative).value_or("-1")); }

  fs::path root_;
  Trace trace_;
  StatementMemo memo_;
  std::unique_ptr<LocalFiles> files_;
  int made_ = 0;
};

TEST_F(DerivedValues, AValueIsMadeOnceWhileEveryFolderItReadStands) {
  auto make = [&] {
    return read_int("F/3/_meta/_self.json") + static_cast<int>(files_->list("F/0/end/5/_meta")->size());
  };
  EXPECT_EQ(derive(make), 4);
  EXPECT_EQ(derive(make), 4);
  EXPECT_EQ(made_, 1);
  add("F/0/end/5/_meta/0_artifact__success.json", "ok");  // a listing it read moved on
  EXPECT_EQ(derive(make), 5);
  EXPECT_EQ(made_, 2);
  add("F/3/_meta/sysmeta_x.json", "{}");  // a folder one of its files was read from moved on
  EXPECT_EQ(derive(make), 5);
  EXPECT_EQ(made_, 3);
  EXPECT_EQ(derive(make), 5);
  EXPECT_EQ(made_, 3);
}

TEST_F(DerivedValues, AValueThatReadAFileOutsideMetaIsNotKeptButABlobIs) {
  auto outside = [&] { return static_cast<int>(files_->read("F/0/end/5/0.data.json")->size()); };
  derive(outside);
  derive(outside);
  EXPECT_EQ(made_, 2) << "a data.json is validated by its own stat, which no folder check covers";
  made_ = 0;
  files_ = std::make_unique<LocalFiles>(root_.string(), &trace_, &memo_);  // a fresh key space
  files_->remember_in(StoreMemory::shared(files_->identity(), nullptr), nullptr);
  auto blob = [&] { return static_cast<int>(files_->read("F/data/ab/ab01")->size()); };
  derive(blob);
  derive(blob);
  EXPECT_EQ(made_, 1) << "a content-addressed blob is the same bytes whenever it is read whole";
}

TEST_F(DerivedValues, AValueThatFoundAFolderMissingIsNotKept) {
  auto make = [&] { return static_cast<int>(files_->list("F/0/end/6")->size()); };
  derive(make);
  derive(make);
  EXPECT_EQ(made_, 2);
}

TEST_F(DerivedValues, AFolderThatChangedWithinTheTimestampTickIsMadeAgain) {
  add("F/7/_meta/x.json", "{}");
  const fs::path racy = root_ / "F/7/_meta";
  ASSERT_EQ(::utimensat(AT_FDCWD, racy.c_str(), nullptr, 0), 0);  // changed just now: racy
  auto make = [&] { return read_int("F/7/_meta/_self.json"); };
  derive(make);
  derive(make);
  EXPECT_EQ(made_, 2);
}

TEST_F(DerivedValues, FoldersReadOnHelperThreadsAreDependedOnToo) {
  std::mutex mu;
  std::set<int> on_helpers;
  auto make = [&] {
    const auto caller = std::this_thread::get_id();
    std::atomic<int> sum{0};
    parallel_for(64, [&](size_t i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // worth a thread (util/parallel.hpp)
      sum += read_int("F/" + std::to_string(i) + "/_meta/_self.json");
      if (std::this_thread::get_id() != caller) {
        std::lock_guard lock(mu);
        on_helpers.insert(static_cast<int>(i));
      }
    }, 1);
    return sum.load();
  };
  EXPECT_EQ(derive(make), 64 * 63 / 2);
  if (thread_budget() < 2 || on_helpers.empty()) GTEST_SKIP() << "no helper thread ran on this machine";
  const int changed = *on_helpers.begin();
  add("F/" + std::to_string(changed) + "/_meta/_self.json.new", "");  // its folder moves on
  EXPECT_EQ(derive(make), 64 * 63 / 2);
  EXPECT_EQ(made_, 2) << "folder F/" << changed << "/_meta was read on a helper thread";
}

// Two LocalFiles over one root (root='/s' and root='/s/.metaflow' in one statement) share the
// connection's statement memo but each checks folders at its own moment (found in review): bytes
// one of them read before Metaflow renamed a new file into place must not pass for what the
// other's later check saw, or the value derived from them stays stale under that check.
TEST_F(DerivedValues, AnotherReaderOfTheSameRootDoesNotLendItsOlderBytes) {
  LocalFiles other(root_.string(), &trace_, &memo_);
  other.remember_in(StoreMemory::shared(other.identity(), nullptr), nullptr);
  auto make = [&] {
    files_->list("F/3/_meta");  // this reader's own check of the folder
    return std::stoi(files_->read_memoized("F/3/_meta/_self.json").value_or("-1"));
  };
  memo_.cursor_opened();
  ASSERT_EQ(other.read_memoized("F/3/_meta/_self.json").value_or(""), "3");
  write("F/3/_meta/_self.json.tmp", "30");
  fs::rename(root_ / "F/3/_meta/_self.json.tmp", root_ / "F/3/_meta/_self.json");
  settle(root_ / "F/3/_meta");
  auto first = files_->derived(
      "key", [&](bool&) -> std::shared_ptr<const void> { return std::make_shared<const int>(make()); }, 16);
  memo_.cursor_closed();
  EXPECT_EQ(*std::static_pointer_cast<const int>(first), 30);
  EXPECT_EQ(derive(make), 30) << "remembered bytes read under the other reader's older check";
}

}  // namespace
}  // namespace mfsql
