#pragma once
// JSON text written directly, where building a json value per row would dominate (issue #16).
#include <string>
#include <vector>

namespace mfsql {

// A JSON array of strings, exactly as nlohmann's dump() writes it (throws as it does on invalid UTF-8).
std::string json_array(const std::vector<std::string>& items);

}  // namespace mfsql
