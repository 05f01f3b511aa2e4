#pragma once
// Writes the files of a local Metaflow store (metaflow-format.md §1-§3) with the names, key
// orders, JSON spelling and contents Metaflow 2.19 writes. It knows the file formats, not the
// story of a run: run_simulator.hpp decides what happens when and calls these.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storegen/blob_store.hpp"
#include "storegen/mflog.hpp"

namespace mfsql::storegen {

// Who ran the flows and with what; everything that ends up in system tags and system metadata.
struct Environment {
  std::string python_version = "3.11.2";
  std::string python_version_full = "3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]";
  std::string metaflow_version = "2.19.38";
  std::string runtime = "dev";
  std::string ds_root;  // absolute path of the .metaflow folder, as recorded in ds-root/location
};

// One run as every _meta JSON of it names it.
struct RunIdentity {
  std::string flow;
  std::string run_id;
  std::string user;
  std::vector<std::string> tags;  // user tags of the run

  std::vector<std::string> system_tags(const Environment& env) const;
};

class StoreWriter {
 public:
  StoreWriter(std::string metaflow_root, Environment env);

  const Environment& env() const { return env_; }
  const std::string& root() const { return root_; }

  // The flow's CAS; created on first use. `gzip_mtime` only matters on that first call.
  BlobStore& blobs(const std::string& flow, uint32_t gzip_mtime);

  void write_flow_self(const std::string& flow, int64_t ts_ms);
  void write_latest_run(const std::string& flow, const std::string& run_id);
  void write_run_self(const RunIdentity& run, int64_t ts_ms);
  void write_step_self(const RunIdentity& run, const std::string& step, int64_t ts_ms);

 private:
  std::string root_;
  Environment env_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<BlobStore>> blobs_;
};

// One metadata entry (`sysmeta_<field>_<ms>.json`).
struct MetadataField {
  std::string field_name;
  std::string type;
  std::string value_json;         // usually a JSON string; foreach-stack is a JSON list
  std::vector<std::string> tags;  // ["attempt_id:<n>"], or [] for start_step/end_step
};

// The files of one task folder `<Flow>/<run>/<step>/<task_id>/`.
class TaskWriter {
 public:
  TaskWriter(StoreWriter& store, const RunIdentity& run, std::string step, std::string task_id);

  const std::string& task_id() const { return task_id_; }

  void write_self(int64_t ts_ms);
  // One register_metadata() call: every entry shares `ts_ms` in its file name and JSON.
  void write_metadata(const std::vector<MetadataField>& fields, int64_t ts_ms);
  // runtime, python_version, user, metaflow_version, script-name (_register_system_metadata).
  void write_system_metadata(int attempt, const std::string& script_name, int64_t ts_ms);
  void write_attempt_started(int attempt, int64_t epoch_us, int sub_micro_digits);  // <a>.attempt.json
  void write_task_begin(int attempt);
  void write_task_end(int attempt);
  void write_logs(int attempt, const std::vector<LogLine>& out, const std::vector<LogLine>& err, Rng& rng);
  // TaskDataStore.done(): <a>.data.json and <a>.DONE.lock, then metadata attempt-done at
  // `done_ms`, then the artifact registrations at `registered_ms`. Returns the data.json text.
  std::string write_done(int attempt, const std::vector<PersistedArtifact>& artifacts, int64_t done_ms,
                         int64_t registered_ms);
  // A clone (resume) copies the origin's data.json verbatim.
  void write_cloned_done(int attempt, const std::string& data_json, const std::vector<PersistedArtifact>& artifacts,
                         int64_t done_ms, int64_t registered_ms);
  void write_runtime_status(int attempt, int return_code, bool killed, bool success);  // <a>.runtime
  void write_file_in_task(const std::string& name, const std::string& content);

  static MetadataField field(std::string name, std::string type, std::string value, int attempt);
  static MetadataField string_field(std::string name, std::string value, int attempt);  // type = name

 private:
  std::string data_json(int attempt, const std::vector<PersistedArtifact>& artifacts) const;
  void write_registrations(int attempt, const std::vector<PersistedArtifact>& artifacts, int64_t ts_ms);

  StoreWriter& store_;
  const RunIdentity& run_;
  std::string step_;
  std::string task_id_;
  std::string dir_;
  std::string system_tags_json_;
  std::string tags_json_;
};

}  // namespace mfsql::storegen
