#include "gitproxy/git_names.h"

#include <algorithm>

namespace gatehouse::gitproxy {
namespace {

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string inQuotes(std::string_view s) {
  std::string out = "'";
  out += s;
  out += '\'';
  return out;
}

}  // namespace

bool validOwner(std::string_view owner) {
  return !owner.empty() && owner.size() <= 39 &&
         std::all_of(owner.begin(), owner.end(),
                     [](char c) { return isAsciiAlnum(c) || c == '-'; });
}

bool validRepoName(std::string_view repo) {
  return !repo.empty() && repo.size() <= 100 && repo != "." && repo != ".." &&
         std::all_of(repo.begin(), repo.end(),
                     [](char c) { return isAsciiAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// git check-ref-format rules for the name below refs/heads/, plus the rules of
// `git check-ref-format --branch` (no leading '-', not "HEAD") and a refusal of names that
// already start with "refs/" (a branch name is written without refs/heads/).
std::optional<NameProblem> checkBranchName(std::string_view name) {
  constexpr std::string_view kHint = "use a git branch name such as 'claude/task-123'";
  if (name.empty()) return NameProblem{"is empty", std::string(kHint)};
  if (name == "@") return NameProblem{"is '@', which git refuses", std::string(kHint)};
  if (name == "HEAD") return NameProblem{"is 'HEAD', which is not a branch", std::string(kHint)};
  if (name.substr(0, 5) == "refs/") {
    return NameProblem{"starts with 'refs/'", "write the branch name without 'refs/heads/'"};
  }
  if (name[0] == '-') return NameProblem{"starts with '-'", std::string(kHint)};
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return NameProblem{"contains a control character", std::string(kHint)};
    }
    if (std::string_view(" ~^:?*[\\").find(c) != std::string_view::npos) {
      return NameProblem{"contains " + inQuotes(std::string_view(&c, 1)) +
                             ", which git does not allow in branch names",
                         std::string(kHint)};
    }
  }
  if (name.find("..") != std::string_view::npos) {
    return NameProblem{"contains '..'", std::string(kHint)};
  }
  if (name.find("@{") != std::string_view::npos) {
    return NameProblem{"contains '@{'", std::string(kHint)};
  }
  if (name.front() == '/' || name.back() == '/') {
    return NameProblem{"starts or ends with '/'", std::string(kHint)};
  }
  if (name.find("//") != std::string_view::npos) {
    return NameProblem{"contains '//'", std::string(kHint)};
  }
  if (name.back() == '.') return NameProblem{"ends with '.'", std::string(kHint)};
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view component = name.substr(start, end - start);
    if (!component.empty() && component[0] == '.') {
      return NameProblem{"has a component starting with '.'", std::string(kHint)};
    }
    if (component.size() >= 5 && component.substr(component.size() - 5) == ".lock") {
      return NameProblem{"has a component ending with '.lock'", std::string(kHint)};
    }
    start = end + 1;
  }
  return std::nullopt;
}

// "owner/repo" or "owner/repo:read"; sets *pushable.
std::optional<NameProblem> checkRepoEntry(std::string_view entry, bool* pushable) {
  constexpr std::string_view kHint =
      "write 'owner/repo' for push access or 'owner/repo:read' for read-only access";
  std::string_view spec = entry;
  *pushable = true;
  size_t colon = entry.find(':');
  if (colon != std::string_view::npos) {
    std::string_view mode = entry.substr(colon + 1);
    if (mode != "read") {
      return NameProblem{"has an unknown access mode " + inQuotes(mode), std::string(kHint)};
    }
    *pushable = false;
    spec = entry.substr(0, colon);
  }
  size_t slash = spec.find('/');
  if (slash == std::string_view::npos || spec.find('/', slash + 1) != std::string_view::npos) {
    return NameProblem{"is not of the form owner/repo", std::string(kHint)};
  }
  std::string_view owner = spec.substr(0, slash);
  std::string_view repo = spec.substr(slash + 1);
  if (!validOwner(owner)) {
    return NameProblem{"has an invalid owner " + inQuotes(owner),
                       "owners are 1-39 letters, digits or '-'"};
  }
  if (!validRepoName(repo)) {
    return NameProblem{
        "has an invalid repository name " + inQuotes(repo),
        "repository names are 1-100 letters, digits, '.', '_' or '-', and not '.' or '..'"};
  }
  return std::nullopt;
}

}  // namespace gatehouse::gitproxy
