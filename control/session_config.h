// [[sessions]]: static sessions (SPEC §6, §10).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/source.h"

namespace gatehouse::control {

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
  std::optional<SessionGitConfig> git;
  policy::SourcePos pos;
};

}  // namespace gatehouse::control
