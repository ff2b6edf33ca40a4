// A set of CIDR ranges with longest-prefix lookup whose cost depends on the number of distinct
// prefix lengths (at most 33 + 129), never on the number of ranges.
//
// Built once, then immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "policy/ip.h"

namespace gatehouse::policy {

class CidrSet final {
 public:
  // Adds a range with a caller-chosen value (e.g. an entry index). Adding the same range twice
  // keeps the first value.
  void add(const Cidr& cidr, uint32_t value);

  // The value of the longest range that contains addr, or nullptr. Families never mix: IPv4
  // ranges match only IPv4 addresses.
  const uint32_t* longestMatch(const IpAddress& addr) const;

  // Calls f(value) for every range that contains addr, longest first (for entries that need a
  // further condition, such as a port, before they count).
  template <class F>
  void forEachMatch(const IpAddress& addr, F&& f) const {
    for (const Level& level : addr.isV4() ? v4_ : v6_) {
      auto it = level.ranges.find(keyOf(maskAddress(addr, level.prefix_len)));
      if (it != level.ranges.end()) f(it->second);
    }
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

 private:
  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    friend bool operator==(const Key& a, const Key& b) { return a.hi == b.hi && a.lo == b.lo; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Level {
    int prefix_len;
    std::unordered_map<Key, uint32_t, KeyHash> ranges;
  };
  static Key keyOf(const IpAddress& masked);

  std::vector<Level> v4_;  // sorted by prefix length, longest first
  std::vector<Level> v6_;
  size_t size_ = 0;
};

}  // namespace gatehouse::policy
