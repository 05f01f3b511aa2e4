// code_files: what it reads (only the package, once per run, remembered by its sha for the
// connection; content read again only when selected) and that it answers the same over S3 (moto)
// as over the local datastore. Ground truth for its rows: model_code_test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "storegen/blob_store.hpp"
#include "storegen/code_package.hpp"
#include "storegen/storegen.hpp"
#include "support/moto.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {

namespace fs = std::filesystem;

fs::path code_fixture() { return shared_dir() / "fixtures" / "metaflow-code"; }

constexpr const char* kPackageReads = "PackagedFlow/data/%";  // the CAS: only the package is read from it

void local_tables(TestDb& db) {
  for (auto t : {"runs", "code_files"})
    db.query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(root=" + quote(code_fixture().string()) + ")");
}

// Run ids, oldest first: packaged (width 3), not packaged, packaged (width 4).
std::vector<std::string> run_ids(TestDb& db) {
  std::vector<std::string> ids;
  for (auto& r : db.query("SELECT run_id FROM l_runs WHERE flow = 'PackagedFlow' ORDER BY run_id")) ids.push_back(*r[0]);
  return ids;
}

TEST(CodeFilesReads, OnlyThePackageOncePerRunAndTheSameForBiggerRuns) {
  std::vector<std::string> ids;
  {
    TestDb db;
    local_tables(db);
    ids = run_ids(db);
  }
  ASSERT_EQ(ids.size(), 3u);
  auto listing = [](const std::string& run_id) {
    return "SELECT path, size, sha1 FROM l_code_files WHERE flow = 'PackagedFlow' AND run_id = " + quote(run_id);
  };
  // Runs 1 (6 tasks) and 3 (7 tasks): a fresh connection reads the package once and the same
  // number of files in all; run 2 has no package and reads none from the CAS.
  int files[3], package_reads[3];
  for (int i = 0; i < 3; ++i) {
    TestDb db;
    local_tables(db);
    package_reads[i] = db.files_opened_by(listing(ids[i]), kPackageReads);
    TestDb again;
    local_tables(again);
    files[i] = again.files_opened_by(listing(ids[i]));
  }
  EXPECT_EQ(package_reads[0], 1);
  EXPECT_EQ(package_reads[1], 0);
  EXPECT_EQ(package_reads[2], 1);
  EXPECT_EQ(files[0], files[2]) << "a bigger run costs more files";
  // The run's record, each step's (5: their order, newest first), the newest step's task list and its
  // newest task's record and code-package entries (4), and the package: nothing per task.
  EXPECT_LE(files[0], 11) << "listing a run's package reads more of its metadata than Run.code needs";
  std::printf("code_files of one packaged run: %d files read, %d of them the package\n", files[0], package_reads[0]);

  TestDb db;
  local_tables(db);
  const std::string whole_flow = "SELECT run_id, path, sha1 FROM l_code_files WHERE flow = 'PackagedFlow'";
  // Both packaged runs have the same package (same code): listed once for the connection.
  EXPECT_EQ(db.files_opened_by(whole_flow, kPackageReads), 1);
  EXPECT_EQ(db.files_opened_by(whole_flow, kPackageReads), 0) << "the listing is remembered by the package's sha";
  // Content: one more read of the package per run whose files are selected.
  EXPECT_EQ(db.files_opened_by("SELECT length(content) FROM l_code_files WHERE flow = 'PackagedFlow'", kPackageReads), 2);
  EXPECT_EQ(db.files_opened_by("SELECT text FROM l_code_files WHERE flow = 'PackagedFlow' AND run_id = " + quote(ids[2]) +
                                   " AND path = 'packaged_flow.py'",
                               kPackageReads),
            1);
  EXPECT_EQ(db.query("SELECT path FROM l_code_files WHERE flow = 'PackagedFlow' AND run_id = " + quote(ids[2]) +
                     " AND path IN ('packaged_flow.py', '.mf_meta/INFO', 'missing.py') ORDER BY path"),
            (Rows{{".mf_meta/INFO"}, {"packaged_flow.py"}}));
}

// A package that is not what Metaflow writes is refused, never extracted or half-listed: the runs
// that name it have NULL code, environment and script-name-from-code, and no code_files rows.
TEST(CodeFilesHostile, RefusedPackagesAreNullNotErrors) {
  const std::vector<std::pair<std::string, std::string>> info = {
      {".mf_install", R"({"version": 1, "module_files": []})"}, {".mf_meta/INFO", R"({"script": "packaged_flow.py"})"}};
  auto with = [&](std::pair<std::string, std::string> extra) {
    auto files = info;
    files.push_back(std::move(extra));
    return storegen::python_gzip(storegen::ustar(files, 0), 0);
  };
  const std::string good = with({"packaged_flow.py", "print('hi')\n"});
  const std::pair<std::string, std::string> cases[] = {
      {"a member climbing out with ..", with({"../../.bashrc", "echo owned\n"})},
      {"a member named absolutely", with({"/etc/cron.d/evil", "* * * * * root sh\n"})},
      {"a member with .. inside", with({".mf_code/../../x.py", "x"})},
      {"bytes that are no archive", std::string(4096, 'A')},
      {"a truncated archive", good.substr(0, good.size() / 2)},
  };
  for (const auto& [what, bytes] : cases) {
    TempDir dir;
    const fs::path root = copy_store(code_fixture(), dir);
    const fs::path package = root / ".metaflow/PackagedFlow/data/53/53c98acc49cf8cf9b0d8dcdcae0b93fb3a29be7c";
    { std::ofstream(package, std::ios::binary | std::ios::trunc) << bytes; }
    TestDb db;
    for (auto t : {"runs", "tasks", "code_files"})
      db.query(std::string("CREATE VIRTUAL TABLE temp.h_") + t + " USING " + t + "(root=" + quote(root.string()) + ")");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_code_files"), "0") << what;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_code_files WHERE path = 'packaged_flow.py' AND text IS NOT NULL"), "0") << what;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_runs WHERE code IS NOT NULL"), "0") << what;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_tasks WHERE code IS NOT NULL OR environment_info IS NOT NULL"), "0") << what;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_tasks"), "18") << what << ": the tasks themselves stay";
    EXPECT_FALSE(fs::exists(root / ".bashrc") || fs::exists(root.parent_path() / ".bashrc")) << what;
  }
  {  // A package past the size mfsql reads (sparse here) is refused by its size, before any read.
    TempDir dir;
    const fs::path root = copy_store(code_fixture(), dir);
    fs::resize_file(root / ".metaflow/PackagedFlow/data/53/53c98acc49cf8cf9b0d8dcdcae0b93fb3a29be7c", size_t{600} << 20);
    TestDb db;
    db.query("CREATE VIRTUAL TABLE temp.h_code_files USING code_files(root=" + quote(root.string()) + ")");
    EXPECT_EQ(db.files_opened_by("SELECT * FROM h_code_files", kPackageReads), 0);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM h_code_files"), "0");
  }
  // The same layout with a proper member is read: the refusals above are about the members.
  TempDir dir;
  const fs::path root = copy_store(code_fixture(), dir);
  { std::ofstream(root / ".metaflow/PackagedFlow/data/53/53c98acc49cf8cf9b0d8dcdcae0b93fb3a29be7c", std::ios::binary | std::ios::trunc) << good; }
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.h_code_files USING code_files(root=" + quote(root.string()) + ")");
  EXPECT_EQ(db.query("SELECT run_id, text FROM h_code_files WHERE path = 'packaged_flow.py' ORDER BY run_id"),
            (Rows{{"1796112536719405", "print('hi')\n"}, {"1796112560799526", "print('hi')\n"}}));

  // A v0 package (before Metaflow 2.16: no .mf_install marker, INFO at the root) keeps INFO there;
  // one whose marker names a version mfsql does not know has no INFO the client can find: NULL.
  const std::pair<std::string, Cell> layouts[] = {{"", "v0_flow.py"}, {R"({"version": 7})", std::nullopt}};
  for (const auto& [marker, script] : layouts) {
    std::vector<std::pair<std::string, std::string>> files = {
        {"INFO", R"({"script": "v0_flow.py", "environment_type": "local"})"}, {"v0_flow.py", "pass\n"}};
    if (!marker.empty()) files.push_back({".mf_install", marker});
    std::ofstream(root / ".metaflow/PackagedFlow/data/53/53c98acc49cf8cf9b0d8dcdcae0b93fb3a29be7c",
                  std::ios::binary | std::ios::trunc)
        << storegen::python_gzip(storegen::ustar(files, 0), 0);
    TestDb v0;
    v0.query("CREATE VIRTUAL TABLE temp.h_runs USING runs(root=" + quote(root.string()) + ")");
    EXPECT_EQ(v0.scalar("SELECT json_extract(code, '$.script_name') FROM h_runs WHERE run_id = '1796112560799526'"), script) << marker;
  }
}

// BenchFlow runs with packages (storegen), at two store sizes: one run's files cost the same, and
// the whole flow reads each distinct package once.
TEST(CodeFilesReads, OneRunCostsTheSameOnABiggerStore) {
  struct Cost {
    int run_files, run_package_reads, flow_package_reads, distinct_packages;
  };
  auto cost_on = [](int runs) {
    TempDir dir;
    storegen::GenerateOptions options;
    options.out_dir = dir.path();
    options.runs = runs;
    options.code_packages = true;
    storegen::generate_store(options);
    auto open = [&](TestDb& db) {
      for (auto t : {"runs", "code_files"})
        db.query(std::string("CREATE VIRTUAL TABLE temp.g_") + t + " USING " + t + "(root=" + quote(dir.path().string()) + ")");
    };
    Cost c{};
    TestDb first;
    open(first);
    const std::string newest = *first.scalar("SELECT run_id FROM g_runs WHERE flow = 'BenchFlow' LIMIT 1");
    const std::string one_run = "SELECT path, size, sha1 FROM g_code_files WHERE flow = 'BenchFlow' AND run_id = " + quote(newest);
    c.run_package_reads = first.files_opened_by(one_run, "BenchFlow/data/%");
    TestDb second;
    open(second);
    c.run_files = second.files_opened_by(one_run);
    TestDb third;
    open(third);
    c.flow_package_reads = third.files_opened_by("SELECT count(*) FROM g_code_files WHERE flow = 'BenchFlow'", "BenchFlow/data/%");
    c.distinct_packages =
        std::stoi(*third.scalar("SELECT count(DISTINCT json_extract(code, '$.sha')) FROM g_runs WHERE flow = 'BenchFlow'"));
    EXPECT_EQ(third.scalar("SELECT count(*) FROM g_runs WHERE flow = 'BenchFlow' AND code IS NULL"), "0");
    return c;
  };
  const Cost small = cost_on(8), big = cost_on(32);
  std::printf("one run's code_files: %d files (%d the package) at 8 runs, %d at 32; whole flow: %d and %d package reads "
              "for %d and %d distinct packages\n",
              small.run_files, small.run_package_reads, big.run_files, small.flow_package_reads, big.flow_package_reads,
              small.distinct_packages, big.distinct_packages);
  EXPECT_EQ(small.run_package_reads, 1);
  EXPECT_EQ(big.run_package_reads, 1);
  EXPECT_EQ(small.run_files, big.run_files);
  EXPECT_EQ(small.flow_package_reads, small.distinct_packages);
  EXPECT_EQ(big.flow_package_reads, big.distinct_packages);
}

TEST(CodeFilesOverS3, EqualToTheLocalDatastore) {
  if (!MotoServer::available()) GTEST_SKIP() << "moto_server is not on PATH (pip install 'moto[server]').";
  MotoServer moto;
  ASSERT_GT(moto.upload_store(code_fixture() / ".metaflow", "mfsql-code-test", "team/metaflow"), 100);
  TempDir scratch, cache;
  const fs::path metadata_only = copy_metadata_only(code_fixture(), scratch);  // the package can only come from S3
  setenv("METAFLOW_S3_ENDPOINT_URL", moto.endpoint().c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", MotoServer::kAccessKey, 1);
  setenv("AWS_SECRET_ACCESS_KEY", MotoServer::kSecretKey, 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("MFSQL_S3_CACHE_DIR", (cache.path() / "s3").c_str(), 1);
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  TestDb db;
  local_tables(db);
  for (auto t : {"runs", "tasks", "steps", "code_files"})
    db.query(std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(root=" + quote(metadata_only.string()) +
             ", datastore='s3://mfsql-code-test/team/metaflow')");
  const std::string files = "SELECT run_id, path, size, sha1, length(content), text IS NULL FROM %s ORDER BY run_id, path";
  auto on = [&](const std::string& table) {
    std::string sql = files;
    return db.query(sql.replace(sql.find("%s"), 2, table));
  };
  auto local = on("l_code_files");
  EXPECT_EQ(local.size(), 2u * 438u);
  EXPECT_EQ(local, on("s_code_files"));
  EXPECT_EQ(db.query("SELECT run_id, code, script_name FROM l_runs ORDER BY run_id"),
            db.query("SELECT run_id, code, script_name FROM s_runs ORDER BY run_id"));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM s_tasks WHERE environment_info = '\"Local environment\"'"), "11");
  EXPECT_GT(std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND target LIKE '%/data/53/%'")), 0);
}

}  // namespace
}  // namespace mfsql::testing
