// Compares every artifact, every retried attempt's artifacts, and every task's metadata, logs,
// exception and foreach index in the local fixture's oracle.json (what Metaflow's own client
// returned) with the artifacts, tasks, metadata and logs tables.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "support/test_db.hpp"
#include "support/test_env.hpp"
#include "util/sha1.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Python's len() of a str: code points, not bytes.
size_t code_points(const std::string& utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

std::string sql_list(const std::vector<std::string>& items) {
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : ", ") + quote(i);
  return "(" + out + ")";
}

// For the tables whose pathspec is the task's (tasks, metadata, logs).
std::string where_task(const std::string& pathspec) { return "pathspec = " + quote(pathspec); }
// For artifacts, whose pathspec names the artifact: "flow = 'Flow' AND run_id = ... AND task_id = 'Task'".
std::string where_task_parts(const std::string& pathspec) {
  std::vector<std::string> p;
  for (size_t start = 0;;) {
    size_t slash = pathspec.find('/', start);
    p.push_back(pathspec.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "flow = " + quote(p[0]) + " AND run_id = " + quote(p[1]) + " AND step = " + quote(p[2]) +
         " AND task_id = " + quote(p[3]);
}

class ArtifactsOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = ordered_json::parse(read_file(local_fixture() / "oracle.json"));
    std::string root = quote(local_fixture().string());
    for (auto t : {"artifacts", "tasks", "metadata", "logs"})
      db_.query(std::string("CREATE VIRTUAL TABLE temp.o_") + t + " USING " + t + "(root=" + root + ")");
  }

  void for_each_task(const std::function<void(const ordered_json&)>& visit) {
    for (auto& flow : oracle_["flows"])
      for (auto& run : flow["runs"])
        for (auto& step : run["steps"])
          for (auto& task : step["tasks"]) visit(task);
  }

  // One comparison, counted; the summary says how many matched.
  template <typename A, typename B>
  void same(const A& expected, const B& actual, const std::string& what) {
    ++compared_;
    if (expected == actual) ++matched_;
    else ADD_FAILURE() << what << "\n  expected: " << ::testing::PrintToString(expected)
                       << "\n  actual:   " << ::testing::PrintToString(actual);
  }

  // An oracle value against mfsql's JSON text: parsed equality (key order included), or for
  // values the oracle abbreviated, the length and SHA-1 of the compact text.
  void same_value(const ordered_json& expected, const Cell& actual, const std::string& what) {
    if (!actual) return same(expected.dump(), std::string("NULL"), what);
    if (expected.is_object() && expected.contains("$omitted")) {
      same(expected["json_chars"].get<size_t>(), code_points(*actual), what + " json_chars");
      same(expected["json_sha1"].get<std::string>(), sha1_hex(*actual), what + " json_sha1");
      return;
    }
    same(expected, ordered_json::parse(*actual), what);
  }

  // The text Task.stdout gives, rebuilt from the logs table: each line and a newline.
  std::string log_text(const std::string& pathspec, const std::string& stream, std::optional<int> attempt) {
    std::string sql = "SELECT line FROM o_logs WHERE " + where_task(pathspec) + " AND stream = " + quote(stream);
    if (attempt) sql += " AND attempt = " + std::to_string(*attempt);
    std::string text;
    for (auto& r : db_.query(sql + " ORDER BY line_no")) text += r[0].value_or("") + "\n";
    return text;
  }

  TestDb db_;
  ordered_json oracle_;
  int compared_ = 0, matched_ = 0;
};

TEST_F(ArtifactsOracleTest, EveryArtifactMatchesTheClient) {
  int artifacts = 0;
  for_each_task([&](const ordered_json& task) {
    const std::string tp = task["pathspec"];
    std::vector<std::string> private_names;
    for (auto& [name, _] : task["private_artifacts"].items()) private_names.push_back(name);
    // Public ones as a scan lists them (by flow/run/step/task), private ones with private = 1.
    auto rows = db_.query("SELECT name, sha, size, python_type, value, attempt, pathspec FROM o_artifacts WHERE " +
                          where_task_parts(tp));
    auto private_rows = db_.query("SELECT name, sha, size, python_type, value, attempt, pathspec FROM o_artifacts WHERE " +
                                  where_task_parts(tp) + " AND private = 1 AND name IN " + sql_list(private_names));
    std::map<std::string, std::vector<Cell>> by_name;
    for (auto* set : {&rows, &private_rows})
      for (auto& r : *set) by_name[*r[0]] = r;
    same(task["artifacts"].size(), rows.size(), tp + " public artifact count");
    same(private_names.size(), private_rows.size(), tp + " private artifact count");
    for (auto* kind : {"artifacts", "private_artifacts"}) {
      for (auto& [name, a] : task[kind].items()) {
        const std::string ap = a["pathspec"];
        ++artifacts;
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          same(ap, std::string("(no row)"), ap);
          continue;
        }
        auto& r = it->second;
        same(Cell(a["sha"].get<std::string>()), r[1], ap + " sha");
        same(Cell(std::to_string(a["size"].get<int64_t>())), r[2], ap + " size");
        same(Cell(a["type"].get<std::string>()), r[3], ap + " python_type");
        same(Cell(ap), r[6], ap + " pathspec");
        if (a.contains("load_error")) same(Cell(), r[4], ap + " value of an unloadable artifact");
        else same_value(a["value"], r[4], ap + " value");
      }
    }
  });
  std::cout << "[artifacts] " << artifacts << " artifacts: compared " << compared_ << " values, matched " << matched_
            << "\n";
  EXPECT_EQ(artifacts, 4583);
  EXPECT_EQ(compared_, matched_);
}

TEST_F(ArtifactsOracleTest, EveryRetriedAttemptMatchesTheClient) {
  int attempts = 0;
  for_each_task([&](const ordered_json& task) {
    if (!task.contains("attempts")) return;
    const std::string tp = task["pathspec"];
    for (auto& attempt : task["attempts"]) {
      const int n = attempt["attempt"];
      const std::string at = tp + " attempt " + std::to_string(n);
      ++attempts;
      std::vector<std::string> private_names;
      for (auto& [name, _] : attempt["private_artifact_shas"].items()) private_names.push_back(name);
      const std::string where = where_task_parts(tp) + " AND attempt = " + std::to_string(n);
      std::map<std::string, std::string> shas, private_shas;
      for (auto& r : db_.query("SELECT name, sha, attempt FROM o_artifacts WHERE " + where)) {
        shas[*r[0]] = *r[1];
        same(Cell(std::to_string(n)), r[2], at + " " + *r[0] + " attempt column");
      }
      for (auto& r : db_.query("SELECT name, sha FROM o_artifacts WHERE " + where + " AND private = 1 AND name IN " +
                               sql_list(private_names)))
        private_shas[*r[0]] = *r[1];
      same(attempt["artifact_shas"].get<std::map<std::string, std::string>>(), shas, at + " artifact shas");
      same(attempt["private_artifact_shas"].get<std::map<std::string, std::string>>(), private_shas,
           at + " private artifact shas");
      // Logs of that attempt, as Task(pathspec, attempt=N).stdout gives them.
      same(attempt["stdout"].get<std::string>(), log_text(tp, "stdout", n), at + " stdout");
      same(attempt["stderr"].get<std::string>(), log_text(tp, "stderr", n), at + " stderr");
      auto exception = db_.scalar("SELECT value FROM o_artifacts WHERE " + where + " AND private = 1 AND name = '_exception'");
      if (attempt["exception"].is_null()) {
        same(std::string("null"), exception.value_or("NULL"), at + " exception");
      } else {
        auto v = json::parse(exception.value_or("null"));
        same(attempt["exception"].get<std::string>(), v["attrs"]["stacktrace"].is_string()
                                                           ? v["attrs"]["stacktrace"].get<std::string>()
                                                           : v.dump(),
             at + " exception");
      }
    }
  });
  std::cout << "[artifacts] " << attempts << " retried attempts: compared " << compared_ << " values, matched "
            << matched_ << "\n";
  EXPECT_EQ(attempts, 11);
  EXPECT_EQ(compared_, matched_);
}

// str(MetaflowExceptionWrapper): its stacktrace, or "[no stacktrace]\n<type>: <message>".
std::string wrapper_text(const json& e) {
  if (e["stacktrace"].is_string() && !e["stacktrace"].get<std::string>().empty()) return e["stacktrace"];
  return "[no stacktrace]\n" + e["type"].get<std::string>() + ": " + e["message"].get<std::string>();
}

// How traceback prints an exception type: builtins and __main__ classes without their module.
std::string printed_type(const std::string& type) {
  for (const char* prefix : {"builtins.", "__main__."})
    if (type.rfind(prefix, 0) == 0) return type.substr(std::string(prefix).size());
  return type;
}

TEST_F(ArtifactsOracleTest, EveryTasksLogsMetadataExceptionAndIndexMatchTheClient) {
  int tasks = 0;
  for_each_task([&](const ordered_json& task) {
    const std::string tp = task["pathspec"];
    ++tasks;
    auto rows = db_.query("SELECT stdout, stderr, metadata, exception, foreach_index FROM o_tasks WHERE " + where_task(tp));
    if (rows.size() != 1) return same(1u, rows.size(), tp + " rows");
    auto& r = rows[0];
    same(Cell(task["stdout"].get<std::string>()), r[0], tp + " stdout");
    same(Cell(task["stderr"].get<std::string>()), r[1], tp + " stderr");
    same(json(task["metadata_dict"]), json::parse(r[2].value_or("null")), tp + " metadata_dict");
    same(task["index"].is_null() ? Cell() : Cell(task["index"].dump()), r[4], tp + " foreach_index");
    // The logs table gives the same text, line by line.
    same(task["stdout"].get<std::string>(), log_text(tp, "stdout", std::nullopt), tp + " logs stdout");
    same(task["stderr"].get<std::string>(), log_text(tp, "stderr", std::nullopt), tp + " logs stderr");
    if (task["exception"].is_null()) return same(Cell(), r[3], tp + " exception");
    json e = json::parse(r[3].value_or("null"));
    if (!e.is_object()) return same(std::string("{type, message, stacktrace}"), e.dump(), tp + " exception");
    same(task["exception"].get<std::string>(), wrapper_text(e), tp + " exception text");
    // exception_type is the wrapper's class: the _exception artifact's python_type.
    same(Cell(task["exception_type"].get<std::string>()),
         db_.scalar("SELECT python_type FROM o_artifacts(1) WHERE pathspec = " + quote(tp + "/_exception")),
         tp + " exception_type");
    // The wrapped type and message are what the traceback's last line says.
    std::string last = printed_type(e["type"]) + ": " + e["message"].get<std::string>() + "\n";
    const std::string trace = task["exception"];
    same(true, trace.size() >= last.size() && trace.compare(trace.size() - last.size(), last.size(), last) == 0,
         tp + " exception type and message end the traceback");
  });
  std::cout << "[tasks] " << tasks << " tasks: compared " << compared_ << " values, matched " << matched_ << "\n";
  EXPECT_EQ(tasks, 235);
  EXPECT_EQ(compared_, matched_);
}

// The metadata table holds each task's own entries; newest value per name, plus a resumed task's
// origin entries for names it lacks, is the client's metadata_dict.
TEST_F(ArtifactsOracleTest, MetadataRowsRebuildTheClientsMetadataDict) {
  auto dict_of = [&](const std::string& pathspec) {
    json dict = json::object();
    for (auto& r : db_.query("SELECT field_name, value FROM o_metadata WHERE " + where_task(pathspec) +
                             " ORDER BY created_at")) {
      json v = *r[1];
      if (*r[0] == "foreach-stack") v = json::parse(*r[1]);  // stored as a JSON list, not text
      dict[*r[0]] = v;
    }
    return dict;
  };
  int entries = 0;
  for_each_task([&](const ordered_json& task) {
    const std::string tp = task["pathspec"];
    json dict = dict_of(tp);
    if (task["origin_pathspec"].is_string()) {
      json origin = dict_of(task["origin_pathspec"]);
      for (auto& [name, v] : origin.items())
        if (!dict.contains(name)) dict[name] = v;
    }
    same(json(task["metadata_dict"]), dict, tp + " metadata rows");
    entries += std::stoi(*db_.scalar("SELECT count(*) FROM o_metadata WHERE " + where_task(tp)));
    // Every entry this client version writes carries its attempt, except _parameters' graph ends.
    same(Cell("0"), db_.scalar("SELECT count(*) FROM o_metadata WHERE " + where_task(tp) +
                               " AND attempt IS NULL AND field_name NOT IN ('start_step', 'end_step')"),
         tp + " attempt tags");
  });
  // The retried task's attempts show up, each with its own attempt_ok.
  auto attempts = db_.query("SELECT attempt, value FROM o_metadata WHERE pathspec = 'RetryCatchFlow/1795738169163970/flaky/2'"
                            " AND field_name = 'attempt_ok' ORDER BY created_at");
  same(Rows{{Cell("0"), Cell("False")}, {Cell("1"), Cell("False")}, {Cell("2"), Cell("False")}}, attempts,
       "attempt_ok per attempt");
  std::cout << "[metadata] " << entries << " entries: compared " << compared_ << " values, matched " << matched_ << "\n";
  EXPECT_EQ(compared_, matched_);
}

TEST_F(ArtifactsOracleTest, LogsGrepARun) {
  const std::string where = "flow = 'RetryCatchFlow' AND run_id = '1795738169163970'";
  auto hits = db_.query("SELECT step, task_id, attempt, stream, source, ts FROM o_logs WHERE " + where +
                        " AND line LIKE '%RuntimeError%'");
  ASSERT_FALSE(hits.empty());
  for (auto& h : hits) {
    EXPECT_EQ(h[3], Cell("stderr"));
    EXPECT_EQ(h[4], Cell("runtime"));
    ASSERT_TRUE(h[5]);
    EXPECT_EQ(h[5]->size(), 23u) << *h[5];  // 2026-11-27 00:09:30.819, as every time column
    EXPECT_EQ((*h[5])[10], ' ') << *h[5];
  }
  // The merged order is the timestamps' order.
  EXPECT_EQ(*db_.scalar("SELECT count(*) FROM o_logs a JOIN o_logs b USING (flow, run_id, step, task_id, stream) "
                        "WHERE a.flow = 'RetryCatchFlow' AND a.run_id = '1795738169163970' "
                        "AND b.line_no = a.line_no + 1 AND b.ts < a.ts"),
            "0");
  EXPECT_GT(std::stoi(*db_.scalar("SELECT count(*) FROM o_logs WHERE " + where)), 0);
}

}  // namespace
}  // namespace mfsql::testing
