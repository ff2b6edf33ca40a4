// Names on the git path: branch names (git check-ref-format --branch rules), GitHub owner and
// repository names, and the "owner/repo[:read]" entries of a session's git scope. Shared by the
// config loader, the control API and the request router, so one rule decides everywhere.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::gitproxy {

// What is wrong with a name ("contains '..'") and how to write it instead.
struct NameProblem {
  std::string what;
  std::string hint;
};

// A branch name as written in config (without refs/heads/).
std::optional<NameProblem> checkBranchName(std::string_view name);
// "owner/repo" (push access) or "owner/repo:read" (read-only); sets *pushable.
std::optional<NameProblem> checkRepoEntry(std::string_view entry, bool* pushable);

// GitHub owners: 1-39 ASCII letters, digits or '-'.
bool validOwner(std::string_view owner);
// GitHub repository names: 1-100 ASCII letters, digits, '.', '_' or '-', not "." or "..".
bool validRepoName(std::string_view repo);
// ASCII lower case (GitHub names compare case-insensitively).
std::string asciiLower(std::string_view s);

}  // namespace gatehouse::gitproxy
