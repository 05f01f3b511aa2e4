// No secrets anywhere (issue 8, part 5). Recognizable secrets go where users keep them: the
// service's API key (METAFLOW_SERVICE_AUTH_KEY), its extra headers (METAFLOW_SERVICE_HEADERS), a
// password inside METAFLOW_SERVICE_URL, and the S3 credentials (AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN). Then every error path is triggered (service: 401, 403, 500, 503, malformed
// JSON, truncated body, reset, timeout, connection refused; S3: wrong credentials checked by moto,
// missing bucket, missing object, endpoint refused), plus the paths that succeed, and nothing a
// user or a log can see may contain a secret: no SQLite error message, no cell of any
// metaflow_trace row, no cell of any metaflow_config row, nothing written to stderr.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/moto.hpp"
#include "support/replay_server.hpp"
#include "support/scoped_env.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

const std::string kApiKey = "SECRET-apikey-1234";
const std::string kHeader = "SECRET-header-5678";
const std::string kAwsSecret = "SECRET-aws-9999";
const std::string kToken = "SECRET-token-4242";
const std::string kPassword = "SECRET-pw-7777";

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// Every form a secret could leak in: as given, and the URL's user:password as a Basic header.
const std::vector<std::string>& secrets() {
  static const std::vector<std::string> all = {kApiKey, kHeader, kAwsSecret, kToken, kPassword,
                                               base64("user:" + kPassword), "SECRET-" /* any part of one */};
  return all;
}

// A loopback port nothing listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string with_password(const std::string& url) {  // http://127.0.0.1:P -> http://user:pw@127.0.0.1:P
  return "http://user:" + kPassword + "@" + url.substr(std::string("http://").size());
}

void expect_no_secret(const std::string& text, const std::string& where) {
  for (const auto& s : secrets()) {
    EXPECT_EQ(text.find(s), std::string::npos) << where << " shows '" << s << "': " << text;
    if (text.find(s) != std::string::npos) return;  // one report per text (every secret contains "SECRET-")
  }
}

std::string joined(const Rows& rows) {
  std::string out;
  for (auto& row : rows) {
    for (auto& c : row) out += (c ? *c : "NULL") + " | ";
    out += "\n";
  }
  return out;
}

// Runs each statement on a fresh connection made by `open`, then checks every error, the whole
// trace and config of that connection, and what was written to stderr meanwhile. Returns the
// errors, so the caller can check the error path was really taken.
std::vector<std::string> run_and_check(const std::string& name, const std::function<void(TestDb&)>& open,
                                       const std::vector<std::string>& statements) {
  std::vector<std::string> errors;
  ::testing::internal::CaptureStderr();
  {
    TestDb db;
    open(db);
    for (auto& sql : statements) {
      std::string err = db.error_of(sql);
      expect_no_secret(err, name + ": the error of " + sql);
      if (!err.empty()) errors.push_back(err);
    }
    expect_no_secret(joined(db.query("SELECT * FROM metaflow_trace")), name + ": metaflow_trace");
    expect_no_secret(joined(db.query("SELECT * FROM metaflow_config")), name + ": metaflow_config");
    if (getenv("MFSQL_TEST_VERBOSE"))
      for (auto& e : errors) std::printf("    %s: %s\n", name.c_str(), e.c_str());
  }
  expect_no_secret(::testing::internal::GetCapturedStderr(), name + ": stderr");
  return errors;
}

// ---- the metadata service ---------------------------------------------------------------------

const std::vector<std::string> kServiceQueries = {
    "SELECT flow FROM flows",
    "SELECT run_id, status, finished_at FROM runs WHERE flow = 'LinearFlow'",
    "SELECT pathspec, finished, successful, exception, stdout FROM tasks WHERE flow = 'LinearFlow'",
    "SELECT name, value FROM artifacts WHERE flow = 'LinearFlow'",
    "SELECT field_name, value FROM metadata WHERE flow = 'LinearFlow'",
};

class ServiceSecrets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ReplayServer(service_fixture() / "recorded");
    tmp_ = new TempDir;
    store_ = new fs::path(copy_store(service_fixture() / "datastore", *tmp_));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete store_;
    delete tmp_;
  }
  void SetUp() override {
    for (const char* name : {"METAFLOW_PROFILE", "MFSQL_SERVICE_TIMEOUT_MS", "MFSQL_SERVICE_DEADLINE_MS",
                             "METAFLOW_SERVICE_RETRY_COUNT", "MFSQL_SERVICE_CONCURRENCY", "MFSQL_SERVICE_CACHE_TTL_S",
                             "MFSQL_SERVICE_CACHE_TTL_RUNNING_S", "METAFLOW_DATASTORE_SYSROOT_S3"})
      env_.set(name, std::nullopt);
    env_.set("METAFLOW_HOME", tmp_->path().string());
    env_.set("METAFLOW_DEFAULT_METADATA", "service");
    env_.set("METAFLOW_DEFAULT_DATASTORE", "local");
    env_.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", store_->string());
    env_.set("METAFLOW_SERVICE_URL", with_password(server_->url()));
    env_.set("METAFLOW_SERVICE_AUTH_KEY", kApiKey);
    env_.set("METAFLOW_SERVICE_HEADERS", "{\"X-Team-Token\": \"" + kHeader + "\"}");
    env_.set("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01");
    env_.set("AWS_SECRET_ACCESS_KEY", kAwsSecret);
    env_.set("AWS_SESSION_TOKEN", kToken);
    env_.set("METAFLOW_SERVICE_RETRY_COUNT", "2");
    server_->clear_faults();
    server_->reset_counts();
  }
  std::vector<std::string> with_fault(const std::string& name, Fault fault, int delay_ms = 0) {
    server_->add_fault({fault, "", -1, delay_ms, -1, ""});
    auto errors = run_and_check(name, [](TestDb&) {}, kServiceQueries);
    EXPECT_GT(server_->requests(), 0) << name << ": the service was asked";
    return errors;
  }

  static inline ReplayServer* server_ = nullptr;
  static inline TempDir* tmp_ = nullptr;
  static inline fs::path* store_ = nullptr;
  ScopedEnv env_;
};

TEST_F(ServiceSecrets, TheSecretsAreSentButNeverShownWhenAllGoesWell) {
  auto errors = run_and_check("no fault", [](TestDb&) {}, kServiceQueries);
  EXPECT_TRUE(errors.empty()) << errors.front();
  auto headers = server_->last_headers();
  EXPECT_EQ(headers["x-api-key"], kApiKey) << "the test's secrets reach the service";
  EXPECT_EQ(headers["x-team-token"], kHeader);
}

TEST_F(ServiceSecrets, Unauthorized401) { EXPECT_FALSE(with_fault("401", Fault::Unauthorized401).empty()); }
TEST_F(ServiceSecrets, Forbidden403) { EXPECT_FALSE(with_fault("403", Fault::Forbidden403).empty()); }
TEST_F(ServiceSecrets, ServerError500) { EXPECT_FALSE(with_fault("500", Fault::Error500).empty()); }
TEST_F(ServiceSecrets, Unavailable503) { EXPECT_FALSE(with_fault("503", Fault::Unavailable503).empty()); }
TEST_F(ServiceSecrets, MalformedJson) { EXPECT_FALSE(with_fault("malformed JSON", Fault::MalformedJson).empty()); }
TEST_F(ServiceSecrets, TruncatedBody) { EXPECT_FALSE(with_fault("truncated body", Fault::Truncated).empty()); }
TEST_F(ServiceSecrets, ConnectionReset) { EXPECT_FALSE(with_fault("reset", Fault::Reset).empty()); }

TEST_F(ServiceSecrets, Timeout) {
  env_.set("MFSQL_SERVICE_TIMEOUT_MS", "100");
  env_.set("MFSQL_SERVICE_DEADLINE_MS", "400");
  EXPECT_FALSE(with_fault("timeout", Fault::Delay, 2000).empty());
}

TEST_F(ServiceSecrets, ConnectionRefused) {
  env_.set("METAFLOW_SERVICE_URL", with_password("http://127.0.0.1:" + std::to_string(closed_port())));
  EXPECT_FALSE(run_and_check("connection refused", [](TestDb&) {}, kServiceQueries).empty());
}

// The same secrets given as module arguments, not the environment, show nowhere either: not in
// metaflow_config made with them, not in the errors of tables made with them.
TEST_F(ServiceSecrets, ModuleArgumentsToo) {
  for (const char* name : {"METAFLOW_SERVICE_URL", "METAFLOW_SERVICE_AUTH_KEY", "METAFLOW_SERVICE_HEADERS"})
    env_.set(name, std::nullopt);
  const std::string url = with_password("http://127.0.0.1:" + std::to_string(closed_port()));
  auto errors = run_and_check(
      "module arguments",
      [&](TestDb& db) {
        db.query("CREATE VIRTUAL TABLE temp.c USING metaflow_config(service=" + quote(url) + ")");
        db.query("CREATE VIRTUAL TABLE temp.r USING runs(service=" + quote(url) + ", datastore=" +
                 quote(store_->string()) + ")");
      },
      {"SELECT run_id, status FROM r WHERE flow = 'LinearFlow'"});
  EXPECT_FALSE(errors.empty());
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.c USING metaflow_config(service=" + quote(url) + ")");
  expect_no_secret(joined(db.query("SELECT * FROM c")), "metaflow_config(service=...)");
}

// ---- the S3 datastore ---------------------------------------------------------------------------

constexpr const char* kBucket = "mfsql-secrets";
constexpr const char* kPrefix = "team/metaflow";
const std::string kFlow = "RetryCatchFlow";

const std::vector<std::string> kS3Queries = {
    "SELECT name, value, size FROM x_artifacts WHERE flow = '" + kFlow + "'",
    "SELECT run_id, status FROM x_runs WHERE flow = '" + kFlow + "'",
    "SELECT pathspec, finished, exception, stdout FROM x_tasks WHERE flow = '" + kFlow + "'",
    "SELECT line FROM x_logs WHERE flow = '" + kFlow + "'",
};

class S3Secrets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MotoServer::available()) return;
    scratch_ = new TempDir;
    // One small flow: local metadata (the _meta folders) here, everything else in S3.
    root_ = scratch_->path() / "store";
    fs::create_directories(root_ / ".metaflow");
    fs::copy(local_fixture() / ".metaflow" / kFlow, root_ / ".metaflow" / kFlow, fs::copy_options::recursive);
    for (auto& e : fs::recursive_directory_iterator(root_))
      fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
    moto_ = new MotoServer();
    EXPECT_GT(moto_->upload_store(root_ / ".metaflow", kBucket, kPrefix), 10);
    checking_ = new MotoServer(/*check_auth=*/true);
  }
  static void TearDownTestSuite() {
    delete moto_;
    delete checking_;
    delete scratch_;
  }
  void SetUp() override {
    if (!moto_) GTEST_SKIP() << "moto_server is not on PATH (pip install 'moto[server]')";
    cache_ = std::make_unique<TempDir>();
    for (const char* name : {"METAFLOW_PROFILE", "AWS_PROFILE", "METAFLOW_DEFAULT_METADATA", "METAFLOW_SERVICE_URL",
                             "AWS_SHARED_CREDENTIALS_FILE"})
      env_.set(name, std::nullopt);
    env_.set("METAFLOW_HOME", cache_->path().string());
    env_.set("METAFLOW_S3_ENDPOINT_URL", moto_->endpoint());
    env_.set("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01");
    env_.set("AWS_SECRET_ACCESS_KEY", kAwsSecret);
    env_.set("AWS_SESSION_TOKEN", kToken);
    env_.set("AWS_REGION", "us-east-1");
    env_.set("MFSQL_S3_CACHE_DIR", (cache_->path() / "s3").string());
    env_.set("METAFLOW_S3_RETRY_COUNT", "2");  // the refused endpoint is retried: keep it short
    env_.set("METAFLOW_SERVICE_AUTH_KEY", kApiKey);
    env_.set("METAFLOW_SERVICE_HEADERS", "{\"X-Team-Token\": \"" + kHeader + "\"}");
  }
  static std::function<void(TestDb&)> tables(const std::string& datastore) {
    return [datastore](TestDb& db) {
      for (auto t : {"runs", "tasks", "artifacts", "logs"})
        db.query(std::string("CREATE VIRTUAL TABLE temp.x_") + t + " USING " + t + "(root=" + quote(root_.string()) +
                 ", datastore=" + quote(datastore) + ")");
    };
  }
  static std::string store_url(const std::string& bucket = kBucket, const std::string& prefix = kPrefix) {
    return "s3://" + bucket + "/" + prefix;
  }

  static inline MotoServer* moto_ = nullptr;
  static inline MotoServer* checking_ = nullptr;
  static inline TempDir* scratch_ = nullptr;
  static inline fs::path root_;
  std::unique_ptr<TempDir> cache_;
  ScopedEnv env_;
};

TEST_F(S3Secrets, TheSecretsAreUsedButNeverShownWhenAllGoesWell) {
  auto errors = run_and_check("S3 no fault", tables(store_url()), kS3Queries);
  EXPECT_TRUE(errors.empty()) << errors.front();
  TestDb db;
  tables(store_url())(db);
  EXPECT_NE(db.scalar("SELECT count(value) FROM x_artifacts WHERE flow = '" + kFlow + "'"), "0")
      << "values come from S3";
}

TEST_F(S3Secrets, WrongCredentials) {
  env_.set("METAFLOW_S3_ENDPOINT_URL", checking_->endpoint());
  auto errors = run_and_check("S3 wrong credentials", tables(store_url()), kS3Queries);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.front().find("403"), std::string::npos) << errors.front();
}

// The same secrets from a shared credentials file instead of the environment.
TEST_F(S3Secrets, WrongCredentialsFromTheCredentialsFile) {
  env_.set("METAFLOW_S3_ENDPOINT_URL", checking_->endpoint());
  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}) env_.set(name, std::nullopt);
  fs::path file = cache_->path() / "credentials";
  std::ofstream(file) << "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE02\naws_secret_access_key = " << kAwsSecret
                      << "\naws_session_token = " << kToken << "\n";
  env_.set("AWS_SHARED_CREDENTIALS_FILE", file.string());
  auto errors = run_and_check("S3 wrong credentials (file)", tables(store_url()), kS3Queries);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.front().find("403"), std::string::npos) << errors.front();
}

TEST_F(S3Secrets, MissingBucket) {
  EXPECT_FALSE(run_and_check("S3 missing bucket", tables(store_url("no-such-bucket-secrets")), kS3Queries).empty());
}

// A bucket that exists but holds nothing under the prefix: every object is missing. Missing blobs
// and files are NULL columns, not errors, so only the absence of secrets is asserted.
TEST_F(S3Secrets, MissingObjects) { run_and_check("S3 missing objects", tables(store_url(kBucket, "elsewhere")), kS3Queries); }

TEST_F(S3Secrets, EndpointRefused) {
  env_.set("METAFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:" + std::to_string(closed_port()));
  EXPECT_FALSE(run_and_check("S3 endpoint refused", tables(store_url()), kS3Queries).empty());
}

}  // namespace
}  // namespace mfsql::testing
