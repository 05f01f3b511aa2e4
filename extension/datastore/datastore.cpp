#include "datastore/datastore.hpp"

namespace mfsql {

std::vector<std::optional<StoredObject>> Datastore::get_many(const std::vector<std::string>& keys,
                                                             bool with_attributes) {
  std::vector<std::optional<StoredObject>> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(get(k, with_attributes));
  return out;
}

std::optional<uint64_t> Datastore::size(const std::string& key) {
  auto stored = get(key, false);
  if (!stored) return std::nullopt;
  return stored->bytes.size();
}

bool safe_component(std::string_view c) {
  if (c.empty() || c == "." || c == "..") return false;
  for (char ch : c)
    if (ch == '/' || ch == '\\' || ch == '\0') return false;
  return true;
}

}  // namespace mfsql
