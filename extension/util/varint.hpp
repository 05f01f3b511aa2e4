#pragma once
// LEB128 varints, as the cache's encodings use them (cache/shard_codec.cpp for shards,
// providers/local/fact_codec.cpp for the decoded facts inside them): 7 bits a byte, low first.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mfsql {

inline size_t varint_size(uint64_t v) { return static_cast<size_t>(std::bit_width(v | 1) + 6) / 7; }

// Writes v at p, returns the byte after it (p must have varint_size(v) bytes).
inline char* write_varint(char* p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>((v & 0x7f) | 0x80);
  *p++ = static_cast<char>(v);
  return p;
}

inline void append_varint(std::string& out, uint64_t v) {
  char buf[10];
  out.append(buf, static_cast<size_t>(write_varint(buf, v) - buf));
}

// Takes one varint off the front of `in`; nullopt when the bytes end first or it runs past 64 bits.
inline std::optional<uint64_t> read_varint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in[0]);
    in.remove_prefix(1);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  return std::nullopt;
}

}  // namespace mfsql
