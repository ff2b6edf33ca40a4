#include "policy/address_guard.h"

#include <string_view>

namespace gatehouse::policy {

namespace {

enum class Embedding : uint8_t { kNone, kMapped, kCompatible, kTranslated, kNat64, k6to4, kTeredo };

const char* embeddingName(Embedding e) {
  switch (e) {
    case Embedding::kNone:
      return nullptr;
    case Embedding::kMapped:
      return "ipv4-mapped";
    case Embedding::kCompatible:
      return "ipv4-compatible";
    case Embedding::kTranslated:
      return "ipv4-translated";
    case Embedding::kNat64:
      return "nat64";
    case Embedding::k6to4:
      return "6to4";
    case Embedding::kTeredo:
      return "teredo";
  }
  return nullptr;
}

struct V4Range {
  uint32_t base;
  int prefix_len;
  AddressClass cls;
};

// First match wins, so the single addresses precede the ranges that contain them.
constexpr V4Range kV4Ranges[] = {
    {0x00000000, 32, AddressClass::kUnspecified},    // 0.0.0.0
    {0x00000000, 8, AddressClass::kThisNetwork},     // 0.0.0.0/8
    {0x0a000000, 8, AddressClass::kPrivate},         // 10.0.0.0/8
    {0x64400000, 10, AddressClass::kCgnat},          // 100.64.0.0/10
    {0x7f000000, 8, AddressClass::kLoopback},        // 127.0.0.0/8
    {0xa9fe0000, 16, AddressClass::kLinkLocal},      // 169.254.0.0/16
    {0xac100000, 12, AddressClass::kPrivate},        // 172.16.0.0/12
    {0xc0000000, 24, AddressClass::kReserved},       // 192.0.0.0/24
    {0xc0000200, 24, AddressClass::kDocumentation},  // 192.0.2.0/24
    {0xc0586300, 24, AddressClass::kReserved},       // 192.88.99.0/24 (6to4 relay anycast)
    {0xc0a80000, 16, AddressClass::kPrivate},        // 192.168.0.0/16
    {0xc6120000, 15, AddressClass::kBenchmarking},   // 198.18.0.0/15
    {0xc6336400, 24, AddressClass::kDocumentation},  // 198.51.100.0/24
    {0xcb007100, 24, AddressClass::kDocumentation},  // 203.0.113.0/24
    {0xe0000000, 4, AddressClass::kMulticast},       // 224.0.0.0/4
    {0xffffffff, 32, AddressClass::kBroadcast},      // 255.255.255.255
    {0xf0000000, 4, AddressClass::kReserved},        // 240.0.0.0/4
};

struct V6Range {
  uint64_t hi;  // bits 0..63
  uint64_t lo;  // bits 64..127
  int prefix_len;
  AddressClass cls;  // ignored when `embedding` is set: the embedded address decides
  Embedding embedding;
};

// First match wins: specific prefixes precede the ranges that contain them, and the final
// ::/0 row makes everything outside the global unicast space 2000::/3 reserved.
constexpr V6Range kV6Ranges[] = {
    {0, 0, 128, AddressClass::kUnspecified, Embedding::kNone},                    // ::
    {0, 1, 128, AddressClass::kLoopback, Embedding::kNone},                       // ::1
    {0, 0x0000ffff00000000, 96, AddressClass::kPublic, Embedding::kMapped},       // ::ffff:0:0/96
    {0, 0xffff000000000000, 96, AddressClass::kPublic, Embedding::kTranslated},   // ::ffff:0:0:0/96
    {0, 0, 96, AddressClass::kPublic, Embedding::kCompatible},                    // ::/96
    {0x0064ff9b00000000, 0, 96, AddressClass::kPublic, Embedding::kNat64},        // 64:ff9b::/96
    {0x0064ff9b00010000, 0, 48, AddressClass::kNat64Local, Embedding::kNone},     // 64:ff9b:1::/48
    {0x0100000000000000, 0, 64, AddressClass::kReserved, Embedding::kNone},       // 100::/64
    {0x2001000000000000, 0, 32, AddressClass::kPublic, Embedding::kTeredo},       // 2001::/32
    {0x2001000200000000, 0, 48, AddressClass::kBenchmarking, Embedding::kNone},   // 2001:2::/48
    {0x2001000000000000, 0, 23, AddressClass::kReserved, Embedding::kNone},       // 2001::/23
    {0x20010db800000000, 0, 32, AddressClass::kDocumentation, Embedding::kNone},  // 2001:db8::/32
    {0x3fff000000000000, 0, 20, AddressClass::kDocumentation, Embedding::kNone},  // 3fff::/20
    {0x2002000000000000, 0, 16, AddressClass::kPublic, Embedding::k6to4},         // 2002::/16
    {0x5f00000000000000, 0, 16, AddressClass::kReserved, Embedding::kNone},       // 5f00::/16
    {0xfc00000000000000, 0, 7, AddressClass::kUniqueLocal, Embedding::kNone},     // fc00::/7
    {0xfe80000000000000, 0, 10, AddressClass::kLinkLocal, Embedding::kNone},      // fe80::/10
    {0xfec0000000000000, 0, 10, AddressClass::kSiteLocal, Embedding::kNone},      // fec0::/10
    {0xff00000000000000, 0, 8, AddressClass::kMulticast, Embedding::kNone},       // ff00::/8
    {0x2000000000000000, 0, 3, AddressClass::kPublic, Embedding::kNone},          // 2000::/3
    {0, 0, 0, AddressClass::kReserved, Embedding::kNone},                         // ::/0
};

constexpr uint64_t mask64(int bits) {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - bits);
}

constexpr uint32_t mask32(int bits) { return bits <= 0 ? 0 : ~uint32_t{0} << (32 - bits); }

AddressClass classifyV4(uint32_t v) {
  for (const V4Range& r : kV4Ranges) {
    if ((v & mask32(r.prefix_len)) == r.base) return r.cls;
  }
  return AddressClass::kPublic;
}

uint64_t loadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// ---- build() diagnostics: only run for entries Cidr::parse rejected ----

constexpr std::string_view kExampleHint =
    "write a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", or a single address such as "
    "\"192.0.2.7\"";

bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// A DNS-shaped name: letters present, only name characters, and a last label that is not
// numeric (so "0x7f.1" and "0x7f000001" get an IPv4 diagnosis instead).
bool looksLikeHostname(std::string_view s) {
  bool alpha = false;
  for (char c : s) {
    if (isAsciiAlpha(c)) {
      alpha = true;
    } else if (!isAsciiDigit(c) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  if (!alpha) return false;
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  std::string_view last = s.substr(s.rfind('.') == std::string_view::npos ? 0 : s.rfind('.') + 1);
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) return false;
  for (char c : last) {
    if (isAsciiAlpha(c)) return true;
  }
  return false;
}

// Why a colon-free text is not a strict dotted quad. Spelling problems (hex, octal) come first:
// they are the resolver tricks of BAD-INPUTS C1, and the octet count matters less for them.
std::string ipv4Reason(std::string_view s) {
  int octets = 0;
  bool empty_octet = false;
  std::string too_large;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view octet = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    ++octets;
    for (char c : octet) {
      if (!isAsciiDigit(c)) return "octets must be decimal numbers";
    }
    if (octet.size() > 1 && octet[0] == '0') return "octets must not have leading zeros";
    if (octet.empty()) empty_octet = true;
    if (too_large.empty() &&
        (octet.size() > 3 || (!octet.empty() && std::stoi(std::string(octet)) > 255))) {
      too_large = std::string(octet);
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (octets != 4) return "an IPv4 address has exactly four decimal octets";
  if (empty_octet) return "empty octet";
  if (!too_large.empty()) return "octet '" + too_large + "' is greater than 255";
  return "not a dotted-quad address";
}

// Message and hint for an allow entry that Cidr::parse rejected.
void diagnose(std::string_view text, std::string& message, std::string& hint) {
  const std::string quoted = "'" + std::string(text) + "'";
  hint = std::string(kExampleHint);
  if (text.empty()) {
    message = "empty entry in [addresses] allow";
    return;
  }
  if (text.find("://") != std::string_view::npos) {
    message = quoted + " is a URL; [addresses] allow accepts only CIDRs or IP addresses";
    return;
  }
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      message = quoted + " is not a valid CIDR: it contains whitespace";
      hint = "remove the whitespace";
      return;
    }
  }
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  if (looksLikeHostname(addr_text)) {
    message = quoted + " is a hostname; [addresses] allow accepts only CIDRs or IP addresses";
    hint =
        "exempt the addresses the name resolves to, e.g. \"192.0.2.0/24\"; host names belong in "
        "an environment's domains";
    return;
  }
  auto addr = IpAddress::parse(addr_text);
  if (!addr) {
    const std::string bad = "'" + std::string(addr_text) + "'";
    if (addr_text.find('%') != std::string_view::npos) {
      message = quoted + " is not a valid CIDR: zone ids ('%...') are not accepted";
      hint = "remove the zone id, e.g. \"fe80::/10\"";
    } else if (addr_text.find('[') != std::string_view::npos ||
               addr_text.find(']') != std::string_view::npos) {
      message = quoted + " is not a valid CIDR: IPv6 addresses are written without brackets";
      hint = "remove the brackets, e.g. \"fd00::/8\"";
    } else if (size_t colon = addr_text.find(':');
               colon != std::string_view::npos &&
               addr_text.find(':', colon + 1) == addr_text.npos &&
               IpAddress::parseV4(addr_text.substr(0, colon))) {
      message = quoted + " is not a valid CIDR: ports are not accepted here";
      hint = "write only the address, e.g. \"" + std::string(addr_text.substr(0, colon)) + "\"";
    } else if (addr_text.find(':') != std::string_view::npos) {
      message = quoted + " is not a valid CIDR: " + bad + " is not a valid IPv6 address";
      hint = R"(write RFC 4291 text such as "fd00::/8" or "::ffff:10.0.0.0/104")";
    } else {
      message = quoted + " is not a valid CIDR: " + bad + " is not a valid IPv4 address (" +
                ipv4Reason(addr_text) + ")";
      hint = "write dotted-quad decimal without leading zeros, e.g. \"10.0.0.0/8\"";
    }
    return;
  }
  const int max_len = addr->bitLength();
  const std::string family_range =
      addr->isV4() ? "IPv4 prefixes are 0-32" : "IPv6 prefixes are 0-128";
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    bool digits = !len_text.empty() && len_text.size() <= 3;
    for (char c : len_text) digits = digits && isAsciiDigit(c);
    int len = digits ? std::stoi(std::string(len_text)) : -1;
    if (!digits || len > max_len || (len_text.size() > 1 && len_text[0] == '0')) {
      message = quoted + " is not a valid CIDR: bad prefix length '" + std::string(len_text) +
                "' (" + family_range + ", decimal without leading zeros)";
      hint = addr->isV4() ? "e.g. \"10.0.0.0/8\"" : "e.g. \"fd00::/8\"";
      return;
    }
    Cidr range(*addr, len);
    if (!(range.base() == *addr)) {
      message = quoted + " is not a valid CIDR: host bits are set below the prefix";
      hint = "write \"" + range.toString() + "\" for the whole range or \"" + addr->toString() +
             "\" for the single address";
      return;
    }
  }
  message = quoted + " is not a valid CIDR";
}

}  // namespace

const char* addressClassName(AddressClass cls) {
  switch (cls) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kThisNetwork:
      return "this-network";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kCgnat:
      return "cgnat";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kUniqueLocal:
      return "unique-local";
    case AddressClass::kSiteLocal:
      return "site-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kDocumentation:
      return "documentation";
    case AddressClass::kBenchmarking:
      return "benchmarking";
    case AddressClass::kReserved:
      return "reserved";
    case AddressClass::kNat64Local:
      return "nat64-local";
  }
  return "reserved";
}

AddressClassification classifyAddress(const IpAddress& addr) noexcept {
  AddressClassification result;
  result.classified = addr;
  if (addr.isV4()) {
    result.cls = classifyV4(addr.v4Value());
    return result;
  }
  const uint64_t hi = loadBigEndian64(addr.bytes());
  const uint64_t lo = loadBigEndian64(addr.bytes() + 8);
  for (const V6Range& r : kV6Ranges) {
    if ((hi & mask64(r.prefix_len)) != r.hi || (lo & mask64(r.prefix_len - 64)) != r.lo) continue;
    uint32_t embedded = 0;
    switch (r.embedding) {
      case Embedding::kNone:
        result.cls = r.cls;
        return result;
      case Embedding::kMapped:
      case Embedding::kCompatible:
      case Embedding::kTranslated:
      case Embedding::kNat64:
        embedded = static_cast<uint32_t>(lo);
        break;
      case Embedding::k6to4:
        embedded = static_cast<uint32_t>(hi >> 16);  // bits 16..47
        break;
      case Embedding::kTeredo:
        // RFC 4380 §4: the client's public IPv4 address, every bit inverted.
        embedded = ~static_cast<uint32_t>(lo);
        break;
    }
    result.classified = IpAddress::v4(embedded);
    result.cls = classifyV4(embedded);
    result.embedding = embeddingName(r.embedding);
    return result;
  }
  result.cls = AddressClass::kReserved;  // unreachable: the ::/0 row matches everything
  return result;
}

AddressGuard AddressGuard::build(const AddressesConfig& config, ConfigIssues& issues) {
  AddressGuard guard;
  guard.deny_private_ = config.deny_private;
  for (const PatternEntry& entry : config.allow) {
    std::optional<Cidr> cidr = Cidr::parse(entry.text);
    if (!cidr) {
      ConfigIssue issue;
      issue.severity = ConfigIssue::Severity::kError;
      issue.pos = entry.pos;
      diagnose(entry.text, issue.message, issue.hint);
      issues.push_back(std::move(issue));
      continue;
    }
    const size_t before = guard.exemptions_.size();
    guard.exemptions_.add(*cidr, static_cast<uint32_t>(guard.exemption_texts_.size()));
    if (guard.exemptions_.size() == before) {
      ConfigIssue issue;
      issue.severity = ConfigIssue::Severity::kWarning;
      issue.pos = entry.pos;
      issue.message = "'" + entry.text + "' repeats the range " + cidr->toString() +
                      " already listed in [addresses] allow";
      issue.hint = "remove the duplicate";
      issues.push_back(std::move(issue));
      continue;
    }
    guard.exemption_texts_.push_back(entry.text);
  }
  return guard;
}

AddressGuard::Verdict AddressGuard::check(const IpAddress& addr, uint16_t port) const noexcept {
  Verdict verdict;
  verdict.classification = classifyAddress(addr);
  const AddressClassification& c = verdict.classification;
  const bool embedded = c.embedding != nullptr;

  for (const Endpoint& self : self_) {
    // Exact endpoints only: the server passes each local address of a wildcard listener, so
    // that another proxy on port 3128 elsewhere stays reachable (BAD-INPUTS K2).
    if (self.port == port && (self.address == addr || (embedded && self.address == c.classified))) {
      verdict.self = true;
      return verdict;
    }
  }

  if (c.cls == AddressClass::kPublic) {
    verdict.allowed = true;
    return verdict;
  }
  // Never a destination, whatever the configuration: connecting to 0.0.0.0 reaches local
  // listeners on Linux, and multicast/broadcast are not unicast peers.
  if (c.cls == AddressClass::kUnspecified || c.cls == AddressClass::kMulticast ||
      c.cls == AddressClass::kBroadcast) {
    return verdict;
  }

  const uint32_t* index = exemptions_.longestMatch(addr);
  if (index == nullptr && embedded) index = exemptions_.longestMatch(c.classified);
  if (index != nullptr) {
    verdict.allowed = true;
    verdict.exemption = &exemption_texts_[*index];
    return verdict;
  }

  verdict.allowed = !deny_private_;
  return verdict;
}

}  // namespace gatehouse::policy
