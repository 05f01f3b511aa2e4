#include "model/store.hpp"

#include <algorithm>
#include <new>

#include "cache/folder_memory.hpp"
#include "datastore/cas.hpp"
#include "decode/pickle.hpp"
#include "util/dependency_log.hpp"
#include "util/error.hpp"

namespace mfsql {

namespace {
constexpr size_t kCacheableJsonBytes = 64 * 1024;

// The serialized size a stored blob announces without being inflated: its own length when stored
// raw, else the gzip trailer's ISIZE (the length mod 2^32). nullopt when it announces nothing.
// Lets an over-the-cap value be refused before any inflating; a trailer that lies is still
// stopped by the inflate limit.
std::optional<size_t> announced_size(const StoredObject& stored) {
  if (stored.attributes) {
    auto attrs = nlohmann::json::parse(*stored.attributes, nullptr, false);
    if (attrs.is_object() && attrs.value("cas_raw", false)) return stored.bytes.size();
  }
  const std::string& b = stored.bytes;
  if (b.size() < 18 || static_cast<unsigned char>(b[0]) != 0x1f || static_cast<unsigned char>(b[1]) != 0x8b)
    return std::nullopt;
  size_t n = 0;
  for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<unsigned char>(b[b.size() - i]);  // little-endian
  return n;
}
}  // namespace

std::shared_ptr<SharedValues> SharedValues::of_store(const std::string& identity) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<SharedValues>> stores;
  std::lock_guard lock(mu);
  auto& slot = stores[identity];
  if (!slot) {
    slot = std::make_shared<SharedValues>();
    // The session made the store's memory already (LocalFiles::remember_in): this finds it.
    slot->memory_ = StoreMemory::shared(identity, default_persistence());
  }
  return slot;
}

std::optional<std::string> SharedValues::persisted(const std::string& flow, const std::string& sha) {
  return memory_ ? memory_->value_bytes(flow, sha) : std::nullopt;
}

void SharedValues::persist(const std::string& flow, const std::string& sha, const std::string& serialized) {
  if (memory_) memory_->remember_value_bytes(flow, sha, serialized);
}

std::optional<std::pair<JsonValue, size_t>> SharedValues::find(const std::string& sha) {
  std::lock_guard lock(mu_);
  auto it = values_.find(sha);
  if (it == values_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  return std::pair{it->second.value, it->second.serialized_size};
}

void SharedValues::remember(const std::string& sha, JsonValue value, size_t serialized_size) {
  std::lock_guard lock(mu_);
  if (values_.count(sha) || serialized_size > kMaxSerializedBytes / 16) return;
  lru_.push_front(sha);
  values_[sha] = {std::move(value), serialized_size, lru_.begin()};
  bytes_ += serialized_size;
  while (bytes_ > kMaxSerializedBytes && !lru_.empty()) {
    auto oldest = values_.find(lru_.back());
    bytes_ -= oldest->second.serialized_size;
    values_.erase(oldest);
    lru_.pop_back();
  }
}

Store::Store(std::shared_ptr<MetadataProvider> meta, std::shared_ptr<Datastore> data, std::shared_ptr<Trace> trace,
             SharedSettings settings)
    : meta_(std::move(meta)), data_(std::move(data)), trace_(std::move(trace)), settings_(std::move(settings)) {}

bool Store::is_pickle_encoding(const std::string& ct) {
  return ct.empty() || ct == "pickle-v4" || ct == "pickle-v2" || ct == "gzip+pickle-v4" || ct == "gzip+pickle-v2";
}

std::string Store::blob(const std::string& flow, const std::string& sha, size_t max_size) {
  if (!valid_sha(sha)) throw CorruptRecord("The artifact record names an invalid sha '" + sha + "'.");
  const std::string key = blob_key(flow, sha);
  auto stored = fetch(key);
  if (!stored) throw CorruptRecord("The blob " + key + " is missing from " + data_->describe() + ".");
  return decode_blob(*stored, key, max_size);
}

void Store::prefetch_blobs(const std::string& flow, const std::vector<std::string>& shas, bool raw_bytes_too) {
  if (!data_->fetches_concurrently()) return;
  std::vector<std::string> keys;
  {
    std::lock_guard lock(cache_mu_);
    for (const std::string& sha : shas) {
      if (!valid_sha(sha) || (!raw_bytes_too && values_.count(sha))) continue;
      std::string key = blob_key(flow, sha);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
    }
  }
  std::unordered_map<std::string, std::optional<StoredObject>> batch;
  if (keys.size() > 1) {
    try {
      auto objects = data_->get_many(keys, true);
      for (size_t i = 0; i < keys.size(); ++i) batch.emplace(keys[i], std::move(objects[i]));
    } catch (const CorruptRecord&) {
      batch.clear();  // one bad object: each row then fetches its own and reports its own damage
    }
  }
  std::lock_guard lock(prefetch_mu_);
  prefetched_ = std::move(batch);
}

std::optional<StoredObject> Store::fetch(const std::string& key) {
  {
    std::lock_guard lock(prefetch_mu_);
    if (auto it = prefetched_.find(key); it != prefetched_.end()) return it->second;
  }
  return data_->get(key, true);
}

// A value that could not be had (a blob missing, half written, or undecodable) is an answer of
// this moment, not of the files' state: whatever is derived from it, even where the caller catches
// the error and answers without it, must not be remembered (cache/derived_memory.hpp).
JsonValue Store::value(const ArtifactRecord& a, const std::string* serialized) {
  try {
    return decode_value(a, serialized);
  } catch (const CorruptRecord&) {
    if (DependencyLog* log = DependencyLog::current()) log->taint();
    throw;
  }
}

JsonValue Store::decode_value(const ArtifactRecord& a, const std::string* serialized) {
  if (!is_pickle_encoding(a.content_type)) return nullptr;
  const size_t cap = settings_->max_value_bytes;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = values_.find(a.sha); it != values_.end()) {
      if (it->second.serialized_size > cap) return nullptr;
      lru_.splice(lru_.begin(), lru_, it->second.lru_position);
      return it->second.value;
    }
  }
  // Shared by sha with the process's other connections: a blob's name is its content's SHA-1, and
  // a blob decoded whole (gzip's CRC, the pickle's STOP) is the content that name stands for.
  SharedValues* shared = shared_values_ && settings_->cache ? shared_values_.get() : nullptr;
  if (shared)
    if (auto held = shared->find(a.sha)) {
      if (held->second > cap) return nullptr;
      remember_value(a.sha, held->first, held->second);
      return held->first;
    }
  std::string fetched;
  // Decoded whole by an earlier process: its bytes are the content the sha names (the shard's
  // checksum vouches for them); bytes that do not decode are read again from the blob.
  if (shared && !serialized)
    if (auto bytes = shared->persisted(a.task.flow, a.sha)) {
      if (bytes->size() > cap) return nullptr;
      try {
        auto decoded = std::make_shared<const nlohmann::ordered_json>(unpickle_to_json(*bytes));
        remember_value(a.sha, decoded, bytes->size());
        shared->remember(a.sha, decoded, bytes->size());
        return decoded;
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception&) {
        // read from the blob below, and kept again
      }
    }
  if (!serialized) {
    if (!valid_sha(a.sha)) throw CorruptRecord("The artifact record names an invalid sha '" + a.sha + "'.");
    const std::string key = blob_key(a.task.flow, a.sha);
    auto stored = fetch(key);
    if (!stored) throw CorruptRecord("The blob " + key + " is missing from " + data_->describe() + ".");
    if (auto size = announced_size(*stored); size && *size > cap) return nullptr;
    fetched = decode_blob(*stored, key, cap);
    serialized = &fetched;
  } else if (serialized->size() > cap) {
    return nullptr;
  }
  // The decoding boundary: whatever the decoder (or the JSON it builds) throws for these bytes is
  // a damaged record, so the damaged-record rule applies; only memory exhaustion fails the query.
  std::shared_ptr<const nlohmann::ordered_json> decoded;
  try {
    decoded = std::make_shared<const nlohmann::ordered_json>(unpickle_to_json(*serialized));
  } catch (const CorruptRecord&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw CorruptRecord("The artifact " + a.task.pathspec() + "/" + a.name + " could not be decoded: " + e.what());
  }
  if (serialized->size() <= kCacheableJsonBytes) {
    remember_value(a.sha, decoded, serialized->size());
    if (shared) {
      shared->remember(a.sha, decoded, serialized->size());
      shared->persist(a.task.flow, a.sha, *serialized);
    }
  }
  return decoded;
}

void Store::remember_value(const std::string& sha, const JsonValue& value, size_t serialized_size) {
  std::lock_guard lock(cache_mu_);
  if (values_.count(sha)) return;
  lru_.push_front(sha);
  values_[sha] = {value, serialized_size, lru_.begin()};
  if (values_.size() > settings_->value_cache_entries) {
    values_.erase(lru_.back());
    lru_.pop_back();
  }
}

}  // namespace mfsql
