#include "support/replay_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return -1;
}

// Resets the connection a request came on: finds its socket among this process's descriptors by
// its two ports, makes its close abortive (SO_LINGER 0: an RST, not a FIN) and closes it by
// putting /dev/null in its place, so that the server's own later writes and close go nowhere.
bool reset_connection(int server_port, int client_port) {
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (port_of(local) != server_port || port_of(peer) != client_port) continue;
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, fd);  // closes the socket: RST
    close(null_fd);
    return true;
  }
  return false;
}

std::string content_type_of(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (auto& [k, v] : headers)
    if (k == "Content-Type") return v;
  return "text/plain; charset=utf-8";
}

}  // namespace

ReplayServer::ReplayServer(const fs::path& recorded_dir) {
  auto manifest = nlohmann::json::parse(slurp(recorded_dir / "manifest.json"));
  for (auto& [key, entry] : manifest.at("requests").items()) {
    Recorded r;
    r.status = entry.at("status").get<int>();
    r.body = slurp(recorded_dir / entry.at("file").get<std::string>());
    for (auto& [name, value] : entry.at("headers").items())
      if (name != "Content-Length" && name != "Content-Type") r.headers.emplace_back(name, value.get<std::string>());
    r.headers.emplace_back("Content-Type", entry.at("headers").value("Content-Type", "text/plain; charset=utf-8"));
    recorded_.emplace(key, std::move(r));
  }

  server_ = std::make_unique<httplib::Server>();
  server_->set_tcp_nodelay(true);
  // A thread per open connection: enough for clients that keep several alive while others queue.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string key = "GET " + req.target;
    std::optional<FaultRule> fault;
    const Recorded* rec = nullptr;
    {
      std::lock_guard lock(mu_);
      targets_.push_back(key);
      ports_.push_back(req.remote_port);
      last_headers_.clear();
      for (auto& [name, value] : req.headers) {
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        last_headers_[lower] = value;
      }
      for (auto& rule : faults_) {
        if (rule.times == 0 || req.target.rfind(rule.target_prefix, 0) != 0) continue;
        if (rule.times > 0) --rule.times;
        fault = rule;
        break;
      }
      auto it = recorded_.find(key);
      if (it != recorded_.end()) rec = &it->second;
      else if (!fault) unexpected_.push_back(key);
    }
    auto answer_recorded = [&] {
      if (!rec) {
        res.status = 404;
        res.set_content("{}", "text/plain; charset=utf-8");
        return;
      }
      res.status = rec->status;
      for (auto& [k, v] : rec->headers)
        if (k != "Content-Type") res.set_header(k.c_str(), v);
      res.set_content(rec->body, content_type_of(rec->headers).c_str());
    };
    if (!fault) return answer_recorded();
    switch (fault->fault) {
      case Fault::Delay: {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(fault->delay_ms);
        while (std::chrono::steady_clock::now() < until && !stopping_)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return answer_recorded();
      }
      case Fault::Error500:
        res.status = 500;
        res.set_content(fault->body.empty() ? R"({"detail": "boom", "status": 500, "title": "Internal Server Error"})"
                                            : fault->body,
                        "application/json");
        return;
      case Fault::Unavailable503:
      case Fault::TooMany429:
        res.status = fault->fault == Fault::TooMany429 ? 429 : 503;
        if (fault->retry_after_s >= 0) res.set_header("Retry-After", std::to_string(fault->retry_after_s));
        res.set_content(fault->body.empty() ? "{\"message\": \"try later\"}" : fault->body, "application/json");
        return;
      case Fault::Unauthorized401:
        res.status = 401;
        res.set_content(fault->body.empty() ? "{\"message\": \"Unauthorized\"}" : fault->body, "application/json");
        return;
      case Fault::Forbidden403:
        res.status = 403;
        res.set_content(fault->body.empty() ? "{\"message\": \"Forbidden\"}" : fault->body, "application/json");
        return;
      case Fault::Reset:
        reset_connection(port_, req.remote_port);
        res.status = 500;  // written to /dev/null
        return;
      case Fault::Truncated: {
        std::string body = rec ? rec->body : std::string(200, ' ');
        res.status = rec ? rec->status : 200;
        res.set_content_provider(body.size(), "text/plain; charset=utf-8",
                                 [body](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset == 0) sink.write(body.data(), body.size() / 2);
                                   return false;  // abort: the connection closes short of Content-Length
                                 });
        return;
      }
      case Fault::MalformedJson: {
        std::string body = rec ? rec->body : std::string("[{\"flow_id\": \"X\", \"ts_epoch\": 1}]");
        res.status = 200;
        res.set_content(body.substr(0, body.size() / 2), "text/plain; charset=utf-8");
        return;
      }
    }
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("the replay server could not bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

ReplayServer::~ReplayServer() {
  stopping_ = true;
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ReplayServer::add_fault(FaultRule rule) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(rule));
}

void ReplayServer::clear_faults() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

int ReplayServer::requests() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(targets_.size());
}

std::vector<std::string> ReplayServer::targets() const {
  std::lock_guard lock(mu_);
  return targets_;
}

std::vector<std::string> ReplayServer::unexpected() const {
  std::lock_guard lock(mu_);
  return unexpected_;
}

std::vector<int> ReplayServer::client_ports() const {
  std::lock_guard lock(mu_);
  return ports_;
}

void ReplayServer::reset_counts() {
  std::lock_guard lock(mu_);
  targets_.clear();
  unexpected_.clear();
  ports_.clear();
}

std::map<std::string, std::string> ReplayServer::last_headers() const {
  std::lock_guard lock(mu_);
  return last_headers_;
}

}  // namespace mfsql::testing
