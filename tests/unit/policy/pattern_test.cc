// The host pattern grammar (SPEC §2): what parses, what it matches, and the config errors with
// their hints (BAD-INPUTS B4-B7, B15).
#include "policy/pattern.h"

#include <gtest/gtest.h>

namespace gatehouse::policy {
namespace {

struct ParseRow {
  std::string text;
  bool ok;
  Pattern::Kind kind;
  std::string name_or_cidr;  // base name, or CIDR text
  uint16_t port;
  std::string error_fragment;  // for rejected entries: part of the message
  int offset;                  // for rejected entries: where the problem is (-1: don't check)
  const char* why;
};

class PatternParseTable : public ::testing::TestWithParam<ParseRow> {};

TEST_P(PatternParseTable, Parses) {
  const ParseRow& r = GetParam();
  PatternParse p = parsePattern(r.text);
  ASSERT_EQ(p.ok(), r.ok) << r.why << ": " << p.error;
  if (r.ok) {
    EXPECT_EQ(p.pattern->kind, r.kind) << r.why;
    if (r.kind == Pattern::Kind::kCidr) {
      EXPECT_EQ(p.pattern->cidr.toString(), r.name_or_cidr) << r.why;
    } else {
      EXPECT_EQ(p.pattern->name, r.name_or_cidr) << r.why;
    }
    EXPECT_EQ(p.pattern->port, r.port) << r.why;
    EXPECT_EQ(p.pattern->text, r.text);
  } else {
    EXPECT_NE(p.error.find(r.error_fragment), std::string::npos)
        << r.why << ": message was: " << p.error;
    EXPECT_FALSE(p.hint.empty()) << r.why << ": every error says how to fix it";
    if (r.offset >= 0) {
      EXPECT_EQ(p.offset, r.offset) << r.why;
    }
  }
}

using K = Pattern::Kind;
const ParseRow kParseRows[] = {
    {"example.com", true, K::kExact, "example.com", 0, "", 0, "exact"},
    {"*.example.com", true, K::kSubdomains, "example.com", 0, "", 0, "subdomains"},
    {"**.example.com", true, K::kApexAndSubdomains, "example.com", 0, "", 0, "apex+subdomains"},
    {"example.com:8443", true, K::kExact, "example.com", 8443, "", 0, "port"},
    {"*.example.com:443", true, K::kSubdomains, "example.com", 443, "", 0, "wildcard+port"},
    {"*.api.aws", true, K::kSubdomains, "api.aws", 0, "", 0, "two-label base"},
    {"foo_bar.example.com", true, K::kExact, "foo_bar.example.com", 0, "", 0, "underscore"},
    {"xn--bcher-kva.example", true, K::kExact, "xn--bcher-kva.example", 0, "", 0, "punycode"},
    {"localhost", true, K::kExact, "localhost", 0, "", 0, "single-label exact"},
    {"10.0.0.0/8", true, K::kCidr, "10.0.0.0/8", 0, "", 0, "IPv4 CIDR"},
    {"192.0.2.7", true, K::kCidr, "192.0.2.7/32", 0, "", 0, "single IPv4"},
    {"192.0.2.7:443", true, K::kCidr, "192.0.2.7/32", 443, "", 0, "IPv4 with port"},
    {"10.0.0.0/8:443", true, K::kCidr, "10.0.0.0/8", 443, "", 0, "CIDR with port"},
    {"2001:db8::/32", true, K::kCidr, "2001:db8::/32", 0, "", 0, "IPv6 CIDR"},
    {"2001:db8::7", true, K::kCidr, "2001:db8::7/128", 0, "", 0, "single IPv6"},
    {"[2001:db8::7]:443", true, K::kCidr, "2001:db8::7/128", 443, "", 0, "bracketed with port"},
    {"[2001:db8::7]", true, K::kCidr, "2001:db8::7/128", 0, "", 0, "bracketed"},
    // B15 and SPEC §2 config errors.
    {"*", false, K::kExact, "", 0, "every host", -1, "B15 bare star"},
    {"**", false, K::kExact, "", 0, "every host", -1, "B15 double star"},
    {"*.", false, K::kExact, "", 0, "nothing after the wildcard", 2, "B15 star dot"},
    {"*.com", false, K::kExact, "", 0, "top-level domain", -1, "wildcard over a TLD"},
    {"**.com", false, K::kExact, "", 0, "top-level domain", -1, "apex wildcard over a TLD"},
    {"*.*.example.com", false, K::kExact, "", 0, "may only start", 2, "B15 double wildcard"},
    {"a.*.example.com", false, K::kExact, "", 0, "may only start", 2, "B15 inner star"},
    {"*example.com", false, K::kExact, "", 0, "may only start", 0, "B15 star without dot"},
    {"*x.test", false, K::kExact, "", 0, "may only start", 0, "B15 partial-label star"},
    {"***.example.com", false, K::kExact, "", 0, "may only start", 0, "triple star"},
    {"example.*", false, K::kExact, "", 0, "may only start", 8, "trailing star"},
    {"Example.com", false, K::kExact, "", 0, "lowercase", 0, "B15 uppercase"},
    {"*.EXAMPLE.com", false, K::kExact, "", 0, "lowercase", 2, "uppercase after wildcard"},
    {"b\xc3\xbc"
     "cher.example",
     false, K::kExact, "", 0, "non-ASCII", 1, "B15 unicode"},
    {"https://example.com/", false, K::kExact, "", 0, "looks like a URL", 5, "URL-shaped"},
    {"example.com/path", false, K::kExact, "", 0, "path", 11, "path"},
    {"example..com", false, K::kExact, "", 0, "empty label", -1, "empty label"},
    {".example.com", false, K::kExact, "", 0, "empty label", -1, "leading dot"},
    {"example.com.", false, K::kExact, "", 0, "ends with a dot", 11, "trailing dot"},
    {"", false, K::kExact, "", 0, "empty entry", 0, "empty"},
    {" example.com", false, K::kExact, "", 0, "whitespace", 0, "leading space"},
    {"example.com:0", false, K::kExact, "", 0, "bad port", 12, "port 0"},
    {"example.com:65536", false, K::kExact, "", 0, "bad port", 12, "port too large"},
    {"example.com:+80", false, K::kExact, "", 0, "bad port", 12, "signed port"},
    {"example.com:080", false, K::kExact, "", 0, "bad port", 12, "leading zero port"},
    {"example.com:", false, K::kExact, "", 0, "bad port", 12, "empty port"},
    {"10.0.0.1/8", false, K::kExact, "", 0, "host bits", -1, "host bits set"},
    {"10.0.0.0/99999999999", false, K::kExact, "", 0, "not a valid IPv4", -1, "huge prefix"},
    {"10.0.0.1/8/8", false, K::kExact, "", 0, "not a valid IPv4", -1, "two slashes"},
    {"10.0.0.0/33", false, K::kExact, "", 0, "not a valid IPv4", -1, "prefix too long"},
    {"0177.0.0.1", false, K::kExact, "", 0, "not a valid IPv4", -1, "octal"},
    {"127.1", false, K::kExact, "", 0, "not a valid IPv4", -1, "short form"},
    {"2001:db8::/129", false, K::kExact, "", 0, "IPv6", -1, "v6 prefix too long"},
    {"[example.com]:443", false, K::kExact, "", 0, "IPv6", 1, "bracketed name"},
    {"[2001:db8::7]:", false, K::kExact, "", 0, "bad port", -1, "bracketed, empty port"},
    {"*.192.0.2.7", false, K::kExact, "", 0, "", -1, "wildcard over an IP"},
    {"example.123", false, K::kExact, "", 0, "ends in a number", -1, "numeric last label"},
};

INSTANTIATE_TEST_SUITE_P(Rows, PatternParseTable, ::testing::ValuesIn(kParseRows));

struct MatchRow {
  std::string pattern;
  std::string host;
  uint16_t port;
  bool matches;
  const char* why;
};

class PatternMatchTable : public ::testing::TestWithParam<MatchRow> {};

TEST_P(PatternMatchTable, Matches) {
  const MatchRow& r = GetParam();
  PatternParse p = parsePattern(r.pattern);
  ASSERT_TRUE(p.ok()) << p.error;
  HostParse h = canonicalizeHost(r.host);
  ASSERT_TRUE(h.ok()) << r.host;
  EXPECT_EQ(p.pattern->matches(*h.host, r.port), r.matches) << r.why;
}

const MatchRow kMatchRows[] = {
    {"example.com", "example.com", 443, true, "exact"},
    {"example.com", "www.example.com", 443, false, "exact excludes subdomains"},
    {"example.com", "example.com.evil.io", 443, false, "suffix confusion"},
    {"example.com", "EXAMPLE.COM.", 443, true, "B1/B2 canonical input"},
    {"*.example.com", "a.example.com", 443, true, "one level"},
    {"*.example.com", "a.b.c.example.com", 443, true, "B7 any depth"},
    {"*.example.com", "example.com", 443, false, "B4 wildcard excludes the apex"},
    {"*.example.com", "badexample.com", 443, false, "B5 label boundary"},
    {"*.example.com", "xexample.com", 443, false, "B5 label boundary"},
    {"*.example.com", "example.com.evil.test", 443, false, "B6 suffix confusion"},
    {"**.example.com", "example.com", 443, true, "apex"},
    {"**.example.com", "deep.sub.example.com", 443, true, "deep"},
    {"**.example.com", "badexample.com", 443, false, "label boundary"},
    {"example.com:8443", "example.com", 8443, true, "port match"},
    {"example.com:8443", "example.com", 443, false, "other port"},
    {"10.0.0.0/8", "10.1.2.3", 80, true, "CIDR"},
    {"10.0.0.0/8", "11.0.0.1", 80, false, "outside CIDR"},
    {"10.0.0.0/8", "[::ffff:10.0.0.1]", 80, false, "families never mix"},
    {"192.0.2.7", "192.0.2.7", 80, true, "single address"},
    {"2001:db8::/32", "[2001:db8::1]", 443, true, "IPv6 CIDR"},
    {"example.com", "127.0.0.1", 80, false, "names never match IPs"},
    {"*.api.test", "xn--pi-7kc.test", 443, false, "B9 homograph is another name"},
    {"*.api.test", "foo_bar.api.test", 443, true, "B10 underscore label"},
};

INSTANTIATE_TEST_SUITE_P(Rows, PatternMatchTable, ::testing::ValuesIn(kMatchRows));

TEST(Pattern, CoveredBy) {
  auto p = [](const char* t) { return *parsePattern(t).pattern; };
  EXPECT_TRUE(p("a.example.com").coveredBy(p("*.example.com")));
  EXPECT_TRUE(p("*.a.example.com").coveredBy(p("*.example.com")));
  EXPECT_TRUE(p("*.example.com").coveredBy(p("**.example.com")));
  EXPECT_TRUE(p("example.com").coveredBy(p("**.example.com")));
  EXPECT_FALSE(p("example.com").coveredBy(p("*.example.com")));
  EXPECT_FALSE(p("**.example.com").coveredBy(p("*.example.com")));
  EXPECT_FALSE(p("*.example.com").coveredBy(p("a.example.com")));
  EXPECT_TRUE(p("example.com:443").coveredBy(p("example.com")));
  EXPECT_FALSE(p("example.com").coveredBy(p("example.com:443")));
  EXPECT_TRUE(p("10.1.0.0/16").coveredBy(p("10.0.0.0/8")));
  EXPECT_FALSE(p("10.0.0.0/8").coveredBy(p("10.1.0.0/16")));
  EXPECT_FALSE(p("10.0.0.0/8").coveredBy(p("example.com")));
}

TEST(Pattern, IssuePointsInsideTheString) {
  PatternEntry entry{"a.*.example.com", SourcePos{"gatehouse.toml", 7, 12}};
  ConfigIssue issue = patternIssue(entry, parsePattern(entry.text), "[environment] domains");
  EXPECT_EQ(issue.severity, ConfigIssue::Severity::kError);
  EXPECT_EQ(issue.pos.toString(), "gatehouse.toml:7:15");  // quote at 12, '*' at offset 2
  EXPECT_NE(issue.message.find("[environment] domains"), std::string::npos);
  EXPECT_NE(issue.toString().find("gatehouse.toml:7:15: error: "), std::string::npos);
}

TEST(Pattern, UppercaseHintShowsTheFix) {
  PatternParse p = parsePattern("*.GitHub.com");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.hint.find("'*.github.com'"), std::string::npos) << p.hint;
}

}  // namespace
}  // namespace gatehouse::policy
