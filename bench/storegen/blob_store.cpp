#include "storegen/blob_store.hpp"

#include <zlib.h>

#include <stdexcept>

#include "storegen/file_output.hpp"
#include "storegen/pickle_writer.hpp"
#include "util/sha1.hpp"

namespace mfsql::storegen {

std::string python_gzip(std::string_view data, uint32_t mtime, int level) {
  z_stream zs{};
  // A gzip wrapper from zlib: 16 + 15 window bits. zlib derives the XFL byte from the level the
  // same way Python does (0 for level 3); the header fields below supply the rest.
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib could not be initialised");
  gz_header header{};
  header.time = mtime;
  header.os = 255;  // Python writes "unknown"; zlib would say Unix
  deflateSetHeader(&zs, &header);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib could not compress a blob");
  return out;
}

std::string BlobStore::store_pickle(const std::string& pickle) {
  std::string sha = sha1_hex(pickle);
  std::string prefix = sha.substr(0, 2);
  std::string dir = data_dir_ + "/" + prefix;
  {
    std::lock_guard lock(mutex_);
    if (!stored_.insert(sha).second) return sha;
    // The folder is made under the lock so no thread writes into it before it exists.
    if (prefix_dirs_.insert(prefix).second) make_dirs(dir);
  }
  // Claimed under the lock, written outside it: no other thread writes this sha.
  std::string path = dir + "/" + sha;
  write_file(path, python_gzip(pickle, mtime_));
  write_file(path + "_meta", R"({"cas_raw": false, "cas_version": 1})");
  return sha;
}

PersistedArtifact BlobStore::persist(std::string name, const PyValue& value) {
  std::string pickle = pickle_dumps(value);
  PersistedArtifact artifact;
  artifact.name = std::move(name);
  artifact.size = pickle.size();
  artifact.type = python_type_repr(value);
  artifact.sha = store_pickle(pickle);
  return artifact;
}

size_t BlobStore::blob_count() const {
  std::lock_guard lock(mutex_);
  return stored_.size();
}

}  // namespace mfsql::storegen
