// Time columns compare correctly with SQLite's own date functions (issue 13, item 9). Users write
// `created_at > datetime('now', '-7 days')`, BETWEEN two dates, GROUP BY date(created_at) and
// julianday() differences; every one of these must give the rows Metaflow's client implies.
// datetime() returns "YYYY-MM-DD HH:MM:SS", so a column in another text form (ISO with 'T')
// compares wrongly on the boundary day — these tests cut windows inside a day to see that.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "storegen/storegen.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

// The oracle's naive-UTC isoformat ("2026-11-27T00:09:29.165000") in the column form, written
// here independently of the extension's code.
std::string column_form(const std::string& oracle_time) { return oracle_time.substr(0, 10) + " " + oracle_time.substr(11, 12); }

// The oracle's time as milliseconds since the epoch.
int64_t oracle_ms(const std::string& t) {
  struct tm tm {};
  tm.tm_year = std::stoi(t.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(t.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(t.substr(8, 2));
  tm.tm_hour = std::stoi(t.substr(11, 2));
  tm.tm_min = std::stoi(t.substr(14, 2));
  tm.tm_sec = std::stoi(t.substr(17, 2));
  return int64_t{timegm(&tm)} * 1000 + std::stoi(t.substr(20, 3));
}

class TimesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    use_local_store(local_fixture());
  }
  void SetUp() override { oracle_ = json::parse(read_file(local_fixture() / "oracle.json")); }

  // Every run's created_at as the client reported it, in the column form.
  std::vector<std::string> oracle_run_times() {
    std::vector<std::string> out;
    for (auto& flow : oracle_["flows"])
      for (auto& run : flow["runs"]) out.push_back(column_form(run["created_at"]));
    return out;
  }
  size_t oracle_runs_where(auto&& keep) {
    size_t n = 0;
    for (auto& t : oracle_run_times()) n += keep(t);
    return n;
  }
  size_t count(const std::string& sql) { return std::stoul(*db_.scalar(sql)); }

  TestDb db_;
  json oracle_;
};

// Time columns: every TEXT column whose name ends in `_at`, and logs.ts.
std::vector<std::pair<std::string, std::string>> time_columns(TestDb& db) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& row : db.query("SELECT table_name, column_name FROM metaflow_columns WHERE (column_name LIKE '%\\_at' "
                            "ESCAPE '\\' OR (table_name = 'logs' AND column_name = 'ts')) AND table_name NOT LIKE 'metaflow\\_%' ESCAPE '\\'"))
    out.emplace_back(*row[0], *row[1]);
  return out;
}

TEST_F(TimesTest, EveryTimeColumnIsSqlitesOwnFormAndRoundTripsThroughStrftime) {
  auto columns = time_columns(db_);
  std::set<std::string> tables;
  for (auto& [table, column] : columns) {
    SCOPED_TRACE(table + "." + column);
    tables.insert(table);
    auto r = db_.query("SELECT count(" + column + "), sum(" + column + " = strftime('%Y-%m-%d %H:%M:%f', " + column +
                       ")), sum(typeof(" + column + ") = 'text' AND length(" + column + ") = 23) FROM " + table);
    ASSERT_GT(std::stoi(*r[0][0]), 0) << "no values to check";
    EXPECT_EQ(r[0][1], r[0][0]) << "values that strftime() writes differently, e.g. "
                                << db_.scalar("SELECT " + column + " FROM " + table + " WHERE " + column + " IS NOT NULL LIMIT 1").value_or("");
    EXPECT_EQ(r[0][2], r[0][0]);
  }
  for (const char* t : {"flows", "runs", "steps", "tasks", "artifacts", "metadata", "logs"}) EXPECT_TRUE(tables.count(t)) << t;
}

// A declared type containing DATE or TIME would give NUMERIC affinity: then the literal '2099'
// becomes the number 2099, every text value compares greater than it, and every row matches.
TEST_F(TimesTest, TimeColumnsAreDeclaredTextSoTextLiteralsCompareAsText) {
  for (auto& [table, column] : time_columns(db_)) {
    SCOPED_TRACE(table + "." + column);
    EXPECT_EQ(db_.scalar("SELECT type FROM pragma_table_xinfo(" + quote(table) + ") WHERE name = " + quote(column)), Cell("TEXT"));
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at >= '2099'"), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at >= '2026'"), oracle_run_times().size());
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at < 2099"), oracle_run_times().size());  // as text, too
}

// "What ran in the last N?" with a fixed 'now' (the newest run), as datetime(now, '-N ...') gives.
// The fixture's runs are three minutes of one day: windows of minutes and seconds end inside it.
TEST_F(TimesTest, LastSevenDaysAndLastMinutesGiveTheClientsRuns) {
  const std::string now = "(SELECT max(created_at) FROM runs)";
  std::string newest;
  for (auto& t : oracle_run_times()) newest = std::max(newest, t);
  EXPECT_EQ(*db_.scalar("SELECT " + now), newest);
  for (const char* window : {"-7 days", "-1 hours", "-2 minutes", "-30 seconds"}) {
    SCOPED_TRACE(window);
    // datetime() drops the milliseconds; strftime('%f') keeps them, as julianday() does.
    const std::string since = *db_.scalar("SELECT datetime(" + quote(newest) + ", " + quote(window) + ")");
    const std::string since_ms = *db_.scalar("SELECT strftime('%Y-%m-%d %H:%M:%f', " + quote(newest) + ", " + quote(window) + ")");
    EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at > datetime(" + now + ", " + quote(window) + ")"),
              oracle_runs_where([&](const std::string& t) { return t > since; }));
    EXPECT_EQ(count("SELECT count(*) FROM runs WHERE julianday(created_at) > julianday(" + now + ", " + quote(window) + ")"),
              oracle_runs_where([&](const std::string& t) { return t > since_ms; }));
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at > datetime(" + now + ", '-7 days')"), 15u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at > datetime(" + now + ", '-2 minutes')"), 13u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at >= datetime(" + now + ", '-1 minutes') AND created_at < " + now), 8u);
}

TEST_F(TimesTest, BetweenTwoDatesAndTimes) {
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"2026-11-27 00:08:00", "2026-11-27 00:09:00"}, {"2026-11-27", "2026-11-28"},
           {"2026-11-27 00:07:45.450", "2026-11-27 00:09:12.051"}, {"2026-11-26", "2026-11-27"}}) {
    SCOPED_TRACE(from + " .. " + to);
    EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at BETWEEN " + quote(from) + " AND " + quote(to)),
              oracle_runs_where([&](const std::string& t) { return t >= from && t <= to; }));
    EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at >= datetime(" + quote(from) + ") AND created_at < datetime(" +
                    quote(to) + ")"),
              oracle_runs_where([&](const std::string& t) { return t >= from.substr(0, 19) && t < to.substr(0, 19); }));
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE created_at BETWEEN '2026-11-27 00:08:00' AND '2026-11-27 00:09:00'"), 3u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE date(created_at) = '2026-11-27'"), 15u);
}

// julianday() differences give durations to the millisecond the client reports.
TEST_F(TimesTest, JuliandayDifferencesAreTheClientsDurations) {
  int compared = 0;
  for (auto& flow : oracle_["flows"])
    for (auto& run : flow["runs"])
      for (auto& step : run["steps"]) {
        if (step["finished_at"].is_null()) continue;
        const std::string sp = step["pathspec"];
        const std::string name = sp.substr(sp.rfind('/') + 1);
        auto ms = db_.scalar("SELECT CAST(round((julianday(finished_at) - julianday(created_at)) * 86400000) AS INTEGER) "
                             "FROM steps WHERE flow = " + quote(flow["name"]) + " AND run_id = " + quote(run["id"]) +
                             " AND step = " + quote(name));
        EXPECT_EQ(ms, Cell(std::to_string(oracle_ms(step["finished_at"]) - oracle_ms(step["created_at"])))) << sp;
        ++compared;
      }
  EXPECT_GE(compared, 50);
}

// logs.ts: the mflog header's time in the same form, cut to milliseconds like every other time.
TEST_F(TimesTest, LogTimesCompareWithTaskTimes) {
  auto r = db_.query("SELECT count(*), sum(l.ts >= datetime(t.created_at, '-1 seconds')), "
                     "sum(l.ts <= strftime('%Y-%m-%d %H:%M:%f', t.finished_at, '+1 seconds')) "
                     "FROM logs l JOIN tasks t USING (flow, run_id, step, task_id) WHERE l.flow = 'BranchForeachFlow' "
                     "AND l.run_id = '1795738098817315' AND l.ts IS NOT NULL AND t.finished_at IS NOT NULL");
  ASSERT_GT(std::stoi(*r[0][0]), 0);
  EXPECT_EQ(r[0][1], r[0][0]) << "log lines before their task started";
  EXPECT_EQ(r[0][2], r[0][0]) << "log lines after their task finished";
}

// A store whose runs span days (BenchFlow: a run every 20-90 minutes; 30 runs cover two days): each
// window ends inside a day that has runs on both sides of the boundary.
TEST(TimesOverDays, LastDaysAndPerDayCountsAgreeWithJulianday) {
  TempDir dir;
  storegen::GenerateOptions options;
  options.out_dir = dir.path();
  options.runs = 30;
  storegen::generate_store(options);
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.r USING runs(root=" + quote(dir.path().string()) + ")");
  auto n = [&](const std::string& sql) { return std::stoul(*db.scalar(sql)); };
  const std::string now = "(SELECT max(created_at) FROM r)";
  for (const char* window : {"-1 days", "-12 hours", "-6 hours"}) {
    SCOPED_TRACE(window);
    const size_t by_text = n("SELECT count(*) FROM r WHERE created_at > datetime(" + now + ", '" + window + "')");
    // julianday compares instants, whatever their text: the reference.
    EXPECT_EQ(by_text, n("SELECT count(*) FROM r WHERE julianday(created_at) > julianday(datetime(" + now + ", '" + window + "'))"));
    // The boundary day has runs before the boundary, so a wrong text comparison would show.
    EXPECT_LT(by_text, n("SELECT count(*) FROM r WHERE date(created_at) >= date(" + now + ", '" + window + "')"));
    EXPECT_GT(by_text, 0u);
  }
  // Per day: each day's group is exactly the runs between its midnight and the next.
  auto days = db.query("SELECT date(created_at), count(*) FROM r GROUP BY date(created_at) ORDER BY 1");
  ASSERT_GE(days.size(), 2u);
  size_t total = 0;
  for (auto& day : days) {
    SCOPED_TRACE(*day[0]);
    EXPECT_EQ(*day[1], std::to_string(n("SELECT count(*) FROM r WHERE created_at >= " + quote(*day[0]) +
                                        " AND created_at < date(" + quote(*day[0]) + ", '+1 day')")));
    total += std::stoul(*day[1]);
  }
  EXPECT_EQ(total, 30u);
}

}  // namespace
}  // namespace mfsql::testing
