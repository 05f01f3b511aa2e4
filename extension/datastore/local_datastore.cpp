#include "datastore/local_datastore.hpp"

namespace mfsql {

std::optional<StoredObject> LocalDatastore::get(const std::string& key, bool with_attributes) {
  auto bytes = files_->read(key);
  if (!bytes) return std::nullopt;
  StoredObject obj{std::move(*bytes), std::nullopt};
  if (with_attributes) obj.attributes = files_->read(key + "_meta", 1 << 16);
  return obj;
}

}  // namespace mfsql
