#pragma once
// Metaflow's local metadata provider, read-only: the `_meta` folders of a `.metaflow` tree,
// answered exactly as metaflow/plugins/metadata_providers/local.py answers them
// (metaflow-format.md §1).
#include <memory>

#include "model/metadata_provider.hpp"
#include "util/local_files.hpp"

namespace mfsql {

class LocalMetadata final : public MetadataProvider {
 public:
  explicit LocalMetadata(std::shared_ptr<LocalFiles> files) : files_(std::move(files)) {}

  std::string describe() const override;
  bool reads_in_parallel() const override { return true; }
  std::vector<FlowRecord> flows() override;
  std::optional<FlowRecord> flow(const std::string& flow) override;
  std::vector<RunRecord> runs(const std::string& flow) override;
  std::optional<RunRecord> run(const ObjectPath& run) override;
  std::vector<StepRecord> steps(const ObjectPath& run) override;
  std::optional<StepRecord> step(const ObjectPath& step) override;
  std::vector<TaskRecord> tasks(const ObjectPath& step) override;
  std::optional<TaskRecord> task(const ObjectPath& task) override;
  std::vector<ArtifactRecord> artifacts(const ObjectPath& task, std::optional<int> attempt,
                                        const std::optional<std::string>& name) override;
  std::vector<MetadataEntry> metadata(const ObjectPath& task) override;
  std::vector<MetadataEntry> metadata_field(const ObjectPath& task, const std::string& field) override;
  std::vector<ArtifactRecord> artifacts_named(const ObjectPath& task, std::optional<int> attempt,
                                              const std::vector<std::string>& names) override;
  std::shared_ptr<const void> derived(const std::string& key,
                                      const std::function<std::shared_ptr<const void>(bool& keep)>& make,
                                      size_t estimate) override {
    return files_->derived(key, make, estimate);
  }

 private:
  // The attempt whose artifacts the client shows: the value of the lexicographically last
  // sysmeta_attempt-done_* file, as local.py picks it; nullopt when no attempt finished.
  std::optional<int> done_attempt(const std::string& meta_dir, const Listing& entries);
  std::vector<MetadataEntry> read_metadata(const ObjectPath& task, const std::string& prefix);
  // The decoders behind the public answers, which remember what they decode (cache/fact_memory.hpp).
  std::optional<FlowRecord> decode_flow(const std::string& flow);
  std::optional<RunRecord> decode_run(const ObjectPath& run);
  std::vector<ArtifactRecord> decode_artifacts(const ObjectPath& task, const std::string& meta, std::optional<int> attempt);
  std::vector<ArtifactRecord> decode_artifacts_named(const ObjectPath& task, const std::string& meta,
                                                     std::optional<int> attempt, const std::vector<std::string>& names);
  std::vector<MetadataEntry> decode_metadata(const ObjectPath& task, const std::string& meta, const std::string& prefix);
  std::shared_ptr<const std::string> read_self(const std::string& dir);  // null: not there
  std::vector<std::string> child_dirs(const std::string& dir);

  std::shared_ptr<LocalFiles> files_;
};

}  // namespace mfsql
