#include "policy/source.h"

#include <algorithm>
#include <vector>

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

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace gatehouse::policy
