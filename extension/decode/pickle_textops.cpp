// The arguments of the protocol 0/1 text opcodes, decoded as CPython's Lib/pickle.py does:
// INT/LONG/GET/PUT take int(line), FLOAT float(line), STRING codecs.escape_decode of a quoted
// literal, UNICODE str(line, 'raw-unicode-escape').
#include <charconv>

#include "decode/pickle_machine.hpp"

namespace mfsql::pickle {

namespace {

// Python 3.11 refuses int() of longer text (sys.int_info.default_max_str_digits).
constexpr size_t kMaxDecimalDigits = 4300;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}


}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;  // a lone surrogate cannot be UTF-8
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool parse_text_int(std::string_view text, TextInt* out) {
  text = trim(text);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > kMaxDecimalDigits) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  // Magnitude as little-endian bytes: multiply by ten and add, digit by digit.
  std::string mag;
  for (char c : text) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (char& byte : mag) {
      unsigned v = static_cast<uint8_t>(byte) * 10u + carry;
      byte = static_cast<char>(v & 0xff);
      carry = v >> 8;
    }
    if (carry) mag += static_cast<char>(carry);
  }
  while (!mag.empty() && mag.back() == 0) mag.pop_back();
  if (mag.size() < 8 || (mag.size() == 8 && !(static_cast<uint8_t>(mag.back()) & 0x80))) {
    uint64_t v = 0;
    for (size_t i = mag.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(mag[i]);
    out->fits = true;
    out->small = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    return true;
  }
  // Two's complement, with a clear top bit before negation so the sign survives.
  mag += '\0';
  if (negative) {
    unsigned carry = 1;
    for (char& byte : mag) {
      unsigned v = static_cast<uint8_t>(~static_cast<uint8_t>(byte)) + carry;
      byte = static_cast<char>(v & 0xff);
      carry = v >> 8;
    }
  }
  out->fits = false;
  out->big = std::move(mag);
  return true;
}

bool parse_text_float(std::string_view text, double* out) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// codecs.escape_decode (CPython's _PyBytes_DecodeEscape): the escapes of a bytes literal.
std::string escape_decode(std::string_view text, uint64_t at) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == text.size()) fail(at, "a STRING ends with a lone backslash");
    c = text[i];
    switch (c) {
      case '\n': break;
      case '\\': case '\'': case '"': out += c; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 'v': out += '\v'; break;
      case 'a': out += '\a'; break;
      case 'x': {
        int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
        int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail(at, "a STRING has an invalid \\x escape");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          unsigned v = static_cast<unsigned>(c - '0');
          for (int k = 0; k < 2 && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '7'; ++k)
            v = v * 8 + static_cast<unsigned>(text[++i] - '0');
          out += static_cast<char>(v & 0xff);
        } else {
          out += '\\';  // an unknown escape stays as written
          out += c;
        }
    }
  }
  return out;
}

// 'raw-unicode-escape': \uXXXX and \UXXXXXXXX after an odd run of backslashes are code points;
// every other byte is the code point of the same number (Latin-1).
std::string raw_unicode_escape_decode(std::string_view text, uint64_t at) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '\\') {
      append_utf8(out, static_cast<uint8_t>(text[i++]));
      continue;
    }
    size_t run = 0;
    while (i < text.size() && text[i] == '\\') {
      ++run;
      ++i;
    }
    bool escape = (run & 1) && i < text.size() && (text[i] == 'u' || text[i] == 'U');
    out.append(escape ? run - 1 : run, '\\');
    if (!escape) continue;
    size_t digits = text[i] == 'u' ? 4 : 8;
    ++i;
    uint32_t cp = 0;
    for (size_t k = 0; k < digits; ++k, ++i) {
      int d = i < text.size() ? hex_digit(text[i]) : -1;
      if (d < 0) fail(at, std::string("a UNICODE argument has a truncated \\") + (digits == 4 ? "uXXXX" : "UXXXXXXXX") + " escape");
      cp = cp * 16 + static_cast<uint32_t>(d);
    }
    if (cp > 0x10ffff) fail(at, "a UNICODE argument has a \\U escape beyond U+10FFFF");
    append_utf8(out, cp);
  }
  return out;
}

bool Machine::step_text(uint8_t op) {
  switch (op) {
    case 'p': memo_put(read_text_index("PUT")); return true;
    case 'g': memo_get(read_text_index("GET")); return true;
    case 'I': {  // INT: protocol 0/1 write True and False as I01 and I00
      std::string_view line = read_line("INT");
      if (line == "01" || line == "00") push(line == "01" ? singleton(true_, Kind::Bool, 1) : singleton(false_, Kind::Bool, 0));
      else push_text_int(line, "INT");
      return true;
    }
    case 'L': {
      std::string_view line = read_line("LONG");
      if (!line.empty() && line.back() == 'L') line.remove_suffix(1);
      push_text_int(line, "LONG");
      return true;
    }
    case 'F': {
      Node* n = make(Kind::Float);
      if (!parse_text_float(read_line("FLOAT"), &n->real)) fail(op_at_, "FLOAT has an argument that is not a number");
      push(n);
      return true;
    }
    case 'S': {  // a Python 2 str as its quoted repr
      std::string_view line = read_line("STRING");
      if (line.size() < 2 || line.front() != line.back() || (line.front() != '\'' && line.front() != '"'))
        fail(op_at_, "the STRING opcode argument must be quoted");
      push_py2_string(escape_decode(line.substr(1, line.size() - 2), op_at_));
      return true;
    }
    case 'V': push_text(Kind::Str, raw_unicode_escape_decode(read_line("UNICODE"), op_at_)); return true;
    case 0x96:  // BYTEARRAY8 (protocol 5; also an in-band PickleBuffer, as numpy writes its data)
      push_text(Kind::Bytes, read_bytes(read_length(8, "BYTEARRAY8")));
      stack_.back()->integer = 1;
      return true;
    case 0x98:  // READONLY_BUFFER: makes the buffer on the stack read-only; nothing to record
      if (top("READONLY_BUFFER")->kind != Kind::Bytes) fail(op_at_, "READONLY_BUFFER needs a buffer on the stack");
      return true;
    case 'i': {  // INST: a class named inline, called with what follows the MARK
      std::string module = valid_utf8(read_line("INST"));
      std::string name = valid_utf8(read_line("INST"));
      std::vector<Node*> args = pop_mark("INST");
      push_global(std::move(module), std::move(name));
      Node* klass = stack_.back();
      stack_.pop_back();
      push_instance(klass, std::move(args));
      return true;
    }
    case 'o': {  // OBJ: the first item after the MARK is the class, the rest its arguments
      std::vector<Node*> args = pop_mark("OBJ");
      if (args.empty()) fail(op_at_, "OBJ found no class after its MARK");
      Node* klass = args.front();
      args.erase(args.begin());
      push_instance(klass, std::move(args));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace mfsql::pickle
