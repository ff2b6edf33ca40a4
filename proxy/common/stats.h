// What the proxy core counts (SPEC §8), as a seam: the core reports events here and the control
// plane turns them into Prometheus metrics (control/metrics.h). The core never sees a metric
// name or a label string; every argument is a bounded enum or a number, so nothing a client
// sends (hosts, paths, session ids) can become a label value.
//
// Threading: every method may be called from any worker loop thread, concurrently; an
// implementation must be thread-safe and cheap (no allocation, no lock on the request path).
#pragma once

#include <chrono>
#include <cstdint>

#include "policy/policy.h"
#include "policy/policy_config.h"
#include "proxy/common/limits.h"
#include "proxy/net/dns_resolver.h"

namespace gatehouse::common {

// What kind of request a client sent: absolute-form HTTP, CONNECT, or one the proxy answers
// itself (origin-form: the local /git/ endpoints).
enum class RequestKind : uint8_t { kHttp, kConnect, kLocal };
inline constexpr size_t kRequestKindCount = 3;

// "up": client -> upstream; "down": upstream -> client.
enum class Direction : uint8_t { kUp, kDown };
inline constexpr size_t kDirectionCount = 2;

// How a shadow environment's decision compared with the enforced one.
enum class ShadowOutcome : uint8_t { kAgree, kWouldAllow, kWouldDeny };
inline constexpr size_t kShadowOutcomeCount = 3;

// Why a client was not identified (SessionStatus values that refuse the request).
enum class AuthFailure : uint8_t { kDenied, kExpired, kThrottled };
inline constexpr size_t kAuthFailureCount = 3;

class ProxyStats {
 public:
  virtual ~ProxyStats() = default;

  virtual void connectionOpened() = 0;
  virtual void connectionClosed() = 0;
  virtual void tunnelOpened() = 0;
  virtual void tunnelClosed() = 0;

  // The policy's final decision on a request (name policy, then the address guard). In report
  // mode a denial is still reported as a denial, and reportAllowed() follows.
  virtual void decided(RequestKind kind, policy::AccessLevel level, policy::Verdict verdict,
                       policy::Reason reason) = 0;
  // A request the policy denied went through because its environment is in report mode.
  virtual void reportAllowed(policy::Reason reason) = 0;
  // The shadow environment's decision on a request; `reason` is the shadow's.
  virtual void shadowDecided(ShadowOutcome outcome, policy::Reason reason) = 0;
  // Every response the proxy generated itself instead of forwarding (4xx/5xx).
  virtual void refused(int http_status) = 0;
  virtual void authFailed(AuthFailure failure) = 0;
  // A request or connection refused by a limit (kNone is never reported).
  virtual void limited(LimitHit hit) = 0;

  virtual void bytes(RequestKind kind, Direction direction, uint64_t count) = 0;
  virtual void dnsLookup(net::DnsStatus status, std::chrono::steady_clock::duration took) = 0;
  // A successful TCP connect to an upstream, from the dial to established.
  virtual void upstreamConnected(std::chrono::steady_clock::duration took) = 0;
};

// Counts nothing: for tests and tools that run the core without a control plane.
class NullStats final : public ProxyStats {
 public:
  void connectionOpened() override {}
  void connectionClosed() override {}
  void tunnelOpened() override {}
  void tunnelClosed() override {}
  void decided(RequestKind, policy::AccessLevel, policy::Verdict, policy::Reason) override {}
  void reportAllowed(policy::Reason) override {}
  void shadowDecided(ShadowOutcome, policy::Reason) override {}
  void refused(int) override {}
  void authFailed(AuthFailure) override {}
  void limited(LimitHit) override {}
  void bytes(RequestKind, Direction, uint64_t) override {}
  void dnsLookup(net::DnsStatus, std::chrono::steady_clock::duration) override {}
  void upstreamConnected(std::chrono::steady_clock::duration) override {}
};

}  // namespace gatehouse::common
