#pragma once
// The real metadata service of this ctest run: the CTest fixture `live_service` (live_service.sh up)
// starts Netflix/metaflow-service with a private PostgreSQL and loads, through its REST API, the
// recorded fixture flows (same ids as the recording) and the local stores' runs (ids the service
// chose, datastore locations in S3). Tests read its URL and the id mapping from live.json.
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace mfsql::testing {

struct HttpAnswer {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased
};
// A plain GET (no retries: the live service answers or the test fails). Throws on a transport error.
HttpAnswer http_get(const std::string& url);
// A POST of a JSON body, as Metaflow's writer sends one. Throws on a transport error.
HttpAnswer http_post(const std::string& url, const nlohmann::json& body);
// The same for writing a test's data: throws unless the service answered 200; returns its JSON.
nlohmann::json post_ok(const std::string& url, const nlohmann::json& body);

class LiveService {
 public:
  // The service the fixture started, read from $MFSQL_LIVE_STATE/live.json. nullptr when the test
  // runs outside ctest (no MFSQL_LIVE_STATE); throws when ctest named a state the fixture did not
  // write (the set-up failed: its output says why).
  static const LiveService* find();
  // Why find() returned nullptr: the reason to skip a live test.
  static std::string skip_reason();

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT, no trailing slash
  int pg_port() const { return state_.at("pg_port").get<int>(); }
  const nlohmann::json& state() const { return state_; }  // runs, tasks, counts, requests, s3_root

  // The service's run number for a local store's run, and its task id for a local task.
  std::string run(const std::string& flow, const std::string& local_run) const;
  std::string task(const std::string& flow, const std::string& local_run, const std::string& step,
                   const std::string& local_task) const;
  bool has_run(const std::string& flow, const std::string& local_run) const;

  // Where the local stores' datastore files are registered: s3://<bucket>/<prefix>.
  static constexpr const char* kBucket = "mfsql-live";
  static constexpr const char* kPrefix = "metaflow";
  std::string s3_root() const { return state_.at("s3_root").get<std::string>(); }

  // A tree under `into` that holds the datastore files of the local store `root` (a .metaflow
  // folder) as the service's ids name them — <Flow>/<run number>/<step>/<task id>/... and
  // <Flow>/data/... — copies of the originals, without the local metadata (_meta). Uploaded
  // to S3 it is the datastore the service's runs point at. Returns the new .metaflow folder.
  std::filesystem::path datastore_as_registered(const std::filesystem::path& root,
                                                const std::filesystem::path& into) const;

 private:
  std::string url_;
  nlohmann::json state_;
};

}  // namespace mfsql::testing
