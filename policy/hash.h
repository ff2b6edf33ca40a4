// Bit mixing for hash tables keyed by values whose low bits are alike (masked addresses,
// chained label hashes): the splitmix64 finaliser, a bijection on 64-bit values.
#pragma once

#include <cstdint>

namespace gatehouse::policy {

inline uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace gatehouse::policy
