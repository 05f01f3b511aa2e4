// What the README and metaflow_tables show a new user runs (issue 13, item 15): every SQL snippet
// of README.md — its ```sql blocks and its inline `SELECT ...` / `CREATE ...` code — and every
// table's example run against the sample store that scripts/demo.sh queries
// (mfsql-storegen --sample), and each SELECT returns rows. The README's path of that store,
// /tmp/mfsql-sample, is replaced by this test's own copy of it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "storegen/storegen.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

constexpr const char* kSamplePath = "/tmp/mfsql-sample";

struct Snippet {
  std::string where;  // "README.md:12" or "metaflow_tables:runs"
  std::string sql;
};

std::string readme() { return read_file(source_dir() / "README.md"); }

// The statements of each ```sql block (shell dot-commands such as `.load` left out), then each
// inline code span that is a statement.
std::vector<Snippet> readme_snippets() {
  std::vector<Snippet> out;
  const std::string text = readme();
  int line_no = 0;
  bool in_sql = false, in_other = false;
  std::string block;
  int block_line = 0;
  size_t start = 0;
  static const std::regex inline_statement(R"(`((SELECT|WITH|CREATE|PRAGMA) [^`]*)`)");
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.rfind("```", 0) == 0) {
      if (in_sql) {
        out.push_back({"README.md:" + std::to_string(block_line), block});
        in_sql = false;
      } else if (in_other) {
        in_other = false;
      } else if (line == "```sql") {
        in_sql = true;
        block.clear();
        block_line = line_no;
      } else {
        in_other = true;  // ```sh, ```python, ```ini: not SQL (the clients' own tests run those)
      }
      continue;
    }
    if (in_sql) {
      if (line.rfind(".", 0) != 0) block += line + "\n";
      continue;
    }
    if (in_other) continue;
    for (std::sregex_iterator it(line.begin(), line.end(), inline_statement), end; it != end; ++it)
      out.push_back({"README.md:" + std::to_string(line_no), (*it)[1]});
  }
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

// Runs every statement of `sql`; returns "" or what went wrong. A SELECT must give rows.
std::string run_all(sqlite3* db, const std::string& sql) {
  const char* tail = sql.c_str();
  int statements = 0;
  while (*tail) {
    sqlite3_stmt* stmt = nullptr;
    const char* head = tail;
    if (sqlite3_prepare_v2(db, head, -1, &stmt, &tail) != SQLITE_OK) return sqlite3_errmsg(db);
    if (!stmt) continue;
    ++statements;
    const std::string text(head, tail - head);
    int rows = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) ++rows;
    const bool reads = sqlite3_stmt_readonly(stmt) && sqlite3_column_count(stmt) > 0;
    std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    if (!err.empty()) return err + " in: " + text;
    if (reads && rows == 0) return "no rows from: " + text;
  }
  return statements ? "" : "no statement";
}

class SampleStore : public ::testing::Environment {
 public:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>();
    storegen::GenerateOptions options;
    options.out_dir = dir_->path();
    options.sample = true;
    storegen::generate_store(options);
    setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", dir_->path().c_str(), 1);
    setenv("METAFLOW_DEFAULT_METADATA", "local", 1);
    setenv("METAFLOW_DEFAULT_DATASTORE", "local", 1);
    unsetenv("METAFLOW_PROFILE");
  }
  void TearDown() override { dir_.reset(); }
  static const fs::path& path() { return dir_->path(); }

 private:
  static inline std::unique_ptr<TempDir> dir_;
};
const auto* const kSample = ::testing::AddGlobalTestEnvironment(new SampleStore);

// In the README's order on one connection, as a user reading it top to bottom would run them
// (so `metaflow_trace` has the earlier statements' reads to show).
TEST(ReadmeSnippets, EachRunsAgainstTheSampleStoreAndReturnsRows) {
  TestDb db;
  auto snippets = readme_snippets();
  ASSERT_FALSE(snippets.empty());
  for (auto& snippet : snippets) {
    const std::string sql = replace_all(snippet.sql, kSamplePath, SampleStore::path().string());
    EXPECT_EQ(run_all(db.handle(), sql), "") << snippet.where << ":\n" << snippet.sql;
  }
}

TEST(ReadmeSnippets, AreFoundInBlocksAndInline) {
  auto snippets = readme_snippets();
  int blocks = 0, inline_ones = 0;
  for (auto& s : snippets) (s.sql.find('\n') != std::string::npos ? blocks : inline_ones)++;
  EXPECT_GE(blocks, 2);
  EXPECT_GE(inline_ones, 8);
}

// Each example on a fresh connection: it is "a query to start from", complete in itself.
TEST(TableExamples, EachRunsAgainstTheSampleStoreAndReturnsRows) {
  auto examples = TestDb().query("SELECT table_name, example FROM metaflow_tables");
  ASSERT_GE(examples.size(), 12u);
  for (auto& row : examples) {
    ASSERT_TRUE(row[1]) << *row[0] << " has no example";
    TestDb db;
    EXPECT_EQ(run_all(db.handle(), *row[1]), "") << *row[0] << ": " << *row[1];
  }
}

// The README is read in the repository: its links stay inside it (../shared is not shipped).
TEST(ReadmeLinks, PointInsideTheRepository) {
  const std::string text = readme();
  EXPECT_EQ(text.find("../shared/docs"), std::string::npos) << "the shared docs are not in the repository";
  static const std::regex link(R"(\]\(([^)#]+)[^)]*\))");
  int links = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), link), end; it != end; ++it) {
    const std::string target = (*it)[1];
    if (target.rfind("http", 0) == 0) continue;
    ++links;
    EXPECT_TRUE(fs::exists(source_dir() / target)) << target;
  }
  EXPECT_GE(links, 1);
  EXPECT_NE(text.find("](docs/tables.md)"), std::string::npos);
}

// Every module argument a table accepts is named in the README's list of them.
TEST(ReadmeModuleArguments, AreAllListed) {
  const std::string text = readme();
  TestDb db;
  for (const char* arg : {"root", "service", "datastore", "profile"}) {
    SCOPED_TRACE(arg);
    EXPECT_NE(text.find(std::string("| `") + arg + "` |"), std::string::npos);
  }
  // ...and those are all there are: anything else is refused, naming the accepted ones.
  const std::string err = db.error_of("CREATE VIRTUAL TABLE temp.x USING runs(no_such_argument='1')");
  EXPECT_NE(err, "");
  for (const char* arg : {"root", "service", "datastore", "profile"}) EXPECT_NE(err.find(arg), std::string::npos) << err;
}

}  // namespace
}  // namespace mfsql::testing
