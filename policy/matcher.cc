#include "policy/matcher.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "policy/hash.h"

namespace gatehouse::policy {

namespace {

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

uint64_t HostMatcher::chainHash(uint64_t suffix_hash, const char* label, size_t length) noexcept {
  uint64_t h = (suffix_hash ^ length) * 0x9e3779b97f4a7c15ULL;
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint64_t w;
    std::memcpy(&w, label + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (; i < length; ++i) tail = tail << 8 | static_cast<uint8_t>(label[i]);
  h = mix64(h ^ tail);
  return h == 0 ? 1 : h;
}

bool HostMatcher::labelEquals(const Slot& s, const char* label, size_t length) const noexcept {
  if (s.label_length != length) return false;
  const char* stored = length <= kInlineLabel ? s.label : labels_.data() + s.label_offset;
  return std::memcmp(stored, label, length) == 0;
}

const HostMatcher::Slot* HostMatcher::findSlot(uint64_t hash, uint32_t parent, const char* label,
                                               size_t length) const noexcept {
  if (slots_.empty()) return nullptr;
  const uint8_t tag = tagOf(hash);
  for (uint64_t i = hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    const uint8_t t = tags_[i];
    if (t == 0) return nullptr;
    if (t != tag) continue;
    const Slot& s = slots_[i];
    if (s.hash == hash && s.parent == parent && labelEquals(s, label, length)) return &s;
  }
}

int64_t HostMatcher::firstCandidate(uint64_t hash) const noexcept {
  const uint8_t tag = tagOf(hash);
  for (uint64_t i = hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    const uint8_t t = tags_[i];
    if (t == 0) return -1;
    if (t == tag) return static_cast<int64_t>(i);
  }
}

void HostMatcher::insertSlot(const Slot& slot) {
  for (uint64_t i = slot.hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    if (tags_[i] == 0) {
      slots_[i] = slot;
      tags_[i] = tagOf(slot.hash);
      return;
    }
  }
}

uint32_t HostMatcher::addChild(uint32_t parent, uint64_t hash, std::string_view label) {
  if (const Slot* s = findSlot(hash, parent, label.data(), label.size())) return s->child;
  // Keep the load factor at most 1/2 so that probe sequences stay short.
  if ((node_count_ + 1) * 2 > slots_.size()) {
    std::vector<Slot, HugePageAllocator<Slot>> old = std::move(slots_);
    slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
    tags_.assign(slots_.size(), 0);
    slot_mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash != 0) insertSlot(s);
    }
  }
  Slot slot;
  slot.hash = hash;
  slot.parent = parent;
  slot.child = static_cast<uint32_t>(node_count_++);
  slot.label_length = static_cast<uint8_t>(label.size());
  if (label.size() <= kInlineLabel) {
    std::memcpy(slot.label, label.data(), label.size());
  } else {
    slot.label_offset = static_cast<uint32_t>(labels_.size());
    labels_.append(label);
  }
  insertSlot(slot);
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
  uint64_t hash = 0;
  size_t end = name.size();
  while (true) {
    size_t dot = name.rfind('.', end - 1);
    size_t start = dot == std::string::npos ? 0 : dot + 1;
    std::string_view label = std::string_view(name).substr(start, end - start);
    hash = chainHash(hash, label.data(), label.size());
    node = addChild(node, hash, label);
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
  std::vector<std::pair<uint32_t, uint32_t>> ranges(node_count_, {0, 0});
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.push_back(entries_[order[i]]);
    auto& r = ranges[entry_nodes_[order[i]]];
    if (r.first == r.second) r.first = static_cast<uint32_t>(i);
    r.second = static_cast<uint32_t>(i + 1);
  }
  for (Slot& s : slots_) {
    if (s.hash == 0) continue;
    s.entries_begin = ranges[s.child].first;
    s.entries_end = ranges[s.child].second;
    if (s.entries_end > s.entries_begin) s.first = sorted[s.entries_begin];
  }
  entries_ = std::move(sorted);
  entry_nodes_.clear();
  entry_nodes_.shrink_to_fit();
  cidr_group_index_.clear();
}

void HostMatcher::consider(TagMatch& m, const NodeEntry& e, uint16_t port) noexcept {
  if (e.port == 0 || e.port == port) {
    m.entry = static_cast<int32_t>(e.entry);
    m.entry_port = e.port;
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
          if (m.entry < 0) {
            m.entry = static_cast<int32_t>(e.entry);
            m.entry_port = e.port;
          }
        } else if (m.other_port_entry < 0) {
          m.other_port_entry = static_cast<int32_t>(e.entry);
        }
      }
    });
    return result;
  }
  const std::string& name = host.text;
  if (name.empty() || slots_.empty()) return result;

  // Hash every suffix first and prefetch the slot its fingerprint points at: the probes do not
  // depend on each other, so their memory accesses overlap instead of following one another
  // down the trie. The trie is closed under suffixes, so the first suffix without a candidate
  // ends the search: a name with no entry costs a few reads of the (cached) tag array.
  constexpr size_t kMaxLabels = 128;  // a 253-octet name has at most 127 labels
  uint64_t hashes[kMaxLabels];
  uint32_t starts[kMaxLabels];
  uint32_t lengths[kMaxLabels];
  size_t count = 0;
  uint64_t hash = 0;
  size_t end = name.size();
  while (count < kMaxLabels) {
    size_t dot = name.rfind('.', end - 1);
    size_t start = dot == std::string::npos ? 0 : dot + 1;
    hash = chainHash(hash, name.data() + start, end - start);
    const int64_t candidate = firstCandidate(hash);
    if (candidate < 0) break;
    __builtin_prefetch(&slots_[static_cast<size_t>(candidate)]);
    hashes[count] = hash;
    starts[count] = static_cast<uint32_t>(start);
    lengths[count] = static_cast<uint32_t>(end - start);
    ++count;
    if (start == 0) break;
    end = start - 1;
  }

  uint32_t node = 0;
  for (size_t i = 0; i < count; ++i) {
    const Slot* s = findSlot(hashes[i], node, name.data() + starts[i], lengths[i]);
    if (s == nullptr) break;
    node = s->child;
    const bool whole_name = starts[i] == 0;
    // Deeper nodes are visited later and override; within a node the first (most specific)
    // applicable entry per tag and port class wins.
    bool seen[kListTagCount][2] = {};
    for (uint32_t k = s->entries_begin; k < s->entries_end; ++k) {
      const NodeEntry& e = k == s->entries_begin ? s->first : entries_[k];
      bool applies =
          whole_name ? e.kind != Pattern::Kind::kSubdomains : e.kind != Pattern::Kind::kExact;
      if (!applies) continue;
      int tag = static_cast<int>(e.tag);
      int port_class = (e.port == 0 || e.port == port) ? 0 : 1;
      if (seen[tag][port_class]) continue;
      seen[tag][port_class] = true;
      consider(result.tags[tag], e, port);
    }
  }
  return result;
}

}  // namespace gatehouse::policy
