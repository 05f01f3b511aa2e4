// A statement's reads are remembered after it (cache/remember_log.cpp): the next statement finds
// them, and a statement never answers from an entry its own check did not keep (FolderCheck::
// unknown), though the deferred start-over leaves that entry in place until the log is remembered.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cache/folder_memory.hpp"
#include "util/local_files.hpp"
#include "util/statement_memo.hpp"
#include "util/trace.hpp"

namespace fs = std::filesystem;

namespace mfsql {
namespace {

constexpr const char* kSelf = "F/1/_meta/_self.json";

struct Store {
  fs::path root;
  Store() {
    char tmpl[] = "/tmp/mfsql-remember-log-XXXXXX";
    root = ::mkdtemp(tmpl);
    fs::create_directories(root / "F/1/_meta");
  }
  ~Store() { fs::remove_all(root); }
  // Rewritten in place, as Metaflow before 2.19.20 wrote some files: the folder's stat stays.
  void write_in_place(const std::string& text) const { std::ofstream(root / kSelf, std::ios::trunc) << text; }
  void set_folder_mtime(int64_t seconds) const {
    struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (root / "F/1/_meta").c_str(), times, 0), 0);
  }
};

int64_t now_s() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

// One statement of one connection: a cursor open while it reads.
struct Connection {
  Trace trace;
  StatementMemo memo;
  LocalFiles files;
  Connection(const Store& store, std::shared_ptr<StoreMemory> memory) : files(store.root.string(), &trace, &memo) {
    files.remember_in(std::move(memory), nullptr);
  }
  // The file's contents, and whether the remembered store answered them.
  std::pair<std::string, bool> statement() {
    trace.clear();
    memo.cursor_opened();
    auto text = files.read_memoized(kSelf);
    memo.cursor_closed();  // the statement's end: its log is sealed (no persistence: remembered now)
    bool from_memory = false;
    for (auto& e : trace.snapshot())
      if (e.kind == "file" && e.cache_hit) from_memory = true;
    return {text.value_or("<missing>"), from_memory};
  }
};

TEST(RememberLog, TheNextStatementFindsWhatTheLastOneRead) {
  Store store;
  store.write_in_place("{\"a\": 1}");
  store.set_folder_mtime(now_s() - 3600);  // not racy
  auto memory = std::make_shared<StoreMemory>("store", nullptr);
  Connection c(store, memory);
  auto [first, first_hit] = c.statement();
  EXPECT_EQ(first, "{\"a\": 1}");
  EXPECT_FALSE(first_hit);
  EXPECT_GT(memory->bytes(), 0u);  // remembered at the statement's end
  auto [second, second_hit] = c.statement();
  EXPECT_EQ(second, "{\"a\": 1}");
  EXPECT_TRUE(second_hit);
}

TEST(RememberLog, AnEntryTheCheckDidNotKeepIsNeverAnswered) {
  // A folder changed "just now" (racy): its entry is remembered, never trusted. A rewrite in place
  // leaves the folder's stat equal to the entry's, so only the check's verdict can tell, and a
  // deferred start-over leaves the old entry there while the statement reads.
  Store store;
  store.write_in_place("{\"tags\": [\"old\"]}");
  store.set_folder_mtime(now_s());
  auto memory = std::make_shared<StoreMemory>("store", nullptr);
  Connection c(store, memory);
  EXPECT_EQ(c.statement().first, "{\"tags\": [\"old\"]}");
  store.write_in_place("{\"tags\": [\"new\"]}");
  auto [text, from_memory] = c.statement();
  EXPECT_EQ(text, "{\"tags\": [\"new\"]}");
  EXPECT_FALSE(from_memory);
}

TEST(RememberLog, WithoutAStatementMemoItIsRememberedAtOnce) {
  Store store;
  store.write_in_place("{}");
  store.set_folder_mtime(now_s() - 3600);
  auto memory = std::make_shared<StoreMemory>("store", nullptr);
  Trace trace;
  LocalFiles files(store.root.string(), &trace, nullptr);
  files.remember_in(memory, nullptr);
  EXPECT_EQ(files.read(kSelf).value_or(""), "{}");
  EXPECT_GT(memory->bytes(), 0u);
}

}  // namespace
}  // namespace mfsql
