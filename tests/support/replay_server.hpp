#pragma once
// The recorded metadata service (shared/fixtures/metaflow-service/recorded), served over real HTTP
// on 127.0.0.1 by cpp-httplib: each recorded request target gets its recorded status, headers and
// body byte for byte; any other target gets 404 `{}` and is counted as unexpected. Faults are
// injected on demand, per target prefix, for a number of requests.
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace mfsql::testing {

enum class Fault {
  Delay,          // wait delay_ms, then answer as recorded
  Error500,       // 500 with `body` (JSON like the service's when empty)
  Unavailable503, // 503, with Retry-After when retry_after_s >= 0
  TooMany429,     // 429, with Retry-After when retry_after_s >= 0
  Reset,          // the connection is reset (RST) before any byte of the answer
  Truncated,      // the recorded status and Content-Length, then half the body and a closed connection
  MalformedJson,  // 200 and a complete answer whose body is the first half of the recorded one
  Unauthorized401,
  Forbidden403,   // 403 with `body` (or {"message": "Forbidden"})
};

struct FaultRule {
  Fault fault;
  std::string target_prefix;  // requests whose target ("/flows/...?...") starts with this; "" = all
  int times = -1;             // how many matching requests get it; -1 = every one
  int delay_ms = 0;
  int retry_after_s = -1;
  std::string body;
};

class ReplayServer {
 public:
  explicit ReplayServer(const std::filesystem::path& recorded_dir);
  ~ReplayServer();
  ReplayServer(const ReplayServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void add_fault(FaultRule rule);
  void clear_faults();

  // Since the last reset_counts(): every request (faulted ones too), in arrival order as
  // "GET <target>", the ones the recording lacks, and the client ports they came from.
  int requests() const;
  std::vector<std::string> targets() const;
  std::vector<std::string> unexpected() const;
  std::vector<int> client_ports() const;
  void reset_counts();
  // The headers of the most recent request (names lowercased).
  std::map<std::string, std::string> last_headers() const;

 private:
  struct Recorded {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };
  std::map<std::string, Recorded> recorded_;  // by "GET <target>"
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  std::vector<FaultRule> faults_;
  std::vector<std::string> targets_, unexpected_;
  std::vector<int> ports_;
  std::map<std::string, std::string> last_headers_;
};

}  // namespace mfsql::testing
