#pragma once
// Where Metaflow keeps bytes: artifact blobs, each task's data.json, DONE.lock and logs. One
// interface for the local filesystem and for S3; keys are '/'-separated paths relative to the
// datastore root (e.g. "TypesFlow/data/86/8684...", "TypesFlow/123/start/1/0.data.json").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mfsql {

struct StoredObject {
  std::string bytes;
  // The JSON text of the object's Metaflow user attributes ({"cas_raw": false, "cas_version": 1}):
  // the `_meta` sidecar file locally, `x-amz-meta-metaflow-user-attributes` on S3. nullopt when
  // there are none (legacy blobs, which are gzip).
  std::optional<std::string> attributes;
};

class Datastore {
 public:
  virtual ~Datastore() = default;
  virtual std::string describe() const = 0;

  // nullopt when the object does not exist. Throws UserError when the store cannot be read at all
  // (credentials, network), CorruptRecord when this one object is unreadable.
  virtual std::optional<StoredObject> get(const std::string& key, bool with_attributes) = 0;

  // Several objects; implementations that can fetch concurrently override it.
  virtual std::vector<std::optional<StoredObject>> get_many(const std::vector<std::string>& keys,
                                                            bool with_attributes);
  // True when get_many is faster than one get per key (network stores): callers then ask for a
  // batch ahead of the rows that need it.
  virtual bool fetches_concurrently() const { return false; }

  // The size in bytes of the object at `key`, without reading it where the store can tell (a
  // stat locally, a HEAD on S3), as Metaflow's size_file does; nullopt when it does not exist.
  // The default reads the object.
  virtual std::optional<uint64_t> size(const std::string& key);
};

// True when `component` can be one path segment: not empty, not "." or "..", no '/', '\\' or NUL.
// Every user-supplied flow, run, step, task and artifact name passes through it before any read.
bool safe_component(std::string_view component);

}  // namespace mfsql
