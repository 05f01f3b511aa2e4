#include "session/interrupt.hpp"

#include <atomic>
#include <chrono>
#include <memory>

#include "engine/sqlite_api.hpp"

namespace mfsql {
namespace {

constexpr int kSqliteWithIsInterrupted = 3041000;

// SQLite before 3.41 cannot be asked whether the connection was interrupted. It can be shown:
// the flag stays set while the interrupted statement is active (sqlite3_step clears it only when
// no statement runs), and preparing or stepping another statement then fails with
// SQLITE_INTERRUPT (tokenize.c and vdbe.c check it on entry).
bool probe_interrupted(sqlite3* db) {
  sqlite3_stmt* probe = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT 1", -1, &probe, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(probe);
  sqlite3_finalize(probe);
  return rc == SQLITE_INTERRUPT;
}

bool is_interrupted(sqlite3* db) {
#if SQLITE_VERSION_NUMBER >= 3041000  // kSqliteWithIsInterrupted: the header declares it
  if (sqlite3_libversion_number() >= kSqliteWithIsInterrupted) return sqlite3_is_interrupted(db) != 0;
#endif
  // Another thread stepping this connection holds its mutex; asking from here would wait for it.
  sqlite3_mutex* mutex = sqlite3_db_mutex(db);
  if (mutex && sqlite3_mutex_try(mutex) != SQLITE_OK) return false;
  bool interrupted = probe_interrupted(db);
  if (mutex) sqlite3_mutex_leave(mutex);
  return interrupted;
}

}  // namespace

std::function<bool()> interrupt_check(sqlite3* db) {
  using Clock = std::chrono::steady_clock;
  // The probe prepares a statement; polling it at most every 20 ms keeps its cost unmeasurable.
  auto last = std::make_shared<std::atomic<Clock::rep>>(0);
  return [db, last] {
    auto now = Clock::now().time_since_epoch().count();
    auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(20)).count();
    if (now - last->load() < every) return false;
    last->store(now);
    return is_interrupted(db);
  };
}

}  // namespace mfsql
