// A run's outcome remembered across statements (cache/derived_memory.hpp) equals a fresh read
// under the asking connection's settings: a value over max_value_bytes is NULL, so the outcome a
// connection with a small cap reads is not the one another remembered (found in review).
#include <gtest/gtest.h>

#include <filesystem>

#include "storegen/storegen.hpp"
#include "support/cache_env.hpp"
#include "support/old_store.hpp"

namespace fs = std::filesystem;
namespace mfsql::testing {
namespace {

const std::string kRuns =
    "SELECT run_id, finished, successful, status FROM g_runs WHERE flow = 'BenchFlow' ORDER BY run_id";

TEST(DerivedOutcome, TheValueCapOfTheAskingConnectionApplies) {
  TempDir dir;
  CacheOn cache(dir.path());
  const fs::path root = old_store(dir, 3);
  TestDb fresh;  // what an uncached read gives under a 1-byte cap
  fresh.query(create_runs_table(root));
  fresh.query("SELECT metaflow_set('cache', 'off')");
  fresh.query("SELECT metaflow_set('max_value_bytes', 1)");
  const Rows capped_fresh = fresh.query(kRuns);
  ASSERT_EQ(capped_fresh.size(), 3u);
  ASSERT_FALSE(capped_fresh[0][1]) << "a 1-byte cap leaves the outcome unknown";

  TestDb cached;
  cached.query(create_runs_table(root));
  const Rows uncapped = cached.query(kRuns);  // derived and remembered under the default cap
  ASSERT_TRUE(uncapped[0][1]);
  cached.query("SELECT metaflow_set('max_value_bytes', 1)");
  EXPECT_EQ(cached.query(kRuns), capped_fresh) << "the same connection, capped after it remembered";

  TestDb other;  // another connection of the process, capped from the start
  other.query(create_runs_table(root));
  other.query("SELECT metaflow_set('max_value_bytes', 1)");
  EXPECT_EQ(other.query(kRuns), capped_fresh);
  cached.query("SELECT metaflow_set('max_value_bytes', 16777216)");
  EXPECT_EQ(cached.query(kRuns), uncapped) << "and the default cap's outcome again";
}

}  // namespace
}  // namespace mfsql::testing
