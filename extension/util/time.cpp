#include "util/time.hpp"

#include <cstdio>
#include <ctime>

namespace mfsql {

std::string iso_utc_ms(int64_t epoch_ms) {
  int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : -((-epoch_ms + 999) / 1000);
  int ms = static_cast<int>(epoch_ms - secs * 1000);
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::optional<std::string> iso_utc_ms_or_null(int64_t epoch_ms) {
  if (epoch_ms < 0) return std::nullopt;
  return iso_utc_ms(epoch_ms);
}

std::optional<std::string> normalize_iso(const std::string& text) {
  int y, mo, d, h, mi, s;
  char rest[32] = {0};
  if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%31s", &y, &mo, &d, &h, &mi, &s, rest) < 6)
    return std::nullopt;
  std::string out = text;
  if (out.empty() || out.back() != 'Z') out += 'Z';
  return out;
}

}  // namespace mfsql
