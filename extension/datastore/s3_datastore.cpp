#include "datastore/s3_datastore.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "util/error.hpp"

namespace mfsql {
namespace {

std::string trim(std::string s) {
  auto sp = [](unsigned char c) { return std::isspace(c); };
  while (!s.empty() && sp(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && sp(s[i])) ++i;
  return s.substr(i);
}

// The <Code> of an S3 XML error body, or "".
std::string error_code(const std::string& body) {
  size_t a = body.find("<Code>"), b = body.find("</Code>");
  if (a == std::string::npos || b == std::string::npos || b < a) return "";
  return body.substr(a + 6, std::min<size_t>(b - a - 6, 64));
}

// `[profile]` section of an INI credentials file: key -> value.
std::optional<std::pair<std::string, std::string>> profile_keys(const std::string& file, const std::string& profile,
                                                                std::string* token) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string line, section, id, secret;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    if (section != profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (k == "aws_access_key_id") id = v;
    else if (k == "aws_secret_access_key") secret = v;
    else if (k == "aws_session_token") *token = v;
  }
  if (id.empty() || secret.empty()) return std::nullopt;
  return std::make_pair(id, secret);
}

std::string home() {
  const char* h = std::getenv("HOME");
  return h && *h ? h : "/tmp";
}

long parse_number(const SettingLookup& setting, const char* name, long fallback, long min, long max) {
  auto text = setting(name);
  if (!text) return fallback;
  try {
    size_t used = 0;
    long long n = std::stoll(*text, &used);
    if (used == text->size() && n >= min && n <= max) return static_cast<long>(n);
  } catch (const std::exception&) {
  }
  throw UserError(std::string(name) + " is '" + *text + "'; set it to a whole number from " + std::to_string(min) +
                  " to " + std::to_string(max) + ".");
}

constexpr const char* kCredentialHelp =
    "mfsql takes S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else from "
    "the profile AWS_PROFILE (default 'default') in AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), "
    "and the region from AWS_REGION / AWS_DEFAULT_REGION";

// S3 keeps its own retry count and longer timeouts (blobs are big, and far away), and its reads
// have no statement deadline: get_many passes none, so only the tries bound the waiting.
net::HttpOptions http_options(const S3Options& o) {
  net::HttpOptions h;
  h.max_tries = o.max_tries;
  h.backoff_base_ms = o.backoff_base_ms;
  h.backoff_max_ms = o.backoff_max_ms;
  h.connect_timeout_ms = o.connect_timeout_ms;
  h.request_timeout_ms = o.request_timeout_ms;
  h.max_in_flight = o.max_in_flight;
  return h;
}

}  // namespace

S3Options s3_options(const std::string& root, const SettingLookup& setting) {
  if (root.rfind("s3://", 0) != 0 || root.size() <= 5)
    throw UserError("METAFLOW_DATASTORE_SYSROOT_S3 is '" + root + "'; set it to s3://bucket/prefix.");
  S3Options o;
  std::string rest = root.substr(5);
  size_t slash = rest.find('/');
  o.bucket = rest.substr(0, slash);
  o.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  while (!o.prefix.empty() && o.prefix.front() == '/') o.prefix.erase(0, 1);
  if (o.bucket.empty() || o.bucket.find_first_of("?#@ ") != std::string::npos)
    throw UserError("METAFLOW_DATASTORE_SYSROOT_S3 is '" + root + "', which names no valid bucket; set it to "
                    "s3://bucket/prefix.");
  if (auto e = setting("METAFLOW_S3_ENDPOINT_URL")) {
    o.endpoint = *e;
    while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  }
  if (auto r = setting("AWS_REGION")) o.region = *r;
  else if (auto r2 = setting("AWS_DEFAULT_REGION")) o.region = *r2;
  auto id = setting("AWS_ACCESS_KEY_ID"), secret = setting("AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    o.access_key = *id;
    o.secret_key = *secret;
    o.session_token = setting("AWS_SESSION_TOKEN").value_or("");
    o.credentials_origin = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment";
  } else {
    std::string file = setting("AWS_SHARED_CREDENTIALS_FILE").value_or(home() + "/.aws/credentials");
    std::string profile = setting("AWS_PROFILE").value_or("default");
    std::string token;
    if (auto keys = profile_keys(file, profile, &token)) {
      o.access_key = keys->first;
      o.secret_key = keys->second;
      o.session_token = token;
      o.credentials_origin = "profile '" + profile + "' of " + file;
    }
  }
  o.cache_dir = setting("MFSQL_S3_CACHE_DIR").value_or(home() + "/.cache/mfsql/s3");
  o.cache_bytes = static_cast<uint64_t>(parse_number(setting, "MFSQL_S3_CACHE_BYTES", 1L << 30, 0, 1L << 50));
  if (o.cache_bytes == 0) o.cache_dir.clear();
  o.max_tries = static_cast<int>(parse_number(setting, "METAFLOW_S3_RETRY_COUNT", 5, 1, 100));
  return o;
}

S3Datastore::S3Datastore(S3Options options, std::shared_ptr<Trace> trace)
    : options_(std::move(options)), trace_(trace), http_(http_options(options_), std::move(trace)) {
  if (options_.interrupted) http_.set_interrupt_check(options_.interrupted);
}

S3Datastore::~S3Datastore() = default;

std::string S3Datastore::describe() const {
  return "the S3 datastore s3://" + options_.bucket + (options_.prefix.empty() ? "" : "/" + options_.prefix);
}

std::string S3Datastore::url_of(const std::string& key) const {
  std::string path = options_.prefix.empty() ? key : options_.prefix + "/" + key;
  if (!options_.endpoint.empty()) return options_.endpoint + "/" + options_.bucket + "/" + net::url_escape(path, "/");
  return "https://" + options_.bucket + ".s3." + options_.region + ".amazonaws.com/" + net::url_escape(path, "/");
}

std::string S3Datastore::where(const std::string& key) const {
  return "s3://" + options_.bucket + "/" + (options_.prefix.empty() ? "" : options_.prefix + "/") + key;
}

net::Profile S3Datastore::profile(const std::vector<std::string>& keys) const {
  net::Profile p;
  p.trace_kind = "s3";
  p.interrupted_message = "The query was interrupted while reading " + describe() + ".";
  // Unsigned when no credentials were found: public buckets still answer, others say 403.
  if (!options_.access_key.empty()) {
    if (!options_.session_token.empty()) p.headers.push_back("x-amz-security-token: " + options_.session_token);
    p.prepare = [sigv4 = "aws:amz:" + options_.region + ":s3",
                 userpwd = options_.access_key + ":" + options_.secret_key](CURL* easy) {
      curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, sigv4.c_str());  // libcurl copies both strings
      curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd.c_str());
    };
  }
  p.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");

  p.judge = [this, &keys](size_t i, const net::HttpResponse& r) {
    const std::string s3code = error_code(r.body);
    const std::string status = "HTTP " + std::to_string(r.status) + (s3code.empty() ? "" : " " + s3code);
    if (r.status >= 200 && r.status < 300) return net::Verdict::kDone;
    if (r.status >= 500 || s3code == "SlowDown" || s3code == "InternalError" || r.status == 429)
      return net::Verdict::kRetry;
    if (s3code == "NoSuchBucket")
      throw UserError("The S3 bucket '" + options_.bucket + "' does not exist (" + describe() +
                      "); check METAFLOW_DATASTORE_SYSROOT_S3 (or the table's datastore= argument)" +
                      (options_.endpoint.empty() ? "." : " and METAFLOW_S3_ENDPOINT_URL."));
    if (r.status == 404 || s3code == "NoSuchKey") return net::Verdict::kDone;  // a missing object
    // A bad or expired session token is HTTP 400, not 403, yet it is the same fix: other credentials.
    const bool token_refused = s3code == "InvalidToken" || s3code == "ExpiredToken" || s3code == "TokenRefreshRequired";
    if (r.status == 401 || r.status == 403 || token_refused) {
      std::string used = options_.credentials_origin.empty()
                             ? "no credentials were found, so the request was unsigned"
                             : "it signed with the credentials of " + options_.credentials_origin;
      throw UserError("S3 refused to read " + where(keys[i]) + " in bucket '" + options_.bucket + "' (" + status +
                      "): " + used + ". " + kCredentialHelp + "; set credentials that may read this bucket.");
    }
    throw UserError("S3 answered " + status + " for " + where(keys[i]) + ".");
  };

  // S3 has no deadline and no body cap, so the engine gives up only after the last try.
  p.fail = [this, &keys](size_t i, const net::HttpResponse& r, const net::HttpFailure& f) {
    const std::string tries = net::tries_text(f.tries);
    if (f.kind == net::HttpFailure::Kind::kStatus) {
      const std::string s3code = error_code(r.body);
      return UserError("S3 kept failing on " + where(keys[i]) + " (HTTP " + std::to_string(r.status) +
                       (s3code.empty() ? "" : " " + s3code) + ") after " + tries + "; try again later.");
    }
    return UserError("Could not read " + where(keys[i]) + " from " + r.url.substr(0, r.url.find('/', 8)) + " after " +
                     tries + ": " + f.error + ". Check METAFLOW_S3_ENDPOINT_URL and the network.");
  };
  return p;
}

std::optional<StoredObject> S3Datastore::get(const std::string& key, bool with_attributes) {
  return std::move(get_many({key}, with_attributes).front());
}

std::vector<std::optional<StoredObject>> S3Datastore::get_many(const std::vector<std::string>& keys, bool) {
  std::vector<std::optional<StoredObject>> out(keys.size());
  std::vector<std::string> missed, urls;
  std::vector<size_t> slot;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (auto hit = cache_read(keys[i])) {
      out[i] = std::move(hit);
      continue;
    }
    missed.push_back(keys[i]);
    urls.push_back(url_of(keys[i]));
    slot.push_back(i);
  }
  if (urls.empty()) return out;
  auto answers = http_.fetch(urls, profile(missed), net::Clock::time_point::max());
  for (size_t j = 0; j < answers.size(); ++j) {
    net::HttpResponse& r = answers[j];
    if (r.status < 200 || r.status >= 300) continue;  // judged a missing object
    StoredObject obj{std::move(r.body), std::nullopt};
    if (auto attributes = r.header("x-amz-meta-metaflow-user-attributes")) obj.attributes = trim(*attributes);
    cache_write(missed[j], obj);
    out[slot[j]] = std::move(obj);
  }
  return out;
}

std::optional<uint64_t> S3Datastore::size(const std::string& key) {
  if (auto hit = cache_read(key)) return hit->bytes.size();
  const std::vector<std::string> keys{key};
  net::Profile head = profile(keys);
  head.prepare = [sign = head.prepare](CURL* easy) {
    if (sign) sign(easy);
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);  // HEAD: the size without the bytes
  };
  auto answers = http_.fetch({url_of(key)}, head, net::Clock::time_point::max());
  const net::HttpResponse& r = answers.front();
  if (r.status < 200 || r.status >= 300) return std::nullopt;  // judged a missing object
  const auto length = r.header("content-length");
  if (!length) return std::nullopt;
  try {
    return std::stoull(*length);
  } catch (const std::exception&) {
    throw CorruptRecord("S3 answered a HEAD of " + where(key) + " with an unreadable Content-Length.");
  }
}

}  // namespace mfsql
