#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>

namespace mfsql::shell {
namespace {

constexpr int kInteger = 1, kFloat = 2, kText = 3, kBlob = 4, kNull = 5;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one
// (SQLite stores whatever bytes a writer gave it; JSON and a terminal need valid UTF-8).
size_t utf8_length(const std::string& s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  auto cont = [&](size_t k) { return (at(k) & 0xC0) == 0x80; };
  unsigned c = at(0);
  if (i >= s.size()) return 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

void put(std::FILE* out, const std::string& s) { std::fwrite(s.data(), 1, s.size(), out); }

class ListWriter final : public Writer {
 public:
  explicit ListWriter(std::FILE* out) : out_(out) {}
  void begin(const std::vector<std::string>&) override {}
  void row(const std::vector<Cell>& cells) override {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) std::fputc('|', out_);
      put(out_, cells[i].bytes);  // fwrite: a blob's bytes whole, NULs included
    }
    std::fputc('\n', out_);
  }
  void end() override {}

 private:
  std::FILE* out_;
};

class CsvWriter final : public Writer {
 public:
  explicit CsvWriter(std::FILE* out) : out_(out) {}
  void begin(const std::vector<std::string>& names) override {
    std::vector<Cell> header;
    for (auto& n : names) header.push_back(Cell{kText, n, false, 0});
    row(header);
  }
  void row(const std::vector<Cell>& cells) override {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) std::fputc(',', out_);
      field(cells[i]);
    }
    std::fputc('\n', out_);
  }
  void end() override {}

 private:
  // NULL is an empty field and the empty string `""`, so the two stay apart; a blob is always
  // quoted, its bytes whole.
  void field(const Cell& c) {
    if (c.type == kNull) return;
    if (c.type == kInteger || c.type == kFloat) return put(out_, c.bytes);
    const std::string& s = c.bytes;
    bool quote = c.type == kBlob || s.empty() || s.find_first_of(std::string(",\"\r\n\0", 5)) != std::string::npos ||
                 s.front() == ' ' || s.back() == ' ';
    if (!quote) return put(out_, s);
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    put(out_, q + "\"");
  }
  std::FILE* out_;
};

class JsonWriter final : public Writer {
 public:
  explicit JsonWriter(std::FILE* out) : out_(out) {}
  void begin(const std::vector<std::string>& names) override {
    keys_.clear();
    for (auto& n : names) keys_.push_back(json_string(n) + ":");
    rows_ = 0;
    std::fputc('[', out_);
  }
  void row(const std::vector<Cell>& cells) override {
    std::string line = rows_++ ? ",\n{" : "{";
    for (size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + keys_[i] + value(cells[i]);
    put(out_, line + "}");
  }
  void end() override { std::fputs("]\n", out_); }

 private:
  static std::string value(const Cell& c) {
    switch (c.type) {
      case kNull: return "null";
      case kInteger: return c.bytes;
      case kFloat: {
        if (!std::isfinite(c.real)) return "null";  // JSON has no Inf
        char buf[32];
        auto r = std::to_chars(buf, buf + sizeof buf, c.real);  // shortest text that reads back the same
        return std::string(buf, r.ptr);
      }
      case kBlob: return json_string(base64(c.bytes));
      default:
        // A JSON column nests as JSON; text that does not parse (a damaged record) stays a string.
        if (c.json && nlohmann::json::accept(c.bytes)) return c.bytes;
        return json_string(c.bytes);
    }
  }
  std::FILE* out_;
  std::vector<std::string> keys_;
  size_t rows_ = 0;
};

class TableWriter final : public Writer {
 public:
  TableWriter(std::FILE* out, size_t max_chars) : out_(out), max_(max_chars) {}
  void begin(const std::vector<std::string>& names) override {
    rows_.clear();
    widths_.clear();
    rows_.push_back({});
    for (auto& n : names) add(rows_.back(), Cell{kText, n, false, 0});
  }
  void row(const std::vector<Cell>& cells) override {
    rows_.push_back({});
    for (auto& c : cells) add(rows_.back(), c);
  }
  void end() override {
    if (rows_.size() <= 1) return;  // no rows: nothing, as sqlite3's column mode
    std::vector<Shown> rule;
    for (size_t w : widths_) rule.push_back({std::string(w, '-'), w});
    rows_.insert(rows_.begin() + 1, rule);
    for (auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        line += r[i].text;
        if (i + 1 < r.size()) line += std::string(widths_[i] - r[i].chars + 2, ' ');
      }
      put(out_, line + "\n");
    }
    rows_.clear();
  }
  std::string note() const override {
    if (!cut_) return "";
    return "mfsql: " + std::to_string(cut_) + (cut_ == 1 ? " value was" : " values were") + " longer than " +
           std::to_string(max_) + " characters and " + (cut_ == 1 ? "is" : "are") +
           " cut short here (ending in …); --json or --csv, piping the output, or MFSQL_MAX_CELL=0 shows whole values.";
  }

 private:
  struct Shown {
    std::string text;
    size_t chars;
  };
  void add(std::vector<Shown>& r, const Cell& c) {
    r.push_back(shown(c));
    if (widths_.size() < r.size()) widths_.push_back(0);
    widths_[r.size() - 1] = std::max(widths_[r.size() - 1], r.back().chars);
  }
  // What a person sees: NULL, a blob as an x'..' literal, control characters escaped, and at
  // most max_ characters. Only the shown part of a long value is looked at (a 5 MB blob costs
  // what its first 100 characters do).
  Shown shown(const Cell& c) {
    if (c.type == kNull) return {"NULL", 4};
    std::vector<std::pair<std::string, size_t>> pieces;  // what is shown, and its width
    size_t width = 0;
    bool more = false;
    auto take = [&](std::string piece, size_t w) {
      if (max_ && width + w > max_) return !(more = true);
      pieces.emplace_back(std::move(piece), w);
      width += w;
      return true;
    };
    if (c.type == kBlob) {
      static const char* hex = "0123456789abcdef";
      bool fits = take("x", 1) && take("'", 1);
      for (size_t i = 0; fits && i < c.bytes.size(); ++i) {
        unsigned char b = static_cast<unsigned char>(c.bytes[i]);
        fits = take(std::string(1, hex[b >> 4]), 1) && take(std::string(1, hex[b & 15]), 1);
      }
      if (fits) take("'", 1);
    } else {
      for (size_t i = 0; i < c.bytes.size();) {
        size_t n = utf8_length(c.bytes, i);
        unsigned char b = static_cast<unsigned char>(c.bytes[i]);
        std::string piece = n ? c.bytes.substr(i, n) : "\xEF\xBF\xBD";  // U+FFFD for a bad byte
        if (n == 1 && b < 0x20) piece = b == '\n' ? "\\n" : b == '\t' ? "\\t" : b == '\r' ? "\\r" : "?";
        if (!take(piece, piece.size() == 2 && piece[0] == '\\' ? 2 : 1)) break;
        i += n ? n : 1;
      }
    }
    if (more) {  // keep what fits in max_-1 characters and say there was more
      ++cut_;
      while (!pieces.empty() && width > max_ - 1) {
        width -= pieces.back().second;
        pieces.pop_back();
      }
      pieces.emplace_back("…", 1);
      width += 1;
    }
    Shown s{"", width};
    for (auto& p : pieces) s.text += p.first;
    return s;
  }
  std::FILE* out_;
  size_t max_;
  size_t cut_ = 0;
  std::vector<std::vector<Shown>> rows_;
  std::vector<size_t> widths_;
};

}  // namespace

std::string base64(const std::string& bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += abc[(n >> 18) & 63];
    out += abc[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? abc[n & 63] : '=';
  }
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_length(text, i);
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!n) {
      out += "\\ufffd";
      i += 1;
      continue;
    }
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out.append(text, i, n);
    i += n;
  }
  return out + "\"";
}

std::unique_ptr<Writer> make_writer(Mode mode, std::FILE* out, size_t max_chars) {
  switch (mode) {
    case Mode::List: return std::make_unique<ListWriter>(out);
    case Mode::Csv: return std::make_unique<CsvWriter>(out);
    case Mode::Json: return std::make_unique<JsonWriter>(out);
    case Mode::Table: break;
  }
  return std::make_unique<TableWriter>(out, max_chars);
}

}  // namespace mfsql::shell
