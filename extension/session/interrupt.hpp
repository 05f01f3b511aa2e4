#pragma once
// Lets a network wait notice sqlite3_interrupt (Ctrl-C in the shell), so that a slow service or
// S3 endpoint never holds a statement hostage.
#include <functional>

struct sqlite3;

namespace mfsql {

// A check, cheap enough to poll every few milliseconds, that is true once sqlite3_interrupt was
// called on `db` for the running statement. Safe to call from any thread: a thread that does not
// hold the connection's mutex gets false rather than waiting for it.
std::function<bool()> interrupt_check(sqlite3* db);

}  // namespace mfsql
