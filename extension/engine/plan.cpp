// Planning: what xBestIndex tells xFilter, and what the walk learns from it.
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
//             order=desc           the rows come in TableSpec::order_column DESC order (the only
//                           ORDER BY, with order_fixed_by fixed by `=`): orderByConsumed, no sort
//             limit=?              argv[k] is the LIMIT (SQLite >= 3.38, checked at run time; only
//                           without ORDER BY or with the order consumed): how many rows to ask for
//                           at once, never a cut: SQLite applies it
//             offset=?             argv[k] is the OFFSET, which SQLite skips itself (a term it re-checks
//                           could drop rows of the offset); it adds to how many rows are asked for
//             offset:skip=?        the same, omitted: every other term is a key equality the table
//                           applies exactly, so the engine skips the rows (Plan::offset_skipped)
//           then `cols=0x...`: sqlite3_index_info.colUsed, so xFilter knows which expensive
//           columns the statement reads. A plan with no terms is "scan cols=0x...".
//   Example, as EXPLAIN QUERY PLAN shows it:
//     SCAN runs VIRTUAL TABLE INDEX 3:flow=? run_id=IN cols=0x1ff
//
// Constraints on key columns are applied exactly by the table (text equality), so they are
// omitted from SQLite's re-check; every other constraint is left for SQLite to evaluate.
#include "engine/plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include "util/error.hpp"

namespace mfsql::engine {
namespace {

constexpr int kSqliteWithVtabIn = 3038000;
constexpr int kSqliteWithLimit = 3038000;  // SQLITE_INDEX_CONSTRAINT_LIMIT / _OFFSET
constexpr int kConstraintLimit = 73, kConstraintOffset = 74;  // (their values, for older headers)

static_assert(Plan::Check::kEq == SQLITE_INDEX_CONSTRAINT_EQ && Plan::Check::kGt == SQLITE_INDEX_CONSTRAINT_GT &&
              Plan::Check::kLe == SQLITE_INDEX_CONSTRAINT_LE && Plan::Check::kLt == SQLITE_INDEX_CONSTRAINT_LT &&
              Plan::Check::kGe == SQLITE_INDEX_CONSTRAINT_GE && Plan::Check::kNe == SQLITE_INDEX_CONSTRAINT_NE);

bool is_limit_term(int op) { return op == kConstraintLimit || op == kConstraintOffset; }
constexpr double kAssumedInListLength = 4;

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

void add_value(std::vector<std::string>& list, sqlite3_value* v) {
  // `= NULL` matches nothing; nor does a BLOB, which SQLite never finds equal to TEXT (key columns
  // are TEXT, or INTEGER where a BLOB is not equal to a number either). Numbers are compared as
  // their text, as TEXT affinity would convert them.
  if (sqlite3_value_type(v) == SQLITE_NULL || sqlite3_value_type(v) == SQLITE_BLOB) return;
  std::string text(reinterpret_cast<const char*>(sqlite3_value_text(v)), sqlite3_value_bytes(v));
  if (std::find(list.begin(), list.end(), text) == list.end()) list.push_back(std::move(text));
}

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

int plan_index(const TableSpec& spec, sqlite3_index_info* info) {
  const bool can_take_whole_in = sqlite3_libversion_number() >= kSqliteWithVtabIn;
  std::vector<bool> taken(spec.columns.size(), false);
  std::vector<bool> one_value(spec.columns.size(), false);  // `=` (not a whole IN list)
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
    one_value[c.iColumn] = !whole_in;
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
    if (!c.usable || c.iColumn < 0 || is_limit_term(c.op) || !(spec.columns[c.iColumn].flags & kArgument) ||
        info->aConstraintUsage[i].argvIndex)
      continue;
    terms += std::string("bad:") + spec.columns[c.iColumn].name + " ";  // xFilter says what to write instead
    info->aConstraintUsage[i].argvIndex = ++argv_index;
  }
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    const char* symbol = check_symbol(c.op);
    if (!c.usable || !symbol || c.iColumn < 0 || info->aConstraintUsage[i].argvIndex) continue;
    // (A constraint SQLite hands one IN value at a time is still an `=`; others never reach here.)
    if (std::strcmp(sqlite3_vtab_collation(info, i), "BINARY") != 0) continue;  // compared otherwise
    info->aConstraintUsage[i].argvIndex = ++argv_index;
    terms += std::string(spec.columns[c.iColumn].name) + symbol + "? ";
  }
  // A WHERE term the table is shown but cannot check (LIKE on a plain column, a join term not yet
  // usable, another collation) may still reject rows: then no deferred column is computed ahead.
  // The order: consumed when the rows come in it (SQLite then drops an IN handled value by value).
  if (info->nOrderBy == 1 && spec.order_column >= 0 && info->aOrderBy[0].iColumn == spec.order_column &&
      info->aOrderBy[0].desc && spec.order_fixed_by >= 0 && one_value[spec.order_fixed_by]) {
    info->orderByConsumed = 1;
    terms += "order=desc ";
  }
  // LIMIT and OFFSET come last in aConstraint; SQLite keeps them only when every other constraint
  // has an argvIndex. A LIMIT under an ORDER BY the table does not produce would count unsorted rows.
  const bool limits = sqlite3_libversion_number() >= kSqliteWithLimit && (info->nOrderBy == 0 || info->orderByConsumed);
  bool exact = true;  // every other term is applied exactly by the table (omitted)
  for (int i = 0; i < info->nConstraint; ++i)
    if (!is_limit_term(info->aConstraint[i].op) && !info->aConstraintUsage[i].omit) exact = false;
  for (int i = 0; i < info->nConstraint && limits; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable || !is_limit_term(c.op)) continue;
    info->aConstraintUsage[i].argvIndex = ++argv_index;
    if (c.op == kConstraintLimit) {
      terms += "limit=? ";
    } else {
      info->aConstraintUsage[i].omit = exact ? 1 : 0;
      terms += exact ? "offset:skip=? " : "offset=? ";
    }
  }
  bool all_checked = true;
  for (int i = 0; i < info->nConstraint; ++i)
    if (is_limit_term(info->aConstraint[i].op)) continue;  // not a WHERE term: rejects no row
    else if (!info->aConstraintUsage[i].argvIndex && !(info->aConstraint[i].usable && info->aConstraint[i].iColumn >= 0 &&
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
    if (term == "order=desc") {
      plan.ordered = true;
      continue;
    }
    if (term == "limit=?" || term == "offset=?" || term == "offset:skip=?") {
      if (k >= argc) throw std::logic_error("mfsql: malformed plan '" + std::string(idx_str) + "'");
      const int64_t n = sqlite3_value_type(argv[k]) == SQLITE_INTEGER ? sqlite3_value_int64(argv[k]) : -1;
      ++k;
      if (term == "limit=?") {
        if (n >= 0) plan.limit = n;  // LIMIT -1 (or not an integer): no limit
      } else {
        plan.offset = std::max<int64_t>(n, 0);
        plan.offset_skipped = term == "offset:skip=?";
      }
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

}  // namespace mfsql::engine
