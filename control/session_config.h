// [[sessions]]: static sessions (SPEC §6, §10).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/limits_config.h"
#include "policy/policy_config.h"
#include "policy/source.h"

namespace gatehouse::control {

// A session label ("team=web", "ticket:42"): 1-64 characters of A-Z a-z 0-9 . _ : = / -. The
// same rule for [[sessions]] labels and the control API's.
inline bool isSessionLabel(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("._:=/-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

struct SessionGitConfig {
  std::vector<std::string> repos;  // "owner/repo" (push) or "owner/repo:read"
  policy::SourcePos repos_pos;
  std::string push_branch;
  std::vector<std::string> extra_branches;
  std::string token_file;                // the real GitHub token; never reaches the sandbox
  std::string scoped_credential_sha256;  // hex SHA-256 of what the sandbox's git presents
  policy::SourcePos pos;
};

struct SessionConfig {
  std::string id;
  std::string environment = "default";
  std::string credential_sha256;     // hex SHA-256 of the proxy credential ("" = none)
  std::vector<std::string> clients;  // CIDRs of client source addresses bound to the session
  // Free-form tags for operators (logs, the control API): at most 16, each 1-64 characters of
  // A-Z a-z 0-9 . _ : = / -, e.g. "team=web", "ticket:42".
  std::vector<std::string> labels;
  // Inline custom entries added on top of the session's environment (it then gets its own
  // environment, "session:<id>": control/session_environments.h). Validated when the policy is
  // compiled, with the position of each string.
  std::vector<policy::PatternEntry> domains;
  // When the session stops being accepted (TOML offset date-time); unset = never.
  std::optional<std::chrono::system_clock::time_point> expires;
  std::optional<SessionGitConfig> git;
  // [sessions.limits]: overrides of the environment's limits, key by key (unset = inherited).
  policy::LimitsConfig limits;
  policy::SourcePos pos;
};

}  // namespace gatehouse::control
