// mfsql-run: runs SQL with the extension loaded, as any SQLite client loads it, and writes the
// results in mfsql's own formats (shell/output.hpp). shell/mfsql runs it for everything but an
// interactive session, which stays sqlite3's shell (line editing, history, dot-commands).
//   mfsql-run --module build/metaflow [--db FILE] [--mode list|table|json|csv] [SQL...]
// Without SQL arguments it reads SQL from standard input. Exit status: 0; 1 at the first statement
// that fails (none after it runs); 2 for a bad invocation; 130 after Ctrl-C.
#include <sqlite3.h>
#include <strings.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "output.hpp"

namespace {

using namespace mfsql::shell;

sqlite3* volatile g_db = nullptr;
volatile std::sig_atomic_t g_interrupts = 0;

// Ctrl-C stops the running statement (the extension notices it also while it waits on the
// network); a second Ctrl-C ends the program at once.
extern "C" void on_interrupt(int) {
  if (g_interrupts || !g_db) _exit(130);
  g_interrupts = 1;
  sqlite3_interrupt(g_db);
}

void say(const std::string& msg) {
  std::fflush(stdout);  // what was written so far comes first, as the user would read it
  std::fprintf(stderr, "mfsql: %s\n", msg.c_str());
}

// The statement, on one line and short, for an error message.
std::string excerpt(const char* from, const char* to) {
  std::string out;
  for (const char* p = from; p < to && out.size() < 80; ++p) {
    char c = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;
    if (!(c == ' ' && (out.empty() || out.back() == ' '))) out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out.size() >= 80 ? out + "..." : out;
}

// SQLite's own messages say what is wrong; these say where to look next.
std::string hint(const std::string& msg) {
  if (msg.rfind("no such table", 0) == 0) return " SELECT * FROM metaflow_tables lists mfsql's tables.";
  if (msg.rfind("no such column", 0) == 0)
    return " SELECT table_name, column_name FROM metaflow_columns lists every table's columns.";
  return "";
}

void read_row(sqlite3_stmt* stmt, const std::vector<bool>& json, std::vector<Cell>& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    Cell& c = cells[i];
    int col = static_cast<int>(i);
    c.type = sqlite3_column_type(stmt, col);  // before any conversion by the calls below
    c.json = json[i];
    if (c.type == SQLITE_NULL) {
      c.bytes.clear();
      continue;
    }
    const void* data = c.type == SQLITE_BLOB ? sqlite3_column_blob(stmt, col) : sqlite3_column_text(stmt, col);
    c.bytes.assign(static_cast<const char*>(data ? data : ""), sqlite3_column_bytes(stmt, col));
    if (c.type == SQLITE_FLOAT) c.real = sqlite3_column_double(stmt, col);
  }
}

enum class Outcome { Ok, Failed, Interrupted };

// Runs every statement of `sql`, in order, until one fails.
Outcome run(sqlite3* db, const std::string& sql, Writer& out) {
  const char* tail = sql.c_str();
  const char* end = tail + sql.size();
  while (tail < end) {
    const char* start = tail;
    while (start < end && (*start == ' ' || *start == '\n' || *start == '\t' || *start == '\r')) ++start;
    if (start < end && *start == '.') {
      const char* word = start;
      while (word < end && *word != ' ' && *word != '\n') ++word;
      say("`" + std::string(start, word) + "` is a command of the interactive sqlite3 shell; in a script or a "
          "one-shot query mfsql runs SQL only (output formats: --json, --csv).");
      return Outcome::Failed;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, tail, static_cast<int>(end - tail), &stmt, &tail) != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db);
      say(msg + " (in: " + excerpt(start, tail > start ? tail : end) + ")." + hint(msg));
      return Outcome::Failed;
    }
    if (!stmt) continue;  // only white space or a comment
    int n = sqlite3_column_count(stmt);
    std::vector<std::string> names;
    std::vector<bool> json;
    for (int i = 0; i < n; ++i) {
      const char* decl = sqlite3_column_decltype(stmt, i);  // "JSON" for mfsql's JSON columns
      names.emplace_back(sqlite3_column_name(stmt, i));
      json.push_back(decl && strcasecmp(decl, "JSON") == 0);
    }
    if (n) out.begin(names);
    std::vector<Cell> cells(n);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      read_row(stmt, json, cells);
      out.row(cells);
    }
    if (n) out.end();  // also after an error: a JSON array is closed
    std::string msg = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_INTERRUPT) {
      say("interrupted (Ctrl-C); the statements after it were not run.");
      return Outcome::Interrupted;
    }
    if (rc != SQLITE_DONE) {
      say(msg + (msg.empty() || msg.back() == '.' ? "" : "."));
      return Outcome::Failed;
    }
  }
  return Outcome::Ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string module, db_file = ":memory:", mode_name = "list";
  std::vector<std::string> sql;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--module" && has_value) module = argv[++i];
    else if (a == "--db" && has_value) db_file = argv[++i];
    else if (a == "--mode" && has_value) mode_name = argv[++i];
    else if (a == "--") {
      sql.insert(sql.end(), argv + i + 1, argv + argc);
      break;
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "mfsql-run: unknown option %s; shell/mfsql is the command to run.\n", a.c_str());
      return 2;
    } else sql.push_back(a);
  }
  Mode mode = mode_name == "json" ? Mode::Json : mode_name == "csv" ? Mode::Csv : mode_name == "table" ? Mode::Table : Mode::List;

  // MFSQL_MAX_CELL: how many characters of one value a terminal shows (0: all of it).
  size_t max_chars = 100;
  if (const char* env = std::getenv("MFSQL_MAX_CELL"); env && *env) {
    char* stop = nullptr;
    long n = std::strtol(env, &stop, 10);
    if (*stop || n < 0) {
      say(std::string("MFSQL_MAX_CELL is '") + env + "'; set it to a whole number of characters (0 shows whole values).");
      return 2;
    }
    max_chars = static_cast<size_t>(n);
  }

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    say("cannot open the database " + db_file + ": " + sqlite3_errmsg(db) + "; give --db a file you may write, or leave --db out.");
    return 1;
  }
  // Loading through the C API only: SQL's load_extension() stays off.
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, nullptr);
  char* err = nullptr;
  if (sqlite3_load_extension(db, module.c_str(), nullptr, &err) != SQLITE_OK) {
    say("cannot load the extension " + module + ": " + (err ? err : "unknown error") +
        ". Rebuild it with bash scripts/build.sh, or set MFSQL_MODULE to a working metaflow.so.");
    sqlite3_free(err);
    return 1;
  }
  g_db = db;
  std::signal(SIGINT, on_interrupt);

  if (sql.empty()) sql.emplace_back(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  auto writer = make_writer(mode, stdout, max_chars);
  Outcome outcome = Outcome::Ok;
  for (auto& text : sql)
    if ((outcome = run(db, text, *writer)) != Outcome::Ok) break;
  std::fflush(stdout);
  if (auto note = writer->note(); !note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  g_db = nullptr;
  sqlite3_close(db);
  return outcome == Outcome::Ok ? 0 : outcome == Outcome::Interrupted ? 130 : 1;
}
