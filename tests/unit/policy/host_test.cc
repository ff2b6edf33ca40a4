// Host canonicalisation: one row per input, with the reason it matters (BAD-INPUTS B, C).
#include "policy/host.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::policy {
namespace {

struct HostRow {
  std::string input;
  HostError error;        // kNone when valid
  Host::Kind kind;        // when valid
  std::string canonical;  // when valid
  const char* why;
};

class HostTable : public ::testing::TestWithParam<HostRow> {};

TEST_P(HostTable, Canonicalises) {
  const HostRow& row = GetParam();
  HostParse p = canonicalizeHost(row.input);
  if (row.error == HostError::kNone) {
    ASSERT_TRUE(p.ok()) << row.why << ": got " << hostErrorCode(p.error);
    EXPECT_EQ(p.host->kind, row.kind) << row.why;
    EXPECT_EQ(p.host->text, row.canonical) << row.why;
  } else {
    EXPECT_FALSE(p.ok()) << row.why << ": accepted as " << (p.ok() ? p.host->text : "");
    EXPECT_EQ(p.error, row.error) << row.why << ": got " << hostErrorCode(p.error);
  }
}

using K = Host::Kind;
using E = HostError;
const std::string k63(63, 'a');
const std::string k64(64, 'a');
// 4 labels of 63 + 3 dots = 255; trim to exact lengths below.
const std::string k253 = k63 + "." + k63 + "." + k63 + "." + std::string(61, 'b');
const std::string k254 = k63 + "." + k63 + "." + k63 + "." + std::string(62, 'b');

const HostRow kRows[] = {
    {"allowed.test", E::kNone, K::kName, "allowed.test", "plain name"},
    {"ALLOWED.TEST", E::kNone, K::kName, "allowed.test", "B1 case-insensitive"},
    {"Api.Test", E::kNone, K::kName, "api.test", "B1 mixed case"},
    {"allowed.test.", E::kNone, K::kName, "allowed.test", "B2 one trailing dot is the same name"},
    {"allowed.test..", E::kEmptyLabel, K::kName, "", "B3 two trailing dots"},
    {"allowed..test", E::kEmptyLabel, K::kName, "", "B3 empty label"},
    {".allowed.test", E::kEmptyLabel, K::kName, "", "B3 leading dot"},
    {".", E::kEmptyLabel, K::kName, "", "root only"},
    {"", E::kEmpty, K::kName, "", "empty"},
    {"localhost", E::kNone, K::kName, "localhost", "single label is a name"},
    {"foo_bar.api.test", E::kNone, K::kName, "foo_bar.api.test", "B10 underscore allowed"},
    {"xn--pi-7kc.test", E::kNone, K::kName, "xn--pi-7kc.test", "B9 punycode is a distinct name"},
    {"-lead.test", E::kNone, K::kName, "-lead.test", "hyphens anywhere are consistent"},
    {"\xd0\xb0pi.test", E::kNonAscii, K::kName, "", "B8 Cyrillic a"},
    {"allowed\xe3\x80\x82test", E::kNonAscii, K::kName, "", "B8 ideographic full stop"},
    {"\xef\xbd\x81llowed.test", E::kNonAscii, K::kName, "", "B8 fullwidth a"},
    {"\xe2\x93\x90llowed.test", E::kNonAscii, K::kName, "", "B8 enclosed alphanumeric"},
    {"%61llowed.test", E::kPercentEncoded, K::kName, "", "A9 percent-encoded"},
    {"allowed.test%00.evil.test", E::kPercentEncoded, K::kName, "", "B12 %00"},
    {std::string("allowed.test\0.evil.test", 23), E::kInvalidChar, K::kName, "", "B12 NUL"},
    {"allowed.test\r\n.evil.test", E::kInvalidChar, K::kName, "", "B12 CR LF"},
    {"allowed.test@evil.test", E::kInvalidChar, K::kName, "", "A7 userinfo separator"},
    {"evil.test\\allowed.test", E::kInvalidChar, K::kName, "", "A8 backslash"},
    {"allowed.test:80", E::kInvalidChar, K::kName, "", "ports are not part of a host"},
    {"a b.test", E::kInvalidChar, K::kName, "", "space"},
    {k63 + ".test", E::kNone, K::kName, k63 + ".test", "B11 63-octet label"},
    {k64 + ".test", E::kLabelTooLong, K::kName, "", "B11 64-octet label"},
    {k253, E::kNone, K::kName, k253, "B11 253-octet name"},
    {k253 + ".", E::kNone, K::kName, k253, "B11 253 octets plus trailing dot"},
    {k254, E::kNameTooLong, K::kName, "", "B11 254-octet name"},
    // IPv4: only dotted-quad decimal.
    {"127.0.0.1", E::kNone, K::kIpv4, "127.0.0.1", "C1 dotted quad"},
    {"0.0.0.0", E::kNone, K::kIpv4, "0.0.0.0", "C2 unspecified is an address (guard denies)"},
    {"169.254.169.254", E::kNone, K::kIpv4, "169.254.169.254", "C3 metadata"},
    {"127.1", E::kNumericName, K::kName, "", "C1 short form"},
    {"2130706433", E::kNumericName, K::kName, "", "C1 decimal integer"},
    {"0x7f000001", E::kNumericName, K::kName, "", "C1 hex integer"},
    {"0x7f.1", E::kNumericName, K::kName, "", "C1 hex short form"},
    {"0177.0.0.1", E::kNumericName, K::kName, "", "C1 octal"},
    {"017700000001", E::kNumericName, K::kName, "", "C1 octal integer"},
    {"127.000.000.001", E::kNumericName, K::kName, "", "C1 zero-padded"},
    {"127.0.0.01", E::kNumericName, K::kName, "", "C1 zero-padded last octet"},
    {"2852039166", E::kNumericName, K::kName, "", "C3 metadata as integer"},
    {"0251.0376.0251.0376", E::kNumericName, K::kName, "", "C3 metadata in octal"},
    {"0", E::kNumericName, K::kName, "", "C2 bare zero"},
    {"256.1.1.1", E::kNumericName, K::kName, "", "octet out of range"},
    {"1.2.3.4.5", E::kNumericName, K::kName, "", "five numeric labels"},
    {"example.123", E::kNumericName, K::kName, "", "name ending in a number"},
    {"example.0x1f", E::kNumericName, K::kName, "", "name ending in a hex number"},
    {"example.0x", E::kNumericName, K::kName, "", "WHATWG: bare 0x ends in a number"},
    {"1.example", E::kNone, K::kName, "1.example", "leading numeric label is fine"},
    {"123abc.test", E::kNone, K::kName, "123abc.test", "digits inside a name"},
    {"example.1a", E::kNone, K::kName, "example.1a", "last label not all digits"},
    {"127.0.0.1.", E::kTrailingDotIp, K::kName, "", "C13 trailing-dot IPv4"},
    // IPv6: bracketed only.
    {"[::1]", E::kNone, K::kIpv6, "::1", "C4 loopback"},
    {"[0:0:0:0:0:0:0:1]", E::kNone, K::kIpv6, "::1", "C4 long form canonicalised"},
    {"[::]", E::kNone, K::kIpv6, "::", "C4 unspecified"},
    {"[::ffff:127.0.0.1]", E::kNone, K::kIpv6, "::ffff:127.0.0.1", "C4 mapped (RFC 5952 §5)"},
    {"[0:0:0:0:0:ffff:7f00:1]", E::kNone, K::kIpv6, "::ffff:127.0.0.1", "C4 mapped in hex"},
    {"[2001:DB8::1]", E::kNone, K::kIpv6, "2001:db8::1", "uppercase hex"},
    {"[fe80::1%25eth0]", E::kZoneId, K::kName, "", "C6 zone id"},
    {"[fe80::1%lo]", E::kZoneId, K::kName, "", "C6 zone id raw"},
    {"fe80::1%lo", E::kPercentEncoded, K::kName, "", "C6 unbracketed with zone"},
    {"::1", E::kInvalidChar, K::kName, "", "IPv6 must be bracketed"},
    {"[allowed.test]", E::kBadBrackets, K::kName, "", "B13 bracketed name"},
    {"[127.0.0.1]", E::kBadBrackets, K::kName, "", "bracketed IPv4"},
    {"[::1", E::kBadBrackets, K::kName, "", "unclosed bracket"},
    {"[::g]", E::kBadIpv6, K::kName, "", "bad hex"},
    {"[1:2:3:4:5:6:7:8:9]", E::kBadIpv6, K::kName, "", "nine groups"},
    {"[1::2::3]", E::kBadIpv6, K::kName, "", "two double colons"},
    {"[12345::]", E::kBadIpv6, K::kName, "", "five hex digits"},
    {"[::ffff:127.0.0.01]", E::kBadIpv6, K::kName, "", "zero-padded embedded quad"},
};

INSTANTIATE_TEST_SUITE_P(Rows, HostTable, ::testing::ValuesIn(kRows));

TEST(Host, AuthorityFormBracketsIpv6Only) {
  EXPECT_EQ(canonicalizeHost("[2001:db8::1]").host->authorityForm(), "[2001:db8::1]");
  EXPECT_EQ(canonicalizeHost("192.0.2.7").host->authorityForm(), "192.0.2.7");
  EXPECT_EQ(canonicalizeHost("Example.COM.").host->authorityForm(), "example.com");
}

TEST(Host, EveryErrorHasCodeAndMessage) {
  for (int e = 0; e <= static_cast<int>(HostError::kZoneId); ++e) {
    auto err = static_cast<HostError>(e);
    EXPECT_STRNE(hostErrorCode(err), "") << e;
    EXPECT_GT(std::string(hostErrorMessage(err)).size(), 8u) << e;
  }
}

}  // namespace
}  // namespace gatehouse::policy

namespace gatehouse::policy {
namespace {

TEST(Host, ParsePortIsOneGrammarForEveryPort) {
  const std::pair<const char*, int> rows[] = {
      {"1", 1},    {"80", 80},    {"443", 443},  {"65535", 65535}, {"0", -1},   {"00", -1},
      {"080", -1}, {"65536", -1}, {"99999", -1}, {"123456", -1},   {"+80", -1}, {"-1", -1},
      {"", -1},    {"8o", -1},    {" 80", -1},   {"80 ", -1},
  };
  for (const auto& [text, want] : rows) {
    std::optional<uint16_t> got = parsePort(text);
    if (want < 0) {
      EXPECT_FALSE(got.has_value()) << '"' << text << '"';
    } else {
      ASSERT_TRUE(got.has_value()) << text;
      EXPECT_EQ(*got, want) << text;
    }
  }
}

// Canonical output is a fixed point: matcher, resolver, SNI check and logs agree on one form.
TEST(Host, CanonicalFormIsAFixedPoint) {
  for (const char* raw : {"Api.Example.COM.", "[0:0:0:0:0:FFFF:7F00:1]", "192.0.2.7", "a_b.test"}) {
    HostParse once = canonicalizeHost(raw);
    ASSERT_TRUE(once.ok()) << raw;
    HostParse twice = canonicalizeHost(once.host->authorityForm());
    ASSERT_TRUE(twice.ok()) << raw;
    EXPECT_EQ(twice.host->text, once.host->text);
    EXPECT_EQ(twice.host->kind, once.host->kind);
  }
}

}  // namespace
}  // namespace gatehouse::policy
