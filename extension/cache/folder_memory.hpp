#pragma once
// What mfsql remembers of one local store, validated on every use (docs/caching.md): a folder's
// listing and the files of a `_meta` folder are remembered with the folder's stat, any other file
// with its own stat. A remembered fact is used only when a fresh stat equals the remembered one AND
// the remembered read was not "racy" (git's rule: the stat's mtime is older than the moment of the
// read by more than the filesystem's timestamp granularity, and the clock has not gone backwards
// since). Anything else is read again. One StoreMemory per store identity is shared by every
// connection of the process; a ShardPersistence (cache/cache_file.*) carries it across processes,
// one blob per flow ("shard"), so a fresh process loads a flow's facts in one SQLite read.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/file_stat.hpp"
#include "util/path_hash.hpp"
#include "util/statement_memo.hpp"

namespace mfsql {

class FactMemory;

// Where remembered shards live between processes. Implementations never throw: a cache that
// cannot be read or written is simply not used.
class ShardPersistence {
 public:
  virtual ~ShardPersistence() = default;
  virtual std::optional<std::string> load(const std::string& store, const std::string& shard) = 0;
  virtual void save(const std::string& store, const std::string& shard, const std::string& bytes) = 0;
};

// The process's persistence (cache/cache_file.*), registered by the loaded module: code linked
// without SQLite's routine table (unit tests) remembers in memory only.
using PersistenceFactory = std::shared_ptr<ShardPersistence> (*)();
void set_default_persistence(PersistenceFactory factory);
std::shared_ptr<ShardPersistence> default_persistence();

// Something that writes its changed shards after the statement, on the process's one writer
// thread (folder_memory.cpp): the local store's memory, the service's final answers.
class WritesBehind {
 public:
  virtual ~WritesBehind() = default;
  virtual void write_dirty() = 0;  // encodes and saves what changed; never throws
};
// Hands `owner` to the writer thread: false when the caller must write itself (exiting, or no
// thread could be started). StoreMemory::drain_writes waits for every owner's writes.
bool write_behind(std::shared_ptr<WritesBehind> owner);

// A fact decoded from a folder's files (providers/local/fact_codec.hpp), kept beside the folder
// and persisted with it, so that a new process decodes nothing for a folder still in that state.
// Valid only under the folder's stat, and only if `checked_ns` (the wall clock before the check
// its reads came after) is not racy for that stat (StoreMemory::trusted).
struct StoredFact {
  std::string name;
  int64_t checked_ns = 0;
  std::string bytes;
  // Not encoded yet: the decoded value and its encoder. A statement hands the value over and the
  // writer thread encodes it before the shard is written (StoreMemory::encode_facts_locked), so a
  // cold statement does not pay for an encoding only a later process reads. `estimate` stands for
  // the bytes' size in the memory's bound until then.
  std::shared_ptr<const void> value;
  std::string (*encoder)(const void*) = nullptr;
  size_t estimate = 0;
  // Loaded from a shard: the name and the bytes are read in place, views into the blob of the
  // entry that holds the fact (kept alive by it), not copies (a new process loads thousands).
  bool in_blob = false;
  std::string_view blob_name, blob_bytes;
  bool pending() const { return encoder != nullptr; }
  std::string_view key() const { return in_blob ? blob_name : std::string_view(name); }
  std::string_view data() const { return in_blob ? blob_bytes : std::string_view(bytes); }
  size_t size() const { return pending() ? estimate : data().size(); }
};


// One remembered folder (its listing and, for `_meta`, its files) or file.
struct RememberedEntry {
  FileStat stat;
  int64_t read_ns = 0;  // wall clock just before the stat was taken
  bool is_file = false;
  DirListing listing;   // folders: null until listed
  std::map<std::string, std::optional<std::string>, std::less<>> members;  // `_meta`: name -> contents (nullopt: missing)
  std::string contents;  // files
  // A folder loaded from a shard and unchanged since: its listing and members are still the bytes
  // `stored` (their encoding, checked when the shard was decoded) inside `blob`, the whole shard,
  // kept rather than copied apart at load. `listing` is then only a cache of what `stored` holds.
  // Any change first copies them out (materialize_stored), and `stored` is dropped.
  std::shared_ptr<const std::string> blob;
  std::string_view stored;
  // Whether `stored` is well formed, checked on its first use (stored_valid): -1 not yet.
  mutable int8_t stored_checked = -1;
  std::vector<StoredFact> facts;  // folders: what was decoded from them (cache/stored_facts.cpp)
  size_t bytes() const;
};
using Shard = std::unordered_map<std::string, RememberedEntry, PathHash>;  // path -> entry

// A shard's bytes carry a format tag and a checksum: damaged bytes decode to nullopt, never to
// facts. Decoding keeps `bytes` (moved in, not copied): every folder of the shard points into it.
std::string encode_shard(const Shard& entries, bool skip_racy = false);
std::optional<Shard> decode_shard(std::string bytes);
// A folder entry's listing and members, read from `stored` when it has it.
DirListing listing_of(RememberedEntry& e);  // caches a listing built from `stored` in e.listing
std::optional<std::optional<std::string>> member_of(const RememberedEntry& e, std::string_view name);
void materialize_stored(RememberedEntry& e);  // before a change: copies `stored` out, drops it
// `stored` is well formed (checked once, on first use): a payload that is not reads as a folder
// neither listed nor with any member known, so its files are read again.
bool stored_valid(const RememberedEntry& e);
// The body's checksum (XXH64, seed 0).
uint64_t shard_checksum(std::string_view bytes);

// One thing a statement read or decoded, not yet in the memory (cache/remember_log.cpp): the
// statement's threads only append it; the writer thread (or the next statement) remembers it.
// Each one carries the check it was read after (`stat`, `ns`: the wall clock before that stat),
// so it is remembered only into that state of its folder, exactly as an immediate remember is.
struct LoggedRead {
  enum class Kind : uint8_t { member, listing, fact };
  Kind kind = Kind::member;
  FileStat stat;
  int64_t ns = 0;
  std::string name;                            // member, fact
  std::shared_ptr<const std::string> contents;  // member: shared with the statement memo
  DirListing listing;                          // listing
  std::shared_ptr<const void> value;    // fact: the decoded value, its encoder, the bytes' estimate
  std::string (*encoder)(const void*) = nullptr;
  size_t estimate = 0;
  FactMemory* facts = nullptr;  // fact: also remembered there (process-lifetime, FactMemory::shared)
  size_t fact_bytes = 0;
};
struct LoggedFolder {
  std::string dir;
  std::vector<LoggedRead> reads;  // in the order they were made on one thread
};

class StoreMemory : public WritesBehind, public std::enable_shared_from_this<StoreMemory> {
 public:
  // Two seconds covers coarse filesystems (FAT, HFS+, some NFS servers: 1-2 s ticks), the kernel's
  // coarse clock (a jiffy) and modest clock skew between an NFS client and server.
  static constexpr int64_t kGranularityNs = 2'000'000'000;
  static constexpr size_t kMaxFileBytes = 64 * 1024;          // larger files are read every time
  static constexpr size_t kMaxStoreBytes = size_t{16} << 20;  // beyond it, the store's memory starts over (RSS: real use is ~2x)

  // The process-wide memory of the store `key` (root path + device/inode of the root).
  static std::shared_ptr<StoreMemory> shared(const std::string& key, std::shared_ptr<ShardPersistence> persistence);

  StoreMemory(std::string key, std::shared_ptr<ShardPersistence> persistence)
      : key_(std::move(key)), persistence_(std::move(persistence)) {}

  bool knows(const std::string& path);  // is anything remembered for this folder or file?

  // Folder `dir`, just stat'ed as `now_stat` at wall-clock `now_ns` (taken before the stat): true
  // when what is remembered of it may be used. Otherwise its entry starts over from this stat.
  bool validate_folder(const std::string& dir, const FileStat& now_stat, int64_t now_ns);
  // The same question, changing nothing: what is remembered of `dir` stands for `now_stat`.
  bool keeps_folder(const std::string& dir, const FileStat& now_stat, int64_t now_ns);
  // What is remembered of `dir` as of the stat `as_of` (the one validated): null/nullopt otherwise.
  DirListing listing(const std::string& dir, const FileStat& as_of);
  std::optional<std::optional<std::string>> member(const std::string& dir, const FileStat& as_of, const std::string& name);
  // `listing` was read from a folder whose fstat (taken at `read_ns`) was `stat`.
  void remember_listing(const std::string& dir, const FileStat& stat, int64_t read_ns, DirListing listing);
  // `contents` was read after `dir` was validated as `as_of`; dropped when the entry moved on.
  void remember_member(const std::string& dir, const FileStat& as_of, const std::string& name,
                       const std::optional<std::string>& contents);

  // A file outside `_meta`, validated by its own stat.
  std::optional<std::string> file(const std::string& path, const FileStat& now_stat, int64_t now_ns);
  void remember_file(const std::string& path, const FileStat& stat, int64_t read_ns, const std::string& contents);

  // Decoded facts of folder `dir` (cache/stored_facts.cpp). The stat its remembered entry holds
  // facts under, if any (a new process learns from it which folders need no decoding).
  std::optional<FileStat> facts_state(const std::string& dir);
  // The bytes of fact `name`, when the entry's stat equals `now_stat` (just checked at `now_ns`)
  // and the fact is not racy; its own check time into *checked_ns.
  std::optional<FactBytes> fact(const std::string& dir, const FileStat& now_stat, int64_t now_ns,
                                std::string_view name, int64_t* checked_ns);
  // `bytes` was decoded from `dir` after it was checked as `as_of` at `checked_ns`: kept only
  // into that state, and only when not racy (no later reader could trust it).
  // The encoding is deferred to the writer thread (or to the first `fact` that asks): `encoder`
  // turns `value` into the bytes, `estimate` their size meanwhile.
  void remember_fact(const std::string& dir, const FileStat& as_of, int64_t checked_ns, std::string name,
                     std::shared_ptr<const void> value, std::string (*encoder)(const void*), size_t estimate);

  // A value's serialized bytes by its blob's sha (cache/stored_facts.cpp): content-addressed, so
  // kept with no stat (the blob decoded whole is the content its name stands for), and persisted
  // in the flow's shard so that a new process stats no blob for it.
  std::optional<std::string> value_bytes(const std::string& flow, const std::string& sha);
  void remember_value_bytes(const std::string& flow, const std::string& sha, const std::string& serialized);
  static constexpr size_t kMaxValueBytes = 16 * 1024;  // larger values: the blob is read (and stat'ed)

  // Remembering off the statement's path (cache/remember_log.cpp). A statement appends what it read
  // to a log (per thread: no shared lock, no lookup, no copy into the maps); its end seals the log
  // and the writer thread remembers it before it encodes the shards. The next statement first
  // remembers whatever sealed log is still waiting (settle), so it finds what the last one read.
  // A statement never looks up what it logged itself: its statement memo has it.
  void log_member(const std::string& dir, const FolderCheck& as_of, std::string_view name,
                  std::shared_ptr<const std::string> contents);
  void log_listing(const std::string& dir, const FileStat& stat, int64_t read_ns, DirListing listing);
  void log_fact(const std::string& dir, const FolderCheck& as_of, std::string name, std::shared_ptr<const void> value,
                std::string (*encoder)(const void*), size_t estimate, FactMemory* facts, size_t fact_bytes);
  void settle() {
    if (sealed_waiting_.load(std::memory_order_acquire)) apply_sealed();
  }

  void forget(const std::string& path);
  // At a statement's end: hands the shards changed since the last flush to the process's one
  // writer thread, which encodes and saves them after the statement has answered (a cold
  // statement's shard is megabytes). A memory not owned by a shared_ptr writes them at once.
  void flush();
  // Encodes and saves every dirty shard now (the writer thread's work).
  void write_dirty() override;
  // Waits until every shard handed to the writer is saved: at a connection's close, so that a
  // process started after it finds the file written.
  static void drain_writes();

  size_t bytes();
  static bool trusted(const FileStat& stat, int64_t read_ns, int64_t now_ns);
  // Not racy: a later reader may trust it, so it is worth writing out.
  static bool lasting(const RememberedEntry& e);

 private:
  Shard& shard_locked(const std::string& path);
  void add_bytes_locked(const std::string& path, long delta, bool lasting);
  void remember_fact_locked(const std::string& dir, const FileStat& as_of, StoredFact fact);
  bool validate_folder_locked(const std::string& dir, const FileStat& now_stat, int64_t now_ns);
  void remember_listing_locked(const std::string& dir, const FileStat& stat, int64_t read_ns, DirListing listing);
  void remember_member_locked(const std::string& dir, const FileStat& as_of, const std::string& name,
                              std::optional<std::string> contents);
  // The log (cache/remember_log.cpp).
  struct LogStripe {
    std::mutex mu;
    std::vector<LoggedFolder> folders;
  };
  static constexpr size_t kLogStripes = 8;  // picked by thread: the walk's threads never share one
  LogStripe& log_stripe();
  template <typename Fill>
  void append(const std::string& dir, Fill&& fill);  // fills a LoggedRead made in place
  void seal_log();
  void apply_sealed();
  void apply_sealed_locked();
  void apply_locked(const std::string& dir, LoggedRead& read);
  // Encodes the entry's pending facts; one too large to keep is dropped.
  void encode_facts_locked(RememberedEntry& e);

  std::string key_;
  std::shared_ptr<ShardPersistence> persistence_;
  std::mutex mu_;
  std::map<std::string, Shard, std::less<>> shards_;  // by flow ("" for the root)
  std::set<std::string, std::less<>> dirty_;
  size_t bytes_ = 0;
  std::array<LogStripe, kLogStripes> log_;
  std::atomic<size_t> log_bytes_{0};  // bounded as the memory is: beyond it, reads are not logged
  std::vector<std::vector<LoggedFolder>> sealed_;  // under mu_
  std::atomic<bool> sealed_waiting_{false};
};

}  // namespace mfsql
