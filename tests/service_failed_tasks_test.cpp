// The unsuccessful tasks of a step (`tasks.successful = 0`) from the recorded service: the
// candidates are the step's tasks that filtered_tasks does not name for attempt_ok True, each
// then checked; the step's whole artifact listing is never read. Answers equal those with the
// pushdown defeated (`+successful = 0`: an expression, which SQLite never hands a table). The
// rule (model/failed_tasks.hpp), both sides: AttemptOkRule below; @catch and killed tasks on the
// real service, at two sizes: live_failed_tasks_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/failed_tasks.hpp"
#include "support/service_fixture.hpp"

namespace mfsql::testing {
namespace {

class ServiceFailedTasks : public ServiceTest {};

bool any_target_has(const std::vector<std::string>& targets, const std::string& part) {
  for (auto& t : targets)
    if (t.find(part) != std::string::npos) return true;
  return false;
}

// The recorded steps with filtered_tasks?metadata_field_name=attempt_ok&pattern=True: a failed
// task (FailFlow), ten successful ones (ForeachFlow), one that failed twice, then succeeded (RetryFlow).
TEST_F(ServiceFailedTasks, CandidatesComeFromTheServerAndAreChecked) {
  struct Step {
    const char *flow, *run, *step;
    size_t failed;
  };
  for (const Step& s : {Step{"FailFlow", "5", "explode", 1}, Step{"ForeachFlow", "4", "process", 0},
                        Step{"RetryFlow", "6", "flaky", 0}}) {
    const std::string where = std::string(" FROM s_tasks WHERE flow = '") + s.flow + "' AND run_id = '" + s.run +
                              "' AND step = '" + s.step + "'";
    TestDb db;
    create_tables(db);
    Cost c = run(db, "SELECT task_id" + where + " AND successful = 0 ORDER BY task_id");
    const auto targets = server_->targets();
    TestDb plain_db;
    create_tables(plain_db);
    Rows expected = plain_db.query("SELECT task_id" + where + " AND +successful = 0 ORDER BY task_id");
    EXPECT_EQ(c.rows, expected) << s.flow;
    EXPECT_EQ(c.rows.size(), s.failed) << s.flow;
    EXPECT_TRUE(any_target_has(targets, "/filtered_tasks?metadata_field_name=attempt_ok&pattern=True"))
        << s.flow << ": " << ::testing::PrintToString(targets);
    // Never the step's listing of every task's artifacts; each candidate's own, one request each.
    EXPECT_FALSE(any_target_has(targets, std::string("/steps/") + s.step + "/artifacts")) << s.flow;
    // The task list, the graph (the _parameters step's artifacts), the filter, the candidates.
    EXPECT_EQ(c.requests, 3 + static_cast<int>(s.failed)) << s.flow << ": " << ::testing::PrintToString(targets);
  }
}

// Any term that drops the successful tasks narrows; other terms read every task, as before.
TEST_F(ServiceFailedTasks, OnlyTermsThatDropSuccessfulTasksNarrow) {
  const std::string where = " FROM s_tasks WHERE flow = 'FailFlow' AND run_id = '5' AND step = 'explode'";
  for (const char* term : {"successful = 0", "successful < 1", "successful != 1", "successful <= 0.5"}) {
    TestDb db;
    create_tables(db);
    Cost c = run(db, "SELECT task_id" + where + " AND " + term);
    EXPECT_EQ(c.rows, db.query("SELECT task_id" + where + " AND +" + term)) << term;
    EXPECT_TRUE(any_target_has(server_->targets(), "/filtered_tasks")) << term;
  }
  for (const char* term : {"successful = 1", "successful >= 0", "+successful = 0"}) {
    TestDb db;
    create_tables(db);
    run(db, "SELECT task_id" + where + " AND " + term);
    EXPECT_FALSE(any_target_has(server_->targets(), "/filtered_tasks")) << term;
  }
}

// A step's artifact listing read for some names keeps only their records (and `name`), under a key
// of its own: questions about other names, or all of them, on the same connection get the whole
// listing, and every answer equals a fresh connection's.
TEST_F(ServiceFailedTasks, AListingKeptForSomeNamesAnswersOnlyForThem) {
  const std::string step = " FROM s_artifacts WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process'";
  const std::string questions[] = {
      "SELECT task_id, value" + step + " AND name = 'square' ORDER BY task_id",
      "SELECT task_id, value" + step + " AND name = 'item' ORDER BY task_id",
      "SELECT task_id, name" + step + " ORDER BY task_id, name",
      "SELECT task_id, successful FROM s_tasks WHERE flow = 'ForeachFlow' AND run_id = '4' AND step = 'process' "
      "ORDER BY task_id",
  };
  TestDb shared;
  create_tables(shared);
  for (const std::string& q : questions) {
    Cost c = run(shared, q);
    const auto targets = server_->targets();
    TestDb fresh;
    create_tables(fresh);
    EXPECT_EQ(c.rows, fresh.query(q)) << q;
    EXPECT_FALSE(c.rows.empty()) << q;
    EXPECT_LE(c.requests, 2) << q << ": " << ::testing::PrintToString(targets);
  }
  // Asked again, the names' listing is at hand.
  EXPECT_EQ(run(shared, questions[0]).requests, 0);
}

// The rule's two sides, on the graphs Metaflow records (_graph_info["steps"][step]["decorators"]).
TEST(AttemptOkRule, HoldsOnlyForStepsWhoseDecoratorsLeaveExceptionsAlone) {
  auto graph = [](const std::string& decorators) {
    return nlohmann::ordered_json::parse(R"({"steps": {"process": {"type": "linear", "decorators": )" + decorators + "}}}");
  };
  EXPECT_TRUE(client::attempt_ok_means_success(graph("[]"), "process"));
  EXPECT_TRUE(client::attempt_ok_means_success(graph(R"([{"name": "retry", "attributes": {"times": 2}}, {"name": "resources"}])"), "process"));
  EXPECT_FALSE(client::attempt_ok_means_success(graph(R"([{"name": "catch", "attributes": {"var": "e"}}])"), "process"));
  EXPECT_FALSE(client::attempt_ok_means_success(graph(R"([{"name": "retry"}, {"name": "catch"}])"), "process"));
  // A user's own step decorator may handle the exception too; an unreadable entry says nothing.
  EXPECT_FALSE(client::attempt_ok_means_success(graph(R"([{"name": "my_decorator"}])"), "process"));
  EXPECT_FALSE(client::attempt_ok_means_success(graph(R"(["retry"])"), "process"));
  EXPECT_FALSE(client::attempt_ok_means_success(graph("[]"), "other"));  // a step the graph does not know
  EXPECT_FALSE(client::attempt_ok_means_success(nlohmann::ordered_json::parse("[]"), "process"));
}

}  // namespace
}  // namespace mfsql::testing
