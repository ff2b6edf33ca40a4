// `gatehouse policy diff OLD NEW`: what a policy change newly allows or denies, per environment.
//
// Entries added and removed are listed, and every entry of either version yields sample
// destinations (the name itself, a subdomain for wildcards, the base address for CIDRs) on the
// environments' ports and the entries' own ports; each sample whose decision differs is shown.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"

namespace gatehouse::policy {

struct SampleChange {
  std::string destination;  // "host:port"
  bool now_allowed = false;
  std::string old_rule;  // ruleId of the old decision
  std::string new_rule;
};

struct EnvironmentDiff {
  std::string name;
  std::string old_tag;                     // "name@version" or "" when added
  std::string new_tag;                     // "" when removed
  std::vector<std::string> added_entries;  // rule ids
  std::vector<std::string> removed_entries;
  std::vector<SampleChange> changes;
  bool changed() const {
    return old_tag != new_tag || !added_entries.empty() || !removed_entries.empty() ||
           !changes.empty();
  }
};

struct PolicyDiff {
  std::vector<EnvironmentDiff> environments;  // only those that changed
  int newly_allowed = 0;
  int newly_denied = 0;
  bool empty() const { return environments.empty(); }
};

PolicyDiff diffPolicies(const PolicySnapshot& old_policy, const PolicySnapshot& new_policy);

// Human-readable report; ends with a summary line.
std::string formatDiff(const PolicyDiff& diff);

}  // namespace gatehouse::policy
