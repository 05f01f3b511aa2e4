#pragma once
// A seeded generator with its own arithmetic (no std:: distributions, whose results differ
// between standard libraries), so a seed gives the same store on every platform.
#include <cstdint>
#include <string_view>
#include <vector>

namespace mfsql::storegen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // Independent streams: one per flow, per run, per task, so generating runs in parallel (or
  // adding a run) never shifts another run's values.
  static Rng derive(uint64_t seed, std::string_view label, uint64_t index = 0) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (unsigned char c : label) h = (h ^ c) * 0x100000001b3ull;
    return Rng(mix(h ^ mix(index + 0x9e3779b97f4a7c15ull)));
  }

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return mix(state_);
  }
  // Uniform in [lo, hi] (the modulo bias is far below anything a benchmark could notice).
  int64_t between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  bool chance(double p) { return unit() < p; }
  template <class T>
  const T& pick(const std::vector<T>& items) { return items[static_cast<size_t>(next() % items.size())]; }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace mfsql::storegen
