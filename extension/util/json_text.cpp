#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

namespace mfsql {

// Runs of plain characters are copied whole: a statement writes thousands of tags and paths, and
// a character at a time cost more than the rest of a remembered row's columns.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t plain = 0;  // where the run of characters copied as they are begins
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

// nlohmann's dump, written out for the common case of plain text (a tag, a pathspec part): a
// statement makes thousands of these, and building a json value for each cost more than the
// rest of a remembered row. Anything beyond ASCII goes through nlohmann, which also refuses
// invalid UTF-8 the same way as before.
namespace {
template <typename Text>
std::string json_array_of(const std::vector<Text>& items) {
  for (auto& item : items)
    for (char c : item)
      if (static_cast<unsigned char>(c) >= 0x80) return nlohmann::json(std::vector<std::string>(items.begin(), items.end())).dump();
  size_t size = 2;
  for (auto& item : items) size += item.size() + 3;
  std::string out;
  out.reserve(size);
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
  return out;
}
}  // namespace

std::string json_array(const std::vector<std::string>& items) { return json_array_of(items); }
std::string json_array_of_views(const std::vector<std::string_view>& items) { return json_array_of(items); }

}  // namespace mfsql
