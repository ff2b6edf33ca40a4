#include "policy/policy.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <unordered_set>

namespace gatehouse::policy {

const char* reasonCode(Reason reason) {
  switch (reason) {
    case Reason::kAllowListed:
      return "allow-listed";
    case Reason::kAlwaysAllowed:
      return "always-allowed";
    case Reason::kFullAccess:
      return "full-access";
    case Reason::kAddressAllowed:
      return "address-allowed";
    case Reason::kHostDenied:
      return "host-denied";
    case Reason::kHostNotAllowed:
      return "host-not-allowed";
    case Reason::kPortNotAllowed:
      return "port-not-allowed";
    case Reason::kAddressDenied:
      return "address-denied";
    case Reason::kProxyLoop:
      return "proxy-loop";
    case Reason::kUnknownEnvironment:
      return "unknown-environment";
  }
  return "host-not-allowed";
}

const char* verdictName(Verdict verdict) { return verdict == Verdict::kAllow ? "allow" : "deny"; }

// Declared in policy_config.h, next to the enum.
const char* environmentModeName(EnvironmentMode mode) {
  return mode == EnvironmentMode::kReport ? "report" : "enforce";
}

std::string Decision::ruleId() const {
  if (rule != nullptr) return rule->id;
  if (exemption != nullptr) return "addresses.allow:" + *exemption;
  if (builtin == nullptr) return "";
  std::string id = builtin;
  if (id == "address-guard") {
    id += ':';
    id += reason == Reason::kProxyLoop ? "self" : addressClassName(address.cls);
  }
  return id;
}

namespace {

Decision deny(Reason reason, const Rule* rule, const char* builtin) {
  Decision d;
  d.verdict = Verdict::kDeny;
  d.reason = reason;
  d.rule = rule;
  d.builtin = rule == nullptr ? builtin : nullptr;
  return d;
}

const char* levelRule(AccessLevel level) {
  switch (level) {
    case AccessLevel::kNone:
      return "level:none";
    case AccessLevel::kTrusted:
      return "level:trusted";
    case AccessLevel::kFull:
      return "level:full";
    case AccessLevel::kCustom:
      return "level:custom";
  }
  return "level:none";
}

// FNV-1a, 64 bit: a stable content hash for environment versions (not a security boundary).
class Fnv final {
 public:
  void add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ULL;
    }
    h_ ^= 0xff;  // separator, so that ("ab","c") != ("a","bc")
    h_ *= 0x100000001b3ULL;
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return std::string(buf, 12);
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

// "did you mean 'x'?" when a name is within two edits, otherwise the list of names.
std::string nameHint(std::string_view word, const std::vector<std::string_view>& names) {
  constexpr size_t kMaxDistance = 2;
  std::string_view best;
  size_t best_distance = kMaxDistance + 1;
  for (std::string_view n : names) {
    size_t distance = editDistance(word, n);
    if (distance < best_distance) {
      best = n;
      best_distance = distance;
    }
  }
  if (!best.empty()) return "did you mean '" + std::string(best) + "'?";
  std::string out = "use one of";
  for (size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? " " : ", ";
    out += names[i];
  }
  return out;
}

// Synthesised environments ("session:<id>") are the only names with ':'.
bool isSynthesised(std::string_view name) { return name.find(':') != std::string_view::npos; }

}  // namespace

Decision Environment::checkName(const Host& host, uint16_t port) const noexcept {
  const HostMatcher::Result m = matcher_.match(host, port);
  // Rules are only addressed, not read, on this path: the matcher reports what it needs.
  const auto ruleAt = [this](int32_t i) {
    return i >= 0 ? &rules_[static_cast<size_t>(i)] : nullptr;
  };

  if (const Rule* r = ruleAt(m[ListTag::kDeny].entry)) {
    return deny(Reason::kHostDenied, r, nullptr);
  }

  const HostMatcher::TagMatch* allowed_by = nullptr;
  Reason reason = Reason::kAllowListed;
  if (m[ListTag::kAlwaysAllow].entry >= 0) {
    allowed_by = &m[ListTag::kAlwaysAllow];
    reason = Reason::kAlwaysAllowed;
  } else if (config_.level == AccessLevel::kFull) {
    reason = Reason::kFullAccess;
  } else if (m[ListTag::kAllow].entry >= 0 && config_.level != AccessLevel::kNone) {
    allowed_by = &m[ListTag::kAllow];
  } else {
    // Nothing allows the host on this port; say "port" when an entry allows it on another one.
    const Rule* other = ruleAt(m[ListTag::kAlwaysAllow].other_port_entry);
    if (other == nullptr && config_.level != AccessLevel::kNone) {
      other = ruleAt(m[ListTag::kAllow].other_port_entry);
    }
    if (other != nullptr) return deny(Reason::kPortNotAllowed, other, nullptr);
    return deny(Reason::kHostNotAllowed, nullptr, levelRule(config_.level));
  }

  // An entry with an explicit port allows exactly that port; others use the environment's ports.
  const bool port_ok = (allowed_by != nullptr && allowed_by->entry_port != 0) || portAllowed(port);
  if (!port_ok) return deny(Reason::kPortNotAllowed, nullptr, "ports");

  Decision d;
  d.verdict = Verdict::kAllow;
  d.reason = reason;
  d.rule = allowed_by != nullptr ? ruleAt(allowed_by->entry) : nullptr;
  d.builtin = allowed_by == nullptr ? levelRule(config_.level) : nullptr;
  return d;
}

Decision PolicySnapshot::check(const RequestInfo& request) const noexcept {
  const Environment* env = environment(request.environment);
  if (env == nullptr) return deny(Reason::kUnknownEnvironment, nullptr, "environment");
  if (request.host == nullptr) return deny(Reason::kHostNotAllowed, nullptr, "environment");
  return env->checkName(*request.host, request.port);
}

Decision PolicySnapshot::checkResolved(const RequestInfo& request,
                                       const IpAddress& address) const noexcept {
  if (environment(request.environment) == nullptr) {
    return deny(Reason::kUnknownEnvironment, nullptr, "environment");
  }
  const AddressGuard::Verdict v = guard_.check(address, request.port);
  Decision d;
  d.address = v.classification;
  d.exemption = v.exemption;
  d.builtin = v.exemption == nullptr ? "address-guard" : nullptr;
  if (v.allowed) {
    d.verdict = Verdict::kAllow;
    d.reason = Reason::kAddressAllowed;
  } else {
    d.verdict = Verdict::kDeny;
    d.reason = v.self ? Reason::kProxyLoop : Reason::kAddressDenied;
  }
  return d;
}

const Environment* PolicySnapshot::environment(std::string_view name) const noexcept {
  // Most requests use "default", which is always first: no hashing for them.
  if (!environments_.empty() && environments_.front()->name() == name) {
    return environments_.front().get();
  }
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

size_t PolicySnapshot::trustedEntryCount() const {
  size_t n = 0;
  for (const auto& g : trusted_.groups) n += g.domains.size();
  return n;
}

struct PolicyBuilder {
  struct ParsedEntry {
    const PatternEntry* entry;
    Pattern pattern;
    std::string origin;
  };

  // Entries already reported as invalid, by position and text: a synthesised environment copies
  // its base's lists, and a bad entry is reported once, not once per copy.
  using Reported = std::unordered_set<std::string>;

  // Parses the entries of one list; failed entries become issues and are left out.
  static std::vector<ParsedEntry> parseList(const std::vector<PatternEntry>& entries,
                                            const std::string& list_name, ConfigIssues& issues,
                                            Reported* reported = nullptr) {
    std::vector<ParsedEntry> out;
    out.reserve(entries.size());
    for (const PatternEntry& e : entries) {
      PatternParse p = parsePattern(e.text);
      if (!p.ok()) {
        // Entries without a position (built in code) cannot be told apart: always reported.
        const bool first = reported == nullptr || e.pos.line == 0 ||
                           reported->insert(e.pos.toString() + '\0' + e.text).second;
        if (first) issues.push_back(patternIssue(e, p, list_name));
        continue;
      }
      out.push_back(ParsedEntry{&e, std::move(*p.pattern), list_name});
    }
    return out;
  }

  static std::string sectionName(const EnvironmentConfig& env) {
    if (env.name == "default") return "[environment]";
    if (isSynthesised(env.name)) return "environment '" + env.name + "'";
    return "[environments." + env.name + "]";
  }

  static void addRules(Environment& env, std::vector<ParsedEntry>& parsed, ListTag tag,
                       const std::string& id_prefix) {
    for (ParsedEntry& p : parsed) {
      Rule r;
      r.list = tag;
      r.id = id_prefix + p.pattern.text;
      r.origin = p.origin;
      r.pos = p.entry->pos;
      r.pattern = std::move(p.pattern);
      env.matcher_.add(r.pattern, tag, static_cast<uint32_t>(env.rules_.size()));
      env.rules_.push_back(std::move(r));
    }
  }

  static std::unique_ptr<Environment> buildEnvironment(
      const EnvironmentConfig& config, const TrustedList& trusted,
      const std::vector<ParsedEntry>& trusted_parsed, ConfigIssues& issues, Reported& reported) {
    const std::string section = sectionName(config);
    auto deny = parseList(config.deny, section + " deny", issues, &reported);
    auto always = parseList(config.always_allow, section + " always_allow", issues, &reported);
    auto domains = parseList(config.domains, section + " domains", issues, &reported);

    if (config.level != AccessLevel::kCustom && !config.domains.empty()) {
      issues.push_back(ConfigIssue{
          ConfigIssue::Severity::kError, config.domains.front().pos,
          section + " has domains but level = \"" + accessLevelName(config.level) +
              "\"; domains are only used at level \"custom\"",
          "set level = \"custom\" (and include_trusted = true to keep the Trusted list)"});
    }
    if (config.level != AccessLevel::kCustom && config.include_trusted) {
      issues.push_back(ConfigIssue{ConfigIssue::Severity::kWarning, config.pos,
                                   section + " sets include_trusted, which only applies at level "
                                             "\"custom\"",
                                   "remove it, or set level = \"custom\""});
    }
    if (config.level == AccessLevel::kCustom && config.domains.empty() && !config.include_trusted &&
        config.always_allow.empty()) {
      issues.push_back(ConfigIssue{ConfigIssue::Severity::kWarning, config.pos,
                                   section + " is level \"custom\" with no domains: it allows "
                                             "nothing",
                                   "add domains, or set include_trusted = true"});
    }

    auto env = std::make_unique<Environment>();
    env->config_ = config;
    for (uint16_t p : config.ports) env->ports_.set(p);

    const bool use_trusted = config.level == AccessLevel::kTrusted ||
                             (config.level == AccessLevel::kCustom && config.include_trusted);
    addRules(*env, deny, ListTag::kDeny, "deny:");
    addRules(*env, always, ListTag::kAlwaysAllow, "always_allow:");
    if (config.level == AccessLevel::kCustom) addRules(*env, domains, ListTag::kAllow, "domains:");
    if (use_trusted) {
      std::vector<ParsedEntry> trusted_rules = trusted_parsed;  // copied only where used
      addRules(*env, trusted_rules, ListTag::kAllow, "trusted:");
    }
    env->matcher_.finalize();

    // The version covers everything that changes a decision, in a canonical order.
    Fnv h;
    h.add(accessLevelName(config.level));
    std::vector<uint16_t> ports = config.ports;
    std::sort(ports.begin(), ports.end());
    for (uint16_t p : ports) h.add(std::to_string(p));
    std::vector<std::string> ids;
    for (const Rule& r : env->rules_) ids.push_back(r.id);
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) h.add(id);
    if (use_trusted) h.add("trusted@" + trusted.version);
    // Only non-defaults (and limits only when set), so that adding these keys left existing
    // versions unchanged.
    if (config.mode != EnvironmentMode::kEnforce) {
      h.add(std::string("mode:") + environmentModeName(config.mode));
    }
    if (!config.shadow.empty()) h.add("shadow:" + config.shadow);
    for (size_t i = 0; i < kLimitKeyCount; ++i) {
      if (const std::optional<uint64_t>& v = config.limits.values[i]) {
        h.add("limit:" + std::string(limitKeyName(static_cast<LimitKey>(i))) + "=" +
              std::to_string(*v));
      }
    }
    env->version_ = h.hex();
    return env;
  }

  // Builds the name index (duplicates are errors) and resolves every shadow.
  static void link(PolicySnapshot& snap, ConfigIssues& issues) {
    snap.by_name_.reserve(snap.environments_.size());
    for (const auto& env : snap.environments_) {
      auto [it, inserted] = snap.by_name_.try_emplace(env->name(), env.get());
      if (!inserted) {
        issues.push_back(ConfigIssue{ConfigIssue::Severity::kError, env->config_.pos,
                                     "environment '" + env->name() + "' is defined twice",
                                     "the first definition is at " +
                                         it->second->config_.pos.toString() +
                                         "; environment names must be unique"});
      }
    }
    std::vector<std::string_view> configured;  // for hints: the names a config file can use
    for (const auto& env : snap.environments_) {
      if (!isSynthesised(env->name())) configured.push_back(env->name());
    }
    for (const auto& env : snap.environments_) {
      const EnvironmentConfig& c = env->config_;
      if (c.shadow.empty()) continue;
      // A synthesised environment copies its base's shadow; a bad one is reported at the base.
      if (isSynthesised(c.name)) {
        auto it = snap.by_name_.find(c.shadow);
        if (it != snap.by_name_.end() && !isSynthesised(c.shadow)) env->shadow_ = it->second;
        continue;
      }
      const std::string section = sectionName(c);
      if (c.shadow == c.name) {
        issues.push_back(ConfigIssue{ConfigIssue::Severity::kError, c.shadow_pos,
                                     section + " shadow names the environment itself",
                                     "name another environment to evaluate beside this one, or "
                                     "remove shadow"});
        continue;
      }
      auto it = snap.by_name_.find(c.shadow);
      if (it == snap.by_name_.end() || isSynthesised(c.shadow)) {
        issues.push_back(
            ConfigIssue{ConfigIssue::Severity::kError, c.shadow_pos,
                        section + " shadow '" + c.shadow + "' is not a defined environment",
                        isSynthesised(c.shadow) ? "a shadow must be \"default\" or a configured "
                                                  "[environments.NAME], not a session's environment"
                                                : nameHint(c.shadow, configured)});
        continue;
      }
      env->shadow_ = it->second;
    }
  }

  static PolicyCompile compile(const PolicyConfig& config) {
    PolicyCompile out;
    auto snap = std::make_shared<PolicySnapshot>();
    snap->trusted_ = config.trusted;

    std::vector<ParsedEntry> trusted_parsed;
    for (const TrustedGroup& g : config.trusted.groups) {
      auto parsed = parseList(g.domains, "Trusted list group " + g.id, out.issues);
      for (auto& p : parsed) {
        p.origin = "Trusted list " + config.trusted.version + " (" + g.id + ")";
        trusted_parsed.push_back(std::move(p));
      }
    }

    Reported reported;
    snap->environments_.reserve(1 + config.environments.size());
    snap->environments_.push_back(buildEnvironment(config.default_environment, config.trusted,
                                                   trusted_parsed, out.issues, reported));
    for (const EnvironmentConfig& e : config.environments) {
      snap->environments_.push_back(
          buildEnvironment(e, config.trusted, trusted_parsed, out.issues, reported));
    }
    link(*snap, out.issues);
    snap->guard_ = AddressGuard::build(config.addresses, out.issues);

    std::stable_sort(out.issues.begin(), out.issues.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) {
                       if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
                       if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
                       return a.pos.column < b.pos.column;
                     });
    if (!hasErrors(out.issues)) out.snapshot = std::move(snap);
    return out;
  }
};

PolicyCompile compilePolicy(const PolicyConfig& config) { return PolicyBuilder::compile(config); }

}  // namespace gatehouse::policy
