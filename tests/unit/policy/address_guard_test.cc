#include "policy/address_guard.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace gatehouse::policy {
namespace {

using C = AddressClass;

std::string str(const char* s) { return s == nullptr ? "(none)" : s; }

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << "test data is not a strict address: " << text;
  return a.value_or(IpAddress());
}

struct ClassRow {
  const char* input;
  AddressClass cls;
  const char* embedding;   // nullptr: none
  const char* classified;  // the embedded IPv4 address; "" when the input itself is classified
  const char* why;
};

// Teredo (RFC 4380) client addresses are stored inverted in the last 32 bits:
//   127.0.0.1 -> 80ff:fffe, 8.8.8.8 -> f7f7:f7f7, 169.254.169.254 -> 5601:5601,
//   10.0.0.1 -> f5ff:fffe, 192.0.2.45 -> 3fff:fdd2 (the RFC's own example).
const ClassRow kClassRows[] = {
    // ---- IPv4 ----
    {"0.0.0.0", C::kUnspecified, nullptr, "", "C2: connect to 0.0.0.0 reaches local listeners"},
    {"0.0.0.1", C::kThisNetwork, nullptr, "", "0/8 just after the unspecified address"},
    {"0.255.255.255", C::kThisNetwork, nullptr, "", "last of 0/8"},
    {"1.0.0.0", C::kPublic, nullptr, "", "just above 0/8"},
    {"1.1.1.1", C::kPublic, nullptr, "", "public resolver"},
    {"8.8.8.8", C::kPublic, nullptr, "", "public resolver"},
    {"9.255.255.255", C::kPublic, nullptr, "", "just below 10/8"},
    {"10.0.0.0", C::kPrivate, nullptr, "", "first of 10/8"},
    {"10.0.0.1", C::kPrivate, nullptr, "", "C7/C8: RFC 1918"},
    {"10.0.0.5", C::kPrivate, nullptr, "", "C8: A record of an allowed name"},
    {"10.255.255.255", C::kPrivate, nullptr, "", "last of 10/8"},
    {"11.0.0.0", C::kPublic, nullptr, "", "just above 10/8"},
    {"11.0.0.1", C::kPublic, nullptr, "", "just above 10/8"},
    {"100.63.255.255", C::kPublic, nullptr, "", "just below 100.64/10"},
    {"100.64.0.0", C::kCgnat, nullptr, "", "first of 100.64/10"},
    {"100.64.0.1", C::kCgnat, nullptr, "", "C7: CGNAT"},
    {"100.127.255.255", C::kCgnat, nullptr, "", "last of 100.64/10"},
    {"100.128.0.0", C::kPublic, nullptr, "", "just above 100.64/10"},
    {"100.128.0.1", C::kPublic, nullptr, "", "just above 100.64/10"},
    {"126.255.255.255", C::kPublic, nullptr, "", "just below 127/8"},
    {"127.0.0.0", C::kLoopback, nullptr, "", "first of 127/8"},
    {"127.0.0.1", C::kLoopback, nullptr, "", "C1: loopback"},
    {"127.0.0.3", C::kLoopback, nullptr, "", "C8: loopback A record"},
    {"127.255.255.255", C::kLoopback, nullptr, "", "last of 127/8"},
    {"128.0.0.0", C::kPublic, nullptr, "", "just above 127/8"},
    {"169.253.255.255", C::kPublic, nullptr, "", "just below 169.254/16"},
    {"169.254.0.0", C::kLinkLocal, nullptr, "", "first of 169.254/16"},
    {"169.254.169.254", C::kLinkLocal, nullptr, "", "C3: cloud metadata"},
    {"169.254.255.255", C::kLinkLocal, nullptr, "", "last of 169.254/16"},
    {"169.255.0.0", C::kPublic, nullptr, "", "just above 169.254/16"},
    {"169.255.0.1", C::kPublic, nullptr, "", "just above 169.254/16"},
    {"172.15.255.255", C::kPublic, nullptr, "", "just below 172.16/12"},
    {"172.16.0.0", C::kPrivate, nullptr, "", "first of 172.16/12"},
    {"172.31.255.255", C::kPrivate, nullptr, "", "last of 172.16/12"},
    {"172.32.0.0", C::kPublic, nullptr, "", "just above 172.16/12"},
    {"172.32.0.1", C::kPublic, nullptr, "", "just above 172.16/12"},
    {"191.255.255.255", C::kPublic, nullptr, "", "just below 192.0.0/24"},
    {"192.0.0.0", C::kReserved, nullptr, "", "first of 192.0.0/24 (IETF protocol assignments)"},
    {"192.0.0.8", C::kReserved, nullptr, "", "C7: 192.0.0.0/24"},
    {"192.0.0.255", C::kReserved, nullptr, "", "last of 192.0.0/24"},
    {"192.0.1.0", C::kPublic, nullptr, "", "between 192.0.0/24 and 192.0.2/24"},
    {"192.0.1.255", C::kPublic, nullptr, "", "just below 192.0.2/24"},
    {"192.0.2.0", C::kDocumentation, nullptr, "", "first of TEST-NET-1"},
    {"192.0.2.255", C::kDocumentation, nullptr, "", "last of TEST-NET-1"},
    {"192.0.3.0", C::kPublic, nullptr, "", "just above TEST-NET-1"},
    {"192.88.98.255", C::kPublic, nullptr, "", "just below 192.88.99/24"},
    {"192.88.99.0", C::kReserved, nullptr, "", "first of the 6to4 relay anycast /24"},
    {"192.88.99.255", C::kReserved, nullptr, "", "last of 192.88.99/24"},
    {"192.88.100.0", C::kPublic, nullptr, "", "just above 192.88.99/24"},
    {"192.167.255.255", C::kPublic, nullptr, "", "just below 192.168/16"},
    {"192.168.0.0", C::kPrivate, nullptr, "", "first of 192.168/16"},
    {"192.168.1.1", C::kPrivate, nullptr, "", "home router"},
    {"192.168.255.255", C::kPrivate, nullptr, "", "last of 192.168/16"},
    {"192.169.0.0", C::kPublic, nullptr, "", "just above 192.168/16"},
    {"198.17.255.255", C::kPublic, nullptr, "", "just below 198.18/15"},
    {"198.18.0.0", C::kBenchmarking, nullptr, "", "first of 198.18/15"},
    {"198.18.0.1", C::kBenchmarking, nullptr, "", "C7: benchmarking"},
    {"198.19.255.255", C::kBenchmarking, nullptr, "", "last of 198.18/15"},
    {"198.20.0.0", C::kPublic, nullptr, "", "just above 198.18/15"},
    {"198.51.99.255", C::kPublic, nullptr, "", "just below TEST-NET-2"},
    {"198.51.100.0", C::kDocumentation, nullptr, "", "first of TEST-NET-2"},
    {"198.51.100.255", C::kDocumentation, nullptr, "", "last of TEST-NET-2"},
    {"198.51.101.0", C::kPublic, nullptr, "", "just above TEST-NET-2"},
    {"203.0.112.255", C::kPublic, nullptr, "", "just below TEST-NET-3"},
    {"203.0.113.0", C::kDocumentation, nullptr, "", "first of TEST-NET-3"},
    {"203.0.113.255", C::kDocumentation, nullptr, "", "last of TEST-NET-3"},
    {"203.0.114.0", C::kPublic, nullptr, "", "just above TEST-NET-3"},
    {"223.255.255.255", C::kPublic, nullptr, "", "just below 224/4"},
    {"224.0.0.0", C::kMulticast, nullptr, "", "first of 224/4"},
    {"224.0.0.1", C::kMulticast, nullptr, "", "C7: all-hosts multicast"},
    {"239.255.255.255", C::kMulticast, nullptr, "", "last of 224/4"},
    {"240.0.0.0", C::kReserved, nullptr, "", "first of 240/4"},
    {"240.0.0.1", C::kReserved, nullptr, "", "C7: 240/4"},
    {"255.255.255.254", C::kReserved, nullptr, "", "last of 240/4 before broadcast"},
    {"255.255.255.255", C::kBroadcast, nullptr, "", "C7: limited broadcast"},

    // ---- IPv6: loopback, unspecified and the ::/96 embeddings ----
    {"::", C::kUnspecified, nullptr, "", "C4: unspecified"},
    {"0:0:0:0:0:0:0:0", C::kUnspecified, nullptr, "", "unspecified, uncompressed"},
    {"::1", C::kLoopback, nullptr, "", "C4: loopback"},
    {"0:0:0:0:0:0:0:1", C::kLoopback, nullptr, "", "C4: loopback, uncompressed"},
    {"::0.0.0.1", C::kLoopback, nullptr, "", "::1 spelled with a dotted quad is still ::1"},
    {"::2", C::kThisNetwork, "ipv4-compatible", "0.0.0.2", "just above ::1 in ::/96"},
    {"::127.0.0.1", C::kLoopback, "ipv4-compatible", "127.0.0.1", "C4: compatible loopback"},
    {"::169.254.169.254", C::kLinkLocal, "ipv4-compatible", "169.254.169.254",
     "compatible metadata"},
    {"::8.8.8.8", C::kPublic, "ipv4-compatible", "8.8.8.8", "compatible public"},
    {"::ffff:0", C::kReserved, "ipv4-compatible", "255.255.0.0",
     "0:..:ffff:0 lies in ::/96, not in ::ffff:0:0/96"},
    {"::1:0:0:0", C::kReserved, nullptr, "", "just outside ::/96, outside 2000::/3"},
    {"::ffff:127.0.0.1", C::kLoopback, "ipv4-mapped", "127.0.0.1", "C4: mapped loopback"},
    {"::ffff:7f00:1", C::kLoopback, "ipv4-mapped", "127.0.0.1", "mapped loopback in hex"},
    {"0:0:0:0:0:ffff:7f00:1", C::kLoopback, "ipv4-mapped", "127.0.0.1",
     "C4: mapped loopback, uncompressed"},
    {"::FFFF:7F00:1", C::kLoopback, "ipv4-mapped", "127.0.0.1", "upper-case hex"},
    {"::ffff:169.254.169.254", C::kLinkLocal, "ipv4-mapped", "169.254.169.254",
     "C3: mapped metadata"},
    {"::ffff:a9fe:a9fe", C::kLinkLocal, "ipv4-mapped", "169.254.169.254",
     "C3: mapped metadata in hex"},
    {"::ffff:10.0.0.1", C::kPrivate, "ipv4-mapped", "10.0.0.1", "C10: AAAA answer"},
    {"::ffff:0.0.0.0", C::kUnspecified, "ipv4-mapped", "0.0.0.0", "mapped unspecified"},
    {"::ffff:255.255.255.255", C::kBroadcast, "ipv4-mapped", "255.255.255.255", "mapped broadcast"},
    {"::ffff:8.8.8.8", C::kPublic, "ipv4-mapped", "8.8.8.8", "mapped public stays public"},
    {"::fffe:7f00:1", C::kReserved, nullptr, "", "just below ::ffff:0:0/96, outside ::/96"},
    {"::1:ffff:7f00:1", C::kReserved, nullptr, "", "just above ::ffff:0:0/96"},
    {"::ffff:0:127.0.0.1", C::kLoopback, "ipv4-translated", "127.0.0.1", "translated loopback"},
    {"::ffff:0:a9fe:a9fe", C::kLinkLocal, "ipv4-translated", "169.254.169.254",
     "translated metadata"},
    {"::ffff:0:8.8.8.8", C::kPublic, "ipv4-translated", "8.8.8.8", "translated public"},
    {"::ffff:1:7f00:1", C::kReserved, nullptr, "", "just outside ::ffff:0:0:0/96"},

    // ---- IPv6: NAT64 ----
    {"64:ff9b::a9fe:a9fe", C::kLinkLocal, "nat64", "169.254.169.254", "C5: NAT64 metadata"},
    {"64:ff9b::127.0.0.1", C::kLoopback, "nat64", "127.0.0.1", "NAT64 loopback"},
    {"64:ff9b::10.0.0.1", C::kPrivate, "nat64", "10.0.0.1", "NAT64 private"},
    {"64:ff9b::8.8.8.8", C::kPublic, "nat64", "8.8.8.8", "NAT64 of a public address"},
    {"64:ff9b::", C::kUnspecified, "nat64", "0.0.0.0", "first of 64:ff9b::/96"},
    {"64:ff9b::ffff:ffff", C::kBroadcast, "nat64", "255.255.255.255", "last of 64:ff9b::/96"},
    {"64:ff9b::1:0:0", C::kReserved, nullptr, "", "just outside 64:ff9b::/96"},
    {"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "just below 64:ff9b::/96"},
    {"64:ff9b:1::", C::kNat64Local, nullptr, "", "first of 64:ff9b:1::/48"},
    {"64:ff9b:1::a9fe:a9fe", C::kNat64Local, nullptr, "", "local-use NAT64 has no fixed embedding"},
    {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", C::kNat64Local, nullptr, "", "last of 64:ff9b:1::/48"},
    {"64:ff9b:2::", C::kReserved, nullptr, "", "just above 64:ff9b:1::/48"},

    // ---- IPv6: discard-only, 2001::/23, documentation ----
    {"100::", C::kReserved, nullptr, "", "first of 100::/64 (discard-only)"},
    {"100::ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "last of 100::/64"},
    {"2001:0:4136:e378:8000:63bf:80ff:fffe", C::kLoopback, "teredo", "127.0.0.1",
     "C5: Teredo client 127.0.0.1"},
    {"2001:0:1:2:3:4:5601:5601", C::kLinkLocal, "teredo", "169.254.169.254",
     "C5: Teredo client metadata"},
    {"2001:0:4136:e378:8000:63bf:f5ff:fffe", C::kPrivate, "teredo", "10.0.0.1",
     "Teredo client RFC 1918"},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", C::kDocumentation, "teredo", "192.0.2.45",
     "RFC 4380 example address"},
    {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", C::kPublic, "teredo", "8.8.8.8",
     "Teredo with a public client is public"},
    {"2001::", C::kBroadcast, "teredo", "255.255.255.255",
     "first of 2001::/32: inverted zero is 255.255.255.255"},
    {"2001:0:ffff:ffff:ffff:ffff:f7f7:f7f7", C::kPublic, "teredo", "8.8.8.8",
     "last server address in 2001::/32"},
    {"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kPublic, nullptr, "",
     "just below 2001::/23, inside 2000::/3"},
    {"2001:1::1", C::kReserved, nullptr, "", "just above Teredo, inside 2001::/23"},
    {"2001:1:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "just below 2001:2::/48"},
    {"2001:2::", C::kBenchmarking, nullptr, "", "first of 2001:2::/48"},
    {"2001:2:0:ffff:ffff:ffff:ffff:ffff", C::kBenchmarking, nullptr, "", "last of 2001:2::/48"},
    {"2001:2:1::", C::kReserved, nullptr, "", "just above 2001:2::/48, inside 2001::/23"},
    {"2001:3::1", C::kReserved, nullptr, "", "inside 2001::/23"},
    {"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "last of 2001::/23"},
    {"2001:200::", C::kPublic, nullptr, "", "just above 2001::/23"},
    {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", C::kPublic, nullptr, "", "just below 2001:db8::/32"},
    {"2001:db8::", C::kDocumentation, nullptr, "", "first of 2001:db8::/32"},
    {"2001:db8::1", C::kDocumentation, nullptr, "", "documentation"},
    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", C::kDocumentation, nullptr, "",
     "last of 2001:db8::/32"},
    {"2001:db9::", C::kPublic, nullptr, "", "just above 2001:db8::/32"},

    // ---- IPv6: 6to4 ----
    {"2002:a9fe:a9fe::1", C::kLinkLocal, "6to4", "169.254.169.254", "C5: 6to4 metadata"},
    {"2002:7f00:1::1", C::kLoopback, "6to4", "127.0.0.1", "6to4 loopback"},
    {"2002:a00:1::", C::kPrivate, "6to4", "10.0.0.1", "6to4 private"},
    {"2002:808:808::1", C::kPublic, "6to4", "8.8.8.8", "6to4 of a public address"},
    {"2002::", C::kUnspecified, "6to4", "0.0.0.0", "first of 2002::/16"},
    {"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kBroadcast, "6to4", "255.255.255.255",
     "last of 2002::/16"},
    {"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kPublic, nullptr, "", "just below 2002::/16"},
    {"2003::", C::kPublic, nullptr, "", "just above 2002::/16"},

    // ---- IPv6: global unicast and what lies around it ----
    {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "just below 2000::/3"},
    {"2000::", C::kPublic, nullptr, "", "first of 2000::/3"},
    {"2606:4700::1111", C::kPublic, nullptr, "", "public resolver"},
    {"2a00:1450::1", C::kPublic, nullptr, "", "public"},
    {"2a00:1450:4001:80b::200e", C::kPublic, nullptr, "", "public"},
    {"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kPublic, nullptr, "", "just below 3fff::/20"},
    {"3fff::", C::kDocumentation, nullptr, "", "first of 3fff::/20"},
    {"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", C::kDocumentation, nullptr, "", "last of 3fff::/20"},
    {"3fff:1000::", C::kPublic, nullptr, "", "just above 3fff::/20, last /20 of 2000::/3"},
    {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kPublic, nullptr, "", "last of 2000::/3"},
    {"4000::", C::kReserved, nullptr, "", "just above 2000::/3"},
    {"5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "",
     "just below 5f00::/16 (unallocated)"},
    {"5f00::", C::kReserved, nullptr, "", "first of 5f00::/16 (SRv6 SIDs)"},
    {"5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "last of 5f00::/16"},
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "just below fc00::/7"},
    {"fc00::", C::kUniqueLocal, nullptr, "", "first of fc00::/7"},
    {"fc00::1", C::kUniqueLocal, nullptr, "", "C7: ULA"},
    {"fd12:3456::1", C::kUniqueLocal, nullptr, "", "C7: ULA with a local prefix"},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kUniqueLocal, nullptr, "", "last of fc00::/7"},
    {"fe00::", C::kReserved, nullptr, "", "just above fc00::/7"},
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kReserved, nullptr, "", "just below fe80::/10"},
    {"fe80::", C::kLinkLocal, nullptr, "", "first of fe80::/10"},
    {"fe80::1", C::kLinkLocal, nullptr, "", "C7: link-local"},
    {"FE80::1", C::kLinkLocal, nullptr, "", "upper-case hex"},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kLinkLocal, nullptr, "", "last of fe80::/10"},
    {"fec0::", C::kSiteLocal, nullptr, "", "first of fec0::/10"},
    {"fec0::1", C::kSiteLocal, nullptr, "", "deprecated site-local"},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kSiteLocal, nullptr, "", "last of fec0::/10"},
    {"ff00::", C::kMulticast, nullptr, "", "first of ff00::/8"},
    {"ff02::1", C::kMulticast, nullptr, "", "C7: all-nodes multicast"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::kMulticast, nullptr, "", "last of ff00::/8"},
};

TEST(ClassifyAddress, Table) {
  for (const ClassRow& row : kClassRows) {
    SCOPED_TRACE(std::string(row.input) + " (" + row.why + ")");
    const IpAddress addr = ip(row.input);
    const AddressClassification c = classifyAddress(addr);
    EXPECT_STREQ(addressClassName(c.cls), addressClassName(row.cls));
    EXPECT_EQ(str(c.embedding), str(row.embedding));
    const IpAddress expected = row.classified[0] == '\0' ? addr : ip(row.classified);
    EXPECT_EQ(c.classified.toString(), expected.toString());
    EXPECT_TRUE(c.classified == expected);
    EXPECT_EQ(c.classified.isV4(), addr.isV4() || row.embedding != nullptr);
  }
}

TEST(AddressGuard, DefaultGuardAllowsOnlyPublicAddresses) {
  const AddressGuard guard;
  for (const ClassRow& row : kClassRows) {
    SCOPED_TRACE(std::string(row.input) + " (" + row.why + ")");
    const AddressGuard::Verdict v = guard.check(ip(row.input), 443);
    EXPECT_EQ(v.allowed, row.cls == C::kPublic);
    EXPECT_STREQ(addressClassName(v.classification.cls), addressClassName(row.cls));
    EXPECT_EQ(v.exemption, nullptr);
    EXPECT_FALSE(v.self);
  }
}

TEST(AddressGuard, DenyPrivateFalseStillDeniesUnspecifiedMulticastBroadcast) {
  AddressesConfig config;
  config.deny_private = false;
  ConfigIssues issues;
  const AddressGuard guard = AddressGuard::build(config, issues);
  EXPECT_TRUE(issues.empty());
  for (const ClassRow& row : kClassRows) {
    SCOPED_TRACE(std::string(row.input) + " (" + row.why + ")");
    const bool never =
        row.cls == C::kUnspecified || row.cls == C::kMulticast || row.cls == C::kBroadcast;
    const AddressGuard::Verdict v = guard.check(ip(row.input), 443);
    EXPECT_EQ(v.allowed, !never);
    EXPECT_EQ(v.exemption, nullptr);
    EXPECT_FALSE(v.self);
  }
}

// The rest of BAD-INPUTS C1-C3, C6 and C13: spellings that resolvers accept but that are not
// strict address text, so they can never reach the guard as addresses (the request parser
// rejects them before; see ip.h).
TEST(ClassifyAddress, LenientSpellingsAreNotAddresses) {
  struct Row {
    const char* input;
    const char* why;
  };
  const Row rows[] = {
      {"127.1", "C1: two-part form"},
      {"2130706433", "C1: integer form"},
      {"0x7f000001", "C1: hex integer"},
      {"0x7f.1", "C1: hex two-part"},
      {"0177.0.0.1", "C1: octal octet"},
      {"017700000001", "C1: octal integer"},
      {"127.000.000.001", "C1: zero-padded octets"},
      {"127.0.0.01", "C1: one zero-padded octet"},
      {"0", "C2: bare zero"},
      {"2852039166", "C3: metadata as an integer"},
      {"0251.0376.0251.0376", "C3: metadata in octal"},
      {"[::1]", "C4: brackets belong to the URL, not the address"},
      {"fe80::1%25eth0", "C6: percent-encoded zone id"},
      {"fe80::1%lo", "C6: zone id"},
      {"127.0.0.1.", "C13: trailing dot"},
      {"256.0.0.1", "octet out of range"},
      {"::ffff:127.1", "embedded two-part form"},
  };
  for (const Row& row : rows) {
    EXPECT_FALSE(IpAddress::parse(row.input).has_value()) << row.input << " (" << row.why << ")";
  }
}

TEST(AddressClassName, EveryClassHasAStableKebabCaseName) {
  struct Row {
    AddressClass cls;
    const char* name;
  };
  const Row rows[] = {
      {C::kPublic, "public"},
      {C::kUnspecified, "unspecified"},
      {C::kThisNetwork, "this-network"},
      {C::kLoopback, "loopback"},
      {C::kPrivate, "private"},
      {C::kCgnat, "cgnat"},
      {C::kLinkLocal, "link-local"},
      {C::kUniqueLocal, "unique-local"},
      {C::kSiteLocal, "site-local"},
      {C::kMulticast, "multicast"},
      {C::kBroadcast, "broadcast"},
      {C::kDocumentation, "documentation"},
      {C::kBenchmarking, "benchmarking"},
      {C::kReserved, "reserved"},
      {C::kNat64Local, "nat64-local"},
  };
  std::set<std::string> seen;
  for (const Row& row : rows) {
    EXPECT_STREQ(addressClassName(row.cls), row.name);
    EXPECT_TRUE(seen.insert(row.name).second) << row.name;
  }
}

PatternEntry entry(const char* text, int line = 1, int column = 1) {
  return PatternEntry{text, SourcePos{"gatehouse.toml", line, column}};
}

AddressGuard buildGuard(std::vector<PatternEntry> allow, bool deny_private = true) {
  AddressesConfig config;
  config.deny_private = deny_private;
  config.allow = std::move(allow);
  ConfigIssues issues;
  AddressGuard guard = AddressGuard::build(config, issues);
  EXPECT_TRUE(issues.empty()) << issues.front().toString();
  return guard;
}

TEST(AddressGuard, Exemptions) {
  const AddressGuard guard =
      buildGuard({entry("127.0.0.0/8"), entry("10.1.0.0/16"), entry("10.1.2.0/24"),
                  entry("169.254.169.254"), entry("64:ff9b::7f00:0/120"), entry("fd00::/8")});
  struct Row {
    const char* address;
    bool allowed;
    const char* exemption;  // nullptr: no exemption decided
    const char* why;
  };
  const Row rows[] = {
      {"127.0.0.3", true, "127.0.0.0/8", "inside the exempt loopback range"},
      {"127.255.255.255", true, "127.0.0.0/8", "last of the exempt range"},
      {"::ffff:127.0.0.3", true, "127.0.0.0/8", "embedded address is exempt"},
      {"::127.0.0.3", true, "127.0.0.0/8", "compatible embedding is exempt"},
      {"2002:7f00:3::", true, "127.0.0.0/8", "6to4 embedding is exempt"},
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", true, "127.0.0.0/8", "Teredo embedding"},
      {"64:ff9b::7f00:5", true, "64:ff9b::7f00:0/120", "exempt as given wins over embedded"},
      {"64:ff9b::7f01:5", true, "127.0.0.0/8", "not exempt as given, embedded is"},
      {"10.0.0.1", false, nullptr, "private, no exemption covers it"},
      {"10.1.9.9", true, "10.1.0.0/16", "inside the /16 only"},
      {"10.1.2.3", true, "10.1.2.0/24", "longest exemption is reported"},
      {"::ffff:10.1.2.3", true, "10.1.2.0/24", "longest exemption, embedded"},
      {"169.254.169.254", true, "169.254.169.254", "single-address exemption"},
      {"169.254.169.253", false, nullptr, "next to the single-address exemption"},
      {"::ffff:169.254.169.254", true, "169.254.169.254", "mapped single-address exemption"},
      {"::1", false, nullptr, "an IPv4 exemption never covers IPv6 loopback"},
      {"fd12:3456::1", true, "fd00::/8", "IPv6 exemption"},
      {"fc00::1", false, nullptr, "ULA outside the exempt fd00::/8"},
      {"8.8.8.8", true, nullptr, "public: allowed without consulting exemptions"},
      {"224.0.0.1", false, nullptr, "multicast, not exempt"},
      {"0.0.0.0", false, nullptr, "unspecified, not exempt"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(row.address) + " (" + row.why + ")");
    const AddressGuard::Verdict v = guard.check(ip(row.address), 80);
    EXPECT_EQ(v.allowed, row.allowed);
    EXPECT_FALSE(v.self);
    EXPECT_EQ(v.exemption == nullptr ? std::string("(none)") : *v.exemption, str(row.exemption));
  }
}

TEST(AddressGuard, ExemptionsAndDenyPrivateFalse) {
  const AddressGuard guard =
      buildGuard({entry("224.0.0.0/24"), entry("0.0.0.0/8"), entry("255.255.255.255")},
                 /*deny_private=*/false);
  EXPECT_TRUE(guard.check(ip("10.0.0.1"), 80).allowed);
  EXPECT_EQ(guard.check(ip("10.0.0.1"), 80).exemption, nullptr);
  EXPECT_TRUE(guard.check(ip("0.1.2.3"), 80).allowed) << "this-network is exemptable";
  // Never destinations, even when an operator range covers them: 0.0.0.0 reaches local
  // listeners on Linux, and multicast/broadcast are not unicast peers.
  EXPECT_FALSE(guard.check(ip("224.0.1.1"), 80).allowed);
  EXPECT_FALSE(guard.check(ip("224.0.0.251"), 80).allowed);
  EXPECT_FALSE(guard.check(ip("0.0.0.0"), 80).allowed);
  EXPECT_FALSE(guard.check(ip("255.255.255.255"), 80).allowed);
  EXPECT_FALSE(guard.check(ip("::ffff:0.0.0.0"), 80).allowed);
}

TEST(AddressGuard, SelfEndpointsBeatExemptions) {
  AddressGuard guard = buildGuard({entry("127.0.0.0/8"), entry("::1"), entry("10.0.0.0/8")}, false);
  guard.setSelfEndpoints(
      {{ip("127.0.0.1"), 3128}, {ip("::1"), 3129}, {ip("8.8.4.4"), 8080}, {ip("10.0.0.0"), 0}});
  struct Row {
    const char* address;
    uint16_t port;
    bool allowed;
    bool self;
    const char* exemption;  // nullptr: no exemption decided
    const char* why;
  };
  const Row rows[] = {
      {"127.0.0.1", 3128, false, true, nullptr, "the proxy's own listener despite 127.0.0.0/8"},
      {"127.0.0.1", 3129, true, false, "127.0.0.0/8", "another port: the exemption applies"},
      {"127.0.0.2", 3128, true, false, "127.0.0.0/8", "another address on the same port"},
      {"::ffff:127.0.0.1", 3128, false, true, nullptr, "mapped form of the listener"},
      {"::127.0.0.1", 3128, false, true, nullptr, "compatible form of the listener"},
      {"64:ff9b::7f00:1", 3128, false, true, nullptr, "NAT64 form of the listener"},
      {"2002:7f00:1::", 3128, false, true, nullptr, "6to4 form of the listener"},
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", 3128, false, true, nullptr, "Teredo form"},
      {"::1", 3129, false, true, nullptr, "IPv6 listener despite the ::1 exemption"},
      {"::1", 3128, true, false, "::1", "the IPv4 listener's port on ::1 is another socket"},
      {"8.8.4.4", 8080, false, true, nullptr, "a public self endpoint is still self"},
      {"8.8.4.4", 443, true, false, nullptr, "same public address, other port"},
      {"::ffff:8.8.4.4", 8080, false, true, nullptr, "mapped public self endpoint"},
      {"10.0.0.0", 0, false, true, nullptr, "deny_private=false does not open self"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(row.address) + ":" + std::to_string(row.port) + " (" + row.why + ")");
    const AddressGuard::Verdict v = guard.check(ip(row.address), row.port);
    EXPECT_EQ(v.allowed, row.allowed);
    EXPECT_EQ(v.self, row.self);
    EXPECT_EQ(v.exemption == nullptr ? std::string("(none)") : *v.exemption, str(row.exemption));
  }
}

// Self endpoints are compared exactly: for a wildcard listener the server passes each local
// address, so another proxy on the same port elsewhere stays reachable (BAD-INPUTS K2).
TEST(AddressGuard, SelfEndpointsAreExact) {
  AddressGuard guard = buildGuard({entry("127.0.0.0/8")});
  guard.setSelfEndpoints({{ip("127.0.0.1"), 3128}, {ip("192.168.1.10"), 3128}});
  struct Row {
    const char* address;
    uint16_t port;
    bool allowed;
    bool self;
    const char* why;
  };
  const Row rows[] = {
      {"127.0.0.1", 3128, false, true, "listed local address"},
      {"192.168.1.10", 3128, false, true, "another listed local address (private anyway)"},
      {"8.8.8.8", 3128, true, false, "a public proxy on the same port elsewhere (K2)"},
      {"127.0.0.2", 3128, true, false, "an unlisted exempt loopback address"},
      {"0.0.0.0", 3128, false, false, "unspecified is denied as such, not as self"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(row.address) + ":" + std::to_string(row.port) + " (" + row.why + ")");
    const AddressGuard::Verdict v = guard.check(ip(row.address), row.port);
    EXPECT_EQ(v.self, row.self);
    EXPECT_EQ(v.allowed, row.allowed);
  }
}

TEST(AddressGuardBuild, InvalidEntriesAreErrorsAtTheirPosition) {
  struct Row {
    const char* text;
    const char* message_part;  // the specific reason
    const char* hint_part;
    const char* why;
  };
  const Row rows[] = {
      {"10.0.0.1/8", "host bits are set below the prefix", "\"10.0.0.0/8\"", "typo'd range"},
      {"2001:db8::1/32", "host bits are set below the prefix", "\"2001:db8::/32\"", "IPv6 typo"},
      {"10.0.0.0/33", "bad prefix length '33' (IPv4 prefixes are 0-32", "", "too long for v4"},
      {"fd00::/129", "bad prefix length '129' (IPv6 prefixes are 0-128", "", "too long for v6"},
      {"10.0.0.0/", "bad prefix length ''", "", "empty prefix"},
      {"10.0.0.0/08", "bad prefix length '08'", "", "leading zero in the prefix"},
      {"10.0.0.0/-1", "bad prefix length '-1'", "", "negative prefix"},
      {"10.0.0.0/8/8", "bad prefix length '8/8'", "", "two slashes"},
      {"10.0.0.256", "not a valid IPv4 address (octet '256' is greater than 255)", "",
       "octet out of range"},
      {"127.1", "exactly four decimal octets", "", "C1 short form"},
      {"2130706433", "exactly four decimal octets", "", "C1 integer form"},
      {"0x7f.1", "octets must be decimal numbers", "", "C1 hex form"},
      {"0177.0.0.1/8", "must not have leading zeros", "", "C1 octal form"},
      {"10..0.1", "empty octet", "", "empty octet"},
      {"2001:db8:::1", "not a valid IPv6 address", "", "three colons"},
      {"[::1]", "without brackets", "remove the brackets", "URL-style brackets"},
      {"fe80::1%eth0", "zone ids", "remove the zone id", "C6 zone id"},
      {"10.0.0.1:8080", "ports are not accepted here", "\"10.0.0.1\"", "address with a port"},
      {"localhost", "hostname; [addresses] allow accepts only CIDRs or IP addresses", "", "name"},
      {"metadata.google.internal", "accepts only CIDRs or IP addresses", "domains", "C3 name"},
      {"example.com/24", "accepts only CIDRs or IP addresses", "", "name with a prefix"},
      {"https://10.0.0.0/8", "is a URL", "", "URL-shaped entry"},
      {" 10.0.0.0/8", "whitespace", "remove the whitespace", "leading space"},
      {"", "empty entry", "", "empty string"},
  };
  int line = 10;
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string("'") + row.text + "' (" + row.why + ")");
    AddressesConfig config;
    config.allow = {entry("127.0.0.0/8", line, 5), entry(row.text, line + 1, 12)};
    ConfigIssues issues;
    const AddressGuard guard = AddressGuard::build(config, issues);
    ASSERT_EQ(issues.size(), 1u);
    const ConfigIssue& issue = issues[0];
    EXPECT_EQ(issue.severity, ConfigIssue::Severity::kError);
    EXPECT_EQ(issue.pos.file, "gatehouse.toml");
    EXPECT_EQ(issue.pos.line, line + 1);
    EXPECT_EQ(issue.pos.column, 12);
    if (row.text[0] != '\0') {
      EXPECT_NE(issue.message.find(std::string("'") + row.text + "'"), std::string::npos)
          << issue.message;
    }
    EXPECT_NE(issue.message.find(row.message_part), std::string::npos) << issue.message;
    EXPECT_NE(issue.hint.find(row.hint_part), std::string::npos) << issue.hint;
    EXPECT_FALSE(issue.hint.empty());
    // The valid entry next to it still works.
    EXPECT_TRUE(guard.check(ip("127.0.0.9"), 80).allowed);
    line += 2;
  }
}

TEST(AddressGuardBuild, ReportsEveryErrorAndKeepsTheValidEntries) {
  AddressesConfig config;
  config.allow = {entry("10.0.0.1/8", 3, 11), entry("127.0.0.0/8", 3, 25),
                  entry("localhost", 4, 11), entry("::1", 4, 24), entry("fd00::/7", 5, 11)};
  ConfigIssues issues;
  const AddressGuard guard = AddressGuard::build(config, issues);
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_TRUE(hasErrors(issues));
  EXPECT_EQ(issues[0].toString(),
            "gatehouse.toml:3:11: error: '10.0.0.1/8' is not a valid CIDR: host bits are set "
            "below the prefix (write \"10.0.0.0/8\" for the whole range or \"10.0.0.1\" for the "
            "single address)");
  EXPECT_EQ(issues[1].pos.toString(), "gatehouse.toml:4:11");
  EXPECT_NE(issues[1].message.find("'localhost' is a hostname"), std::string::npos);
  EXPECT_EQ(issues[2].pos.toString(), "gatehouse.toml:5:11");
  EXPECT_NE(issues[2].message.find("host bits"), std::string::npos);
  EXPECT_NE(issues[2].hint.find("\"fc00::/7\""), std::string::npos);

  EXPECT_TRUE(guard.check(ip("127.0.0.1"), 80).allowed);
  EXPECT_TRUE(guard.check(ip("::1"), 80).allowed);
  EXPECT_FALSE(guard.check(ip("10.0.0.1"), 80).allowed) << "invalid entries are left out";
  EXPECT_FALSE(guard.check(ip("fd00::1"), 80).allowed) << "invalid entries are left out";
}

TEST(AddressGuardBuild, DuplicateRangeIsAWarningAndTheFirstEntryDecides) {
  AddressesConfig config;
  config.allow = {entry("127.0.0.1", 2, 3), entry("127.0.0.1/32", 2, 16)};
  ConfigIssues issues;
  const AddressGuard guard = AddressGuard::build(config, issues);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_FALSE(hasErrors(issues));
  EXPECT_EQ(issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(issues[0].pos.column, 16);
  EXPECT_NE(issues[0].message.find("127.0.0.1/32"), std::string::npos);
  const AddressGuard::Verdict v = guard.check(ip("127.0.0.1"), 80);
  EXPECT_TRUE(v.allowed);
  ASSERT_NE(v.exemption, nullptr);
  EXPECT_EQ(*v.exemption, "127.0.0.1");
}

}  // namespace
}  // namespace gatehouse::policy
