#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mfsql {

// Inflates a gzip (or zlib) stream. Throws CorruptRecord when the data is not gzip, is truncated,
// or would inflate past `max_out` bytes (a bound against decompression bombs).
std::string gunzip(std::string_view compressed, size_t max_out);

// Deflates into a gzip stream, as Python's gzip.GzipFile does (used by the sample-store writer).
std::string gzip_compress(std::string_view data, int level = 3);

}  // namespace mfsql
