#include "storegen/store_writer.hpp"

#include <cstdio>

#include "storegen/file_output.hpp"
#include "storegen/py_json.hpp"

namespace mfsql::storegen {

std::vector<std::string> RunIdentity::system_tags(const Environment& env) const {
  // The order real stores show (Python set order of the same four tags).
  return {"python_version:" + env.python_version, "user:" + user, "metaflow_version:" + env.metaflow_version,
          "runtime:" + env.runtime};
}

StoreWriter::StoreWriter(std::string metaflow_root, Environment env) : root_(std::move(metaflow_root)), env_(std::move(env)) {
  make_dirs(root_);
}

BlobStore& StoreWriter::blobs(const std::string& flow, uint32_t gzip_mtime) {
  std::lock_guard lock(mutex_);
  auto& slot = blobs_[flow];
  if (!slot) slot = std::make_unique<BlobStore>(root_ + "/" + flow, gzip_mtime);
  return *slot;
}

void StoreWriter::write_flow_self(const std::string& flow, int64_t ts_ms) {
  make_dirs(root_ + "/" + flow + "/_meta");
  write_file(root_ + "/" + flow + "/_meta/_self.json", PyJsonObject().str("flow_id", flow).integer("ts_epoch", ts_ms).finish());
}

void StoreWriter::write_latest_run(const std::string& flow, const std::string& run_id) {
  write_file(root_ + "/" + flow + "/latest_run", run_id);  // no newline, like util.py writes it
}

void StoreWriter::write_run_self(const RunIdentity& run, int64_t ts_ms) {
  std::string dir = root_ + "/" + run.flow + "/" + run.run_id + "/_meta";
  make_dirs(dir);
  write_file(dir + "/_self.json", PyJsonObject()
                                      .str("run_number", run.run_id)
                                      .str("flow_id", run.flow)
                                      .str("user_name", run.user)
                                      .str_list("tags", run.tags)
                                      .str_list("system_tags", run.system_tags(env_))
                                      .integer("ts_epoch", ts_ms)
                                      .finish());
}

void StoreWriter::write_step_self(const RunIdentity& run, const std::string& step, int64_t ts_ms) {
  std::string dir = root_ + "/" + run.flow + "/" + run.run_id + "/" + step + "/_meta";
  make_dirs(dir);
  write_file(dir + "/_self.json", PyJsonObject()
                                      .str("run_number", run.run_id)
                                      .str("step_name", step)
                                      .str("flow_id", run.flow)
                                      .str("user_name", run.user)
                                      .str_list("tags", run.tags)
                                      .str_list("system_tags", run.system_tags(env_))
                                      .integer("ts_epoch", ts_ms)
                                      .finish());
}

TaskWriter::TaskWriter(StoreWriter& store, const RunIdentity& run, std::string step, std::string task_id)
    : store_(store), run_(run), step_(std::move(step)), task_id_(std::move(task_id)) {
  dir_ = store.root() + "/" + run.flow + "/" + run.run_id + "/" + step_ + "/" + task_id_;
  make_dirs(dir_ + "/_meta");
  tags_json_ = py_json_string_list(run.tags);
  system_tags_json_ = py_json_string_list(run.system_tags(store.env()));
}

MetadataField TaskWriter::field(std::string name, std::string type, std::string value, int attempt) {
  return {std::move(name), std::move(type), py_json_string(value), {"attempt_id:" + std::to_string(attempt)}};
}

MetadataField TaskWriter::string_field(std::string name, std::string value, int attempt) {
  std::string type = name;
  return field(std::move(name), std::move(type), std::move(value), attempt);
}

void TaskWriter::write_self(int64_t ts_ms) {
  write_file(dir_ + "/_meta/_self.json", PyJsonObject()
                                             .str("run_number", run_.run_id)
                                             .str("step_name", step_)
                                             .str("task_id", task_id_)
                                             .str("flow_id", run_.flow)
                                             .str("user_name", run_.user)
                                             .raw("tags", tags_json_)
                                             .raw("system_tags", system_tags_json_)
                                             .integer("ts_epoch", ts_ms)
                                             .finish());
}

void TaskWriter::write_metadata(const std::vector<MetadataField>& fields, int64_t ts_ms) {
  for (const auto& f : fields) {
    std::string json = PyJsonObject()
                           .str("flow_id", run_.flow)
                           .str("run_number", run_.run_id)
                           .str("step_name", step_)
                           .str("task_id", task_id_)
                           .str("field_name", f.field_name)
                           .str("type", f.type)
                           .raw("value", f.value_json)
                           .str_list("tags", f.tags)
                           .str("user_name", run_.user)
                           .integer("ts_epoch", ts_ms)
                           .finish();
    write_file(dir_ + "/_meta/sysmeta_" + f.field_name + "_" + std::to_string(ts_ms) + ".json", json);
  }
}

void TaskWriter::write_system_metadata(int attempt, const std::string& script_name, int64_t ts_ms) {
  const Environment& env = store_.env();
  write_metadata({string_field("runtime", env.runtime, attempt), string_field("python_version", env.python_version, attempt),
                  string_field("user", run_.user, attempt), string_field("metaflow_version", env.metaflow_version, attempt),
                  string_field("script-name", script_name, attempt)},
                 ts_ms);
}

void TaskWriter::write_attempt_started(int attempt, int64_t epoch_us, int sub_micro_digits) {
  // time.time() carries a digit or so below the microsecond; repr() shows it.
  double seconds = static_cast<double>(epoch_us) / 1e6 + sub_micro_digits * 1e-7;
  write_file(dir_ + "/" + std::to_string(attempt) + ".attempt.json", PyJsonObject().real("time", seconds).finish());
}

void TaskWriter::write_task_begin(int attempt) {
  write_file(dir_ + "/" + std::to_string(attempt) + ".task_begin", PyJsonObject()
                                                                       .str("code_package_metadata", "")
                                                                       .null("code_package_sha")
                                                                       .null("code_package_ds")
                                                                       .null("code_package_url")
                                                                       .integer("retry_count", attempt)
                                                                       .finish());
}

void TaskWriter::write_task_end(int attempt) { write_file(dir_ + "/" + std::to_string(attempt) + ".task_end", "{}"); }

void TaskWriter::write_logs(int attempt, const std::vector<LogLine>& out, const std::vector<LogLine>& err, Rng& rng) {
  std::string prefix = dir_ + "/" + std::to_string(attempt);
  write_file(prefix + ".runtime_stdout.log", mflog_text(out, rng));
  write_file(prefix + ".runtime_stderr.log", mflog_text(err, rng));
}

std::string TaskWriter::data_json(int attempt, const std::vector<PersistedArtifact>& artifacts) const {
  std::string objects = "{", info = "{";
  for (size_t i = 0; i < artifacts.size(); ++i) {
    const auto& a = artifacts[i];
    if (i) {
      objects += ", ";
      info += ", ";
    }
    objects += py_json_string(a.name) + ": " + py_json_string(a.sha);
    info += py_json_string(a.name) + ": " +
            PyJsonObject()
                .integer("size", static_cast<int64_t>(a.size))
                .str("type", a.type)
                .str("encoding", "pickle-v4")
                .raw("serializer_info", R"({"source": "metaflow"})")
                .finish();
  }
  objects += "}";
  info += "}";
  return PyJsonObject()
      .str("datastore", "local")
      .str("version", "1.0")
      .integer("attempt", attempt)
      .str("python_version", store_.env().python_version_full)
      .raw("objects", objects)
      .raw("info", info)
      .finish();
}

void TaskWriter::write_registrations(int attempt, const std::vector<PersistedArtifact>& artifacts, int64_t ts_ms) {
  const std::string location = ":root:" + store_.env().ds_root;
  for (const auto& a : artifacts) {
    std::string json = PyJsonObject()
                           .str("run_number", run_.run_id)
                           .str("step_name", step_)
                           .str("task_id", task_id_)
                           .integer("attempt_id", attempt)
                           .str("name", a.name)
                           .str("content_type", "pickle-v4")
                           .str("type", "metaflow.artifact")
                           .str("sha", a.sha)
                           .str("ds_type", "local")
                           .str("location", location)
                           .str("flow_id", run_.flow)
                           .str("user_name", run_.user)
                           .raw("tags", tags_json_)
                           .raw("system_tags", system_tags_json_)
                           .integer("ts_epoch", ts_ms)
                           .finish();
    write_file(dir_ + "/_meta/" + std::to_string(attempt) + "_artifact_" + a.name + ".json", json);
  }
}

std::string TaskWriter::write_done(int attempt, const std::vector<PersistedArtifact>& artifacts, int64_t done_ms,
                                   int64_t registered_ms) {
  std::string json = data_json(attempt, artifacts);
  write_cloned_done(attempt, json, artifacts, done_ms, registered_ms);
  return json;
}

void TaskWriter::write_cloned_done(int attempt, const std::string& data_json, const std::vector<PersistedArtifact>& artifacts,
                                   int64_t done_ms, int64_t registered_ms) {
  std::string prefix = dir_ + "/" + std::to_string(attempt);
  write_file(prefix + ".data.json", data_json);
  write_file(prefix + ".DONE.lock", "\"\"");  // json.dumps("")
  write_metadata({string_field("attempt-done", std::to_string(attempt), attempt)}, done_ms);
  write_registrations(attempt, artifacts, registered_ms);
}

void TaskWriter::write_runtime_status(int attempt, int return_code, bool killed, bool success) {
  write_file(dir_ + "/" + std::to_string(attempt) + ".runtime",
             PyJsonObject().integer("return_code", return_code).boolean("killed", killed).boolean("success", success).finish());
}

void TaskWriter::write_file_in_task(const std::string& name, const std::string& content) {
  write_file(dir_ + "/" + name, content);
}

}  // namespace mfsql::storegen
