#include "model/store.hpp"

#include "datastore/cas.hpp"
#include "decode/pickle.hpp"
#include "util/error.hpp"

namespace mfsql {

namespace {
constexpr size_t kCacheableJsonBytes = 64 * 1024;
}

Store::Store(std::shared_ptr<MetadataProvider> meta, std::shared_ptr<Datastore> data, std::shared_ptr<Trace> trace,
             StoreSettings settings)
    : meta_(std::move(meta)), data_(std::move(data)), trace_(std::move(trace)), settings_(settings) {}

bool Store::is_pickle_encoding(const std::string& ct) {
  return ct.empty() || ct == "pickle-v4" || ct == "pickle-v2" || ct == "gzip+pickle-v4" || ct == "gzip+pickle-v2";
}

std::string Store::blob(const std::string& flow, const std::string& sha, size_t max_size) {
  if (!valid_sha(sha)) throw CorruptRecord("The artifact record names an invalid sha '" + sha + "'.");
  const std::string key = blob_key(flow, sha);
  auto stored = data_->get(key, true);
  if (!stored) throw CorruptRecord("The blob " + key + " is missing from " + data_->describe() + ".");
  return decode_blob(*stored, key, max_size);
}

JsonValue Store::value(const ArtifactRecord& a) {
  if (!is_pickle_encoding(a.content_type)) return nullptr;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = values_.find(a.sha); it != values_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
  }
  std::string bytes = blob(a.task.flow, a.sha, settings_.max_value_bytes);
  auto decoded = std::make_shared<const nlohmann::ordered_json>(unpickle_to_json(bytes));
  if (bytes.size() <= kCacheableJsonBytes) {
    std::lock_guard lock(cache_mu_);
    if (!values_.count(a.sha)) {
      lru_.push_front(a.sha);
      values_[a.sha] = {decoded, lru_.begin()};
      if (values_.size() > settings_.value_cache_entries) {
        values_.erase(lru_.back());
        lru_.pop_back();
      }
    }
  }
  return decoded;
}

}  // namespace mfsql
