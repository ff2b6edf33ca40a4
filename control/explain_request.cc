#include "control/explain_request.h"

#include "proxy/http/target.h"

namespace gatehouse::control {

namespace {

// URL (http:// or https://) or HOST[:PORT] (port 443 when omitted).
http::TargetParse parseDestination(const std::string& text) {
  if (text.find("://") != std::string::npos) {
    return http::parseAbsoluteForm(text, http::AbsoluteFormOptions{true});
  }
  http::TargetParse p = http::parseAuthorityForm(text);
  if (p.error == http::TargetError::kMissingPort) p = http::parseAuthorityForm(text + ":443");
  return p;
}

}  // namespace

ExplainResult explainRequest(const policy::PolicySnapshot& policy,
                             const net::ResolverConfig& resolver, const ExplainQuery& query) {
  ExplainResult v;
  http::TargetParse p = parseDestination(query.target);
  v.env = policy.environment(query.environment);
  if (!p.ok()) {
    v.error = p.message();
    return v;
  }
  v.host = p.target->host;
  v.port = p.target->port;
  const policy::Host& host = *v.host;
  policy::RequestInfo req{query.environment, query.method, &host, v.port};
  v.decision = policy.check(req);
  if (v.env != nullptr && v.env->shadow() != nullptr) {
    v.shadow = v.env->shadow()->checkName(host, v.port);
  }
  if (!v.decision.allowed()) {
    // As the proxy does: report mode lets a name-policy denial through; the address guard below
    // is enforced in every mode.
    if (v.env == nullptr || v.env->mode() != policy::EnvironmentMode::kReport) return v;
    v.report_allowed = true;
  }
  std::optional<policy::Decision> address_denial;
  if (host.isIp()) {
    policy::Decision a = policy.checkResolved(req, host.ip);
    v.addresses.emplace_back(host.text, a);
    if (!a.allowed()) address_denial = a;
  } else {
    for (const auto& s : resolver.static_hosts) {
      if (s.name != host.text) continue;
      v.resolved_statically = true;
      bool any_allowed = false;
      std::optional<policy::Decision> first_denied;
      for (const std::string& text : s.addresses) {
        auto ip = policy::IpAddress::parse(text);
        if (!ip) continue;
        policy::Decision a = policy.checkResolved(req, *ip);
        v.addresses.emplace_back(ip->toString(), a);
        any_allowed = any_allowed || a.allowed();
        if (!a.allowed() && !first_denied) first_denied = a;
      }
      // The proxy dials only addresses that passed; with none left the request is refused.
      if (!any_allowed && first_denied) address_denial = first_denied;
    }
  }
  if (address_denial) {
    v.decision = *address_denial;
    v.report_allowed = false;
  }
  return v;
}

}  // namespace gatehouse::control
