// The S3 datastore with temporary credentials (an access key, its secret and a session token), against
// a real moto_server that checks every request: moto starts with INITIAL_NO_AUTH_ACTION_COUNT=3, so
// only the first three IAM actions (an uploader user, its key and an allow-everything policy) go
// unchecked. Signed with the uploader's key, the test creates a role that may use S3, assumes it
// through STS and uploads the fixture's datastore with the role's temporary credentials. moto then
// answers an S3 request signed with such a key only when x-amz-security-token carries the token STS
// issued with it (moto/iam/access_control.py, AssumedRoleAccessKey) and the signature matches.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "net/http_client.hpp"
#include "support/moto.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
namespace fs = std::filesystem;

constexpr const char* kBucket = "mfsql-session-test";
constexpr const char* kPrefix = "team/metaflow";
// One foreach step's artifacts: enough blobs to show every request carries the token.
constexpr const char* kSquares =
    " WHERE flow = 'BranchForeachFlow' AND run_id = '1795738136324997' AND step = 'compute' AND name = 'square' "
    "ORDER BY task_id";

// The text of the first <tag> element of an AWS XML answer.
std::string xml_value(const std::string& xml, const std::string& tag) {
  size_t a = xml.find("<" + tag + ">"), b = xml.find("</" + tag + ">");
  if (a == std::string::npos || b == std::string::npos || b < a) throw std::runtime_error("no <" + tag + "> in " + xml);
  a += tag.size() + 2;
  return xml.substr(a, b - a);
}

// A Query-protocol action (IAM, STS) signed with `as` for `service`; throws unless moto answers 200.
std::string aws_action(const MotoServer& moto, const AwsCredentials& as, const std::string& service,
                       const std::string& action, const std::string& version,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  std::string body = "Action=" + action + "&Version=" + version;
  for (auto& [k, v] : params) body += "&" + k + "=" + net::url_escape(v);
  std::string answer;
  long status = moto.request_as(as, service, "POST", "/", body,
                                {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, &answer);
  if (status != 200) throw std::runtime_error(service + " " + action + ": HTTP " + std::to_string(status) + " " + answer);
  return answer;
}

class S3SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MotoServer::available()) return;
    moto_ = new MotoServer(MotoServer::AuthAfter{3});
    const MotoServer& moto = *moto_;
    // The three unchecked actions (signed with moto's placeholder key, only to route them to IAM).
    const AwsCredentials setup;
    const std::string iam = "2010-05-08", sts = "2011-06-15";
    const std::string user_arn = xml_value(aws_action(moto, setup, "iam", "CreateUser", iam, {{"UserName", "mfsql-uploader"}}), "Arn");
    const std::string key = aws_action(moto, setup, "iam", "CreateAccessKey", iam, {{"UserName", "mfsql-uploader"}});
    aws_action(moto, setup, "iam", "PutUserPolicy", iam,
               {{"UserName", "mfsql-uploader"},
                {"PolicyName", "everything"},
                {"PolicyDocument", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})"}});
    user_ = new AwsCredentials{xml_value(key, "AccessKeyId"), xml_value(key, "SecretAccessKey"), ""};
    // From here on moto checks every request. The trust policy names the account and the user:
    // moto compares the caller's ARN with the principals literally (it does not expand :root).
    const std::string account = user_arn.substr(13, 12);  // arn:aws:iam::<account>:user/...
    const std::string trust = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::)" +
                              account + R"(:root",")" + user_arn + R"("]},"Action":"sts:AssumeRole"}]})";
    const std::string role_arn = xml_value(
        aws_action(moto, *user_, "iam", "CreateRole", iam, {{"RoleName", "mfsql-reader"}, {"AssumeRolePolicyDocument", trust}}),
        "Arn");
    aws_action(moto, *user_, "iam", "PutRolePolicy", iam,
               {{"RoleName", "mfsql-reader"},
                {"PolicyName", "s3"},
                {"PolicyDocument", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]})"}});
    const std::string assumed = aws_action(moto, *user_, "sts", "AssumeRole", sts,
                                           {{"RoleArn", role_arn}, {"RoleSessionName", "mfsql-session-test"}});
    temp_ = new AwsCredentials{xml_value(assumed, "AccessKeyId"), xml_value(assumed, "SecretAccessKey"),
                               xml_value(assumed, "SessionToken")};
    uploaded_ = moto.upload_store(local_fixture() / ".metaflow", kBucket, kPrefix, *temp_);

    // Metadata only, as in s3_test: values, data.json and logs can only come from S3.
    scratch_ = new TempDir();
    root_ = copy_metadata_only(local_fixture(), *scratch_);
  }
  static void TearDownTestSuite() {
    delete moto_;
    delete scratch_;
    delete user_;
    delete temp_;
    moto_ = nullptr;
    scratch_ = nullptr;
    user_ = temp_ = nullptr;
  }

  void SetUp() override {
    if (!moto_) GTEST_SKIP() << "moto_server is not on PATH; the S3 datastore tests need it (pip install 'moto[server]').";
    scratch_dir_ = std::make_unique<TempDir>();  // a fresh cache for every test: reads go to S3
    setenv("METAFLOW_S3_ENDPOINT_URL", moto_->endpoint().c_str(), 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("MFSQL_S3_CACHE_DIR", (scratch_dir_->path() / "s3").c_str(), 1);
    use_environment(temp_->access_key, temp_->secret_key, temp_->session_token);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  }

  static void use_environment(const std::string& id, const std::string& secret, const std::string& token) {
    setenv("AWS_ACCESS_KEY_ID", id.c_str(), 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);
    if (token.empty()) unsetenv("AWS_SESSION_TOKEN");
    else setenv("AWS_SESSION_TOKEN", token.c_str(), 1);
  }

  // Credentials only from `[profile]` of a credentials file written with `lines`.
  void use_profile(const std::string& profile, const std::string& lines) {
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    const fs::path file = scratch_dir_->path() / "credentials";
    std::ofstream(file) << "[default]\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = nope\n\n[" << profile
                        << "]\n" << lines;
    setenv("AWS_SHARED_CREDENTIALS_FILE", file.c_str(), 1);
    setenv("AWS_PROFILE", profile.c_str(), 1);
  }

  // Temp tables `s_<t>` reading S3 and `l_<t>` reading the local fixture in `db`.
  static void tables(TestDb& db) {
    const std::string store = std::string("s3://") + kBucket + "/" + kPrefix;
    for (auto t : {"runs", "tasks", "artifacts"}) {
      db.query(std::string("CREATE VIRTUAL TABLE temp.s_") + t + " USING " + t + "(root=" + quote(root_.string()) +
               ", datastore=" + quote(store) + ")");
      db.query(std::string("CREATE VIRTUAL TABLE temp.l_") + t + " USING " + t + "(root=" +
               quote(local_fixture().string()) + ")");
    }
  }

  static int s3_requests(TestDb& db, const std::string& status_is = "200") {
    return std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND NOT cache_hit AND status = " +
                                status_is));
  }

  // The error a read of the squares gives, checked to keep every secret out.
  std::string read_error() {
    TestDb db;
    tables(db);
    std::string error = db.error_of("SELECT task_id, value FROM s_artifacts" + std::string(kSquares));
    EXPECT_EQ(error.find(temp_->secret_key), std::string::npos) << error;
    EXPECT_EQ(error.find(temp_->session_token), std::string::npos) << error;
    EXPECT_EQ(error.find(user_->secret_key), std::string::npos) << error;
    return error;
  }

  static MotoServer* moto_;
  static TempDir* scratch_;
  static fs::path root_;
  static int uploaded_;
  static AwsCredentials* user_;  // the IAM user's long-term key
  static AwsCredentials* temp_;  // the assumed role's temporary credentials
  std::unique_ptr<TempDir> scratch_dir_;
};
MotoServer* S3SessionTest::moto_ = nullptr;
TempDir* S3SessionTest::scratch_ = nullptr;
fs::path S3SessionTest::root_;
int S3SessionTest::uploaded_ = 0;
AwsCredentials* S3SessionTest::user_ = nullptr;
AwsCredentials* S3SessionTest::temp_ = nullptr;

TEST_F(S3SessionTest, MotoChecksEveryRequest) {
  ASSERT_GT(uploaded_, 1000) << "the store went up with the temporary credentials";
  EXPECT_EQ(temp_->access_key.rfind("ASIA", 0), 0u) << temp_->access_key;
  EXPECT_FALSE(temp_->session_token.empty());
  const std::string key = "/" + std::string(kBucket) + "/" + kPrefix + "/BranchForeachFlow/0/_meta/0";
  std::string answer;
  const long listed = moto_->request_as(*temp_, "s3", "GET", "/" + std::string(kBucket) + "?max-keys=1", "", {}, &answer);
  EXPECT_EQ(listed, 200) << answer;
  AwsCredentials no_token = *temp_;
  no_token.session_token.clear();
  EXPECT_EQ(moto_->request_as(no_token, "s3", "GET", key, "", {}, &answer), 403) << "the key alone is not enough: " << answer;
  AwsCredentials wrong_token = *temp_;
  wrong_token.session_token = "not-the-token";
  EXPECT_NE(moto_->request_as(wrong_token, "s3", "GET", "/" + std::string(kBucket) + "?max-keys=1", "", {}, &answer), 200)
      << answer;
  EXPECT_NE(answer.find("InvalidToken"), std::string::npos) << answer;
  EXPECT_EQ(moto_->request("GET", "/" + std::string(kBucket) + "?max-keys=1", "", {}, &answer), 403)
      << "moto's placeholder key is refused: " << answer;
}

TEST_F(S3SessionTest, SessionTokenFromTheEnvironmentReadsEveryValue) {
  TestDb db;
  tables(db);
  expect_same_artifacts(db, "l_artifacts", "s_artifacts");
  const std::string tasks = "SELECT flow, run_id, step, task_id, attempt, finished, successful FROM ";
  EXPECT_EQ(db.query(tasks + "l_tasks ORDER BY 1, 2, 3, 4"), db.query(tasks + "s_tasks ORDER BY 1, 2, 3, 4"));
  EXPECT_GT(s3_requests(db), 300) << "values were read from S3, every request accepted by moto";
  EXPECT_EQ(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND NOT cache_hit AND status <> 200"), "0");
  EXPECT_EQ(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE target LIKE " + quote("%" + temp_->session_token + "%") +
                       " OR target LIKE " + quote("%" + temp_->secret_key + "%")),
            "0");
}

TEST_F(S3SessionTest, WrongOrMissingSessionTokenGivesAClearErrorWithoutTheSecrets) {
  use_environment(temp_->access_key, temp_->secret_key, "FQoGZXIvYXdzEWrongSessionTokenValue0123456789");
  std::string error = read_error();
  std::printf("[ message ] wrong token: %s\n", error.c_str());
  EXPECT_NE(error.find(kBucket), std::string::npos) << error;
  EXPECT_NE(error.find("BranchForeachFlow/"), std::string::npos) << "names the key: " << error;
  EXPECT_NE(error.find("InvalidToken"), std::string::npos) << error;
  EXPECT_NE(error.find("AWS_SESSION_TOKEN"), std::string::npos) << "a bad token is a credentials error: " << error;
  EXPECT_EQ(error.find("FQoGZXIvYXdzEWrongSessionTokenValue0123456789"), std::string::npos) << error;

  use_environment(temp_->access_key, temp_->secret_key, "");  // a temporary key without its token
  error = read_error();
  std::printf("[ message ] no token: %s\n", error.c_str());
  EXPECT_NE(error.find(kBucket), std::string::npos) << error;
  EXPECT_NE(error.find("AWS_SESSION_TOKEN"), std::string::npos) << "says where credentials come from: " << error;

  use_environment(temp_->access_key, temp_->secret_key, temp_->session_token);  // and right again
  TestDb db;
  tables(db);
  EXPECT_EQ(db.query("SELECT task_id, value FROM l_artifacts" + std::string(kSquares)),
            db.query("SELECT task_id, value FROM s_artifacts" + std::string(kSquares)));
}

TEST_F(S3SessionTest, SessionTokenFromACredentialsProfile) {
  use_profile("mfsql-temp", "aws_access_key_id = " + temp_->access_key + "\naws_secret_access_key = " + temp_->secret_key +
                                "\naws_session_token = " + temp_->session_token + "\n");
  {
    TestDb db;
    tables(db);
    auto local = db.query("SELECT task_id, sha, value, hex(blob) FROM l_artifacts" + std::string(kSquares));
    ASSERT_GE(local.size(), 10u);
    EXPECT_EQ(local, db.query("SELECT task_id, sha, value, hex(blob) FROM s_artifacts" + std::string(kSquares)));
    EXPECT_GE(s3_requests(db), 1) << "the values came from S3";
    EXPECT_EQ(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE kind = 's3' AND NOT cache_hit AND status <> 200"), "0");
  }
  // The same profile without its token: moto refuses, so the token above came from the file.
  scratch_dir_ = std::make_unique<TempDir>();
  setenv("MFSQL_S3_CACHE_DIR", (scratch_dir_->path() / "s3").c_str(), 1);
  use_profile("mfsql-temp", "aws_access_key_id = " + temp_->access_key + "\naws_secret_access_key = " + temp_->secret_key + "\n");
  const std::string error = read_error();
  std::printf("[ message ] profile without its token: %s\n", error.c_str());
  EXPECT_NE(error.find(kBucket), std::string::npos) << error;
  EXPECT_NE(error.find("profile 'mfsql-temp'"), std::string::npos) << "names the profile used: " << error;
}

}  // namespace
}  // namespace mfsql::testing
