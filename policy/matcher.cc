#include "policy/matcher.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace gatehouse::policy {

namespace {

inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Lower rank = more specific at the same node.
int kindRank(Pattern::Kind k) {
  switch (k) {
    case Pattern::Kind::kExact:
      return 0;
    case Pattern::Kind::kApexAndSubdomains:
      return 1;
    case Pattern::Kind::kSubdomains:
      return 2;
    case Pattern::Kind::kCidr:
      return 3;
  }
  return 3;
}

}  // namespace

uint64_t HostMatcher::edgeHash(uint32_t parent, const char* label, size_t length) noexcept {
  uint64_t h = (static_cast<uint64_t>(parent) << 8 | length) * 0x9e3779b97f4a7c15ULL;
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint64_t w;
    std::memcpy(&w, label + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, label + i, length - i);
  h = mix(h ^ tail);
  return h == 0 ? 1 : h;
}

int64_t HostMatcher::findChild(uint32_t parent, const char* label, size_t length,
                               uint64_t hash) const noexcept {
  if (slots_.empty()) return -1;
  for (uint64_t i = hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    const Slot& s = slots_[i];
    if (s.hash == 0) return -1;
    if (s.hash == hash && s.parent == parent && s.label_length == length &&
        std::memcmp(labels_.data() + s.label_offset, label, length) == 0) {
      return s.child;
    }
  }
}

void HostMatcher::insertSlot(const Slot& slot) {
  for (uint64_t i = slot.hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    if (slots_[i].hash == 0) {
      slots_[i] = slot;
      return;
    }
  }
}

uint32_t HostMatcher::addChild(uint32_t parent, std::string_view label) {
  uint64_t hash = edgeHash(parent, label.data(), label.size());
  int64_t found = findChild(parent, label.data(), label.size(), hash);
  if (found >= 0) return static_cast<uint32_t>(found);
  // Keep the load factor at most 1/2 so that probe sequences stay short.
  if ((edge_count_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
    slot_mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash != 0) insertSlot(s);
    }
  }
  Slot slot;
  slot.hash = hash;
  slot.parent = parent;
  slot.child = static_cast<uint32_t>(nodes_.size());
  slot.label_offset = static_cast<uint32_t>(labels_.size());
  slot.label_length = static_cast<uint32_t>(label.size());
  labels_.append(label);
  nodes_.push_back(Node{});
  insertSlot(slot);
  ++edge_count_;
  return slot.child;
}

void HostMatcher::add(const Pattern& pattern, ListTag tag, uint32_t entry) {
  if (pattern.kind == Pattern::Kind::kCidr) {
    // Entries with the same range share one group (the CidrSet holds one value per range).
    auto [it, inserted] = cidr_group_index_.try_emplace(pattern.cidr.toString(),
                                                        static_cast<uint32_t>(cidr_groups_.size()));
    if (inserted) {
      cidr_groups_.emplace_back();
      cidrs_.add(pattern.cidr, it->second);
    }
    cidr_groups_[it->second].push_back(CidrEntry{entry, pattern.port, tag});
    return;
  }
  const std::string& name = pattern.name;
  uint32_t node = 0;
  size_t end = name.size();
  while (true) {
    size_t dot = name.rfind('.', end - 1);
    size_t start = dot == std::string::npos ? 0 : dot + 1;
    node = addChild(node, std::string_view(name).substr(start, end - start));
    if (start == 0) break;
    end = start - 1;
  }
  entries_.push_back(NodeEntry{entry, pattern.port, pattern.kind, tag});
  entry_nodes_.push_back(node);
}

void HostMatcher::finalize() {
  // Group entries by node, most specific kind first, then in insertion order.
  std::vector<size_t> order(entries_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (entry_nodes_[a] != entry_nodes_[b]) return entry_nodes_[a] < entry_nodes_[b];
    return kindRank(entries_[a].kind) < kindRank(entries_[b].kind);
  });
  std::vector<NodeEntry> sorted;
  sorted.reserve(entries_.size());
  for (size_t i : order) sorted.push_back(entries_[i]);
  for (size_t i = 0; i < order.size(); ++i) {
    Node& n = nodes_[entry_nodes_[order[i]]];
    if (n.entries_begin == n.entries_end) n.entries_begin = static_cast<uint32_t>(i);
    n.entries_end = static_cast<uint32_t>(i + 1);
  }
  entries_ = std::move(sorted);
  entry_nodes_.clear();
  entry_nodes_.shrink_to_fit();
  cidr_group_index_.clear();
}

void HostMatcher::consider(TagMatch& m, const NodeEntry& e, uint16_t port) noexcept {
  if (e.port == 0 || e.port == port) {
    m.entry = static_cast<int32_t>(e.entry);
  } else {
    m.other_port_entry = static_cast<int32_t>(e.entry);
  }
}

HostMatcher::Result HostMatcher::match(const Host& host, uint16_t port) const noexcept {
  Result result;
  if (host.isIp()) {
    // Longest range first: the first entry found per tag is the most specific.
    cidrs_.forEachMatch(host.ip, [&](uint32_t group) {
      for (const CidrEntry& e : cidr_groups_[group]) {
        TagMatch& m = result.tags[static_cast<int>(e.tag)];
        if (e.port == 0 || e.port == port) {
          if (m.entry < 0) m.entry = static_cast<int32_t>(e.entry);
        } else if (m.other_port_entry < 0) {
          m.other_port_entry = static_cast<int32_t>(e.entry);
        }
      }
    });
    return result;
  }
  const std::string& name = host.text;
  if (name.empty()) return result;
  uint32_t node = 0;
  size_t end = name.size();
  while (true) {
    size_t dot = name.rfind('.', end - 1);
    size_t start = dot == std::string::npos ? 0 : dot + 1;
    const char* label = name.data() + start;
    size_t length = end - start;
    int64_t child = findChild(node, label, length, edgeHash(node, label, length));
    if (child < 0) break;
    node = static_cast<uint32_t>(child);
    const bool whole_name = start == 0;
    const Node& n = nodes_[node];
    // Deeper nodes are visited later and override; within a node the first (most specific)
    // applicable entry per tag and port class wins.
    bool seen[kListTagCount][2] = {};
    for (uint32_t i = n.entries_begin; i < n.entries_end; ++i) {
      const NodeEntry& e = entries_[i];
      bool applies = whole_name ? e.kind != Pattern::Kind::kSubdomains
                                : e.kind != Pattern::Kind::kExact;
      if (!applies) continue;
      int tag = static_cast<int>(e.tag);
      int port_class = (e.port == 0 || e.port == port) ? 0 : 1;
      if (seen[tag][port_class]) continue;
      seen[tag][port_class] = true;
      consider(result.tags[tag], e, port);
    }
    if (whole_name) break;
    end = start - 1;
  }
  return result;
}

}  // namespace gatehouse::policy
