#include "policy/source.h"

#include <algorithm>

namespace gatehouse::policy {

std::string SourcePos::toString() const {
  std::string out = file.empty() ? "<built-in>" : file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  return out;
}

SourcePos SourcePos::shifted(int columns) const {
  SourcePos p = *this;
  if (p.column > 0) p.column += columns;
  return p;
}

std::string ConfigIssue::toString() const {
  std::string out = pos.toString();
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  out += message;
  if (!hint.empty()) {
    out += " (";
    out += hint;
    out += ')';
  }
  return out;
}

bool hasErrors(const ConfigIssues& issues) {
  return std::any_of(issues.begin(), issues.end(), [](const ConfigIssue& i) {
    return i.severity == ConfigIssue::Severity::kError;
  });
}

}  // namespace gatehouse::policy
