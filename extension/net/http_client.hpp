#pragma once
// The one HTTP engine, on libcurl, for the metadata service and the S3 datastore. One multi handle
// per client, so connections are kept and reused across requests, and several requests run at once.
// Connection errors, and answers a user's rules call transient, are retried with jittered
// exponential backoff (Retry-After honoured); each request has its own timeout and everything stays
// inside the caller's deadline. Waiting loops poll the cancel flag and the interrupt check at least
// every 100 ms.
//
// What differs between users is a Profile: headers and signing, the trace kind, a body cap, and the
// rules that judge each answer and word each failure, so every message speaks the user's language.
// get and get_many follow the metadata service's rules (service_rules.cpp); S3 passes its own.
//
// Every attempt is recorded in the Trace by its URL, without userinfo and never with a header. No
// message contains a header value (the API key, METAFLOW_SERVICE_HEADERS and the AWS session
// token are secrets), and libcurl keeps the credentials it signs with to itself.
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/error.hpp"
#include "util/trace.hpp"

namespace mfsql::net {

using Clock = std::chrono::steady_clock;

// The settings a user changes, named in error messages.
inline constexpr const char* kTimeoutSetting = "MFSQL_SERVICE_TIMEOUT_MS";
inline constexpr const char* kDeadlineSetting = "MFSQL_SERVICE_DEADLINE_MS";
inline constexpr const char* kRetrySetting = "METAFLOW_SERVICE_RETRY_COUNT";

struct HttpOptions {
  // Sent by get and get_many. All values are treated as secrets: scrubbed from error excerpts.
  std::vector<std::pair<std::string, std::string>> headers;
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;  // one attempt of one request
  long deadline_ms = 300000;        // everything one statement waits for (applied by the caller)
  int max_tries = 5;                // attempts per request, as METAFLOW_SERVICE_RETRY_COUNT
  long backoff_base_ms = 200;       // first retry waits 0.5-1x this, doubling per try
  long backoff_max_ms = 5000;
  int max_in_flight = 8;
  size_t max_body_bytes = size_t{1} << 30;  // for get and get_many
};

struct HttpResponse {
  std::string url;
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased; the last value of a repeated name

  std::optional<std::string> header(const std::string& lowercase_name) const;
};

// Why the engine gave up on a request: the facts a user's rules turn into a message.
struct HttpFailure {
  enum class Kind {
    kTransport,  // no whole answer (refused, reset, timed out, truncated)
    kStatus,     // answers the rules called transient, until tries or time ran out
    kTooBig,     // the body passed the profile's cap
    kDeadline,   // the caller's deadline passed
  };
  Kind kind = Kind::kTransport;
  int tries = 0;
  bool out_of_time = false;           // tries were left, but not the time to wait for them
  std::optional<long> asked_wait_ms;  // the wait Retry-After asked for (kStatus)
  std::string error;                  // libcurl's reason (kTransport), unscrubbed
  bool timed_out = false;             // the last try hit its per-request timeout
};

enum class Verdict { kDone, kRetry };

// One user's way of talking HTTP. Callbacks get the request's index in the batch.
struct Profile {
  std::string trace_kind = "http";
  std::vector<std::string> headers;    // "Name: value" lines for every request
  std::function<void(CURL*)> prepare;  // runs after the engine's options: signing, encodings
  size_t max_body_bytes = SIZE_MAX;
  std::string interrupted_message = "The query was interrupted.";
  // Judges an answer: kDone hands it back, kRetry tries again while tries and time last. Throws
  // UserError for an answer that is a final failure.
  std::function<Verdict(size_t index, const HttpResponse&)> judge;
  // The error to throw when the engine gives up on a request.
  std::function<UserError(size_t index, const HttpResponse&, const HttpFailure&)> fail;
};

class HttpClient {
 public:
  // Throws UserError when a header name or value could smuggle a line break.
  HttpClient(HttpOptions options, std::shared_ptr<Trace> trace);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const HttpOptions& options() const { return options_; }

  // Polled while waiting; true stops the wait with Interrupted. (The session passes one that
  // reads sqlite3_is_interrupted where SQLite has it.)
  void set_interrupt_check(std::function<bool()> check);
  // Stops the current (or next) wait within 100 ms with Interrupted; the flag then clears.
  void cancel() { cancelled_ = true; }

  // The responses in the order of `urls`, each judged by `profile`. One batch at a time per client.
  std::vector<HttpResponse> fetch(const std::vector<std::string>& urls, const Profile& profile,
                                  Clock::time_point deadline);

  // Metadata service requests: statuses other than the ones that throw (401, 403, 3xx, 5xx, and
  // retryable ones after the last try) are returned for the caller to judge, e.g. 404.
  std::vector<HttpResponse> get_many(const std::vector<std::string>& urls, Clock::time_point deadline) {
    return fetch(urls, service_, deadline);
  }
  HttpResponse get(const std::string& url, Clock::time_point deadline);

  // The first bytes of a body, fit for an error message: secrets replaced by ***, control
  // characters by spaces.
  std::string excerpt(std::string_view body, size_t max_chars = 200) const;

 private:
  struct Job;
  void start(Job& job, const Profile& profile, curl_slist* headers, Clock::time_point deadline);
  // Returns true when the job is finished, false when it was rescheduled; throws when it failed.
  bool finish(Job& job, CURLcode code, const Profile& profile, Clock::time_point deadline);
  void check_cancelled(const Profile& profile);
  long backoff_ms(int tries);
  Profile service_profile() const;  // service_rules.cpp

  HttpOptions options_;
  std::shared_ptr<Trace> trace_;
  Profile service_;
  std::function<bool()> interrupted_;
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;  // one transfer loop at a time: a curl multi handle is not thread-safe
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_easy_;  // reused between requests
  uint64_t rng_state_;
};

// The URL as shown in traces and messages: without `user:password@`.
std::string redact_url(const std::string& url);

// Percent-encodes everything but unreserved characters and those in `keep`.
std::string url_escape(std::string_view text, std::string_view keep = "");

// "1 try", "3 tries".
std::string tries_text(int tries);

}  // namespace mfsql::net
