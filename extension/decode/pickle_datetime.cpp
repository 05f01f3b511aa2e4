// datetime's C reduce forms (Lib/datetime.py _getstate): packed bytes for date, time and
// datetime, (days, seconds, microseconds) for timedelta, (offset[, name]) for timezone.
#include <cstdio>

#include "decode/pickle_pandas.hpp"

namespace mfsql::pickle {

namespace {

struct Delta {
  int64_t days = 0, seconds = 0, microseconds = 0;
  __int128 total_microseconds() const {
    return (static_cast<__int128>(days) * 86400 + seconds) * 1000000 + microseconds;
  }
};

std::optional<Delta> timedelta_value(const Node* node) {
  if (callable_name(node) != "datetime.timedelta") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args || args->size() != 3) return std::nullopt;
  Delta d;
  auto days = int_value((*args)[0]), seconds = int_value((*args)[1]), micro = int_value((*args)[2]);
  if (!days || !seconds || !micro) return std::nullopt;
  d.days = *days;
  d.seconds = *seconds;
  d.microseconds = *micro;
  return d;
}

// The utcoffset of a tzinfo we can know without a time zone database.
std::optional<Delta> fixed_offset(const Node* tz) {
  std::string name = callable_name(tz);
  if (name == "pytz._UTC") return Delta{};
  if (name != "datetime.timezone") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(tz->call->args);
  if (!args || args->empty()) return std::nullopt;
  return timedelta_value((*args)[0]);
}

// datetime._format_offset: +HH:MM, then :SS and .ffffff only when needed.
std::string format_offset(const Delta& offset) {
  __int128 us = offset.total_microseconds();
  char sign = us < 0 ? '-' : '+';
  if (us < 0) us = -us;
  auto total_seconds = static_cast<int64_t>(us / 1000000);
  auto micro = static_cast<int64_t>(us % 1000000);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", sign, static_cast<long long>(total_seconds / 3600),
                        static_cast<long long>(total_seconds / 60 % 60));
  std::string out(buf, n);
  if (total_seconds % 60 || micro) {
    std::snprintf(buf, sizeof buf, ":%02lld", static_cast<long long>(total_seconds % 60));
    out += buf;
    if (micro) {
      std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(micro));
      out += buf;
    }
  }
  return out;
}

std::string format_time(unsigned hour, unsigned minute, unsigned second, unsigned micro) {
  char buf[32];
  if (micro) std::snprintf(buf, sizeof buf, "%02u:%02u:%02u.%06u", hour, minute, second, micro);
  else std::snprintf(buf, sizeof buf, "%02u:%02u:%02u", hour, minute, second);
  return buf;
}

std::string format_date(unsigned year, unsigned month, unsigned day) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02u", year, month, day);
  return buf;
}

// repr(timedelta) as Python >= 3.7 writes it, for a timezone rendered on its own.
std::string timedelta_repr(const Delta& d) {
  std::string parts;
  auto add = [&](const char* field, int64_t v) {
    if (!v) return;
    if (!parts.empty()) parts += ", ";
    parts += std::string(field) + "=" + std::to_string(v);
  };
  add("days", d.days);
  add("seconds", d.seconds);
  add("microseconds", d.microseconds);
  return "datetime.timedelta(" + (parts.empty() ? "0" : parts) + ")";
}

// A value with a tzinfo whose offset needs a database (zoneinfo, pytz zones, dateutil): the
// local time is exact, the zone is shown as decoded.
Json with_unknown_zone(Renderer& renderer, const std::string& local, Node* tz, size_t depth) {
  return Json{{"$datetime", local}, {"tzinfo", renderer.render(tz, depth)}};
}

// Floor division and its remainder, as Python's // and % (the remainder has the divisor's sign).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;  // computed without floor_div(a, b) * b, which can pass INT64_MIN
  return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

struct Civil {
  int64_t year;
  unsigned month, day;
};

// Days since 1970-01-01 to the proleptic Gregorian date (H. Hinnant's civil_from_days).
Civil civil_from_days(int64_t z) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned day = doy - (153 * mp + 2) / 5 + 1;
  unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return Civil{static_cast<int64_t>(yoe) + era * 400 + (month <= 2), month, day};
}

// The date and time of `us` microseconds since the epoch, or nullopt outside years 1 to 9999
// (where Python's datetime ends and numpy's tolist gives the plain number instead).
std::optional<std::string> iso_from_microseconds(__int128 us, bool date_only) {
  constexpr int64_t kDay = 86400 * int64_t{1000000};
  if (us < -(__int128{62135596800} * 1000000) || us >= __int128{253402300800} * 1000000) return std::nullopt;
  auto v = static_cast<int64_t>(us);
  Civil c = civil_from_days(floor_div(v, kDay));
  std::string date = format_date(static_cast<unsigned>(c.year), c.month, c.day);
  if (date_only) return date;
  int64_t in_day = floor_mod(v, kDay);
  int64_t seconds = in_day / 1000000;
  return date + "T" + format_time(static_cast<unsigned>(seconds / 3600), static_cast<unsigned>(seconds / 60 % 60),
                                  static_cast<unsigned>(seconds % 60), static_cast<unsigned>(in_day % 1000000));
}

// {"$timedelta_seconds": total_seconds()} of a datetime.timedelta of `us` microseconds: Python
// divides the int by 10**6, one correctly rounded division while the value is exact.
Json timedelta_seconds_json(__int128 us) {
  double seconds = (us > -(__int128{1} << 53) && us < (__int128{1} << 53))
                       ? static_cast<double>(static_cast<int64_t>(us)) / 1e6
                       : static_cast<double>(static_cast<long double>(us) / 1e6L);
  return Json{{"$timedelta_seconds", seconds}};
}

// Microseconds in one `unit`, or 0 for units numpy's tolist does not turn into datetime objects.
int64_t unit_microseconds(const std::string& unit) {
  if (unit == "W") return 7 * 86400 * int64_t{1000000};
  if (unit == "D") return 86400 * int64_t{1000000};
  if (unit == "h") return 3600 * int64_t{1000000};
  if (unit == "m") return 60 * int64_t{1000000};
  if (unit == "s") return 1000000;
  if (unit == "ms") return 1000;
  if (unit == "us") return 1;
  return 0;
}

}  // namespace

std::optional<int64_t> tz_offset_seconds(const Node* tz, std::string* name) {
  auto offset = fixed_offset(tz);
  // Python keeps a timezone's offset strictly within a day; anything else is not a real one.
  if (!offset || offset->microseconds || offset->days < -1 || offset->days > 0 || offset->seconds < 0 ||
      offset->seconds >= 86400)
    return std::nullopt;
  int64_t seconds = offset->days * 86400 + offset->seconds;
  if (name) {
    // str(timezone): its name if it was given one, else "UTC" and the offset when not zero.
    const std::vector<Node*>* args = callable_name(tz) == "datetime.timezone" ? sequence_items(tz->call->args) : nullptr;
    if (args && args->size() == 2 && str_value((*args)[1])) *name = (*args)[1]->text;
    else *name = seconds ? "UTC" + format_offset(*offset) : "UTC";
  }
  return seconds;
}

std::string timestamp_iso(int64_t ns, bool with_offset, int64_t offset_seconds) {
  constexpr int64_t kBillion = 1000000000;
  int64_t local_seconds = floor_div(ns, kBillion) + offset_seconds;
  int64_t fraction = floor_mod(ns, kBillion);
  Civil c = civil_from_days(floor_div(local_seconds, 86400));
  int64_t in_day = floor_mod(local_seconds, 86400);
  std::string out = format_date(static_cast<unsigned>(c.year), c.month, c.day) + "T" +
                    format_time(static_cast<unsigned>(in_day / 3600), static_cast<unsigned>(in_day / 60 % 60),
                                static_cast<unsigned>(in_day % 60), 0);
  if (fraction) {
    char buf[32];
    if (fraction % 1000) std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(fraction));
    else std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(fraction / 1000));
    out += buf;
  }
  if (with_offset) out += format_offset(Delta{0, offset_seconds, 0});
  return out;
}

double pandas_total_seconds(int64_t ns) {
  int64_t us = floor_div(ns, 1000);
  int64_t days = floor_div(us, 86400 * int64_t{1000000});
  int64_t rest = us - days * 86400 * int64_t{1000000};
  return static_cast<double>(days * 86400 + rest / 1000000) + static_cast<double>(rest % 1000000) / 1e6;
}

Json numpy_time_value(const NumpyDtype& dtype, int64_t value) {
  if (value == kNaT) return nullptr;
  const std::string& unit = dtype.unit;
  __int128 count = static_cast<__int128>(value) * dtype.unit_count;
  if (dtype.kind == 'm') {
    int64_t per = unit_microseconds(unit);
    if (count > (__int128{1} << 80) || count < -(__int128{1} << 80)) return render_int(value);
    __int128 us = count * per;
    // Python's timedelta holds at most 999999999 days.
    if (!per || us > __int128{999999999} * 86400 * 1000000 || us < -__int128{999999999} * 86400 * 1000000)
      return render_int(value);
    return timedelta_seconds_json(us);
  }
  std::optional<std::string> iso;
  if (unit == "Y" || unit == "M") {
    __int128 months = unit == "Y" ? count * 12 : count;
    if (months > -24000 * 12 && months < 24000 * 12) {
      auto m = static_cast<int64_t>(months);
      int64_t year = 1970 + floor_div(m, 12);
      if (year >= 1 && year <= 9999)
        iso = format_date(static_cast<unsigned>(year), static_cast<unsigned>(floor_mod(m, 12) + 1), 1);
    }
  } else if (int64_t per = unit_microseconds(unit)) {
    if (count > -(__int128{1} << 80) && count < (__int128{1} << 80))
      iso = iso_from_microseconds(count * per, unit == "W" || unit == "D");
  }
  if (!iso) return render_int(value);  // ns and finer, generic, or beyond datetime's years
  return *iso;
}

std::optional<Json> render_datetime_call(Renderer& renderer, Node* node, size_t depth) {
  const std::string name = callable_name(node);
  if (!name.starts_with("datetime.")) return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args) return std::nullopt;

  if (name == "datetime.timedelta") {
    auto d = timedelta_value(node);
    if (!d) return std::nullopt;
    return timedelta_seconds_json(d->total_microseconds());
  }
  if (name == "datetime.timezone") {
    auto offset = fixed_offset(node);
    if (!offset) return std::nullopt;
    if (args->size() == 1 && offset->total_microseconds() == 0) return Json{{"$repr", "datetime.timezone.utc"}};
    std::string repr = "datetime.timezone(" + timedelta_repr(*offset);
    if (args->size() == 2 && str_value((*args)[1])) repr += ", '" + (*args)[1]->text + "'";
    return Json{{"$repr", repr + ")"}};
  }
  if (args->empty() || args->size() > 2) return std::nullopt;
  auto packed = bytes_value((*args)[0]);
  if (!packed) return std::nullopt;
  auto byte = [&](size_t i) { return static_cast<unsigned>(static_cast<uint8_t>((*packed)[i])); };
  Node* tz = args->size() == 2 && (*args)[1]->kind != Kind::None ? (*args)[1] : nullptr;

  std::string local;
  if (name == "datetime.date" && packed->size() == 4 && !tz) {
    return format_date(byte(0) * 256 + byte(1), byte(2), byte(3));
  } else if (name == "datetime.datetime" && packed->size() == 10) {
    // The month's top bit is `fold`, which isoformat() does not show.
    local = format_date(byte(0) * 256 + byte(1), byte(2) & 0x7f, byte(3)) + "T" +
            format_time(byte(4), byte(5), byte(6), (byte(7) << 16) | (byte(8) << 8) | byte(9));
  } else if (name == "datetime.time" && packed->size() == 6) {
    local = format_time(byte(0) & 0x7f, byte(1), byte(2), (byte(3) << 16) | (byte(4) << 8) | byte(5));
  } else {
    return std::nullopt;
  }
  if (!tz) return local;
  if (auto offset = fixed_offset(tz)) return local + format_offset(*offset);
  return with_unknown_zone(renderer, local, tz, depth);
}

}  // namespace mfsql::pickle
