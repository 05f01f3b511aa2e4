#include "datastore/cas.hpp"

#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/gzip.hpp"

namespace mfsql {

std::string blob_key(const std::string& flow, const std::string& sha) {
  return flow + "/data/" + sha.substr(0, 2) + "/" + sha;
}

std::string task_file_key(const ObjectPath& t, int attempt, const std::string& name) {
  return t.flow + "/" + t.run_id + "/" + t.step + "/" + t.task_id + "/" + std::to_string(attempt) + "." + name;
}

bool valid_sha(const std::string& sha) {
  if (sha.size() != 40) return false;
  for (char c : sha)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string decode_blob(const StoredObject& stored, const std::string& key, size_t max_size) {
  bool raw = false;
  if (stored.attributes) {
    auto attrs = nlohmann::json::parse(*stored.attributes, nullptr, false);
    if (attrs.is_object()) {
      raw = attrs.value("cas_raw", false);
      if (!raw && attrs.value("cas_version", 1) != 1)
        throw CorruptRecord("The blob " + key + " has an unknown cas_version.");
    }
  }
  if (raw) return stored.bytes;
  try {
    return gunzip(stored.bytes, max_size);
  } catch (const CorruptRecord& e) {
    throw CorruptRecord("The blob " + key + " cannot be read: " + e.what() + ".");
  }
}

}  // namespace mfsql
