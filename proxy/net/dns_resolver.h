// Name resolution for the upstream connector (SPEC §3 step 6).
//
// Names reach the resolver only after the name policy allowed them (no DNS query leaks a
// denied name). Answers are the addresses to classify and dial, in order; the connector never
// resolves again between the address check and the dial.
//
// Threading: a resolver belongs to one worker's loop; resolve() and cancellation happen on that
// loop thread. The callback runs exactly once, on the loop thread, never inline from resolve()
// and never after the returned handle was destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/ip.h"

namespace gatehouse::net {

enum class DnsStatus : uint8_t {
  kOk,         // at least one address
  kNoData,     // the name exists but has no A/AAAA record
  kNxDomain,   // NXDOMAIN
  kServFail,   // SERVFAIL, REFUSED, malformed or truncated answers, CNAME loops
  kTimeout,    // no answer within the per-query timeout
  kCancelled,  // never delivered to callbacks (for completeness of the enum)
};

const char* dnsStatusName(DnsStatus status);  // "ok", "nodata", "nxdomain", "servfail", "timeout"

struct DnsAnswer {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<policy::IpAddress> addresses;  // IPv4 first, then IPv6; at most kMaxAddresses
  std::chrono::seconds ttl{0};               // as capped by the cache
  bool from_cache = false;
  bool from_static = false;  // a [resolver] static entry
  bool overloaded = false;   // kServFail because the resolver refused more concurrent names
};

inline constexpr size_t kMaxAddresses = 16;

// Destroying it cancels the query: the callback will not run.
class CancelHandle {
 public:
  virtual ~CancelHandle() = default;
};
using CancelHandlePtr = std::unique_ptr<CancelHandle>;

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  // `name` is a canonical host name (policy::canonicalizeHost), never an IP literal.
  virtual CancelHandlePtr resolve(const std::string& name,
                                  std::function<void(const DnsAnswer&)> callback) = 0;
};

}  // namespace gatehouse::net
