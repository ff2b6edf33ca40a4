// The whole configuration (SPEC §10) and its loader, the only user of toml++.
//
// loadConfigFile() reads and checks the file's shape (unknown keys, types, value syntax) and
// returns every problem with file:line:col. Policy entries (host patterns) are validated by
// policy::compilePolicy(), which callers run next on Config::policy.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/admin_config.h"
#include "control/session_config.h"
#include "gitproxy/git_config.h"
#include "policy/policy.h"
#include "policy/policy_config.h"
#include "policy/source.h"
#include "proxy/net/resolver_config.h"
#include "proxy/server/listener_config.h"

namespace gatehouse::control {

struct Config {
  std::string file;          // where it was loaded from ("" = built-in defaults)
  std::string trusted_file;  // [trusted] file: overrides the embedded Trusted list ("" = embedded)
  server::ListenerConfig listener;
  server::LogConfig log;
  AdminConfig admin;
  policy::PolicyConfig policy;
  net::ResolverConfig resolver;
  gitproxy::GitConfig git;
  std::vector<SessionConfig> sessions;
};

struct ConfigLoad {
  Config config;
  policy::ConfigIssues issues;  // errors and warnings, in file order
  bool ok() const { return !policy::hasErrors(issues); }
};

// Reads FILE; a missing or unreadable file is one error issue.
ConfigLoad loadConfigFile(const std::string& path);
// Parses TOML text; `name` is used in positions.
ConfigLoad loadConfigString(std::string_view text, const std::string& name);

// A configuration file loaded and its policy compiled: what `serve`, `check-config` and the
// other commands start from. `policy` is null when `issues` hold errors.
struct LoadedConfig {
  Config config;
  std::shared_ptr<policy::PolicySnapshot> policy;
  policy::ConfigIssues issues;  // loader issues first, then the policy's
  bool ok() const { return policy != nullptr && !policy::hasErrors(issues); }
};
// `path` "" = the built-in defaults.
LoadedConfig loadAndCompile(const std::string& path);

// The Trusted list from TOML text (conf/trusted.toml format); issues appended to `issues`.
policy::TrustedList loadTrustedList(std::string_view text, const std::string& name,
                                    policy::ConfigIssues& issues);
// The Trusted list compiled into the binary.
std::string_view embeddedTrustedToml();

}  // namespace gatehouse::control
