#pragma once
// HTTP GETs for the metadata service, on libcurl. One multi handle per client, so connections are
// kept and reused across requests; `get_many` runs several requests at once. Connection errors, 429
// and 502/503/504 are retried with jittered exponential backoff (Retry-After honoured), each
// request has its own timeout and everything stays inside the caller's deadline. Waiting loops poll
// the cancel flag and the interrupt check at least every 100 ms.
//
// Every attempt is recorded in the Trace by its URL, without userinfo and never with a header.
// Failures are UserErrors: refused credentials (401/403), 5xx, exhausted retries, the deadline. No
// message contains a header value (the API key and METAFLOW_SERVICE_HEADERS are secrets).
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/trace.hpp"

namespace mfsql::net {

using Clock = std::chrono::steady_clock;

// The settings a user changes, named in error messages.
inline constexpr const char* kTimeoutSetting = "MFSQL_SERVICE_TIMEOUT_MS";
inline constexpr const char* kDeadlineSetting = "MFSQL_SERVICE_DEADLINE_MS";
inline constexpr const char* kRetrySetting = "METAFLOW_SERVICE_RETRY_COUNT";

struct HttpOptions {
  // Sent on every request. All values are treated as secrets: scrubbed from error excerpts.
  std::vector<std::pair<std::string, std::string>> headers;
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;  // one attempt of one request
  long deadline_ms = 300000;        // everything one statement waits for (applied by the caller)
  int max_tries = 5;                // attempts per request, as METAFLOW_SERVICE_RETRY_COUNT
  long backoff_base_ms = 200;       // first retry waits 0.5-1x this, doubling per try
  long backoff_max_ms = 5000;
  int max_in_flight = 8;
  size_t max_body_bytes = size_t{1} << 30;
};

struct HttpResponse {
  std::string url;
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased; the last value of a repeated name

  std::optional<std::string> header(const std::string& lowercase_name) const;
};

class HttpClient {
 public:
  // Throws UserError when a header name or value could smuggle a line break.
  HttpClient(HttpOptions options, std::shared_ptr<Trace> trace);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const HttpOptions& options() const { return options_; }

  // Polled while waiting; true stops the wait with a UserError. (The session passes one that
  // reads sqlite3_is_interrupted where SQLite has it.)
  void set_interrupt_check(std::function<bool()> check);
  // Stops the current (or next) wait within 100 ms with a UserError; the flag then clears.
  void cancel() { cancelled_ = true; }

  // The responses in the order of `urls`. Statuses other than the ones that throw (401, 403, 3xx,
  // 5xx, and retryable ones after the last try) are returned for the caller to judge, e.g. 404.
  std::vector<HttpResponse> get_many(const std::vector<std::string>& urls, Clock::time_point deadline);
  HttpResponse get(const std::string& url, Clock::time_point deadline);

  // The first bytes of a body, fit for an error message: secrets replaced by ***, control
  // characters by spaces.
  std::string excerpt(std::string_view body, size_t max_chars = 200) const;

 private:
  struct Job;
  void start(Job& job, Clock::time_point deadline);
  // Returns true when the job is finished, false when it was rescheduled; throws when it failed.
  bool finish(Job& job, int curl_code, Clock::time_point deadline);
  void check_cancelled();
  long backoff_ms(int tries);

  HttpOptions options_;
  std::shared_ptr<Trace> trace_;
  std::function<bool()> interrupted_;
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;  // one transfer loop at a time: a curl multi handle is not thread-safe
  void* multi_ = nullptr;                      // CURLM*
  void* header_list_ = nullptr;                // curl_slist*
  std::vector<void*> idle_easy_;               // CURL*, reused between requests
  uint64_t rng_state_;
};

// The URL as shown in traces and messages: without `user:password@`.
std::string redact_url(const std::string& url);

// Percent-encodes everything but unreserved characters and those in `keep`.
std::string url_escape(std::string_view text, std::string_view keep = "");

}  // namespace mfsql::net
