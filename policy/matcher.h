// The host matcher: which entries of an environment's lists match a destination.
//
// Names are matched in a reversed-label trie ("com" -> "example" -> "www"). Its edges live in
// one open-addressing hash table keyed by the hash of the whole suffix ("example.com"), chained
// label by label from the right, and verified exactly by (parent node, label). Probing reads a
// one-byte fingerprint array that stays in cache, so a name with no entry costs no access to
// the table itself. A suffix's slot depends only on the queried host, so the slots of all
// suffixes are fetched together before the walk: a hit costs about one memory access however
// large the table. The walk then follows at most one edge per label. IP literals are looked up in
// CidrSets (cost bounded by the number of distinct prefix lengths).
//
// Built once, then immutable and shared between threads; match() is noexcept and does not
// allocate.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/cidr_set.h"
#include "policy/host.h"
#include "policy/huge_page_allocator.h"
#include "policy/pattern.h"

namespace gatehouse::policy {

// Which list an entry belongs to; the policy evaluates them in this order.
enum class ListTag : uint8_t { kDeny = 0, kAlwaysAllow = 1, kAllow = 2 };
inline constexpr int kListTagCount = 3;

class HostMatcher final {
 public:
  struct TagMatch {
    // The most specific entry that matches the host and the port (entry port 0 or equal), or -1.
    int32_t entry = -1;
    // That entry's own port (0 = any port the environment allows), so that callers need not
    // read the entry itself on the hot path.
    uint16_t entry_port = 0;
    // The most specific entry that matches the host on another port only, or -1 (explains a
    // port-not-allowed decision).
    int32_t other_port_entry = -1;
  };
  struct Result {
    TagMatch tags[kListTagCount];
    const TagMatch& operator[](ListTag t) const { return tags[static_cast<int>(t)]; }
  };

  // `entry` is the caller's index (into its rule table); patterns are copied as needed.
  void add(const Pattern& pattern, ListTag tag, uint32_t entry);
  // Must be called once after the last add() and before match().
  void finalize();

  Result match(const Host& host, uint16_t port) const noexcept;

  size_t entryCount() const { return entries_.size(); }
  size_t nodeCount() const { return node_count_; }

 private:
  struct NodeEntry {
    uint32_t entry = 0;
    uint16_t port = 0;
    Pattern::Kind kind = Pattern::Kind::kExact;
    ListTag tag = ListTag::kAllow;
  };
  static constexpr size_t kInlineLabel = 27;
  // One edge of the trie, one cache line: the label and, for the common node with a single
  // entry, that entry too, so that a match usually reads nothing but the slots.
  struct alignas(64) Slot {
    uint64_t hash = 0;  // chained suffix hash; 0 = empty
    uint32_t parent = 0;
    uint32_t child = 0;
    uint32_t entries_begin = 0;  // the child's entries in entries_
    uint32_t entries_end = 0;
    uint32_t label_offset = 0;  // into labels_ when the label is longer than kInlineLabel
    NodeEntry first{};          // copy of entries_[entries_begin] when there is one
    uint8_t label_length = 0;
    char label[kInlineLabel] = {};
  };
  static_assert(sizeof(Slot) == 64);
  struct CidrEntry {
    uint32_t entry;
    uint16_t port;
    ListTag tag;
  };

  static uint64_t chainHash(uint64_t suffix_hash, const char* label, size_t length) noexcept;
  static uint8_t tagOf(uint64_t hash) noexcept { return static_cast<uint8_t>(hash >> 56) | 1; }
  // Index of the first slot at or after the home position of `hash` whose tag matches, or -1
  // when the probe sequence ends first. Used to prefetch before the exact walk.
  int64_t firstCandidate(uint64_t hash) const noexcept;
  bool labelEquals(const Slot& s, const char* label, size_t length) const noexcept;
  const Slot* findSlot(uint64_t hash, uint32_t parent, const char* label,
                       size_t length) const noexcept;
  uint32_t addChild(uint32_t parent, uint64_t hash, std::string_view label);
  void insertSlot(const Slot& slot);
  static void consider(TagMatch& m, const NodeEntry& e, uint16_t port) noexcept;

  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  // One byte per slot: 0 = empty, else the top bits of the slot's hash (never 0). Probing runs
  // over this array, which stays in cache even for very large lists, and touches a slot only
  // when its fingerprint matches; a lookup that finds nothing reads no slot at all.
  std::vector<uint8_t> tags_;
  uint64_t slot_mask_ = 0;
  size_t node_count_ = 1;              // the root
  std::string labels_;                 // labels longer than kInlineLabel
  std::vector<NodeEntry> entries_;     // grouped by node after finalize()
  std::vector<uint32_t> entry_nodes_;  // node of each entries_ element, before finalize()

  CidrSet cidrs_;  // value: index into cidr_groups_
  std::vector<std::vector<CidrEntry>> cidr_groups_;
  std::unordered_map<std::string, uint32_t> cidr_group_index_;  // while building
};

}  // namespace gatehouse::policy
