// The host matcher: which entries of an environment's lists match a destination.
//
// Names are matched in a reversed-label trie ("com" -> "example" -> "www") whose edges live in
// one open-addressing hash table keyed by (parent node, label). A lookup walks at most one edge
// per label of the queried host and stops at the first label with no edge, so its cost depends
// on the host, never on the number of entries. IP literals are looked up in CidrSets (cost
// bounded by the number of distinct prefix lengths).
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
  size_t nodeCount() const { return nodes_.size(); }

 private:
  struct NodeEntry {
    uint32_t entry;
    uint16_t port;
    Pattern::Kind kind;
    ListTag tag;
  };
  struct Node {
    uint32_t entries_begin = 0;
    uint32_t entries_end = 0;
  };
  struct Slot {
    uint64_t hash = 0;  // 0 = empty
    uint32_t parent = 0;
    uint32_t child = 0;
    uint32_t label_offset = 0;
    uint32_t label_length = 0;
  };
  struct CidrEntry {
    uint32_t entry;
    uint16_t port;
    ListTag tag;
  };

  static uint64_t edgeHash(uint32_t parent, const char* label, size_t length) noexcept;
  int64_t findChild(uint32_t parent, const char* label, size_t length, uint64_t hash) const noexcept;
  uint32_t addChild(uint32_t parent, std::string_view label);
  void insertSlot(const Slot& slot);
  static void consider(TagMatch& m, const NodeEntry& e, uint16_t port) noexcept;

  std::vector<Node> nodes_ = {Node{}};  // node 0 is the root
  std::vector<NodeEntry> entries_;      // grouped by node after finalize()
  std::vector<uint32_t> entry_nodes_;   // node of each entries_ element, before finalize()
  std::vector<Slot> slots_;
  uint64_t slot_mask_ = 0;
  std::string labels_;  // label text pool
  size_t edge_count_ = 0;

  CidrSet cidrs_;  // value: index into cidr_groups_
  std::vector<std::vector<CidrEntry>> cidr_groups_;
  std::unordered_map<std::string, uint32_t> cidr_group_index_;  // while building
};

}  // namespace gatehouse::policy
