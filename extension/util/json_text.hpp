#pragma once
// JSON text written directly, where building a json value per row would dominate (issue #16).
#include <string>
#include <string_view>
#include <vector>

namespace mfsql {

// `s` as a JSON string: quotes, backslash and control characters escaped as nlohmann and Python's
// json.dumps(ensure_ascii=False) write them; every other byte as it is.
void append_json_string(std::string& out, std::string_view s);

// A JSON array of strings, exactly as nlohmann's dump() writes it (throws as it does on invalid UTF-8).
std::string json_array(const std::vector<std::string>& items);
std::string json_array_of_views(const std::vector<std::string_view>& items);  // the same, of views

}  // namespace mfsql
