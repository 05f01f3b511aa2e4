#pragma once
// One Metaflow deployment as mfsql reads it: where the records are (a MetadataProvider), where the
// bytes are (a Datastore), and the caches and trace that belong to the connection.
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "datastore/datastore.hpp"
#include "model/code_package_cache.hpp"
#include "model/metadata_provider.hpp"
#include "util/statement_memo.hpp"
#include "util/trace.hpp"

namespace mfsql {

class StoreMemory;

struct StoreSettings {
  size_t max_value_bytes = size_t{16} << 20;  // serialized size beyond which `value` is NULL
  size_t value_cache_entries = 4096;          // decoded small values kept, by sha
  bool cache = true;  // remember validated facts across statements (docs/caching.md); metaflow_set('cache', 'off')
};

// The connection owns its settings and may change them at any time (metaflow_set); stores read
// them through this shared pointer, so a change applies to every store already opened.
using SharedSettings = std::shared_ptr<const StoreSettings>;

using JsonValue = std::shared_ptr<const nlohmann::ordered_json>;

// Decoded small values by sha, shared by every connection of the process to one store (issue #16):
// a blob is named by its content's SHA-1, so its decoded value never changes. Bounded by the
// serialized bytes it holds; the oldest go first.
class SharedValues {
 public:
  static constexpr size_t kMaxSerializedBytes = size_t{4} << 20;
  // The process's values of the store `identity` (LocalFiles::identity()).
  static std::shared_ptr<SharedValues> of_store(const std::string& identity);
  // The value and its serialized size, when held.
  std::optional<std::pair<JsonValue, size_t>> find(const std::string& sha);
  void remember(const std::string& sha, JsonValue value, size_t serialized_size);
  // A value's serialized bytes as an earlier process (or connection) left them in the store's
  // persistent memory (cache/stored_facts.cpp), and keeping them there. Nothing without one.
  std::optional<std::string> persisted(const std::string& flow, const std::string& sha);
  void persist(const std::string& flow, const std::string& sha, const std::string& serialized);

 private:
  std::mutex mu_;
  std::list<std::string> lru_;  // newest first
  struct Held {
    JsonValue value;
    size_t serialized_size;
    std::list<std::string>::iterator lru_position;
  };
  std::unordered_map<std::string, Held> values_;
  size_t bytes_ = 0;
  std::shared_ptr<StoreMemory> memory_;  // the store's, set by of_store
};

class Store {
 public:
  Store(std::shared_ptr<MetadataProvider> meta, std::shared_ptr<Datastore> data, std::shared_ptr<Trace> trace,
        SharedSettings settings = std::make_shared<const StoreSettings>());

  MetadataProvider& meta() { return *meta_; }
  Datastore& data() { return *data_; }
  Trace& trace() { return *trace_; }
  const StoreSettings& settings() const { return *settings_; }
  // The connection's statement memo, for values derived per statement (may be null: then nothing
  // derived is kept). Set by the session that opens the store.
  StatementMemo* statement_memo() const { return memo_; }
  void set_statement_memo(StatementMemo* memo) { memo_ = memo; }
  // The code packages this connection has listed, by sha (model/code_package.*).
  CodePackageCache& code_packages() { return code_packages_; }

  // Per connection: whether the server's run status stands for `flow` (client::server_status_stands),
  // decided once from the flow's newest graph rather than again in every statement.
  std::optional<bool> remembered_status_rule(const std::string& flow) {
    std::lock_guard lock(cache_mu_);
    auto it = status_rules_.find(flow);
    return it == status_rules_.end() ? std::nullopt : std::optional<bool>(it->second);
  }
  void remember_status_rule(const std::string& flow, bool stands) {
    std::lock_guard lock(cache_mu_);
    status_rules_[flow] = stands;
  }

  // The serializer's bytes of a blob (gunzipped). Throws CorruptRecord when missing or damaged.
  std::string blob(const std::string& flow, const std::string& sha, size_t max_size);

  // An artifact's value rendered as JSON, decoded from its pickle without executing anything.
  // nullptr when its encoding is not a pickle (an extension's serializer) or its serialized size
  // passes settings().max_value_bytes. Values are immutable by sha, so small ones are cached for
  // the connection. Throws CorruptRecord when undecodable. `serialized`, when the caller already
  // holds the blob's bytes, saves reading it again.
  JsonValue value(const ArtifactRecord& artifact, const std::string* serialized = nullptr);

  static bool is_pickle_encoding(const std::string& content_type);

  // Share decoded values with the process's other connections to this store, while
  // settings().cache says so (the session does it when the cache is wanted).
  void share_values(std::shared_ptr<SharedValues> shared) { shared_values_ = std::move(shared); }

  // Fetches these blobs of `flow` together, ahead of the blob() and value() calls that will want
  // them, when the datastore fetches concurrently (S3); otherwise does nothing. Shas whose value is
  // cached are skipped unless `raw_bytes_too`. The blobs are kept until the next prefetch, so a
  // batch costs one round of concurrent requests and its memory is bounded by the batch.
  void prefetch_blobs(const std::string& flow, const std::vector<std::string>& shas, bool raw_bytes_too);

 private:
  JsonValue decode_value(const ArtifactRecord& artifact, const std::string* serialized);  // value, untainted
  void remember_value(const std::string& sha, const JsonValue& value, size_t serialized_size);
  // The stored object at `key`: from the last prefetch when there, else from the datastore.
  std::optional<StoredObject> fetch(const std::string& key);

  std::shared_ptr<MetadataProvider> meta_;
  std::shared_ptr<Datastore> data_;
  std::shared_ptr<Trace> trace_;
  SharedSettings settings_;
  StatementMemo* memo_ = nullptr;

  std::mutex cache_mu_;
  std::list<std::string> lru_;
  struct CachedValue {
    JsonValue value;
    size_t serialized_size;  // checked against the cap on every hit: the cap can change
    std::list<std::string>::iterator lru_position;
  };
  std::unordered_map<std::string, CachedValue> values_;
  std::unordered_map<std::string, bool> status_rules_;  // by flow
  std::shared_ptr<SharedValues> shared_values_;

  CodePackageCache code_packages_;

  std::mutex prefetch_mu_;
  std::unordered_map<std::string, std::optional<StoredObject>> prefetched_;  // by key
};

}  // namespace mfsql
