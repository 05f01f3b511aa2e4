#include "support/test_env.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace mfsql::testing {

fs::path shared_dir() {
  if (const char* env = std::getenv("MFSQL_SHARED")) return env;
  return MFSQL_SHARED_DIR;
}
fs::path local_fixture() { return shared_dir() / "fixtures" / "metaflow-local"; }

void use_local_store(const fs::path& root) {
  setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", root.c_str(), 1);
  setenv("METAFLOW_DEFAULT_METADATA", "local", 1);
  setenv("METAFLOW_DEFAULT_DATASTORE", "local", 1);
  unsetenv("METAFLOW_PROFILE");
}
fs::path service_fixture() { return shared_dir() / "fixtures" / "metaflow-service"; }
fs::path build_dir() { return MFSQL_BUILD_DIR; }
fs::path source_dir() { return MFSQL_SOURCE_DIR; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("mfsql-test-" + std::to_string(rd()) + std::to_string(rd()));
  fs::create_directories(path_);
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path copy_store(const fs::path& from, const TempDir& into) {
  fs::path to = into.path() / "store";
  fs::copy(from, to, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(to))
    fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::add);
  return to;
}

fs::path copy_metadata_only(const fs::path& from, const TempDir& into) {
  fs::path root = copy_store(from, into);
  std::vector<fs::path> drop;
  for (auto it = fs::recursive_directory_iterator(root / ".metaflow"); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "_meta") {
      it.disable_recursion_pending();
      continue;
    }
    const std::string rel = fs::relative(it->path(), root / ".metaflow").generic_string();
    const std::string name = it->path().filename().string();
    if (it->is_directory() && name == "data" && rel.find('/') == rel.rfind('/')) drop.push_back(it->path());
    else if (it->is_regular_file() && (name.find(".data.json") != std::string::npos || name.find(".log") != std::string::npos))
      drop.push_back(it->path());
  }
  for (auto& p : drop) fs::remove_all(p);
  return root;
}

}  // namespace mfsql::testing

namespace mfsql::testing {
namespace {

// Tests never share mfsql's cache (docs/caching.md): each test process gets its own
// XDG_CACHE_HOME, removed when it exits, and the cache is off unless a test turns it on
// (tests/cache_test.cpp), so tests that count files keep their exact counts.
struct PrivateCache {
  fs::path dir;
  PrivateCache() {
    dir = fs::temp_directory_path() / ("mfsql-test-cache-" + std::to_string(::getpid()));
    std::error_code ec;
    fs::create_directories(dir, ec);
    setenv("XDG_CACHE_HOME", dir.c_str(), 1);
    setenv("MFSQL_CACHE", "off", 1);
  }
  ~PrivateCache() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
const PrivateCache private_cache;

}  // namespace
}  // namespace mfsql::testing
