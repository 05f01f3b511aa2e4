#pragma once
// Stores for the cache's tests (tests/cache_test.cpp, tests/persisted_facts_test.cpp): a BenchFlow
// store of mfsql-storegen's whose files were all written an hour ago, so none is racy.
#include <filesystem>
#include <string>

#include "storegen/storegen.hpp"
#include "support/cache_env.hpp"

namespace mfsql::testing {

// An hour ago, the same moment for the whole test: files written then are well past the racy window.
inline int64_t an_hour_ago() {
  static const int64_t t = wall_s() - 3600;
  return t;
}

// A BenchFlow store of `runs` runs in `dir`, its files written an hour ago.
inline std::filesystem::path old_store(const TempDir& dir, int runs) {
  storegen::GenerateOptions options;
  options.out_dir = dir.path() / "s";
  options.runs = runs;
  storegen::generate_store(options);
  age_tree(options.out_dir, an_hour_ago());
  return options.out_dir;
}

// The runs table over `root`, as temp.g_runs.
inline std::string create_runs_table(const std::filesystem::path& root) {
  return "CREATE VIRTUAL TABLE temp.g_runs USING runs(root=" + quote(root.string()) + ")";
}

}  // namespace mfsql::testing
