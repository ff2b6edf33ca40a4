#include "policy/cidr_set.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace gatehouse::policy {
namespace {

constexpr int kNone = -1;

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << "test data is not a strict address: " << text;
  return a.value_or(IpAddress());
}

Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << "test data is not a strict CIDR: " << text;
  return c.value_or(Cidr());
}

int lookup(const CidrSet& set, const char* address) {
  const uint32_t* v = set.longestMatch(ip(address));
  return v == nullptr ? kNone : static_cast<int>(*v);
}

struct Range {
  const char* cidr;
  uint32_t value;
};

struct Row {
  const char* address;
  int expected;  // the value of the longest containing range, or kNone
  const char* why;
};

CidrSet makeSet(const std::vector<Range>& ranges) {
  CidrSet set;
  for (const Range& r : ranges) set.add(cidr(r.cidr), r.value);
  return set;
}

void expectRows(const CidrSet& set, const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    EXPECT_EQ(lookup(set, row.address), row.expected) << row.address << " (" << row.why << ")";
  }
}

TEST(CidrSet, EmptySetMatchesNothing) {
  const CidrSet set;
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.size(), 0u);
  expectRows(set, {{"0.0.0.0", kNone, "no ranges"}, {"::", kNone, "no ranges"}});
}

TEST(CidrSet, LongestMatchWins) {
  // Added in an order that is neither longest- nor shortest-first.
  const CidrSet set = makeSet({{"10.1.0.0/16", 16},
                               {"10.0.0.0/8", 8},
                               {"10.1.2.3", 32},
                               {"10.1.2.0/24", 24},
                               {"2001:db8::/32", 132},
                               {"2001:db8:1::/48", 148},
                               {"2001:db8:1:2::/64", 164},
                               {"2001:db8:1:2::1", 228}});
  EXPECT_EQ(set.size(), 8u);
  EXPECT_FALSE(set.empty());
  expectRows(set, {
                      {"10.1.2.3", 32, "exact /32 beats every shorter range"},
                      {"10.1.2.4", 24, "the /24 is the longest containing range"},
                      {"10.1.3.0", 16, "outside the /24, inside the /16"},
                      {"10.1.255.255", 16, "last of the /16"},
                      {"10.2.0.0", 8, "outside the /16"},
                      {"10.255.255.255", 8, "last of the /8"},
                      {"11.0.0.0", kNone, "just above the /8"},
                      {"9.255.255.255", kNone, "just below the /8"},
                      {"2001:db8:1:2::1", 228, "exact /128"},
                      {"2001:db8:1:2::2", 164, "the /64"},
                      {"2001:db8:1:2:ffff:ffff:ffff:ffff", 164, "last of the /64"},
                      {"2001:db8:1:3::", 148, "just above the /64, inside the /48"},
                      {"2001:db8:2::", 132, "outside the /48"},
                      {"2001:db9::", kNone, "just above the /32"},
                  });
}

TEST(CidrSet, FamiliesNeverMix) {
  const CidrSet set = makeSet({{"0.0.0.0/0", 4}, {"::ffff:0:0/96", 6}, {"::/96", 7}});
  expectRows(set, {
                      {"127.0.0.1", 4, "IPv4 default route"},
                      {"::ffff:127.0.0.1", 6, "mapped form matches only the IPv6 range"},
                      {"::127.0.0.1", 7, "compatible form matches only the IPv6 range"},
                      {"::", 7, "IPv6 zero is not IPv4 zero"},
                      {"2001:db8::1", kNone, "the IPv4 /0 never covers IPv6"},
                  });
  const CidrSet v6_only = makeSet({{"::/0", 1}});
  expectRows(v6_only, {
                          {"0.0.0.0", kNone, "the IPv6 /0 never covers IPv4"},
                          {"255.255.255.255", kNone, "the IPv6 /0 never covers IPv4"},
                          {"::", 1, "IPv6 /0"},
                          {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "IPv6 /0"},
                      });
}

TEST(CidrSet, ZeroLengthRangesAreTheFallback) {
  const CidrSet set =
      makeSet({{"0.0.0.0/0", 0}, {"::/0", 100}, {"192.168.0.0/16", 1}, {"fe80::/10", 101}});
  expectRows(set, {
                      {"0.0.0.0", 0, "first address, only /0"},
                      {"255.255.255.255", 0, "last address, only /0"},
                      {"192.168.1.1", 1, "the /16 beats /0"},
                      {"192.169.0.0", 0, "outside the /16"},
                      {"fe80::1", 101, "the /10 beats ::/0"},
                      {"fec0::1", 100, "outside the /10"},
                  });
}

TEST(CidrSet, DuplicateAddKeepsTheFirstValue) {
  CidrSet set;
  set.add(cidr("10.0.0.0/8"), 1);
  set.add(cidr("10.0.0.0/8"), 2);
  set.add(Cidr(ip("10.9.9.9"), 8), 3);  // the constructor clears host bits: same range
  set.add(cidr("10.0.0.0/9"), 4);       // same base, other length: another range
  set.add(cidr("::ffff:10.0.0.0/104"), 5);
  set.add(cidr("::ffff:10.0.0.0/104"), 6);
  EXPECT_EQ(set.size(), 3u);
  expectRows(set, {
                      {"10.0.0.1", 4, "inside the /9"},
                      {"10.200.0.1", 1, "the /8 keeps its first value"},
                      {"::ffff:10.0.0.1", 5, "the IPv6 range keeps its first value"},
                  });
}

// Prefix lengths on both sides of the 64-bit word boundary of the key, and the extremes.
TEST(CidrSet, PrefixLengthsAcrossTheKeyWords) {
  const CidrSet set = makeSet({{"8000::/1", 1},
                               {"2001:db8:0:2::/63", 63},
                               {"2001:db8:0:4::/64", 64},
                               {"2001:db8:0:6:8000::/65", 65},
                               {"2001:db8::8:0:0:2/127", 127},
                               {"128.0.0.0/1", 201},
                               {"10.0.0.2/31", 231}});
  expectRows(set, {
                      {"8000::", 1, "first of the /1"},
                      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "last of the /1"},
                      {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kNone, "just below the /1"},
                      {"2001:db8:0:2::", 63, "first of the /63"},
                      {"2001:db8:0:3:ffff:ffff:ffff:ffff", 63, "last of the /63"},
                      {"2001:db8:0:4::", 64, "first of the /64"},
                      {"2001:db8:0:5::", kNone, "just above the /64"},
                      {"2001:db8:0:6:8000::", 65, "first of the /65"},
                      {"2001:db8:0:6:7fff:ffff:ffff:ffff", kNone, "just below the /65"},
                      {"2001:db8:0:6:ffff:ffff:ffff:ffff", 65, "last of the /65"},
                      {"2001:db8::8:0:0:2", 127, "first of the /127"},
                      {"2001:db8::8:0:0:3", 127, "last of the /127"},
                      {"2001:db8::8:0:0:4", kNone, "just above the /127"},
                      {"128.0.0.0", 201, "first of the IPv4 /1"},
                      {"127.255.255.255", kNone, "just below the IPv4 /1"},
                      {"10.0.0.2", 231, "first of the /31"},
                      {"10.0.0.3", 231, "last of the /31"},
                      {"10.0.0.1", kNone, "just below the /31"},
                  });
}

// Many ranges of many lengths, checked against a linear scan with Cidr::contains.
TEST(CidrSet, ManyRangesAgreeWithALinearScan) {
  struct Entry {
    Cidr range;
    uint32_t value;  // the first value added for the range
  };
  std::mt19937_64 rng(20261121);
  auto randomV6 = [&rng] {
    std::array<uint8_t, 16> bytes{};
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    bytes[0] = 0x20;  // one /8 keeps the short ranges dense enough to nest
    return IpAddress::v6(bytes);
  };
  std::vector<Entry> entries;
  std::map<std::string, size_t> seen;
  CidrSet set;
  for (uint32_t i = 0; i < 10000; ++i) {
    const Cidr range =
        i % 2 == 0 ? Cidr(IpAddress::v4(static_cast<uint32_t>(rng())), static_cast<int>(rng() % 33))
                   : Cidr(randomV6(), static_cast<int>(8 + rng() % 121));
    set.add(range, i);
    if (seen.emplace(range.toString(), entries.size()).second) entries.push_back({range, i});
  }
  EXPECT_EQ(set.size(), entries.size());
  EXPECT_LT(entries.size(), 10000u) << "short IPv4 prefixes repeat, so duplicates are covered";

  int matched = 0;
  for (int i = 0; i < 1000; ++i) {
    IpAddress addr;
    if (i % 2 == 0) {
      // Inside a known range, so nested ranges compete.
      addr = entries[rng() % entries.size()].range.base();
    } else if (i % 4 == 1) {
      addr = IpAddress::v4(static_cast<uint32_t>(rng()));
    } else {
      addr = randomV6();
    }
    int best_len = -1;
    int want = kNone;
    for (const Entry& e : entries) {
      if (e.range.prefixLength() > best_len && e.range.contains(addr)) {
        best_len = e.range.prefixLength();
        want = static_cast<int>(e.value);
      }
    }
    const uint32_t* got = set.longestMatch(addr);
    EXPECT_EQ(got == nullptr ? kNone : static_cast<int>(*got), want) << addr.toString();
    if (want != kNone) ++matched;
  }
  EXPECT_GT(matched, 500);
}

}  // namespace
}  // namespace gatehouse::policy
