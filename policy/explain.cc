#include "policy/explain.h"

namespace gatehouse::policy {

namespace {

std::string target(const Host& host, uint16_t port) {
  return host.authorityForm() + ":" + std::to_string(port);
}

std::string section(const Environment& env) {
  if (env.name() == "default") return "[environment]";
  // Synthesised environments ("session:<id>") have no table of their own.
  if (env.name().find(':') != std::string::npos) return "environment '" + env.name() + "'";
  return "[environments." + env.name() + "]";
}

std::string ruleWhere(const Rule& rule) {
  std::string s = "'" + rule.pattern.text + "' (" + rule.origin;
  if (rule.pos.line > 0) s += ", " + rule.pos.toString();
  return s + ")";
}

std::string portList(const Environment& env) {
  std::string s = "[";
  for (size_t i = 0; i < env.config().ports.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(env.config().ports[i]);
  }
  return s + "]";
}

}  // namespace

std::string environmentTag(const Environment& env) { return env.name() + "@" + env.version(); }

std::string decisionSummary(const Decision& d, const Environment* env, const Host& host,
                            uint16_t port) {
  std::string t = target(host, port);
  const std::string level = env ? accessLevelName(env->level()) : "?";
  switch (d.reason) {
    case Reason::kAllowListed:
      return t + " is allowed by " + (d.rule ? ruleWhere(*d.rule) : std::string("the list"));
    case Reason::kAlwaysAllowed:
      return t + " is allowed by the always_allow entry " +
             (d.rule ? ruleWhere(*d.rule) : std::string());
    case Reason::kFullAccess:
      return t + " is allowed: the environment has level \"full\" (any domain)";
    case Reason::kAddressAllowed:
      if (d.exemption) {
        return "address " + d.address.classified.toString() + " (" +
               addressClassName(d.address.cls) + ") is allowed by the [addresses] allow entry '" +
               *d.exemption + "'";
      }
      return "address " + d.address.classified.toString() + " is " +
             addressClassName(d.address.cls);
    case Reason::kHostDenied:
      return t + " is denied by the deny entry " + (d.rule ? ruleWhere(*d.rule) : std::string());
    case Reason::kHostNotAllowed:
      if (host.isIp() && env && env->level() != AccessLevel::kNone) {
        return t + " is an IP address that no IP or CIDR entry of environment '" + env->name() +
               "' allows (host-name entries never match IP addresses)";
      }
      if (env && env->level() == AccessLevel::kNone) {
        return t + " is not allowed: environment '" + env->name() +
               "' has level \"none\" and no always_allow entry matches";
      }
      if (env && env->level() == AccessLevel::kTrusted) {
        return t + " is not on the Trusted list (environment '" + env->name() +
               "', level \"trusted\")";
      }
      return t + " is not allowed: no entry of environment '" + (env ? env->name() : "") +
             "' (level \"" + level + "\") matches it";
    case Reason::kPortNotAllowed:
      if (d.rule) {
        return t + ": the host is allowed only on port " + std::to_string(d.rule->pattern.port) +
               " by " + ruleWhere(*d.rule);
      }
      return t + ": port " + std::to_string(port) + " is not in the ports " +
             (env ? portList(*env) : std::string()) + " of environment '" +
             (env ? env->name() : "") + "'";
    case Reason::kAddressDenied: {
      std::string s = "address " + d.address.classified.toString();
      if (d.address.embedding) s += std::string(" (embedded, ") + d.address.embedding + ")";
      return s + " is " + addressClassName(d.address.cls) +
             "; the address guard refuses non-public destinations";
    }
    case Reason::kProxyLoop:
      return t + " is the proxy itself";
    case Reason::kUnknownEnvironment:
      return "there is no such environment";
  }
  return t;
}

std::string howToAllow(const Decision& d, const Environment* env, const Host& host, uint16_t port) {
  if (d.allowed()) return "";
  const std::string& entry = host.text;  // canonical: also a valid exact entry
  const std::string where = env ? section(*env) : "[environment]";
  switch (d.reason) {
    case Reason::kHostDenied:
      return "deny entries win over every allow entry: remove or narrow the deny entry in " +
             (d.rule ? d.rule->origin : where);
    case Reason::kHostNotAllowed:
      if (env && env->level() == AccessLevel::kNone) {
        return "add \"" + entry + "\" to always_allow in " + where + ", or raise its level";
      }
      if (env && env->level() == AccessLevel::kCustom) {
        return "add \"" + entry + "\" to domains in " + where +
               (host.isIp() ? "" : " (\"**." + entry + "\" for the domain and its subdomains)");
      }
      return "set level = \"custom\", include_trusted = true and domains = [\"" + entry +
             "\"] in " + where + " (or use another environment for this sandbox)";
    case Reason::kPortNotAllowed:
      if (d.rule) {
        return "add an entry for the host without a port, or \"" + host.authorityForm() + ":" +
               std::to_string(port) + "\", in " + where;
      }
      return "add " + std::to_string(port) + " to ports in " + where +
             ", or allow only this host on it with an entry \"" + host.authorityForm() + ":" +
             std::to_string(port) + "\"";
    case Reason::kAddressDenied:
      return "if this destination is intended, exempt it in [addresses] allow, e.g. \"" +
             d.address.classified.toString() + (d.address.classified.isV4() ? "/32" : "/128") +
             "\" (operators only: it opens a private address to the sandbox)";
    case Reason::kProxyLoop:
      return "requests to the proxy's own listener are never forwarded";
    case Reason::kUnknownEnvironment:
      return "define the environment in [environments.NAME] or bind the session to an existing one";
    default:
      return "";
  }
}

}  // namespace gatehouse::policy
