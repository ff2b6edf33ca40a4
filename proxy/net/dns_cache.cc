#include "proxy/net/dns_cache.h"

namespace gatehouse::net {

bool DnsCache::cacheable(const DnsAnswer& answer) {
  switch (answer.status) {
    case DnsStatus::kOk:
    case DnsStatus::kNoData:
    case DnsStatus::kNxDomain:
      return answer.ttl.count() > 0 && !answer.from_static;
    case DnsStatus::kServFail:
    case DnsStatus::kTimeout:
    case DnsStatus::kCancelled:
      return false;
  }
  return false;
}

std::optional<DnsAnswer> DnsCache::lookup(const std::string& name, event::MonotonicTime now) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  const Entry& entry = *it->second;
  if (now >= entry.expires) {
    erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  DnsAnswer answer = entry.answer;
  answer.from_cache = true;
  answer.ttl = std::chrono::duration_cast<std::chrono::seconds>(entry.expires - now);
  return answer;
}

void DnsCache::insert(const std::string& name, const DnsAnswer& answer, event::MonotonicTime now) {
  auto it = entries_.find(name);
  if (it != entries_.end()) erase(it);
  if (max_entries_ == 0 || !cacheable(answer)) return;
  while (entries_.size() >= max_entries_) erase(entries_.find(lru_.back().name));
  lru_.push_front(Entry{name, answer, now + answer.ttl});
  lru_.front().answer.from_cache = false;
  entries_.emplace(name, lru_.begin());
}

void DnsCache::clear() {
  entries_.clear();
  lru_.clear();
}

void DnsCache::erase(std::unordered_map<std::string, List::iterator>::iterator it) {
  lru_.erase(it->second);
  entries_.erase(it);
}

}  // namespace gatehouse::net
