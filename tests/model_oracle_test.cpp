// Walks oracle-model.json of both real-Metaflow fixtures (metaflow-local, metaflow-code) — what
// Metaflow's own client reports for the rest of its object model — and the `attempts` and
// `parameters_task` entries of their oracle.json, and compares each field with mfsql's answer.
//
// The harness is a table: each FieldCheck names an oracle field at one level and the SQL that
// answers it for every object of that level at once, as (key, value) rows. The key is the
// object's pathspec (an attempt's is "pathspec#N"). Every object the oracle has must come back,
// no other. To check another field, add one line to kChecks (and a Level walk if it is new).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

// Where an oracle field lives, and so which objects a check walks.
enum class Level {
  kFlow, kRun, kStep, kTask,  // oracle-model.json: flows[], runs[], steps[], tasks[]
  kAttempt,                   // oracle.json: a task's attempts[] (a task without is its own attempt 0)
  kParameters,                // oracle.json: a run's parameters_task artifacts, minus `name`
};

// How a cell is read to compare with the oracle's JSON value.
enum class As {
  kJson,       // the cell parsed as JSON
  kInteger,    // an integer
  kText,       // a string
  kBool,       // 0/1 against true/false
  kTime,       // mfsql's "YYYY-MM-DD HH:MM:SS.SSS" against the oracle's isoformat, to the millisecond
  kException,  // the oracle's str(exception) against the exception column's stacktrace
};

struct FieldCheck {
  Level level;
  const char* oracle_field;
  const char* sql;  // (key, value) for every object; tables are m_<name> over the fixture
  As as;
};

const FieldCheck kChecks[] = {
    // issue 14, parts 1, 4 (h14common)
    {Level::kFlow, "path_components", "SELECT pathspec, path_components FROM m_flows", As::kJson},
    {Level::kRun, "path_components", "SELECT pathspec, path_components FROM m_runs", As::kJson},
    {Level::kStep, "path_components", "SELECT pathspec, path_components FROM m_steps", As::kJson},
    {Level::kTask, "path_components", "SELECT pathspec, path_components FROM m_tasks", As::kJson},
    {Level::kTask, "stdout_size", "SELECT pathspec, stdout_size FROM m_tasks", As::kInteger},
    {Level::kTask, "stderr_size", "SELECT pathspec, stderr_size FROM m_tasks", As::kInteger},
    {Level::kTask, "runtime_name", "SELECT pathspec, runtime_name FROM m_tasks", As::kText},
    {Level::kTask, "current_attempt", "SELECT pathspec, attempt FROM m_tasks", As::kInteger},
    // issue 14, part 5: Task(pathspec, attempt=N)
    {Level::kAttempt, "successful", "SELECT pathspec || '#' || attempt, successful FROM m_task_attempts", As::kBool},
    {Level::kAttempt, "finished", "SELECT pathspec || '#' || attempt, finished FROM m_task_attempts", As::kBool},
    {Level::kAttempt, "finished_at", "SELECT pathspec || '#' || attempt, finished_at FROM m_task_attempts", As::kTime},
    {Level::kAttempt, "exception", "SELECT pathspec || '#' || attempt, exception FROM m_task_attempts", As::kException},
    // issue 14, part 8
    {Level::kParameters, "parameters", "SELECT pathspec, parameters FROM m_runs", As::kJson},
};

const char* const kTables[] = {"flows", "runs", "steps", "tasks", "task_attempts"};

// The oracle's objects of one level, by key.
std::map<std::string, json> objects_at(Level level, const json& model, const json& oracle) {
  std::map<std::string, json> out;
  for (auto& flow : model["flows"]) {
    if (level == Level::kFlow) out[flow["pathspec"]] = flow;
    for (auto& run : flow["runs"]) {
      if (level == Level::kRun) out[run["pathspec"]] = run;
      for (auto& step : run["steps"]) {
        if (level == Level::kStep) out[step["pathspec"]] = step;
        for (auto& task : step["tasks"])
          if (level == Level::kTask) out[task["pathspec"]] = task;
      }
    }
  }
  for (auto& flow : oracle["flows"])
    for (auto& run : flow["runs"]) {
      if (level == Level::kParameters) {
        json params = json::object();
        if (run["parameters_task"].is_object())
          for (auto& [name, artifact] : run["parameters_task"]["artifacts"].items())
            if (name != "name") params[name] = artifact["value"];  // the flow's name, not a parameter
        out[run["pathspec"]] = json{{"parameters", run["parameters_task"].is_object() ? params : json()}};
      }
      if (level != Level::kAttempt) continue;
      for (auto& step : run["steps"])
        for (auto& task : step["tasks"]) {
          const std::string ps = task["pathspec"];
          if (!task.contains("attempts")) {
            out[ps + "#0"] = task;  // never retried: Task(pathspec) is Task(pathspec, attempt=0)
            continue;
          }
          for (auto& attempt : task["attempts"]) out[ps + "#" + std::to_string(attempt["attempt"].get<int>())] = attempt;
        }
    }
  return out;
}

// The oracle's value of `field` for one object: a field the client raised on (`<field>_error`)
// is what mfsql gives as NULL.
json expected_value(const json& object, const std::string& field) {
  if (object.contains(field)) return object[field];
  EXPECT_TRUE(object.contains(field + "_error")) << "the oracle has neither " << field << " nor " << field << "_error";
  return nullptr;
}

// The cell as the oracle would spell it.
json actual_value(const Cell& cell, As as) {
  if (!cell) return nullptr;
  switch (as) {
    case As::kJson: return json::parse(*cell);
    case As::kInteger: return std::stoll(*cell);
    case As::kText: return *cell;
    case As::kBool: return *cell == "1";
    case As::kTime: return *cell;
    case As::kException: return json::parse(*cell).value("stacktrace", json());
  }
  return nullptr;
}

json as_oracle_spells(const json& expected, As as) {
  if (as == As::kTime && expected.is_string()) {  // "2026-11-27T00:09:29.165000" -> "2026-11-27 00:09:29.165"
    const std::string s = expected.get<std::string>();
    return s.substr(0, 10) + " " + s.substr(11, 12);
  }
  return expected;
}

struct Tally {
  int compared = 0, matched = 0;
};

Tally check_fixture(const std::filesystem::path& fixture) {
  const json model = json::parse(read_file(fixture / "oracle-model.json"));
  const json oracle = json::parse(read_file(fixture / "oracle.json"));
  TestDb db;
  for (const char* t : kTables)
    db.query(std::string("CREATE VIRTUAL TABLE temp.m_") + t + " USING " + t + "(root=" + quote(fixture.string()) + ")");
  Tally tally;
  for (const FieldCheck& check : kChecks) {
    const std::string what = std::string(check.sql) + " (" + check.oracle_field + ", " + fixture.filename().string() + ")";
    std::map<std::string, Cell> answered;
    for (auto& row : db.query(check.sql)) {
      EXPECT_TRUE(answered.emplace(row[0].value_or("NULL"), row[1]).second) << what << ": key twice: " << *row[0];
    }
    const auto objects = objects_at(check.level, model, oracle);
    EXPECT_FALSE(objects.empty()) << what;
    for (auto& [key, object] : objects) {
      ++tally.compared;
      auto it = answered.find(key);
      if (it == answered.end()) {
        ADD_FAILURE() << what << ": no row for " << key;
        continue;
      }
      const json expected = as_oracle_spells(expected_value(object, check.oracle_field), check.as);
      const json actual = actual_value(it->second, check.as);
      if (expected == actual) ++tally.matched;
      else ADD_FAILURE() << what << " of " << key << ": expected " << expected.dump().substr(0, 300) << ", got "
                         << actual.dump().substr(0, 300);
      answered.erase(it);
    }
    for (auto& [key, cell] : answered) ADD_FAILURE() << what << ": a row the oracle does not have: " << key;
  }
  std::printf("[model oracle] %s: compared %d fields, matched %d\n", fixture.filename().c_str(), tally.compared,
              tally.matched);
  return tally;
}

TEST(ModelOracle, EveryFieldOfBothFixturesMatchesTheClient) {
  Tally total;
  for (const auto& fixture : {local_fixture(), shared_dir() / "fixtures" / "metaflow-code"}) {
    Tally t = check_fixture(fixture);
    total.compared += t.compared;
    total.matched += t.matched;
  }
  std::printf("[model oracle] both fixtures: compared %d fields, matched %d\n", total.compared, total.matched);
  EXPECT_GT(total.compared, 0);
  EXPECT_EQ(total.compared, total.matched);
}

}  // namespace
}  // namespace mfsql::testing
