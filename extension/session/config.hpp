#pragma once
// Metaflow's configuration, resolved as metaflow_config_funcs.py resolves it (metaflow-format.md
// §6): per variable, the environment, then the project's `.metaflow/config.json` found upward from
// the working directory, then the global `$METAFLOW_HOME/config[_<profile>].json`, then the
// default. Module arguments (root=, service=, ...) override all of them for one table. mfsql's own
// settings (MFSQL_*) and the AWS variables the S3 datastore reads resolve the same way, so that
// metaflow_config shows every setting in effect and where it came from.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mfsql {

struct Setting {
  std::string name;
  std::string value;
  std::string origin;  // "module argument", "environment", "project config <path>", "profile <path>", "default"
  bool secret = false;

  // The value fit to show (metaflow_config): "***" for a secret, and a URL's user:password@ part
  // masked, since service URLs sometimes carry credentials.
  std::string shown() const;
};

class Config {
 public:
  // Reads the environment and the config files. `overrides` are METAFLOW_* names set by module
  // arguments; `arguments` names the module argument that set each (METAFLOW_PROFILE → profile),
  // for messages. Throws UserError when a named profile's file is missing or a file is not JSON.
  static Config load(const std::map<std::string, std::string>& overrides = {},
                     const std::map<std::string, std::string>& arguments = {});

  std::optional<std::string> get(const std::string& name) const;
  const Setting* find(const std::string& name) const;
  std::vector<Setting> all() const;  // every known variable, set or not, for metaflow_config

  // Where the local store is: the `.metaflow` folder to read. Throws UserError naming every place
  // looked at, and the variable that sets it, when there is none.
  std::string local_root() const;

  static bool is_secret(const std::string& name);

  // A setting as the user gave it, for error messages: `root='/x'` (a module argument),
  // `--root /x` (a flag of the mfsql command, which lists in MFSQL_FLAGS the variables its flags
  // set), `METAFLOW_X=/x (from the environment)`, `METAFLOW_X=/x (from profile <file>)`. Secrets
  // show as ***.
  std::string said(const std::string& name) const;
  // What to change, in the same terms: `root=`, `--root`, `METAFLOW_X`, `METAFLOW_X in <file>`.
  std::string knob(const std::string& name) const;
  // What to do about it: "give --root <what>", "set METAFLOW_X in <file> to <what>".
  std::string fix(const std::string& name, const std::string& what) const;

 private:
  std::map<std::string, std::string> arguments_;
  std::map<std::string, Setting> settings_;
  std::vector<std::string> searched_;  // folders looked at for `.metaflow`, for the error message
  std::optional<std::string> upward_root_;
};

}  // namespace mfsql
