#pragma once
// Errors a user can hit. The message is a whole sentence that says what was wrong and what to do;
// the engine hands it to SQLite unchanged, so it must never contain a secret.
#include <stdexcept>
#include <string>

namespace mfsql {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A single record (a JSON file, a blob) that cannot be decoded. Tables catch it per row and turn the
// affected columns into NULL, so one corrupt task never hides the rest of a query.
struct CorruptRecord : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The user stopped the statement (sqlite3_interrupt, Ctrl-C in the shell) while mfsql waited on
// the network; the engine reports it as SQLITE_INTERRUPT, as SQLite does for its own work.
struct Interrupted : UserError {
  using UserError::UserError;
};

}  // namespace mfsql
