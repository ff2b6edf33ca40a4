#include "control/session_environments.h"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "policy/pattern.h"

namespace gatehouse::control {

namespace {

using policy::AccessLevel;
using policy::ConfigIssue;
using policy::EnvironmentConfig;

std::string sessionWhat(const SessionEnvironmentSpec& spec) {
  return "session '" + spec.session_id + "'";
}

// Where an issue about the spec's domains points: the first entry, else the session.
const policy::SourcePos& domainsPos(const SessionEnvironmentSpec& spec) {
  const policy::SourcePos& first = spec.domains.front().pos;
  return first.line > 0 || !first.file.empty() ? first : spec.pos;
}

}  // namespace

std::string sessionEnvironmentName(std::string_view session_id) {
  std::string name = "session:";
  name += session_id;
  return name;
}

policy::PolicyConfig withSessionEnvironments(policy::PolicyConfig config,
                                             const std::vector<SessionEnvironmentSpec>& specs,
                                             policy::ConfigIssues& issues) {
  // The bases: the environments given, before any is appended (indices stay valid).
  std::unordered_map<std::string, size_t> base_index;
  std::unordered_set<std::string> taken = {config.default_environment.name};
  for (size_t i = 0; i < config.environments.size(); ++i) {
    base_index.try_emplace(config.environments[i].name, i);
    taken.insert(config.environments[i].name);
  }
  const size_t configured = config.environments.size();

  for (const SessionEnvironmentSpec& spec : specs) {
    if (spec.domains.empty()) continue;
    const EnvironmentConfig* base = nullptr;
    if (spec.base == config.default_environment.name) {
      base = &config.default_environment;
    } else if (auto it = base_index.find(spec.base); it != base_index.end()) {
      base = &config.environments[it->second];
    }
    if (base == nullptr) {
      std::string names = config.default_environment.name;
      for (size_t i = 0; i < configured; ++i) names += ", " + config.environments[i].name;
      issues.push_back(ConfigIssue{ConfigIssue::Severity::kError, spec.pos,
                                   sessionWhat(spec) + " has domains, but its environment '" +
                                       spec.base + "' is not defined",
                                   "bind the session to one of " + names});
      continue;
    }
    const std::string name = sessionEnvironmentName(spec.session_id);
    if (!taken.insert(name).second) {
      issues.push_back(ConfigIssue{ConfigIssue::Severity::kError, spec.pos,
                                   sessionWhat(spec) + ": environment '" + name +
                                       "' exists already (the session id is used twice)",
                                   "session ids must be unique"});
      continue;
    }

    EnvironmentConfig env = *base;  // copied before push_back may move *base
    env.name = name;
    env.pos = spec.pos;
    switch (base->level) {
      case AccessLevel::kNone:
        env.level = AccessLevel::kCustom;
        env.include_trusted = false;
        env.domains = spec.domains;
        break;
      case AccessLevel::kTrusted:
        env.level = AccessLevel::kCustom;
        env.include_trusted = true;
        env.domains = spec.domains;
        break;
      case AccessLevel::kCustom:
        env.domains.insert(env.domains.end(), spec.domains.begin(), spec.domains.end());
        break;
      case AccessLevel::kFull: {
        env.include_trusted = false;
        issues.push_back(ConfigIssue{
            ConfigIssue::Severity::kWarning, domainsPos(spec),
            sessionWhat(spec) + " has domains, but its environment '" + spec.base +
                "' has level \"full\": they add nothing",
            "remove the session's domains, or bind it to an environment of level \"none\", "
            "\"trusted\" or \"custom\""});
        // Not compiled at this level, so their syntax is checked here.
        for (const policy::PatternEntry& entry : spec.domains) {
          policy::PatternParse parse = policy::parsePattern(entry.text);
          if (!parse.ok()) {
            issues.push_back(policy::patternIssue(entry, parse, sessionWhat(spec) + " domains"));
          }
        }
        break;
      }
    }
    if (env.level != AccessLevel::kFull && env.ports.empty()) {
      issues.push_back(ConfigIssue{
          ConfigIssue::Severity::kWarning, domainsPos(spec),
          sessionWhat(spec) + " has domains, but its environment '" + spec.base +
              "' allows no ports: they are reachable only on a port written in the entry",
          "set ports in the environment, or write entries such as \"host.example:443\""});
    }
    config.environments.push_back(std::move(env));
  }
  return config;
}

std::vector<SessionEnvironmentSpec> sessionEnvironmentSpecs(
    const std::vector<SessionConfig>& sessions) {
  std::vector<SessionEnvironmentSpec> specs;
  specs.reserve(sessions.size());
  for (const SessionConfig& s : sessions) {
    specs.push_back(SessionEnvironmentSpec{s.id, s.environment, s.domains, s.pos});
  }
  return specs;
}

std::shared_ptr<policy::PolicySnapshot> compileServingPolicy(
    const Config& config, const std::vector<SessionEnvironmentSpec>& dynamic,
    policy::ConfigIssues& errors) {
  std::vector<SessionEnvironmentSpec> specs = sessionEnvironmentSpecs(config.sessions);
  specs.insert(specs.end(), dynamic.begin(), dynamic.end());
  policy::ConfigIssues issues;
  policy::PolicyConfig merged = withSessionEnvironments(config.policy, specs, issues);
  policy::PolicyCompile compiled;
  if (!policy::hasErrors(issues)) compiled = policy::compilePolicy(merged);
  issues.insert(issues.end(), compiled.issues.begin(), compiled.issues.end());
  bool failed = compiled.snapshot == nullptr;
  for (policy::ConfigIssue& i : issues) {
    if (i.severity != policy::ConfigIssue::Severity::kError) continue;
    failed = true;
    errors.push_back(std::move(i));
  }
  return failed ? nullptr : compiled.snapshot;
}

}  // namespace gatehouse::control
