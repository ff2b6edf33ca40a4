// The session seam (SPEC §6): "who is this client and which environment applies?".
//
// The proxy core asks a SessionResolver once per client request (or per connection, when it
// caches the answer) and applies the environment of the session it gets back. The built-in
// implementation (control/session_resolver.h) answers from a SessionStore of static sessions
// ([[sessions]]) and dynamic ones (the control API); other session managers plug in here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/limits_config.h"
#include "proxy/common/limits.h"
#include "proxy/net/dns_resolver.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::conn {

// The limiter state of one session (or of the anonymous clients together), shared by every worker
// and kept across changes of the session (PATCH, reload). The limiter itself is lock-free; the
// overrides are read under a mutex, only by long-running tunnels refreshing their limits (once a
// second), never per request (requests read SessionInfo::limits).
class SessionLimits final {
 public:
  common::SessionLimiter& limiter() { return limiter_; }
  const common::SessionLimiter& limiter() const { return limiter_; }
  void setOverrides(const policy::LimitsConfig& overrides) {
    std::lock_guard<std::mutex> lock(mutex_);
    overrides_ = overrides;
  }
  policy::LimitsConfig overrides() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return overrides_;
  }

 private:
  common::SessionLimiter limiter_;
  mutable std::mutex mutex_;
  policy::LimitsConfig overrides_;
};

// What the proxy knows about an identified session. Immutable once published: shared between
// worker threads as std::shared_ptr<const SessionInfo>. Never holds a credential.
struct SessionInfo {
  std::string id;           // the session id (the Proxy-Authorization user name)
  std::string environment;  // the environment whose policy applies ("default" = [environment])
  std::vector<std::string> labels;
  std::chrono::system_clock::time_point expires = std::chrono::system_clock::time_point::max();
  policy::LimitsConfig limits;           // the session's overrides of its environment's limits
  std::shared_ptr<SessionLimits> state;  // never null for a session from the built-in store
};

enum class SessionStatus : uint8_t {
  // A session was identified (by credential or client address); `session` is set.
  kIdentified,
  // Sessions are not required and none matched: the request runs in the default environment.
  kAnonymous,
  // Sessions are required and the client presented nothing: the proxy answers 407 with
  // `Proxy-Authenticate: Basic realm="gatehouse"` so the client can retry with credentials.
  kChallenge,
  // A wrong credential, an unknown session id, a malformed or unsupported Proxy-Authorization,
  // or an ambiguous client address: 407.
  kDenied,
  // Too many failed attempts from this client address: 429, until the failure budget refills.
  kThrottled,
  // The session was identified but has expired: 407.
  kExpired,
};

// "identified", "anonymous", "challenge", "denied", "throttled", "expired".
inline const char* sessionStatusName(SessionStatus status) {
  switch (status) {
    case SessionStatus::kIdentified:
      return "identified";
    case SessionStatus::kAnonymous:
      return "anonymous";
    case SessionStatus::kChallenge:
      return "challenge";
    case SessionStatus::kDenied:
      return "denied";
    case SessionStatus::kThrottled:
      return "throttled";
    case SessionStatus::kExpired:
      return "expired";
  }
  return "denied";
}

struct SessionResult {
  SessionStatus status = SessionStatus::kDenied;
  // Set for kIdentified (and for kExpired, so the log can name the session); else null.
  std::shared_ptr<const SessionInfo> session;
  // Human-readable, for logs and the response body. Fixed text: it never repeats what the client
  // sent and never contains a secret.
  std::string reason;
  // The limiter state the request counts against: the session's, or the one shared by anonymous
  // clients. Null = no limits at all.
  std::shared_ptr<SessionLimits> limits;
};

struct SessionQuery {
  std::optional<net::SocketAddress> client;  // the client's source address, when known
  // The Proxy-Authorization header value ("" = absent). Only valid during resolve().
  std::string_view proxy_authorization;
};

class SessionResolver {
 public:
  virtual ~SessionResolver() = default;
  // Loop thread. A resolver that can answer without waiting (a table lookup) answers here, and
  // the core then does not call resolve() for this query; one that has to wait (a remote session
  // service) returns nullopt. Never calls back.
  virtual std::optional<SessionResult> resolveNow(const SessionQuery& query) {
    (void)query;
    return std::nullopt;
  }
  // Loop thread. The callback runs exactly once, on the loop thread, never inline, never after
  // the returned handle is destroyed (destroying it cancels). `query` is only read during the
  // call. The resolver must outlive the returned handle.
  virtual net::CancelHandlePtr resolve(const SessionQuery& query,
                                       std::function<void(SessionResult)> done) = 0;
};

}  // namespace gatehouse::conn
