#pragma once
// What the service tests share: the replayed service and a writable copy of the recorded
// datastore for the whole suite, a clean environment with a recognizable API key and header per
// test, tables s_<name> reading them, and request counting.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/replay_server.hpp"
#include "support/test_db.hpp"
#include "support/scoped_env.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {

inline const std::string kKey = "sekrit-API-KEY-4242";
inline const std::string kHeaderValue = "hdr-SECRET-7777";
inline const char* const kTables[] = {"flows", "runs", "steps", "tasks", "artifacts", "metadata", "tags", "logs"};

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ReplayServer(service_fixture() / "recorded");
    tmp_ = new TempDir;
    store_ = new std::filesystem::path(copy_store(service_fixture() / "datastore", *tmp_));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete store_;
    delete tmp_;
  }
  void SetUp() override {
    env_.set("METAFLOW_SERVICE_AUTH_KEY", kKey);
    env_.set("METAFLOW_SERVICE_HEADERS", "{\"X-Team-Token\": \"" + kHeaderValue + "\"}");
    for (const char* name : {"METAFLOW_DEFAULT_METADATA", "METAFLOW_SERVICE_URL", "METAFLOW_DATASTORE_SYSROOT_LOCAL",
                             "METAFLOW_PROFILE", "MFSQL_SERVICE_TIMEOUT_MS", "MFSQL_SERVICE_DEADLINE_MS",
                             "METAFLOW_SERVICE_RETRY_COUNT", "MFSQL_SERVICE_CONCURRENCY", "MFSQL_SERVICE_CACHE_TTL_S",
                             "MFSQL_SERVICE_CACHE_TTL_RUNNING_S"})
      env_.set(name, std::nullopt);
    env_.set("METAFLOW_HOME", tmp_->path().string());  // no user profile leaks in
    server_->clear_faults();
    server_->reset_counts();
  }

  // s_<table> for every table, reading the replayed service and the copied datastore.
  static void create_tables(TestDb& db, const std::string& url = server_->url()) {
    for (const char* t : kTables)
      db.query(std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(service=" + quote(url) +
               ", datastore=" + quote(store_->string()) + ")");
  }

  struct Cost {
    Rows rows;
    int requests;
    double ms;
  };
  static Cost run(TestDb& db, const std::string& sql) {
    server_->reset_counts();
    auto start = std::chrono::steady_clock::now();
    Rows rows = db.query(sql);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    expect_all_recorded();
    auto targets = server_->targets();
    std::sort(targets.begin(), targets.end());
    auto twice = std::adjacent_find(targets.begin(), targets.end());
    EXPECT_TRUE(twice == targets.end()) << "asked twice in one statement: " << *twice;
    return {std::move(rows), server_->requests(), ms};
  }
  // Fails for each request the recording lacks, but two kinds:
  // - the service answers the list of a missing parent with 200 [] (FailFlow/5 failed before its
  //   end step), which the recording has only for other parents; the replay's 404 reads as the
  //   same empty list;
  // - the tag filter was recorded for a few tags of LinearFlow only; for other questions the
  //   replay's 404 is what a server without filters says, and the provider falls back to listing
  //   the runs (RequestCountsStaySmall checks a recorded one is answered by the filter alone);
  //   the same holds for the run filters and page sizes a statement's terms and LIMIT become
  //   (`/runs?ts_epoch:ge=...`, `/runs?_limit=10`: service_pushdown_test.cpp).
  static void expect_all_recorded() {
    for (auto& t : server_->unexpected()) {
      bool tag_filter = t.find("/runs?") != std::string::npos;
      if (t != "GET /flows/FailFlow/runs/5/steps/end/tasks" && !tag_filter)
        ADD_FAILURE() << "unrecorded request: " << t;
    }
  }
  static void print(const std::string& what, const Cost& cold, const Cost& warm) {
    std::printf("[cost] %-48s cold %2d requests %7.1f ms | warm %2d requests %6.1f ms\n", what.c_str(), cold.requests,
                cold.ms, warm.requests, warm.ms);
  }
  // The error a query fails with; it and the trace must not hold any secret.
  static std::string error_without_secrets(TestDb& db, const std::string& sql) {
    std::string err = db.error_of(sql);
    std::string trace = db.scalar("SELECT coalesce(group_concat(target, ' '), '') FROM metaflow_trace").value_or("");
    for (const std::string& secret : {kKey, kHeaderValue, std::string("pw-SECRET")}) {
      EXPECT_EQ(err.find(secret), std::string::npos) << err;
      EXPECT_EQ(trace.find(secret), std::string::npos) << trace;
    }
    return err;
  }
  int requests_for(const std::string& target) {
    int n = 0;
    for (auto& t : server_->targets()) n += t == "GET " + target;
    return n;
  }

  static inline ReplayServer* server_ = nullptr;
  static inline TempDir* tmp_ = nullptr;
  static inline std::filesystem::path* store_ = nullptr;
  ScopedEnv env_;
};

// The routes final_answers.cpp may keep: artifact and metadata listings, no query string.
inline bool final_kind(const std::string& target) {
  if (target.find('?') != std::string::npos) return false;
  auto ends_with = [&](const std::string& tail) {
    return target.size() >= tail.size() && target.compare(target.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("/artifacts") || ends_with("/metadata") || target.find("/artifacts/") != std::string::npos;
}

}  // namespace mfsql::testing
