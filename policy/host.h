// Host canonicalisation (SPEC §2): one canonical form that the matcher, the resolver, the SNI
// check and the logs all use.
//
// A host is either a name (ASCII lowercase, one trailing dot removed, labels 1-63 octets of
// [a-z0-9-_], total <= 253) or an IP literal (dotted-quad IPv4, bracketed IPv6). Everything
// else is malformed and never reaches DNS: non-ASCII and percent-encoded names, empty labels,
// zone ids, brackets around names, and every numeric spelling other than a dotted quad
// ("2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.0.0.1.", a name whose last label is
// all digits) because resolvers would read those as addresses.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/ip.h"

namespace gatehouse::policy {

enum class HostError : uint8_t {
  kNone = 0,
  kEmpty,           // ""
  kNonAscii,        // a byte >= 0x80 (IDN names must be written as punycode "xn--...")
  kPercentEncoded,  // '%' in a name
  kInvalidChar,     // anything but [A-Za-z0-9-_.] in a name (NUL, CR, LF, '@', '\\', ...)
  kEmptyLabel,      // "a..b", ".a", "a.b.."
  kLabelTooLong,    // a label over 63 octets
  kNameTooLong,     // over 253 octets
  kNumericName,     // last label all digits or 0x-hex: an address in a form resolvers reinterpret
  kTrailingDotIp,   // "127.0.0.1."
  kBadBrackets,     // "[allowed.test]", "[::1" — brackets hold only IPv6 text
  kBadIpv6,         // "[::g]" and other invalid IPv6 text
  kZoneId,          // "[fe80::1%25eth0]"
};

// A stable kebab-case code ("non-ascii-host", ...) and a one-line human description.
const char* hostErrorCode(HostError error);
const char* hostErrorMessage(HostError error);

struct Host {
  enum class Kind : uint8_t { kName, kIpv4, kIpv6 };
  Kind kind = Kind::kName;
  // Canonical text: "api.example.com", "192.0.2.7", "2001:db8::1" (IPv6 without brackets).
  std::string text;
  IpAddress ip;  // valid for kIpv4 / kIpv6

  bool isIp() const { return kind != Kind::kName; }
  // The form used in URLs and Host headers: IPv6 in brackets.
  std::string authorityForm() const;
};

struct HostParse {
  std::optional<Host> host;
  HostError error = HostError::kNone;
  bool ok() const { return host.has_value(); }
};

// A port as written in URLs, CONNECT targets and host patterns: decimal 1..65535, no sign, no
// leading zero ("080" is refused: some parsers read it as octal).
std::optional<uint16_t> parsePort(std::string_view text);

// Canonicalises a host as it appears in a URL authority, a Host header, a CONNECT target or a
// TLS SNI (IPv6 must be bracketed). Never allocates more than the canonical text.
HostParse canonicalizeHost(std::string_view raw);

}  // namespace gatehouse::policy
