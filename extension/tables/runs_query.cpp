// A statement's terms on runs as a RunQuery (walk.hpp, runs_query): what the provider may send
// to the metadata service as its filters and page size.
#include <algorithm>

#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {

namespace {

// The first time (epoch ms, within years 0000..9999) whose created_at text compares with `text`
// as `passes` says, bisecting: the text of a time grows with the time.
constexpr int64_t kLastTime = 253402300799999;  // 9999-12-31 23:59:59.999
template <typename Passes>
int64_t first_time(Passes passes) {
  int64_t lo = 0, hi = kLastTime + 1;  // passes(hi) is taken as true
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (passes(iso_utc_ms(mid))) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace

RunQuery runs_query(const engine::Plan& plan, int created_at, int user, bool rows_are_runs) {
  RunQuery q;
  auto raise_from = [&](int64_t t) { q.created_from_ms = std::max(q.created_from_ms.value_or(t), t); };
  auto lower_to = [&](int64_t t) { q.created_to_ms = std::min(q.created_to_ms.value_or(t), t); };
  for (const engine::Plan::Check& c : plan.checks) {
    if (c.value.kind != engine::Value::Kind::Text) continue;  // NULL matches nothing; a BLOB, SQLite alone
    const std::string& s = c.value.text;
    if (c.column == user && c.op == engine::Plan::Check::kEq) q.user = s;
    if (c.column != created_at) continue;
    switch (c.op) {
      case engine::Plan::Check::kEq:
        raise_from(first_time([&](const std::string& t) { return t >= s; }));
        lower_to(first_time([&](const std::string& t) { return t > s; }) - 1);
        break;
      case engine::Plan::Check::kGe: raise_from(first_time([&](const std::string& t) { return t >= s; })); break;
      case engine::Plan::Check::kGt: raise_from(first_time([&](const std::string& t) { return t > s; })); break;
      case engine::Plan::Check::kLe: lower_to(first_time([&](const std::string& t) { return t > s; }) - 1); break;
      case engine::Plan::Check::kLt: lower_to(first_time([&](const std::string& t) { return t >= s; }) - 1); break;
    }
  }
  if (q.created_from_ms == 0) q.created_from_ms.reset();  // every time passes: nothing to send
  if (q.created_to_ms == kLastTime) q.created_to_ms.reset();
  if (rows_are_runs) q.wanted = plan.rows_wanted();
  return q;
}

}  // namespace mfsql::tables
