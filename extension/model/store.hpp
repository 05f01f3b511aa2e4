#pragma once
// One Metaflow deployment as mfsql reads it: where the records are (a MetadataProvider), where the
// bytes are (a Datastore), and the caches and trace that belong to the connection.
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "datastore/datastore.hpp"
#include "model/metadata_provider.hpp"
#include "util/trace.hpp"

namespace mfsql {

struct StoreSettings {
  size_t max_value_bytes = size_t{16} << 20;  // serialized size beyond which `value` is NULL
  size_t value_cache_entries = 4096;          // decoded small values kept, by sha
};

using JsonValue = std::shared_ptr<const nlohmann::ordered_json>;

class Store {
 public:
  Store(std::shared_ptr<MetadataProvider> meta, std::shared_ptr<Datastore> data, std::shared_ptr<Trace> trace,
        StoreSettings settings = {});

  MetadataProvider& meta() { return *meta_; }
  Datastore& data() { return *data_; }
  Trace& trace() { return *trace_; }
  const StoreSettings& settings() const { return settings_; }

  // The serializer's bytes of a blob (gunzipped). Throws CorruptRecord when missing or damaged.
  std::string blob(const std::string& flow, const std::string& sha, size_t max_size);

  // An artifact's value rendered as JSON, decoded from its pickle without executing anything.
  // nullptr when its encoding is not a pickle (an extension's serializer). Values are immutable
  // by sha, so small ones are cached for the connection. Throws CorruptRecord when undecodable.
  JsonValue value(const ArtifactRecord& artifact);

  static bool is_pickle_encoding(const std::string& content_type);

 private:
  std::shared_ptr<MetadataProvider> meta_;
  std::shared_ptr<Datastore> data_;
  std::shared_ptr<Trace> trace_;
  StoreSettings settings_;

  std::mutex cache_mu_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, std::pair<JsonValue, std::list<std::string>::iterator>> values_;
};

}  // namespace mfsql
