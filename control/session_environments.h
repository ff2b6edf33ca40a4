// Session environments: a session with inline `domains` gets an environment of its own, a copy
// of the environment it is bound to with those domains added on top, named "session:<id>".
//
// Pure functions over config structs (no I/O, no state): the loader runs them on the static
// sessions so that `gatehouse check-config` validates their domains with positions, and the
// server on the static and dynamic sessions before each policy compile. Any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.h"
#include "control/session_config.h"
#include "policy/policy.h"
#include "policy/policy_config.h"
#include "policy/source.h"

namespace gatehouse::control {

// "session:<id>": cannot collide with configured names (those never contain ':').
std::string sessionEnvironmentName(std::string_view session_id);

struct SessionEnvironmentSpec {
  std::string session_id;
  std::string base;                           // the session's environment ("default" or a name)
  std::vector<policy::PatternEntry> domains;  // inline entries; nothing is synthesised when empty
  policy::SourcePos pos;                      // for issues (may be empty for API-created sessions)
};

// Appends one EnvironmentConfig per spec with domains: a copy of the base environment renamed
// sessionEnvironmentName(id), with the spec's domains added on top, by the base's level:
//   none    -> custom with just those domains (include_trusted false)
//   trusted -> custom with those domains and include_trusted
//   custom  -> custom with the base's domains and these (include_trusted kept)
//   full    -> unchanged (include_trusted cleared: it means nothing there), and a warning that
//              the domains add nothing; their syntax is still checked (errors with positions).
// deny, always_allow, ports, mode and shadow are copied from the base; the copy's position is
// the spec's. Issues (appended to `issues`): an unknown base, a session id given twice or whose
// environment name is taken (errors; no environment is added), and a base without ports
// (warning: the domains are reachable only on ports written in them).
policy::PolicyConfig withSessionEnvironments(policy::PolicyConfig config,
                                             const std::vector<SessionEnvironmentSpec>& specs,
                                             policy::ConfigIssues& issues);

// The specs of the config's static sessions, one per session, in order.
std::vector<SessionEnvironmentSpec> sessionEnvironmentSpecs(
    const std::vector<SessionConfig>& sessions);

// The policy a running proxy serves: the configuration's policy with the environments of its
// static sessions and of `dynamic` (the control API's sessions with inline domains). Only errors
// are appended to `errors` (warnings were reported when the file was loaded); null on errors.
std::shared_ptr<policy::PolicySnapshot> compileServingPolicy(
    const Config& config, const std::vector<SessionEnvironmentSpec>& dynamic,
    policy::ConfigIssues& errors);

}  // namespace gatehouse::control
