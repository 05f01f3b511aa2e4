// mfsql-bench: how close each question gets to the time it takes to read just the files it needs.
//
//   build/mfsql-bench [--runs 1000] [--foreach 2000] [--big-runs 2000] [--repeat 5] [--dir /tmp/...]
//
// For each question it prints cold and warm wall time (cold: the first statement of a fresh
// connection; warm: the best of --repeat later runs on the same connection, OS cache warm), the
// files it opened and the bytes it read (from metaflow_trace), the peak RSS of the process that
// ran it, and the floor: the best time to open and read exactly those files with plain read(2),
// as `cat` would. Each question runs in its own child process, so RSS figures do not mix.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "storegen/storegen.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Question {
  std::string name;
  std::string sql;
  std::string store;  // folder containing .metaflow
};

struct Figures {
  double cold_ms = 0, warm_ms = 0, floor_ms = 0;
  long files = 0, bytes = 0, rows = 0, peak_rss_kb = 0;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "mfsql-bench: %s\n", what.c_str());
  std::exit(1);
}

long run_sql(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  long rows = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) sqlite3_column_text(stmt, i);  // materialize every value
    ++rows;
  }
  if (rc != SQLITE_DONE) die(std::string(sqlite3_errmsg(db)) + " in: " + sql);
  sqlite3_finalize(stmt);
  return rows;
}

std::vector<std::string> traced_files(sqlite3* db, long* bytes) {
  std::vector<std::string> files;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT target, bytes FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0",
                     -1, &stmt, nullptr);
  *bytes = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    files.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    *bytes += sqlite3_column_int64(stmt, 1);
  }
  sqlite3_finalize(stmt);
  return files;
}

// Reads every file once with plain read(2), as the lower bound of any reader.
double read_floor(const fs::path& root, const std::vector<std::string>& files, int repeat) {
  static std::vector<char> buf(1 << 20);
  double best = 1e18;
  for (int r = 0; r < repeat; ++r) {
    auto t = Clock::now();
    for (auto& f : files) {
      int fd = ::open((root / f).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      while (::read(fd, buf.data(), buf.size()) > 0) {
      }
      ::close(fd);
    }
    best = std::min(best, ms_since(t));
  }
  return best;
}

sqlite3* open_connection(const std::string& module) {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_enable_load_extension(db, 1);
  char* err = nullptr;
  if (sqlite3_load_extension(db, module.c_str(), nullptr, &err) != SQLITE_OK) die(err ? err : "cannot load module");
  return db;
}

Figures measure(const Question& q, const std::string& module, int repeat) {
  Figures f;
  setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", q.store.c_str(), 1);
  unsetenv("MFSQL_TRACE_KEEP");
  sqlite3* db = open_connection(module);
  auto t = Clock::now();
  f.rows = run_sql(db, q.sql);
  f.cold_ms = ms_since(t);
  f.warm_ms = 1e18;
  for (int r = 0; r < repeat; ++r) {
    run_sql(db, "SELECT metaflow_trace_clear()");
    t = Clock::now();
    run_sql(db, q.sql);
    f.warm_ms = std::min(f.warm_ms, ms_since(t));
  }
  sqlite3_close(db);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  f.peak_rss_kb = ru.ru_maxrss;  // before the second connection, whose full trace would inflate it

  // A second connection keeps every call, so the floor re-reads exactly the files the question read.
  setenv("MFSQL_TRACE_KEEP", "100000000", 1);
  db = open_connection(module);
  run_sql(db, q.sql);
  auto files = traced_files(db, &f.bytes);
  f.files = static_cast<long>(files.size());
  f.floor_ms = read_floor(fs::path(q.store) / ".metaflow", files, repeat);
  sqlite3_close(db);
  return f;
}

// Runs `measure` in a child so each question's peak RSS is its own.
Figures measure_in_child(const Question& q, const std::string& module, int repeat) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Figures f = measure(q, module, repeat);
    if (write(fds[1], &f, sizeof f) != sizeof f) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Figures f;
  ssize_t got = read(fds[0], &f, sizeof f);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof f || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the question '" + q.name + "' failed");
  return f;
}

std::string ensure_store(const fs::path& dir, int runs, int foreach_width) {
  if (!fs::exists(dir / ".metaflow")) {
    std::fprintf(stderr, "mfsql-bench: writing %s (%d runs, %d-task foreach)...\n", dir.c_str(), runs, foreach_width);
    mfsql::storegen::GenerateOptions o;
    o.out_dir = dir;
    o.runs = runs;
    o.foreach_width = foreach_width;
    mfsql::storegen::generate_store(o);
  }
  return dir.string();
}

std::string first_value(const std::string& module, const std::string& store, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_enable_load_extension(db, 1);
  sqlite3_load_extension(db, module.c_str(), nullptr, nullptr);
  setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", store.c_str(), 1);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  std::string v;
  if (sqlite3_step(stmt) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (v.empty()) die("no answer to: " + sql);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 1000, foreach_width = 2000, big_runs = 2000, repeat = 5;
  fs::path dir = fs::temp_directory_path();
  std::string module = (fs::path(argv[0]).parent_path() / "metaflow").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--foreach") foreach_width = std::atoi(argv[i + 1]);
    else if (a == "--big-runs") big_runs = std::atoi(argv[i + 1]);
    else if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--module") module = argv[i + 1];
    else die("unknown argument " + a);
  }
  std::string store = ensure_store(dir / ("mfsql-bench-" + std::to_string(runs) + "-" + std::to_string(foreach_width)),
                                   runs, foreach_width);
  std::string big = ensure_store(dir / ("mfsql-bench-" + std::to_string(big_runs) + "-0"), big_runs, 0);

  std::string foreach_run = first_value(module, store, "SELECT run_id FROM runs WHERE flow = 'BenchForeachFlow'");
  std::string foreach_step = first_value(
      module, store,
      "SELECT step FROM steps WHERE flow = 'BenchForeachFlow' AND run_id = '" + foreach_run + "' ORDER BY task_count DESC");
  std::string point = first_value(module, store,
                                  "SELECT pathspec FROM tasks WHERE flow = 'BenchFlow' AND run_id = (SELECT min(run_id) "
                                  "FROM runs WHERE flow = 'BenchFlow') AND step = 'end'");
  std::string big_point = first_value(module, big,
                                      "SELECT pathspec FROM tasks WHERE flow = 'BenchFlow' AND run_id = (SELECT min(run_id) "
                                      "FROM runs WHERE flow = 'BenchFlow') AND step = 'end'");

  std::vector<Question> questions = {
      {"runs of a flow with status and tags", "SELECT run_id, status, tags FROM runs WHERE flow = 'BenchFlow'", store},
      {"latest successful run of every flow", "SELECT flow, latest_successful_run FROM flows", store},
      {"one artifact across the foreach",
       "SELECT task_id, value FROM artifacts WHERE flow = 'BenchForeachFlow' AND run_id = '" + foreach_run +
           "' AND step = '" + foreach_step + "' AND name = 'records'",
       store},
      {"task counts per step, all runs", "SELECT step, sum(task_count) FROM steps GROUP BY step", store},
      {"full scan of tasks", "SELECT count(*), sum(successful) FROM tasks", store},
      {"point lookup, " + std::to_string(runs) + " runs", "SELECT * FROM tasks WHERE pathspec = '" + point + "'", store},
      {"point lookup, " + std::to_string(big_runs) + " runs", "SELECT * FROM tasks WHERE pathspec = '" + big_point + "'", big},
  };

  std::printf("%-38s %9s %9s %9s %7s %8s %11s %9s %8s\n", "question", "cold ms", "warm ms", "floor ms", "x floor",
              "files", "bytes", "rows", "RSS MiB");
  for (auto& q : questions) {
    bool has_table = q.sql.find("FROM artifacts") == std::string::npos ||
                     first_value(module, q.store, "SELECT count(*) FROM pragma_module_list WHERE name = 'artifacts'") != "0";
    if (!has_table) {
      std::printf("%-38s (the artifacts table is not in this build)\n", q.name.c_str());
      continue;
    }
    Figures f = measure_in_child(q, module, repeat);
    std::printf("%-38s %9.1f %9.1f %9.1f %7.2f %8ld %11ld %9ld %8.1f\n", q.name.c_str(), f.cold_ms, f.warm_ms,
                f.floor_ms, f.floor_ms > 0 ? f.warm_ms / f.floor_ms : 0.0, f.files, f.bytes, f.rows,
                f.peak_rss_kb / 1024.0);
    std::fflush(stdout);
  }
  return 0;
}
