#pragma once
// A real `moto_server` (the S3 mock, on PATH through pyenv) on a free loopback port, for the S3
// datastore tests, and SigV4-signed requests to it through libcurl.
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

namespace mfsql::testing {

// Credentials to sign a request with; a non-empty `session_token` is sent (and signed) as
// x-amz-security-token. The defaults are the keys moto accepts while it does not check auth.
struct AwsCredentials {
  std::string access_key = "testing-access-key";
  std::string secret_key = "testing-secret-key";
  std::string session_token;
};

class MotoServer {
 public:
  static bool available();  // moto_server is on PATH

  // Starts moto with INITIAL_NO_AUTH_ACTION_COUNT=`unauthenticated_actions`: the first that many
  // actions are not checked, every later request's signature and IAM policies are.
  struct AuthAfter {
    int unauthenticated_actions;
  };

  // `check_auth`: moto verifies every request's signature and access key (INITIAL_NO_AUTH_ACTION_COUNT=0).
  // Throws std::runtime_error when the server does not answer within 90 s.
  explicit MotoServer(bool check_auth = false);
  explicit MotoServer(AuthAfter auth);
  ~MotoServer();
  MotoServer(const MotoServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:PORT

  // A signed request to <endpoint><path>; returns the HTTP status, the body in `response`.
  long request(const std::string& method, const std::string& path, const std::string& body = "",
               const std::map<std::string, std::string>& headers = {}, std::string* response = nullptr) const;
  // The same, signed with `as` for `service` (moto_server routes by the credential scope's service:
  // "s3", "iam", "sts"). A `Content-Type` in `headers` replaces the default application/octet-stream.
  long request_as(const AwsCredentials& as, const std::string& service, const std::string& method,
                  const std::string& path, const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {}, std::string* response = nullptr) const;

  // Creates `bucket` and uploads every file of the `.metaflow` folder `root` under `prefix`, as
  // Metaflow's S3 datastore lays them out: no `_meta` folders or sidecars; blobs carry
  // x-amz-meta-metaflow-user-attributes. Returns the number of objects uploaded.
  int upload_store(const std::filesystem::path& root, const std::string& bucket, const std::string& prefix) const;
  // The same, every request signed with `as`.
  int upload_store(const std::filesystem::path& root, const std::string& bucket, const std::string& prefix,
                   const AwsCredentials& as) const;

  static constexpr const char* kAccessKey = "testing-access-key";
  static constexpr const char* kSecretKey = "testing-secret-key";

 private:
  void start(const char* no_auth_action_count);  // nullptr: moto's default (no checks)

  pid_t pid_ = -1;
  std::string endpoint_;
  std::string log_;
};

}  // namespace mfsql::testing
