#include "control/policy_cases.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

namespace gatehouse::control {

namespace {

policy::SourcePos posOf(const toml::source_region& r, const std::string& file) {
  return policy::SourcePos{file, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

void error(policy::ConfigIssues& issues, policy::SourcePos pos, std::string message,
           std::string hint = "") {
  issues.push_back(policy::ConfigIssue{policy::ConfigIssue::Severity::kError, std::move(pos),
                                       std::move(message), std::move(hint)});
}

// Reads an optional string key; a wrong type is an issue.
bool readString(const toml::table& t, std::string_view key, std::string& out,
                const std::string& file, policy::ConfigIssues& issues) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  if (const auto* s = n->as_string()) {
    out = s->get();
    return true;
  }
  error(issues, posOf(n->source(), file), std::string(key) + " must be a string");
  return false;
}

}  // namespace

PolicyCaseFile loadPolicyCases(const std::string& path, policy::ConfigIssues& issues) {
  PolicyCaseFile out;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    error(issues, posOf(e.source(), path), std::string(e.description()));
    return out;
  }

  for (const auto& [key, node] : root) {
    if (key != "config" && key != "case") {
      error(issues, posOf(key.source(), path), "unknown key '" + std::string(key.str()) + "'",
            "a policy test file has 'config' and [[case]] tables");
    }
  }
  std::string config;
  if (readString(root, "config", config, path, issues)) {
    std::filesystem::path p(config);
    if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
    out.config = p.lexically_normal().string();
    out.config_pos = posOf(root.get("config")->source(), path);
  }

  const toml::node* cases = root.get("case");
  if (cases == nullptr) {
    error(issues, policy::SourcePos{path, 1, 1}, "no [[case]] tables",
          "add cases: [[case]] url = \"https://example.com/\" expect = \"allow\"");
    return out;
  }
  const toml::array* arr = cases->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    error(issues, posOf(cases->source(), path), "'case' must be an array of tables ([[case]])");
    return out;
  }
  for (const toml::node& n : *arr) {
    const toml::table& t = *n.as_table();
    PolicyCase c;
    c.pos = posOf(t.source(), path);
    for (const auto& [key, value] : t) {
      static constexpr std::string_view kKeys[] = {"url",    "environment", "method",
                                                   "expect", "reason",      "why"};
      if (std::find(std::begin(kKeys), std::end(kKeys), key.str()) == std::end(kKeys)) {
        error(issues, posOf(key.source(), path),
              "unknown key '" + std::string(key.str()) + "' in [[case]]",
              "keys: url, environment, method, expect, reason, why");
      }
    }
    if (!readString(t, "url", c.url, path, issues)) {
      error(issues, c.pos, "[[case]] has no url", "add url = \"https://host/\" or \"host:port\"");
      continue;
    }
    readString(t, "environment", c.environment, path, issues);
    readString(t, "method", c.method, path, issues);
    readString(t, "reason", c.reason, path, issues);
    readString(t, "why", c.why, path, issues);
    std::string expect;
    if (!readString(t, "expect", expect, path, issues) || (expect != "allow" && expect != "deny")) {
      error(issues, c.pos, "[[case]] for " + c.url + " needs expect = \"allow\" or \"deny\"");
      continue;
    }
    c.expect_allow = expect == "allow";
    out.cases.push_back(std::move(c));
  }
  return out;
}

}  // namespace gatehouse::control
