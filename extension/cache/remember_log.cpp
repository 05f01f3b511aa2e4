// Remembering off a statement's path (docs/caching.md, "Remembered after the statement"). A cold
// statement reads thousands of small `_meta` files; remembering each one in the StoreMemory as it
// is read (a lock, a shard and an entry lookup, a map node, a copy, the bound's bookkeeping) and
// its decoded facts in the FactMemory cost the 1,000-run question ~40% more instructions than
// reading with the cache off. So the statement's threads only append what they read to a log,
// each thread to its own stripe, and the end of the statement seals it: the writer thread
// remembers it, under one lock, before it encodes the shards; a statement that starts before
// that remembers it first (settle), so it finds what the last one read.
//
// Never stale: each logged read carries the check it was made after (the folder's stat and the
// wall clock before it), and is remembered only into that state of its folder under the same
// rules as an immediate remember (cache/folder_memory.cpp): the entry stands if it was in that
// state and trusted at that check, else it starts over from it; an entry holding a later read is
// left as it is; a racy check stays racy (never trusted). Until the log is remembered the memory
// simply does not know those reads, and a reader reads them again (FolderCheck::unknown keeps the
// statement itself off an entry its check did not keep).
#include <pthread.h>

#include <algorithm>
#include <iterator>

#include "cache/fact_memory.hpp"
#include "cache/folder_memory.hpp"

namespace mfsql {

// By the thread's own address (pthread_self): cheaper than std::hash of its id, and threads far
// apart in memory spread over the stripes.
StoreMemory::LogStripe& StoreMemory::log_stripe() {
  const auto self = static_cast<uint64_t>(::pthread_self());
  return log_[(self * 0x9E3779B97F4A7C15ull) >> 61];  // the top three bits: kLogStripes is 8
}

template <typename Fill>
void StoreMemory::append(const std::string& dir, Fill&& fill) {
  LogStripe& s = log_stripe();
  std::lock_guard lock(s.mu);
  // A folder's reads come one after the other on one thread (its files, then its facts).
  if (s.folders.empty() || s.folders.back().dir != dir) {
    if (s.folders.capacity() == 0) s.folders.reserve(256);
    LoggedFolder& f = s.folders.emplace_back();
    f.dir = dir;
    f.reads.reserve(4);
  }
  fill(s.folders.back().reads.emplace_back());
}

void StoreMemory::log_member(const std::string& dir, const FolderCheck& as_of, std::string_view name,
                             std::shared_ptr<const std::string> contents) {
  const size_t size = name.size() + (contents ? contents->size() : 0) + 64;
  if (contents && contents->size() > kMaxFileBytes) return;
  if (log_bytes_.fetch_add(size) + size > kMaxStoreBytes) return void(log_bytes_.fetch_sub(size));
  append(dir, [&](LoggedRead& r) {
    r.kind = LoggedRead::Kind::member;
    r.stat = as_of.stat;
    r.ns = as_of.checked_ns;
    r.name = name;
    r.contents = std::move(contents);
  });
}

void StoreMemory::log_listing(const std::string& dir, const FileStat& stat, int64_t read_ns, DirListing listing) {
  const size_t size = listing->size() * 24 + 64;
  if (log_bytes_.fetch_add(size) + size > kMaxStoreBytes) return void(log_bytes_.fetch_sub(size));
  append(dir, [&](LoggedRead& r) {
    r.kind = LoggedRead::Kind::listing;
    r.stat = stat;
    r.ns = read_ns;
    r.listing = std::move(listing);
  });
}

void StoreMemory::log_fact(const std::string& dir, const FolderCheck& as_of, std::string name,
                           std::shared_ptr<const void> value, std::string (*encoder)(const void*), size_t estimate,
                           FactMemory* facts, size_t fact_bytes) {
  append(dir, [&](LoggedRead& r) {
    r.kind = LoggedRead::Kind::fact;
    r.stat = as_of.stat;
    r.ns = as_of.checked_ns;
    r.name = std::move(name);
    r.value = std::move(value);
    r.encoder = encoder;
    r.estimate = estimate;
    r.facts = facts;
    r.fact_bytes = fact_bytes;
  });
}

void StoreMemory::seal_log() {
  std::vector<LoggedFolder> batch;
  for (auto& s : log_) {
    std::lock_guard lock(s.mu);
    if (s.folders.empty()) continue;
    if (batch.empty()) batch = std::move(s.folders);
    else std::move(s.folders.begin(), s.folders.end(), std::back_inserter(batch));
    s.folders.clear();
  }
  if (batch.empty()) return;
  std::lock_guard lock(mu_);
  sealed_.push_back(std::move(batch));
  sealed_waiting_.store(true, std::memory_order_release);
}

void StoreMemory::apply_sealed() {
  std::lock_guard lock(mu_);
  apply_sealed_locked();
}

void StoreMemory::apply_sealed_locked() {
  if (sealed_.empty()) return;
  std::vector<std::vector<LoggedFolder>> batches = std::move(sealed_);
  sealed_.clear();
  size_t logged = 0;
  // Each read's buffers are let go once remembered, and each folder's as it is done: the log and
  // the memory's copies of it are never held whole at once (the cold 1,000-run process's peak
  // RSS was 6 MiB over the old immediate path's while both were).
  for (auto& batch : batches) {
    for (auto& folder : batch) {
      for (auto& read : folder.reads) {
        if (read.kind == LoggedRead::Kind::member)
          logged += read.name.size() + (read.contents ? read.contents->size() : 0) + 64;  // as log_member
        else if (read.kind == LoggedRead::Kind::listing)
          logged += read.listing->size() * 24 + 64;
        apply_locked(folder.dir, read);
        read = LoggedRead{};
      }
      std::vector<LoggedRead>().swap(folder.reads);
    }
    std::vector<LoggedFolder>().swap(batch);
  }
  log_bytes_.fetch_sub(logged);
  // Only now (under mu_, which a sealing takes too): a statement that finds it false finds
  // every earlier statement's reads remembered, here and in the FactMemory.
  sealed_waiting_.store(false, std::memory_order_release);
}

// One logged read, remembered as the immediate calls would have remembered it when it was made:
// the folder's entry stands for the read's check if it was in that state and trusted then
// (StoreMemory::validate_folder); otherwise it starts over from that check, unless it holds a
// later read (another connection's), which is left as it is.
void StoreMemory::apply_locked(const std::string& dir, LoggedRead& read) {
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  // Both under one stat, settled at the earlier of the two moments: the entry stands for this read
  // too, whichever came first. (A folder's listing is logged with the time of its read, its files
  // with the time of the folder's check before it: applied in log order, the files used to look
  // older than the entry and were dropped, and the next process read them all again.)
  const bool stands = it != shard.end() && !it->second.is_file && it->second.stat == read.stat &&
                      trusted(it->second.stat, std::min(it->second.read_ns, read.ns),
                              std::max(it->second.read_ns, read.ns));
  if (!stands) {
    if (it != shard.end() && it->second.read_ns > read.ns) return;
    validate_folder_locked(dir, read.stat, read.ns);
  }
  if (read.kind == LoggedRead::Kind::listing)
    return remember_listing_locked(dir, read.stat, read.ns, std::move(read.listing));
  if (read.kind == LoggedRead::Kind::member)
    return remember_member_locked(dir, read.stat, read.name,
                                  read.contents ? std::optional<std::string>(*read.contents) : std::nullopt);
  if (read.facts)
    read.facts->remember_shared<void>(dir, FolderCheck{read.stat, read.ns}, read.name, read.value, read.fact_bytes);
  StoredFact fact{std::move(read.name), read.ns, {}, std::move(read.value), read.encoder, read.estimate};
  remember_fact_locked(dir, read.stat, std::move(fact));
}

}  // namespace mfsql
