// Final answers of the real metadata service (the CTest fixture `live_service`) kept across
// processes (providers/service/persisted_answers.*), at two sizes: a finished run of 4 tasks and
// one of 16, written through the REST API, their heartbeats made an hour old. A first process asks
// every artifact of the run; a new sqlite3 process asks it again and makes no request for the
// artifact listing, the same number of requests at both sizes (the live step and task lists).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cache_env.hpp"
#include "support/live_service.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
using nlohmann::json;

constexpr int kSmall = 4, kBig = 16;  // tasks of the run's one foreach step

const json kWho = {{"user_name", "alice"}, {"tags", json::array()}, {"system_tags", json::array()}};

// A finished run of `tasks` tasks in step `process`: each with attempt 0 done and ok, and two
// artifacts. Returns its number.
std::string write_run(const std::string& url, const std::string& flow, int tasks) {
  http_post(url + "/flows/" + flow, kWho);  // 409 when an earlier test process made it
  const std::string run = std::to_string(
      post_ok(url + "/flows/" + flow + "/run",
              {{"user_name", "alice"}, {"tags", json::array()}, {"system_tags", {"user:alice", "metaflow_version:2.19.38"}}})
          .at("run_number")
          .get<int64_t>());
  const std::string step = url + "/flows/" + flow + "/runs/" + run + "/steps/process";
  post_ok(step + "/step", kWho);
  for (int i = 0; i < tasks; ++i) {
    const std::string task = std::to_string(post_ok(step + "/task", kWho).at("task_id").get<int64_t>());
    json meta = json::array();
    for (const char* f : {"attempt", "attempt_ok", "attempt-done"})
      meta.push_back({{"field_name", f}, {"value", std::string(f) == "attempt" ? "0" : "True"}, {"type", f},
                      {"user_name", "alice"}, {"tags", {"attempt_id:0"}}, {"system_tags", json::array()}});
    post_ok(step + "/tasks/" + task + "/metadata", meta);
    json arts = json::array();
    for (const char* name : {"square", "label"})
      arts.push_back({{"name", name}, {"location", ":root:/nowhere/.metaflow"}, {"ds_type", "local"},
                      {"sha", std::string(40, 'a' + i % 6)}, {"type", "metaflow.artifact"}, {"content_type", "pickle-v4"},
                      {"attempt_id", 0}, {"user_name", "alice"}, {"tags", json::array()}, {"system_tags", json::array()}});
    post_ok(step + "/tasks/" + task + "/artifact", arts);
  }
  return run;
}

// An hour old, in the fixture's own PostgreSQL: the API only ever stamps the current time.
void make_quiet(const LiveService& live, const std::string& flow, const std::string& run) {
  const std::string sql = "UPDATE runs_v3 SET last_heartbeat_ts = extract(epoch from now())::bigint - 3600 WHERE flow_id = '" +
                          flow + "' AND run_number = " + run;
  const std::string cmd = "PGPASSWORD=postgres \"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql\" -h 127.0.0.1 -p " +
                          std::to_string(live.pg_port()) + " -U postgres -d metaflow -qtA -c \"" + sql + "\" >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

const char* kRequests = "SELECT count(*), count(*) FILTER (WHERE target LIKE '%/artifacts') FROM metaflow_trace "
                        "WHERE kind = 'http' AND cache_hit = 0";

TEST(LivePersist, ANewProcessAsksNoFinalListingAtEitherSize) {
  const LiveService* live = LiveService::find();
  if (!live) GTEST_SKIP() << "run through ctest (ctest -L live): its fixture starts the real service";
  TempDir dir;
  CacheOn cache(dir.path());
  std::filesystem::create_directories(dir.path() / ".metaflow");
  std::vector<std::string> fresh_costs;
  for (auto [flow, tasks] : {std::pair{"PersistSmallFlow", kSmall}, std::pair{"PersistBigFlow", kBig}}) {
    const std::string run = write_run(live->url(), flow, tasks);
    make_quiet(*live, flow, run);
    const std::string table = "CREATE VIRTUAL TABLE temp.l_artifacts USING artifacts(service=" + quote(live->url()) +
                              ", datastore=" + quote(dir.path().string()) + ")";
    const std::string sql = "SELECT step, task_id, name, sha FROM l_artifacts WHERE flow = " + quote(flow) +
                            " AND run_id = " + quote(run) + " ORDER BY 1, 2, 3";
    std::string first_text, first_cost;
    {
      TestDb db;
      db.query(table);
      first_text = rows_text(db.query(sql));
      first_cost = rows_text(db.query(kRequests));
    }
    ASSERT_EQ(std::count(first_text.begin(), first_text.end(), '\n'), 2 * tasks) << first_text;
    const std::string again = run_cli(dir.path(), table + ";\n" + sql + ";\n" + kRequests + ";");
    ASSERT_EQ(again.substr(0, first_text.size()), first_text) << again;
    const std::string cost = again.substr(first_text.size());
    EXPECT_EQ(cost.substr(cost.find('|')), "|0\n") << flow << ": the new process asked the artifact listing again";
    EXPECT_NE(first_cost.substr(first_cost.find('|')), "|0\n") << flow << ": the first process asked no listing";
    std::printf("[ cost    ] %d tasks: first process %s requests|listings, new process %s", tasks,
                first_cost.substr(0, first_cost.size() - 1).c_str(), cost.c_str());
    fresh_costs.push_back(cost);
  }
  EXPECT_EQ(fresh_costs[0], fresh_costs[1]) << "the new process's cost grew with the run";
}

}  // namespace
}  // namespace mfsql::testing
