#include "session/session.hpp"

#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cache/folder_memory.hpp"
#include "datastore/local_datastore.hpp"
#include "datastore/s3_datastore.hpp"
#include "net/http_client.hpp"
#include "providers/local/local_metadata.hpp"
#include "providers/service/service_metadata.hpp"
#include "util/error.hpp"

namespace mfsql {
namespace {

// Module arguments are the Metaflow variables a user would otherwise set, under short names.
struct Overrides {
  std::map<std::string, std::string> values;     // METAFLOW_* name → value
  std::map<std::string, std::string> arguments;  // METAFLOW_* name → the argument that set it, for messages
};

Overrides as_overrides(const engine::ModuleArgs& args) {
  Overrides out;
  // `arg` for the setting that carries the argument's value; not for the ones it implies.
  auto set = [&](const std::string& name, const std::string& value, const std::string& arg = "") {
    out.values[name] = value;
    if (!arg.empty()) out.arguments[name] = arg;
  };
  for (auto& [key, value] : args) {
    // An empty value would read as "not set" and quietly fall back to Metaflow's configuration.
    if (value.empty())
      throw UserError(key + "='' is empty; give " + key + "= " +
                      (key == "service" ? "the service's URL" : key == "profile" ? "a profile name" : "a folder") +
                      ", or leave " + key + "= out to use Metaflow's configuration.");
    if (key == "root") {
      set("METAFLOW_DATASTORE_SYSROOT_LOCAL", value, key);
      set("METAFLOW_DEFAULT_METADATA", "local");
    } else if (key == "service") {
      set("METAFLOW_SERVICE_URL", value, key);
      set("METAFLOW_DEFAULT_METADATA", "service");
    } else if (key == "datastore") {
      if (value.rfind("s3://", 0) == 0) {
        set("METAFLOW_DATASTORE_SYSROOT_S3", value, key);
        set("METAFLOW_DEFAULT_DATASTORE", "s3");
      } else {
        set("METAFLOW_DATASTORE_SYSROOT_LOCAL", value, key);
        set("METAFLOW_DEFAULT_DATASTORE", "local");
      }
    } else if (key == "profile") {
      set("METAFLOW_PROFILE", value, key);
    }
  }
  return out;
}

Config load_config(const engine::ModuleArgs& args) {
  Overrides o = as_overrides(args);
  return Config::load(o.values, o.arguments);
}

// A whole-number setting; Config supplies its default (session/config.cpp).
long number_setting(const Config& config, const char* name, long min, long max) {
  std::string text = config.get(name).value_or("");
  try {
    size_t used = 0;
    long n = std::stol(text, &used);
    if (used == text.size() && n >= min && n <= max) return n;
  } catch (const std::exception&) {
  }
  throw UserError(std::string(name) + " is '" + text + "' (from " + (config.find(name) ? config.find(name)->origin : "unset") +
                  "); set it to a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ".");
}

// Stands in for the datastore of service runs when none is configured: metadata-only questions
// work, and the first artifact value or log read says what to set.
class MissingDatastore final : public Datastore {
 public:
  explicit MissingDatastore(std::string why) : why_(std::move(why)) {}
  std::string describe() const override { return "no datastore"; }
  std::optional<StoredObject> get(const std::string&, bool) override { throw UserError(why_); }

 private:
  std::string why_;
};

// The S3 datastore at METAFLOW_DATASTORE_SYSROOT_S3, when METAFLOW_DEFAULT_DATASTORE is 's3'.
std::shared_ptr<Datastore> open_s3_datastore(const Config& config, const std::shared_ptr<Trace>& trace,
                                             const std::function<bool()>& interrupted) {
  auto root = config.get("METAFLOW_DATASTORE_SYSROOT_S3");
  if (!root)
    throw UserError("METAFLOW_DEFAULT_DATASTORE is 's3' (from " + config.find("METAFLOW_DEFAULT_DATASTORE")->origin +
                    ") but METAFLOW_DATASTORE_SYSROOT_S3 is not set; set it to s3://bucket/prefix, or create the "
                    "table with datastore='s3://bucket/prefix'.");
  auto options = s3_options(*root, [&](const char* name) { return config.get(name); });
  options.interrupted = interrupted;
  return std::make_shared<S3Datastore>(std::move(options), trace);
}

// The headers every request carries: METAFLOW_SERVICE_HEADERS, then x-api-key. Secrets: no
// message quotes them.
std::vector<std::pair<std::string, std::string>> service_headers(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto text = config.get("METAFLOW_SERVICE_HEADERS")) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object())
      throw UserError("METAFLOW_SERVICE_HEADERS (from " + config.find("METAFLOW_SERVICE_HEADERS")->origin +
                      ") is not a JSON object of header names to values; fix it or unset it.");
    for (auto& [name, value] : j.items()) out.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
  }
  if (auto key = config.get("METAFLOW_SERVICE_AUTH_KEY")) out.emplace_back("x-api-key", *key);
  return out;
}

// MFSQL_CACHE=off (or 0, false, no): nothing is remembered across statements and no cache file is
// opened, whatever metaflow_set says later.
bool cache_wanted(const Config& config) {
  std::string v = config.get("MFSQL_CACHE").value_or("on");
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return !(v == "off" || v == "0" || v == "false" || v == "no");
}

std::shared_ptr<Store> open_service_store(const Config& config, const std::shared_ptr<Trace>& trace,
                                          StatementMemo* memo, SharedSettings settings,
                                          const std::function<bool()>& interrupted) {
  auto url = config.get("METAFLOW_SERVICE_URL");
  if (!url)
    throw UserError(config.said("METAFLOW_DEFAULT_METADATA") +
                    " asks for the metadata service, but METAFLOW_SERVICE_URL is not set; set it, or create the table "
                    "with service='https://...'.");
  if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0)
    throw UserError(config.said("METAFLOW_SERVICE_URL") + " is not a web address; " +
                    config.fix("METAFLOW_SERVICE_URL", "the service's URL, starting with http:// or https://."));
  net::HttpOptions http;
  http.headers = service_headers(config);
  http.max_tries = static_cast<int>(number_setting(config, net::kRetrySetting, 1, 100));
  http.request_timeout_ms = number_setting(config, net::kTimeoutSetting, 1, 3600000);
  http.connect_timeout_ms = std::min(http.request_timeout_ms, 10000L);
  http.deadline_ms = number_setting(config, net::kDeadlineSetting, 1, 86400000);
  http.max_in_flight = static_cast<int>(number_setting(config, "MFSQL_SERVICE_CONCURRENCY", 1, 64));
  ServiceOptions service;
  service.url = *url;
  service.ttl_settled_s = static_cast<double>(number_setting(config, "MFSQL_SERVICE_CACHE_TTL_S", 0, 31536000));
  service.ttl_changing_s = static_cast<double>(number_setting(config, "MFSQL_SERVICE_CACHE_TTL_RUNNING_S", 0, 86400));
  auto client = std::make_shared<net::HttpClient>(std::move(http), trace);
  if (interrupted) client->set_interrupt_check(interrupted);
  auto meta = std::make_shared<ServiceMetadata>(std::move(service), std::move(client), trace, memo);
  // Final answers across processes, in the local store's cache file (docs/caching.md).
  if (cache_wanted(config))
    if (auto persistence = default_persistence())
      meta->persist_in(service::PersistedAnswers::shared(*url, std::move(persistence)),
                       [settings] { return settings->cache; });

  // Values and logs: the service records the datastore root the runs wrote to, which is where
  // they were run; mfsql reads the one configured here, as Metaflow's client does.
  std::shared_ptr<Datastore> data;
  std::string kind = config.get("METAFLOW_DEFAULT_DATASTORE").value_or("local");
  if (kind == "s3") {
    data = open_s3_datastore(config, trace, interrupted);
  } else if (kind != "local") {
    data = std::make_shared<MissingDatastore>(
        "METAFLOW_DEFAULT_DATASTORE is '" + kind + "', and this build of mfsql reads artifact values and logs from "
        "a local or S3 datastore only; set METAFLOW_DATASTORE_SYSROOT_LOCAL or create the table with datastore='/path'.");
  } else {
    try {
      data = std::make_shared<LocalDatastore>(std::make_shared<LocalFiles>(config.local_root(), trace.get(), memo));
    } catch (const UserError&) {
      if (config.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")) throw;  // named, but not a store: say so now
      data = std::make_shared<MissingDatastore>(
          "Artifact values and logs of the metadata service's runs live in their datastore, and none is set: set "
          "METAFLOW_DATASTORE_SYSROOT_LOCAL to the folder that contains .metaflow, or create the table with "
          "datastore='/path/to/that/folder'.");
    }
  }
  return std::make_shared<Store>(std::move(meta), std::move(data), trace, std::move(settings));
}


}  // namespace

const std::vector<std::string>& Session::table_arguments() {
  static const std::vector<std::string> args = {"root", "service", "datastore", "profile"};
  return args;
}

// The connection closes: what its statements handed to the cache's writer thread is saved before
// the close returns, so a process started after it (or a test) finds the file written.
Session::~Session() { StoreMemory::drain_writes(); }

Config Session::config(const engine::ModuleArgs& args) const { return load_config(args); }

std::shared_ptr<Store> Session::store(const engine::ModuleArgs& args) {
  std::string key;
  for (auto& [k, v] : args) key += k + "=" + v + "\n";
  std::lock_guard lock(mu_);
  if (auto it = stores_.find(key); it != stores_.end()) return it->second;

  Config config = load_config(args);
  std::string metadata = config.get("METAFLOW_DEFAULT_METADATA").value_or("local");
  if (metadata == "service") {
    auto store = open_service_store(config, trace_, &memo_, settings_, interrupted_);
    store->set_statement_memo(&memo_);
    stores_[key] = store;
    return store;
  }
  if (metadata != "local")
    throw UserError("METAFLOW_DEFAULT_METADATA is '" + metadata + "' (from " +
                    config.find("METAFLOW_DEFAULT_METADATA")->origin +
                    "); mfsql reads 'local' and 'service' metadata. Set it to one of them, or use root='...' or "
                    "service='...'.");
  // Local metadata always lives in the local .metaflow, also when blobs, data.json and logs go to S3.
  auto files = std::make_shared<LocalFiles>(config.local_root(), trace_.get(), &memo_);
  std::shared_ptr<SharedValues> shared_values;
  if (cache_wanted(config))
    if (std::string identity = files->identity(); !identity.empty()) {
      files->remember_in(StoreMemory::shared(identity, default_persistence()),
                         [settings = settings_] { return settings->cache; });
      shared_values = SharedValues::of_store(identity);
    }
  std::shared_ptr<Datastore> data;
  if (config.get("METAFLOW_DEFAULT_DATASTORE").value_or("local") == "s3") data = open_s3_datastore(config, trace_, interrupted_);
  else data = std::make_shared<LocalDatastore>(files);
  auto store = std::make_shared<Store>(std::make_shared<LocalMetadata>(files), std::move(data), trace_, settings_);
  // Blobs in the local store only: S3 blobs keep the on-disk cache of their own.
  if (config.get("METAFLOW_DEFAULT_DATASTORE").value_or("local") != "s3") store->share_values(std::move(shared_values));
  store->set_statement_memo(&memo_);
  stores_[key] = store;
  return store;
}

}  // namespace mfsql
