// Decoded facts kept beside their folder's remembered entry (cache/folder_memory.hpp,
// StoredFact), and so persisted with its shard: a new process answers a folder whose stat is
// unchanged from the facts, parsing no JSON and reading no file of it.
#include "cache/folder_memory.hpp"

namespace mfsql {

std::optional<FileStat> StoreMemory::facts_state(const std::string& dir) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  if (it == shard.end() || it->second.is_file || it->second.facts.empty()) return std::nullopt;
  return it->second.stat;
}

std::optional<FactBytes> StoreMemory::fact(const std::string& dir, const FileStat& now_stat, int64_t now_ns,
                                           std::string_view name, int64_t* checked_ns) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  if (it == shard.end() || it->second.is_file || !(it->second.stat == now_stat)) return std::nullopt;
  for (auto& f : it->second.facts)
    if (f.key() == name) {
      if (!trusted(now_stat, f.checked_ns, now_ns)) return std::nullopt;
      *checked_ns = f.checked_ns;
      if (f.in_blob) return FactBytes{it->second.blob, f.blob_bytes};  // a new process: read in place
      // Decoded in this process, whose decoded facts started over since: encoded now.
      auto copy = std::make_shared<const std::string>(f.pending() ? f.encoder(f.value.get()) : f.bytes);
      const std::string_view bytes(*copy);
      return FactBytes{std::move(copy), bytes};
    }
  return std::nullopt;
}

void StoreMemory::encode_facts_locked(RememberedEntry& e) {
  long delta = 0;
  for (auto& f : e.facts)
    if (f.pending()) {
      delta -= static_cast<long>(f.estimate);
      f.bytes = f.encoder(f.value.get());
      f.encoder = nullptr;
      f.value.reset();
      delta += static_cast<long>(f.bytes.size());
    }
  std::erase_if(e.facts, [&](const StoredFact& f) {
    if (f.size() <= kMaxFileBytes) return false;
    delta -= static_cast<long>(f.key().size() + f.size() + 48);
    return true;
  });
  // Only the estimate corrected: the fact was counted, and its entry marked dirty, when it came.
  bytes_ = static_cast<size_t>(static_cast<long>(bytes_) + delta);
}

void StoreMemory::remember_fact(const std::string& dir, const FileStat& as_of, int64_t checked_ns, std::string name,
                                std::shared_ptr<const void> value, std::string (*encoder)(const void*),
                                size_t estimate) {
  StoredFact fact{std::move(name), checked_ns, {}, std::move(value), encoder, estimate};
  std::lock_guard lock(mu_);
  remember_fact_locked(dir, as_of, std::move(fact));
}

void StoreMemory::remember_fact_locked(const std::string& dir, const FileStat& as_of, StoredFact fact) {
  // Racy when decoded: a later reader (here or in a new process) could never trust it.
  if (fact.checked_ns - as_of.mtime_ns <= kGranularityNs) return;
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  // Only into the state it was decoded from: a folder that moved on meanwhile may hold other files.
  if (it == shard.end() || it->second.is_file || !(it->second.stat == as_of)) return;
  RememberedEntry& e = it->second;
  long delta = static_cast<long>(fact.name.size() + fact.size() + 48);  // as RememberedEntry::bytes()
  for (auto& f : e.facts)
    if (f.key() == fact.name) {
      delta -= static_cast<long>(f.key().size() + f.size() + 48);
      f = std::move(fact);
      return add_bytes_locked(dir, delta, lasting(e));
    }
  e.facts.push_back(std::move(fact));
  add_bytes_locked(dir, delta, lasting(e));
}

namespace {
// Under the flow's shard, at a path no store file has (a control character is never a safe
// component), so no check or read of the store ever meets it.
std::string value_path(const std::string& flow, const std::string& sha) { return flow + "/\x01value/" + sha; }
}  // namespace

std::optional<std::string> StoreMemory::value_bytes(const std::string& flow, const std::string& sha) {
  const std::string path = value_path(flow, sha);
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  auto it = shard.find(path);
  if (it == shard.end() || !it->second.is_file) return std::nullopt;
  return it->second.contents;
}

void StoreMemory::remember_value_bytes(const std::string& flow, const std::string& sha, const std::string& serialized) {
  if (serialized.size() > kMaxValueBytes) return;
  RememberedEntry fresh;  // no stat: lasting by construction (read_ns far past its zero mtime)
  fresh.is_file = true;
  fresh.read_ns = kGranularityNs + 1;
  fresh.contents = serialized;
  const long added = static_cast<long>(fresh.bytes());
  const std::string path = value_path(flow, sha);
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  auto it = shard.find(path);
  if (it != shard.end() && it->second.is_file && it->second.contents == serialized) return;  // kept already
  const long before = it == shard.end() ? 0 : static_cast<long>(it->second.bytes());
  shard[path] = std::move(fresh);
  add_bytes_locked(path, added - before, true);
}

}  // namespace mfsql
