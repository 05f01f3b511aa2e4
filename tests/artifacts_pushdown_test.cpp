// What the artifacts, metadata and logs tables read (counted in metaflow_trace), the per-connection
// value cap, and rows that stay answerable when a blob is damaged or its encoding is unknown.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "support/test_db.hpp"
#include "support/test_env.hpp"
#include "util/sha1.hpp"

namespace mfsql::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTypesRun = "flow = 'TypesFlow' AND run_id = '1795738050376863'";
const std::string kTypesEnd = "TypesFlow/1795738050376863/end/4";
const std::string kForeachRun = "flow = 'BranchForeachFlow' AND run_id = '1795738070029733'";

class ArtifactsPushdownTest : public ::testing::Test {
 protected:
  void SetUp() override { attach(local_fixture()); }
  void attach(const fs::path& root) {
    for (auto t : {"artifacts", "tasks", "metadata", "logs"}) {
      db_.query(std::string("DROP TABLE IF EXISTS temp.p_") + t);
      db_.query(std::string("CREATE VIRTUAL TABLE temp.p_") + t + " USING " + t + "(root=" + quote(root.string()) + ")");
    }
  }
  int count(const std::string& sql) { return std::stoi(*db_.scalar(sql)); }
  TestDb db_;
};

TEST_F(ArtifactsPushdownTest, NamesAndSizesOpenNoBlobAndEachDataIndexOnce) {
  const std::string sql = "SELECT name, size, python_type FROM p_artifacts WHERE " + kTypesRun;
  const int total = db_.files_opened_by(sql);
  EXPECT_EQ(db_.files_opened_by(sql, "%/data/%"), 0) << "no blob (and no blob sidecar) is opened";
  const int tasks = count("SELECT count(*) FROM p_tasks WHERE " + kTypesRun);
  EXPECT_EQ(db_.files_opened_by(sql, "%.data.json"), tasks) << "one data.json per task, not per artifact";
  EXPECT_EQ(db_.files_opened_by("SELECT name, sha, encoding FROM p_artifacts WHERE " + kTypesRun, "%.data.json"), 0)
      << "registrations alone answer name, sha and encoding";
  std::cout << "[pushdown] SELECT name, size, python_type FROM artifacts over " << tasks << " tasks opened " << total
            << " files, 0 blobs\n";
}

// Expensive columns are computed only for rows the WHERE clause keeps: SQLite asks a virtual table
// for a row's columns once its own WHERE terms passed. With and without ORDER BY (which computes
// every kept row's result columns before sorting), and with a term the table cannot check.
TEST_F(ArtifactsPushdownTest, ValuesAreReadOnlyForKeptRows) {
  const std::string where = kTypesRun + " AND step = 'end' AND size < 10";
  const int kept = count("SELECT count(*) FROM p_artifacts WHERE " + where);
  const int all = count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND step = 'end'");
  ASSERT_GT(kept, 0);
  ASSERT_GT(all, 3 * kept);
  auto blobs_read = [&](const std::string& sql) {
    TestDb fresh;  // values are cached by sha for the connection: each query starts without them
    fresh.query("CREATE VIRTUAL TABLE temp.p_artifacts USING artifacts(root=" + quote(local_fixture().string()) + ")");
    auto rows = fresh.query(sql);
    EXPECT_EQ(static_cast<int>(rows.size()), kept) << sql;
    return std::stoi(*fresh.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND "
                                   "cache_hit = 0 AND target LIKE '%/data/%' AND target NOT LIKE '%\\_meta' ESCAPE '\\'"));
  };
  for (const std::string sql : {"SELECT name, value FROM p_artifacts WHERE " + where,
                                "SELECT name, value FROM p_artifacts WHERE " + where + " ORDER BY name",
                                "SELECT name, hex(blob) FROM p_artifacts WHERE " + where + " AND length(name) > 0",
                                "SELECT name, value FROM p_artifacts WHERE " + where + " AND name LIKE '%'"}) {
    EXPECT_LE(blobs_read(sql), kept) << sql;
  }
}

// The same for tasks: a log is read only for a kept task.
TEST_F(ArtifactsPushdownTest, LogsAreReadOnlyForKeptTasks) {
  const std::string where = kForeachRun + " AND foreach_index = 1";
  const int kept = count("SELECT count(*) FROM p_tasks WHERE " + where);
  const int tasks = count("SELECT count(*) FROM p_tasks WHERE " + kForeachRun);
  ASSERT_GT(kept, 0);
  ASSERT_GT(tasks, 3 * kept);
  db_.query("SELECT metaflow_trace_clear()");
  EXPECT_EQ(static_cast<int>(db_.query("SELECT task_id, stdout FROM p_tasks WHERE " + where).size()), kept);
  EXPECT_LE(count("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0 AND "
                  "target LIKE '%stdout.log'"),
            2 * kept);  // the runtime's and the task's log of each kept task
}

// data.json records str(type(v)), which has no module for an Enum member (`<enum 'Color'>`):
// python_type then comes from the pickle's own class, read only when the column is asked for.
TEST_F(ArtifactsPushdownTest, PythonTypeOfAnEnumNamesItsModule) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  const fs::path task = store / ".metaflow" / "TypesFlow" / "1795738050376863" / "end" / "4";
  auto index = json::parse(read_file(task / "0.data.json"));
  const std::string sha = index["objects"]["ratio"];
  index["info"]["ratio"]["type"] = "<enum 'Color'>";
  std::ofstream(task / "0.data.json", std::ios::trunc) << index.dump();
  const fs::path blob = store / ".metaflow" / "TypesFlow" / "data" / sha.substr(0, 2) / sha;
  std::ofstream(blob, std::ios::binary | std::ios::trunc)
      << read_file(fs::path(MFSQL_SOURCE_DIR) / "tests" / "pickles" / "enum_member.p4.pkl");
  std::ofstream(blob.string() + "_meta", std::ios::trunc) << R"({"cas_raw": true, "cas_version": 1})";
  attach(store);
  const std::string where = "pathspec = 'TypesFlow/1795738050376863/end/4/ratio'";
  EXPECT_EQ(db_.files_opened_by("SELECT name, size FROM p_artifacts WHERE " + where, "%/data/%"), 0);
  EXPECT_EQ(db_.scalar("SELECT python_type FROM p_artifacts WHERE " + where), "shop.models.Color");
  EXPECT_EQ(db_.scalar("SELECT python_type FROM p_artifacts WHERE pathspec = 'TypesFlow/1795738050376863/end/4/name'"),
            "builtins.str");
}

TEST_F(ArtifactsPushdownTest, ValueOfOneNameOpensOneBlobPerTask) {
  const std::string where = kForeachRun + " AND step = 'compute' AND name = 'square'";
  const int tasks = count("SELECT count(*) FROM p_artifacts WHERE " + where);
  const int distinct = count("SELECT count(DISTINCT sha) FROM p_artifacts WHERE " + where);
  ASSERT_EQ(tasks, 30);
  const std::string sql = "SELECT value FROM p_artifacts WHERE " + where;
  const int total = db_.files_opened_by(sql);
  // Each blob and its _meta sidecar, once: a value seen once is cached by sha for the connection.
  EXPECT_EQ(count("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND status = 0 AND cache_hit = 0 "
                  "AND target LIKE '%/data/%'"),
            2 * distinct);
  std::cout << "[pushdown] SELECT value FROM artifacts WHERE name='square' over " << tasks << " tasks (" << distinct
            << " distinct blobs) opened " << total << " files\n";
  EXPECT_EQ(db_.files_opened_by(sql, "%/data/%"), 0) << "the second time every value comes from the cache";
}

TEST_F(ArtifactsPushdownTest, FirstValueReadOpensExactlyTheBlobAndItsSidecar) {
  const std::string sql = "SELECT value FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/int_small");
  EXPECT_EQ(db_.files_opened_by(sql, "%/data/%"), 2);
  db_.query("SELECT metaflow_trace_clear()");
  db_.query("SELECT value FROM p_artifacts WHERE " + kForeachRun + " AND step = 'inner' AND name = 'cell'");
  auto targets = db_.query("SELECT target FROM metaflow_trace WHERE kind = 'file' AND target LIKE '%/data/%'");
  std::set<std::string> blobs;
  for (auto& t : targets) blobs.insert(t[0]->substr(0, t[0]->find("_meta")));
  EXPECT_EQ(targets.size(), 2 * blobs.size()) << "each blob once, with its sidecar";
  EXPECT_EQ(blobs.size(), 12u) << "the 12 inner tasks hold 12 different cells";
}

// Private artifacts (`_task_ok`) only with private = 1, the same whatever the plan; `attempt` is
// an argument too: = and IN select attempts, other comparisons are an error, never a silent
// "the shown attempt only".
TEST_F(ArtifactsPushdownTest, PrivateArtifactsAndAttemptsAreArguments) {
  // Every task has a _task_ok, the private _parameters step's task too.
  const int tasks = count("SELECT count(*) FROM p_tasks WHERE " + kTypesRun + " AND private = 1");
  ASSERT_EQ(tasks, count("SELECT count(*) FROM p_tasks WHERE " + kTypesRun) + 1);
  EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND name LIKE '\\_%' ESCAPE '\\'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND name = '_task_ok'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND name = '_task_ok' AND private = 1"), tasks);
  for (const std::string& term : {"(name = '_task_ok' OR name LIKE 'st%')", "name IN ('_task_ok', 'str_long')",
                                  "name GLOB '_t*'", "+name = '_task_ok'"}) {
    SCOPED_TRACE(term);
    EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND name = '_task_ok' AND " + term), 0);
    EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND private = 1 AND name = '_task_ok' AND " +
                    term),
              tasks);
  }
  EXPECT_EQ(db_.scalar("SELECT value FROM p_artifacts(1) WHERE pathspec = " + quote(kTypesEnd + "/_task_ok")), "true");
  EXPECT_EQ(db_.scalar("SELECT private FROM p_artifacts(1) WHERE pathspec = " + quote(kTypesEnd + "/_task_ok")), "1");
  EXPECT_NE(db_.error_of("SELECT * FROM p_artifacts WHERE " + kTypesRun + " AND attempt >= 0").find("attempt is an argument"),
            std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND attempt IN (0, 1, 2)"),
            count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND attempt = 0") +
                count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND attempt = 1") +
                count("SELECT count(*) FROM p_artifacts WHERE " + kTypesRun + " AND attempt = 2"));
  std::string plan;
  for (auto& r : db_.query("EXPLAIN QUERY PLAN SELECT value FROM p_artifacts WHERE pathspec = 'a/b/c/d/e' AND attempt = 1"))
    plan += *r[3];
  EXPECT_NE(plan.find("pathspec=? attempt=?"), std::string::npos) << plan;
}

TEST_F(ArtifactsPushdownTest, LogsAndMetadataReadOnlyWhatIsAsked) {
  const std::string task = "pathspec = " + quote(kTypesEnd);
  EXPECT_EQ(db_.files_opened_by("SELECT line FROM p_logs WHERE " + task + " AND stream = 'stdout'", "%stderr%"), 0);
  EXPECT_EQ(db_.files_opened_by("SELECT line FROM p_logs WHERE " + task + " AND stream = 'stdout'", "%.log"), 1)
      << "runtime_stdout.log (task_stdout.log is looked for too, and missing)";
  EXPECT_EQ(db_.files_opened_by("SELECT pathspec, created_at FROM p_tasks WHERE " + task, "%.log"), 0);
  EXPECT_EQ(db_.files_opened_by("SELECT field_name, value FROM p_metadata WHERE " + task, "%/data/%"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM p_metadata WHERE " + task + " AND field_name IN ('attempt', 'ds-type')"), 2);
}

TEST_F(ArtifactsPushdownTest, ValueCapIsPerConnectionAndLive) {
  const std::string big = "SELECT value IS NULL, size, blob FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/big_blob");
  auto row = db_.query(big);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], "0") << "5 MiB is under the default cap of 16 MiB";
  EXPECT_EQ(db_.scalar("SELECT metaflow_set('max_value_bytes', 1048576)"), "1048576");
  row = db_.query(big);
  EXPECT_EQ(row[0][0], "1") << "over the cap: no value";
  EXPECT_EQ(row[0][1], "5242889");
  ASSERT_TRUE(row[0][2]);
  EXPECT_EQ(row[0][2]->size(), 5242889u) << "the blob still works";
  EXPECT_EQ(sha1_hex(*row[0][2]), *db_.scalar("SELECT sha FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/big_blob")));
  // Cached small values obey a lowered cap too.
  EXPECT_EQ(db_.scalar("SELECT value FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/str_ascii")), "\"hello world\"");
  db_.query("SELECT metaflow_set('max_value_bytes', 10)");
  EXPECT_EQ(db_.scalar("SELECT value FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/str_ascii")), std::nullopt);
  EXPECT_NE(db_.error_of("SELECT metaflow_set('max_value_byte', 1)").find("max_value_bytes"), std::string::npos);
  EXPECT_NE(db_.error_of("SELECT metaflow_set('max_value_bytes', -1)"), "");
}

// Writes `text` over a file of the copied store.
void overwrite(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

TEST_F(ArtifactsPushdownTest, DamagedBlobAndUnknownEncodingLeaveOnlyTheirValueNull) {
  TempDir tmp;
  fs::path store = copy_store(local_fixture(), tmp);
  fs::path task = store / ".metaflow" / kTypesEnd;
  // A blob replaced by garbage (it is shared by every task holding the same value).
  std::string sha = json::parse(read_file(task / "_meta" / "0_artifact_str_ascii.json"))["sha"];
  overwrite(store / ".metaflow/TypesFlow/data" / sha.substr(0, 2) / sha, "not gzip at all");
  // An artifact written by an extension's serializer mfsql cannot decode.
  json reg = json::parse(read_file(task / "_meta" / "0_artifact_label.json"));
  reg["content_type"] = "cbor-v1";
  overwrite(task / "_meta" / "0_artifact_label.json", reg.dump());
  json index = json::parse(read_file(task / "0.data.json"));
  index["info"]["label"]["encoding"] = "cbor-v1";
  index["info"]["label"]["serializer_info"]["source"] = "mf_cbor_ext";
  overwrite(task / "0.data.json", index.dump());
  attach(store);

  auto rows = db_.query("SELECT name, encoding, serializer, value, length(blob) FROM p_artifacts WHERE pathspec IN (" +
                        quote(kTypesEnd + "/str_ascii") + ", " + quote(kTypesEnd + "/label") + ", " +
                        quote(kTypesEnd + "/int_small") + ") ORDER BY name");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<Cell>{"int_small", "pickle-v4", "metaflow", "42", "5"}));
  EXPECT_EQ(rows[1], (std::vector<Cell>{"label", "cbor-v1", "mf_cbor_ext", std::nullopt, "28"}));
  EXPECT_EQ(rows[2], (std::vector<Cell>{"str_ascii", "pickle-v4", "metaflow", std::nullopt, std::nullopt}));
  EXPECT_EQ(count("SELECT count(*) FROM p_artifacts WHERE pathspec LIKE " + quote(kTypesEnd + "/%") + " AND " +
                  "flow = 'TypesFlow' AND run_id = '1795738050376863' AND step = 'end' AND value IS NOT NULL"),
            38) << "the other 38 public artifacts still decode";
  // A damaged data.json leaves size and python_type NULL; names and values still come.
  overwrite(task / "0.data.json", "{\"info\": ");
  auto damaged = db_.query("SELECT size, python_type, value FROM p_artifacts WHERE pathspec = " + quote(kTypesEnd + "/int_small"));
  EXPECT_EQ(damaged, (Rows{{std::nullopt, std::nullopt, "42"}}));
}

}  // namespace
}  // namespace mfsql::testing
