// A corpus of damaged stores: copies of the public fixture's RetryCatchFlow with ONE fault each.
// Every query (this run, and full scans) must succeed; other runs' rows equal the undamaged
// store's; the damaged run names no object the undamaged store lacks; nothing outside the store
// is ever read (metaflow_trace names no absolute path, no "..").
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

const std::string kFlow = "RetryCatchFlow";
const std::string kRun = "1795738160197500";
const std::vector<std::string> kTables = {"flows", "runs", "steps", "tasks", "tags", "artifacts", "metadata", "logs"};

// A store holding only RetryCatchFlow (small enough to copy once per fault).
fs::path small_store(const TempDir& into) {
  fs::path root = into.path() / "store";
  fs::create_directories(root / ".metaflow");
  fs::copy(local_fixture() / ".metaflow" / kFlow, root / ".metaflow" / kFlow, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(root))
    if (!e.is_symlink()) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return root;
}

fs::path run_dir(const fs::path& root) { return root / ".metaflow" / kFlow / kRun; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void overwrite(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}
void truncate_half(const fs::path& p) {
  std::string s = slurp(p);
  overwrite(p, s.substr(0, s.size() / 2));
}
void regex_edit(const fs::path& p, const std::string& re, const std::string& with) {
  std::string s = slurp(p);
  std::string edited = std::regex_replace(s, std::regex(re), with);
  ASSERT_NE(s, edited) << p << " has no " << re;
  overwrite(p, edited);
}
fs::path first_match(const fs::path& dir, const std::string& prefix) {
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return e.path();
  ADD_FAILURE() << "no " << prefix << "* in " << dir;
  return dir / "missing";
}
// The content-addressed blob of one artifact of start/1.
fs::path blob_of(const fs::path& root, const std::string& name) {
  fs::path reg = run_dir(root) / "start" / "1" / "_meta" / ("0_artifact_" + name + ".json");
  std::smatch m;
  std::string s = slurp(reg);
  EXPECT_TRUE(std::regex_search(s, m, std::regex("\"sha\": *\"([0-9a-f]{40})\""))) << s;
  std::string sha = m[1];
  return root / ".metaflow" / kFlow / "data" / sha.substr(0, 2) / sha;
}

struct Fault {
  std::string name;
  std::function<void(const fs::path& root, const fs::path& outside)> apply;
};
void PrintTo(const Fault& f, std::ostream* os) { *os << f.name; }

fs::path task(const fs::path& root, const std::string& step = "start", const std::string& id = "1") {
  return run_dir(root) / step / id;
}

const std::vector<Fault>& faults() {
  static const std::vector<Fault> all = {
      {"TruncatedTaskSelfJson", [](auto& r, auto&) { truncate_half(task(r) / "_meta" / "_self.json"); }},
      {"TruncatedRunSelfJson", [](auto& r, auto&) { truncate_half(run_dir(r) / "_meta" / "_self.json"); }},
      {"TruncatedSysmeta", [](auto& r, auto&) { truncate_half(first_match(task(r) / "_meta", "sysmeta_attempt_")); }},
      {"TruncatedAttemptDone", [](auto& r, auto&) { truncate_half(first_match(task(r) / "_meta", "sysmeta_attempt-done")); }},
      {"TruncatedArtifactRegistration", [](auto& r, auto&) { truncate_half(task(r) / "_meta" / "0_artifact__task_ok.json"); }},
      {"TruncatedDataJson", [](auto& r, auto&) { truncate_half(task(r) / "0.data.json"); }},
      {"TsEpochAString", [](auto& r, auto&) { regex_edit(task(r) / "_meta" / "_self.json", "\"ts_epoch\": *[0-9]+", "\"ts_epoch\": \"soon\""); }},
      {"TagsAnObject", [](auto& r, auto&) { regex_edit(run_dir(r) / "_meta" / "_self.json", "\"tags\": *\\[[^\\]]*\\]", "\"tags\": {\"a\": 1}"); }},
      // (Damaging the shared `_task_ok` blob also turns the end task's outcome NULL and runs.status
      // to "running" rather than NULL: a known gap, reported, not asserted here.)
      {"TruncatedBlob", [](auto& r, auto&) { truncate_half(blob_of(r, "_transition")); }},
      {"NonGzipBlob", [](auto& r, auto&) { overwrite(blob_of(r, "_graph_info"), "this is not gzip"); }},
      {"MissingDataJson", [](auto& r, auto&) { fs::remove(task(r) / "0.data.json"); }},
      {"DoneLockWithoutDataJson", [](auto& r, auto&) {
         fs::path t = first_match(run_dir(r) / "end", "");
         ASSERT_TRUE(fs::exists(t / "0.DONE.lock"));
         fs::remove(t / "0.data.json");
       }},
      {"MissingRunSelfJson", [](auto& r, auto&) { fs::remove(run_dir(r) / "_meta" / "_self.json"); }},
      {"TaskSelfJsonLinksOutside", [](auto& r, auto&) {
         fs::path p = task(r) / "_meta" / "_self.json";
         fs::remove(p);
         fs::create_symlink("/etc/passwd", p);
       }},
      {"RunDirLinksOutside", [](auto& r, auto& outside) {
         fs::copy(run_dir(r), outside / "x", fs::copy_options::recursive);
         fs::remove_all(run_dir(r));
         fs::create_directory_symlink(outside / "x", run_dir(r));
       }},
      {"EmptyFiles", [](auto& r, auto&) {
         overwrite(task(r) / "_meta" / "_self.json", "");
         overwrite(task(r) / "_meta" / "0_artifact__task_ok.json", "");
         overwrite(task(r, "end", fs::path(first_match(run_dir(r) / "end", "")).filename()) / "0.data.json", "");
         overwrite(blob_of(r, "_graph_info"), "");
         overwrite(task(r) / "0.runtime_stdout.log", "");
         overwrite(run_dir(r) / "flaky" / "_meta" / "_self.json", "");
       }},
  };
  return all;
}

std::string where() { return " WHERE flow = " + quote(kFlow) + " AND run_id = " + quote(kRun); }

Rows select(TestDb& db, const std::string& table, bool whole) {
  std::string sql = "SELECT * FROM " + table;
  if (!whole) sql += table.find("flows") != std::string::npos ? " WHERE flow = " + quote(kFlow) : where();
  return db.query(sql + " ORDER BY 1, 2");
}

std::string text_of(const std::vector<Cell>& row) {
  std::string text;
  for (auto& c : row) text += (c ? c->substr(0, 60) : "NULL") + " | ";
  return text;
}

// Rows of other runs equal the undamaged store's exactly (flows aggregate over runs: skipped);
// rows of the damaged run name only objects the undamaged store has (first four columns: the
// path), none invented. Which values of the damaged run change is each table's documented rule.
void expect_contained(const std::string& table, const Rows& damaged, const Rows& baseline, const std::string& what) {
  std::set<std::vector<Cell>> all(baseline.begin(), baseline.end()), keys;
  for (auto& b : baseline) keys.insert(std::vector<Cell>(b.begin(), b.begin() + std::min<size_t>(4, b.size())));
  for (auto& row : damaged) {
    if (table != "flows" && row.size() > 1 && row[1] != Cell(kRun)) {
      // Blobs are content-addressed and shared by runs: a damaged one may only NULL cells there.
      bool covered = all.count(row) > 0;
      for (auto it = baseline.begin(); !covered && it != baseline.end(); ++it) {
        covered = it->size() == row.size();
        for (size_t i = 0; covered && i < row.size(); ++i) covered = !row[i] || row[i] == (*it)[i];
      }
      EXPECT_TRUE(covered) << what << ": another run's row changed (beyond NULLs): " << text_of(row);
      continue;
    }
    std::vector<Cell> key(row.begin(), row.begin() + std::min<size_t>(4, row.size()));
    EXPECT_TRUE(keys.count(key)) << what << ": an object the undamaged store does not have: " << text_of(row);
  }
}

struct Baseline {
  TempDir dir;
  fs::path root = small_store(dir);
  std::map<std::string, Rows> scoped, whole;
  Baseline() {
    TestDb db;
    for (auto& t : kTables) {
      db.query("CREATE VIRTUAL TABLE temp.b_" + t + " USING " + t + "(root=" + quote(root.string()) + ")");
      scoped[t] = select(db, "b_" + t, false);
      whole[t] = select(db, "b_" + t, true);
    }
  }
};
const Baseline& baseline() {
  static Baseline b;
  return b;
}

class CorruptStore : public ::testing::TestWithParam<Fault> {};

TEST_P(CorruptStore, QueriesSucceedDamageIsNullAndNothingOutsideIsRead) {
  const Baseline& base = baseline();
  TempDir tmp;
  fs::path root = small_store(tmp);
  fs::path outside = tmp.path() / "outside";
  fs::create_directories(outside);
  GetParam().apply(root, outside);
  if (HasFatalFailure()) return;
  TestDb db;
  for (auto& t : kTables) {
    SCOPED_TRACE(t);
    db.query("CREATE VIRTUAL TABLE temp.d_" + t + " USING " + t + "(root=" + quote(root.string()) + ")");
    Rows scoped, whole;
    ASSERT_NO_THROW(scoped = select(db, "d_" + t, false));
    ASSERT_NO_THROW(whole = select(db, "d_" + t, true));
    expect_contained(t, scoped, base.scoped.at(t), t + " (this run)");
    expect_contained(t, whole, base.whole.at(t), t + " (full scan)");
  }
  for (auto& r : db.query("SELECT kind, target FROM metaflow_trace")) {
    std::string target = r[1].value_or("");
    EXPECT_NE(target.rfind('/', 0), 0u) << "absolute target: " << target;
    EXPECT_EQ(target.find(".."), std::string::npos) << "target outside the store: " << target;
    EXPECT_EQ(target.find("passwd"), std::string::npos) << target;
  }
}

INSTANTIATE_TEST_SUITE_P(OneFaultEach, CorruptStore, ::testing::ValuesIn(faults()),
                         [](const auto& info) { return info.param.name; });

// Runs `body` in a child process, which calls `become_nobody` once it has loaded what it needs:
// from then on it reads as the unprivileged user nobody, so permission bits count even when the
// tests run as root (as CI does). Returns what `body` returned.
std::string as_nobody(const std::function<std::string(const std::function<bool()>& become_nobody)>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = body([] { return geteuid() != 0 || (::setgid(65534) == 0 && ::setuid(65534) == 0); });
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

// A store a normal user can read, in a folder nobody can reach.
fs::path readable_store(const TempDir& tmp) {
  fs::path root = small_store(tmp);
  fs::permissions(tmp.path(), fs::perms::all, fs::perm_options::add);
  for (auto& e : fs::recursive_directory_iterator(root))
    if (!e.is_symlink()) fs::permissions(e.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  fs::permissions(root, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  return root;
}

std::string query_as_nobody(const fs::path& root, const std::string& sql) {
  return as_nobody([&](const std::function<bool()>& become_nobody) -> std::string {
    TestDb db;  // the module is loaded with the test's own rights; the store is read as nobody
    db.query("CREATE VIRTUAL TABLE temp.t USING tasks(root=" + quote(root.string()) + ")");
    db.query("CREATE VIRTUAL TABLE temp.r USING runs(root=" + quote(root.string()) + ")");
    if (!become_nobody()) return "could not become nobody";
    std::string err = db.error_of(sql);
    if (!err.empty()) return "error: " + err;
    std::string out;
    for (auto& row : db.query(sql)) out += text_of(row) + "\n";
    for (auto& row : db.query("SELECT kind, target, error FROM metaflow_trace WHERE error IS NOT NULL AND error <> 'missing'"))
      out += "trace: " + text_of(row) + "\n";
    return out;
  });
}

// An unreadable file is a damaged record: NULL, with the reason in the trace.
TEST(CorruptStoreUnreadable, UnreadableFileGivesNullAndTheTraceSaysWhy) {
  TempDir tmp;
  fs::path root = readable_store(tmp);
  fs::path p = task(root) / "_meta" / "_self.json";
  ::chmod(p.c_str(), 0);  // unreadable for nobody, and for a test run as a normal user
  std::string out = query_as_nobody(root, "SELECT step, created_at FROM t" + where() + " AND step = 'start'");
  EXPECT_NE(out.find("start | NULL |"), std::string::npos) << out;
  EXPECT_NE(out.find("trace: file | " + kFlow + "/" + kRun + "/start/1/_meta/_self.json | permission denied"),
            std::string::npos) << out;
}

// A folder the query must list but cannot read is an error naming it and the reason, never an
// empty answer.
TEST(CorruptStoreUnreadable, UnreadableFolderIsAnErrorNamingIt) {
  TempDir tmp;
  fs::path root = readable_store(tmp);
  ::chmod((root / ".metaflow").c_str(), 0);
  std::string out = query_as_nobody(root, "SELECT run_id FROM r WHERE flow = " + quote(kFlow));
  EXPECT_EQ(out.rfind("error: ", 0), 0u) << out;
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
  EXPECT_NE(out.find(root.string()), std::string::npos) << out;
  ::chmod((root / ".metaflow").c_str(), 0755);
  ::chmod(run_dir(root).c_str(), 0);
  out = query_as_nobody(root, "SELECT step FROM t" + where());
  EXPECT_NE(out.find("cannot be read (Permission denied)"), std::string::npos) << out;
  ::chmod(run_dir(root).c_str(), 0755);  // so that the temporary folder can be removed
}

// A flow folder that is a symlink is not followed (it could lead outside the store), and says so.
TEST(CorruptStoreUnreadable, SymlinkedFlowIsNamedInTheTrace) {
  TempDir tmp;
  fs::path root = small_store(tmp);
  fs::rename(root / ".metaflow" / kFlow, tmp.path() / "elsewhere");
  fs::create_directory_symlink(tmp.path() / "elsewhere", root / ".metaflow" / kFlow);
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.f USING flows(root=" + quote(root.string()) + ")");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM f"), "0");
  EXPECT_EQ(db.scalar("SELECT error FROM metaflow_trace WHERE kind = 'link' AND target = " + quote(kFlow)),
            "symlink not followed (mfsql opens nothing a link points to)");
}

}  // namespace
}  // namespace mfsql::testing
