#include "storegen/py_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace mfsql::storegen {

std::string python_float_repr(double value) {
  if (!std::isfinite(value)) throw std::invalid_argument("JSON has no spelling for NaN or infinity");
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, end);  // e.g. "-1.7957380574635842e+09"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, 1) + (e > 2 ? sci.substr(2, e - 2) : "");
  int exponent = std::stoi(sci.substr(e + 1));
  int decimal_point = exponent + 1;  // digits[0 .. decimal_point) are the integer part
  if (exponent >= -4 && exponent < 16) {
    std::string out;
    if (decimal_point <= 0) {
      out = "0." + std::string(static_cast<size_t>(-decimal_point), '0') + digits;
    } else if (static_cast<size_t>(decimal_point) >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(decimal_point) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(decimal_point)) + "." + digits.substr(static_cast<size_t>(decimal_point));
    }
    return sign + out;
  }
  std::string mantissa = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
  char exp_text[16];
  std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return sign + mantissa + exp_text;
}

namespace {

void append_escaped_unit(std::string& out, uint32_t unit) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(unit & 0xffff));
  out += buf;
}

// Decodes one UTF-8 sequence; invalid bytes come back as U+FFFD so output stays valid JSON.
uint32_t next_code_point(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
  if (c >= 0x80 && extra == 0) {
    ++i;
    return 0xfffd;
  }
  uint32_t cp = extra == 0 ? c : c & (0x3f >> extra);
  if (i + static_cast<size_t>(extra) >= s.size()) {  // truncated sequence
    i = s.size();
    return 0xfffd;
  }
  for (int k = 1; k <= extra; ++k) cp = (cp << 6) | (byte(i + k) & 0x3f);
  i += static_cast<size_t>(extra) + 1;
  return cp;
}

}  // namespace

std::string py_json_string(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: append_escaped_unit(out, c);
      }
      continue;
    }
    uint32_t cp = next_code_point(utf8, i);
    if (cp > 0xffff) {
      cp -= 0x10000;
      append_escaped_unit(out, 0xd800 | (cp >> 10));
      append_escaped_unit(out, 0xdc00 | (cp & 0x3ff));
    } else {
      append_escaped_unit(out, cp);
    }
  }
  out.push_back('"');
  return out;
}

std::string py_json_string_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += py_json_string(items[i]);
  }
  out += "]";
  return out;
}

void PyJsonObject::key(std::string_view name) {
  if (!empty_) text_ += ", ";
  empty_ = false;
  text_ += py_json_string(name);
  text_ += ": ";
}

PyJsonObject& PyJsonObject::str(std::string_view k, std::string_view value) {
  key(k);
  text_ += py_json_string(value);
  return *this;
}

PyJsonObject& PyJsonObject::integer(std::string_view k, int64_t value) {
  key(k);
  text_ += std::to_string(value);
  return *this;
}

PyJsonObject& PyJsonObject::real(std::string_view k, double value) {
  key(k);
  text_ += python_float_repr(value);
  return *this;
}

PyJsonObject& PyJsonObject::boolean(std::string_view k, bool value) {
  key(k);
  text_ += value ? "true" : "false";
  return *this;
}

PyJsonObject& PyJsonObject::null(std::string_view k) {
  key(k);
  text_ += "null";
  return *this;
}

PyJsonObject& PyJsonObject::str_list(std::string_view k, const std::vector<std::string>& values) {
  key(k);
  text_ += py_json_string_list(values);
  return *this;
}

PyJsonObject& PyJsonObject::raw(std::string_view k, std::string_view json) {
  key(k);
  text_ += json;
  return *this;
}

std::string PyJsonObject::finish() {
  text_.push_back('}');
  return std::move(text_);
}

}  // namespace mfsql::storegen
