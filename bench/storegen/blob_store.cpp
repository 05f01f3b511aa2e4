#include "storegen/blob_store.hpp"

#include <zlib.h>

#include <memory>
#include <stdexcept>

#include "storegen/file_output.hpp"
#include "storegen/pickle_writer.hpp"
#include "util/sha1.hpp"

namespace mfsql::storegen {

namespace {

// One deflate state per thread, reset between blobs: initialising zlib for every blob allocates
// and faults in ~400 KB each time, which dominated the generator's system time.
class GzipCompressor {
 public:
  GzipCompressor(int level) : level_(level) {
    // 16 + 15 window bits: a gzip wrapper. zlib derives the XFL byte from the level the same way
    // Python does (0 for level 3); the header set below supplies mtime and the OS byte.
    if (deflateInit2(&zs_, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("zlib could not be initialised");
  }
  ~GzipCompressor() { deflateEnd(&zs_); }
  GzipCompressor(const GzipCompressor&) = delete;

  int level() const { return level_; }

  std::string compress(std::string_view data, uint32_t mtime) {
    deflateReset(&zs_);
    gz_header header{};
    header.time = mtime;
    header.os = 255;  // Python writes "unknown"; zlib would say Unix
    deflateSetHeader(&zs_, &header);
    std::string out(deflateBound(&zs_, static_cast<uLong>(data.size())) + 32, '\0');
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs_, Z_FINISH);
    out.resize(zs_.total_out);
    if (rc != Z_STREAM_END) throw std::runtime_error("zlib could not compress a blob");
    return out;
  }

 private:
  z_stream zs_{};
  int level_;
};

}  // namespace

std::string python_gzip(std::string_view data, uint32_t mtime, int level) {
  thread_local std::unique_ptr<GzipCompressor> compressor;
  if (!compressor || compressor->level() != level) compressor = std::make_unique<GzipCompressor>(level);
  return compressor->compress(data, mtime);
}

std::string BlobStore::store_pickle(const std::string& pickle) { return store(pickle, false); }
std::string BlobStore::store_raw(const std::string& bytes) { return store(bytes, true); }

std::string BlobStore::store(const std::string& pickle, bool raw) {
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
  write_file(path, raw ? pickle : python_gzip(pickle, mtime_));
  write_file(path + "_meta", raw ? R"({"cas_raw": true, "cas_version": 1})" : R"({"cas_raw": false, "cas_version": 1})");
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
