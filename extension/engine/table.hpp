#pragma once
// What a table is, to the engine: a declarative list of columns plus one function that yields rows
// for a plan. Everything SQLite-specific (xBestIndex, xFilter, argv order, IN lists, colUsed) lives
// in vtab.cpp; a table never sees it.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/generator.hpp"

namespace mfsql {
// What a table reads (for mfsql: one Metaflow store and the connection's session), defined by
// the application (session/session.hpp). The engine only holds it: opened once per virtual table
// through ModuleOptions::open_source, shared by that table's cursors, told when they start and stop.
struct TableSource;
}  // namespace mfsql

namespace mfsql::engine {

enum class Type { Text, Integer, Real, Json, Blob };
// The declared type, as CREATE TABLE and metaflow_columns show it.
const char* type_name(Type t);

using ModuleArgs = std::vector<std::pair<std::string, std::string>>;

enum ColumnFlag : unsigned {
  kPlain = 0,
  kKey = 1,     // `=` and `IN` on it become direct lookups (the path columns and lookup names)
  kHidden = 2,  // declared HIDDEN: not in SELECT *, still selectable and filterable
  kPattern = 4,  // LIKE and GLOB patterns on it are handed to the table (which may narrow by their
                 // literal prefix); SQLite still checks every row against them
  kArgument = 8,  // an argument, as series.c's start/stop: `=` or `IN` hands its values to the
                  // table (like kKey), the table echoes the value in its rows, and any other
                  // operator on it is an error: what it selects must not depend on the plan.
                  // HIDDEN arguments can be given as table-valued-function arguments, in order.
};

struct Column {
  const char* name;
  Type type;
  unsigned flags;
  // How many times fewer rows a lookup on this key yields than a scan; guides the planner's choice
  // of the lookup side in joins. Ignored for non-key columns.
  double narrows;
  const char* doc;
};

// One cell. Text and Json carry `text`; Blob carries `text` as raw bytes.
struct Value {
  enum class Kind { Null, Integer, Real, Text, Json, Blob } kind = Kind::Null;
  int64_t integer = 0;
  double real = 0;
  std::string text;

  static Value null() { return {}; }
  static Value of(int64_t v) { return {Kind::Integer, v, 0, {}}; }
  static Value of(double v) { return {Kind::Real, 0, v, {}}; }
  static Value of(std::string v) { return {Kind::Text, 0, 0, std::move(v)}; }
  static Value json(std::string v) { return {Kind::Json, 0, 0, std::move(v)}; }
  static Value blob(std::string v) { return {Kind::Blob, 0, 0, std::move(v)}; }
  static Value boolean(bool v) { return of(int64_t{v ? 1 : 0}); }
  template <typename T>
  static Value maybe(const std::optional<T>& v) { return v ? of(*v) : null(); }
  static Value json_maybe(const std::optional<std::string>& v) { return v ? json(*v) : null(); }
};

// One row: the cells a table filled when it found the row, and groups of columns it computes
// only when SQLite first asks for one of them (xColumn). SQLite asks for a row's columns only once
// the WHERE terms it evaluates have kept the row, so an expensive column (a blob's value, a log, a
// run's status) is never computed for a row the query throws away. A group is computed once.
class Row {
 public:
  using Fill = std::function<void(Row&)>;

  Row() = default;
  explicit Row(size_t columns) : cells_(columns) {}
  Row(std::initializer_list<Value> cells) : cells_(cells) {}

  Value& operator[](size_t i) { return cells_[i]; }
  size_t size() const { return cells_.size(); }

  // `fill` sets the columns whose bits are in `columns` (bit i: column i), when one is first read.
  void defer(uint64_t columns, Fill fill) { deferred_.push_back({columns, std::move(fill)}); }
  // The columns still to be computed.
  uint64_t deferred_columns() const {
    uint64_t all = 0;
    for (auto& d : deferred_) all |= d.columns;
    return all;
  }
  // Computes every deferred group now (the walk does so for rows it knows will be kept, on
  // several threads at once).
  void compute_all() {
    while (!deferred_.empty()) run(deferred_.size() - 1);
  }
  // Cell i, computing its group first when it is deferred. Throws what the group throws.
  const Value& get(size_t i) {
    for (size_t d = 0; d < deferred_.size(); ++d)
      if (deferred_[d].columns & column_bit(i)) {
        run(d);
        break;
      }
    return cells_[i];
  }
  static constexpr uint64_t column_bit(size_t i) { return uint64_t{1} << (i < 63 ? i : 63); }

 private:
  void run(size_t d) {
    Fill fill = std::move(deferred_[d].fill);
    deferred_.erase(deferred_.begin() + static_cast<std::ptrdiff_t>(d));
    fill(*this);
  }
  struct Deferred {
    uint64_t columns;
    Fill fill;
  };
  std::vector<Value> cells_;
  std::vector<Deferred> deferred_;
};

// The bits of these columns, as Row::defer and Plan::columns_used hold them.
constexpr uint64_t column_bits(std::initializer_list<int> columns) {
  uint64_t bits = 0;
  for (int c : columns) bits |= Row::column_bit(static_cast<size_t>(c));
  return bits;
}

// What the engine derived from the WHERE clause and the SELECT list.
struct Plan {
  // For each column, the values it must equal (from `=` or `IN`), or nullopt when unconstrained.
  // Values are text, deduplicated, in the order given; an empty list means nothing can match.
  std::vector<std::optional<std::vector<std::string>>> equals;
  // LIKE / GLOB patterns on kPattern columns, every one of which a row must match.
  struct Pattern {
    int column;
    bool glob;  // GLOB (case-sensitive; * ? [...]) rather than LIKE (ASCII case-insensitive; % _)
    std::string text;
  };
  std::vector<Pattern> patterns;
  // Comparisons on other columns (`size < 10`) that SQLite also applies to every row. The table
  // does not filter by them; the walk uses them to tell which rows the query will keep, whose
  // deferred columns it may then compute ahead, together.
  struct Check {
    // SQLITE_INDEX_CONSTRAINT_EQ, _GT, _LE, _LT, _GE and _NE, for tables that do not include SQLite
    // (plan.cpp checks the values).
    static constexpr int kEq = 2, kGt = 4, kLe = 8, kLt = 16, kGe = 32, kNe = 68;
    int column;
    int op;  // one of the above
    Value value;
  };
  std::vector<Check> checks;
  bool all_terms_checked = true;  // false when a term SQLite showed the table is none of the above
  uint64_t columns_used = ~uint64_t{0};
  // LIMIT and OFFSET (SQLite >= 3.38 offers them with one table in FROM and every other term handed
  // to the table). `limit` is how many rows the statement takes at most after OFFSET: a hint for
  // how much to ask for at once, never a cut (SQLite applies it; rows it drops are simply not
  // wanted). `offset` rows are skipped by the engine (vtab.cpp) when offset_skipped, else SQLite.
  std::optional<int64_t> limit, offset;
  bool offset_skipped = false;
  // The rows come in the order of TableSpec::newest_first, which SQLite then need not sort.
  bool ordered = false;
  // Rows the table can be asked for at most: the LIMIT and the OFFSET before it; nullopt: all.
  std::optional<int64_t> rows_wanted() const {
    if (!limit || *limit < 0) return std::nullopt;
    return *limit + std::max<int64_t>(offset.value_or(0), 0);
  }

  const std::vector<std::string>* values(int column) const {
    return column < static_cast<int>(equals.size()) && equals[column] ? &*equals[column] : nullptr;
  }
  // A single fixed value, when the column is constrained to exactly one.
  const std::string* only(int column) const {
    auto* v = values(column);
    return v && v->size() == 1 ? &(*v)[0] : nullptr;
  }
  bool uses(int column) const { return (columns_used >> (column < 63 ? column : 63)) & 1; }
  // True when the row is sure to pass every check: each checked cell is computed (not deferred)
  // and compares as SQLite would compare it. False when a check fails or cannot be told yet.
  bool keeps(Row& row) const;
};

struct TableSpec {
  const char* name;
  const char* doc;
  std::span<const Column> columns;
  double scan_rows;  // rows a full scan yields on a typical store, for the planner
  Generator<Row> (*rows)(TableSource& source, const Plan& plan);
  // Reachable from top-level SQL only (SQLITE_VTAB_DIRECTONLY), never from a trigger or view: true
  // for every table that reads files or the network; false for those that show connection state.
  bool direct_only = true;
  const char* example = "";
  // `ORDER BY <order_column> DESC` is the order rows come in whenever `<order_fixed_by> = ?` fixes
  // one value (the walk goes flow by flow, newest first within a flow): then SQLite need not sort
  // (orderByConsumed) and a LIMIT applies. -1: no order is promised.
  int order_column = -1;
  int order_fixed_by = -1;
};

}  // namespace mfsql::engine
