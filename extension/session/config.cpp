#include "session/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace fs = std::filesystem;

namespace mfsql {
namespace {

// The variables mfsql reads, with Metaflow's defaults (empty: unset).
const std::vector<std::pair<std::string, std::string>> kKnown = {
    {"METAFLOW_DEFAULT_METADATA", "local"},
    {"METAFLOW_DEFAULT_DATASTORE", "local"},
    {"METAFLOW_DATASTORE_SYSROOT_LOCAL", ""},
    {"METAFLOW_DATASTORE_SYSROOT_S3", ""},
    {"METAFLOW_SERVICE_URL", ""},
    {"METAFLOW_SERVICE_AUTH_KEY", ""},
    {"METAFLOW_SERVICE_HEADERS", ""},
    {"METAFLOW_S3_ENDPOINT_URL", ""},
    {"METAFLOW_HOME", "~/.metaflowconfig"},
    {"METAFLOW_PROFILE", ""},
    {"METAFLOW_SERVICE_RETRY_COUNT", "5"},
    {"MFSQL_SERVICE_TIMEOUT_MS", "30000"},
    {"MFSQL_SERVICE_DEADLINE_MS", "300000"},
    {"MFSQL_SERVICE_CONCURRENCY", "8"},
    {"MFSQL_SERVICE_CACHE_TTL_S", "3600"},
    {"MFSQL_SERVICE_CACHE_TTL_RUNNING_S", "2"},
    {"MFSQL_S3_CACHE_DIR", ""},  // the S3 datastore's defaults: ~/.cache/mfsql/s3, 1 GiB
    {"MFSQL_S3_CACHE_BYTES", ""},
    {"METAFLOW_S3_RETRY_COUNT", "5"},
    {"AWS_ACCESS_KEY_ID", ""},
    {"AWS_SECRET_ACCESS_KEY", ""},
    {"AWS_SESSION_TOKEN", ""},
    {"AWS_PROFILE", ""},
    {"AWS_SHARED_CREDENTIALS_FILE", ""},
    {"AWS_REGION", ""},
    {"AWS_DEFAULT_REGION", ""},
};

std::string expand_home(const std::string& p) {
  if (p.empty() || p[0] != '~') return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + p.substr(1);
}

nlohmann::json read_config_file(const fs::path& p, bool required) {
  std::ifstream in(p);
  if (!in) {
    if (required)
      throw UserError("The Metaflow profile file " + p.string() +
                      " does not exist; create it or unset METAFLOW_PROFILE.");
    return nlohmann::json::object();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object())
    throw UserError("The Metaflow config file " + p.string() + " is not a JSON object; fix or remove it.");
  return j;
}

std::string as_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

bool Config::is_secret(const std::string& name) {
  return name == "METAFLOW_SERVICE_AUTH_KEY" || name == "METAFLOW_SERVICE_HEADERS" || name == "AWS_ACCESS_KEY_ID" ||
         name == "AWS_SECRET_ACCESS_KEY" || name == "AWS_SESSION_TOKEN";
}

std::string Setting::shown() const {
  if (secret) return "***";
  size_t scheme = value.find("://");
  if (scheme == std::string::npos) return value;
  size_t host = scheme + 3;
  size_t at = value.rfind('@', value.find_first_of("/?#", host));
  if (at == std::string::npos || at < host) return value;
  return value.substr(0, host) + "***" + value.substr(at);
}

Config Config::load(const std::map<std::string, std::string>& overrides) {
  Config c;
  auto set = [&](const std::string& name, const std::string& value, const std::string& origin) {
    if (!c.settings_.count(name)) c.settings_[name] = {name, value, origin, is_secret(name)};
  };
  for (auto& [k, v] : overrides) set(k, v, "module argument");
  for (auto& [name, def] : kKnown)
    if (const char* env = std::getenv(name.c_str())) set(name, env, "environment");

  // The project config: `config.json` in the nearest `.metaflow` upward from the working directory.
  std::error_code ec;
  fs::path dir = fs::current_path(ec);
  while (!ec && !dir.empty()) {
    fs::path candidate = dir / ".metaflow";
    c.searched_.push_back(candidate.string());
    std::error_code missing;
    if (fs::is_directory(candidate, missing)) {
      c.upward_root_ = candidate.string();
      auto j = read_config_file(candidate / "config.json", false);
      for (auto& [k, v] : j.items()) set(k, as_text(v), "project config " + (candidate / "config.json").string());
      break;
    }
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }

  // The global config, or the named profile's.
  const char* home_env = std::getenv("METAFLOW_HOME");
  const char* profile = std::getenv("METAFLOW_PROFILE");
  auto po = overrides.find("METAFLOW_PROFILE");
  std::string profile_name = po != overrides.end() ? po->second : (profile ? profile : "");
  fs::path home = expand_home(home_env ? home_env : "~/.metaflowconfig");
  fs::path file = home / (profile_name.empty() ? "config.json" : "config_" + profile_name + ".json");
  auto j = read_config_file(file, !profile_name.empty());
  for (auto& [k, v] : j.items()) set(k, as_text(v), "profile " + file.string());

  for (auto& [name, def] : kKnown)
    if (!def.empty()) set(name, def, "default");
  return c;
}

std::optional<std::string> Config::get(const std::string& name) const {
  auto it = settings_.find(name);
  if (it == settings_.end() || it->second.value.empty()) return std::nullopt;
  return it->second.value;
}

const Setting* Config::find(const std::string& name) const {
  auto it = settings_.find(name);
  return it == settings_.end() ? nullptr : &it->second;
}

std::vector<Setting> Config::all() const {
  std::vector<Setting> out;
  for (auto& [name, def] : kKnown) {
    auto it = settings_.find(name);
    out.push_back(it != settings_.end() ? it->second : Setting{name, "", "unset", is_secret(name)});
  }
  for (auto& entry : settings_)  // (clang 14 cannot capture a structured binding in a lambda)
    if (std::none_of(kKnown.begin(), kKnown.end(), [&](auto& k) { return k.first == entry.first; }))
      out.push_back(entry.second);
  return out;
}

std::string Config::local_root() const {
  if (auto sysroot = get("METAFLOW_DATASTORE_SYSROOT_LOCAL")) {
    fs::path p = expand_home(*sysroot);
    // root= may name the `.metaflow` folder itself or the folder that contains it.
    fs::path root = p.filename() == ".metaflow" ? p : p / ".metaflow";
    std::error_code ec;
    if (!fs::is_directory(root, ec))
      throw UserError("No Metaflow store at " + root.string() + " (METAFLOW_DATASTORE_SYSROOT_LOCAL from " +
                      find("METAFLOW_DATASTORE_SYSROOT_LOCAL")->origin +
                      " names its parent folder); point it at the folder that contains .metaflow.");
    return root.string();
  }
  if (upward_root_) return *upward_root_;
  std::string looked;
  for (auto& s : searched_) looked += "\n  " + s;
  throw UserError(
      "No Metaflow store found. mfsql looked for a .metaflow folder in the working directory and every "
      "folder above it:" + looked +
      "\nSet METAFLOW_DATASTORE_SYSROOT_LOCAL to the folder that contains .metaflow, or create the table with "
      "root='/path/to/project'.");
}

}  // namespace mfsql
