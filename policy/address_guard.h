// The address guard (SPEC §3.6): every resolved address, and every IP-literal destination, is
// classified before the proxy may dial it. Only public unicast addresses pass, unless an
// operator CIDR exemption covers the address.
//
// Embedded IPv4 forms are unwrapped first and the embedded address is classified:
// IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d,
// NAT64 64:ff9b::/96 (RFC 6052), 6to4 2002::/16 (RFC 3056), Teredo 2001::/32 (RFC 4380, the
// obfuscated client address). The NAT64 local-use prefix 64:ff9b:1::/48 (RFC 8215) has no fixed
// embedding and is denied as a whole.
//
// Pure and immutable after construction; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "policy/cidr_set.h"
#include "policy/ip.h"
#include "policy/policy_config.h"
#include "policy/source.h"

namespace gatehouse::policy {

enum class AddressClass : uint8_t {
  kPublic = 0,
  kUnspecified,    // 0.0.0.0, ::  (connecting to 0.0.0.0 reaches local listeners on Linux)
  kThisNetwork,    // 0.0.0.0/8
  kLoopback,       // 127.0.0.0/8, ::1
  kPrivate,        // RFC 1918: 10/8, 172.16/12, 192.168/16
  kCgnat,          // 100.64.0.0/10 (RFC 6598)
  kLinkLocal,      // 169.254.0.0/16 (cloud metadata 169.254.169.254), fe80::/10
  kUniqueLocal,    // fc00::/7
  kSiteLocal,      // fec0::/10 (deprecated, still routed privately)
  kMulticast,      // 224.0.0.0/4, ff00::/8
  kBroadcast,      // 255.255.255.255
  kDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  kBenchmarking,   // 198.18.0.0/15, 2001:2::/48
  kReserved,       // 240.0.0.0/4, 192.0.0.0/24, 192.88.99.0/24, 100::/64, 2001::/23 (non-Teredo),
                   // 5f00::/16, and IPv6 outside 2000::/3 not listed above
  kNat64Local,     // 64:ff9b:1::/48
};

// Stable kebab-case name: "public", "loopback", "link-local", ... (also a metrics label).
const char* addressClassName(AddressClass cls);

struct AddressClassification {
  AddressClass cls = AddressClass::kPublic;
  // The address that was classified: the embedded IPv4 address when `embedding` is set,
  // otherwise the input.
  IpAddress classified;
  // "ipv4-mapped", "ipv4-compatible", "ipv4-translated", "nat64", "6to4", "teredo", or nullptr.
  const char* embedding = nullptr;
};

// Pure classification, no configuration.
AddressClassification classifyAddress(const IpAddress& addr) noexcept;

// One endpoint of the proxy itself (listen addresses); dialing it would loop.
struct Endpoint {
  IpAddress address;
  uint16_t port = 0;
};

class AddressGuard final {
 public:
  struct Verdict {
    bool allowed = false;
    AddressClassification classification;
    // When an operator exemption decided: its entry text ("127.0.0.0/8"), else nullptr. Points
    // into the guard, valid while the guard (its snapshot) is alive.
    const std::string* exemption = nullptr;
    bool self = false;  // the destination is one of the proxy's own endpoints
  };

  AddressGuard() = default;  // default config: deny every non-public address

  // Validates the [addresses] entries (CIDRs) and appends problems to `issues`; invalid entries
  // are left out (the caller refuses the config when issues hold errors).
  static AddressGuard build(const AddressesConfig& config, ConfigIssues& issues);

  // The proxy's own endpoints, compared exactly (for a wildcard listener the server passes each
  // local address); never allowed, exemptions notwithstanding.
  void setSelfEndpoints(std::vector<Endpoint> endpoints) { self_ = std::move(endpoints); }

  // Classifies addr (unwrapping embedded IPv4 first). Unspecified, multicast and broadcast
  // addresses are never allowed. Another non-public address is allowed only when an exemption
  // contains the address as given or the embedded address, or when deny_private = false.
  Verdict check(const IpAddress& addr, uint16_t port) const noexcept;

 private:
  bool deny_private_ = true;
  CidrSet exemptions_;  // value: index into exemption_texts_
  std::vector<std::string> exemption_texts_;
  std::vector<Endpoint> self_;
};

}  // namespace gatehouse::policy
