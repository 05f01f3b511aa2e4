#pragma once
// The cache that outlives a process: one SQLite file, $XDG_CACHE_HOME/mfsql/cache.sqlite3
// (~/.cache/mfsql when XDG_CACHE_HOME is unset), one row per (store, shard). Rollback journal,
// not WAL (WAL needs shared memory, which fails on NFS homes); a busy timeout lets concurrent
// processes take turns, and a process that still cannot get the lock simply does not save. A file
// that is not mfsql's, of another schema version, or damaged is deleted and made anew, never
// trusted; rows beyond the size bound are evicted oldest first. Never inside a user's store.
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cache/folder_memory.hpp"

struct sqlite3;

namespace mfsql {

class CacheFile final : public ShardPersistence {
 public:
  static constexpr int kSchemaVersion = 1;
  static constexpr int kApplicationId = 0x6d667371;  // "mfsq"
  static constexpr long long kDefaultMaxBytes = 256LL << 20;

  // The process's cache file (opened once), or null when there is no home to put it in.
  static std::shared_ptr<CacheFile> process_default();
  static std::shared_ptr<ShardPersistence> process_default_persistence() { return process_default(); }
  // $XDG_CACHE_HOME/mfsql/cache.sqlite3, or ~/.cache/...; empty when neither is known.
  static std::string default_path();

  CacheFile(std::string path, long long max_bytes);
  ~CacheFile() override;

  std::optional<std::string> load(const std::string& store, const std::string& shard) override;
  void save(const std::string& store, const std::string& shard, const std::string& bytes) override;
  const std::string& path() const { return path_; }

 private:
  // Opens, checks the schema, or starts the file over. `reading`: the checks' read transaction is
  // left open for the caller (set true) when the file opens here and now.
  bool open_locked(bool* reading = nullptr);
  void start_over_locked();   // deletes a foreign or damaged file and creates a new one
  void close_locked();

  std::string path_;
  long long max_bytes_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  bool failed_ = false;  // could not be opened even anew: not used in this process
  bool unsynced_ = false;  // PRAGMA synchronous=OFF was set on db_
};

}  // namespace mfsql
