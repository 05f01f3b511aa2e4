#pragma once
// Helpers for tests of mfsql's cache (docs/caching.md): the cache turned on with a private
// XDG_CACHE_HOME, store files made "old" (the racy rule distrusts anything changed in the last two
// seconds), and a second process (the sqlite3 command-line shell) reading through the same file.
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/scoped_env.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {

// The cache on, in a file of this test's own.
struct CacheOn {
  ScopedEnv env;
  std::filesystem::path xdg;
  explicit CacheOn(const std::filesystem::path& dir) : xdg(dir / "xdg") {
    env.set("MFSQL_CACHE", "on");
    env.set("XDG_CACHE_HOME", xdg.string());
  }
  std::filesystem::path file() const { return xdg / "mfsql" / "cache.sqlite3"; }
};

inline int64_t wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline void set_mtime(const std::filesystem::path& p, int64_t seconds, long nanos = 0) {
  struct timespec times[2] = {{seconds, nanos}, {seconds, nanos}};
  ::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

// Every file and folder below `root` (and root) gets mtime `seconds`, or only those changed in the
// last `recent_s` seconds when that is given: "time passed since each was written".
inline void age_tree(const std::filesystem::path& root, int64_t seconds, long nanos = 0, int64_t recent_s = -1) {
  const int64_t now = wall_s();
  auto touch = [&](const std::filesystem::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return;
    if (recent_s >= 0 && st.st_mtim.tv_sec < now - recent_s) return;
    set_mtime(p, seconds, nanos);
  };
  for (auto& e : std::filesystem::recursive_directory_iterator(root)) touch(e.path());
  touch(root);
}

// Rows as the sqlite3 shell prints them (.nullvalue NULL, '|' between columns).
inline std::string rows_text(const Rows& rows) {
  std::string out;
  for (auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "|" : "") + (row[i] ? *row[i] : std::string("NULL"));
    out += "\n";
  }
  return out;
}

// What a shell command prints (stdout and whatever it redirects there).
inline std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// Runs `sql` (statements, one per line) in a new sqlite3 process that loads the built module.
inline std::string run_cli(const std::filesystem::path& dir, const std::string& sql) {
  const auto script = dir / "cli.sql";
  {
    std::ofstream out(script);
    out << ".load " << (build_dir() / "metaflow").string() << "\n.nullvalue NULL\n" << sql << "\n";
  }
  std::string cmd = "sqlite3 -bail :memory: < '" + script.string() + "' 2>&1";
#ifdef MFSQL_ASAN_RUNTIME  // a sanitized module in the (unsanitized) sqlite3 program
  cmd = std::string("LD_PRELOAD='") + MFSQL_ASAN_RUNTIME + "' " + cmd;
#endif
  return command_output(cmd);
}

}  // namespace mfsql::testing
