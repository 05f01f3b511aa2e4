#include "storegen/mflog.hpp"

#include <chrono>
#include <cstdio>

namespace mfsql::storegen {

std::string iso_utc_micros(int64_t epoch_us) {
  using namespace std::chrono;
  sys_time<microseconds> at{microseconds{epoch_us}};
  auto day = floor<days>(at);
  year_month_day date{day};
  hh_mm_ss<microseconds> time{at - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lld", int(date.year()), unsigned(date.month()),
                unsigned(date.day()), int(time.hours().count()), int(time.minutes().count()),
                int(time.seconds().count()), static_cast<long long>(time.subseconds().count()));
  return buf;
}

std::string uuid4(Rng& rng) {
  uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & ~0xf000ull) | 0x4000ull;                      // version 4
  lo = (lo & ~(0xc000ull << 48)) | (0x8000ull << 48);       // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffull));
  return buf;
}

std::string mflog_text(const std::vector<LogLine>& lines, Rng& rng) {
  std::string out;
  for (const auto& line : lines) {
    out += "[MFLOG|0|";
    out += iso_utc_micros(line.at_us);
    out += "Z|runtime|";
    out += uuid4(rng);
    out += "]";
    out += line.text;
    if (line.newline) out += "\n";
  }
  return out;
}

}  // namespace mfsql::storegen
