#include "cache/cache_file.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "engine/sqlite_api.hpp"

namespace mfsql {
namespace {

bool exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

int pragma_int(sqlite3* db, const char* sql, int* rc) {
  sqlite3_stmt* st = nullptr;
  *rc = sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  int v = -1;
  if (*rc == SQLITE_OK) {
    *rc = sqlite3_step(st);
    if (*rc == SQLITE_ROW) {
      v = sqlite3_column_int(st, 0);
      *rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  return v;
}

bool damaged(int rc) { return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_FORMAT; }

// A shard of megabytes lands in fresh memory, which the copy would fault in one page at a time
// (a fault each 4 KiB: ~1,500 for the 1,000-run store's shard). One madvise maps them all at
// once where the kernel can (Linux 5.14+); elsewhere it fails and the copy faults as before.
void prefault(char* p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  if (n < (size_t{256} << 10)) return;
  const uintptr_t page = 4096;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)p, (void)n;
#endif
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string CacheFile::default_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/mfsql/cache.sqlite3";  // the spec: relative ones are ignored
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return std::string(home) + "/.cache/mfsql/cache.sqlite3";
  return {};
}

std::shared_ptr<CacheFile> CacheFile::process_default() {
  static std::mutex mu;
  static std::shared_ptr<CacheFile> file;
  static std::string opened_path;
  std::lock_guard lock(mu);
  std::string path = default_path();
  if (path.empty()) return nullptr;
  if (!file || opened_path != path) {  // a changed XDG_CACHE_HOME (tests) gets its own file
    long long max_bytes = kDefaultMaxBytes;
    if (const char* v = std::getenv("MFSQL_CACHE_BYTES")) max_bytes = std::max(1LL << 20, std::atoll(v));
    file = std::make_shared<CacheFile>(path, max_bytes);
    opened_path = path;
  }
  return file;
}

CacheFile::CacheFile(std::string path, long long max_bytes) : path_(std::move(path)), max_bytes_(max_bytes) {}

CacheFile::~CacheFile() { close_locked(); }

void CacheFile::close_locked() {
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
}

void CacheFile::start_over_locked() {
  close_locked();
  ::unlink(path_.c_str());
  ::unlink((path_ + "-journal").c_str());
}

bool CacheFile::open_locked(bool* reading) {
  if (db_) return true;
  if (failed_) return false;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  for (int round = 0; round < 2; ++round) {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      close_locked();
      break;
    }
    ::chmod(path_.c_str(), 0600);
    sqlite3_busy_timeout(db_, 2000);
    unsynced_ = false;  // PRAGMA synchronous=OFF comes with the first save: it loads the schema, a read of its own
    // The checks in one read transaction, and the load that opened the file in the same one when
    // it asks (`reading`): each statement on its own is a transaction of its own (a lock, a stat
    // of the journal and of the WAL, a read of the header), five of them in a new process.
    int rc = exec(db_, "BEGIN") ? SQLITE_OK : sqlite3_errcode(db_);
    int app = rc == SQLITE_OK ? pragma_int(db_, "PRAGMA application_id", &rc) : -1;
    int version = rc == SQLITE_OK ? pragma_int(db_, "PRAGMA user_version", &rc) : -1;
    int tables = rc == SQLITE_OK ? pragma_int(db_, "SELECT count(*) FROM sqlite_master", &rc) : -1;
    if (rc == SQLITE_OK && app == kApplicationId && version == kSchemaVersion) {
      // A shard is read once per process, as a chain of 64 KiB overflow pages: a page cache of
      // four of them recycles its buffers along the chain instead of faulting in a fresh 64 KiB
      // for each page read (the 1,000-run store's shard: ~420 page faults fewer in a new
      // process). Here, where the schema is loaded: before, this pragma read it in a
      // transaction of its own.
      exec(db_, "PRAGMA cache_size=-256");
      if (reading) *reading = true;
      else exec(db_, "COMMIT");
      return true;
    }
    exec(db_, "ROLLBACK");  // (none open when BEGIN failed: harmless)
    if (rc == SQLITE_OK && app == 0 && version == 0 && tables == 0) {  // a new, empty file: ours to set up
      // 64 KiB pages: a shard is megabytes, read as a chain of overflow pages, one read each
      // (4 KiB pages made loading a 5 MiB shard take 2.3 ms instead of 0.8).
      unsynced_ = exec(db_, "PRAGMA synchronous=OFF");  // before the setup's commit: no fsync in a statement
      if (exec(db_, "PRAGMA page_size=65536") && exec(db_, "PRAGMA journal_mode=DELETE") &&
          exec(db_, "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS shards(store TEXT NOT NULL, shard TEXT NOT NULL, "
                    "data BLOB NOT NULL, bytes INTEGER NOT NULL, written_at INTEGER NOT NULL, "
                    "PRIMARY KEY(store, shard)); PRAGMA application_id=1835430769; PRAGMA user_version=1; COMMIT"))
        return true;
      exec(db_, "ROLLBACK");
      if (rc == SQLITE_BUSY) break;  // another process is setting it up: try again next time
    }
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      close_locked();
      return false;
    }
    start_over_locked();  // not ours, another version, or damaged: never trusted
  }
  failed_ = !db_;
  return db_ != nullptr;
}

std::optional<std::string> CacheFile::load(const std::string& store, const std::string& shard) {
  std::lock_guard lock(mu_);
  // One read transaction, so the row found is the row read (a concurrent save replaces rows); the
  // file's checks share it when this load opens the file.
  bool reading = false;
  if (!open_locked(&reading)) return std::nullopt;
  if (!reading && !exec(db_, "BEGIN")) return std::nullopt;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT rowid FROM shards WHERE store = ?1 AND shard = ?2", -1, &st, nullptr);
  sqlite3_int64 rowid = 0;
  bool found = false;
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, store.data(), static_cast<int>(store.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, shard.data(), static_cast<int>(shard.size()), SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) found = true, rowid = sqlite3_column_int64(st, 0), rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  // Read straight into the one buffer the decoded shard keeps: sqlite3_column_blob would first
  // assemble a copy of its own (a shard is megabytes).
  std::optional<std::string> out;
  sqlite3_blob* blob = nullptr;
  if (found) {
    rc = sqlite3_blob_open(db_, "main", "shards", "data", rowid, 0, &blob);
    if (rc == SQLITE_OK) {
      const size_t n = static_cast<size_t>(std::max(sqlite3_blob_bytes(blob), 0));
      // Its pages mapped in one go while the capacity is fresh, before the zeroing touches them.
      std::string bytes;
      bytes.reserve(n);
      prefault(bytes.data(), n);
      bytes.resize(n);
      rc = sqlite3_blob_read(blob, bytes.data(), static_cast<int>(n), 0);
      if (rc == SQLITE_OK) out = std::move(bytes);
    }
    sqlite3_blob_close(blob);
  }
  if (!exec(db_, "COMMIT")) exec(db_, "ROLLBACK");
  if (damaged(rc)) start_over_locked();
  return out;
}

void CacheFile::save(const std::string& store, const std::string& shard, const std::string& bytes) {
  std::lock_guard lock(mu_);
  if (!open_locked()) return;
  // No fsync: a cache lost or torn by a power cut is detected (SQLite's checks, each row's checksum)
  // and rebuilt, and a statement should not wait on the disk to remember what it read.
  if (!unsynced_) unsynced_ = exec(db_, "PRAGMA synchronous=OFF");
  if (!exec(db_, "BEGIN IMMEDIATE")) return;  // busy beyond the timeout: this save is skipped
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO shards(store, shard, data, bytes, written_at) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, store.data(), static_cast<int>(store.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, shard.data(), static_cast<int>(shard.size()), SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, bytes.data(), bytes.size(), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, static_cast<sqlite3_int64>(bytes.size()));
    sqlite3_bind_int64(st, 5, now_s());
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  // The size bound: the newest rows that fit stay.
  sqlite3_stmt* evict = nullptr;
  if (rc == SQLITE_DONE &&
      sqlite3_prepare_v2(db_, "DELETE FROM shards WHERE rowid IN (SELECT rowid FROM (SELECT rowid, SUM(bytes) OVER "
                              "(ORDER BY written_at DESC, rowid DESC) AS total FROM shards) WHERE total > ?1)",
                         -1, &evict, nullptr) == SQLITE_OK) {
    sqlite3_bind_int64(evict, 1, max_bytes_);
    rc = sqlite3_step(evict) == SQLITE_DONE ? SQLITE_DONE : sqlite3_errcode(db_);
  }
  sqlite3_finalize(evict);
  if (rc == SQLITE_DONE) exec(db_, "COMMIT");
  else exec(db_, "ROLLBACK");
  if (damaged(rc)) start_over_locked();
}

}  // namespace mfsql
