#include "session/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
    {"MFSQL_CACHE", "on"},  // off: nothing remembered across statements, no cache file (docs/caching.md)
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

// Read with plain POSIX calls: every connection loads its config on its first statement, and an
// ifstream's set-up alone costs more than the rest of a remembered question (issue #16).
nlohmann::json read_config_file(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nlohmann::json::object();
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || text.size() > (size_t{16} << 20)) break;  // a config file is a few hundred bytes
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object())
    throw UserError("The Metaflow config file " + p.string() + " is not a JSON object; fix or remove it.");
  return j;
}

std::string as_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The flag of the mfsql command that set `name`, from MFSQL_FLAGS ("NAME=--flag ..."), or "".
std::string flag_for(const std::string& name) {
  const char* env = std::getenv("MFSQL_FLAGS");
  std::istringstream words(env ? env : "");
  std::string word;
  while (words >> word)
    if (word.size() > name.size() + 1 && word.compare(0, name.size() + 1, name + "=") == 0) return word.substr(name.size() + 1);
  return "";
}

// The profiles that exist in `home` (config_<name>.json), for the message about one that does not.
std::string profiles_in(const fs::path& home) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(home, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string f = it->path().filename().string();
    if (f.size() > 12 && f.rfind("config_", 0) == 0 && f.compare(f.size() - 5, 5, ".json") == 0)
      names.push_back(f.substr(7, f.size() - 12));
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

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

Config Config::load(const std::map<std::string, std::string>& overrides,
                    const std::map<std::string, std::string>& arguments) {
  Config c;
  c.arguments_ = arguments;
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
      auto j = read_config_file(candidate / "config.json");
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
  std::error_code missing;
  if (!profile_name.empty() && !fs::is_regular_file(file, missing)) {
    std::string others = profiles_in(home);
    throw UserError(c.said("METAFLOW_PROFILE") + " names a Metaflow profile that does not exist: there is no file " +
                    file.string() + ". " +
                    (others.empty() ? "There are no profiles in " + home.string() + "; create " + file.filename().string() +
                                          " there, or leave out " + c.knob("METAFLOW_PROFILE") + "."
                                    : "The profiles in " + home.string() + " are: " + others + "; " +
                                          c.fix("METAFLOW_PROFILE", "one of them") + ", or create " +
                                          file.filename().string() + " there."));
  }
  auto j = read_config_file(file);
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

std::string Config::said(const std::string& name) const {
  const Setting* s = find(name);
  if (!s) return name + " (not set)";
  std::string value = s->shown();
  if (s->origin == "module argument") {
    auto arg = arguments_.find(name);
    return arg != arguments_.end() ? arg->second + "='" + value + "'" : name + " (as a module argument implies)";
  }
  if (s->origin == "environment") {
    std::string flag = flag_for(name);
    if (!flag.empty()) return flag + " " + value;
    return name + "=" + value + " (from the environment)";
  }
  return name + "=" + value + " (from " + s->origin + ")";
}

std::string Config::knob(const std::string& name) const {
  const Setting* s = find(name);
  if (!s || s->origin == "environment") {
    std::string flag = s ? flag_for(name) : "";
    return flag.empty() ? name : flag;
  }
  if (s->origin == "module argument") {
    auto arg = arguments_.find(name);
    return (arg != arguments_.end() ? arg->second : name) + "=";
  }
  for (std::string prefix : {"project config ", "profile "})
    if (s->origin.rfind(prefix, 0) == 0) return name + " in " + s->origin.substr(prefix.size());
  return name;
}

std::string Config::fix(const std::string& name, const std::string& what) const {
  const Setting* s = find(name);
  bool typed = s && (s->origin == "module argument" || (s->origin == "environment" && !flag_for(name).empty()));
  return typed ? "give " + knob(name) + " " + what : "set " + knob(name) + " to " + what;
}

std::string Config::local_root() const {
  if (auto sysroot = get("METAFLOW_DATASTORE_SYSROOT_LOCAL")) {
    fs::path p = expand_home(*sysroot);
    // root= may name the `.metaflow` folder itself or the folder that contains it.
    fs::path root = p.filename() == ".metaflow" ? p : p / ".metaflow";
    std::error_code ec;
    if (fs::is_directory(root, ec)) return root.string();
    const std::string name = "METAFLOW_DATASTORE_SYSROOT_LOCAL";
    std::string what = said(name);
    std::string fix = this->fix(name, "the folder that contains .metaflow (or the .metaflow folder itself).");
    if (fs::exists(p, ec) && !fs::is_directory(p, ec))
      throw UserError(what + " names a file, not a folder, so it holds no Metaflow store; " + fix);
    if (!fs::is_directory(p, ec))
      throw UserError(what + ": there is no folder " + p.string() + ", so no Metaflow store at " + root.string() + "; " + fix);
    throw UserError(what + ": the folder " + p.string() + " has no .metaflow folder (looked for " + root.string() + "); " + fix);
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
