// Text conversions the renderer needs and Python does natively: big integers to decimal, base64,
// and json.dumps's exact compact output (the oracle sorts sets and hashes large values by it).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "decode/pickle_graph.hpp"
#include "util/json_text.hpp"

namespace mfsql {
namespace pickle {

namespace {

// Magnitude of a little-endian two's-complement number, as little-endian bytes.
std::string magnitude(std::string_view le, bool* negative) {
  std::string mag(le);
  *negative = !mag.empty() && (static_cast<uint8_t>(mag.back()) & 0x80);
  if (*negative) {
    unsigned carry = 1;
    for (char& c : mag) {
      unsigned v = static_cast<uint8_t>(~static_cast<uint8_t>(c)) + carry;
      c = static_cast<char>(v & 0xff);
      carry = v >> 8;
    }
  }
  while (!mag.empty() && mag.back() == 0) mag.pop_back();
  return mag;
}

}  // namespace

std::string twos_complement_to_decimal(std::string_view le) {
  bool negative = false;
  std::string mag = magnitude(le, &negative);
  // Schoolbook base conversion into limbs of 10^9 (least significant first); quadratic, so the
  // renderer only calls it for integers of bounded size.
  std::vector<uint32_t> limbs;
  for (size_t i = mag.size(); i-- > 0;) {
    uint64_t carry = static_cast<uint8_t>(mag[i]);
    for (uint32_t& limb : limbs) {
      uint64_t v = static_cast<uint64_t>(limb) * 256 + carry;
      limb = static_cast<uint32_t>(v % 1000000000u);
      carry = v / 1000000000u;
    }
    while (carry) {
      limbs.push_back(static_cast<uint32_t>(carry % 1000000000u));
      carry /= 1000000000u;
    }
  }
  if (limbs.empty()) return "0";
  std::string out = negative ? "-" : "";
  out += std::to_string(limbs.back());
  char chunk[16];
  for (size_t i = limbs.size() - 1; i-- > 0;) {
    std::snprintf(chunk, sizeof chunk, "%09u", limbs[i]);
    out += chunk;
  }
  return out;
}

std::string twos_complement_to_hex(std::string_view le, bool* negative) {
  std::string mag = magnitude(le, negative);
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = mag.size(); i-- > 0;) {
    out += digits[static_cast<uint8_t>(mag[i]) >> 4];
    out += digits[static_cast<uint8_t>(mag[i]) & 15];
  }
  size_t first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

std::string base64_encode(std::string_view bytes) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                 static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (size_t rest = bytes.size() - i) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto byte = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
    uint8_t lead = byte(0);
    size_t length = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : (lead & 0xf8) == 0xf0 ? 4 : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k) ok = (byte(k) & 0xc0) == 0x80;
    if (ok && length > 1) {
      uint32_t cp = lead & (0x7f >> length);
      for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (byte(k) & 0x3f);
      static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= smallest[length] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xef\xbf\xbd";
      i += 1;
    }
  }
  return out;
}

}  // namespace pickle

namespace {

// repr(float) as CPython writes it: the shortest round-trip digits, in fixed notation when the
// decimal point falls within 16 places (with ".0" if integral), else d.ddde+XX.
void append_python_float(std::string& out, double x) {
  if (std::isnan(x)) { out += "NaN"; return; }
  if (std::isinf(x)) { out += x < 0 ? "-Infinity" : "Infinity"; return; }
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string_view sci(buf, result.ptr - buf);
  bool negative = sci.front() == '-';
  if (negative) sci.remove_prefix(1);
  size_t e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at)) if (c != '.') digits += c;
  int exponent = std::stoi(std::string(sci.substr(e_at + 1)));
  int point = exponent + 1;  // digits are 0.d1d2... * 10^point
  if (negative) out += '-';
  if (point > -4 && point <= 16) {  // CPython float_repr_style "short" rule
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-point), '0');
      out += digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
      out += digits;
      out.append(point - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, point);
      out += '.';
      out += digits.substr(point);
    }
    return;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exp;
}


void append_python_json(std::string& out, const nlohmann::ordered_json& v, bool sort_keys) {
  using T = nlohmann::ordered_json::value_t;
  switch (v.type()) {
    case T::null: out += "null"; return;
    case T::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case T::number_integer: out += std::to_string(v.get<int64_t>()); return;
    case T::number_unsigned: out += std::to_string(v.get<uint64_t>()); return;
    case T::number_float: append_python_float(out, v.get<double>()); return;
    case T::string: append_json_string(out, v.get_ref<const std::string&>()); return;
    case T::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        append_python_json(out, item, sort_keys);
      }
      out += ']';
      return;
    }
    case T::object: {
      std::vector<std::pair<const std::string*, const nlohmann::ordered_json*>> members;
      for (auto it = v.begin(); it != v.end(); ++it) members.emplace_back(&it.key(), &it.value());
      // Python orders str keys by code point, which UTF-8 byte order preserves.
      if (sort_keys)
        std::stable_sort(members.begin(), members.end(),
                         [](const auto& a, const auto& b) { return *a.first < *b.first; });
      out += '{';
      bool first = true;
      for (const auto& [key, value] : members) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, *key);
        out += ':';
        append_python_json(out, *value, sort_keys);
      }
      out += '}';
      return;
    }
    default:
      out += "null";  // binary and discarded values never come out of the renderer
  }
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value, bool sort_keys) {
  std::string out;
  append_python_json(out, value, sort_keys);
  return out;
}

}  // namespace mfsql
