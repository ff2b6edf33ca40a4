// The host pattern grammar (SPEC §2), one grammar for every list:
//
//   example.com        exactly example.com
//   *.example.com      any subdomain of example.com, at any depth; not example.com itself
//   **.example.com     example.com and any subdomain
//   <any of these>:8443  only on port 8443 (otherwise: the environment's ports)
//   10.0.0.0/8, 192.0.2.7, 2001:db8::/32, [2001:db8::7]:443, 10.0.0.0/8:443
//                      IP-literal destinations in that range (never host names)
//
// Entries are written in canonical form: lowercase ASCII, IDN names as punycode, no trailing
// dot. Everything else is a config error whose message says how to write the entry instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/host.h"
#include "policy/ip.h"
#include "policy/policy_config.h"
#include "policy/source.h"

namespace gatehouse::policy {

struct Pattern {
  enum class Kind : uint8_t {
    kExact,              // example.com
    kSubdomains,         // *.example.com
    kApexAndSubdomains,  // **.example.com
    kCidr,               // 10.0.0.0/8, 192.0.2.7, 2001:db8::/32
  };
  Kind kind = Kind::kExact;
  std::string name;   // base name without the wildcard prefix (name kinds)
  Cidr cidr;          // kCidr
  uint16_t port = 0;  // 0 = any port the environment allows
  std::string text;   // as written

  // Slow, obviously correct reference semantics; the matcher is the fast path and is tested
  // against this. `port` 0 means "ignore the port".
  bool matches(const Host& host, uint16_t port) const;
  // True when every host this pattern matches is also matched by `other` (port included).
  bool coveredBy(const Pattern& other) const;
};

struct PatternParse {
  std::optional<Pattern> pattern;
  std::string error;  // what is wrong
  std::string hint;   // how to write it instead
  int offset = 0;     // 0-based position in the text where the problem is
  bool ok() const { return pattern.has_value(); }
};

PatternParse parsePattern(std::string_view text);

// The config issue for a failed parse of `entry` (position inside the quoted string).
ConfigIssue patternIssue(const PatternEntry& entry, const PatternParse& parse,
                         std::string_view list_name);

}  // namespace gatehouse::policy
