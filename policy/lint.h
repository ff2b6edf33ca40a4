// `gatehouse policy lint`: warnings about entries that are valid but probably not what the
// author meant (SPEC §2): "*.x" without "x", entries shadowed by broader ones, duplicates, and
// allow entries that can never match because a deny entry covers them.
//
// Pure; cost O(entries x labels), no pairwise comparison of lists.
#pragma once

#include "policy/policy.h"
#include "policy/source.h"

namespace gatehouse::policy {

ConfigIssues lintPolicy(const PolicySnapshot& snapshot);

}  // namespace gatehouse::policy
