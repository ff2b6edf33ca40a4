#include "proxy/server/cli.h"

#include <algorithm>
#include <map>
#include <optional>

#include "build_info.h"
#include "control/config.h"
#include "control/explain_request.h"
#include "control/policy_cases.h"
#include "control/session_environments.h"
#include "policy/diff.h"
#include "policy/explain.h"
#include "policy/lint.h"
#include "policy/policy.h"
#include "proxy/server/server.h"

namespace gatehouse::server {

namespace {

constexpr const char* kUsage = R"(usage: gatehouse [COMMAND] [OPTIONS]

commands:
  serve [--config FILE]        run the proxy (the default command)
  check-config FILE            validate FILE; every problem with file:line:col; exit 1 on errors
  explain [--config FILE] [--environment NAME | --session ID] [--method M] URL|HOST[:PORT]
                               the decision for a destination, its reason and the entry that
                               decided, without network access; exit 0 allow, 1 deny, 2 error
  policy test FILE [--config CFG]
                               run the [[case]] tables of FILE; prints "N passed, N failed"
  policy lint FILE [--strict]  warnings about entries that are probably mistakes
                               (--strict: exit 1 when there are warnings)
  policy diff OLD NEW          what NEW allows or denies that OLD did not, per environment;
                               exit 0 no change, 1 changes, 2 error
  version                      versions of gatehouse, the Trusted list and llhttp
  help                         this text

Without --config the built-in defaults apply: the default environment at level "trusted"
with the Trusted list compiled into the binary.
)";

using Loaded = control::LoadedConfig;

Loaded load(const std::string& path) { return control::loadAndCompile(path); }

void printIssues(const policy::ConfigIssues& issues, std::ostream& os) {
  for (const auto& i : issues) os << i.toString() << '\n';
}

int countSeverity(const policy::ConfigIssues& issues, policy::ConfigIssue::Severity s) {
  int n = 0;
  for (const auto& i : issues) n += i.severity == s;
  return n;
}

// Options of the form --name VALUE (or --name=VALUE); everything else is positional.
struct Args {
  std::map<std::string, std::string> options;
  std::vector<std::string> flags;
  std::vector<std::string> positional;
  std::string error;
};

Args parseArgs(const std::vector<std::string>& args, size_t from,
               const std::vector<std::string>& valued, const std::vector<std::string>& flags) {
  Args a;
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s.size() > 2 && s.rfind("--", 0) == 0) {
      std::string name = s.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      if (std::find(flags.begin(), flags.end(), name) != flags.end() && !value) {
        a.flags.push_back(name);
        continue;
      }
      if (std::find(valued.begin(), valued.end(), name) == valued.end()) {
        a.error = "unknown option --" + name;
        return a;
      }
      if (!value) {
        if (i + 1 >= args.size()) {
          a.error = "--" + name + " needs a value";
          return a;
        }
        value = args[++i];
      }
      a.options[name] = *value;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

bool hasFlag(const Args& a, const std::string& f) {
  return std::find(a.flags.begin(), a.flags.end(), f) != a.flags.end();
}

std::string optionOr(const Args& a, const std::string& name, const std::string& fallback) {
  auto it = a.options.find(name);
  return it == a.options.end() ? fallback : it->second;
}

int usageError(std::ostream& err, const std::string& message) {
  err << "gatehouse: " << message << "\n(run 'gatehouse help' for usage)\n";
  return kExitUsage;
}

// ---- explain ---------------------------------------------------------------------------------

int cmdExplain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(args, 1, {"config", "environment", "method", "session"}, {});
  if (!a.error.empty()) return usageError(err, a.error);
  if (a.positional.size() != 1) return usageError(err, "explain needs one URL or HOST[:PORT]");
  if (a.options.contains("environment") && a.options.contains("session")) {
    return usageError(err, "give --environment or --session, not both");
  }
  Loaded l = load(optionOr(a, "config", ""));
  if (!l.ok()) {
    printIssues(l.issues, err);
    return kExitUsage;
  }
  std::string env_name = optionOr(a, "environment", "default");
  if (auto it = a.options.find("session"); it != a.options.end()) {
    auto s = std::find_if(l.config.sessions.begin(), l.config.sessions.end(),
                          [&](const control::SessionConfig& c) { return c.id == it->second; });
    if (s == l.config.sessions.end()) {
      return usageError(err, "no [[sessions]] with id '" + it->second + "' in the configuration");
    }
    env_name = s->domains.empty() ? s->environment : control::sessionEnvironmentName(s->id);
  }
  const policy::Environment* env = l.policy->environment(env_name);
  if (env == nullptr) {
    std::string names;
    for (const auto& e : l.policy->environments()) names += (names.empty() ? "" : ", ") + e->name();
    return usageError(err, "no environment '" + env_name + "' (environments: " + names + ")");
  }

  control::ExplainQuery query{env_name, optionOr(a, "method", "GET"), a.positional[0]};
  control::ExplainResult v = control::explainRequest(*l.policy, l.config.resolver, query);
  if (v.malformed()) {
    out << "deny malformed-target\n"
        << "  target:      " << a.positional[0] << "\n"
        << "  why:         " << v.error << "\n"
        << "  environment: " << policy::environmentTag(*env) << "\n";
    return kExitDenied;
  }
  const policy::Decision& d = v.decision;
  const policy::Host& host = *v.host;
  out << policy::verdictName(d.verdict) << ' ' << policy::reasonCode(d.reason) << '\n';
  out << "  destination: " << host.authorityForm() << ':' << v.port << '\n';
  out << "  environment: " << policy::environmentTag(*env) << " (level "
      << policy::accessLevelName(env->level()) << ")\n";
  out << "  rule:        " << (d.ruleId().empty() ? "-" : d.ruleId()) << '\n';
  if (d.rule != nullptr && d.rule->pos.line > 0) {
    out << "  entry at:    " << d.rule->pos.toString() << '\n';
  }
  out << "  why:         " << policy::decisionSummary(d, env, host, v.port) << '\n';
  for (const auto& [addr, ad] : v.addresses) {
    out << "  address:     " << addr << " -> " << policy::verdictName(ad.verdict) << ' '
        << (ad.allowed() && ad.exemption == nullptr ? "public" : ad.ruleId()) << '\n';
  }
  if (v.report_allowed) {
    out << "  mode:        report: the proxy lets this request through and logs the denial\n";
  }
  if (v.shadow) {
    out << "  shadow:      " << policy::environmentTag(*env->shadow()) << " would "
        << policy::verdictName(v.shadow->verdict) << " (" << policy::reasonCode(v.shadow->reason)
        << ")\n";
  }
  if (d.allowed() && !host.isIp() && !v.resolved_statically) {
    out << "  note:        the resolved addresses are checked by the address guard when a request "
           "is made (not resolved here)\n";
  }
  if (!d.allowed()) {
    out << "  to allow:    " << policy::howToAllow(d, env, host, v.port) << '\n';
  }
  return v.proxyAllows() ? kExitOk : kExitDenied;
}

// ---- check-config, policy test/lint/diff, version, serve ---------------------------------------

int cmdCheckConfig(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(args, 1, {}, {});
  if (!a.error.empty()) return usageError(err, a.error);
  if (a.positional.size() != 1) return usageError(err, "check-config needs one FILE");
  const std::string& file = a.positional[0];
  Loaded l = load(file);
  printIssues(l.issues, out);
  if (!l.ok()) {
    out << file << ": " << countSeverity(l.issues, policy::ConfigIssue::Severity::kError)
        << " error(s), " << countSeverity(l.issues, policy::ConfigIssue::Severity::kWarning)
        << " warning(s)\n";
    return kExitDenied;
  }
  out << file << ": OK — " << l.policy->environments().size() << " environment(s)";
  for (const auto& e : l.policy->environments()) {
    out << (e == l.policy->environments().front() ? ": " : ", ") << policy::environmentTag(*e)
        << " (" << policy::accessLevelName(e->level()) << ")";
  }
  out << "; Trusted list " << l.policy->trustedList().version << " from "
      << l.policy->trustedList().source << " (" << l.policy->trustedEntryCount() << " entries)";
  int warnings = countSeverity(l.issues, policy::ConfigIssue::Severity::kWarning);
  if (warnings > 0) out << "; " << warnings << " warning(s)";
  out << '\n';
  return kExitOk;
}

int cmdPolicyTest(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(args, 2, {"config"}, {});
  if (!a.error.empty()) return usageError(err, a.error);
  if (a.positional.size() != 1) return usageError(err, "policy test needs one FILE");
  policy::ConfigIssues issues;
  control::PolicyCaseFile file = control::loadPolicyCases(a.positional[0], issues);
  if (policy::hasErrors(issues)) {
    printIssues(issues, err);
    return kExitUsage;
  }
  const std::string config = optionOr(a, "config", file.config);
  Loaded l = load(config);
  if (!l.ok()) {
    printIssues(l.issues, err);
    return kExitUsage;
  }
  int passed = 0;
  int failed = 0;
  for (const control::PolicyCase& c : file.cases) {
    const policy::Environment* env = l.policy->environment(c.environment);
    std::string got;
    std::string got_reason;
    std::string detail;
    if (env == nullptr) {
      got = "error";
      detail = "no environment '" + c.environment + "'";
    } else {
      control::ExplainResult v = control::explainRequest(
          *l.policy, l.config.resolver, control::ExplainQuery{c.environment, c.method, c.url});
      if (v.malformed()) {
        got = "deny";
        got_reason = "malformed-target";
        detail = v.error;
      } else {
        // The policy's decision (a report-mode environment still decides "deny").
        got = policy::verdictName(v.decision.verdict);
        got_reason = policy::reasonCode(v.decision.reason);
        detail = "rule " + (v.decision.ruleId().empty() ? "-" : v.decision.ruleId()) + ": " +
                 policy::decisionSummary(v.decision, env, *v.host, v.port);
      }
    }
    const std::string want = c.expect_allow ? "allow" : "deny";
    const bool ok = got == want && (c.reason.empty() || c.reason == got_reason);
    if (ok) {
      ++passed;
      continue;
    }
    ++failed;
    out << "FAIL " << c.pos.toString() << ": " << c.method << ' ' << c.url << " in "
        << c.environment << ": expected " << want << (c.reason.empty() ? "" : " " + c.reason)
        << ", got " << got << (got_reason.empty() ? "" : " " + got_reason) << '\n'
        << "     " << detail << '\n';
    if (!c.why.empty()) out << "     case: " << c.why << '\n';
  }
  out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitOk : kExitDenied;
}

int cmdPolicyLint(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(args, 2, {}, {"strict"});
  if (!a.error.empty()) return usageError(err, a.error);
  if (a.positional.size() != 1) return usageError(err, "policy lint needs one FILE");
  Loaded l = load(a.positional[0]);
  if (!l.ok()) {
    printIssues(l.issues, out);
    out << countSeverity(l.issues, policy::ConfigIssue::Severity::kError) << " error(s)\n";
    return kExitDenied;
  }
  policy::ConfigIssues all = l.issues;
  policy::ConfigIssues lint = policy::lintPolicy(*l.policy);
  all.insert(all.end(), lint.begin(), lint.end());
  printIssues(all, out);
  int warnings = countSeverity(all, policy::ConfigIssue::Severity::kWarning);
  out << warnings << " warning(s)\n";
  return warnings > 0 && hasFlag(a, "strict") ? kExitDenied : kExitOk;
}

int cmdPolicyDiff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Args a = parseArgs(args, 2, {}, {});
  if (!a.error.empty()) return usageError(err, a.error);
  if (a.positional.size() != 2) return usageError(err, "policy diff needs OLD and NEW");
  Loaded old_l = load(a.positional[0]);
  Loaded new_l = load(a.positional[1]);
  if (!old_l.ok() || !new_l.ok()) {
    printIssues(old_l.issues, err);
    printIssues(new_l.issues, err);
    return kExitUsage;
  }
  policy::PolicyDiff diff = policy::diffPolicies(*old_l.policy, *new_l.policy);
  out << policy::formatDiff(diff);
  return diff.empty() ? kExitOk : kExitDenied;
}

int cmdVersion(std::ostream& out, std::ostream& err) {
  Loaded l = load("");
  out << "gatehouse " << GATEHOUSE_VERSION << '\n';
  if (l.ok()) {
    out << "Trusted list " << l.policy->trustedList().version << " ("
        << l.policy->trustedEntryCount() << " entries, built in)\n";
  } else {
    printIssues(l.issues, err);
  }
  out << "llhttp " << GATEHOUSE_LLHTTP_VERSION << '\n';
  return l.ok() ? kExitOk : kExitUsage;
}

int cmdServe(const std::vector<std::string>& args, size_t from, std::ostream& out,
             std::ostream& err) {
  Args a = parseArgs(args, from, {"config"}, {});
  if (!a.error.empty()) return usageError(err, a.error);
  if (!a.positional.empty())
    return usageError(err, "unexpected argument '" + a.positional[0] + "'");
  const std::string file = optionOr(a, "config", "");
  Loaded l = load(file);
  printIssues(l.issues, err);
  if (!l.ok()) {
    err << "gatehouse: not starting: the configuration has errors\n";
    return kExitUsage;
  }
  err << "gatehouse " << GATEHOUSE_VERSION << ": " << (file.empty() ? "<built-in defaults>" : file);
  for (const auto& e : l.policy->environments()) {
    err << ", environment " << policy::environmentTag(*e) << " ("
        << policy::accessLevelName(e->level()) << ")";
  }
  err << ", Trusted list " << l.policy->trustedList().version << '\n';
  return server::serve(file, out, err);
}

}  // namespace

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0].rfind("--", 0) == 0) {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      out << kUsage;
      return kExitOk;
    }
    if (!args.empty() && args[0] == "--version") return cmdVersion(out, err);
    return cmdServe(args, 0, out, err);
  }
  const std::string& cmd = args[0];
  if (cmd == "serve") return cmdServe(args, 1, out, err);
  if (cmd == "check-config") return cmdCheckConfig(args, out, err);
  if (cmd == "explain") return cmdExplain(args, out, err);
  if (cmd == "version") return cmdVersion(out, err);
  if (cmd == "help" || cmd == "-h") {
    out << kUsage;
    return kExitOk;
  }
  if (cmd == "policy") {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "test") return cmdPolicyTest(args, out, err);
    if (sub == "lint") return cmdPolicyLint(args, out, err);
    if (sub == "diff") return cmdPolicyDiff(args, out, err);
    return usageError(err, "policy needs a subcommand: test, lint or diff");
  }
  return usageError(err, "unknown command '" + cmd + "'");
}

}  // namespace gatehouse::server
