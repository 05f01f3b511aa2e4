#pragma once
// The narrow interface behind which each place Metaflow keeps its records lives (the local
// `.metaflow` tree, the metadata service). It answers exactly the questions Metaflow's own
// metadata providers answer; the client's semantics on top of it live in model/client.*.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/records.hpp"

namespace mfsql {

class MetadataProvider {
 public:
  virtual ~MetadataProvider() = default;

  // "local store at /home/u/proj/.metaflow" — for error messages and metaflow_config.
  virtual std::string describe() const = 0;

  virtual std::vector<FlowRecord> flows() = 0;
  virtual std::optional<FlowRecord> flow(const std::string& flow) = 0;
  virtual std::vector<RunRecord> runs(const std::string& flow) = 0;
  virtual std::optional<RunRecord> run(const ObjectPath& run) = 0;
  virtual std::vector<StepRecord> steps(const ObjectPath& run) = 0;
  virtual std::optional<StepRecord> step(const ObjectPath& step) = 0;
  virtual std::vector<TaskRecord> tasks(const ObjectPath& step) = 0;
  virtual std::optional<TaskRecord> task(const ObjectPath& task) = 0;

  // The artifacts registered by one attempt of a task; with no attempt, those of the attempt the
  // client reads (locally the last `attempt-done`; on the service the newest attempt that has the
  // flow-name artifact). `name` narrows to one artifact. An unfinished task has none.
  virtual std::vector<ArtifactRecord> artifacts(const ObjectPath& task, std::optional<int> attempt,
                                                const std::optional<std::string>& name) = 0;

  // Every metadata entry of a task, all attempts.
  virtual std::vector<MetadataEntry> metadata(const ObjectPath& task) = 0;
};

}  // namespace mfsql
