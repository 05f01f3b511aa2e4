// The S3 datastore against a real moto_server: the public fixture's datastore files uploaded as
// Metaflow's S3 datastore lays them out, metadata from a local copy of its .metaflow (local
// metadata + S3 datastore, as Metaflow does it), and every artifact value, log and run status
// compared with what the same store gives read locally.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "support/moto.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
namespace fs = std::filesystem;

constexpr const char* kBucket = "mfsql-s3-test";
constexpr const char* kPrefix = "team/metaflow";

// One moto server and one uploaded store for every test of the program.
class S3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MotoServer::available()) return;
    moto_ = new MotoServer();
    uploaded_ = moto_->upload_store(local_fixture() / ".metaflow", kBucket, kPrefix);
    // Metadata only: the copy keeps the _meta folders and drops every datastore file, so values,
    // data.json and logs can only come from S3.
    scratch_ = new TempDir();
    root_ = copy_metadata_only(local_fixture(), *scratch_);
  }
  static void TearDownTestSuite() {
    delete moto_;
    delete scratch_;
    moto_ = nullptr;
    scratch_ = nullptr;
  }

  void SetUp() override {
    if (!moto_) GTEST_SKIP() << "moto_server is not on PATH; the S3 datastore tests need it (pip install 'moto[server]').";
    cache_ = std::make_unique<TempDir>();
    setenv("METAFLOW_S3_ENDPOINT_URL", moto_->endpoint().c_str(), 1);
    setenv("AWS_ACCESS_KEY_ID", MotoServer::kAccessKey, 1);
    setenv("AWS_SECRET_ACCESS_KEY", MotoServer::kSecretKey, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("MFSQL_S3_CACHE_DIR", (cache_->path() / "s3").c_str(), 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
  }

  // Creates temp tables `s_<t>` reading S3 and `l_<t>` reading the local fixture in `db`.
  static void tables(TestDb& db, const std::string& store = std::string("s3://") + kBucket + "/" + kPrefix) {
    for (auto t : {"runs", "tasks", "artifacts", "logs"}) {
      db.query(std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(root=" + quote(root_.string()) +
               ", datastore=" + quote(store) + ")");
      db.query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(root=" +
               quote(local_fixture().string()) + ")");
    }
  }

  // S3 requests (not cache hits) recorded after trace entry `after`.
  static int s3_requests(TestDb& db, const std::string& after = "0") {
    return std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND NOT cache_hit AND seq > " + after));
  }

  static MotoServer* moto_;
  static TempDir* scratch_;
  static fs::path root_;
  static int uploaded_;
  std::unique_ptr<TempDir> cache_;
};
MotoServer* S3Test::moto_ = nullptr;
TempDir* S3Test::scratch_ = nullptr;
fs::path S3Test::root_;
int S3Test::uploaded_ = 0;

TEST_F(S3Test, EveryValueLogAndStatusEqualsTheLocalStore) {
  ASSERT_GT(uploaded_, 1000);
  TestDb db;
  tables(db);
  expect_same_artifacts(db, "l_artifacts", "s_artifacts");

  const std::string tasks = "SELECT flow, run_id, step, task_id, attempt, finished, successful, exception, stdout, stderr FROM ";
  const std::string by_task = " ORDER BY flow, run_id, step, task_id";
  auto local_tasks = db.query(tasks + "l_tasks" + by_task);
  EXPECT_EQ(local_tasks, db.query(tasks + "s_tasks" + by_task));
  EXPECT_EQ(db.query("SELECT * FROM l_logs ORDER BY flow, run_id, step, task_id, attempt, stream, line_no"),
            db.query("SELECT * FROM s_logs ORDER BY flow, run_id, step, task_id, attempt, stream, line_no"));
  EXPECT_EQ(db.query("SELECT flow, run_id, status, finished, successful, finished_at FROM l_runs ORDER BY 1, 2"),
            db.query("SELECT flow, run_id, status, finished, successful, finished_at FROM s_runs ORDER BY 1, 2"));
  EXPECT_GT(s3_requests(db), 1000) << "values, indexes and logs were read from S3";
  EXPECT_EQ(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND (target LIKE '%testing-%' OR "
                       "target NOT LIKE 'http://127.0.0.1:%/" + std::string(kBucket) + "/" + kPrefix + "/%')"),
            "0");
}

TEST_F(S3Test, ForeachArtifactColdAndWarmCache) {
  const std::string sql =
      "SELECT task_id, value FROM s_artifacts WHERE flow = 'BranchForeachFlow' AND run_id = '1795738136324997' AND "
      "step = 'compute' AND name = 'square' ORDER BY task_id";
  auto timed = [&](Rows* rows, int* requests) {
    TestDb db;  // a new connection: nothing cached in memory
    tables(db);
    db.query("SELECT count(*) FROM s_runs");  // open the store outside the timing
    const std::string after = db.scalar("SELECT coalesce(max(seq), 0) FROM metaflow_trace").value_or("0");
    const auto t0 = std::chrono::steady_clock::now();
    *rows = db.query(sql);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    *requests = s3_requests(db, after);
    if (getenv("MFSQL_TEST_VERBOSE"))
      for (auto& r : db.query("SELECT seq, target, ms FROM metaflow_trace WHERE kind = 's3' AND seq > " + after))
        std::printf("    %s %s %s ms\n", r[0]->c_str(), r[1]->c_str(), r[2]->c_str());
    return ms;
  };
  Rows cold, warm;
  int cold_requests = 0, warm_requests = 0;
  const double cold_ms = timed(&cold, &cold_requests);
  const double warm_ms = timed(&warm, &warm_requests);
  TestDb db;
  tables(db);
  auto local = db.query("SELECT task_id, value FROM l_artifacts WHERE flow = 'BranchForeachFlow' AND run_id = "
                        "'1795738136324997' AND step = 'compute' AND name = 'square' ORDER BY task_id");
  ASSERT_GE(local.size(), 10u);
  EXPECT_EQ(local, cold);
  EXPECT_EQ(local, warm);
  EXPECT_LT(warm_requests, cold_requests) << "blobs come from the cache once warm";
  std::printf("[ timing ] 'square' of %zu compute tasks of BranchForeachFlow/1795738136324997 from S3: cold %.1f ms "
              "(%d requests), warm cache %.1f ms (%d requests)\n",
              cold.size(), cold_ms, cold_requests, warm_ms, warm_requests);
}

TEST_F(S3Test, MissingBlobGivesNullValueAndTheQueryStillAnswers) {
  TestDb db;
  tables(db);
  const std::string where = " WHERE flow = 'BranchForeachFlow' AND run_id = '1795738136324997' AND step = 'compute' "
                            "AND name = 'square' ORDER BY task_id";
  auto rows = db.query("SELECT task_id, sha, value FROM l_artifacts" + where);
  ASSERT_GE(rows.size(), 2u);
  // The first task's blob: every row that shares it must turn NULL, the others stay as they are.
  const std::string sha = *rows[0][1];
  ASSERT_FALSE(sha.empty());
  std::string key = "/" + std::string(kBucket) + "/" + kPrefix + "/BranchForeachFlow/data/" + sha.substr(0, 2) + "/" + sha;
  std::string blob;
  ASSERT_EQ(moto_->request("GET", key, "", {}, &blob), 200);
  ASSERT_EQ(moto_->request("DELETE", key), 204);
  auto s3 = db.query("SELECT task_id, sha, value FROM s_artifacts" + where);
  moto_->request("PUT", key, blob, {{"x-amz-meta-metaflow-user-attributes", R"({"cas_raw": false, "cas_version": 1})"}});
  ASSERT_EQ(s3.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (*rows[i][1] == sha) EXPECT_FALSE(s3[i][2].has_value()) << "the deleted blob's value is NULL";
    else EXPECT_EQ(rows[i], s3[i]);
  }
}

TEST_F(S3Test, WrongCredentialsGiveAClearErrorWithoutTheSecret) {
  MotoServer checking(/*check_auth=*/true);
  setenv("METAFLOW_S3_ENDPOINT_URL", checking.endpoint().c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-never-shown", 1);
  TestDb db;
  tables(db);
  std::string error = db.error_of("SELECT value FROM s_artifacts WHERE flow = 'BranchForeachFlow' AND run_id = "
                                  "'1795738136324997' AND step = 'compute' AND name = 'square'");
  EXPECT_NE(error.find(kBucket), std::string::npos) << error;
  EXPECT_NE(error.find("BranchForeachFlow/"), std::string::npos) << "names the key: " << error;
  EXPECT_NE(error.find("AWS_ACCESS_KEY_ID"), std::string::npos) << "says where credentials come from: " << error;
  EXPECT_NE(error.find("AWS_SHARED_CREDENTIALS_FILE"), std::string::npos) << error;
  EXPECT_EQ(error.find("very-secret-value-never-shown"), std::string::npos) << error;
  std::printf("[ message ] %s\n", error.c_str());
}

TEST_F(S3Test, MissingBucketIsNamed) {
  TestDb db;
  tables(db, "s3://no-such-bucket-mfsql/x");
  std::string error = db.error_of("SELECT value FROM s_artifacts WHERE flow = 'BranchForeachFlow' AND run_id = "
                                  "'1795738136324997' AND step = 'compute' AND name = 'square'");
  EXPECT_NE(error.find("no-such-bucket-mfsql"), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
}

// stdout_size/stderr_size over S3: HEAD requests (no body), the same numbers as the local store.
TEST_F(S3Test, LogSizesAreHeadRequestsEqualToTheLocalStore) {
  TestDb db;
  tables(db);
  auto local = db.query("SELECT pathspec, stdout_size, stderr_size FROM l_tasks WHERE flow = 'RetryCatchFlow' ORDER BY pathspec");
  const std::string before = *db.scalar("SELECT coalesce(max(seq), 0) FROM metaflow_trace");
  auto s3 = db.query("SELECT pathspec, stdout_size, stderr_size FROM s_tasks WHERE flow = 'RetryCatchFlow' ORDER BY pathspec");
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(local, s3);
  EXPECT_GT(s3_requests(db, before), 0);
  EXPECT_EQ(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND target LIKE '%.log' AND bytes > 0 AND seq > " +
                       before),
            "0")
      << "a log was read to size it";
}

}  // namespace
}  // namespace mfsql::testing
