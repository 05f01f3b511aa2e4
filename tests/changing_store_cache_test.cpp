// The changing store read through the cache (issue 16): every state equals a fresh uncached read,
// in one connection and, every eighth state, in a second process through the cache file.
#include "support/changing_store.hpp"

namespace mfsql::testing {
namespace {
using namespace changing_store;

TEST_F(ChangingStoreTest, EveryIntermediateStateThroughTheCache) {
  script(1);
  CacheOn cache(tmp_.path());
  int64_t tick = wall_s() - 86400;
  age_tree(store_, tick);
  TestDb cached, fresh;
  fresh.query("SELECT metaflow_set('cache', 'off')");
  const std::vector<std::string> questions = {kRunsSql, kTasksSql, kArtifactsSql, kStepsSql};
  int states = 0, processes = 0;
  auto compare = [&](const std::string& where) {
    std::string expected_text, script_text;
    for (auto& sql : questions) {
      Rows expected = fresh.query(sql);
      EXPECT_EQ(cached.query(sql), expected) << sql << " " << where;
      expected_text += rows_text(expected);
      script_text += sql + ";\n";
    }
    if (states++ % 8 == 0) {  // a second process, through the cache file, every eighth state
      ++processes;
      EXPECT_EQ(run_cli(tmp_.path(), script_text), expected_text) << where;
    }
  };
  compare("before any operation");
  const auto& ops = script_->ops;
  for (size_t i = 0; i < ops.size(); ++i) {
    apply(ops[i]);
    age_tree(store_, ++tick, 0, 60);
    if (ops[i].kind == Op::Mkdir || ops[i].path.find("/" + kFlow + "/data/") != std::string::npos) continue;
    compare(describe(ops[i], i));
    if (::testing::Test::HasFailure()) return;
  }
  // Folders whose remembered facts were validated and used (the statement memo's hits are not these).
  const int kept = std::stoi(*cached.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'check' AND cache_hit = 1"));
  std::printf("[ cached  ] %d states, %d of them also in a second process; %d remembered folders used\n", states,
              processes, kept);
  EXPECT_GT(kept, 100) << "the cache never answered: this test would not see a stale answer";
}

}  // namespace
}  // namespace mfsql::testing
