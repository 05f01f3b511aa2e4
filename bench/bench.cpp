// mfsql-bench: how close each question gets to the time it takes to do just the I/O it needs.
//
//   build/mfsql-bench [--runs 1000] [--foreach 2000] [--big-runs 2000] [--repeat 5] [--dir /tmp/...]
//
// For each question it prints cold and warm wall time (cold: the first statement of a fresh
// connection; warm: the best of --repeat later runs on the same connection, OS cache warm), the
// floor: the best time to do, with plain syscalls on one thread, the I/O that any reader of the
// store must do to answer the question; the warm statement's and the floor's CPU time (user +
// system, all threads: on a busy machine wall time measures the neighbours too), the files read,
// folders listed and bytes read (from metaflow_trace), and the peak RSS of the process that ran
// it. Each question runs in its own child process, so RSS figures do not mix.
//
// The floor replays the trace of the question's warm statement, each target once, in the order
// mfsql first touched it:
//  - every file it read (open + read(2) to the end + close, as `cat` would);
//  - every folder it listed (open + getdents64 to the end + close, as `ls -f` would). A listing is
//    in the floor because the question cannot be answered without it: Metaflow's local layout
//    names children only by folder entries. Which listings each question needs:
//      runs of a flow / latest successful run: the flow folder (its run ids; for every flow, the
//        root too, which names the flows); per run looked at,
//        the end step's folder (its task ids), the end task's _meta (which sysmeta_attempt-done_*
//        file names the attempt whose _task_ok/_success count) and _parameters/0/_meta (the
//        sysmeta_end_step_* entry naming the graph's end step); for a run that did not complete,
//        the run folder and its steps' and tasks' folders (status looks for a failed last attempt).
//      one artifact across the foreach: the step folder (task ids) and each task's _meta (the
//        done attempt whose <attempt>_artifact_<name>.json to read).
//      task counts per step: the root (flows), each flow (runs), each run (steps), each step (tasks).
//      full scan of tasks: the same, plus each task's _meta (its done attempt).
//      point lookup: the task's _meta (its done attempt); nothing above the task.
//    A folder listed twice, or a file read twice, counts once; cache hits count never.
//  Nothing else is in the floor: no JSON decoding, no unpickling, no stat of what was not read.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
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
  double warm_cpu_ms = 0, floor_cpu_ms = 0;  // user + system time, every thread
  long files = 0, dirs = 0, bytes = 0, rows = 0, peak_rss_kb = 0;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time of the whole process so far. Next to wall time because on a busy machine wall time
// measures the neighbours too; CPU time is the work itself.
double cpu_ms() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

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

struct Touched {
  std::string target;
  bool is_dir;
};

// Every file read and folder listed, each once, in first-touch order (see the header comment).
std::vector<Touched> traced_io(sqlite3* db, long* bytes, long* files, long* dirs) {
  std::vector<Touched> out;
  std::set<std::string> seen;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT kind, target, bytes FROM metaflow_trace WHERE kind IN ('file', 'dir') AND status = 0 "
                     "AND cache_hit = 0 ORDER BY seq",
                     -1, &stmt, nullptr);
  *bytes = *files = *dirs = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const bool is_dir = std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "dir") == 0;
    std::string target = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    if (!seen.insert((is_dir ? "d " : "f ") + target).second) continue;
    if (is_dir) {
      ++*dirs;
    } else {
      ++*files;
      *bytes += sqlite3_column_int64(stmt, 2);
    }
    out.push_back({std::move(target), is_dir});
  }
  sqlite3_finalize(stmt);
  return out;
}

// Does that I/O with plain syscalls, as the lower bound of any reader.
double read_floor(const fs::path& root, const std::vector<Touched>& io, int repeat, double* best_cpu) {
  static std::vector<char> buf(1 << 20);
  double best = 1e18;
  *best_cpu = 1e18;
  for (int r = 0; r < repeat; ++r) {
    const double c = cpu_ms();
    auto t = Clock::now();
    for (auto& x : io) {
      const fs::path p = x.target == "." ? root : root / x.target;
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (x.is_dir ? O_DIRECTORY : 0));
      if (fd < 0) continue;
      if (x.is_dir) {
        while (::syscall(SYS_getdents64, fd, buf.data(), buf.size()) > 0) {
        }
      } else {
        while (::read(fd, buf.data(), buf.size()) > 0) {
        }
      }
      ::close(fd);
    }
    best = std::min(best, ms_since(t));
    *best_cpu = std::min(*best_cpu, cpu_ms() - c);
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
  f.warm_ms = f.warm_cpu_ms = 1e18;
  for (int r = 0; r < repeat; ++r) {
    run_sql(db, "SELECT metaflow_trace_clear()");
    const double c = cpu_ms();
    t = Clock::now();
    run_sql(db, q.sql);
    f.warm_ms = std::min(f.warm_ms, ms_since(t));
    f.warm_cpu_ms = std::min(f.warm_cpu_ms, cpu_ms() - c);
  }
  sqlite3_close(db);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  f.peak_rss_kb = ru.ru_maxrss;  // before the second connection, whose full trace would inflate it

  // A second connection keeps every call, so the floor replays exactly the I/O of a warm statement
  // (a warm one: the connection's decoded-value cache spares it blobs the cold one read).
  setenv("MFSQL_TRACE_KEEP", "100000000", 1);
  db = open_connection(module);
  run_sql(db, q.sql);
  run_sql(db, "SELECT metaflow_trace_clear()");
  run_sql(db, q.sql);
  auto io = traced_io(db, &f.bytes, &f.files, &f.dirs);
  f.floor_ms = read_floor(fs::path(q.store) / ".metaflow", io, repeat, &f.floor_cpu_ms);
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
  // This bench measures reading the store (and replays those reads as the floor): the cache of
  // issue 16 would answer from memory instead, and would write the user's ~/.cache. Its figures
  // are mfsql-bench-repeat's.
  setenv("MFSQL_CACHE", "off", 1);
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
  std::string store = mfsql::storegen::ensure_bench_store(
      dir / ("mfsql-bench-" + std::to_string(runs) + "-" + std::to_string(foreach_width)), runs, foreach_width, "mfsql-bench");
  std::string big = mfsql::storegen::ensure_bench_store(dir / ("mfsql-bench-" + std::to_string(big_runs) + "-0"), big_runs, 0,
                                                        "mfsql-bench");

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

  std::printf("%-36s %8s %8s %8s %7s %8s %8s %6s %6s %5s %9s %6s %7s\n", "question", "cold ms", "warm ms", "floor ms",
              "x floor", "cpu ms", "floor cpu", "x cpu", "files", "dirs", "bytes", "rows", "RSS MiB");
  for (auto& q : questions) {
    bool has_table = q.sql.find("FROM artifacts") == std::string::npos ||
                     first_value(module, q.store, "SELECT count(*) FROM pragma_module_list WHERE name = 'artifacts'") != "0";
    if (!has_table) {
      std::printf("%-38s (the artifacts table is not in this build)\n", q.name.c_str());
      continue;
    }
    Figures f = measure_in_child(q, module, repeat);
    std::printf("%-36s %8.1f %8.1f %8.1f %7.2f %8.1f %8.1f %6.2f %6ld %5ld %9ld %6ld %7.1f\n", q.name.c_str(), f.cold_ms,
                f.warm_ms, f.floor_ms, f.floor_ms > 0 ? f.warm_ms / f.floor_ms : 0.0, f.warm_cpu_ms, f.floor_cpu_ms,
                f.floor_cpu_ms > 0 ? f.warm_cpu_ms / f.floor_cpu_ms : 0.0, f.files, f.dirs, f.bytes, f.rows,
                f.peak_rss_kb / 1024.0);
    std::fflush(stdout);
  }
  return 0;
}
