// The policy: environments compiled into an immutable snapshot, and the decisions of SPEC §3
// steps 3 (name policy, before any DNS query) and 6 (address guard, per resolved address).
//
// Threading and ownership: a PolicySnapshot is built once by compilePolicy(), never changes,
// and is shared between worker threads through std::shared_ptr<const PolicySnapshot>. A
// Decision points into the snapshot (its Rule), so it is valid while the caller holds the
// snapshot. check() and checkResolved() are pure, noexcept and do not allocate; any error
// denies.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/address_guard.h"
#include "policy/host.h"
#include "policy/matcher.h"
#include "policy/pattern.h"
#include "policy/policy_config.h"
#include "policy/source.h"

namespace gatehouse::policy {

enum class Verdict : uint8_t { kAllow, kDeny };

// Why a decision was taken. The codes are stable (X-Gatehouse-Reason, logs, metrics labels).
enum class Reason : uint8_t {
  kAllowListed,         // "allow-listed": the environment's domains or the Trusted list
  kAlwaysAllowed,       // "always-allowed": an always_allow entry
  kFullAccess,          // "full-access": level "full"
  kAddressAllowed,      // "address-allowed": the resolved address passed the address guard
  kHostDenied,          // "host-denied": a deny entry
  kHostNotAllowed,      // "host-not-allowed": no list allows the host
  kPortNotAllowed,      // "port-not-allowed"
  kAddressDenied,       // "address-denied": the address guard refused the address
  kProxyLoop,           // "proxy-loop": the destination is the proxy itself
  kUnknownEnvironment,  // "unknown-environment"
};
inline constexpr int kReasonCount = 10;

const char* reasonCode(Reason reason);
const char* verdictName(Verdict verdict);  // "allow" | "deny"

// One list entry of a compiled environment.
struct Rule {
  ListTag list = ListTag::kAllow;
  Pattern pattern;
  std::string id;      // "deny:*.evil.test", "domains:**.example.dev", "trusted:github.com", ...
  std::string origin;  // "[environments.web-dev] deny", "Trusted list 2026.11.21 (version_control)"
  SourcePos pos;
};

struct Decision {
  Verdict verdict = Verdict::kDeny;
  Reason reason = Reason::kHostNotAllowed;
  const Rule* rule = nullptr;  // the entry that decided, if an entry did
  // Otherwise the built-in rule that decided: "level:none", "level:trusted", "level:custom",
  // "level:full", "ports", "address-guard", "environment".
  const char* builtin = nullptr;
  AddressClassification address;           // address decisions: what the guard saw
  const std::string* exemption = nullptr;  // address decisions: the [addresses] allow entry

  bool allowed() const { return verdict == Verdict::kAllow; }
  // The X-Gatehouse-Rule value: "deny:*.evil.test", "ports", "address-guard:loopback",
  // "addresses.allow:127.0.0.0/8", ...
  std::string ruleId() const;
};

// An environment's name is "default", a configured [environments.NAME] (never containing ':'),
// or a synthesised one such as "session:<id>" (a session's inline domains on top of its
// environment, control/session_environments.h); names are unique within a snapshot.
class Environment final {
 public:
  const std::string& name() const { return config_.name; }
  AccessLevel level() const { return config_.level; }
  EnvironmentMode mode() const { return config_.mode; }
  // The environment evaluated beside this one (config().shadow), in the same snapshot; nullptr
  // when none. One level only: the shadow's own shadow is not followed.
  const Environment* shadow() const { return shadow_; }
  // Stable hash of the effective policy (lists, Trusted list version, ports, mode, shadow name):
  // changes exactly when what the environment allows or how it is applied changes. The default
  // mode and no shadow add nothing, so versions from before those keys existed stay the same.
  const std::string& version() const { return version_; }
  bool portAllowed(uint16_t port) const { return ports_.test(port); }
  const std::vector<Rule>& rules() const { return rules_; }
  const EnvironmentConfig& config() const { return config_; }

  // SPEC §3 step 3: deny list -> access level / always_allow -> port.
  Decision checkName(const Host& host, uint16_t port) const noexcept;

 private:
  friend struct PolicyBuilder;
  EnvironmentConfig config_;
  std::string version_;
  std::vector<Rule> rules_;
  HostMatcher matcher_;
  std::bitset<65536> ports_;
  const Environment* shadow_ = nullptr;  // owned by the same snapshot
};

struct RequestInfo {
  std::string_view environment = "default";
  std::string_view method;  // "GET", "CONNECT", ...
  const Host* host = nullptr;
  uint16_t port = 0;
};

// The seam between the proxy core and the policy (tests substitute their own).
class Policy {
 public:
  virtual ~Policy() = default;
  // Step 3, before any DNS query. Any thread.
  virtual Decision check(const RequestInfo& request) const noexcept = 0;
  // Step 6, for each resolved address, and for an IP-literal destination itself. Any thread.
  virtual Decision checkResolved(const RequestInfo& request,
                                 const IpAddress& address) const noexcept = 0;
};

class PolicySnapshot final : public Policy {
 public:
  Decision check(const RequestInfo& request) const noexcept override;
  Decision checkResolved(const RequestInfo& request,
                         const IpAddress& address) const noexcept override;

  // nullptr when there is no environment of that name. Constant time: a snapshot may hold one
  // environment per session.
  const Environment* environment(std::string_view name) const noexcept;
  // "default" first, then the configured environments in file order, then synthesised ones in
  // the order they were appended.
  const std::vector<std::unique_ptr<Environment>>& environments() const { return environments_; }
  const AddressGuard& addressGuard() const { return guard_; }
  const TrustedList& trustedList() const { return trusted_; }
  size_t trustedEntryCount() const;

  // The proxy's own listen endpoints (set before the snapshot is shared).
  void setSelfEndpoints(std::vector<Endpoint> endpoints) {
    guard_.setSelfEndpoints(std::move(endpoints));
  }

 private:
  friend struct PolicyBuilder;
  std::vector<std::unique_ptr<Environment>> environments_;  // "default" first
  // Name -> environment; the keys view the environments' own name strings (heap objects that
  // never move while the snapshot lives).
  std::unordered_map<std::string_view, const Environment*> by_name_;
  AddressGuard guard_;
  TrustedList trusted_;
};

struct PolicyCompile {
  std::shared_ptr<PolicySnapshot> snapshot;  // null when issues hold errors
  ConfigIssues issues;                       // errors and warnings
};

// Validates every entry (all problems at once, with positions) and builds the snapshot. Also
// refused: two environments with the same name, and a shadow that names no environment, the
// environment itself, or a synthesised environment (a name with ':').
PolicyCompile compilePolicy(const PolicyConfig& config);

}  // namespace gatehouse::policy
