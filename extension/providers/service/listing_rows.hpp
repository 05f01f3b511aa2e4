#pragma once
// The rows of one of the service's listings, read one at a time through nlohmann's SAX interface:
// each row is built as a small object of the fields `keep` names, handed to `row`, and dropped,
// so a 5,000-task step's 40 MB listing is never held as one document.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace mfsql::service {

// False when the text is not a JSON list (then the caller parses it the usual way, for its own
// answer or error message); rows that are not objects are skipped, nested values kept only as
// lists of scalars (tags) at a row's top level.
bool for_each_row(const std::string& text, const std::function<bool(const std::string&)>& keep,
                  const std::function<void(const nlohmann::json&)>& row);

}  // namespace mfsql::service
