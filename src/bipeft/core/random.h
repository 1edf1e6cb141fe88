#pragma once
// Portable random draws from a std::mt19937_64: the same numbers on every standard library (the
// std:: distributions and std::shuffle are implementation-defined), so seeded runs agree everywhere.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace bipeft {

/// Uniform integer in [0, n), n >= 1 (rejection sampling: no modulo bias).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = rng();
  while (v >= limit);
  return v % n;
}

/// Uniform double in [0, 1) with 53 random bits.
inline double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

/// Fisher-Yates shuffle in place.
template <typename T>
void shuffle_in_place(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

}  // namespace bipeft
