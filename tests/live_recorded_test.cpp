// The real metadata service (the CTest fixture `live_service`), loaded through its REST API from the
// recording's own objects, answers every recorded request as the recording does (same service
// version, same run numbers, task ids and metadata ids on the fresh database), except the times the
// server stamps: ts_epoch and last_heartbeat_ts are left out of every object, and the answers to
// ts_epoch range filters with a real time are skipped (they ask when the load ran). This checks the
// recording the replay-server tests use against the service itself, and the loader's fidelity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "support/live_service.hpp"
#include "support/replay_server.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
using nlohmann::json;

const char* const kServerTimes[] = {"ts_epoch", "last_heartbeat_ts"};

// `j` without the server's times; `leaves` counts the values left to compare.
json without_times(const json& j, size_t& leaves) {
  if (j.is_array()) {
    json out = json::array();
    for (const auto& x : j) out.push_back(without_times(x, leaves));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (std::find(std::begin(kServerTimes), std::end(kServerTimes), it.key()) == std::end(kServerTimes))
        out[it.key()] = without_times(it.value(), leaves);
    return out;
  }
  ++leaves;
  return j;
}

// A list the service returns in no defined order (no _limit: no ORDER BY the API promises) is
// compared as a multiset.
json canonical(json j) {
  if (j.is_array()) std::sort(j.begin(), j.end(), [](const json& a, const json& b) { return a.dump() < b.dump(); });
  return j;
}

// What to ask the live service for a recorded request: a later page's recorded cursor encodes
// recorded times, so it is the cursor the live service gave for the page before it (the recorded
// request whose X-Next-Cursor was this cursor), followed the same way from the first page.
std::string live_target_of(const json& manifest, const std::string& target) {
  const auto at = target.find("_cursor=");
  if (at == std::string::npos) return target;
  const auto end = target.find('&', at);
  const std::string cursor = target.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
  for (const auto& [key, entry] : manifest.at("requests").items()) {
    const auto& headers = entry.at("headers");
    if (headers.contains("X-Next-Cursor") && headers["X-Next-Cursor"] == cursor) {
      const std::string previous = live_target_of(manifest, key.substr(4));
      HttpAnswer page = http_get(LiveService::find()->url() + previous);
      if (!page.headers.count("x-next-cursor")) throw std::runtime_error(previous + " has no next page live");
      return target.substr(0, at + 8) + page.headers["x-next-cursor"] +
             (end == std::string::npos ? "" : target.substr(end));
    }
  }
  return target;  // a cursor no answer gave (an invalid one): asked as recorded
}

class LiveRecordedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = LiveService::find();
    if (!live_) GTEST_SKIP() << LiveService::skip_reason();
  }
  const LiveService* live_ = nullptr;
};

TEST_F(LiveRecordedTest, EveryRecordedAnswerMatchesExceptTimes) {
  const auto folder = service_fixture() / "recorded";
  const json manifest = json::parse(read_file(folder / "manifest.json"));
  size_t compared = 0, matched = 0, leaves = 0, skipped_times = 0, followed_cursors = 0, skipped_flow_pages = 0;
  for (const auto& [key, entry] : manifest.at("requests").items()) {
    ASSERT_EQ(key.rfind("GET ", 0), 0u) << key;
    std::string target = key.substr(4);
    const int recorded_status = entry.at("status").get<int>();
    const bool time_filter = target.find("ts_epoch:") != std::string::npos;
    if (time_filter && recorded_status == 200) {
      ++skipped_times;
      continue;
    }
    const std::string recorded_body = read_file(folder / entry.at("file").get<std::string>());
    // The flow listing's pages hold the local stores' flows too (the same service serves them).
    if (target.rfind("/flows?", 0) == 0 && target.find("_limit=") != std::string::npos && recorded_status == 200) {
      ++skipped_flow_pages;
      continue;
    }
    const std::string live_target = live_target_of(manifest, target);
    followed_cursors += live_target != target;
    HttpAnswer live = http_get(live_->url() + live_target);
    ++compared;
    EXPECT_EQ(live.status, recorded_status) << target;
    const bool paged = target.find("_limit=") != std::string::npos;
    const bool recorded_next = entry.at("headers").contains("X-Next-Cursor");
    EXPECT_EQ(live.headers.count("x-next-cursor") == 1, recorded_next) << "X-Next-Cursor of " << target;
    json want = json::parse(recorded_body, nullptr, false), got = json::parse(live.body, nullptr, false);
    bool same;
    if (want.is_discarded() || got.is_discarded()) {
      same = live.body == recorded_body;
      ++leaves;
    } else {
      size_t n = 0, ignored = 0;
      want = without_times(want, n);
      got = without_times(got, ignored);
      leaves += n;
      if (target == "/flows" && got.is_array()) {  // the live service also holds the local stores' flows
        json only = json::array();
        for (auto& f : got)
          if (std::find(want.begin(), want.end(), f) != want.end()) only.push_back(f);
        got = only;
      }
      same = paged ? want == got : canonical(want) == canonical(got);
    }
    EXPECT_TRUE(same) << target << "\n live:     " << live.body.substr(0, 600) << "\n recorded: "
                      << recorded_body.substr(0, 600);
    matched += same && live.status == recorded_status;
  }
  std::printf("[live] %zu recorded requests asked live, %zu answers equal (%zu values compared, %zu later pages "
              "via the live cursor); skipped: %zu time-range answers, %zu pages of the flow listing\n",
              compared, matched, leaves, followed_cursors, skipped_times, skipped_flow_pages);
  RecordProperty("answers_compared", static_cast<int>(compared));
  RecordProperty("values_compared", static_cast<int>(leaves));
  EXPECT_GT(compared, 900u) << "the recording has ~985 requests";
  EXPECT_EQ(matched, compared);
  EXPECT_LT(skipped_times + skipped_flow_pages, 10u);
}

// mfsql over the live service answers every table as over the replayed recording (what the
// service tests use), for the recorded flows, except the times the server stamped.
TEST_F(LiveRecordedTest, EveryTableOverTheLiveServiceEqualsOverTheReplay) {
  ReplayServer replay(service_fixture() / "recorded");
  TestDb db;
  const std::string datastore = quote((service_fixture() / "datastore").string());
  const std::string flows = "('LinearFlow', 'BranchFlow', 'ForeachFlow', 'FailFlow', 'RetryFlow')";
  size_t fields = 0;
  for (const std::string table : {"flows", "runs", "steps", "tasks", "tags", "artifacts", "metadata", "logs"}) {
    db.query("CREATE VIRTUAL TABLE temp.r_" + table + " USING " + table + "(service=" + quote(replay.url()) +
             ", datastore=" + datastore + ")");
    db.query("CREATE VIRTUAL TABLE temp.v_" + table + " USING " + table + "(service=" + quote(live_->url()) +
             ", datastore=" + datastore + ")");
    std::string select;
    bool has_private = false;
    for (auto& r : db.query("SELECT column_name, hidden FROM metaflow_columns WHERE table_name = " + quote(table) +
                            " ORDER BY position")) {
      has_private |= *r[0] == "private";
      if (*r[0] == "created_at" || *r[0] == "finished_at" || (*r[1] != "0" && *r[0] != "blob")) continue;
      select += (select.empty() ? "" : ", ") + (*r[0] == "blob" ? std::string("hex(blob)") : *r[0]);
    }
    const std::string where = " WHERE flow IN " + flows + (has_private ? " AND private = 1" : "");
    auto rows = [&](const std::string& t) {
      std::multiset<std::string> out;
      for (auto& r : db.query("SELECT " + select + " FROM " + t + where)) {
        std::string line;
        for (auto& c : r) line += c.value_or("NULL") + "\x1f";
        out.insert(line);
      }
      return out;
    };
    const auto replayed = rows("r_" + table), live = rows("v_" + table);
    EXPECT_FALSE(replayed.empty()) << table;
    EXPECT_EQ(replayed, live) << table;
    fields += replayed.size() * (std::count(select.begin(), select.end(), ',') + 1);
    std::printf("[live] %-9s %5zu rows over the replay, %5zu live (%s)\n", table.c_str(), replayed.size(), live.size(),
                select.c_str());
  }
  RecordProperty("table_fields_compared", static_cast<int>(fields));
  std::printf("[live] %zu fields compared\n", fields);
}


// A pathspec asks the artifact alone (no task record first): over the real service a task, step or
// run that does not exist answers 404 there, which is no row, and an existing one its value.
TEST_F(LiveRecordedTest, AnArtifactPathspecAnswersAloneAndMissingOnesAreNoRows) {
  ReplayServer replay(service_fixture() / "recorded");
  TestDb db;
  const std::string datastore = quote((service_fixture() / "datastore").string());
  db.query("CREATE VIRTUAL TABLE temp.r_artifacts USING artifacts(service=" + quote(replay.url()) + ", datastore=" + datastore + ")");
  db.query("CREATE VIRTUAL TABLE temp.v_artifacts USING artifacts(service=" + quote(live_->url()) + ", datastore=" + datastore + ")");
  const std::string present = "'ForeachFlow/4/process/17/square'";
  EXPECT_EQ(db.scalar("SELECT value FROM v_artifacts WHERE pathspec = " + present),
            db.scalar("SELECT value FROM r_artifacts WHERE pathspec = " + present));
  EXPECT_NE(db.scalar("SELECT value FROM v_artifacts WHERE pathspec = " + present), std::nullopt);
  for (const std::string missing : {"ForeachFlow/4/process/999999/square", "ForeachFlow/4/no_step/17/square",
                                    "ForeachFlow/999999/process/17/square", "NoSuchFlow/4/process/17/square",
                                    "ForeachFlow/4/process/17/no_such_artifact"})
    EXPECT_EQ(db.scalar("SELECT count(*) FROM v_artifacts WHERE pathspec = " + quote(missing)), "0") << missing;
}

}  // namespace
}  // namespace mfsql::testing
