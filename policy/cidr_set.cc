#include "policy/cidr_set.h"

#include <algorithm>

#include "policy/hash.h"

namespace gatehouse::policy {

namespace {

// Both families share one key layout: the address is left-aligned in 128 bits (IPv4 in the top
// 32 bits of `hi`), so a prefix length masks the same bits whatever the family.
uint64_t prefixMask(int bits) {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - bits);
}

}  // namespace

size_t CidrSet::KeyHash::operator()(const Key& k) const {
  return static_cast<size_t>(mix64(k.hi ^ mix64(k.lo + 0x9e3779b97f4a7c15ULL)));
}

CidrSet::Key CidrSet::keyOf(const IpAddress& masked) {
  const uint8_t* b = masked.bytes();
  Key key;
  for (int i = 0; i < 8 && i < masked.byteLength(); ++i) key.hi |= uint64_t{b[i]} << (56 - 8 * i);
  for (int i = 8; i < masked.byteLength(); ++i) key.lo |= uint64_t{b[i]} << (120 - 8 * i);
  return key;
}

void CidrSet::add(const Cidr& cidr, uint32_t value) {
  std::vector<Level>& levels = cidr.base().isV4() ? v4_ : v6_;
  int len = cidr.prefixLength();
  auto it = std::find_if(levels.begin(), levels.end(),
                         [len](const Level& level) { return level.prefix_len <= len; });
  if (it == levels.end() || it->prefix_len != len) it = levels.insert(it, Level{len, {}});
  // Cidr keeps its base masked, so the key needs no further masking.
  if (it->ranges.try_emplace(keyOf(cidr.base()), value).second) ++size_;
}

const uint32_t* CidrSet::longestMatch(const IpAddress& addr) const {
  const std::vector<Level>& levels = addr.isV4() ? v4_ : v6_;
  if (levels.empty()) return nullptr;
  const Key full = keyOf(addr);
  for (const Level& level : levels) {
    Key masked;
    masked.hi = full.hi & prefixMask(level.prefix_len);
    masked.lo = full.lo & prefixMask(level.prefix_len - 64);
    auto it = level.ranges.find(masked);
    if (it != level.ranges.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace gatehouse::policy
