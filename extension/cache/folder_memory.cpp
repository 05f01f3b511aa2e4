#include "cache/folder_memory.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mfsql {
namespace {
std::atomic<PersistenceFactory> persistence_factory{nullptr};
}  // namespace

void set_default_persistence(PersistenceFactory factory) { persistence_factory = factory; }

std::shared_ptr<ShardPersistence> default_persistence() {
  PersistenceFactory f = persistence_factory;
  return f ? f() : nullptr;
}

std::shared_ptr<StoreMemory> StoreMemory::shared(const std::string& key, std::shared_ptr<ShardPersistence> persistence) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<StoreMemory>> stores;
  std::lock_guard lock(mu);
  auto& slot = stores[key];
  if (!slot) slot = std::make_shared<StoreMemory>(key, std::move(persistence));
  return slot;
}

bool StoreMemory::lasting(const RememberedEntry& e) { return e.read_ns - e.stat.mtime_ns > kGranularityNs; }

bool StoreMemory::trusted(const FileStat& stat, int64_t read_ns, int64_t now_ns) {
  // Racy: a change in the same timestamp tick as the remembered stat would leave it unchanged.
  // A clock that went backwards since the read (now < read_ns) cannot vouch for anything either.
  return read_ns - stat.mtime_ns > kGranularityNs && now_ns >= read_ns;
}

Shard& StoreMemory::shard_locked(const std::string& path) {
  const std::string_view flow = std::string_view(path).substr(0, path.find('/'));
  auto it = shards_.find(flow);
  if (it != shards_.end()) return it->second;
  const std::string name(flow);
  Shard loaded;
  if (persistence_)
    if (auto bytes = persistence_->load(key_, name))
      if (auto decoded = decode_shard(std::move(*bytes))) loaded = std::move(*decoded);
  for (auto& [p, e] : loaded) bytes_ += e.bytes();
  return shards_.emplace(name, std::move(loaded)).first->second;
}

// `lasting`: the change touched an entry that is written out (not racy), so its shard must be
// written again. Racy entries change on every read of a store being written; they alone never
// cause a write. Callers use no reference into shards_ after this call (it may clear them).
void StoreMemory::add_bytes_locked(const std::string& path, long delta, bool lasting) {
  bytes_ = static_cast<size_t>(static_cast<long>(bytes_) + delta);
  const std::string_view flow = std::string_view(path).substr(0, path.find('/'));
  if (lasting && dirty_.find(flow) == dirty_.end()) dirty_.emplace(flow);
  if (bytes_ > kMaxStoreBytes) {  // start over; what was persisted stays persisted
    shards_.clear();
    dirty_.clear();
    bytes_ = 0;
  }
}

bool StoreMemory::knows(const std::string& path) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  return shard.count(path) > 0;
}

bool StoreMemory::keeps_folder(const std::string& dir, const FileStat& now_stat, int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  return it != shard.end() && !it->second.is_file && it->second.stat == now_stat &&
         trusted(it->second.stat, it->second.read_ns, now_ns);
}

bool StoreMemory::validate_folder(const std::string& dir, const FileStat& now_stat, int64_t now_ns) {
  std::lock_guard lock(mu_);
  return validate_folder_locked(dir, now_stat, now_ns);
}

bool StoreMemory::validate_folder_locked(const std::string& dir, const FileStat& now_stat, int64_t now_ns) {
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  if (it != shard.end() && !it->second.is_file && it->second.stat == now_stat &&
      trusted(it->second.stat, it->second.read_ns, now_ns))
    return true;
  long before = it == shard.end() ? 0 : static_cast<long>(it->second.bytes());
  const bool was_lasting = it != shard.end() && lasting(it->second);
  RememberedEntry fresh;
  fresh.stat = now_stat;
  fresh.read_ns = now_ns;
  long after = static_cast<long>(fresh.bytes());
  const bool lasts = lasting(fresh);
  shard[dir] = std::move(fresh);
  add_bytes_locked(dir, after - before, was_lasting || lasts);
  return false;
}

DirListing StoreMemory::listing(const std::string& dir, const FileStat& as_of) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  if (it == shard.end() || it->second.is_file || !(it->second.stat == as_of)) return nullptr;
  return listing_of(it->second);
}

std::optional<std::optional<std::string>> StoreMemory::member(const std::string& dir, const FileStat& as_of,
                                                              const std::string& name) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  if (it == shard.end() || it->second.is_file || !(it->second.stat == as_of)) return std::nullopt;
  return member_of(it->second, name);
}

void StoreMemory::remember_listing(const std::string& dir, const FileStat& stat, int64_t read_ns, DirListing listing) {
  std::lock_guard lock(mu_);
  remember_listing_locked(dir, stat, read_ns, std::move(listing));
}

void StoreMemory::remember_listing_locked(const std::string& dir, const FileStat& stat, int64_t read_ns,
                                          DirListing listing) {
  auto& shard = shard_locked(dir);
  auto& e = shard[dir];
  long before = static_cast<long>(e.bytes());
  const bool was_lasting = lasting(e);
  if (e.is_file || !(e.stat == stat)) {  // a new state of the folder: what was remembered is gone
    e = RememberedEntry{};
    e.stat = stat;
    e.read_ns = read_ns;
  }
  materialize_stored(e);
  e.listing = std::move(listing);
  add_bytes_locked(dir, static_cast<long>(e.bytes()) - before, was_lasting || lasting(e));
}

void StoreMemory::remember_member(const std::string& dir, const FileStat& as_of, const std::string& name,
                                  const std::optional<std::string>& contents) {
  if (contents && contents->size() > kMaxFileBytes) return;
  // Copied before the lock: the walk's threads remember in parallel, and a copy under the one
  // lock of the store made them queue on it (futex waits in a cold statement).
  std::optional<std::string> copy = contents;
  std::lock_guard lock(mu_);
  remember_member_locked(dir, as_of, name, std::move(copy));
}

void StoreMemory::remember_member_locked(const std::string& dir, const FileStat& as_of, const std::string& name,
                                         std::optional<std::string> copy) {
  const long added = static_cast<long>(name.size() + (copy ? copy->size() : 0) + 64);  // as RememberedEntry::bytes()
  auto& shard = shard_locked(dir);
  auto it = shard.find(dir);
  // Only into the state it was read in: a folder that moved on meanwhile may hold other contents.
  if (it == shard.end() || it->second.is_file || !(it->second.stat == as_of)) return;
  RememberedEntry& e = it->second;
  long delta = 0;
  if (e.blob) {  // loaded and unchanged so far: its members are copied out first
    const long stored = static_cast<long>(e.bytes());
    materialize_stored(e);
    delta += static_cast<long>(e.bytes()) - stored;
  }
  auto [m, inserted] = e.members.try_emplace(name);
  if (!inserted) delta -= static_cast<long>(name.size() + (m->second ? m->second->size() : 0) + 64);
  m->second = std::move(copy);
  add_bytes_locked(dir, delta + added, lasting(e));
}

std::optional<std::string> StoreMemory::file(const std::string& path, const FileStat& now_stat, int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  auto it = shard.find(path);
  if (it == shard.end() || !it->second.is_file || !(it->second.stat == now_stat) ||
      !trusted(it->second.stat, it->second.read_ns, now_ns))
    return std::nullopt;
  return it->second.contents;
}

void StoreMemory::remember_file(const std::string& path, const FileStat& stat, int64_t read_ns, const std::string& contents) {
  if (contents.size() > kMaxFileBytes) return;
  RememberedEntry fresh;  // made before the lock, as in remember_member
  fresh.is_file = true;
  fresh.stat = stat;
  fresh.read_ns = read_ns;
  fresh.contents = contents;
  const long after = static_cast<long>(fresh.bytes());
  const bool lasts = lasting(fresh);
  RememberedEntry old;  // freed after the lock
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  auto& e = shard[path];
  const long before = static_cast<long>(e.bytes());
  const bool was_lasting = lasting(e);
  old = std::exchange(e, std::move(fresh));
  add_bytes_locked(path, after - before, was_lasting || lasts);
}

void StoreMemory::forget(const std::string& path) {
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(path);
  auto it = shard.find(path);
  if (it == shard.end()) return;
  long before = static_cast<long>(it->second.bytes());
  const bool was_lasting = lasting(it->second);
  shard.erase(it);
  add_bytes_locked(path, -before, was_lasting);
}

namespace {

// The process's one writer of shards. Its thread touches only the owner each job names (and
// its persistence), never other statics; the destructor (process exit, or the module's
// unloading) lets it finish the queue and joins it, so no write outlives the module's code.
// fork(): the child has no writer thread, and a lock the writer held would stay held there, so
// fork waits until the writer is idle (pthread_atfork; glibc drops the handlers at dlclose), and
// the child starts its own thread when it needs one.
class ShardWriter {
 public:
  ShardWriter() { ::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child); }
  ~ShardWriter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_) thread_->join();
    delete thread_;
    gone_ = true;
  }

  // False when the caller must write itself (exiting, or no thread could be started).
  bool post(std::shared_ptr<WritesBehind> memory) {
    std::lock_guard lock(mu_);
    if (stop_) return false;
    if (!thread_) {
      try {
        thread_ = new std::thread([this] { run(); });
      } catch (...) {
        return false;
      }
    }
    for (auto& queued : queue_)
      if (queued == memory) return true;  // still queued: it writes whatever is dirty by then
    queue_.push_back(std::move(memory));
    wake_.notify_all();
    return true;
  }

  void drain() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

  static inline std::atomic<bool> gone_{false};  // constant-initialized: safe to read after destruction

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to write
      std::shared_ptr<WritesBehind> memory = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      try {
        memory->write_dirty();
      } catch (...) {
        // A cache that cannot be written is not used.
      }
      memory.reset();  // may free the memory and close its file: outside the lock
      lock.lock();
      busy_ = false;
      idle_.notify_all();
    }
  }

  static void before_fork();
  static void after_fork_in_parent();
  static void after_fork_in_child();

  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::shared_ptr<WritesBehind>> queue_;
  bool busy_ = false, stop_ = false;
  std::thread* thread_ = nullptr;  // a pointer: a forked child forgets it (the thread is not there)
  static inline std::thread* forgotten_ = nullptr;  // the parent's, in a child: reachable, never joined
};

ShardWriter& shard_writer() {
  static ShardWriter writer;
  return writer;
}

void ShardWriter::before_fork() {
  if (gone_) return;
  std::unique_lock lock(shard_writer().mu_);
  shard_writer().idle_.wait(lock, [] { return shard_writer().queue_.empty() && !shard_writer().busy_; });
  lock.release();  // held across fork(): the writer takes no lock meanwhile
}

void ShardWriter::after_fork_in_parent() {
  if (!gone_) shard_writer().mu_.unlock();
}

void ShardWriter::after_fork_in_child() {
  if (gone_) return;
  ShardWriter& w = shard_writer();
  // Only this thread exists here: the parent's writer thread and any waits on these are gone.
  forgotten_ = w.thread_;
  w.thread_ = nullptr;
  new (&w.mu_) std::mutex;
  new (&w.wake_) std::condition_variable;
  new (&w.idle_) std::condition_variable;
}

}  // namespace

bool write_behind(std::shared_ptr<WritesBehind> owner) { return !ShardWriter::gone_ && shard_writer().post(std::move(owner)); }

void StoreMemory::flush() {
  seal_log();
  if (!persistence_) return apply_sealed();  // nothing to write: remembered now
  {
    std::lock_guard lock(mu_);
    if (dirty_.empty() && sealed_.empty()) return;
  }
  auto self = weak_from_this().lock();
  if (!self || !write_behind(std::move(self))) write_dirty();
}

void StoreMemory::drain_writes() {
  if (!ShardWriter::gone_) shard_writer().drain();
}

void StoreMemory::write_dirty() {
  if (!persistence_) return;
  std::vector<std::pair<std::string, std::string>> out;
  {
    std::lock_guard lock(mu_);
    apply_sealed_locked();  // what the statements read, remembered first: it is what changed
    for (auto& name : dirty_) {
      auto it = shards_.find(name);
      if (it == shards_.end()) continue;
      for (auto& [path, e] : it->second)
        if (!e.facts.empty()) encode_facts_locked(e);
      // Racy entries are left out: no later reader could trust them anyway.
      out.emplace_back(name, encode_shard(it->second, /*skip_racy=*/true));
    }
    dirty_.clear();
  }
  for (auto& [name, bytes] : out) persistence_->save(key_, name, bytes);
}

size_t StoreMemory::bytes() {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace mfsql
