// The metadata service when things go wrong, and the HTTP client and provider below the tables:
// each injected fault gives its documented behaviour, and no secret shows in any message or trace.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "net/http_client.hpp"
#include "providers/service/service_metadata.hpp"
#include "support/service_fixture.hpp"
#include "util/error.hpp"

namespace mfsql::testing {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kRuns = "/flows/LinearFlow/runs";
const std::string kQuery = "SELECT run_id FROM s_runs WHERE flow = 'LinearFlow'";

FaultRule fault(Fault kind, std::string prefix = "", int times = -1, int delay_ms = 0, int retry_after_s = -1) {
  FaultRule rule{kind, std::move(prefix), times, delay_ms, retry_after_s, ""};
  return rule;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class ServiceFaults : public ServiceTest {
 protected:
  // The query's error (or "" when it answers), timed; the server's request count for kRuns.
  struct Outcome {
    std::string error;
    double ms;
    int tries;
  };
  Outcome query_with(FaultRule rule) {
    server_->add_fault(std::move(rule));
    TestDb db;
    create_tables(db);
    auto start = Clock::now();
    std::string err = error_without_secrets(db, kQuery);
    if (getenv("MFSQL_TEST_VERBOSE")) std::printf("    error: %s\n", err.c_str());
    return {err, ms_since(start), requests_for(kRuns)};
  }
};

TEST_F(ServiceFaults, SlowAnswerWithinTheTimeoutIsWaitedFor) {
  auto o = query_with(fault(Fault::Delay, kRuns, 1, 300));
  EXPECT_EQ(o.error, "");
  EXPECT_GE(o.ms, 290);
  EXPECT_EQ(o.tries, 1);
}

TEST_F(ServiceFaults, AnswerSlowerThanTheTimeoutIsRetriedThenStopsAtTheDeadline) {
  env_.set("MFSQL_SERVICE_TIMEOUT_MS", "200");
  env_.set("MFSQL_SERVICE_DEADLINE_MS", "1500");
  auto o = query_with(fault(Fault::Delay, kRuns, -1, 3000));
  EXPECT_TRUE(has(o.error, kRuns) && has(o.error, "MFSQL_SERVICE_")) << o.error;
  EXPECT_GE(o.tries, 2);
  EXPECT_LT(o.ms, 2500);
}

TEST_F(ServiceFaults, ServerErrorNamesUrlStatusAndBodyWithoutRetrying) {
  auto o = query_with(fault(Fault::Error500));
  EXPECT_TRUE(has(o.error, kRuns) && has(o.error, "HTTP 500") && has(o.error, "boom")) << o.error;
  EXPECT_EQ(o.tries, 1);
}

TEST_F(ServiceFaults, UnavailableOnceIsRetried) {
  auto o = query_with(fault(Fault::Unavailable503, kRuns, 1));
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.tries, 2);
}

TEST_F(ServiceFaults, UnavailableAlwaysGivesUpAfterTheRetryCount) {
  env_.set("METAFLOW_SERVICE_RETRY_COUNT", "3");
  auto o = query_with(fault(Fault::Unavailable503, kRuns));
  EXPECT_TRUE(has(o.error, "HTTP 503") && has(o.error, "3 tries")) << o.error;
  EXPECT_EQ(o.tries, 3);
}

TEST_F(ServiceFaults, TooManyRequestsWaitsAsRetryAfterSays) {
  auto o = query_with(fault(Fault::TooMany429, kRuns, 1, 0, 1));
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.tries, 2);
  EXPECT_GE(o.ms, 950);
}

TEST_F(ServiceFaults, RetryAfterBeyondTheDeadlineFailsAtOnce) {
  env_.set("MFSQL_SERVICE_DEADLINE_MS", "2000");
  auto o = query_with(fault(Fault::TooMany429, kRuns, -1, 0, 100));
  EXPECT_TRUE(has(o.error, "asked to retry") && has(o.error, "100 s")) << o.error;
  EXPECT_EQ(o.tries, 1);
  EXPECT_LT(o.ms, 1000);
}

TEST_F(ServiceFaults, ResetConnectionIsRetried) {
  EXPECT_EQ(query_with(fault(Fault::Reset, kRuns, 1)).error, "");
  server_->clear_faults();
  server_->reset_counts();
  env_.set("METAFLOW_SERVICE_RETRY_COUNT", "2");
  auto o = query_with(fault(Fault::Reset, kRuns));
  EXPECT_TRUE(has(o.error, "Could not get") && has(o.error, kRuns) && has(o.error, "2 tries")) << o.error;
}

TEST_F(ServiceFaults, TruncatedBodyIsRetried) {
  auto once = query_with(fault(Fault::Truncated, kRuns, 1));
  EXPECT_EQ(once.error, "");
  EXPECT_EQ(once.tries, 2);
  server_->clear_faults();
  server_->reset_counts();
  env_.set("METAFLOW_SERVICE_RETRY_COUNT", "2");
  auto o = query_with(fault(Fault::Truncated, kRuns));
  EXPECT_TRUE(has(o.error, "Could not get") && has(o.error, kRuns)) << o.error;
}

TEST_F(ServiceFaults, MalformedJsonNamesUrlAndExcerpt) {
  auto o = query_with(fault(Fault::MalformedJson, kRuns));
  EXPECT_TRUE(has(o.error, "not valid JSON") && has(o.error, kRuns) && has(o.error, "[{\"flow_id\": \"LinearFlow\""))
      << o.error;
}

TEST_F(ServiceFaults, RefusedCredentialsNameTheSettings) {
  auto o = query_with(fault(Fault::Unauthorized401));
  EXPECT_TRUE(has(o.error, "refused the credentials") && has(o.error, "METAFLOW_SERVICE_AUTH_KEY") &&
              has(o.error, "METAFLOW_SERVICE_HEADERS"))
      << o.error;
  EXPECT_EQ(o.tries, 1);
}

TEST_F(ServiceFaults, ServiceWithoutUrlOrDatastoreSaysWhatToSet) {
  env_.set("METAFLOW_DEFAULT_METADATA", "service");
  TestDb db;
  EXPECT_TRUE(has(db.error_of("SELECT * FROM runs"), "METAFLOW_SERVICE_URL"));
  TestDb no_store;
  no_store.query("CREATE VIRTUAL TABLE temp.r USING runs(service=" + quote(server_->url()) + ")");
  TempDir empty;
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(empty.path());
  EXPECT_EQ(no_store.scalar("SELECT count(*) FROM r WHERE flow = 'LinearFlow'"), "2");  // metadata alone works
  std::string err = no_store.error_of("SELECT status FROM r WHERE flow = 'LinearFlow'");
  std::filesystem::current_path(old);
  EXPECT_TRUE(has(err, "METAFLOW_DATASTORE_SYSROOT_LOCAL") && has(err, "datastore=")) << err;
}

// ---- below the tables -----------------------------------------------------------------------

std::shared_ptr<net::HttpClient> client(std::shared_ptr<Trace> trace = nullptr) {
  net::HttpOptions o;
  o.headers = {{"x-api-key", kKey}};
  return std::make_shared<net::HttpClient>(o, std::move(trace));
}

TEST_F(ServiceFaults, RequestsRunConcurrentlyOnReusedConnections) {
  auto http = client();
  std::vector<std::string> urls;
  for (const char* f : {"LinearFlow", "BranchFlow", "ForeachFlow", "FailFlow", "RetryFlow", "NoSuchFlow"})
    urls.push_back(server_->url() + "/flows/" + f);
  server_->add_fault(fault(Fault::Delay, "/flows/", -1, 300));
  auto start = Clock::now();
  auto answers = http->get_many(urls, Clock::now() + std::chrono::seconds(10));
  EXPECT_LT(ms_since(start), 6 * 300 / 2);  // one after another would take 1800 ms
  ASSERT_EQ(answers.size(), 6u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[5].status, 404);
  server_->clear_faults();
  server_->reset_counts();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http->get(server_->url() + "/ping", Clock::now() + std::chrono::seconds(5)).body, "pong");
  auto ports = server_->client_ports();
  // One connection for all, but for the server's cap of 5 requests per connection (httplib's default).
  ASSERT_EQ(ports.size(), 5u);
  EXPECT_LE(std::set<int>(ports.begin(), ports.end()).size(), 2u) << "requests opened new connections";
}

TEST_F(ServiceFaults, CancelStopsAWaitWithin100Ms) {
  auto http = client();
  server_->add_fault(fault(Fault::Delay, "/ping", -1, 3000));
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    http->cancel();
  });
  auto start = Clock::now();
  EXPECT_THROW(http->get(server_->url() + "/ping", Clock::now() + std::chrono::seconds(10)), UserError);
  canceller.join();
  EXPECT_LT(ms_since(start), 200 + 250);
  std::atomic<bool> stop{false};
  http->set_interrupt_check([&] { return stop.load(); });
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  start = Clock::now();
  try {
    http->get(server_->url() + "/ping", Clock::now() + std::chrono::seconds(10));
    ADD_FAILURE() << "not interrupted";
  } catch (const UserError& e) {
    EXPECT_TRUE(has(e.what(), "interrupted")) << e.what();
  }
  interrupter.join();
  EXPECT_LT(ms_since(start), 100 + 250);
}

// Ctrl-C in the shell calls sqlite3_interrupt from a signal handler; Python and ODBC from another
// thread. Either way the statement must end at once with SQLITE_INTERRUPT, not when the service answers.
TEST_F(ServiceFaults, SqliteInterruptStopsAQueryWaitingOnTheService) {
  server_->add_fault(fault(Fault::Delay, kRuns, -1, 5000));
  TestDb db;
  create_tables(db);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.handle(), kQuery.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sqlite3_interrupt(db.handle());
  });
  auto start = Clock::now();
  int rc = sqlite3_step(stmt);
  double ms = ms_since(start);
  std::string message = sqlite3_errmsg(db.handle());
  interrupter.join();
  sqlite3_finalize(stmt);
  EXPECT_EQ(rc, SQLITE_INTERRUPT) << message;
  EXPECT_TRUE(has(message, "interrupted")) << message;
  EXPECT_LT(ms, 300 + 400);
  // The connection is usable again: the next statement is not interrupted.
  server_->clear_faults();
  EXPECT_EQ(db.error_of(kQuery), "");
}

TEST_F(ServiceFaults, ProviderFollowsTheServiceRules) {
  auto trace = std::make_shared<Trace>();
  StatementMemo statement;  // one statement runs throughout: read_ahead lasts as long as it
  statement.cursor_opened();
  ServiceMetadata meta({.url = server_->url() + "/"}, client(trace), trace, &statement);
  EXPECT_EQ(meta.describe(), "the metadata service at " + server_->url());
  EXPECT_FALSE(meta.flow("NoSuchFlow"));
  EXPECT_TRUE(meta.runs("NoSuchFlow").empty());
  EXPECT_FALSE(meta.run({"LinearFlow", "999999", {}, {}}));
  EXPECT_FALSE(meta.run({"LinearFlow", "no-such-run", {}, {}}));
  EXPECT_TRUE(meta.steps({"LinearFlow", "999999", {}, {}}).empty());
  EXPECT_FALSE(meta.task({"LinearFlow", "1", "middle", "2"}));  // a task under the wrong step
  EXPECT_FALSE(meta.run({"LinearFlow", "..", {}, {}}));          // never a request
  auto steps = meta.steps({"BranchFlow", "3", {}, {}});          // run_number is a string in steps
  EXPECT_EQ(steps.size(), 6u);
  // The tag filter runs on the server, detected by its X-Limit header.
  server_->reset_counts();
  auto tagged = meta.runs_with_tags("LinearFlow", {"fixture", "team:alpha"}, TagMatch::kAll);
  ASSERT_EQ(tagged.size(), 1u);
  EXPECT_EQ(tagged[0].path.run_id, "1");
  EXPECT_EQ(server_->targets(), std::vector<std::string>{"GET /flows/LinearFlow/runs?_tags:all=fixture,team:alpha"});
  EXPECT_EQ(meta.server_filters(), true);
  EXPECT_TRUE(meta.runs_with_tags("LinearFlow", {"fixture", "added-later"}, TagMatch::kAll).empty());
  // Attempts: the latest by the service's rule, or the one asked for.
  const ObjectPath flaky{"RetryFlow", "6", "flaky", "34"};
  auto ok = meta.artifacts(flaky, std::nullopt, std::string("ok"));
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].attempt, 2);
  EXPECT_TRUE(meta.artifacts(flaky, 0, std::string("ok")).empty());
  auto seen = meta.artifacts(flaky, 1, std::string("attempt_seen"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].attempt, 1);
  EXPECT_EQ(meta.metadata(flaky).size(), meta.metadata(flaky).size());
  // Bulk routes: told that every task's artifacts and metadata are about to be read, the
  // provider answers them with one call each for the whole run.
  const ObjectPath foreach_run{"ForeachFlow", "4", {}, {}};
  std::vector<ObjectPath> foreach_tasks;
  for (auto& s : meta.steps(foreach_run))
    for (auto& t : meta.tasks(s.path)) foreach_tasks.push_back(t.path);
  server_->reset_counts();
  meta.read_ahead({.scope = foreach_run, .artifacts = true, .metadata = true});
  std::set<std::string> task_ids;
  for (auto& t : foreach_tasks)
    for (auto& a : meta.artifacts(t, std::nullopt, std::nullopt)) task_ids.insert(a.task.task_id);
  EXPECT_EQ(server_->requests(), 1);
  EXPECT_EQ(task_ids.size(), 14u);  // _parameters, start, 10 x process, join, end
  size_t entries = 0;
  for (auto& t : foreach_tasks) entries += meta.metadata(t).size();
  EXPECT_GT(entries, 0u);
  EXPECT_EQ(server_->requests(), 2);
  expect_all_recorded();
}

}  // namespace
}  // namespace mfsql::testing
