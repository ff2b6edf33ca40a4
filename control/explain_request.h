// One explanation of a decision (SPEC §9 `gatehouse explain`, SPEC §8 POST /v1/explain): the
// name policy, then the address guard for an IP literal or the [resolver] static answers, with
// report mode and the shadow environment as the proxy applies them. The CLI and the control API
// both call explainRequest() and only format its result differently, so they cannot disagree.
//
// Pure: no network access, no DNS. The result points into `policy` (environments, rules): valid
// while the caller holds the snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/host.h"
#include "policy/policy.h"
#include "proxy/net/resolver_config.h"

namespace gatehouse::control {

struct ExplainQuery {
  std::string environment = "default";  // must exist in the snapshot (the caller checks)
  std::string method = "GET";
  std::string target;  // http(s):// URL, or HOST[:PORT] (port 443 when omitted)
};

struct ExplainResult {
  std::string error;  // the target is malformed (then nothing else is set)
  std::optional<policy::Host> host;
  uint16_t port = 0;
  const policy::Environment* env = nullptr;
  // The enforced decision: the name policy, then (if it allowed) the address guard.
  policy::Decision decision;
  std::vector<std::pair<std::string, policy::Decision>> addresses;  // checked static answers
  bool resolved_statically = false;
  // The environment is in report mode and the name policy denied: the proxy lets the request
  // through and logs the denial.
  bool report_allowed = false;
  std::optional<policy::Decision> shadow;  // the shadow environment's name decision, if any

  bool malformed() const { return !host.has_value(); }
  // What the proxy does: allowed by the policy, or let through by report mode.
  bool proxyAllows() const { return decision.allowed() || report_allowed; }
};

ExplainResult explainRequest(const policy::PolicySnapshot& policy,
                             const net::ResolverConfig& resolver, const ExplainQuery& query);

}  // namespace gatehouse::control
