// The S3 datastore's on-disk cache of CAS blobs: immutable, so kept by sha under
// MFSQL_S3_CACHE_DIR (never inside the user's store), written atomically (temp file + rename), and
// bounded by MFSQL_S3_CACHE_BYTES: past the bound the least recently used files go.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "datastore/s3_datastore.hpp"
#include "util/sha1.hpp"

namespace mfsql {
namespace fs = std::filesystem;
namespace {
std::atomic<uint64_t> g_tmp_counter{0};
}  // namespace

std::string S3Datastore::cache_path(const std::string& key) const {
  if (options_.cache_dir.empty()) return "";
  // <flow>/data/xx/<sha>
  size_t a = key.find('/');
  if (a == std::string::npos || key.compare(a, 6, "/data/") != 0) return "";
  std::string rest = key.substr(a + 6);
  if (rest.size() != 43 || rest[2] != '/' || rest.compare(0, 2, rest, 3, 2) != 0) return "";
  std::string sha = rest.substr(3);
  for (char c : sha)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
  // Blobs of different stores and flows are kept apart: their stored attributes may differ.
  std::string store = sha1_hex(options_.endpoint + "\n" + options_.bucket + "\n" + options_.prefix + "\n" +
                               key.substr(0, a));
  return options_.cache_dir + "/" + sha.substr(0, 2) + "/" + sha + "-" + store.substr(0, 12);
}

// A cached blob: "<attributes length or -1>\n<attributes><bytes>".
std::optional<StoredObject> S3Datastore::cache_read(const std::string& key) {
  std::string path = cache_path(key);
  if (path.empty()) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t nl = text.find('\n');
  if (nl == std::string::npos || nl > 12) return std::nullopt;
  long n = std::strtol(text.substr(0, nl).c_str(), nullptr, 10);
  if (n < -1 || static_cast<size_t>(std::max(0L, n)) > text.size() - nl - 1) return std::nullopt;
  StoredObject obj;
  if (n >= 0) obj.attributes = text.substr(nl + 1, static_cast<size_t>(n));
  obj.bytes = text.substr(nl + 1 + static_cast<size_t>(std::max(0L, n)));
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // recently used: evicted last
  if (trace_) {
    TraceEntry e;
    e.kind = "s3";
    e.target = url_of(key);
    e.status = 200;
    e.bytes = static_cast<int64_t>(obj.bytes.size());
    e.cache_hit = true;
    trace_->record(std::move(e));
  }
  return obj;
}

void S3Datastore::cache_write(const std::string& key, const StoredObject& obj) {
  std::string path = cache_path(key);
  if (path.empty() || obj.bytes.size() > options_.cache_bytes / 4) return;
  std::lock_guard lock(cache_mu_);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return;  // the cache is an optimisation: a read-only home must not fail a query
  std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(g_tmp_counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out << (obj.attributes ? static_cast<long>(obj.attributes->size()) : -1L) << '\n';
    if (obj.attributes) out << *obj.attributes;
    out << obj.bytes;
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return;
  }
  if (cache_total_ < 0) {
    cache_total_ = 0;
    for (auto it = fs::recursive_directory_iterator(options_.cache_dir, ec); !ec && it != fs::end(it); it.increment(ec))
      if (it->is_regular_file(ec)) cache_total_ += static_cast<int64_t>(it->file_size(ec));
  } else {
    cache_total_ += static_cast<int64_t>(obj.bytes.size());
  }
  if (static_cast<uint64_t>(cache_total_) <= options_.cache_bytes) return;
  // Evict the least recently used files until the cache holds at most 3/4 of its bound.
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (auto it = fs::recursive_directory_iterator(options_.cache_dir, ec); !ec && it != fs::end(it); it.increment(ec))
    if (it->is_regular_file(ec)) files.emplace_back(it->last_write_time(ec), it->path());
  std::sort(files.begin(), files.end());
  cache_total_ = 0;
  for (auto& [t, p] : files) cache_total_ += static_cast<int64_t>(fs::file_size(p, ec));
  for (auto& [t, p] : files) {
    if (static_cast<uint64_t>(cache_total_) <= options_.cache_bytes / 4 * 3) break;
    auto size = static_cast<int64_t>(fs::file_size(p, ec));
    if (fs::remove(p, ec)) cache_total_ -= size;
  }
}

}  // namespace mfsql
