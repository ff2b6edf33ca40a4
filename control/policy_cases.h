// Table-driven policy test files for `gatehouse policy test FILE` (SPEC §9):
//
//   config = "web-dev.toml"        # the config under test, relative to this file
//
//   [[case]]
//   url = "https://api.example.dev/"   # or "host:port" / "host" (port 443)
//   environment = "web-dev"            # default "default"
//   method = "GET"                     # default "GET"
//   expect = "allow"                   # "allow" | "deny"
//   reason = "allow-listed"            # optional: the expected reason code
//   why = "the team's API"             # optional: shown when the case fails
#pragma once

#include <string>
#include <vector>

#include "policy/source.h"

namespace gatehouse::control {

struct PolicyCase {
  std::string url;
  std::string environment = "default";
  std::string method = "GET";
  bool expect_allow = false;
  std::string reason;  // "" = any
  std::string why;
  policy::SourcePos pos;  // the [[case]] table
};

struct PolicyCaseFile {
  std::string config;  // resolved path of the config under test ("" = built-in defaults)
  policy::SourcePos config_pos;
  std::vector<PolicyCase> cases;
};

// Reads FILE; problems (syntax, unknown keys, missing url/expect) are appended to `issues`.
PolicyCaseFile loadPolicyCases(const std::string& path, policy::ConfigIssues& issues);

}  // namespace gatehouse::control
