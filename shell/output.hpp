#pragma once
// mfsql's own output formats for query results (shell/README.md, "Output"). sqlite3's `.mode
// json/csv` cannot write a blob as base64, nest JSON columns, keep a blob's bytes past its first
// NUL or cut long values on a terminal, so the non-interactive shell writes results itself.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mfsql::shell {

enum class Mode {
  List,   // piped output without a flag: `a|b`, no header, values whole (as sqlite3's list mode)
  Table,  // a terminal: header, aligned columns, NULL shown, long values cut and counted
  Json,   // one JSON array of objects per statement that returns columns
  Csv,    // a header line, then RFC 4180 fields
};

// One result value, as sqlite3_column_* gave it.
struct Cell {
  int type = 5;         // SQLITE_INTEGER 1, SQLITE_FLOAT 2, SQLITE_TEXT 3, SQLITE_BLOB 4, SQLITE_NULL 5
  std::string bytes;    // the text (as SQLite renders numbers) or the blob's bytes
  bool json = false;    // the column is declared JSON (mfsql's value, tags, metadata, ...)
  double real = 0;      // a REAL's value, for JSON's shortest exact number
};

class Writer {
 public:
  virtual ~Writer() = default;
  // A statement's columns; `begin` and `end` bracket its rows, also when it fails half way, so
  // JSON output stays a complete array.
  virtual void begin(const std::vector<std::string>& names) = 0;
  virtual void row(const std::vector<Cell>& cells) = 0;
  virtual void end() = 0;
  // What the writer has to tell the person reading (values cut on a terminal), or "".
  virtual std::string note() const { return ""; }
};

// `max_chars`: in Table mode, values longer than this many characters are cut (0: never).
std::unique_ptr<Writer> make_writer(Mode mode, std::FILE* out, size_t max_chars);

// Helpers, exposed for the writers' own use and for tests.
std::string base64(const std::string& bytes);
std::string json_string(const std::string& text);  // a JSON string literal; invalid UTF-8 → U+FFFD

}  // namespace mfsql::shell
