#pragma once
// One flow's content-addressed store, `<root>/<Flow>/data/<sha[:2]>/<sha>` (metaflow-format.md
// §2.2): the blob is gzip(pickle) as Python's gzip.GzipFile(compresslevel=3) writes it, named by
// the SHA-1 of the *uncompressed* pickle, with the sidecar `<sha>_meta` =
// {"cas_raw": false, "cas_version": 1}. Identical values are stored once. Thread-safe.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>

#include "storegen/py_value.hpp"

namespace mfsql::storegen {

// What data.json and the artifact registration say about one stored artifact.
struct PersistedArtifact {
  std::string name;
  std::string sha;
  size_t size = 0;   // length of the uncompressed pickle
  std::string type;  // str(type(value))
};

// gzip exactly as CPython's gzip module frames it (mtime in the header, no file name, OS byte
// 255) around zlib's raw deflate at `level`, so the bytes match Metaflow's, header included.
std::string python_gzip(std::string_view data, uint32_t mtime, int level = 3);

class BlobStore {
 public:
  // `gzip_mtime` goes into every gzip header. Python stamps the wall clock; one fixed value per
  // flow keeps the output identical whichever thread writes a shared blob first.
  BlobStore(std::string flow_dir, uint32_t gzip_mtime) : data_dir_(std::move(flow_dir) + "/data"), mtime_(gzip_mtime) {}

  PersistedArtifact persist(std::string name, const PyValue& value);

  // Stores a pickle (once) and returns its sha.
  std::string store_pickle(const std::string& pickle);

  // Stores bytes as they are (cas_raw: a code package) once and returns their sha.
  std::string store_raw(const std::string& bytes);

  size_t blob_count() const;

 private:
  std::string store(const std::string& bytes, bool raw);
  std::string data_dir_;
  uint32_t mtime_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> stored_;      // shas whose files exist
  std::unordered_set<std::string> prefix_dirs_; // data/xx folders created
};

}  // namespace mfsql::storegen
