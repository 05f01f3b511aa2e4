#include "model/records.hpp"

namespace mfsql {

// Built in one allocation: every row of a big question asks for a few of them.
std::string ObjectPath::pathspec() const {
  const std::string* parts[] = {&run_id, &step, &task_id};
  size_t size = flow.size();
  for (const std::string* part : parts) {
    if (part->empty()) break;
    size += 1 + part->size();
  }
  std::string s;
  s.reserve(size);
  s += flow;
  for (const std::string* part : parts) {
    if (part->empty()) break;
    s += '/';
    s += *part;
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
