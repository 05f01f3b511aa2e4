#include "support/moto.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mfsql::testing {
namespace fs = std::filesystem;

namespace {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("no free port");
  }
  int port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

size_t append(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

bool MotoServer::available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/moto_server").c_str(), X_OK) == 0) return true;
  return false;
}

MotoServer::MotoServer(bool check_auth) { start(check_auth ? "0" : nullptr); }

MotoServer::MotoServer(AuthAfter auth) { start(std::to_string(auth.unauthenticated_actions).c_str()); }

void MotoServer::start(const char* no_auth_action_count) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int port = free_port();
  endpoint_ = "http://127.0.0.1:" + std::to_string(port);
  log_ = (fs::temp_directory_path() / ("mfsql-moto-" + std::to_string(port) + ".log")).string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (no_auth_action_count) ::setenv("INITIAL_NO_AUTH_ACTION_COUNT", no_auth_action_count, 1);
    else ::unsetenv("INITIAL_NO_AUTH_ACTION_COUNT");
    std::string p = std::to_string(port);
    ::execlp("moto_server", "moto_server", "-H", "127.0.0.1", "-p", p.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < until) {
    CURL* c = curl_easy_init();
    std::string sink;
    curl_easy_setopt(c, CURLOPT_URL, (endpoint_ + "/moto-api/").c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("moto_server exited; see " + log_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("moto_server did not answer on " + endpoint_ + " within 90 s; see " + log_);
}

MotoServer::~MotoServer() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!gone) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove(log_, ec);
}

long MotoServer::request(const std::string& method, const std::string& path, const std::string& body,
                         const std::map<std::string, std::string>& headers, std::string* response) const {
  return request_as(AwsCredentials{}, "s3", method, path, body, headers, response);
}

long MotoServer::request_as(const AwsCredentials& as, const std::string& service, const std::string& method,
                            const std::string& path, const std::string& body,
                            const std::map<std::string, std::string>& headers, std::string* response) const {
  CURL* c = curl_easy_init();
  std::string sink;
  curl_slist* list = nullptr;
  bool typed = false, hashed = false;
  for (auto& [k, v] : headers) {
    list = curl_slist_append(list, (k + ": " + v).c_str());
    typed |= strcasecmp(k.c_str(), "Content-Type") == 0;
    hashed |= strcasecmp(k.c_str(), "x-amz-content-sha256") == 0;
  }
  if (!typed) list = curl_slist_append(list, "Content-Type: application/octet-stream");
  // S3 wants the payload hash header and curl 7.88 does not add it; moto, checking signatures,
  // would otherwise hash a bodiless request's parsed form instead of the empty body.
  if (service == "s3" && !hashed) list = curl_slist_append(list, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!as.session_token.empty()) list = curl_slist_append(list, ("x-amz-security-token: " + as.session_token).c_str());
  const std::string url = endpoint_ + path;
  const std::string userpwd = as.access_key + ":" + as.secret_key;
  const std::string sigv4 = "aws:amz:us-east-1:" + service;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) throw std::runtime_error(method + " " + url + ": " + curl_easy_strerror(rc));
  if (response) *response = std::move(sink);
  return status;
}

int MotoServer::upload_store(const fs::path& root, const std::string& bucket, const std::string& prefix) const {
  return upload_store(root, bucket, prefix, AwsCredentials{});
}

int MotoServer::upload_store(const fs::path& root, const std::string& bucket, const std::string& prefix,
                             const AwsCredentials& as) const {
  std::string answer;
  long status = request_as(as, "s3", "PUT", "/" + bucket, "", {}, &answer);
  if (status != 200) throw std::runtime_error("creating bucket " + bucket + ": HTTP " + std::to_string(status) + " " + answer);
  std::vector<std::pair<fs::path, std::string>> files;  // path, key below the prefix
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "_meta") {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, "_meta") == 0) continue;  // blob sidecar
    files.emplace_back(it->path(), fs::relative(it->path(), root).generic_string());
  }
  // Several uploads at once: moto answers each request slowly.
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::string failure;
  auto worker = [&] {
    for (size_t i; (i = next++) < files.size();) {
      const auto& [path, rel] = files[i];
      std::map<std::string, std::string> headers;
      if (rel.find("/data/") != std::string::npos)
        headers["x-amz-meta-metaflow-user-attributes"] = R"({"cas_raw": false, "cas_version": 1})";
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), reply;
      long code = 0;
      try {
        code = request_as(as, "s3", "PUT", "/" + bucket + "/" + prefix + "/" + rel, bytes, headers, &reply);
      } catch (const std::exception& e) {
        reply = e.what();
      }
      if (code != 200) {
        std::lock_guard lock(mu);
        failure = "uploading " + rel + ": HTTP " + std::to_string(code) + " " + reply;
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!failure.empty()) throw std::runtime_error(failure);
  const int count = static_cast<int>(files.size());
  return count;
}

}  // namespace mfsql::testing
