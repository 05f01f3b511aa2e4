#include "datastore/s3_datastore.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>

#include "net/http_client.hpp"
#include "util/error.hpp"

namespace mfsql {
using Clock = std::chrono::steady_clock;

struct S3Datastore::Job {
  std::string key, url;
  int tries = 0;
  Clock::time_point ready{}, started{};
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  long status = 0;
  std::string body, attributes;
  bool has_attributes = false;
  std::optional<StoredObject> result;
  bool done = false;
  char error[CURL_ERROR_SIZE] = {};
};

namespace {

std::once_flag g_curl_init;

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
    : options_(std::move(options)), trace_(std::move(trace)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi_ = curl_multi_init();
  curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_in_flight + 2));
  rng_ ^= static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

S3Datastore::~S3Datastore() {
  for (void* e : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(e));
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

std::string S3Datastore::describe() const {
  return "the S3 datastore s3://" + options_.bucket + (options_.prefix.empty() ? "" : "/" + options_.prefix);
}

std::string S3Datastore::url_of(const std::string& key) const {
  std::string path = options_.prefix.empty() ? key : options_.prefix + "/" + key;
  if (!options_.endpoint.empty()) return options_.endpoint + "/" + options_.bucket + "/" + net::url_escape(path, "/");
  return "https://" + options_.bucket + ".s3." + options_.region + ".amazonaws.com/" + net::url_escape(path, "/");
}

long S3Datastore::backoff_ms(int tries) {
  double full = static_cast<double>(options_.backoff_base_ms) * static_cast<double>(1u << std::min(tries - 1, 20));
  full = std::min(full, static_cast<double>(options_.backoff_max_ms));
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<long>(full * (0.5 + 0.5 * static_cast<double>(rng_ % 10000) / 10000.0));
}

std::optional<StoredObject> S3Datastore::get(const std::string& key, bool with_attributes) {
  return std::move(get_many({key}, with_attributes).front());
}

std::vector<std::optional<StoredObject>> S3Datastore::get_many(const std::vector<std::string>& keys, bool) {
  std::vector<std::optional<StoredObject>> out(keys.size());
  std::vector<Job> jobs;
  std::vector<size_t> where;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (auto hit = cache_read(keys[i])) {
      out[i] = std::move(hit);
      continue;
    }
    jobs.emplace_back();
    jobs.back().key = keys[i];
    jobs.back().url = url_of(keys[i]);
    where.push_back(i);
  }
  if (jobs.empty()) return out;
  {
    std::lock_guard lock(mu_);
    fetch(jobs);
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (jobs[j].result) cache_write(jobs[j].key, *jobs[j].result);
    out[where[j]] = std::move(jobs[j].result);
  }
  return out;
}

void S3Datastore::fetch(std::vector<Job>& jobs) {
  CURLM* multi = static_cast<CURLM*>(multi_);
  struct Cleanup {
    S3Datastore* self;
    std::vector<Job>& jobs;
    ~Cleanup() {
      for (auto& j : jobs) {
        if (j.easy) {
          curl_multi_remove_handle(static_cast<CURLM*>(self->multi_), j.easy);
          self->idle_easy_.push_back(j.easy);
          j.easy = nullptr;
        }
        curl_slist_free_all(j.headers);
        j.headers = nullptr;
      }
    }
  } cleanup{this, jobs};
  const std::string userpwd = options_.access_key + ":" + options_.secret_key;
  const std::string sigv4 = "aws:amz:" + options_.region + ":s3";
  std::deque<size_t> waiting;
  for (size_t i = 0; i < jobs.size(); ++i) waiting.push_back(i);
  size_t finished = 0;
  int active = 0;
  using Callback = size_t (*)(char*, size_t, size_t, void*);
  Callback on_body = [](char* data, size_t size, size_t n, void* user) -> size_t {
    static_cast<Job*>(user)->body.append(data, size * n);
    return size * n;
  };
  Callback on_header = [](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* j = static_cast<Job*>(user);
    std::string line(data, size * n);
    size_t colon = line.find(':');
    if (colon == std::string::npos) return size * n;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "x-amz-meta-metaflow-user-attributes") {
      j->attributes = trim(line.substr(colon + 1));
      j->has_attributes = true;
    }
    return size * n;
  };
  while (finished < jobs.size()) {
    if (options_.interrupted && options_.interrupted())
      throw Interrupted("The query was interrupted while reading " + describe() + ".");
    auto now = Clock::now();
    for (auto it = waiting.begin(); it != waiting.end() && active < options_.max_in_flight;) {
      Job& job = jobs[*it];
      if (job.ready > now) {
        ++it;
        continue;
      }
      CURL* easy;
      if (!idle_easy_.empty()) {
        easy = static_cast<CURL*>(idle_easy_.back());
        idle_easy_.pop_back();
        curl_easy_reset(easy);
      } else if (!(easy = curl_easy_init())) {
        throw UserError("libcurl could not start a request (out of memory).");
      }
      job.easy = easy;
      job.body.clear();
      job.attributes.clear();
      job.has_attributes = false;
      job.status = 0;
      job.error[0] = 0;
      job.started = now;
      curl_slist_free_all(job.headers);
      job.headers = nullptr;
      curl_easy_setopt(easy, CURLOPT_URL, job.url.c_str());
      if (!options_.access_key.empty()) {
        curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, sigv4.c_str());
        curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd.c_str());
        if (!options_.session_token.empty())
          job.headers = curl_slist_append(job.headers, ("x-amz-security-token: " + options_.session_token).c_str());
      }
      job.headers = curl_slist_append(job.headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job.headers);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &job);
      curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
      curl_easy_setopt(easy, CURLOPT_HEADERDATA, &job);
      curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job.error);
      curl_easy_setopt(easy, CURLOPT_PRIVATE, &job);
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
      curl_easy_setopt(easy, CURLOPT_USERAGENT, "mfsql");
      curl_multi_add_handle(multi, easy);
      ++active;
      it = waiting.erase(it);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Job* job = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&job));
      --active;
      if (finish(*job, msg->data.result)) ++finished;
      else waiting.push_back(static_cast<size_t>(job - jobs.data()));
    }
    if (finished == jobs.size()) break;
    long wait = 100;
    now = Clock::now();
    if (active < options_.max_in_flight)
      for (size_t i : waiting)
        wait = std::min<long>(wait, std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                           jobs[i].ready - now).count()));
    if (active > 0 || wait > 0) curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait), nullptr);
  }
}

bool S3Datastore::finish(Job& job, int code_int) {
  const auto code = static_cast<CURLcode>(code_int);
  curl_easy_getinfo(job.easy, CURLINFO_RESPONSE_CODE, &job.status);
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), job.easy);
  idle_easy_.push_back(job.easy);
  job.easy = nullptr;
  ++job.tries;
  const auto now = Clock::now();
  if (trace_) {
    TraceEntry e;
    e.kind = "s3";
    e.target = job.url;  // credentials travel in headers, never in the URL
    e.status = code == CURLE_OK ? static_cast<int>(job.status) : -1;
    e.ms = std::chrono::duration<double, std::milli>(now - job.started).count();
    e.bytes = static_cast<int64_t>(job.body.size());
    trace_->record(std::move(e));
  }
  const std::string where = "s3://" + options_.bucket + "/" + (options_.prefix.empty() ? "" : options_.prefix + "/") + job.key;
  const std::string tries = std::to_string(job.tries) + (job.tries == 1 ? " try" : " tries");
  auto retry = [&] {
    if (job.tries >= options_.max_tries) return false;
    job.ready = now + std::chrono::milliseconds(backoff_ms(job.tries));
    return true;
  };
  if (code != CURLE_OK) {
    bool transient = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_SEND_ERROR ||
                     code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING || code == CURLE_PARTIAL_FILE ||
                     code == CURLE_OPERATION_TIMEDOUT || code == CURLE_SSL_CONNECT_ERROR;
    if (transient && retry()) return false;
    throw UserError("Could not read " + where + " from " + job.url.substr(0, job.url.find('/', 8)) + " after " + tries +
                    ": " + (job.error[0] ? std::string(job.error) : curl_easy_strerror(code)) +
                    ". Check METAFLOW_S3_ENDPOINT_URL and the network.");
  }
  const std::string s3code = error_code(job.body);
  if (job.status >= 200 && job.status < 300) {
    job.result = StoredObject{std::move(job.body), std::nullopt};
    if (job.has_attributes) job.result->attributes = std::move(job.attributes);
    return job.done = true;
  }
  if (job.status >= 500 || s3code == "SlowDown" || s3code == "InternalError" || job.status == 429) {
    if (retry()) return false;
    throw UserError("S3 kept failing on " + where + " (HTTP " + std::to_string(job.status) +
                    (s3code.empty() ? "" : " " + s3code) + ") after " + tries + "; try again later.");
  }
  if (s3code == "NoSuchBucket")
    throw UserError("The S3 bucket '" + options_.bucket + "' does not exist (" + describe() +
                    "); check METAFLOW_DATASTORE_SYSROOT_S3 (or the table's datastore= argument)" +
                    (options_.endpoint.empty() ? "." : " and METAFLOW_S3_ENDPOINT_URL."));
  if (job.status == 404 || s3code == "NoSuchKey") return job.done = true;  // a missing object
  // A bad or expired session token is HTTP 400, not 403, yet it is the same fix: other credentials.
  const bool token_refused = s3code == "InvalidToken" || s3code == "ExpiredToken" || s3code == "TokenRefreshRequired";
  if (job.status == 401 || job.status == 403 || token_refused) {
    std::string used = options_.credentials_origin.empty()
                           ? "no credentials were found, so the request was unsigned"
                           : "it signed with the credentials of " + options_.credentials_origin;
    throw UserError("S3 refused to read " + where + " in bucket '" + options_.bucket + "' (HTTP " +
                    std::to_string(job.status) + (s3code.empty() ? "" : " " + s3code) + "): " + used + ". " +
                    kCredentialHelp + "; set credentials that may read this bucket.");
  }
  throw UserError("S3 answered HTTP " + std::to_string(job.status) + (s3code.empty() ? "" : " " + s3code) +
                  " for " + where + ".");
}

}  // namespace mfsql
