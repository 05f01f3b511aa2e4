#include "util/time.hpp"

#include <cstdio>
#include <ctime>

namespace mfsql {

namespace {
void put_digits(char* at, int value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
}
}  // namespace

// Written digit by digit: a statement formats a time per row, and snprintf cost more than the
// rest of a remembered row (issue #16). The same text as "%04d-%02d-%02d %02d:%02d:%02d.%03d".
std::string sql_time(int year, int month, int day, int hour, int minute, int second, int micros) {
  const int ms = micros / 1000;
  if (year < 0 || year > 9999 || month < 0 || month > 99 || day < 0 || day > 99 || hour < 0 || hour > 99 ||
      minute < 0 || minute > 99 || second < 0 || second > 99 || ms < 0 || ms > 999) {
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day, hour, minute, second, ms);
    return buf;
  }
  std::string out(23, ' ');
  put_digits(&out[0], year, 4);
  out[4] = '-';
  put_digits(&out[5], month, 2);
  out[7] = '-';
  put_digits(&out[8], day, 2);
  put_digits(&out[11], hour, 2);
  out[13] = ':';
  put_digits(&out[14], minute, 2);
  out[16] = ':';
  put_digits(&out[17], second, 2);
  out[19] = '.';
  put_digits(&out[20], ms, 3);
  return out;
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
