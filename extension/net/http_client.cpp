#include "net/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <deque>

namespace mfsql::net {

struct HttpClient::Job {
  size_t index = 0;
  int tries = 0;
  Clock::time_point ready{}, started{};
  bool clamped_by_deadline = false;  // this attempt's timeout was cut short by the deadline
  bool too_big = false;
  size_t max_body = 0;
  CURL* easy = nullptr;
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};
};

namespace {

std::once_flag g_curl_init;

// Failures of the connection rather than of the server's judgement: another try may well work.
bool transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// Seconds to wait from a Retry-After value: delta-seconds or an HTTP date.
std::optional<double> retry_after_s(const std::optional<std::string>& value) {
  if (!value || value->empty()) return std::nullopt;
  const std::string& v = *value;
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); }))
    return v.size() > 9 ? 1e9 : std::stod(v);
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, static_cast<double>(when - std::time(nullptr)));
}

// Users without a deadline pass time_point::max(), so the difference must not overflow a long.
long ms_until(Clock::time_point t, Clock::time_point now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
  return static_cast<long>(std::clamp<int64_t>(ms, -(int64_t{1} << 40), int64_t{1} << 40));
}

}  // namespace

std::optional<std::string> HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::string redact_url(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t host = scheme + 3;
  size_t end = url.find_first_of("/?#", host);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

std::string url_escape(std::string_view text, std::string_view keep) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string tries_text(int tries) { return tries == 1 ? "1 try" : std::to_string(tries) + " tries"; }

HttpClient::HttpClient(HttpOptions options, std::shared_ptr<Trace> trace)
    : options_(std::move(options)), trace_(std::move(trace)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  service_ = service_profile();
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_in_flight + 2));
  rng_state_ = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^ reinterpret_cast<uintptr_t>(this);
  if (rng_state_ == 0) rng_state_ = 0x9e3779b97f4a7c15ull;
}

HttpClient::~HttpClient() {
  for (CURL* e : idle_easy_) curl_easy_cleanup(e);
  curl_multi_cleanup(multi_);
}

void HttpClient::set_interrupt_check(std::function<bool()> check) {
  std::lock_guard lock(mu_);
  interrupted_ = std::move(check);
}

void HttpClient::check_cancelled(const Profile& profile) {
  if (cancelled_.exchange(false) || (interrupted_ && interrupted_())) throw Interrupted(profile.interrupted_message);
}

long HttpClient::backoff_ms(int tries) {
  double full = static_cast<double>(options_.backoff_base_ms) * static_cast<double>(1u << std::min(tries - 1, 20));
  full = std::min(full, static_cast<double>(options_.backoff_max_ms));
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  double jitter = 0.5 + 0.5 * static_cast<double>(rng_state_ % 10000) / 10000.0;  // 0.5x - 1x
  return static_cast<long>(full * jitter);
}

std::string HttpClient::excerpt(std::string_view body, size_t max_chars) const {
  std::string text(body);
  for (auto& [name, value] : options_.headers) {
    if (value.size() < 4) continue;  // too short to be a credential, and replacing it would mangle text
    for (size_t at = text.find(value); at != std::string::npos; at = text.find(value, at + 3))
      text.replace(at, value.size(), "***");
  }
  bool cut = text.size() > max_chars;
  if (cut) text.resize(max_chars);
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return cut ? text + "..." : text;
}

void HttpClient::start(Job& job, const Profile& profile, curl_slist* headers, Clock::time_point deadline) {
  CURL* easy;
  if (!idle_easy_.empty()) {
    easy = idle_easy_.back();
    idle_easy_.pop_back();
    curl_easy_reset(easy);
  } else {
    easy = curl_easy_init();
    if (!easy) throw UserError("libcurl could not start a request (out of memory).");
  }
  job.easy = easy;
  job.response.status = 0;
  job.response.body.clear();
  job.response.headers.clear();
  job.too_big = false;
  job.error[0] = 0;
  job.started = Clock::now();
  long remaining = std::max(1L, ms_until(deadline, job.started));
  job.clamped_by_deadline = remaining < options_.request_timeout_ms;
  job.max_body = profile.max_body_bytes;

  using Callback = size_t (*)(char*, size_t, size_t, void*);
  Callback on_body = [](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* j = static_cast<Job*>(user);
    if (size * n > j->max_body - j->response.body.size()) {
      j->too_big = true;
      return 0;
    }
    if (j->response.body.empty()) {  // the announced size at once: doubling a 40 MB body peaks at ~100 MB
      auto length = j->response.headers.find("content-length");
      if (length != j->response.headers.end()) {
        const unsigned long long announced = std::strtoull(length->second.c_str(), nullptr, 10);
        if (announced <= j->max_body) j->response.body.reserve(static_cast<size_t>(announced));
      }
    }
    j->response.body.append(data, size * n);
    return size * n;
  };
  Callback on_header = [](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* j = static_cast<Job*>(user);
    std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
      j->response.headers.clear();  // a new response (after 100 Continue)
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
    j->response.headers[name] = std::string(value);
    return size * n;
  };
  curl_easy_setopt(easy, CURLOPT_URL, job.response.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &job);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &job);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job.error);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &job);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would carry the credentials elsewhere
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.connect_timeout_ms, remaining));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::min(options_.request_timeout_ms, remaining));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "mfsql");
  if (profile.prepare) profile.prepare(easy);
  curl_multi_add_handle(multi_, easy);
}

bool HttpClient::finish(Job& job, CURLcode code, const Profile& profile, Clock::time_point deadline) {
  long status = 0;
  curl_easy_getinfo(job.easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(multi_, job.easy);
  idle_easy_.push_back(job.easy);
  job.easy = nullptr;
  ++job.tries;
  const auto now = Clock::now();
  if (trace_) {
    TraceEntry e;
    e.kind = profile.trace_kind;
    e.target = redact_url(job.response.url);
    e.status = code == CURLE_OK ? static_cast<int>(status) : -1;
    e.ms = std::chrono::duration<double, std::milli>(now - job.started).count();
    e.bytes = static_cast<int64_t>(job.response.body.size());
    trace_->record(std::move(e));
  }
  auto retry_in = [&](long wait_ms) {
    job.ready = now + std::chrono::milliseconds(wait_ms);
    return job.tries < options_.max_tries && job.ready < deadline;
  };
  HttpFailure failure;
  failure.tries = job.tries;
  if (code != CURLE_OK) {
    if (job.too_big) failure.kind = HttpFailure::Kind::kTooBig;
    else if (code == CURLE_OPERATION_TIMEDOUT && job.clamped_by_deadline) failure.kind = HttpFailure::Kind::kDeadline;
    else if (transient(code) && retry_in(backoff_ms(job.tries))) return false;
    failure.error = job.error[0] ? job.error : curl_easy_strerror(code);
    failure.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    failure.out_of_time = transient(code) && job.tries < options_.max_tries;
    throw profile.fail(job.index, job.response, failure);
  }
  job.response.status = static_cast<int>(status);
  if (profile.judge(job.index, job.response) == Verdict::kDone) return true;
  auto asked = retry_after_s(job.response.header("retry-after"));
  long wait = asked ? static_cast<long>(std::min(*asked, 1e7) * 1000) : backoff_ms(job.tries);
  if (retry_in(wait)) return false;
  failure.kind = HttpFailure::Kind::kStatus;
  failure.out_of_time = job.tries < options_.max_tries;
  if (asked) failure.asked_wait_ms = wait;
  throw profile.fail(job.index, job.response, failure);
}

std::vector<HttpResponse> HttpClient::fetch(const std::vector<std::string>& urls, const Profile& profile,
                                            Clock::time_point deadline) {
  std::lock_guard lock(mu_);
  std::vector<Job> jobs(urls.size());
  std::deque<size_t> waiting;
  for (size_t i = 0; i < urls.size(); ++i) {
    jobs[i].index = i;
    jobs[i].response.url = urls[i];
    waiting.push_back(i);
  }
  // Whatever way this returns or throws, no request is left in the multi handle.
  struct Cleanup {
    HttpClient* self;
    std::vector<Job>& jobs;
    curl_slist* headers = nullptr;
    ~Cleanup() {
      for (auto& j : jobs)
        if (j.easy) {
          curl_multi_remove_handle(self->multi_, j.easy);
          self->idle_easy_.push_back(j.easy);
          j.easy = nullptr;
        }
      curl_slist_free_all(headers);
    }
  } cleanup{this, jobs};
  for (const std::string& line : profile.headers) cleanup.headers = curl_slist_append(cleanup.headers, line.c_str());

  size_t finished = 0;
  int active = 0;
  while (finished < jobs.size()) {
    check_cancelled(profile);
    auto now = Clock::now();
    for (auto it = waiting.begin(); it != waiting.end() && active < options_.max_in_flight;) {
      Job& job = jobs[*it];
      if (job.ready > now) {
        ++it;
        continue;
      }
      if (now >= deadline) {
        HttpFailure late;
        late.kind = HttpFailure::Kind::kDeadline;
        late.tries = job.tries;
        throw profile.fail(job.index, job.response, late);
      }
      start(job, profile, cleanup.headers, deadline);
      ++active;
      it = waiting.erase(it);
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Job* job = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&job));
      --active;
      if (finish(*job, msg->data.result, profile, deadline)) ++finished;
      else waiting.push_back(job->index);
    }
    if (finished == jobs.size()) break;
    long wait = 100;  // the cancel flag is polled at least this often
    now = Clock::now();
    if (active < options_.max_in_flight)
      for (size_t i : waiting) wait = std::min(wait, std::max(0L, ms_until(jobs[i].ready, now)));
    if (active > 0 || wait > 0) curl_multi_poll(multi_, nullptr, 0, static_cast<int>(wait), nullptr);
  }
  std::vector<HttpResponse> out;
  out.reserve(jobs.size());
  for (auto& j : jobs) out.push_back(std::move(j.response));
  return out;
}

HttpResponse HttpClient::get(const std::string& url, Clock::time_point deadline) {
  return std::move(get_many({url}, deadline).front());
}

}  // namespace mfsql::net
