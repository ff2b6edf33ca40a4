// DnsCache: the answers a resolver may reuse, and for how long (SPEC §3 step 6, BAD-INPUTS D9).
//
// What is kept: an ok answer for its TTL (the resolver has already capped it at max_ttl), a
// negative answer (nxdomain, nodata) for the resolver's negative TTL, also carried in
// answer.ttl. An answer with ttl 0 is never stored: a TTL-0 name must be asked again every time
// (DNS rebinding); servfail and timeout are never stored. An entry is never returned at or after
// its expiry. The cache holds at most max_entries names and evicts the least recently used.
//
// Threading: owned by one resolver, used on its loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "proxy/event/dispatcher.h"
#include "proxy/net/dns_resolver.h"

namespace gatehouse::net {

class DnsCache final {
 public:
  explicit DnsCache(size_t max_entries) : max_entries_(max_entries) {}

  // Whether `answer` may be stored at all (status and ttl).
  static bool cacheable(const DnsAnswer& answer);

  // A copy of the stored answer with from_cache = true and ttl = the whole seconds left, or
  // nullopt (an expired entry is dropped). A hit makes the entry the most recently used.
  std::optional<DnsAnswer> lookup(const std::string& name, event::MonotonicTime now);
  // Stores `answer` until now + answer.ttl when cacheable(); otherwise drops any entry for the
  // name, so that an older answer is never served after a newer uncacheable one.
  void insert(const std::string& name, const DnsAnswer& answer, event::MonotonicTime now);

  size_t size() const { return entries_.size(); }
  void clear();

 private:
  struct Entry {
    std::string name;
    DnsAnswer answer;
    event::MonotonicTime expires;
  };
  using List = std::list<Entry>;  // most recently used first

  void erase(std::unordered_map<std::string, List::iterator>::iterator it);

  size_t max_entries_;
  List lru_;
  std::unordered_map<std::string, List::iterator> entries_;
};

}  // namespace gatehouse::net
