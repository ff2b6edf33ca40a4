// The trie matcher against the reference semantics of Pattern::matches(), plus the specificity
// rules the policy relies on (the most specific entry per list is reported).
#include "policy/matcher.h"

#include <gtest/gtest.h>

#include <random>

namespace gatehouse::policy {
namespace {

Pattern pat(const std::string& text) {
  PatternParse p = parsePattern(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.error;
  return *p.pattern;
}

Host host(const std::string& text) {
  HostParse h = canonicalizeHost(text);
  EXPECT_TRUE(h.ok()) << text;
  return *h.host;
}

TEST(HostMatcher, EmptyMatcherMatchesNothing) {
  HostMatcher m;
  m.finalize();
  auto r = m.match(host("example.com"), 443);
  for (const auto& t : r.tags) {
    EXPECT_EQ(t.entry, -1);
    EXPECT_EQ(t.other_port_entry, -1);
  }
  EXPECT_EQ(m.match(host("10.0.0.1"), 80)[ListTag::kAllow].entry, -1);
}

TEST(HostMatcher, MostSpecificEntryWins) {
  HostMatcher m;
  m.add(pat("**.example.com"), ListTag::kAllow, 0);
  m.add(pat("*.api.example.com"), ListTag::kAllow, 1);
  m.add(pat("v1.api.example.com"), ListTag::kAllow, 2);
  m.add(pat("**.api.example.com"), ListTag::kAllow, 3);
  m.finalize();
  EXPECT_EQ(m.match(host("example.com"), 443)[ListTag::kAllow].entry, 0);
  EXPECT_EQ(m.match(host("www.example.com"), 443)[ListTag::kAllow].entry, 0);
  // At the node api.example.com both * (1) and ** (3) apply to deeper names: ** ranks first.
  EXPECT_EQ(m.match(host("x.api.example.com"), 443)[ListTag::kAllow].entry, 3);
  EXPECT_EQ(m.match(host("api.example.com"), 443)[ListTag::kAllow].entry, 3);
  EXPECT_EQ(m.match(host("v1.api.example.com"), 443)[ListTag::kAllow].entry, 2);
  EXPECT_EQ(m.match(host("a.v1.api.example.com"), 443)[ListTag::kAllow].entry, 3);
}

TEST(HostMatcher, ListsAreIndependent) {
  HostMatcher m;
  m.add(pat("*.evil.test"), ListTag::kDeny, 0);
  m.add(pat("**.evil.test"), ListTag::kAllow, 1);
  m.add(pat("ok.evil.test"), ListTag::kAlwaysAllow, 2);
  m.finalize();
  auto r = m.match(host("ok.evil.test"), 443);
  EXPECT_EQ(r[ListTag::kDeny].entry, 0);
  EXPECT_EQ(r[ListTag::kAlwaysAllow].entry, 2);
  EXPECT_EQ(r[ListTag::kAllow].entry, 1);
  auto apex = m.match(host("evil.test"), 443);
  EXPECT_EQ(apex[ListTag::kDeny].entry, -1);
  EXPECT_EQ(apex[ListTag::kAllow].entry, 1);
}

TEST(HostMatcher, PortsSeparateMatchesFromOtherPortMatches) {
  HostMatcher m;
  m.add(pat("example.com:8443"), ListTag::kAllow, 0);
  m.add(pat("*.example.com"), ListTag::kAllow, 1);
  m.add(pat("10.0.0.0/8:22"), ListTag::kAllow, 2);
  m.add(pat("10.1.0.0/16"), ListTag::kAllow, 3);
  m.finalize();
  auto r = m.match(host("example.com"), 443);
  EXPECT_EQ(r[ListTag::kAllow].entry, -1);
  EXPECT_EQ(r[ListTag::kAllow].other_port_entry, 0);
  EXPECT_EQ(m.match(host("example.com"), 8443)[ListTag::kAllow].entry, 0);
  EXPECT_EQ(m.match(host("10.2.0.1"), 22)[ListTag::kAllow].entry, 2);
  EXPECT_EQ(m.match(host("10.2.0.1"), 80)[ListTag::kAllow].other_port_entry, 2);
  // The longest range applies first; a shorter port-specific range still counts.
  EXPECT_EQ(m.match(host("10.1.0.1"), 80)[ListTag::kAllow].entry, 3);
  EXPECT_EQ(m.match(host("10.1.0.1"), 22)[ListTag::kAllow].entry, 3);
}

TEST(HostMatcher, SameRangeTwiceKeepsBothEntries) {
  HostMatcher m;
  m.add(pat("192.0.2.0/24:80"), ListTag::kAllow, 0);
  m.add(pat("192.0.2.0/24:443"), ListTag::kAllow, 1);
  m.add(pat("192.0.2.0/24"), ListTag::kDeny, 2);
  m.finalize();
  EXPECT_EQ(m.match(host("192.0.2.9"), 80)[ListTag::kAllow].entry, 0);
  EXPECT_EQ(m.match(host("192.0.2.9"), 443)[ListTag::kAllow].entry, 1);
  EXPECT_EQ(m.match(host("192.0.2.9"), 443)[ListTag::kDeny].entry, 2);
}

TEST(HostMatcher, LabelsAreComparedWhole) {
  HostMatcher m;
  m.add(pat("*.example.com"), ListTag::kAllow, 0);
  m.add(pat("ample.com"), ListTag::kAllow, 1);
  m.finalize();
  EXPECT_EQ(m.match(host("badexample.com"), 443)[ListTag::kAllow].entry, -1);
  EXPECT_EQ(m.match(host("ex.ample.com"), 443)[ListTag::kAllow].entry, -1);
  EXPECT_EQ(m.match(host("example.com.evil.io"), 443)[ListTag::kAllow].entry, -1);
  EXPECT_EQ(m.match(host("com"), 443)[ListTag::kAllow].entry, -1);
}

// Random lists and hosts drawn from a small alphabet so that collisions of labels, suffixes and
// wildcards are frequent; every answer must agree with the reference semantics.
TEST(HostMatcher, AgreesWithReferenceOnRandomLists) {
  std::mt19937 rng(20261121);
  const char* labels[] = {"a", "b", "ab", "ba", "com", "x-y", "_s", "aa"};
  auto name = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += (i ? "." : "") + std::string(labels[rng() % 8]);
    return s;
  };
  for (int round = 0; round < 40; ++round) {
    std::vector<Pattern> patterns;
    std::vector<ListTag> tags;
    HostMatcher m;
    int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      std::string text;
      switch (rng() % 4) {
        case 0:
          text = name(1 + rng() % 3);
          break;
        case 1:
          text = "*." + name(2 + rng() % 2);
          break;
        case 2:
          text = "**." + name(2 + rng() % 2);
          break;
        default:
          text = name(1 + rng() % 3) + ":" + std::to_string(rng() % 2 ? 443 : 8443);
      }
      Pattern p = pat(text);
      ListTag tag = static_cast<ListTag>(rng() % kListTagCount);
      m.add(p, tag, static_cast<uint32_t>(patterns.size()));
      patterns.push_back(p);
      tags.push_back(tag);
    }
    m.finalize();
    for (int q = 0; q < 300; ++q) {
      Host h = host(name(1 + rng() % 5));
      uint16_t port = rng() % 2 ? 443 : 8443;
      auto r = m.match(h, port);
      for (int t = 0; t < kListTagCount; ++t) {
        bool any = false;
        bool any_other_port = false;
        for (size_t i = 0; i < patterns.size(); ++i) {
          if (static_cast<int>(tags[i]) != t) continue;
          any = any || patterns[i].matches(h, port);
          any_other_port =
              any_other_port || (!patterns[i].matches(h, port) && patterns[i].matches(h, 0));
        }
        ASSERT_EQ(r.tags[t].entry >= 0, any) << h.text << ":" << port << " tag " << t;
        if (r.tags[t].entry >= 0) {
          ASSERT_TRUE(patterns[r.tags[t].entry].matches(h, port)) << h.text;
          ASSERT_EQ(static_cast<int>(tags[r.tags[t].entry]), t);
        }
        // other_port_entry is an explanation aid: when set, it matches on its own port only.
        if (r.tags[t].other_port_entry >= 0) {
          const Pattern& o = patterns[r.tags[t].other_port_entry];
          ASSERT_TRUE(o.matches(h, 0) && !o.matches(h, port)) << h.text;
        }
        if (!any && any_other_port) {
          ASSERT_GE(r.tags[t].other_port_entry, 0) << h.text;
        }
      }
    }
  }
}

TEST(HostMatcher, ManyEntriesStayExact) {
  HostMatcher m;
  for (uint32_t i = 0; i < 50000; ++i) {
    m.add(pat("h" + std::to_string(i) + ".example.com"), ListTag::kAllow, i);
  }
  m.finalize();
  EXPECT_EQ(m.match(host("h0.example.com"), 443)[ListTag::kAllow].entry, 0);
  EXPECT_EQ(m.match(host("h49999.example.com"), 443)[ListTag::kAllow].entry, 49999);
  EXPECT_EQ(m.match(host("h50000.example.com"), 443)[ListTag::kAllow].entry, -1);
  EXPECT_EQ(m.match(host("example.com"), 443)[ListTag::kAllow].entry, -1);
  EXPECT_EQ(m.nodeCount(), 50000u + 3u);  // root, com, example, and one per host
}

}  // namespace
}  // namespace gatehouse::policy
