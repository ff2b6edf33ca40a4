// Where a configuration value came from, and problems found in configuration.
//
// Every module's config struct keeps the position of its values so that validation can say
// "file:line:col: what is wrong — how to fix it" for each problem, all of them at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::policy {

struct SourcePos {
  std::string file;  // "" when the value did not come from a file (built-in default)
  int line = 0;      // 1-based; 0 = unknown
  int column = 0;    // 1-based; 0 = unknown

  // "file:line:col", or "file" / "<built-in>" when the position is unknown.
  std::string toString() const;
  // The same position moved right by `columns` on the same line (for errors inside a string).
  SourcePos shifted(int columns) const;
};

struct ConfigIssue {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  SourcePos pos;
  std::string message;  // what is wrong
  std::string hint;     // how to fix it ("" when obvious)

  // "file:line:col: error: message (hint)"
  std::string toString() const;
};

using ConfigIssues = std::vector<ConfigIssue>;

bool hasErrors(const ConfigIssues& issues);

// Optimal string alignment distance: a transposition ("wrokers") counts as one edit, the most
// common typo in hand-written keys and names. For "did you mean" hints.
size_t editDistance(std::string_view a, std::string_view b);

}  // namespace gatehouse::policy
