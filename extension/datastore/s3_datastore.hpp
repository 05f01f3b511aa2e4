#pragma once
// The S3 datastore: objects under s3://bucket/prefix, read with GETs through the HTTP engine
// (net/http_client.hpp), signed by libcurl's SigV4 (path-style against METAFLOW_S3_ENDPOINT_URL
// when set, else virtual-hosted AWS URLs). Blob attributes come from the
// `x-amz-meta-metaflow-user-attributes` header. CAS blobs (immutable) are kept in a bounded
// on-disk cache. Every request (and cache hit) is recorded in the Trace as kind "s3" by its URL;
// no message or trace entry contains a credential.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "datastore/datastore.hpp"
#include "net/http_client.hpp"
#include "util/trace.hpp"

namespace mfsql {

struct S3Options {
  std::string bucket;
  std::string prefix;    // without leading or trailing '/'; may be empty
  std::string endpoint;  // e.g. "http://127.0.0.1:5000" (path-style); empty for AWS
  std::string region = "us-east-1";
  std::string access_key, secret_key, session_token;  // secrets: never shown
  std::string credentials_origin;  // where they came from, for messages ("" when none were found)
  std::string cache_dir;           // empty: no cache
  uint64_t cache_bytes = uint64_t{1} << 30;
  int max_tries = 5;
  long backoff_base_ms = 200;
  long backoff_max_ms = 5000;
  long connect_timeout_ms = 10000;
  long request_timeout_ms = 120000;
  int max_in_flight = 16;
  std::function<bool()> interrupted;  // polled while waiting; true stops the wait (util/error.hpp Interrupted)
};

// Looks a setting up (environment, then Metaflow's config); nullopt when unset or empty.
using SettingLookup = std::function<std::optional<std::string>(const char* name)>;

// Options for the store at `root` ("s3://bucket/prefix"), with credentials found as AWS tools find
// them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, then the profile AWS_PROFILE
// (default "default") of AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials). Region from
// AWS_REGION / AWS_DEFAULT_REGION; cache from MFSQL_S3_CACHE_DIR / MFSQL_S3_CACHE_BYTES.
// Throws UserError when `root` is not an s3:// URL or a number is malformed.
S3Options s3_options(const std::string& root, const SettingLookup& setting);

class S3Datastore final : public Datastore {
 public:
  S3Datastore(S3Options options, std::shared_ptr<Trace> trace);
  ~S3Datastore() override;
  S3Datastore(const S3Datastore&) = delete;
  S3Datastore& operator=(const S3Datastore&) = delete;

  std::string describe() const override;
  std::optional<StoredObject> get(const std::string& key, bool with_attributes) override;
  std::vector<std::optional<StoredObject>> get_many(const std::vector<std::string>& keys,
                                                    bool with_attributes) override;
  bool fetches_concurrently() const override { return true; }
  // A HEAD request: the object's Content-Length (what Metaflow's S3 size_file reports).
  std::optional<uint64_t> size(const std::string& key) override;

  // The URL of an object, as requested and traced.
  std::string url_of(const std::string& key) const;

 private:
  // S3's rules for the engine, for one batch of `keys`: signing, what is retried, how errors read.
  net::Profile profile(const std::vector<std::string>& keys) const;
  std::string where(const std::string& key) const;  // s3://bucket/prefix/key, for messages
  std::optional<StoredObject> cache_read(const std::string& key);
  void cache_write(const std::string& key, const StoredObject& obj);
  std::string cache_path(const std::string& key) const;  // "" when the key is not a CAS blob

  S3Options options_;
  std::shared_ptr<Trace> trace_;
  net::HttpClient http_;
  std::mutex cache_mu_;
  int64_t cache_total_ = -1;  // bytes in the cache folder; -1 until first scanned
};

}  // namespace mfsql
