#include "session/session.hpp"

#include "datastore/local_datastore.hpp"
#include "providers/local/local_metadata.hpp"
#include "util/error.hpp"

namespace mfsql {
namespace {

// Module arguments are the Metaflow variables a user would otherwise set, under short names.
std::map<std::string, std::string> as_overrides(const engine::ModuleArgs& args) {
  std::map<std::string, std::string> out;
  for (auto& [key, value] : args) {
    if (key == "root") {
      out["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = value;
      out["METAFLOW_DEFAULT_METADATA"] = "local";
    } else if (key == "service") {
      out["METAFLOW_SERVICE_URL"] = value;
      out["METAFLOW_DEFAULT_METADATA"] = "service";
    } else if (key == "datastore") {
      if (value.rfind("s3://", 0) == 0) {
        out["METAFLOW_DATASTORE_SYSROOT_S3"] = value;
        out["METAFLOW_DEFAULT_DATASTORE"] = "s3";
      } else {
        out["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = value;
        out["METAFLOW_DEFAULT_DATASTORE"] = "local";
      }
    } else if (key == "profile") {
      out["METAFLOW_PROFILE"] = value;
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& Session::table_arguments() {
  static const std::vector<std::string> args = {"root", "service", "datastore", "profile"};
  return args;
}

Config Session::config(const engine::ModuleArgs& args) const { return Config::load(as_overrides(args)); }

std::shared_ptr<Store> Session::store(const engine::ModuleArgs& args) {
  std::string key;
  for (auto& [k, v] : args) key += k + "=" + v + "\n";
  std::lock_guard lock(mu_);
  if (auto it = stores_.find(key); it != stores_.end()) return it->second;

  Config config = Config::load(as_overrides(args));
  std::string metadata = config.get("METAFLOW_DEFAULT_METADATA").value_or("local");
  if (metadata != "local")
    throw UserError("METAFLOW_DEFAULT_METADATA is '" + metadata + "' (from " +
                    config.find("METAFLOW_DEFAULT_METADATA")->origin +
                    "), and this build of mfsql reads only local metadata; set it to 'local' or use root='...'.");
  auto files = std::make_shared<LocalFiles>(config.local_root(), trace_.get(), &memo_);
  auto store = std::make_shared<Store>(std::make_shared<LocalMetadata>(files), std::make_shared<LocalDatastore>(files),
                                       trace_, settings_);
  stores_[key] = store;
  return store;
}

}  // namespace mfsql
