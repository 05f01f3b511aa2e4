#include "util/time.hpp"

#include <cstdio>
#include <ctime>

namespace mfsql {

std::string sql_time(int year, int month, int day, int hour, int minute, int second, int micros) {
  char buf[48];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day, hour, minute, second,
           micros / 1000);
  return buf;
}

std::string iso_utc_ms(int64_t epoch_ms) {
  // Floor division, so that times before 1970 keep a positive millisecond part.
  int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : -((-epoch_ms + 999) / 1000);
  int ms = static_cast<int>(epoch_ms - secs * 1000);
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  return sql_time(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms * 1000);
}

std::optional<std::string> iso_utc_ms_or_null(int64_t epoch_ms) {
  if (epoch_ms < 0) return std::nullopt;
  return iso_utc_ms(epoch_ms);
}

}  // namespace mfsql
