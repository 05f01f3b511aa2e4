// The metadata service's rules for the engine: which answers are worth another try, which are
// final, and how each failure reads. They name the settings a user changes (METAFLOW_SERVICE_*,
// MFSQL_SERVICE_*), and every quoted body goes through excerpt(), so no header value shows.
#include <sstream>

#include "net/http_client.hpp"

namespace mfsql::net {
namespace {

std::string seconds_text(long ms) {
  std::ostringstream out;
  out << static_cast<double>(ms) / 1000.0;
  return out.str();
}

bool retryable_status(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }

}  // namespace

Profile HttpClient::service_profile() const {
  Profile p;
  for (auto& [name, value] : options_.headers) {
    auto bad = [](const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; };
    if (name.empty() || bad(name) || bad(value) || name.find(':') != std::string::npos)
      throw UserError("METAFLOW_SERVICE_HEADERS names a header whose name is empty or whose name or value contains "
                      "a line break or colon; fix that header.");
    p.headers.push_back(name + ": " + value);
  }
  p.headers.push_back("Accept: application/json");
  // Proxies may gzip big lists; not brotli, which libcurl may lack.
  p.prepare = [](CURL* easy) { curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip"); };
  p.max_body_bytes = options_.max_body_bytes;
  p.interrupted_message = "The query was interrupted while waiting for the metadata service.";

  // The profile lives in this client and goes with it, so the rules may use its options and excerpt().
  p.judge = [this](size_t, const HttpResponse& r) {
    const int status = r.status;
    const std::string shown = redact_url(r.url);
    if (retryable_status(status)) return Verdict::kRetry;
    if (status == 401 || status == 403)
      throw UserError("The metadata service refused the credentials for " + shown + " (HTTP " + std::to_string(status) +
                      "). mfsql sends METAFLOW_SERVICE_AUTH_KEY as the x-api-key header and METAFLOW_SERVICE_HEADERS "
                      "(a JSON object) as extra headers; set them to credentials the service accepts.");
    if (status >= 500)
      throw UserError("The metadata service failed on " + shown + " with HTTP " + std::to_string(status) + ": " +
                      excerpt(r.body));
    if (status >= 300 && status < 400)
      throw UserError("The metadata service redirected " + shown + " (HTTP " + std::to_string(status) +
                      "); mfsql does not follow redirects, which would carry the credentials elsewhere. Set "
                      "METAFLOW_SERVICE_URL to the address the service answers at.");
    return Verdict::kDone;  // 404 and the like: the provider judges them
  };

  p.fail = [this](size_t, const HttpResponse& r, const HttpFailure& f) {
    const std::string shown = redact_url(r.url);
    const std::string limit = " the statement's time limit of " + seconds_text(options_.deadline_ms) + " s (" +
                              kDeadlineSetting + ")";
    using Kind = HttpFailure::Kind;
    if (f.kind == Kind::kTooBig)
      return UserError("The metadata service's answer to " + shown + " is larger than " +
                       std::to_string(options_.max_body_bytes >> 20) + " MiB; mfsql stopped reading it.");
    if (f.kind == Kind::kDeadline || (f.kind == Kind::kStatus && f.out_of_time && !f.asked_wait_ms))
      return UserError("The metadata service did not answer " + shown + " within" + limit + "; try again, or raise it.");
    if (f.kind == Kind::kTransport) {
      std::string why = excerpt(f.error);
      if (f.timed_out)
        why += " (each try may take " + std::to_string(options_.request_timeout_ms) + " ms, " + kTimeoutSetting + ")";
      return UserError("Could not get " + shown + " from the metadata service after " + tries_text(f.tries) +
                       (f.out_of_time ? " within" + limit : std::string()) + ": " + why +
                       ". Check METAFLOW_SERVICE_URL and that the service is up.");
    }
    const std::string status = std::to_string(r.status);
    if (f.out_of_time)
      return UserError("The metadata service asked to retry " + shown + " after " + seconds_text(*f.asked_wait_ms) +
                       " s (HTTP " + status + "), past" + limit + "; try again later.");
    if (r.status == 429)
      return UserError("The metadata service kept refusing " + shown + " as too many requests (HTTP 429) after " +
                       tries_text(f.tries) + "; try again later, or raise " + kRetrySetting + ".");
    return UserError("The metadata service was unavailable for " + shown + " (HTTP " + status + ") after " +
                     tries_text(f.tries) + ": " + excerpt(r.body));
  };
  return p;
}

}  // namespace mfsql::net
