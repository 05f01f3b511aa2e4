// datetime's C reduce forms (Lib/datetime.py _getstate): packed bytes for date, time and
// datetime, (days, seconds, microseconds) for timedelta, (offset[, name]) for timezone.
#include <cstdio>

#include "decode/pickle_render.hpp"

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

}  // namespace

std::optional<Json> render_datetime_call(Renderer& renderer, Node* node, size_t depth) {
  const std::string name = callable_name(node);
  if (!name.starts_with("datetime.")) return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args) return std::nullopt;

  if (name == "datetime.timedelta") {
    auto d = timedelta_value(node);
    if (!d) return std::nullopt;
    // total_seconds() is int / 10**6 in Python: one correctly rounded division while exact.
    __int128 us = d->total_microseconds();
    double seconds = (us > -(__int128{1} << 53) && us < (__int128{1} << 53))
                         ? static_cast<double>(static_cast<int64_t>(us)) / 1e6
                         : static_cast<double>(static_cast<long double>(us) / 1e6L);
    return Json{{"$timedelta_seconds", seconds}};
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
