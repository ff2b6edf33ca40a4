// Request-target parsing (proxy/http/target.h): one row per input with the reason it matters.
// Row ids refer to ../shared/BAD-INPUTS.md (groups A, B, C, E3); "ok" rows are ordinary
// requests that must keep working.
#include "proxy/http/target.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/host.h"
#include "tests/unit/test_text.h"

namespace gatehouse::http {
namespace {

using testing_text::paramName;
using testing_text::printable;

using policy::Host;
using policy::HostError;
using K = Host::Kind;
using E = TargetError;
using H = HostError;

enum class Form : uint8_t {
  kAbsolute,       // parseAbsoluteForm, default options (the proxy listener)
  kAbsoluteHttps,  // parseAbsoluteForm with allow_https (the explain CLI)
  kAuthority,      // parseAuthorityForm (CONNECT)
};

const char* formName(Form form) {
  switch (form) {
    case Form::kAbsolute:
      return "absolute-form";
    case Form::kAbsoluteHttps:
      return "absolute-form+https";
    case Form::kAuthority:
      return "CONNECT";
  }
  return "?";
}

TargetParse parse(Form form, std::string_view input) {
  switch (form) {
    case Form::kAbsolute:
      return parseAbsoluteForm(input);
    case Form::kAbsoluteHttps:
      return parseAbsoluteForm(input, AbsoluteFormOptions{.allow_https = true});
    case Form::kAuthority:
      return parseAuthorityForm(input);
  }
  return {};
}

std::string describe(const TargetParse& p) {
  if (p.ok()) {
    return "accepted: host " + p.target->host.text + " port " + std::to_string(p.target->port) +
           " path \"" + p.target->path + "\"";
  }
  return "refused: " + p.message() + " (host error " + policy::hostErrorCode(p.host_error) + ")";
}

// Names of exact lengths for the RFC 1035 boundaries (B11).
const std::string k63(63, 'a');
const std::string k64(64, 'a');
const std::string k253 = k63 + "." + k63 + "." + k63 + "." + std::string(61, 'b');
const std::string k254 = k63 + "." + k63 + "." + k63 + "." + std::string(62, 'b');

// ---------------------------------------------------------------------------------------------
// Refused targets: the exact TargetError, and the HostError when the error is kBadHost.

struct RefusedRow {
  const char* id;
  Form form;
  std::string input;
  TargetError error;
  const char* why;
  HostError host_error = HostError::kNone;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const RefusedRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " " << formName(row.form) << " \"" << printable(row.input) << "\"";
}

std::vector<RefusedRow> refusedRows() {
  using F = Form;
  return {
      // Forms the proxy listener never forwards.
      {"A4", F::kAbsolute, "/", E::kNotAbsolute, "origin-form on the proxy listener"},
      {"A4", F::kAbsolute, "/x?y=1", E::kNotAbsolute, "origin-form with a query"},
      {"A5", F::kAbsolute, "*", E::kNotAbsolute, "asterisk-form (GET * / OPTIONS *)"},
      {"A5", F::kAuthority, "*", E::kMissingPort, "CONNECT * is not host:port"},
      {"A5", F::kAuthority, "*:443", E::kBadHost, "'*' is not a host", H::kInvalidChar},
      {"A6", F::kAbsolute, "allowed.test:80", E::kUnsupportedScheme,
       "authority-form with GET reads as scheme \"allowed.test\"; never forwarded"},
      {"A6", F::kAbsolute, "allowed.test", E::kNotAbsolute, "bare host is not absolute-form"},
      {"empty", F::kAbsolute, "", E::kEmpty, "empty target"},
      {"empty", F::kAuthority, "", E::kEmpty, "empty CONNECT target"},

      // A7: userinfo must never let "allowed.test" be matched while evil.test is dialed.
      {"A7", F::kAbsolute, "http://allowed.test@evil.test/", E::kUserinfo,
       "WHATWG dials evil.test"},
      {"A7", F::kAbsolute, "http://allowed.test:80@evil.test/", E::kUserinfo,
       "userinfo that looks like host:port"},
      {"A7", F::kAbsolute, "http://allowed.test%2f@evil.test/", E::kUserinfo,
       "encoded slash inside userinfo"},
      {"A7", F::kAbsolute, "http://u:p@allowed.test/", E::kUserinfo,
       "credentials even for an allowed host"},
      {"A7", F::kAbsolute, "http://@allowed.test/", E::kUserinfo, "empty userinfo"},
      {"A7", F::kAbsoluteHttps, "https://allowed.test@evil.test/", E::kUserinfo,
       "userinfo refused with https too"},

      // A8: delimiters that parsers split differently.
      {"A8", F::kAbsolute, "http://evil.test\\@allowed.test/", E::kBackslash,
       "WHATWG reads '\\' as '/' and dials evil.test"},
      {"A8", F::kAbsolute, "http://evil.test#@allowed.test/", E::kFragment,
       "WHATWG ends the authority at '#'"},
      {"A8", F::kAbsolute, "http://evil.test?@allowed.test/", E::kUserinfo,
       "WHATWG ends the authority at '?'; others read userinfo"},
      {"A8", F::kAbsolute, "http://evil.test?x/@allowed.test/", E::kUserinfo,
       "'@' anywhere in a query that directly follows the authority"},
      {"A8", F::kAbsolute, "http://1.1.1.1 &@2.2.2.2# @3.3.3.3/", E::kBadByte,
       "Orange Tsai's three-host URL: the space is refused first"},
      {"A8", F::kAbsolute, "http://1.1.1.1&@2.2.2.2#@3.3.3.3/", E::kFragment,
       "the same URL without spaces: '#' is refused"},
      {"A8", F::kAbsolute, "http:\\\\allowed.test/", E::kBackslash, "backslashes for slashes"},
      {"A8", F::kAbsolute, "http://allowed.test/a\\b", E::kBackslash, "backslash in the path"},

      // A9: no decoding of reg-name.
      {"A9", F::kAbsolute, "http://%61llowed.test/", E::kBadHost, "WHATWG decodes to allowed.test",
       H::kPercentEncoded},
      {"A9", F::kAuthority, "%61llowed.test:443", E::kBadHost, "same in CONNECT",
       H::kPercentEncoded},

      // A10: only http on the proxy listener; https only with the option.
      {"A10", F::kAbsolute, "https://allowed.test/", E::kUnsupportedScheme,
       "https on the plain listener would originate TLS"},
      {"A10", F::kAbsolute, "HTTPS://allowed.test/", E::kUnsupportedScheme,
       "uppercase https on the plain listener"},
      {"A10", F::kAbsolute, "ftp://allowed.test/", E::kUnsupportedScheme, "ftp"},
      {"A10", F::kAbsolute, "gopher://allowed.test:70/_GET%20/", E::kUnsupportedScheme,
       "gopher payloads"},
      {"A10", F::kAbsolute, "file:///etc/passwd", E::kUnsupportedScheme, "file"},
      {"A10", F::kAbsolute, "ws://allowed.test/", E::kUnsupportedScheme, "websocket scheme"},
      {"A10", F::kAbsolute, "httpx://allowed.test/", E::kUnsupportedScheme,
       "scheme with http as a prefix"},
      {"A10", F::kAbsolute, "xhttp://allowed.test/", E::kUnsupportedScheme,
       "scheme with http as a suffix"},
      {"A10", F::kAbsolute, "://allowed.test/", E::kUnsupportedScheme, "empty scheme"},
      {"A10", F::kAbsolute, "http:/allowed.test/", E::kUnsupportedScheme, "one slash"},
      {"A10", F::kAbsolute, "http:allowed.test", E::kUnsupportedScheme, "no slashes"},
      {"A10", F::kAbsoluteHttps, "ftp://allowed.test/", E::kUnsupportedScheme,
       "allow_https admits https only"},
      {"A10", F::kAbsoluteHttps, "httpss://allowed.test/", E::kUnsupportedScheme,
       "scheme with https as a prefix"},

      // A12: fragments.
      {"A12", F::kAbsolute, "http://allowed.test/#x", E::kFragment, "fragment in the path"},
      {"A12", F::kAbsolute, "http://allowed.test/a?b#", E::kFragment, "empty fragment"},
      {"A12", F::kAbsolute, "http://allowed.test#/", E::kFragment, "'#' right after the host"},
      {"A12", F::kAuthority, "allowed.test:443#x", E::kFragment, "'#' in CONNECT"},

      // A19: empty authority.
      {"A19", F::kAbsolute, "http:///", E::kEmptyHost, "WHATWG skips the extra slash"},
      {"A19", F::kAbsolute, "http:///allowed.test/", E::kEmptyHost,
       "WHATWG would read allowed.test as the host"},
      {"A19", F::kAbsolute, "http://:80/", E::kEmptyHost, "port without host"},
      {"A19", F::kAbsolute, "http://", E::kEmptyHost, "nothing after the scheme"},
      {"A19", F::kAbsolute, "http://?x", E::kEmptyHost, "query without host"},
      {"A19", F::kAuthority, ":443", E::kEmptyHost, "CONNECT :443"},
      {"A19", F::kAuthority, ":", E::kEmptyHost, "CONNECT :"},

      // B3: empty labels.
      {"B3", F::kAbsolute, "http://allowed..test/", E::kBadHost, "two dots in a row",
       H::kEmptyLabel},
      {"B3", F::kAbsolute, "http://.allowed.test/", E::kBadHost, "leading dot", H::kEmptyLabel},
      {"B3", F::kAbsolute, "http://allowed.test../", E::kBadHost, "two trailing dots",
       H::kEmptyLabel},
      {"B3", F::kAbsolute, "http://./", E::kBadHost, "root only", H::kEmptyLabel},
      {"B3", F::kAuthority, "allowed..test:443", E::kBadHost, "empty label in CONNECT",
       H::kEmptyLabel},
      {"B3", F::kAuthority, ".:443", E::kBadHost, "root only in CONNECT", H::kEmptyLabel},

      // B8: raw non-ASCII hosts are refused before host parsing.
      {"B8", F::kAbsolute, "http://\xd0\xb0pi.test/", E::kBadByte, "Cyrillic a (homograph)"},
      {"B8", F::kAbsolute,
       "http://\xe2\x93\x90\xe2\x93\x9b\xe2\x93\x9b\xe2\x93\x9e\xe2\x93\xa6"
       "\xe2\x93\x94\xe2\x93\x93.test/",
       E::kBadByte, "enclosed alphanumerics that WHATWG maps to allowed"},
      {"B8", F::kAbsolute, "http://allowed\xe3\x80\x82test/", E::kBadByte,
       "ideographic full stop that WHATWG maps to '.'"},
      {"B8", F::kAbsolute, "http://\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x8clowed.test/", E::kBadByte,
       "fullwidth letters that WHATWG maps to ASCII"},
      {"B8", F::kAuthority, "\xd0\xb0pi.test:443", E::kBadByte, "Cyrillic a in CONNECT"},
      {"B8", F::kAuthority, "allowed\xe3\x80\x82test:443", E::kBadByte,
       "ideographic full stop in CONNECT"},

      // B11: RFC 1035 limits, exact boundaries (the accepted side is in the accepted table).
      {"B11", F::kAbsolute, "http://" + k64 + ".test/", E::kBadHost, "64-octet label",
       H::kLabelTooLong},
      {"B11", F::kAbsolute, "http://" + k254 + "/", E::kBadHost, "254-octet name", H::kNameTooLong},
      {"B11", F::kAbsolute, "http://" + k254 + "./", E::kBadHost,
       "254 octets stay too long with a trailing dot", H::kNameTooLong},
      {"B11", F::kAuthority, k64 + ".test:443", E::kBadHost, "64-octet label in CONNECT",
       H::kLabelTooLong},
      {"B11", F::kAuthority, k254 + ":443", E::kBadHost, "254-octet name in CONNECT",
       H::kNameTooLong},

      // B12: NUL/CR/LF and %00 inside the host.
      {"B12", F::kAbsolute, std::string("http://allowed.test\0.evil.test/", 31), E::kBadByte,
       "NUL truncates the name for C string APIs"},
      {"B12", F::kAbsolute, "http://allowed.test\r\n.evil.test/", E::kBadByte, "CR LF"},
      {"B12", F::kAbsolute, "http://allowed.test%00.evil.test/", E::kBadHost, "encoded NUL",
       H::kPercentEncoded},
      {"B12", F::kAuthority, std::string("allowed.test\0.evil.test:443", 27), E::kBadByte,
       "NUL in CONNECT"},
      {"B12", F::kAuthority, "allowed.test%00.evil.test:443", E::kBadHost, "%00 in CONNECT",
       H::kPercentEncoded},

      // B13 and other bracket misuse.
      {"B13", F::kAuthority, "[allowed.test]:443", E::kBadHost,
       "brackets around a name (Smokescreen GHSA-qwrf-gfpj-qvj6)", H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[allowed.test]/", E::kBadHost, "same in absolute-form",
       H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[allowed.test]:443/", E::kBadHost, "same with a port",
       H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[127.0.0.1]/", E::kBadHost, "brackets around IPv4",
       H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[]/", E::kBadHost, "empty brackets", H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[::1/", E::kBadHost, "unclosed bracket", H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[::1]x/", E::kBadHost, "junk after the bracket",
       H::kBadBrackets},
      {"B13", F::kAuthority, "[::1]]:443", E::kBadHost, "two closing brackets", H::kBadBrackets},
      {"B13", F::kAbsolute, "http://[::g]/", E::kBadHost, "not hex", H::kBadIpv6},
      {"B13", F::kAbsolute, "http://[1::2::3]/", E::kBadHost, "two '::'", H::kBadIpv6},
      {"B13", F::kAbsolute, "http://[1:2:3:4:5:6:7:8:9]/", E::kBadHost, "nine groups", H::kBadIpv6},
      {"B13", F::kAbsolute, "http://[::ffff:127.0.0.01]/", E::kBadHost,
       "leading zero in the embedded dotted quad", H::kBadIpv6},

      // B14: invalid ports (policy ports such as 22 parse and are denied by the policy).
      {"B14", F::kAbsolute, "http://allowed.test:0/", E::kBadPort, "port 0"},
      {"B14", F::kAbsolute, "http://allowed.test:00000/", E::kBadPort, "port 0 with zeros"},
      {"B14", F::kAbsolute, "http://allowed.test:65536/", E::kBadPort, "65535 + 1"},
      {"B14", F::kAbsolute, "http://allowed.test:65616/", E::kBadPort,
       "65536 + 80: a 16-bit wrap would give 80"},
      {"B14", F::kAbsolute, "http://allowed.test:99999/", E::kBadPort, "five digits, too big"},
      {"B14", F::kAbsolute, "http://allowed.test:4294967376/", E::kBadPort,
       "2^32 + 80: a 32-bit wrap would give 80"},
      {"B14", F::kAbsolute, "http://allowed.test:000080/", E::kBadPort,
       "more than five digits even if the value is 80"},
      // One port grammar everywhere (policy::parsePort): no leading zero, which some parsers
      // read as octal, so the proxy and the policy can never disagree on the number.
      {"B14", F::kAbsolute, "http://allowed.test:080/", E::kBadPort, "leading zero"},
      {"B14", F::kAbsolute, "http://allowed.test:00080/", E::kBadPort, "five digits with zeros"},
      {"B14", F::kAuthority, "allowed.test:0443", E::kBadPort, "CONNECT leading zero"},
      {"B14", F::kAbsolute, "http://allowed.test:+80/", E::kBadPort, "sign"},
      {"B14", F::kAbsolute, "http://allowed.test:-80/", E::kBadPort, "negative"},
      {"B14", F::kAbsolute, "http://allowed.test:/", E::kBadPort, "empty port"},
      {"B14", F::kAbsolute, "http://allowed.test:0x50/", E::kBadPort, "hex port"},
      {"B14", F::kAbsolute, "http://allowed.test:8o/", E::kBadPort, "letter in port"},
      {"B14", F::kAbsolute, "http://allowed.test:80:80/", E::kBadPort, "two ports"},
      {"B14", F::kAbsolute, "http://allowed.test:%38%30/", E::kBadPort, "encoded port"},
      {"B14", F::kAbsolute, "http://[::1]:/", E::kBadPort, "empty port after IPv6"},
      {"B14", F::kAbsolute, "http://[::1]:65536/", E::kBadPort, "out of range after IPv6"},
      {"B14", F::kAuthority, "allowed.test:0", E::kBadPort, "CONNECT port 0"},
      {"B14", F::kAuthority, "allowed.test:65536", E::kBadPort, "CONNECT 65536"},
      {"B14", F::kAuthority, "allowed.test:+443", E::kBadPort, "CONNECT sign"},
      {"B14", F::kAuthority, "allowed.test:443.", E::kBadPort, "CONNECT trailing dot on port"},
      {"B14", F::kAuthority, "allowed.test:443?x", E::kBadPort, "CONNECT query"},

      // C1: every numeric spelling but the dotted quad, in both forms.
      {"C1", F::kAbsolute, "http://127.1/", E::kBadHost, "short form", H::kNumericName},
      {"C1", F::kAbsolute, "http://2130706433/", E::kBadHost, "32-bit decimal", H::kNumericName},
      {"C1", F::kAbsolute, "http://0x7f000001/", E::kBadHost, "32-bit hex", H::kNumericName},
      {"C1", F::kAbsolute, "http://0X7F000001/", E::kBadHost, "uppercase hex", H::kNumericName},
      {"C1", F::kAbsolute, "http://0x7f.1/", E::kBadHost, "hex short form", H::kNumericName},
      {"C1", F::kAbsolute, "http://0177.0.0.1/", E::kBadHost, "octal octet", H::kNumericName},
      {"C1", F::kAbsolute, "http://017700000001/", E::kBadHost, "32-bit octal", H::kNumericName},
      {"C1", F::kAbsolute, "http://127.000.000.001/", E::kBadHost, "zero-padded octets",
       H::kNumericName},
      {"C1", F::kAbsolute, "http://127.0.0.01/", E::kBadHost, "one zero-padded octet",
       H::kNumericName},
      {"C1", F::kAbsolute, "http://256.0.0.1/", E::kBadHost, "octet over 255", H::kNumericName},
      {"C1", F::kAbsolute, "http://1.2.3.4.5/", E::kBadHost, "five parts", H::kNumericName},
      {"C1", F::kAbsolute, "http://allowed.0x7f/", E::kBadHost,
       "a name ending in a hex number is an address to WHATWG", H::kNumericName},
      {"C1", F::kAbsolute, "http://allowed.123/", E::kBadHost, "a name ending in a decimal number",
       H::kNumericName},
      {"C1", F::kAuthority, "127.1:443", E::kBadHost, "CONNECT short form", H::kNumericName},
      {"C1", F::kAuthority, "2130706433:443", E::kBadHost, "CONNECT 32-bit decimal",
       H::kNumericName},
      {"C1", F::kAuthority, "0x7f000001:443", E::kBadHost, "CONNECT 32-bit hex", H::kNumericName},
      {"C1", F::kAuthority, "0x7f.1:443", E::kBadHost, "CONNECT hex short form", H::kNumericName},
      {"C1", F::kAuthority, "0177.0.0.1:443", E::kBadHost, "CONNECT octal octet", H::kNumericName},
      {"C1", F::kAuthority, "017700000001:443", E::kBadHost, "CONNECT 32-bit octal",
       H::kNumericName},
      {"C1", F::kAuthority, "127.000.000.001:443", E::kBadHost, "CONNECT zero-padded octets",
       H::kNumericName},
      {"C1", F::kAuthority, "127.0.0.01:443", E::kBadHost, "CONNECT one zero-padded octet",
       H::kNumericName},

      // C2/C3 numeric spellings.
      {"C2", F::kAbsolute, "http://0/", E::kBadHost, "\"0\" is 0.0.0.0 to inet_aton",
       H::kNumericName},
      {"C2", F::kAuthority, "0:443", E::kBadHost, "CONNECT 0", H::kNumericName},
      {"C3", F::kAbsolute, "http://2852039166/", E::kBadHost, "metadata as decimal",
       H::kNumericName},
      {"C3", F::kAbsolute, "http://0251.0376.0251.0376/", E::kBadHost, "metadata as octal",
       H::kNumericName},

      // C6: zone ids, bracketed or not.
      {"C6", F::kAbsolute, "http://[fe80::1%25eth0]/", E::kBadHost, "RFC 6874 zone id", H::kZoneId},
      {"C6", F::kAbsolute, "http://[fe80::1%eth0]/", E::kBadHost, "raw zone id", H::kZoneId},
      {"C6", F::kAuthority, "[fe80::1%25eth0]:443", E::kBadHost, "zone id in CONNECT", H::kZoneId},
      {"C6", F::kAbsolute, "http://fe80::1%lo/", E::kBadPort,
       "unbracketed: host \"fe80\" with port \":1%lo\""},
      {"C6", F::kAuthority, "fe80::1%lo", E::kBadPort, "unbracketed zone id in CONNECT"},
      {"C6", F::kAuthority, "fe80::1%lo:443", E::kBadPort, "unbracketed with a port"},
      {"C6", F::kAbsolute, "http://::1/", E::kEmptyHost, "unbracketed IPv6 has an empty host"},
      {"C6", F::kAuthority, "::1:443", E::kEmptyHost, "unbracketed IPv6 in CONNECT"},

      // C13: a trailing dot turns an address into a name for glibc.
      {"C13", F::kAbsolute, "http://127.0.0.1./", E::kBadHost, "trailing-dot IPv4",
       H::kTrailingDotIp},
      {"C13", F::kAuthority, "127.0.0.1.:443", E::kBadHost, "trailing-dot IPv4 in CONNECT",
       H::kTrailingDotIp},

      // E3: CONNECT takes host:port only.
      {"E3", F::kAuthority, "allowed.test", E::kMissingPort, "no port"},
      {"E3", F::kAuthority, "allowed.test:", E::kBadPort, "empty port"},
      {"E3", F::kAuthority, "/", E::kAuthorityHasPath, "origin-form"},
      {"E3", F::kAuthority, "http://allowed.test:443", E::kAuthorityHasPath, "absolute-form"},
      {"E3", F::kAuthority, "allowed.test:443/x", E::kAuthorityHasPath, "path after the port"},
      {"E3", F::kAuthority, "u@allowed.test:443", E::kUserinfo, "userinfo"},
      {"E3", F::kAuthority, "allowed.test@evil.test:443", E::kUserinfo, "userinfo as a name"},
      {"E3", F::kAuthority, "[::1]", E::kMissingPort, "IPv6 without a port"},
  };
}

class TargetRefused : public ::testing::TestWithParam<RefusedRow> {};

TEST_P(TargetRefused, WithTheExactError) {
  const RefusedRow& row = GetParam();
  TargetParse p = parse(row.form, row.input);
  EXPECT_FALSE(p.ok()) << row.why << ": " << describe(p);
  EXPECT_FALSE(p.target.has_value()) << row.why;
  EXPECT_EQ(p.error, row.error) << row.why << ": expected \"" << targetErrorMessage(row.error)
                                << "\", got " << describe(p);
  EXPECT_EQ(p.host_error, row.host_error)
      << row.why << ": expected host error " << policy::hostErrorCode(row.host_error) << ", got "
      << describe(p);
  EXPECT_FALSE(p.message().empty()) << row.why;
}

INSTANTIATE_TEST_SUITE_P(Rows, TargetRefused, ::testing::ValuesIn(refusedRows()),
                         [](const ::testing::TestParamInfo<RefusedRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// Accepted targets: scheme, host (kind and canonical text), port and path exactly.

struct AcceptedRow {
  const char* id;
  Form form;
  std::string input;
  const char* scheme;
  Host::Kind kind;
  std::string host;
  uint16_t port;
  bool port_explicit;
  const char* path;
  const char* why;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const AcceptedRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " " << formName(row.form) << " \"" << printable(row.input) << "\"";
}

std::vector<AcceptedRow> acceptedRows() {
  using F = Form;
  return {
      // Ordinary absolute-form requests.
      {"ok", F::kAbsolute, "http://allowed.test", "http", K::kName, "allowed.test", 80, false, "/",
       "no path: \"/\" and the default port"},
      {"ok", F::kAbsolute, "http://allowed.test/", "http", K::kName, "allowed.test", 80, false, "/",
       "root path"},
      {"ok", F::kAbsolute, "http://allowed.test:80/", "http", K::kName, "allowed.test", 80, true,
       "/", "explicit default port is marked explicit"},
      {"ok", F::kAbsolute, "http://allowed.test:8080/a/b?c=d&e", "http", K::kName, "allowed.test",
       8080, true, "/a/b?c=d&e", "explicit port, path and query"},
      {"ok", F::kAbsolute, "http://allowed.test?x", "http", K::kName, "allowed.test", 80, false,
       "/?x", "query without a path gets \"/\""},
      {"ok", F::kAbsolute, "http://allowed.test:81?a=b/c", "http", K::kName, "allowed.test", 81,
       true, "/?a=b/c", "the authority ends at '?', not at a later '/'"},
      {"ok", F::kAbsolute, "http://allowed.test/a/../b/./c//d;p?%2F%00=&&", "http", K::kName,
       "allowed.test", 80, false, "/a/../b/./c//d;p?%2F%00=&&",
       "path and query are forwarded byte for byte, not normalised"},
      {"ok", F::kAbsolute, "http://allowed.test/@evil.test", "http", K::kName, "allowed.test", 80,
       false, "/@evil.test", "'@' in the path is not userinfo (WHATWG agrees)"},
      {"ok", F::kAbsolute, "http://allowed.test//evil.test/x", "http", K::kName, "allowed.test", 80,
       false, "//evil.test/x", "a path starting with \"//\" stays a path of allowed.test"},
      {"ok", F::kAbsolute, "http://allowed.test/?next=http://evil.test/", "http", K::kName,
       "allowed.test", 80, false, "/?next=http://evil.test/", "a URL in the query is data"},
      {"ok", F::kAbsolute, "HTTP://Allowed.Test/Path?Q=A", "http", K::kName, "allowed.test", 80,
       false, "/Path?Q=A", "scheme and host case-insensitive, path case kept"},
      {"ok", F::kAbsolute, "hTtP://ALLOWED.TEST:80/", "http", K::kName, "allowed.test", 80, true,
       "/", "mixed-case scheme"},
      {"B1", F::kAbsolute, "http://API.Test/", "http", K::kName, "api.test", 80, false, "/",
       "host lowercased"},
      {"B9", F::kAbsolute, "http://xn--pi-7kc.test/", "http", K::kName, "xn--pi-7kc.test", 80,
       false, "/", "punycode is kept as the distinct name it is"},
      {"B10", F::kAbsolute, "http://foo_bar.api.test/", "http", K::kName, "foo_bar.api.test", 80,
       false, "/", "underscore labels are names"},

      // A10: https only with the option.
      {"A10", F::kAbsoluteHttps, "https://allowed.test", "https", K::kName, "allowed.test", 443,
       false, "/", "https default port 443"},
      {"A10", F::kAbsoluteHttps, "HTTPS://allowed.test:8443/x", "https", K::kName, "allowed.test",
       8443, true, "/x", "uppercase https with a port"},
      {"A10", F::kAbsoluteHttps, "http://allowed.test/", "http", K::kName, "allowed.test", 80,
       false, "/", "allow_https leaves http alone"},

      // B2: one trailing dot is the same name.
      {"B2", F::kAbsolute, "http://allowed.test./", "http", K::kName, "allowed.test", 80, false,
       "/", "trailing dot removed"},
      {"B2", F::kAbsolute, "http://ALLOWED.TEST.:8080/", "http", K::kName, "allowed.test", 8080,
       true, "/", "trailing dot and case"},
      {"B2", F::kAuthority, "allowed.test.:443", "", K::kName, "allowed.test", 443, true, "",
       "trailing dot in CONNECT"},

      // B11: the accepted side of the boundaries.
      {"B11", F::kAbsolute, "http://" + k63 + ".test/", "http", K::kName, k63 + ".test", 80, false,
       "/", "63-octet label"},
      {"B11", F::kAbsolute, "http://" + k253 + "/", "http", K::kName, k253, 80, false, "/",
       "253-octet name"},
      {"B11", F::kAbsolute, "http://" + k253 + "./", "http", K::kName, k253, 80, false, "/",
       "253 octets plus a trailing dot"},
      {"B11", F::kAuthority, k63 + ".test:443", "", K::kName, k63 + ".test", 443, true, "",
       "63-octet label in CONNECT"},
      {"B11", F::kAuthority, k253 + ":443", "", K::kName, k253, 443, true, "",
       "253-octet name in CONNECT"},

      // B14: port boundaries.
      {"B14", F::kAbsolute, "http://allowed.test:1/", "http", K::kName, "allowed.test", 1, true,
       "/", "lowest port"},
      {"B14", F::kAbsolute, "http://allowed.test:65535/", "http", K::kName, "allowed.test", 65535,
       true, "/", "highest port"},
      {"B14", F::kAbsolute, "http://allowed.test:22/", "http", K::kName, "allowed.test", 22, true,
       "/", "policy ports parse; the policy denies them (403, not 400)"},
      {"B14", F::kAuthority, "allowed.test:65535", "", K::kName, "allowed.test", 65535, true, "",
       "CONNECT highest port"},
      {"B14", F::kAuthority, "allowed.test:6379", "", K::kName, "allowed.test", 6379, true, "",
       "CONNECT policy port parses; the policy denies it"},

      // C1-C4: canonical IP literals parse as addresses (the address guard denies them).
      {"C1", F::kAbsolute, "http://127.0.0.1/", "http", K::kIpv4, "127.0.0.1", 80, false, "/",
       "dotted quad is an address, never a name"},
      {"C1", F::kAuthority, "127.0.0.1:443", "", K::kIpv4, "127.0.0.1", 443, true, "",
       "CONNECT dotted quad"},
      {"C2", F::kAbsolute, "http://0.0.0.0/", "http", K::kIpv4, "0.0.0.0", 80, false, "/",
       "unspecified address parses as IPv4"},
      {"C2", F::kAuthority, "0.0.0.0:443", "", K::kIpv4, "0.0.0.0", 443, true, "",
       "CONNECT unspecified address"},
      {"C3", F::kAbsolute, "http://169.254.169.254/latest/meta-data/", "http", K::kIpv4,
       "169.254.169.254", 80, false, "/latest/meta-data/", "metadata address"},
      {"C3", F::kAbsolute, "http://[::ffff:a9fe:a9fe]/", "http", K::kIpv6, "::ffff:169.254.169.254",
       80, false, "/", "v4-mapped metadata, hex spelling"},
      {"C3", F::kAbsolute, "http://metadata.google.internal/", "http", K::kName,
       "metadata.google.internal", 80, false, "/", "metadata name parses; the policy denies it"},
      {"C4", F::kAbsolute, "http://[::1]/", "http", K::kIpv6, "::1", 80, false, "/",
       "IPv6 loopback"},
      {"C4", F::kAbsolute, "http://[0:0:0:0:0:0:0:1]/", "http", K::kIpv6, "::1", 80, false, "/",
       "uncompressed loopback has the compressed canonical text"},
      {"C4", F::kAbsolute, "http://[::]/", "http", K::kIpv6, "::", 80, false, "/", "unspecified"},
      {"C4", F::kAbsolute, "http://[::ffff:127.0.0.1]/", "http", K::kIpv6, "::ffff:127.0.0.1", 80,
       false, "/", "v4-mapped keeps the dotted quad (RFC 5952 section 5)"},
      {"C4", F::kAbsolute, "http://[0:0:0:0:0:ffff:7f00:1]/", "http", K::kIpv6, "::ffff:127.0.0.1",
       80, false, "/", "v4-mapped written in hex: same canonical text"},
      {"C4", F::kAbsolute, "http://[::127.0.0.1]/", "http", K::kIpv6, "::7f00:1", 80, false, "/",
       "v4-compatible (deprecated) is plain IPv6 text"},
      {"C4", F::kAbsolute, "http://[2001:DB8::1]:8080/x", "http", K::kIpv6, "2001:db8::1", 8080,
       true, "/x", "IPv6 with port, hex lowercased"},
      {"C4", F::kAuthority, "[::1]:443", "", K::kIpv6, "::1", 443, true, "", "CONNECT IPv6"},
      {"C4", F::kAuthority, "[::ffff:127.0.0.1]:443", "", K::kIpv6, "::ffff:127.0.0.1", 443, true,
       "", "CONNECT v4-mapped"},

      // E1: ordinary CONNECT.
      {"E1", F::kAuthority, "allowed.test:443", "", K::kName, "allowed.test", 443, true, "",
       "CONNECT host:port"},
      {"E1", F::kAuthority, "ALLOWED.Test:443", "", K::kName, "allowed.test", 443, true, "",
       "CONNECT host lowercased"},
  };
}

class TargetAccepted : public ::testing::TestWithParam<AcceptedRow> {};

TEST_P(TargetAccepted, WithExactParts) {
  const AcceptedRow& row = GetParam();
  TargetParse p = parse(row.form, row.input);
  ASSERT_TRUE(p.ok()) << row.why << ": " << describe(p);
  EXPECT_EQ(p.error, TargetError::kNone) << row.why;
  EXPECT_EQ(p.host_error, HostError::kNone) << row.why;
  const Target& t = *p.target;
  EXPECT_EQ(t.scheme, row.scheme) << row.why;
  EXPECT_EQ(t.host.kind, row.kind) << row.why;
  EXPECT_EQ(t.host.text, row.host) << row.why;
  EXPECT_EQ(t.host.isIp(), row.kind != K::kName) << row.why;
  EXPECT_EQ(t.port, row.port) << row.why;
  EXPECT_EQ(t.port_explicit, row.port_explicit) << row.why;
  EXPECT_EQ(t.path, row.path) << row.why;
  if (row.kind == K::kIpv6) {
    EXPECT_EQ(t.host.authorityForm(), "[" + row.host + "]") << row.why;
  } else {
    EXPECT_EQ(t.host.authorityForm(), row.host) << row.why;
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, TargetAccepted, ::testing::ValuesIn(acceptedRows()),
                         [](const ::testing::TestParamInfo<AcceptedRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// A11/B12: every control byte, SP, DEL and every byte >= 0x80 is refused wherever it stands.
// Each position's template without the byte is accepted, so the byte alone is the reason.

struct BytePosition {
  Form form;
  std::string before;
  std::string after;
  const char* why;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const BytePosition& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << formName(row.form) << " \"" << printable(row.before) << "<byte>" << printable(row.after)
      << "\"";
}

std::vector<BytePosition> bytePositions() {
  using F = Form;
  return {
      {F::kAbsolute, "", "http://allowed.test/", "before the scheme"},
      {F::kAbsolute, "ht", "tp://allowed.test/", "inside the scheme"},
      {F::kAbsolute, "http:", "//allowed.test/", "between ':' and '//'"},
      {F::kAbsolute, "http://", "allowed.test/", "before the host"},
      {F::kAbsolute, "http://allowed", ".test/", "inside the host"},
      {F::kAbsolute, "http://allowed.test", ":80/", "between host and ':'"},
      {F::kAbsolute, "http://allowed.test:", "80/", "before the port"},
      {F::kAbsolute, "http://allowed.test:80", "/", "after the port"},
      {F::kAbsolute, "http://[::1", "]/", "inside IPv6 brackets"},
      {F::kAbsolute, "http://allowed.test/a", "b", "inside the path"},
      {F::kAbsolute, "http://allowed.test/?q=", "", "at the end of the query"},
      {F::kAbsolute, "http://allowed.test?", "", "in a query right after the host"},
      {F::kAbsoluteHttps, "https://allowed.test/", "", "https path end"},
      {F::kAuthority, "", "allowed.test:443", "CONNECT, before the host"},
      {F::kAuthority, "allowed", ".test:443", "CONNECT, inside the host"},
      {F::kAuthority, "allowed.test", ":443", "CONNECT, before ':'"},
      {F::kAuthority, "allowed.test:", "443", "CONNECT, before the port"},
      {F::kAuthority, "allowed.test:443", "", "CONNECT, after the port"},
      {F::kAuthority, "[::1]", ":443", "CONNECT, after IPv6 brackets"},
  };
}

class TargetBadBytes : public ::testing::TestWithParam<BytePosition> {};

TEST_P(TargetBadBytes, AreRefusedAnywhere) {
  const BytePosition& row = GetParam();
  ASSERT_TRUE(parse(row.form, row.before + row.after).ok())
      << row.why << ": the template without the byte must be valid";
  int checked = 0;
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    if (c > 0x20 && c < 0x7f) continue;  // control bytes, SP, DEL and 0x80-0xff only
    std::string input = row.before + static_cast<char>(c) + row.after;
    TargetParse p = parse(row.form, input);
    EXPECT_EQ(p.error, TargetError::kBadByte)
        << row.why << ": byte 0x" << std::hex << b << std::dec << " in \"" << printable(input)
        << "\": " << describe(p);
    ++checked;
  }
  EXPECT_EQ(checked, 33 + 129);  // 0x00-0x20, 0x7f, 0x80-0xff
}

INSTANTIATE_TEST_SUITE_P(Positions, TargetBadBytes, ::testing::ValuesIn(bytePositions()));

// B8: multi-byte UTF-8 sequences (several of which WHATWG maps to ASCII) in every part.
TEST(TargetBadBytesUtf8, SequencesAreRefusedInEveryPart) {
  const char* const kSequences[] = {
      "\xc2\xa0",          // NO-BREAK SPACE
      "\xe3\x80\x82",      // IDEOGRAPHIC FULL STOP
      "\xef\xbc\x8e",      // FULLWIDTH FULL STOP
      "\xe2\x80\x8b",      // ZERO WIDTH SPACE
      "\xf0\x9f\x98\x80",  // a four-byte sequence
      "\xc0\xaf",          // overlong '/'
  };
  for (const char* seq : kSequences) {
    for (const BytePosition& pos : bytePositions()) {
      std::string input = pos.before + seq + pos.after;
      TargetParse p = parse(pos.form, input);
      EXPECT_EQ(p.error, TargetError::kBadByte)
          << pos.why << ": \"" << printable(input) << "\": " << describe(p);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// B2: a trailing dot names the same host, with the same port, in both forms.

TEST(TargetTrailingDot, GivesTheSameCanonicalHost) {
  struct Pair {
    Form form;
    const char* plain;
    const char* dotted;
  };
  const Pair kPairs[] = {
      {Form::kAbsolute, "http://allowed.test/x", "http://allowed.test./x"},
      {Form::kAbsolute, "http://api.allowed.test:8080/", "http://API.allowed.test.:8080/"},
      {Form::kAuthority, "allowed.test:443", "allowed.test.:443"},
  };
  for (const Pair& pair : kPairs) {
    TargetParse a = parse(pair.form, pair.plain);
    TargetParse b = parse(pair.form, pair.dotted);
    ASSERT_TRUE(a.ok()) << pair.plain << ": " << describe(a);
    ASSERT_TRUE(b.ok()) << pair.dotted << ": " << describe(b);
    EXPECT_EQ(a.target->host.text, b.target->host.text) << pair.dotted;
    EXPECT_EQ(a.target->host.kind, b.target->host.kind) << pair.dotted;
    EXPECT_EQ(a.target->port, b.target->port) << pair.dotted;
    EXPECT_EQ(a.target->path, b.target->path) << pair.dotted;
    EXPECT_EQ(b.target->host.text.back(), 't') << pair.dotted << ": the dot must be gone";
  }
}

// ---------------------------------------------------------------------------------------------
// Messages: one line that says what is wrong; for kBadHost it names the host problem.

TEST(TargetMessage, NamesTheHostProblemForBadHost) {
  struct MessageRow {
    const char* input;
    HostError host_error;
    const char* must_mention;
  };
  const MessageRow kRows[] = {
      {"http://%61llowed.test/", HostError::kPercentEncoded, "percent-encoded"},
      {"http://0x7f.1/", HostError::kNumericName, "ends in a number"},
      {"http://127.0.0.1./", HostError::kTrailingDotIp, "trailing dot"},
      {"http://[fe80::1%25eth0]/", HostError::kZoneId, "zone"},
      {"http://[allowed.test]/", HostError::kBadBrackets, "brackets"},
      {"http://allowed..test/", HostError::kEmptyLabel, "empty label"},
  };
  for (const MessageRow& row : kRows) {
    TargetParse p = parseAbsoluteForm(row.input);
    ASSERT_EQ(p.error, TargetError::kBadHost) << row.input << ": " << describe(p);
    ASSERT_EQ(p.host_error, row.host_error) << row.input << ": " << describe(p);
    const std::string m = p.message();
    EXPECT_FALSE(m.empty()) << row.input;
    EXPECT_EQ(m.find('\n'), std::string::npos) << row.input << ": one line";
    EXPECT_NE(m.find(targetErrorMessage(TargetError::kBadHost)), std::string::npos)
        << row.input << ": " << m;
    EXPECT_NE(m.find(policy::hostErrorMessage(row.host_error)), std::string::npos)
        << row.input << ": " << m;
    EXPECT_NE(m.find(row.must_mention), std::string::npos) << row.input << ": " << m;
  }
}

TEST(TargetMessage, OtherErrorsUseTheirOwnMessage) {
  for (const RefusedRow& row : refusedRows()) {
    if (row.error == TargetError::kBadHost) continue;
    TargetParse p = parse(row.form, row.input);
    EXPECT_EQ(p.message(), targetErrorMessage(row.error)) << printable(row.input);
  }
}

TEST(TargetMessage, EveryErrorHasADistinctMessage) {
  const TargetError kErrors[] = {
      E::kNone,
      E::kEmpty,
      E::kBadByte,
      E::kFragment,
      E::kBackslash,
      E::kNotAbsolute,
      E::kUnsupportedScheme,
      E::kUserinfo,
      E::kEmptyHost,
      E::kBadHost,
      E::kBadPort,
      E::kMissingPort,
      E::kAuthorityHasPath,
  };
  std::set<std::string> seen;
  for (TargetError e : kErrors) {
    std::string m = targetErrorMessage(e);
    EXPECT_FALSE(m.empty()) << static_cast<int>(e);
    EXPECT_TRUE(seen.insert(m).second) << "duplicate message: " << m;
  }
}

TEST(TargetMessage, AcceptedTargetHasNoError) {
  TargetParse p = parseAbsoluteForm("http://allowed.test/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.error, TargetError::kNone);
  EXPECT_EQ(p.message(), targetErrorMessage(TargetError::kNone));
}

}  // namespace
}  // namespace gatehouse::http
