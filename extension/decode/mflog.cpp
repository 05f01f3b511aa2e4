#include "decode/mflog.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "util/time.hpp"

namespace mfsql::mflog {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads `count` ASCII digits at `at` into `out`.
bool digits(std::string_view s, size_t at, size_t count, int& out) {
  if (at + count > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!is_digit(s[at + i])) return false;
    out = out * 10 + (s[at + i] - '0');
  }
  return true;
}

// One strptime field of 1 or 2 digits ending at the next separator. `two_digit_ok` says which
// two-digit values the directive's regex admits (e.g. %m: 1[0-2]|0[1-9]); one digit must be
// accepted by `one_digit_ok`. Python's regex backtracks, but since separators are never digits the
// field is exactly the digits up to the separator.
template <typename TwoOk, typename OneOk>
bool field(std::string_view s, size_t& at, int& out, TwoOk two_digit_ok, OneOk one_digit_ok) {
  size_t end = at;
  while (end < s.size() && is_digit(s[end]) && end - at < 3) ++end;
  if (end - at == 2 && digits(s, at, 2, out) && two_digit_ok(out)) {
    at = end;
    return true;
  }
  if (end - at == 1 && digits(s, at, 1, out) && one_digit_ok(out)) {
    at = end;
    return true;
  }
  return false;
}

bool literal(std::string_view s, size_t& at, char c) {
  if (at >= s.size() || s[at] != c) return false;
  ++at;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

}  // namespace

bool valid_timestamp(std::string_view s, std::string* iso) {
  // _strptime's regexes for "%Y-%m-%dT%H:%M:%S.%f" (compiled IGNORECASE, so 't' passes for 'T'),
  // then datetime()'s range checks (year >= 1, real day of month, seconds <= 59).
  size_t at = 0;
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y)) return false;
  at = 4;
  if (!literal(s, at, '-')) return false;
  if (!field(s, at, mo, [](int v) { return v >= 1 && v <= 12; }, [](int v) { return v >= 1; })) return false;
  if (!literal(s, at, '-')) return false;
  // %d also admits " [1-9]" (a space and one digit).
  if (at + 1 < s.size() && s[at] == ' ' && is_digit(s[at + 1]) && s[at + 1] != '0') {
    d = s[at + 1] - '0';
    at += 2;
  } else if (!field(s, at, d, [](int v) { return v >= 1 && v <= 31; }, [](int v) { return v >= 1; })) {
    return false;
  }
  if (at >= s.size() || (s[at] != 'T' && s[at] != 't')) return false;
  ++at;
  if (!field(s, at, h, [](int v) { return v <= 23; }, [](int) { return true; })) return false;
  if (!literal(s, at, ':')) return false;
  if (!field(s, at, mi, [](int v) { return v <= 59; }, [](int) { return true; })) return false;
  if (!literal(s, at, ':')) return false;
  if (!field(s, at, sec, [](int v) { return v <= 61; }, [](int) { return true; })) return false;
  if (!literal(s, at, '.')) return false;
  size_t frac_len = s.size() - at;
  int frac;
  if (frac_len < 1 || frac_len > 6 || !digits(s, at, frac_len, frac)) return false;
  if (y < 1 || d > days_in(y, mo) || sec > 59) return false;
  if (iso) {
    for (size_t i = frac_len; i < 6; ++i) frac *= 10;  // %f pads on the right: ".5" is 500000 µs
    *iso = sql_time(y, mo, d, h, mi, sec, frac);  // the form of every time column (util/time.hpp)
  }
  return true;
}

Line parse_line(std::string_view raw) {
  // LINE_PARSER = (\[!)?\[MFLOG\|(0)\|(.+?)Z\|(.+?)\|(.+?)\](.*) with re.match: `.` stops at '\n'
  // (only ever the last byte). Each lazy group ends at the first delimiter that leaves it non-empty;
  // a later match can never rescue an earlier failure, so no backtracking is needed.
  Line unparsed;
  unparsed.timestamp = kMissingTimestamp;
  unparsed.message = raw;
  std::string_view line = raw;
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  bool persist = line.substr(0, 2) == "[!";
  size_t at = persist ? 2 : 0;
  constexpr std::string_view kHead = "[MFLOG|0|";
  if (line.substr(at, kHead.size()) != kHead) return unparsed;
  at += kHead.size();
  size_t ts_end = line.find("Z|", at + 1);
  if (ts_end == std::string_view::npos) return unparsed;
  size_t source_end = line.find('|', ts_end + 3);
  if (source_end == std::string_view::npos) return unparsed;
  size_t id_end = line.find(']', source_end + 2);
  if (id_end == std::string_view::npos) return unparsed;
  Line out;
  out.timestamp = line.substr(at, ts_end - at);
  if (!valid_timestamp(out.timestamp, &out.iso)) return unparsed;  // parse() swallows strptime's error
  out.source = line.substr(ts_end + 2, source_end - ts_end - 2);
  out.id = line.substr(source_end + 1, id_end - source_end - 1);
  out.message = line.substr(id_end + 1);
  out.parsed = true;
  out.persist = persist;
  return out;
}

std::vector<Line> parse(std::string_view blob) {
  std::vector<Line> parsed, unparsed;
  size_t start = 0;
  while (start < blob.size()) {
    size_t nl = blob.find('\n', start);
    size_t end = nl == std::string_view::npos ? blob.size() : nl + 1;
    Line l = parse_line(blob.substr(start, end - start));
    (l.parsed ? parsed : unparsed).push_back(std::move(l));
    start = end;
  }
  for (auto& l : unparsed) parsed.push_back(std::move(l));
  return parsed;
}

std::vector<Line> merge(std::vector<std::vector<Line>> files) {
  // Python compares (timestamp, MFLogline(persist, version, timestamp, source, id, msg, dt)). For
  // unparsed lines everything but msg is equal, so they order by their raw bytes. (Python would
  // raise comparing a parsed line's bytes timestamp with the missing one's str; mfsql gives the
  // order mflog.py intends: unparsable lines last.)
  auto key = [](const Line& l) {
    return std::tie(l.timestamp, l.persist, l.source, l.id, l.message);
  };
  auto before = [&](const Line& a, const Line& b) {
    if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
    if (a.parsed != b.parsed) return a.parsed;
    return key(a) < key(b);
  };
  // Each file sorted, then heapq.merge, which takes the earlier file's line first on ties: the
  // same as a stable sort of the files' sorted lines laid end to end.
  std::vector<Line> all;
  for (size_t i = 0; i < files.size(); ++i) {
    std::stable_sort(files[i].begin(), files[i].end(), before);
    for (auto& l : files[i]) {
      l.blob = static_cast<int>(i);
      all.push_back(std::move(l));
    }
  }
  std::stable_sort(all.begin(), all.end(), before);
  return all;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace mfsql::mflog
