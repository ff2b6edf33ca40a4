// Session environments: a session's inline domains on top of its environment, for every access
// level of the base, and what is copied from the base.
#include "control/session_environments.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy.h"

namespace gatehouse::control {
namespace {

using policy::AccessLevel;
using policy::ConfigIssue;
using policy::ConfigIssues;
using policy::EnvironmentConfig;
using policy::PatternEntry;
using policy::PolicyConfig;
using policy::SourcePos;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string describe(const ConfigIssues& issues) {
  std::string out;
  for (const ConfigIssue& issue : issues) out += "\n  " + issue.toString();
  return out.empty() ? " (none)" : out;
}

std::vector<PatternEntry> entries(std::initializer_list<const char*> texts, int line) {
  std::vector<PatternEntry> out;
  int column = 12;
  for (const char* t : texts) {
    out.push_back(PatternEntry{t, SourcePos{"s.toml", line, column}});
    column += 20;
  }
  return out;
}

std::vector<std::string> texts(const std::vector<PatternEntry>& list) {
  std::vector<std::string> out;
  for (const PatternEntry& e : list) out.push_back(e.text);
  return out;
}

PolicyConfig withBase(AccessLevel level) {
  PolicyConfig c;
  c.trusted.version = "t-1";
  c.trusted.source = "test";
  c.trusted.groups.push_back({"vc", "Version control", entries({"github.com"}, 90)});
  EnvironmentConfig base;
  base.name = "base";
  base.pos = SourcePos{"s.toml", 1, 1};
  base.level = level;
  if (level == AccessLevel::kCustom) base.domains = entries({"**.base.test"}, 2);
  base.deny = entries({"deny.session.test"}, 3);
  base.always_allow = entries({"api.anthropic.com"}, 4);
  base.ports = {443, 8443};
  base.mode = policy::EnvironmentMode::kReport;
  base.shadow = "strict";
  c.environments.push_back(base);
  EnvironmentConfig strict;
  strict.name = "strict";
  strict.level = AccessLevel::kNone;
  c.environments.push_back(strict);
  return c;
}

SessionEnvironmentSpec spec(const char* id, const char* base,
                            std::initializer_list<const char*> domains, int line = 20) {
  return SessionEnvironmentSpec{id, base, entries(domains, line), SourcePos{"s.toml", line - 1, 1}};
}

// One row per base level: what the session environment becomes and what it allows.
struct LevelRow {
  const char* reason;
  AccessLevel base_level;
  bool base_include_trusted;
  AccessLevel level;     // of the session environment
  bool include_trusted;  // of the session environment
  std::vector<std::string> domains;
  std::vector<std::string> allowed;  // hosts the session environment allows on 443
  std::vector<std::string> denied;   // hosts it refuses on 443
  int warnings;
};

TEST(SessionEnvironmentsTest, EveryBaseLevel) {
  const std::vector<LevelRow> rows = {
      {"none: custom with just the session's domains",
       AccessLevel::kNone,
       false,
       AccessLevel::kCustom,
       false,
       {"**.session.test"},
       {"session.test", "a.session.test", "api.anthropic.com"},
       {"github.com", "base.test", "deny.session.test"},
       0},
      {"none with include_trusted set: still not the Trusted list",
       AccessLevel::kNone,
       true,
       AccessLevel::kCustom,
       false,
       {"**.session.test"},
       {"a.session.test"},
       {"github.com"},
       0},
      {"trusted: custom with the domains and include_trusted",
       AccessLevel::kTrusted,
       false,
       AccessLevel::kCustom,
       true,
       {"**.session.test"},
       {"github.com", "a.session.test", "api.anthropic.com"},
       {"other.test", "deny.session.test"},
       0},
      {"custom: the base's domains and the session's",
       AccessLevel::kCustom,
       false,
       AccessLevel::kCustom,
       false,
       {"**.base.test", "**.session.test"},
       {"x.base.test", "a.session.test"},
       {"github.com", "deny.session.test"},
       0},
      {"custom with include_trusted: kept",
       AccessLevel::kCustom,
       true,
       AccessLevel::kCustom,
       true,
       {"**.base.test", "**.session.test"},
       {"github.com", "x.base.test", "a.session.test"},
       {"other.test", "deny.session.test"},
       0},
      {"full: unchanged, the domains add nothing (a warning)",
       AccessLevel::kFull,
       false,
       AccessLevel::kFull,
       false,
       {},
       {"anything.test", "a.session.test"},
       {"deny.session.test"},
       1},
      {"full with include_trusted: cleared, it means nothing there",
       AccessLevel::kFull,
       true,
       AccessLevel::kFull,
       false,
       {},
       {"anything.test"},
       {"deny.session.test"},
       1},
  };
  for (const LevelRow& row : rows) {
    SCOPED_TRACE(row.reason);
    PolicyConfig c = withBase(row.base_level);
    c.environments[0].include_trusted = row.base_include_trusted;
    ConfigIssues issues;
    PolicyConfig out =
        withSessionEnvironments(c, {spec("sbx-1", "base", {"**.session.test"})}, issues);
    EXPECT_EQ(static_cast<int>(issues.size()), row.warnings) << describe(issues);
    EXPECT_FALSE(policy::hasErrors(issues)) << describe(issues);
    ASSERT_EQ(out.environments.size(), 3u);
    const EnvironmentConfig& env = out.environments[2];
    EXPECT_EQ(env.name, "session:sbx-1");
    EXPECT_EQ(env.pos.toString(), "s.toml:19:1") << "the session's position";
    EXPECT_EQ(env.level, row.level);
    EXPECT_EQ(env.include_trusted, row.include_trusted);
    EXPECT_THAT(texts(env.domains), ElementsAreArray(row.domains));
    // Copied from the base, whatever the level.
    EXPECT_THAT(texts(env.deny), ElementsAre("deny.session.test"));
    EXPECT_THAT(texts(env.always_allow), ElementsAre("api.anthropic.com"));
    EXPECT_THAT(env.ports, ElementsAre(443, 8443));
    EXPECT_EQ(env.mode, policy::EnvironmentMode::kReport);
    EXPECT_EQ(env.shadow, "strict");
    // The base itself is untouched.
    EXPECT_EQ(out.environments[0].level, row.base_level);
    EXPECT_EQ(out.environments[0].name, "base");

    policy::PolicyCompile pc = policy::compilePolicy(out);
    ASSERT_NE(pc.snapshot, nullptr) << describe(pc.issues);
    const policy::Environment* session = pc.snapshot->environment("session:sbx-1");
    ASSERT_NE(session, nullptr);
    EXPECT_EQ(session->shadow(), pc.snapshot->environment("strict"));
    EXPECT_EQ(session->mode(), policy::EnvironmentMode::kReport);
    for (const std::string& host : row.allowed) {
      policy::Host h = *policy::canonicalizeHost(host).host;
      EXPECT_TRUE(pc.snapshot->check({"session:sbx-1", "GET", &h, 443}).allowed()) << host;
    }
    for (const std::string& host : row.denied) {
      policy::Host h = *policy::canonicalizeHost(host).host;
      EXPECT_FALSE(pc.snapshot->check({"session:sbx-1", "GET", &h, 443}).allowed()) << host;
    }
    policy::Host h = *policy::canonicalizeHost("a.session.test").host;
    EXPECT_FALSE(pc.snapshot->check({"session:sbx-1", "GET", &h, 80}).allowed())
        << "the base's ports apply";
  }
}

TEST(SessionEnvironmentsTest, TheDefaultEnvironmentIsABaseToo) {
  PolicyConfig c;
  ConfigIssues issues;
  PolicyConfig out = withSessionEnvironments(c, {spec("a", "default", {"x.test"})}, issues);
  EXPECT_TRUE(issues.empty()) << describe(issues);
  ASSERT_EQ(out.environments.size(), 1u);
  EXPECT_EQ(out.environments[0].name, "session:a");
  EXPECT_EQ(out.environments[0].level, AccessLevel::kCustom);
  EXPECT_TRUE(out.environments[0].include_trusted) << "default is trusted by default";
  EXPECT_EQ(out.default_environment.name, "default");
}

TEST(SessionEnvironmentsTest, NothingIsSynthesisedWithoutDomains) {
  PolicyConfig c = withBase(AccessLevel::kTrusted);
  ConfigIssues issues;
  PolicyConfig out = withSessionEnvironments(
      c, {SessionEnvironmentSpec{"a", "base", {}, {}}, SessionEnvironmentSpec{"b", "nope", {}, {}}},
      issues);
  EXPECT_TRUE(issues.empty()) << describe(issues)
                              << " (an unknown base without domains is the "
                                 "session store's business)";
  EXPECT_EQ(out.environments.size(), 2u);
}

// Refusals and warnings: one issue each, at the given position.
struct IssueRow {
  const char* reason;
  AccessLevel base_level;
  std::vector<SessionEnvironmentSpec> specs;
  ConfigIssue::Severity severity;
  const char* position;
  const char* message;
  const char* hint;
  size_t environments;  // in the result
};

TEST(SessionEnvironmentsTest, IssuesHavePositions) {
  const auto kError = ConfigIssue::Severity::kError;
  const auto kWarning = ConfigIssue::Severity::kWarning;
  const std::vector<IssueRow> rows = {
      {"unknown base",
       AccessLevel::kCustom,
       {spec("a", "bsae", {"x.test"})},
       kError,
       "s.toml:19:1",
       "session 'a' has domains, but its environment 'bsae' is not defined",
       "bind the session to one of default, base, strict",
       2},
      {"a session's environment is no base",
       AccessLevel::kCustom,
       {spec("a", "base", {"x.test"}), spec("b", "session:a", {"y.test"}, 30)},
       kError,
       "s.toml:29:1",
       "environment 'session:a' is not defined",
       "",
       3},
      {"the same session twice",
       AccessLevel::kCustom,
       {spec("a", "base", {"x.test"}), spec("a", "strict", {"y.test"}, 30)},
       kError,
       "s.toml:29:1",
       "session 'a': environment 'session:a' exists already",
       "session ids must be unique",
       3},
      {"full base: the domains add nothing",
       AccessLevel::kFull,
       {spec("a", "base", {"x.test"})},
       kWarning,
       "s.toml:20:12",
       "session 'a' has domains, but its environment 'base' has level \"full\": they add nothing",
       "remove the session's domains",
       3},
      {"no position: the warning has none either",
       AccessLevel::kFull,
       {SessionEnvironmentSpec{"api-1", "base", {PatternEntry{"x.test", {}}}, {}}},
       kWarning,
       "<built-in>",
       "session 'api-1' has domains",
       "",
       3},
  };
  for (const IssueRow& row : rows) {
    SCOPED_TRACE(row.reason);
    ConfigIssues issues;
    PolicyConfig out = withSessionEnvironments(withBase(row.base_level), row.specs, issues);
    ASSERT_EQ(issues.size(), 1u) << describe(issues);
    EXPECT_EQ(issues[0].severity, row.severity);
    EXPECT_EQ(issues[0].pos.toString(), row.position);
    EXPECT_THAT(issues[0].message, HasSubstr(row.message));
    EXPECT_THAT(issues[0].hint, HasSubstr(row.hint));
    EXPECT_EQ(out.environments.size(), row.environments);
  }
}

TEST(SessionEnvironmentsTest, BadDomainsAreReportedInsideTheirString) {
  // Compiled at levels none, trusted and custom: the policy reports them.
  ConfigIssues issues;
  PolicyConfig out = withSessionEnvironments(withBase(AccessLevel::kTrusted),
                                             {spec("a", "base", {"ok.test", "*.com"})}, issues);
  ASSERT_TRUE(issues.empty()) << describe(issues);
  policy::PolicyCompile pc = policy::compilePolicy(out);
  EXPECT_EQ(pc.snapshot, nullptr);
  ASSERT_EQ(pc.issues.size(), 1u) << describe(pc.issues);
  EXPECT_EQ(pc.issues[0].pos.toString(), "s.toml:20:33");
  EXPECT_THAT(pc.issues[0].message,
              HasSubstr("invalid entry in environment 'session:a' domains: "));

  // Not compiled at level full: checked here, with the same positions.
  ConfigIssues full_issues;
  withSessionEnvironments(withBase(AccessLevel::kFull), {spec("a", "base", {"ok.test", "*.com"})},
                          full_issues);
  ASSERT_EQ(full_issues.size(), 2u) << describe(full_issues);
  EXPECT_EQ(full_issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(full_issues[1].severity, ConfigIssue::Severity::kError);
  EXPECT_EQ(full_issues[1].pos.toString(), "s.toml:20:33");
  EXPECT_THAT(full_issues[1].message, HasSubstr("invalid entry in session 'a' domains: "));
}

TEST(SessionEnvironmentsTest, BaseWithoutPortsIsAWarning) {
  PolicyConfig c = withBase(AccessLevel::kNone);
  c.environments[0].ports.clear();
  ConfigIssues issues;
  PolicyConfig out =
      withSessionEnvironments(c, {spec("a", "base", {"x.test", "y.test:443"})}, issues);
  ASSERT_EQ(issues.size(), 1u) << describe(issues);
  EXPECT_EQ(issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(issues[0].pos.toString(), "s.toml:20:12");
  EXPECT_THAT(issues[0].message, HasSubstr("allows no ports"));
  auto pc = policy::compilePolicy(out);
  ASSERT_NE(pc.snapshot, nullptr) << describe(pc.issues);
  policy::Host x = *policy::canonicalizeHost("x.test").host;
  policy::Host y = *policy::canonicalizeHost("y.test").host;
  EXPECT_FALSE(pc.snapshot->check({"session:a", "GET", &x, 443}).allowed());
  EXPECT_TRUE(pc.snapshot->check({"session:a", "GET", &y, 443}).allowed());
}

TEST(SessionEnvironmentsTest, NamesCannotCollideWithConfiguredOnes) {
  EXPECT_EQ(sessionEnvironmentName("sbx-1"), "session:sbx-1");
  EXPECT_EQ(sessionEnvironmentName(""), "session:");
  EXPECT_NE(sessionEnvironmentName("a").find(':'), std::string::npos);
}

TEST(SessionEnvironmentsTest, SpecsOfStaticSessions) {
  SessionConfig a;
  a.id = "a";
  a.environment = "web";
  a.domains = entries({"x.test"}, 7);
  a.pos = SourcePos{"s.toml", 5, 1};
  SessionConfig b;
  b.id = "b";
  std::vector<SessionEnvironmentSpec> specs = sessionEnvironmentSpecs({a, b});
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].session_id, "a");
  EXPECT_EQ(specs[0].base, "web");
  EXPECT_THAT(texts(specs[0].domains), ElementsAre("x.test"));
  EXPECT_EQ(specs[0].domains[0].pos.toString(), "s.toml:7:12");
  EXPECT_EQ(specs[0].pos.toString(), "s.toml:5:1");
  EXPECT_EQ(specs[1].session_id, "b");
  EXPECT_EQ(specs[1].base, "default");
  EXPECT_TRUE(specs[1].domains.empty());
}

TEST(SessionEnvironmentsTest, FiveThousandSessionsCompileAndAreFound) {
  PolicyConfig c = withBase(AccessLevel::kCustom);
  std::vector<SessionEnvironmentSpec> specs;
  constexpr int kSessions = 5000;
  for (int i = 0; i < kSessions; ++i) {
    const std::string id = "sbx-" + std::to_string(i);
    specs.push_back(SessionEnvironmentSpec{
        id, i % 2 ? "base" : "strict", {PatternEntry{id + ".session.test", {}}}, {}});
  }
  ConfigIssues issues;
  PolicyConfig out = withSessionEnvironments(c, specs, issues);
  ASSERT_TRUE(issues.empty()) << describe(issues);
  policy::PolicyCompile pc = policy::compilePolicy(out);
  ASSERT_NE(pc.snapshot, nullptr) << describe(pc.issues);
  ASSERT_EQ(pc.snapshot->environments().size(), 3u + kSessions);
  for (int i : {0, 1, 2500, 4998, 4999}) {
    const std::string id = "sbx-" + std::to_string(i);
    const policy::Environment* env = pc.snapshot->environment(sessionEnvironmentName(id));
    ASSERT_NE(env, nullptr) << id;
    EXPECT_EQ(env->name(), "session:" + id);
    policy::Host own = *policy::canonicalizeHost(id + ".session.test").host;
    policy::Host next =
        *policy::canonicalizeHost("sbx-" + std::to_string(i ^ 1) + ".session.test").host;
    EXPECT_TRUE(pc.snapshot->check({env->name(), "GET", &own, 443}).allowed()) << id;
    EXPECT_FALSE(pc.snapshot->check({env->name(), "GET", &next, 443}).allowed()) << id;
  }
}

}  // namespace
}  // namespace gatehouse::control
