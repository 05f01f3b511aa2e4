#include "support/live_service.hpp"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <utility>

namespace mfsql::testing {
namespace fs = std::filesystem;

namespace {
size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
size_t append_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.erase(0, 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}
}  // namespace

// One request: a GET, or a POST of `json_body` when it is set.
static HttpAnswer request(const std::string& url, const std::string* json_body) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  HttpAnswer answer;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  if (json_body) {
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, json_body->c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  }
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, append_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &answer.headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 60000L);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) throw std::runtime_error((json_body ? "POST " : "GET ") + url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

HttpAnswer http_get(const std::string& url) { return request(url, nullptr); }

HttpAnswer http_post(const std::string& url, const nlohmann::json& body) {
  const std::string text = body.dump();
  return request(url, &text);
}

nlohmann::json post_ok(const std::string& url, const nlohmann::json& body) {
  HttpAnswer answer = http_post(url, body);
  if (answer.status != 200)
    throw std::runtime_error("POST " + url + ": HTTP " + std::to_string(answer.status) + " " + answer.body);
  return nlohmann::json::parse(answer.body, nullptr, false);
}

const LiveService* LiveService::find() {
  static const LiveService* found = []() -> const LiveService* {
    const char* state = std::getenv("MFSQL_LIVE_STATE");
    if (!state || !*state) return nullptr;
    std::ifstream in(fs::path(state) / "live.json");
    if (!in)
      throw std::runtime_error(std::string("no ") + state +
                               "/live.json: the live_service_up fixture did not start the service (see its output)");
    auto written = nlohmann::json::parse(in);
    if (written.contains("skip")) return nullptr;
    auto* live = new LiveService;
    live->state_ = std::move(written);
    live->url_ = live->state_.at("url").get<std::string>();
    return live;
  }();
  return found;
}

std::string LiveService::skip_reason() {
  const char* state = std::getenv("MFSQL_LIVE_STATE");
  if (!state || !*state) return "run through ctest (ctest -L live): its fixture live_service starts the real service";
  std::ifstream in(fs::path(state) / "live.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() && j.contains("skip") ? j["skip"].get<std::string>() : "no live service";
}

bool LiveService::has_run(const std::string& flow, const std::string& local_run) const {
  return state_.at("runs").contains(flow + "/" + local_run);
}

std::string LiveService::run(const std::string& flow, const std::string& local_run) const {
  const auto& runs = state_.at("runs");
  auto it = runs.find(flow + "/" + local_run);
  if (it == runs.end()) throw std::runtime_error("the live service has no run for " + flow + "/" + local_run);
  return it->get<std::string>();
}

std::string LiveService::task(const std::string& flow, const std::string& local_run, const std::string& step,
                              const std::string& local_task) const {
  const auto& tasks = state_.at("tasks");
  const std::string key = flow + "/" + local_run + "/" + step + "/" + local_task;
  auto it = tasks.find(key);
  if (it == tasks.end()) throw std::runtime_error("the live service has no task for " + key);
  return it->get<std::string>();
}

fs::path LiveService::datastore_as_registered(const fs::path& root, const fs::path& into) const {
  const fs::path out = into / ".metaflow";
  auto link_tree = [](const fs::path& from, const fs::path& to) {
    for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && it->path().filename() == "_meta") {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      const fs::path target = to / fs::relative(it->path(), from);
      fs::create_directories(target.parent_path());
      fs::copy_file(it->path(), target);
    }
  };
  for (const auto& flow_dir : fs::directory_iterator(root)) {
    if (!flow_dir.is_directory()) continue;
    const std::string flow = flow_dir.path().filename().string();
    if (fs::is_directory(flow_dir.path() / "data")) link_tree(flow_dir.path() / "data", out / flow / "data");
    for (const auto& run_dir : fs::directory_iterator(flow_dir.path())) {
      const std::string local_run = run_dir.path().filename().string();
      if (!run_dir.is_directory() || !has_run(flow, local_run)) continue;
      const std::string svc_run = run(flow, local_run);
      for (const auto& step_dir : fs::directory_iterator(run_dir.path())) {
        const std::string step = step_dir.path().filename().string();
        if (!step_dir.is_directory() || step == "_meta") continue;
        for (const auto& task_dir : fs::directory_iterator(step_dir.path())) {
          const std::string local_task = task_dir.path().filename().string();
          if (!task_dir.is_directory() || local_task == "_meta") continue;
          link_tree(task_dir.path(), out / flow / svc_run / step / task(flow, local_run, step, local_task));
        }
      }
    }
  }
  return out;
}

}  // namespace mfsql::testing
