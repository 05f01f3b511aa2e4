// The one generic virtual-table engine: every mfsql table is a TableSpec, and this file does the
// SQLite plumbing for all of them.
//
// THE PLAN (idxNum / idxStr) — the only channel from xBestIndex to xFilter
// --------------------------------------------------------------------------
//   idxNum  bit i set  <=>  column i has an `=` or `IN` constraint passed to xFilter.
//   idxStr  "<term> <term> ... cols=0x<hex>", one term per argv value, in argv order:
//             <column>=?    argv[k] is one value (`=`, or `IN` handled one value per xFilter call)
//             <column>=IN   argv[k] is a whole IN list, walked with sqlite3_vtab_in_first/next
//                           (only when the runtime SQLite is >= 3.38, checked at run time)
//             <column>~like=? / <column>~glob=?  argv[k] is a LIKE / GLOB pattern (kPattern
//                           columns); never omitted: SQLite re-checks every row against it
//             <column><op>?        op one of == <> < <= > >=: a comparison on a column the table does
//                           not look up by (`size<?`); never omitted, SQLite applies it; it only
//                           tells the walk which rows will be kept (Plan::checks)
//             bad:<column>         any other operator on a kArgument column: xFilter fails with
//                           a sentence saying to use = or IN
//             lazy                 a WHERE term the table cannot check: deferred columns are
//                           computed only when SQLite asks (Plan::all_terms_checked)
//           then `cols=0x...`: sqlite3_index_info.colUsed, so xFilter knows which expensive
//           columns the statement reads. A plan with no terms is "scan cols=0x...".
//   Example, as EXPLAIN QUERY PLAN shows it:
//     SCAN runs VIRTUAL TABLE INDEX 3:flow=? run_id=IN cols=0x1ff
//
// Constraints on key columns are applied exactly by the table (text equality), so they are
// omitted from SQLite's re-check; every other constraint is left for SQLite to evaluate.
#include "engine/vtab.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "util/error.hpp"

namespace mfsql::engine {
namespace {

constexpr int kSqliteWithVtabIn = 3038000;
constexpr int kSqliteWithDirectOnly = 3031000;
constexpr int kJsonSubtype = 'J';  // what SQLite's JSON functions use to recognise JSON text
constexpr double kAssumedInListLength = 4;

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

// The spelling of a comparison in the plan text, or nullptr for operators that are not checks.
const char* check_symbol(int op) {
  switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ: return "==";
    case SQLITE_INDEX_CONSTRAINT_NE: return "<>";
    case SQLITE_INDEX_CONSTRAINT_LT: return "<";
    case SQLITE_INDEX_CONSTRAINT_LE: return "<=";
    case SQLITE_INDEX_CONSTRAINT_GT: return ">";
    case SQLITE_INDEX_CONSTRAINT_GE: return ">=";
  }
  return nullptr;
}

int check_op(std::string_view symbol) {
  for (int op : {SQLITE_INDEX_CONSTRAINT_EQ, SQLITE_INDEX_CONSTRAINT_NE, SQLITE_INDEX_CONSTRAINT_LT,
                 SQLITE_INDEX_CONSTRAINT_LE, SQLITE_INDEX_CONSTRAINT_GT, SQLITE_INDEX_CONSTRAINT_GE})
    if (symbol == check_symbol(op)) return op;
  return 0;
}

// The right-hand side of a check, with the column's affinity applied as SQLite applies it to a
// comparison with a column: numbers for INTEGER/REAL columns, text for the others.
Value check_value(Type column_type, sqlite3_value* v) {
  if (column_type == Type::Json) return Value::null();  // JSON's NUMERIC affinity: left to SQLite alone
  const bool numeric = column_type == Type::Integer || column_type == Type::Real;
  int type = numeric ? sqlite3_value_numeric_type(v) : sqlite3_value_type(v);
  if (!numeric && (type == SQLITE_INTEGER || type == SQLITE_FLOAT)) type = SQLITE_TEXT;
  switch (type) {
    case SQLITE_INTEGER: return Value::of(static_cast<int64_t>(sqlite3_value_int64(v)));
    case SQLITE_FLOAT: return Value::of(sqlite3_value_double(v));
    case SQLITE_TEXT:
      return Value::of(std::string(reinterpret_cast<const char*>(sqlite3_value_text(v)), sqlite3_value_bytes(v)));
    case SQLITE_BLOB: {
      const char* data = static_cast<const char*>(sqlite3_value_blob(v));
      return Value::blob(std::string(data ? data : "", sqlite3_value_bytes(v)));
    }
  }
  return Value::null();
}

int column_index(const TableSpec& spec, std::string_view name) {
  for (size_t i = 0; i < spec.columns.size(); ++i)
    if (name == spec.columns[i].name) return static_cast<int>(i);
  return -1;
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
  const TableSpec& spec = *reinterpret_cast<Table*>(vtab)->module->spec;
  const bool can_take_whole_in = sqlite3_libversion_number() >= kSqliteWithVtabIn;
  std::vector<bool> taken(spec.columns.size(), false);
  std::string terms;
  int argv_index = 0;
  int idx_num = 0;
  double rows = spec.scan_rows;
  // Constraints are taken in column order, so the plan text (and EXPLAIN) reads the same whatever
  // the order of the WHERE terms.
  std::vector<int> usable;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.usable && c.op == SQLITE_INDEX_CONSTRAINT_EQ && c.iColumn >= 0 &&
        (spec.columns[c.iColumn].flags & (kKey | kArgument)))
      usable.push_back(i);
  }
  std::stable_sort(usable.begin(), usable.end(),
                   [&](int a, int b) { return info->aConstraint[a].iColumn < info->aConstraint[b].iColumn; });
  for (int i : usable) {
    const auto& c = info->aConstraint[i];
    const Column& col = spec.columns[c.iColumn];
    if (taken[c.iColumn]) continue;
    taken[c.iColumn] = true;
    info->aConstraintUsage[i].argvIndex = ++argv_index;
    info->aConstraintUsage[i].omit = 1;
    bool whole_in = can_take_whole_in && sqlite3_vtab_in(info, i, -1);
    if (whole_in) sqlite3_vtab_in(info, i, 1);
    if (c.iColumn < 31) idx_num |= 1 << c.iColumn;
    terms += std::string(col.name) + (whole_in ? "=IN " : "=? ");
    rows = rows / std::max(col.narrows, 1.0) * (whole_in ? kAssumedInListLength : 1.0);
  }
  // Patterns narrow by their literal prefix, which the plan cannot see: count them as half a lookup.
  const bool unique = rows <= 1.0 && argv_index > 0;  // from equalities alone
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    const bool like = c.op == SQLITE_INDEX_CONSTRAINT_LIKE, glob = c.op == SQLITE_INDEX_CONSTRAINT_GLOB;
    if (!c.usable || !(like || glob) || c.iColumn < 0 || !(spec.columns[c.iColumn].flags & kPattern)) continue;
    info->aConstraintUsage[i].argvIndex = ++argv_index;
    terms += std::string(spec.columns[c.iColumn].name) + (glob ? "~glob=? " : "~like=? ");
    rows /= std::max(std::sqrt(spec.columns[c.iColumn].narrows), 1.0);
  }
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable || c.iColumn < 0 || !(spec.columns[c.iColumn].flags & kArgument) || info->aConstraintUsage[i].argvIndex)
      continue;
    terms += std::string("bad:") + spec.columns[c.iColumn].name + " ";  // xFilter says what to write instead
    info->aConstraintUsage[i].argvIndex = ++argv_index;
  }
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    const char* symbol = check_symbol(c.op);
    if (!c.usable || !symbol || c.iColumn < 0 || info->aConstraintUsage[i].argvIndex) continue;
    if (std::strcmp(sqlite3_vtab_collation(info, i), "BINARY") != 0) continue;  // compared otherwise
    info->aConstraintUsage[i].argvIndex = ++argv_index;
    terms += std::string(spec.columns[c.iColumn].name) + symbol + "? ";
  }
  // A WHERE term the table is shown but cannot check (LIKE on a plain column, a join term not yet
  // usable, another collation) may still reject rows: then no deferred column is computed ahead.
  bool all_checked = true;
  for (int i = 0; i < info->nConstraint; ++i)
    if (!info->aConstraintUsage[i].argvIndex && !(info->aConstraint[i].usable && info->aConstraint[i].iColumn >= 0 &&
                                                  taken[info->aConstraint[i].iColumn] &&
                                                  info->aConstraint[i].op == SQLITE_INDEX_CONSTRAINT_EQ))
      all_checked = false;
  if (!all_checked) terms += "lazy ";
  rows = std::max(rows, 1.0);
  info->estimatedRows = static_cast<sqlite3_int64>(std::ceil(rows));
  // A lookup costs a few reads; a scan costs one read per row. The fixed part makes SQLite prefer
  // one lookup per outer row over rescanning a whole table for each.
  info->estimatedCost = (argv_index ? 5.0 : 50.0) + rows * 10.0;
  if (unique) info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  info->idxNum = idx_num;
  std::ostringstream s;
  s << (terms.empty() ? "scan " : terms) << "cols=0x" << std::hex << static_cast<uint64_t>(info->colUsed);
  info->idxStr = sqlite3_mprintf("%s", s.str().c_str());
  info->needToFreeIdxStr = 1;
  return SQLITE_OK;
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

void add_value(std::vector<std::string>& list, sqlite3_value* v) {
  // `= NULL` matches nothing; nor does a BLOB, which SQLite never finds equal to TEXT (key columns
  // are TEXT, or INTEGER where a BLOB is not equal to a number either). Numbers are compared as
  // their text, as TEXT affinity would convert them.
  if (sqlite3_value_type(v) == SQLITE_NULL || sqlite3_value_type(v) == SQLITE_BLOB) return;
  std::string text(reinterpret_cast<const char*>(sqlite3_value_text(v)), sqlite3_value_bytes(v));
  if (std::find(list.begin(), list.end(), text) == list.end()) list.push_back(std::move(text));
}

Plan decode_plan(const TableSpec& spec, const char* idx_str, int argc, sqlite3_value** argv) {
  Plan plan;
  plan.equals.resize(spec.columns.size());
  std::istringstream terms(idx_str ? idx_str : "");
  std::string term;
  int k = 0;
  while (terms >> term) {
    if (term.rfind("cols=0x", 0) == 0) {
      plan.columns_used = std::stoull(term.substr(7), nullptr, 16);
      continue;
    }
    if (term == "scan") continue;
    if (term.rfind("bad:", 0) == 0)
      throw UserError(term.substr(4) + " is an argument of " + spec.name + ": it takes = or IN (" + term.substr(4) +
                      " = 1, " + term.substr(4) + " IN (0, 1)), or a table-valued-function argument; other "
                      "comparisons on it cannot select what the table reads.");
    if (term == "lazy") {
      plan.all_terms_checked = false;
      continue;
    }
    auto eq = term.find('=');
    auto tilde = term.find('~');
    auto op_at = term.find_first_of("=<>~");
    if (op_at != std::string::npos && term.compare(op_at, 2, "=?") != 0 && term.compare(op_at, 3, "=IN") != 0 &&
        term[op_at] != '~') {  // a check: name, operator, '?'
      int col = column_index(spec, std::string_view(term).substr(0, op_at));
      int op = check_op(std::string_view(term).substr(op_at, term.size() - op_at - 1));
      if (col < 0 || !op || k >= argc) throw std::logic_error("mfsql: malformed plan '" + std::string(idx_str) + "'");
      plan.checks.push_back({col, op, check_value(spec.columns[col].type, argv[k])});
      ++k;
      continue;
    }
    int col = column_index(spec, std::string_view(term).substr(0, std::min(eq, tilde)));
    if (col < 0 || k >= argc) throw std::logic_error("mfsql: malformed plan '" + std::string(idx_str) + "'");
    if (tilde < eq) {
      if (sqlite3_value_type(argv[k]) == SQLITE_TEXT) {  // a NULL or BLOB pattern: SQLite's check decides
        std::string text(reinterpret_cast<const char*>(sqlite3_value_text(argv[k])), sqlite3_value_bytes(argv[k]));
        plan.patterns.push_back({col, term.compare(tilde, 5, "~glob") == 0, std::move(text)});
      }
      ++k;
      continue;
    }
    auto& list = plan.equals[col].emplace();
    if (term.compare(eq, std::string::npos, "=IN") == 0) {
      sqlite3_value* v = nullptr;
      for (int rc = sqlite3_vtab_in_first(argv[k], &v); rc == SQLITE_OK && v; rc = sqlite3_vtab_in_next(argv[k], &v))
        add_value(list, v);
    } else {
      add_value(list, argv[k]);
    }
    ++k;
  }
  return plan;
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
  return advance(cur, base->pVtab);
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

namespace {

// SQLite's order of values: NULL < numbers < text < blobs; numbers by value, text and blobs by
// bytes (BINARY). nullopt when either side is NULL (the comparison is then NULL: not kept).
std::optional<int> compare(const Value& a, const Value& b) {
  auto rank = [](const Value& v) {
    switch (v.kind) {
      case Value::Kind::Null: return 0;
      case Value::Kind::Integer:
      case Value::Kind::Real: return 1;
      case Value::Kind::Text:
      case Value::Kind::Json: return 2;
      case Value::Kind::Blob: return 3;
    }
    return 0;
  };
  const int ra = rank(a), rb = rank(b);
  if (ra == 0 || rb == 0) return std::nullopt;
  if (ra != rb) return ra < rb ? -1 : 1;
  if (ra == 1) {
    if (a.kind == Value::Kind::Integer && b.kind == Value::Kind::Integer)
      return a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0;
    const double x = a.kind == Value::Kind::Integer ? static_cast<double>(a.integer) : a.real;
    const double y = b.kind == Value::Kind::Integer ? static_cast<double>(b.integer) : b.real;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const int c = a.text.compare(b.text);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

bool Plan::keeps(Row& row) const {
  if (!all_terms_checked) return false;
  const uint64_t deferred = row.deferred_columns();
  for (const Check& check : checks) {
    if (check.column >= static_cast<int>(row.size()) || (deferred & Row::column_bit(check.column))) return false;
    auto c = compare(row[check.column], check.value);
    if (!c) return false;
    bool ok = false;
    switch (check.op) {
      case SQLITE_INDEX_CONSTRAINT_EQ: ok = *c == 0; break;
      case SQLITE_INDEX_CONSTRAINT_NE: ok = *c != 0; break;
      case SQLITE_INDEX_CONSTRAINT_LT: ok = *c < 0; break;
      case SQLITE_INDEX_CONSTRAINT_LE: ok = *c <= 0; break;
      case SQLITE_INDEX_CONSTRAINT_GT: ok = *c > 0; break;
      case SQLITE_INDEX_CONSTRAINT_GE: ok = *c >= 0; break;
    }
    if (!ok) return false;
  }
  return true;
}

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
