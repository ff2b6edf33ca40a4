#include "policy/diff.h"

#include <algorithm>
#include <set>

namespace gatehouse::policy {

namespace {

// Sample hosts that exercise one entry: its apex and a subdomain for names, its base address for
// CIDRs.
void samplesOf(const Rule& r, std::set<std::string>& names) {
  const Pattern& p = r.pattern;
  if (p.kind == Pattern::Kind::kCidr) {
    names.insert(p.cidr.base().isV6() ? "[" + p.cidr.base().toString() + "]"
                                      : p.cidr.base().toString());
    return;
  }
  names.insert(p.name);
  if (p.kind != Pattern::Kind::kExact) names.insert("sub." + p.name);
}

void portsOf(const Environment* env, std::set<uint16_t>& ports) {
  if (env == nullptr) return;
  for (uint16_t p : env->config().ports) ports.insert(p);
  for (const Rule& r : env->rules()) {
    if (r.pattern.port != 0) ports.insert(r.pattern.port);
  }
}

std::set<std::string> ruleIds(const Environment* env) {
  std::set<std::string> ids;
  if (env == nullptr) return ids;
  for (const Rule& r : env->rules()) ids.insert(r.id);
  return ids;
}

std::string tag(const Environment* env) { return env ? env->name() + "@" + env->version() : ""; }

}  // namespace

PolicyDiff diffPolicies(const PolicySnapshot& old_policy, const PolicySnapshot& new_policy) {
  PolicyDiff out;
  std::vector<std::string> names;
  for (const auto& e : old_policy.environments()) names.push_back(e->name());
  for (const auto& e : new_policy.environments()) {
    if (std::find(names.begin(), names.end(), e->name()) == names.end()) {
      names.push_back(e->name());
    }
  }
  for (const std::string& name : names) {
    const Environment* a = old_policy.environment(name);
    const Environment* b = new_policy.environment(name);
    EnvironmentDiff d;
    d.name = name;
    d.old_tag = tag(a);
    d.new_tag = tag(b);
    std::set<std::string> ids_a = ruleIds(a);
    std::set<std::string> ids_b = ruleIds(b);
    std::set_difference(ids_b.begin(), ids_b.end(), ids_a.begin(), ids_a.end(),
                        std::back_inserter(d.added_entries));
    std::set_difference(ids_a.begin(), ids_a.end(), ids_b.begin(), ids_b.end(),
                        std::back_inserter(d.removed_entries));

    std::set<std::string> hosts;
    for (const Environment* env : {a, b}) {
      if (env == nullptr) continue;
      for (const Rule& r : env->rules()) samplesOf(r, hosts);
    }
    std::set<uint16_t> ports;
    portsOf(a, ports);
    portsOf(b, ports);
    for (const std::string& h : hosts) {
      HostParse hp = canonicalizeHost(h);
      if (!hp.ok()) continue;
      for (uint16_t port : ports) {
        RequestInfo req{name, "GET", &*hp.host, port};
        Decision da = old_policy.check(req);
        Decision db = new_policy.check(req);
        // An IP literal is also subject to the address guard, whose exemptions may change.
        if (hp.host->isIp()) {
          if (da.allowed()) da = old_policy.checkResolved(req, hp.host->ip);
          if (db.allowed()) db = new_policy.checkResolved(req, hp.host->ip);
        }
        if (da.allowed() == db.allowed()) continue;
        SampleChange c;
        c.destination = h + ":" + std::to_string(port);
        c.now_allowed = db.allowed();
        c.old_rule = a ? da.ruleId() : "no environment";
        c.new_rule = b ? db.ruleId() : "no environment";
        (c.now_allowed ? out.newly_allowed : out.newly_denied)++;
        d.changes.push_back(std::move(c));
      }
    }
    if (d.changed()) out.environments.push_back(std::move(d));
  }
  return out;
}

std::string formatDiff(const PolicyDiff& diff) {
  std::string s;
  for (const EnvironmentDiff& d : diff.environments) {
    s += "environment " + d.name + ": " + (d.old_tag.empty() ? "(new)" : d.old_tag) + " -> " +
         (d.new_tag.empty() ? "(removed)" : d.new_tag) + "\n";
    for (const auto& e : d.added_entries) s += "  + " + e + "\n";
    for (const auto& e : d.removed_entries) s += "  - " + e + "\n";
    for (const auto& c : d.changes) {
      s += std::string(c.now_allowed ? "  newly allowed " : "  newly denied  ") + c.destination +
           "  (" + c.old_rule + " -> " + c.new_rule + ")\n";
    }
  }
  s += std::to_string(diff.environments.size()) + " environment(s) changed, " +
       std::to_string(diff.newly_allowed) + " destination(s) newly allowed, " +
       std::to_string(diff.newly_denied) + " newly denied\n";
  return s;
}

}  // namespace gatehouse::policy
