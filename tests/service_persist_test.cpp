// Final answers of the metadata service are not asked again by a NEW process (issue #16, parts 3
// and 4; providers/service/persisted_answers.*): process A (this one) asks over the replayed
// recording; a new sqlite3 process asks the same and makes no request for the artifact and
// metadata listings A found final, while the live ones (runs, run records with their tags, step
// and task lists) are asked again. Off (MFSQL_CACHE=off, metaflow_set('cache','off')) it asks them
// all; a damaged row is ignored; the cache file holds no API key, header value or password.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/cache_env.hpp"
#include "support/service_fixture.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

// `sql` in the sqlite3 program on the cache file itself (no module).
std::string on_cache_file(const fs::path& file, const std::string& sql) {
  return command_output("sqlite3 '" + file.string() + "' \"" + sql + "\" 2>&1");
}

struct Asked {
  std::string text;  // rows as the sqlite3 program prints them
  std::set<std::string> targets;
};

bool run_record(const std::string& target) {
  return std::count(target.begin(), target.end(), '/') == 4 && target.find("/runs/") != std::string::npos &&
         target.find('?') == std::string::npos;
}

class ServicePersist : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    cache_ = std::make_unique<CacheOn>(dir_.path());
  }
  // The tables, reading `url` (the same service with a password in it works too).
  static std::string tables_sql(const std::string& url) {
    std::string out;
    for (const char* t : kTables)
      out += std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(service=" + quote(url) +
             ", datastore=" + quote(store_->string()) + ");\n";
    return out;
  }
  // Process A: this process, one connection, closed before returning (its writes are saved).
  Asked ask_here(const std::string& sql, const std::string& url) {
    Asked a;
    {
      TestDb db;
      for (const char* t : kTables)
        db.query(std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(service=" + quote(url) +
                 ", datastore=" + quote(store_->string()) + ")");
      server_->reset_counts();
      a.text = rows_text(db.query(sql));
      auto t = server_->targets();
      a.targets = {t.begin(), t.end()};
    }
    return a;
  }
  // A new process (the sqlite3 program loading the module).
  Asked ask_new_process(const std::string& sql, const std::string& prefix = "") {
    server_->reset_counts();
    Asked a;
    a.text = run_cli(dir_.path(), prefix + tables_sql(server_->url()) + sql + ";");
    auto t = server_->targets();
    a.targets = {t.begin(), t.end()};
    return a;
  }
  static int finals(const std::set<std::string>& targets) {
    int n = 0;
    for (auto& t : targets) n += final_kind(t.substr(4));
    return n;
  }
  TempDir dir_;
  std::unique_ptr<CacheOn> cache_;
};

// A finished run's every artifact, then its every metadata entry: a small run (LinearFlow/1)
// and a wider one (ForeachFlow/4, a foreach of several tasks): the two sizes the replay has.
const char* const kQuestions[] = {
    "SELECT step, task_id, name, sha FROM s_artifacts WHERE flow = 'LinearFlow' AND run_id = '1' ORDER BY 1, 2, 3",
    "SELECT step, task_id, name, sha FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' ORDER BY 1, 2, 3",
    "SELECT step, task_id, field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' "
    "ORDER BY 1, 2, 3, 4",
    "SELECT name, value FROM s_artifacts WHERE pathspec LIKE 'BranchFlow/3/join/13/%' ORDER BY 1",
    "SELECT task_id, value FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
    "AND name = 'square' ORDER BY 1",
    "SELECT field_name, value FROM s_metadata WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
    "AND task_id = '18' ORDER BY 1, 2",
};

TEST_F(ServicePersist, ANewProcessAsksNoFinalListingAgainLiveOnesItDoes) {
  int question = 0;
  for (const char* sql : kQuestions) {
    // A cache file of its own per question (this process's kept answers go with the file).
    cache_.reset();
    cache_ = std::make_unique<CacheOn>(dir_.path() / std::to_string(++question));
    Asked a = ask_here(sql, server_->url());
    ASSERT_GT(finals(a.targets), 0) << sql << ": the question reads no artifact or metadata listing";
    ASSERT_FALSE(a.text.empty()) << sql;
    Asked b = ask_new_process(sql);
    EXPECT_EQ(b.text, a.text) << sql;
    // Final ones are not asked again; every live one is, but the run record A asked at its
    // statement's end to learn whether the run was quiet (the new process does not need it).
    for (auto& target : a.targets) {
      if (!run_record(target.substr(4))) {
        EXPECT_EQ(b.targets.count(target), final_kind(target.substr(4)) ? 0u : 1u) << sql << ": " << target;
      }
    }
    for (auto& target : b.targets) EXPECT_TRUE(a.targets.count(target)) << sql << ": new request " << target;
    const std::string row_bytes =
        on_cache_file(cache_->file(), "SELECT sum(bytes) FROM shards WHERE store LIKE 'service %'");
    std::printf("[ cost    ] %s\n            process A %zu requests (%d final listings), new process %zu (%d); "
                "service rows %s", sql, a.targets.size(), finals(a.targets), b.targets.size(), finals(b.targets),
                row_bytes.c_str());
  }
}

TEST_F(ServicePersist, OffEveryRequestIsMadeAgain) {
  const std::string sql = kQuestions[1];
  Asked a = ask_here(sql, server_->url());
  // What answering took: A also asked the run record at its statement's end, to keep the listing.
  std::set<std::string> answering;
  for (auto& t : a.targets)
    if (!run_record(t.substr(4))) answering.insert(t);
  ASSERT_LT(answering.size(), a.targets.size());
  Asked set_off = ask_new_process(sql, "SELECT metaflow_set('cache', 'off');\n");
  EXPECT_EQ(set_off.text, "off\n" + a.text);
  EXPECT_EQ(set_off.targets, answering);
  ScopedEnv off;
  off.set("MFSQL_CACHE", "off");
  Asked env_off = ask_new_process(sql);
  EXPECT_EQ(env_off.text, a.text);
  EXPECT_EQ(env_off.targets, answering);
  // Control: with the cache on, the same new process asks fewer (so the two above can fail).
  off.set("MFSQL_CACHE", "on");
  EXPECT_LT(ask_new_process(sql).targets.size(), answering.size());
}

TEST_F(ServicePersist, ADamagedRowIsIgnoredAndTheAnswerStaysRight) {
  const std::string sql = kQuestions[2];
  Asked a = ask_here(sql, server_->url());
  ASSERT_EQ(on_cache_file(cache_->file(), "SELECT count(*) FROM shards WHERE store LIKE 'service %'"), "1\n");
  // One byte of the body changed (the last one: a deflated body's, past the format tag and CRC).
  ASSERT_EQ(on_cache_file(cache_->file(),
                          "UPDATE shards SET data = substr(data, 1, length(data) - 1) || "
                          "CASE WHEN substr(data, -1) = X'00' THEN X'01' ELSE X'00' END "
                          "WHERE store LIKE 'service %'; SELECT changes()"),
            "1\n");
  Asked b = ask_new_process(sql);
  EXPECT_EQ(b.text, a.text);
  EXPECT_EQ(b.targets, a.targets) << "a damaged row was trusted";
  // The new process wrote the row anew: a third one asks no final listing.
  EXPECT_EQ(finals(ask_new_process(sql).targets), 0);
}

TEST_F(ServicePersist, TheCacheHoldsNoSecretAndOneKeyPerService) {
  const std::string sql = kQuestions[1];
  // Asked with a password in the URL, and an API key and a header set (ServiceTest::SetUp).
  std::string with_password = server_->url();
  with_password.insert(with_password.find("://") + 3, "user:pw-SECRET@");
  Asked a = ask_here(sql, with_password);
  ASSERT_GT(finals(a.targets), 0);
  EXPECT_EQ(on_cache_file(cache_->file(), "SELECT DISTINCT store FROM shards WHERE store LIKE 'service %'"),
            "service " + server_->url() + "\n");
  std::ifstream in(cache_->file(), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  ASSERT_GT(bytes.str().size(), 0u);
  for (const std::string& secret : {kKey, kHeaderValue, std::string("pw-SECRET")})
    EXPECT_EQ(bytes.str().find(secret), std::string::npos) << secret << " is in the cache file";
  // The same service without the password finds what was kept.
  EXPECT_EQ(finals(ask_new_process(sql).targets), 0);
}

}  // namespace
}  // namespace mfsql::testing
