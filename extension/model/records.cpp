#include "model/records.hpp"

namespace mfsql {

std::string ObjectPath::pathspec() const {
  std::string s = flow;
  for (const std::string* part : {&run_id, &step, &task_id}) {
    if (part->empty()) break;
    s += "/" + *part;
  }
  return s;
}

std::optional<int> MetadataEntry::attempt_tag() const {
  for (auto& t : tags)
    if (t.rfind("attempt_id:", 0) == 0) {
      try {
        return std::stoi(t.substr(11));
      } catch (const std::exception&) {
      }
    }
  return std::nullopt;
}

}  // namespace mfsql
