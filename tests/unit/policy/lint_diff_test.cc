// `policy lint` warnings and `policy diff` reports.
#include <gtest/gtest.h>

#include "policy/diff.h"
#include "policy/lint.h"

namespace gatehouse::policy {
namespace {

std::vector<PatternEntry> entries(std::initializer_list<const char*> texts, int line) {
  std::vector<PatternEntry> out;
  for (const char* t : texts) out.push_back(PatternEntry{t, SourcePos{"p.toml", line++, 3}});
  return out;
}

std::shared_ptr<PolicySnapshot> compileOk(const PolicyConfig& c) {
  PolicyCompile pc = compilePolicy(c);
  for (const auto& i : pc.issues) {
    if (i.severity == ConfigIssue::Severity::kError) ADD_FAILURE() << i.toString();
  }
  return pc.snapshot;
}

std::string joined(const ConfigIssues& issues) {
  std::string s;
  for (const auto& i : issues) s += i.toString() + "\n";
  return s;
}

TEST(Lint, FindsEachKindOfMistakeOnce) {
  PolicyConfig c;
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.domains = entries({"*.example.com",     // 10: no apex
                                           "a.example.com",     // 11: shadowed by 10
                                           "**.docs.dev",       // 12
                                           "docs.dev",          // 13: shadowed by 12
                                           "ok.dev", "ok.dev",  // 14, 15: duplicate
                                           "secret.corp.dev",   // 16: denied
                                           "10.1.0.0/16",       // 17: shadowed by 18
                                           "10.0.0.0/8"},       // 18
                                          10);
  c.default_environment.deny = entries({"**.corp.dev"}, 30);
  ConfigIssues lint = lintPolicy(*compileOk(c));
  std::string all = joined(lint);
  auto has = [&](const std::string& s) { return all.find(s) != std::string::npos; };
  EXPECT_TRUE(has("p.toml:10:3: warning: entry '*.example.com'")) << all;
  EXPECT_TRUE(has("but not example.com itself")) << all;
  EXPECT_TRUE(has("p.toml:11:3: warning: entry 'a.example.com'")) << all;
  EXPECT_TRUE(has("shadowed by '*.example.com'")) << all;
  EXPECT_TRUE(has("p.toml:13:3: warning: entry 'docs.dev'")) << all;
  EXPECT_TRUE(has("p.toml:15:3: warning: duplicate entry 'ok.dev'")) << all;
  EXPECT_FALSE(has("p.toml:14:3: warning")) << "only the later duplicate is reported\n" << all;
  EXPECT_TRUE(has("p.toml:16:3: warning: entry 'secret.corp.dev'")) << all;
  EXPECT_TRUE(has("can never match")) << all;
  EXPECT_TRUE(has("p.toml:17:3: warning: entry '10.1.0.0/16'")) << all;
  EXPECT_FALSE(has("p.toml:12:3: warning")) << all;
  EXPECT_FALSE(has("p.toml:18:3: warning")) << all;
  EXPECT_EQ(lint.size(), 6u) << all;
  for (const auto& i : lint) EXPECT_EQ(i.severity, ConfigIssue::Severity::kWarning);
}

TEST(Lint, CleanPolicyHasNoWarnings) {
  PolicyConfig c;
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.domains = entries({"**.example.com", "other.dev", "10.0.0.0/8"}, 1);
  c.default_environment.deny = entries({"secret.example.org"}, 5);
  EXPECT_EQ(joined(lintPolicy(*compileOk(c))), "");
}

TEST(Lint, ShadowingByTheTrustedListIsReported) {
  PolicyConfig c;
  c.trusted.version = "t1";
  c.trusted.source = "trusted.toml";
  c.trusted.groups.push_back(TrustedGroup{"g", "G", entries({"github.com"}, 1)});
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.include_trusted = true;
  c.default_environment.domains = entries({"github.com"}, 20);
  std::string all = joined(lintPolicy(*compileOk(c)));
  EXPECT_NE(all.find("p.toml:20:3"), std::string::npos) << all;
}

PolicyConfig base() {
  PolicyConfig c;
  c.trusted.version = "t1";
  c.trusted.groups.push_back(TrustedGroup{"g", "G", entries({"github.com", "gitlab.com"}, 1)});
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.include_trusted = true;
  c.default_environment.domains = entries({"api.example.dev"}, 10);
  return c;
}

TEST(Diff, NoChangeIsEmpty) {
  auto a = compileOk(base());
  auto b = compileOk(base());
  PolicyDiff d = diffPolicies(*a, *b);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(formatDiff(d),
            "0 environment(s) changed, 0 destination(s) newly allowed, 0 newly denied\n");
}

TEST(Diff, ReportsEntriesAndDestinationsThatChange) {
  PolicyConfig after = base();
  after.default_environment.domains = entries({"**.example.dev"}, 10);  // widened
  after.default_environment.deny = entries({"gitlab.com"}, 20);         // newly denied
  EnvironmentConfig extra;
  extra.name = "ci";
  extra.level = AccessLevel::kFull;
  after.environments.push_back(extra);
  PolicyDiff d = diffPolicies(*compileOk(base()), *compileOk(after));
  std::string text = formatDiff(d);
  ASSERT_EQ(d.environments.size(), 2u) << text;
  const EnvironmentDiff& def = d.environments[0];
  EXPECT_EQ(def.name, "default");
  EXPECT_NE(def.old_tag, def.new_tag);
  EXPECT_NE(text.find("  + domains:**.example.dev"), std::string::npos) << text;
  EXPECT_NE(text.find("  - domains:api.example.dev"), std::string::npos) << text;
  EXPECT_NE(text.find("  + deny:gitlab.com"), std::string::npos) << text;
  EXPECT_NE(text.find("newly allowed example.dev:443"), std::string::npos) << text;
  EXPECT_NE(text.find("newly allowed sub.example.dev:80"), std::string::npos) << text;
  EXPECT_NE(text.find("newly denied  gitlab.com:443  (trusted:gitlab.com -> deny:gitlab.com)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("api.example.dev:443"), std::string::npos) << "still allowed: " << text;
  EXPECT_EQ(d.environments[1].name, "ci");
  EXPECT_TRUE(d.environments[1].old_tag.empty());
  EXPECT_NE(text.find("environment ci: (new) -> ci@"), std::string::npos) << text;
  EXPECT_EQ(d.newly_denied, 2);  // gitlab.com on 80 and 443
}

TEST(Diff, AddressExemptionsCountForIpEntries) {
  PolicyConfig before = base();
  before.default_environment.domains = entries({"10.0.0.0/8"}, 10);
  PolicyConfig after = before;
  after.addresses.allow = entries({"10.0.0.0/8"}, 30);
  PolicyDiff d = diffPolicies(*compileOk(before), *compileOk(after));
  std::string text = formatDiff(d);
  EXPECT_NE(text.find("newly allowed 10.0.0.0:443"), std::string::npos) << text;
}

}  // namespace
}  // namespace gatehouse::policy
