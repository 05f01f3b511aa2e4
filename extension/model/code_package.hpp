#pragma once
// Metaflow's code packages as the client sees them (metaflow/client/core.py MetaflowCode,
// Task.code, Run.code, Task/Step.environment_info; metaflow/packaging_sys): the `code-package`
// metadata of a task names a gzip'd tar stored raw in the flow's CAS (`data/<sha[:2]>/<sha>`).
// A v1 package (it has the `.mf_install` marker) keeps INFO at `.mf_meta/INFO`, a v0 one at
// `INFO`; INFO's `script` names the flow file, a member at the archive's root.
//
// The tar is untrusted: it is read in memory with libarchive, never extracted; a package larger
// than kMaxPackageBytes, inflating past kMaxInflatedBytes, or with a member named absolutely or
// with a `..` part is refused (CorruptRecord), so the columns it feeds are NULL.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/client.hpp"
#include "model/code_package_cache.hpp"

namespace mfsql::client {

inline constexpr size_t kMaxPackageBytes = size_t{512} << 20;
inline constexpr size_t kMaxInflatedBytes = size_t{2} << 30;
// Files whose content a row may carry; larger ones have NULL content and text (size and sha1 stay).
inline constexpr size_t kMaxContentBytes = size_t{64} << 20;

// The `code-package` metadata value: {"ds_type", "sha", "location", "metadata"}.
struct CodePackageRef {
  std::string sha, ds_type, location;
  std::string format = "tgz";  // `archive_format` of its `metadata` document (tgz when absent)
};
// nullopt when the dict has no (or an empty) code-package; CorruptRecord when it is not the
// document Metaflow writes.
std::optional<CodePackageRef> code_package_ref(const MetadataDict& dict);

// The package's file listing and INFO, from the connection's cache or read once (the package is
// inflated once to hash its files). Throws CorruptRecord when it is missing, not a tgz, or hostile.
std::shared_ptr<const CodePackageListing> code_package(Store& store, const std::string& flow, const CodePackageRef& ref);

// INFO as the client's MetaflowCode.info gives it; CorruptRecord when the package has none (the
// client raises "Code package metadata is invalid").
nlohmann::ordered_json code_info(const CodePackageListing& listing, const CodePackageRef& ref);

// The `code` column: {"sha", "ds_type", "location", "info", "script_name"} of this package.
std::string code_json(Store& store, const std::string& flow, const CodePackageRef& ref);
// The `code` column of a task: {"sha", "ds_type", "location", "info", "script_name"}, or nullopt
// for a task without a package. `dict` is the task's metadata_dict.
std::optional<std::string> task_code_json(Store& store, const std::string& flow, const MetadataDict& dict);

// Task.environment_info as JSON: NULL without a package or an environment_type; the string
// "Local environment" for local (and uv, which inherits it); for conda and pypi the task's environment from the package's
// conda.manifest ({} without conda_env_prefix metadata); NULL for an environment mfsql does not know.
std::optional<std::string> environment_info_json(Store& store, const std::string& flow, const MetadataDict& dict);

// Run.code: the package of the first step (newest first, private steps left out) whose newest
// task has one. Reads the run's metadata in one listing where the provider can (read_ahead).
std::optional<CodePackageRef> run_code_ref(Store& store, const ObjectPath& run);
// The run's `code` and `script_name` columns, from one Run.code lookup: the package's code JSON
// and Run.code.script_name; for a run without a package (the client has no code object) NULL and
// the `script-name` metadata the runtime registers on its _parameters task, which names the same file.
struct RunCode {
  std::optional<std::string> code_json, script_name;
};
RunCode run_code(Store& store, const ObjectPath& run);

// Step.environment_info: that of the step's newest task.
std::optional<std::string> step_environment_info_json(Store& store, const ObjectPath& step);

// Visits the contents of the package's regular files whose path `wanted` accepts, in archive
// order (a file larger than kMaxContentBytes: nullopt). Reads the package once.
void read_code_files(Store& store, const std::string& flow, const CodePackageRef& ref,
                     const std::function<bool(const std::string& path)>& wanted,
                     const std::function<void(const std::string& path, std::optional<std::string> content)>& visit);

}  // namespace mfsql::client
