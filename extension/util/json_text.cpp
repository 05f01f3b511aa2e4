#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

namespace mfsql {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// nlohmann's dump, written out for the common case of plain text (a tag, a pathspec part): a
// statement makes thousands of these, and building a json value for each cost more than the
// rest of a remembered row. Anything beyond ASCII goes through nlohmann, which also refuses
// invalid UTF-8 the same way as before.
std::string json_array(const std::vector<std::string>& items) {
  for (auto& item : items)
    for (char c : item)
      if (static_cast<unsigned char>(c) >= 0x80) return nlohmann::json(items).dump();
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
  return out;
}

}  // namespace mfsql
