#include "util/gzip.hpp"

#include <zlib.h>

#include "util/error.hpp"

namespace mfsql {

std::string gunzip(std::string_view compressed, size_t max_out) {
  z_stream zs{};
  // 15 + 32: accept gzip and zlib headers alike.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw CorruptRecord("zlib could not be initialised");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw CorruptRecord(rc == Z_BUF_ERROR ? "the gzip data is truncated" : "the data is not valid gzip");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_out) {
      inflateEnd(&zs);
      throw CorruptRecord("the gzip data inflates past the size limit of " + std::to_string(max_out) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw CorruptRecord("the gzip data is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string gzip_compress(std::string_view data, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib could not be initialised");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[64 * 1024];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = deflate(&zs, Z_FINISH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0));
  deflateEnd(&zs);
  return out;
}

}  // namespace mfsql
