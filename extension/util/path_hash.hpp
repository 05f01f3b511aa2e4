#pragma once
// A hash for the path strings that key the cache's maps (cache/folder_memory.hpp, fact_memory.hpp,
// util/statement_memo.hpp). A cold statement looks paths up several times per file it reads, and
// std::hash (murmur, a byte loop at the tail) cost more than the lookups' other work: ~15M
// instructions of the 1,000-run question. Eight bytes a step, multiply and fold; the paths are
// ours (not an attacker's choice of collisions), and equal keys are still compared whole.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mfsql {

struct PathHash {
  using is_transparent = void;
  // Not noexcept: libstdc++ then keeps each node's hash (as for std::hash<std::string>), so a
  // bucket's scan and a rehash never hash a key again.
  size_t operator()(std::string_view s) const {
    constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
    uint64_t h = s.size() * kMul;
    const char* p = s.data();
    size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * kMul;
      h ^= h >> 29;
    }
    if (n > 0) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * kMul;
      h ^= h >> 29;
    }
    h *= kMul;
    return static_cast<size_t>(h ^ (h >> 32));
  }
  size_t operator()(const std::string& s) const { return (*this)(std::string_view(s)); }
};

}  // namespace mfsql
