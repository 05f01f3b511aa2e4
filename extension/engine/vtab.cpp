// The one generic virtual-table engine: every mfsql table is a TableSpec, and this file does the
// SQLite plumbing for all of them. What a plan is, and how xBestIndex and xFilter agree on it, is
// in plan.cpp.
#include "engine/vtab.hpp"

#include <algorithm>

#include "engine/plan.hpp"
#include "util/error.hpp"

namespace mfsql::engine {
namespace {

constexpr int kSqliteWithDirectOnly = 3031000;
constexpr int kJsonSubtype = 'J';  // what SQLite's JSON functions use to recognise JSON text

struct Module {
  const TableSpec* spec;
  ModuleOptions options;
};

struct Table {
  sqlite3_vtab base{};
  Module* module = nullptr;
  ModuleArgs args;
  std::shared_ptr<TableSource> source;  // opened on the first scan
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  Plan plan;  // the generator refers to it, so it lives as long as the cursor
  const ModuleOptions* options = nullptr;
  std::shared_ptr<TableSource> source;
  Generator<Row> rows;
  bool eof = true;
  sqlite3_int64 rowid = 0;
};

// Every error a statement reports starts with the table's name, so that in a join the user knows
// which table (and so which store or setting) it is about.
void set_error(sqlite3_vtab* vtab, const std::string& message) {
  const std::string name = reinterpret_cast<Table*>(vtab)->module->spec->name;
  const std::string prefix = name + ": ";
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("%s%s", message.rfind(prefix, 0) == 0 ? "" : prefix.c_str(), message.c_str());
}

int error_code(const std::exception& e) {
  return dynamic_cast<const Interrupted*>(&e) ? SQLITE_INTERRUPT : SQLITE_ERROR;
}

int connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) {
  auto* module = static_cast<Module*>(aux);
  ModuleArgs args;
  try {
    for (int i = 3; i < argc; ++i) {
      auto arg = parse_module_arg(argv[i]);
      const auto& allowed = module->options.allowed_args;
      if (std::find(allowed.begin(), allowed.end(), arg.first) == allowed.end()) {
        std::string list;
        for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        throw UserError("The table " + std::string(module->spec->name) + " does not take the argument '" +
                        arg.first + "'; it accepts: " + list + ".");
      }
      args.push_back(std::move(arg));
    }
  } catch (const std::exception& e) {
    *err = sqlite3_mprintf("%s", e.what());
    return SQLITE_ERROR;
  }
  int rc = sqlite3_declare_vtab(db, declare_sql(*module->spec).c_str());
  if (rc != SQLITE_OK) return rc;
  // A table that reads files or the network must not be reachable from a trigger or a view in a
  // database someone else wrote: opening such a database would otherwise read (and report) files
  // or URLs of the attacker's choosing. DIRECTONLY limits these tables to top-level SQL.
  if (module->spec->direct_only && sqlite3_libversion_number() >= kSqliteWithDirectOnly)
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  auto* table = new Table;
  table->module = module;
  table->args = std::move(args);
  *out = &table->base;
  return SQLITE_OK;
}

int disconnect(sqlite3_vtab* vtab) {
  delete reinterpret_cast<Table*>(vtab);
  return SQLITE_OK;
}

int best_index(sqlite3_vtab* vtab, sqlite3_index_info* info) {
  return plan_index(*reinterpret_cast<Table*>(vtab)->module->spec, info);
}

int open_cursor(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  *out = &(new Cursor)->base;
  return SQLITE_OK;
}

int close_cursor(sqlite3_vtab_cursor* base) {
  auto* cur = reinterpret_cast<Cursor*>(base);
  cur->rows = Generator<Row>();
  if (cur->source && cur->options->cursor_stopped) cur->options->cursor_stopped(*cur->source);
  delete cur;
  return SQLITE_OK;
}

int advance(Cursor* cur, sqlite3_vtab* vtab) {
  try {
    cur->eof = !cur->rows.next();
    ++cur->rowid;
    return SQLITE_OK;
  } catch (const std::exception& e) {
    cur->eof = true;
    set_error(vtab, e.what());
    return error_code(e);
  }
}

int filter(sqlite3_vtab_cursor* base, int, const char* idx_str, int argc, sqlite3_value** argv) {
  auto* cur = reinterpret_cast<Cursor*>(base);
  auto* table = reinterpret_cast<Table*>(base->pVtab);
  const TableSpec& spec = *table->module->spec;
  try {
    cur->rows = Generator<Row>();  // end the previous walk before its plan is replaced
    cur->plan = decode_plan(spec, idx_str, argc, argv);
    if (!table->source) table->source = table->module->options.open_source(table->args);
    if (!cur->source) {
      cur->source = table->source;
      cur->options = &table->module->options;
      if (cur->options->cursor_started) cur->options->cursor_started(*cur->source);
    }
    cur->rows = spec.rows(*cur->source, cur->plan);
  } catch (const std::exception& e) {
    cur->eof = true;
    set_error(base->pVtab, e.what());
    return error_code(e);
  }
  cur->rowid = 0;
  int rc = advance(cur, base->pVtab);
  // An OFFSET the plan omitted (every other term applied exactly): these rows are not the answer.
  for (int64_t skip = cur->plan.offset_skipped ? cur->plan.offset.value_or(0) : 0; skip > 0 && rc == SQLITE_OK && !cur->eof;
       --skip)
    rc = advance(cur, base->pVtab);
  return rc;
}

int next(sqlite3_vtab_cursor* base) {
  return advance(reinterpret_cast<Cursor*>(base), base->pVtab);
}

int eof(sqlite3_vtab_cursor* base) { return reinterpret_cast<Cursor*>(base)->eof; }

int column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int i) {
  auto* cur = reinterpret_cast<Cursor*>(base);
  Row& row = cur->rows.value();
  if (i < 0 || i >= static_cast<int>(row.size())) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  const Value* cell = nullptr;
  try {
    cell = &row.get(i);  // a deferred column is computed now, for a row the query keeps
  } catch (const std::exception& e) {
    set_error(base->pVtab, e.what());
    std::string message = base->pVtab->zErrMsg ? base->pVtab->zErrMsg : e.what();
    sqlite3_result_error(ctx, message.c_str(), -1);
    if (error_code(e) == SQLITE_INTERRUPT) sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
    return error_code(e);
  }
  const Value& v = *cell;
  switch (v.kind) {
    case Value::Kind::Null: sqlite3_result_null(ctx); break;
    case Value::Kind::Integer: sqlite3_result_int64(ctx, v.integer); break;
    case Value::Kind::Real: sqlite3_result_double(ctx, v.real); break;
    case Value::Kind::Text:
      sqlite3_result_text64(ctx, v.text.data(), v.text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case Value::Kind::Json:
      sqlite3_result_text64(ctx, v.text.data(), v.text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      sqlite3_result_subtype(ctx, kJsonSubtype);
      break;
    case Value::Kind::Blob:
      sqlite3_result_blob64(ctx, v.text.data(), v.text.size(), SQLITE_TRANSIENT);
      break;
  }
  return SQLITE_OK;
}

int rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  *out = reinterpret_cast<Cursor*>(base)->rowid;
  return SQLITE_OK;
}

sqlite3_module make_module() {
  sqlite3_module m{};
  m.iVersion = 1;
  m.xCreate = connect;  // same as xConnect: eponymous, and CREATE VIRTUAL TABLE for other stores
  m.xConnect = connect;
  m.xBestIndex = best_index;
  m.xDisconnect = disconnect;
  m.xDestroy = disconnect;
  m.xOpen = open_cursor;
  m.xClose = close_cursor;
  m.xFilter = filter;
  m.xNext = next;
  m.xEof = eof;
  m.xColumn = column;
  m.xRowid = rowid;
  return m;
}

const sqlite3_module kModule = make_module();

}  // namespace

const char* type_name(Type t) {
  switch (t) {
    case Type::Integer: return "INTEGER";
    case Type::Real: return "REAL";
    case Type::Blob: return "BLOB";
    case Type::Json: return "JSON";
    case Type::Text: break;
  }
  return "TEXT";
}

std::string declare_sql(const TableSpec& spec) {
  std::string sql = "CREATE TABLE x(";
  for (size_t i = 0; i < spec.columns.size(); ++i) {
    const Column& c = spec.columns[i];
    sql += (i ? ", " : "") + std::string("\"") + c.name + "\" " + type_name(c.type);
    if (c.flags & kHidden) sql += " HIDDEN";
  }
  return sql + ")";
}

std::pair<std::string, std::string> parse_module_arg(const std::string& text) {
  auto trim = [](std::string s) {
    auto b = s.find_first_not_of(" \t\r\n");
    auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  auto eq = text.find('=');
  if (eq == std::string::npos)
    throw UserError("The module argument '" + text + "' is not of the form key='value'.");
  std::string key = trim(text.substr(0, eq));
  std::string value = trim(text.substr(eq + 1));
  if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front()) {
    char q = value.front();
    std::string unquoted;
    for (size_t i = 1; i + 1 < value.size(); ++i) {
      unquoted += value[i];
      if (value[i] == q && value[i + 1] == q) ++i;  // SQL doubles a quote inside quotes
    }
    value = unquoted;
  }
  if (key.empty()) throw UserError("The module argument '" + text + "' has no name before '='.");
  return {key, value};
}

int register_table(sqlite3* db, const TableSpec& spec, ModuleOptions options) {
  auto* module = new Module{&spec, std::move(options)};
  return sqlite3_create_module_v2(db, spec.name, &kModule, module,
                                  [](void* p) { delete static_cast<Module*>(p); });
}

}  // namespace mfsql::engine
