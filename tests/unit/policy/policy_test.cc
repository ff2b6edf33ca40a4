// Environments and decisions (SPEC §1, §3): every access level, deny over allow, always_allow at
// none, ports, IP entries, the address guard through checkResolved(), reasons and rule ids.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "policy/explain.h"
#include "policy/limits_config.h"

namespace gatehouse::policy {
namespace {

std::vector<PatternEntry> entries(std::initializer_list<const char*> texts, int line = 0) {
  std::vector<PatternEntry> out;
  int col = 3;
  for (const char* t : texts) {
    out.push_back(PatternEntry{t, SourcePos{line ? "test.toml" : "", line, col}});
    col += 20;
  }
  return out;
}

TrustedList smallTrusted() {
  TrustedList t;
  t.version = "test-1";
  t.source = "test";
  t.groups.push_back(
      TrustedGroup{"vc", "Version control", entries({"github.com", "api.github.com", "*.gcr.io"})});
  return t;
}

// The policy the BAD-INPUTS examples assume: allow allowed.test and *.api.test on 80/443.
PolicyConfig catalogueConfig() {
  PolicyConfig c;
  c.trusted = smallTrusted();
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.domains = entries({"allowed.test", "*.api.test"});
  EnvironmentConfig none;
  none.name = "locked";
  none.level = AccessLevel::kNone;
  none.always_allow = entries({"api.anthropic.com"});
  c.environments.push_back(none);
  EnvironmentConfig full;
  full.name = "open";
  full.level = AccessLevel::kFull;
  full.deny = entries({"**.evil.test", "exfil.example:22"}, 9);
  c.environments.push_back(full);
  EnvironmentConfig trusted;
  trusted.name = "trusted";
  trusted.level = AccessLevel::kTrusted;
  trusted.deny = entries({"api.github.com"});
  c.environments.push_back(trusted);
  EnvironmentConfig mixed;
  mixed.name = "mixed";
  mixed.level = AccessLevel::kCustom;
  mixed.include_trusted = true;
  mixed.domains =
      entries({"**.example.dev", "internal.example:8443", "192.0.2.0/24", "[2001:db8::7]:443"});
  mixed.ports = {443};
  c.environments.push_back(mixed);
  return c;
}

std::shared_ptr<PolicySnapshot> compileOk(const PolicyConfig& c) {
  PolicyCompile pc = compilePolicy(c);
  for (const auto& i : pc.issues) ADD_FAILURE() << i.toString();
  EXPECT_NE(pc.snapshot, nullptr);
  return pc.snapshot;
}

struct DecisionRow {
  const char* environment;
  const char* host;
  uint16_t port;
  Verdict verdict;
  Reason reason;
  const char* rule;  // expected ruleId()
  const char* why;
};

class PolicyTable : public ::testing::TestWithParam<DecisionRow> {
 protected:
  static void SetUpTestSuite() { snapshot_ = compileOk(catalogueConfig()); }
  static void TearDownTestSuite() { snapshot_.reset(); }
  static std::shared_ptr<PolicySnapshot> snapshot_;
};
std::shared_ptr<PolicySnapshot> PolicyTable::snapshot_;

TEST_P(PolicyTable, Decides) {
  const DecisionRow& r = GetParam();
  HostParse h = canonicalizeHost(r.host);
  ASSERT_TRUE(h.ok()) << r.host;
  RequestInfo req{r.environment, "GET", &*h.host, r.port};
  Decision d = snapshot_->check(req);
  EXPECT_EQ(verdictName(d.verdict), std::string(verdictName(r.verdict))) << r.why;
  EXPECT_STREQ(reasonCode(d.reason), reasonCode(r.reason)) << r.why;
  EXPECT_EQ(d.ruleId(), r.rule) << r.why;
}

constexpr Verdict A = Verdict::kAllow;
constexpr Verdict D = Verdict::kDeny;
using R = Reason;
const DecisionRow kRows[] = {
    // Custom (the catalogue's default environment).
    {"default", "allowed.test", 443, A, R::kAllowListed, "domains:allowed.test", "exact"},
    {"default", "ALLOWED.TEST.", 80, A, R::kAllowListed, "domains:allowed.test", "B1/B2"},
    {"default", "www.allowed.test", 443, D, R::kHostNotAllowed, "level:custom", "exact only"},
    {"default", "x.api.test", 443, A, R::kAllowListed, "domains:*.api.test", "wildcard"},
    {"default", "a.b.c.api.test", 443, A, R::kAllowListed, "domains:*.api.test", "B7 deep"},
    {"default", "api.test", 443, D, R::kHostNotAllowed, "level:custom", "B4 apex excluded"},
    {"default", "badapi.test", 443, D, R::kHostNotAllowed, "level:custom", "B5 boundary"},
    {"default", "api.test.evil.test", 443, D, R::kHostNotAllowed, "level:custom", "B6"},
    {"default", "allowed.test.evil.test", 443, D, R::kHostNotAllowed, "level:custom", "B6"},
    {"default", "xn--pi-7kc.test", 443, D, R::kHostNotAllowed, "level:custom", "B9"},
    {"default", "github.com", 443, D, R::kHostNotAllowed, "level:custom", "no include_trusted"},
    {"default", "allowed.test", 22, D, R::kPortNotAllowed, "ports", "B14 port 22"},
    {"default", "allowed.test", 6379, D, R::kPortNotAllowed, "ports", "B14 port 6379"},
    {"default", "127.0.0.1", 80, D, R::kHostNotAllowed, "level:custom", "IP needs IP entry"},
    // None: only always_allow.
    {"locked", "api.anthropic.com", 443, A, R::kAlwaysAllowed, "always_allow:api.anthropic.com",
     "always_allow at none"},
    {"locked", "api.anthropic.com", 22, D, R::kPortNotAllowed, "ports", "ports still apply"},
    {"locked", "github.com", 443, D, R::kHostNotAllowed, "level:none", "none"},
    // Full: any domain, deny wins.
    {"open", "anything.example", 443, A, R::kFullAccess, "level:full", "full"},
    {"open", "203.0.113.9", 80, A, R::kFullAccess, "level:full", "full allows IP literals"},
    {"open", "evil.test", 443, D, R::kHostDenied, "deny:**.evil.test", "deny apex"},
    {"open", "a.evil.test", 443, D, R::kHostDenied, "deny:**.evil.test", "deny sub"},
    {"open", "exfil.example", 22, D, R::kHostDenied, "deny:exfil.example:22", "port deny"},
    {"open", "exfil.example", 443, A, R::kFullAccess, "level:full", "port deny other port"},
    {"open", "anything.example", 8080, D, R::kPortNotAllowed, "ports", "full keeps ports"},
    // Trusted with a deny entry.
    {"trusted", "github.com", 443, A, R::kAllowListed, "trusted:github.com", "trusted"},
    {"trusted", "api.github.com", 443, D, R::kHostDenied, "deny:api.github.com",
     "deny over trusted"},
    {"trusted", "mirror.gcr.io", 443, A, R::kAllowListed, "trusted:*.gcr.io", "trusted wildcard"},
    {"trusted", "gcr.io", 443, D, R::kHostNotAllowed, "level:trusted", "apex not in list"},
    {"trusted", "evil.example", 443, D, R::kHostNotAllowed, "level:trusted", "not listed"},
    // Custom + include_trusted, port entries, IP entries.
    {"mixed", "example.dev", 443, A, R::kAllowListed, "domains:**.example.dev", "apex"},
    {"mixed", "github.com", 443, A, R::kAllowListed, "trusted:github.com", "include_trusted"},
    {"mixed", "github.com", 80, D, R::kPortNotAllowed, "ports", "env ports = [443]"},
    {"mixed", "internal.example", 8443, A, R::kAllowListed, "domains:internal.example:8443",
     "explicit port allows a port outside ports"},
    {"mixed", "internal.example", 443, D, R::kPortNotAllowed, "domains:internal.example:8443",
     "port-only entry explains the refusal"},
    {"mixed", "192.0.2.55", 443, A, R::kAllowListed, "domains:192.0.2.0/24", "CIDR"},
    {"mixed", "198.51.100.1", 443, D, R::kHostNotAllowed, "level:custom", "outside CIDR"},
    {"mixed", "[2001:db8::7]", 443, A, R::kAllowListed, "domains:[2001:db8::7]:443", "v6"},
    {"mixed", "[2001:db8::8]", 443, D, R::kHostNotAllowed, "level:custom", "v6 other"},
    // Unknown environments fail closed.
    {"nope", "github.com", 443, D, R::kUnknownEnvironment, "environment", "unknown env"},
};

INSTANTIATE_TEST_SUITE_P(Rows, PolicyTable, ::testing::ValuesIn(kRows));

TEST(Policy, CheckResolvedAppliesTheAddressGuard) {
  PolicyConfig c = catalogueConfig();
  c.addresses.allow = entries({"127.0.0.0/8"});
  auto snap = compileOk(c);
  Host h = *canonicalizeHost("allowed.test").host;
  RequestInfo req{"default", "GET", &h, 443};
  auto ip = [](const char* t) { return *IpAddress::parse(t); };

  Decision pub = snap->checkResolved(req, ip("93.184.216.34"));
  EXPECT_TRUE(pub.allowed());
  EXPECT_EQ(pub.reason, Reason::kAddressAllowed);

  Decision meta = snap->checkResolved(req, ip("169.254.169.254"));
  EXPECT_FALSE(meta.allowed());
  EXPECT_EQ(meta.reason, Reason::kAddressDenied);
  EXPECT_EQ(meta.ruleId(), "address-guard:link-local");

  Decision mapped = snap->checkResolved(req, ip("::ffff:10.0.0.1"));
  EXPECT_FALSE(mapped.allowed());
  EXPECT_EQ(mapped.ruleId(), "address-guard:private");

  Decision exempt = snap->checkResolved(req, ip("127.0.0.3"));
  EXPECT_TRUE(exempt.allowed());
  EXPECT_EQ(exempt.ruleId(), "addresses.allow:127.0.0.0/8");

  snap->setSelfEndpoints({Endpoint{ip("127.0.0.1"), 443}});
  Decision self = snap->checkResolved(req, ip("127.0.0.1"));
  EXPECT_FALSE(self.allowed());
  EXPECT_EQ(self.reason, Reason::kProxyLoop);
  EXPECT_EQ(self.ruleId(), "address-guard:self");
}

TEST(Policy, DefaultConfigIsTrustedAndDeniesPrivateAddresses) {
  PolicyConfig c;
  c.trusted = smallTrusted();
  auto snap = compileOk(c);
  ASSERT_EQ(snap->environments().size(), 1u);
  const Environment* env = snap->environment("default");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->level(), AccessLevel::kTrusted);
  EXPECT_TRUE(env->portAllowed(80));
  EXPECT_TRUE(env->portAllowed(443));
  EXPECT_FALSE(env->portAllowed(22));
  Host h = *canonicalizeHost("github.com").host;
  EXPECT_TRUE(snap->check(RequestInfo{"default", "GET", &h, 443}).allowed());
  EXPECT_FALSE(
      snap->checkResolved(RequestInfo{"default", "GET", &h, 443}, *IpAddress::parse("127.0.0.1"))
          .allowed());
}

TEST(Policy, EmptyAllowlistDeniesEverything) {  // BAD-INPUTS L2
  PolicyConfig c;
  c.default_environment.level = AccessLevel::kCustom;
  PolicyCompile pc = compilePolicy(c);
  ASSERT_NE(pc.snapshot, nullptr);
  ASSERT_EQ(pc.issues.size(), 1u);
  EXPECT_EQ(pc.issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_NE(pc.issues[0].message.find("allows nothing"), std::string::npos);
  Host h = *canonicalizeHost("github.com").host;
  EXPECT_FALSE(pc.snapshot->check(RequestInfo{"default", "GET", &h, 443}).allowed());
}

TEST(Policy, AllBadEntriesAreReportedAtOnceWithPositions) {
  PolicyConfig c;
  c.trusted = smallTrusted();
  c.default_environment.level = AccessLevel::kCustom;
  c.default_environment.domains = entries({"*.com", "ok.example", "a.*.b.example"}, 4);
  c.default_environment.deny = entries({"https://x.example/"}, 6);
  c.addresses.allow = {PatternEntry{"10.0.0.1/8", SourcePos{"test.toml", 8, 11}}};
  PolicyCompile pc = compilePolicy(c);
  EXPECT_EQ(pc.snapshot, nullptr);
  std::vector<std::string> got;
  for (const auto& i : pc.issues) got.push_back(i.pos.toString() + " " + i.message);
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("test.toml:4:4 "), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("top-level domain"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find("test.toml:4:46 "), std::string::npos) << got[1];  // '*' inside entry 3
  EXPECT_NE(got[2].find("test.toml:6:9 "), std::string::npos) << got[2];   // "://" of the URL
  EXPECT_NE(got[3].find("test.toml:8:"), std::string::npos) << got[3];
}

TEST(Policy, DomainsOutsideCustomAreAnError) {
  PolicyConfig c;
  c.trusted = smallTrusted();
  c.default_environment.level = AccessLevel::kTrusted;
  c.default_environment.domains = entries({"example.dev"}, 3);
  PolicyCompile pc = compilePolicy(c);
  EXPECT_EQ(pc.snapshot, nullptr);
  ASSERT_FALSE(pc.issues.empty());
  EXPECT_NE(pc.issues[0].message.find("only used at level \"custom\""), std::string::npos);
}

TEST(Policy, VersionChangesExactlyWhenThePolicyDoes) {
  auto version = [](const PolicyConfig& c) {
    return compileOk(c)->environment("default")->version();
  };
  PolicyConfig a = catalogueConfig();
  PolicyConfig same = catalogueConfig();
  std::reverse(same.default_environment.domains.begin(), same.default_environment.domains.end());
  EXPECT_EQ(version(a), version(same)) << "order of entries does not change the policy";
  PolicyConfig more = catalogueConfig();
  more.default_environment.domains.push_back(PatternEntry{"new.example", {}});
  EXPECT_NE(version(a), version(more));
  PolicyConfig ports = catalogueConfig();
  ports.default_environment.ports = {443};
  EXPECT_NE(version(a), version(ports));
  PolicyConfig trusted_env = catalogueConfig();
  trusted_env.default_environment.include_trusted = true;
  PolicyConfig trusted_env2 = trusted_env;
  trusted_env2.trusted.version = "test-2";
  EXPECT_NE(version(trusted_env), version(trusted_env2)) << "the Trusted list version counts";
  EXPECT_EQ(version(a).size(), 12u);
}

TEST(Policy, VersionCountsEveryLimitThatIsSet) {
  auto version = [](const PolicyConfig& c, const char* name = "default") {
    return compileOk(c)->environment(name)->version();
  };
  const PolicyConfig base = catalogueConfig();
  PolicyConfig unset = base;
  unset.default_environment.limits[LimitKey::kRequestsPerSecond] = 10;
  unset.default_environment.limits[LimitKey::kRequestsPerSecond].reset();
  EXPECT_EQ(version(base), version(unset)) << "no limit set: the version from before limits";
  PolicyConfig positions = base;
  positions.default_environment.limits.positions[0] = SourcePos{"x.toml", 3, 1};
  EXPECT_EQ(version(base), version(positions)) << "where a limit was written does not count";

  PolicyConfig rps10 = base;
  rps10.default_environment.limits[LimitKey::kRequestsPerSecond] = 10;
  EXPECT_NE(version(base), version(rps10)) << "a limit set";
  PolicyConfig rps20 = base;
  rps20.default_environment.limits[LimitKey::kRequestsPerSecond] = 20;
  EXPECT_NE(version(rps10), version(rps20)) << "its value";
  PolicyConfig burst10 = base;
  burst10.default_environment.limits[LimitKey::kRequestBurst] = 10;
  EXPECT_NE(version(rps10), version(burst10)) << "its key";
  PolicyConfig zero = base;
  zero.default_environment.limits[LimitKey::kRequestsPerSecond] = 0;
  EXPECT_NE(version(base), version(zero)) << "an explicit 0 is set (it overrides nothing here, "
                                             "but a session table can tell it apart)";
  PolicyConfig both = rps10;
  both.default_environment.limits[LimitKey::kBudgetWindowSeconds] = 60;
  EXPECT_NE(version(both), version(rps10));
  EXPECT_EQ(version(both).size(), 12u);
  for (size_t i = 0; i < kLimitKeyCount; ++i) {
    PolicyConfig one = base;
    one.default_environment.limits.values[i] = 1;
    EXPECT_NE(version(base), version(one)) << limitKeyName(static_cast<LimitKey>(i));
  }
  EXPECT_EQ(version(base, "locked"), version(rps10, "locked")) << "other environments keep theirs";
  PolicyConfig locked = base;
  locked.environments[0].limits[LimitKey::kMaxTunnels] = 4;
  EXPECT_NE(version(base, "locked"), version(locked, "locked")) << "named environments too";
  EXPECT_EQ(version(base), version(locked));
}

// resolveLimits(): a session's values override its environment's key by key; unset keys are 0
// (no limit) except the budget window and the trickle rate, which get their defaults.
struct ResolveRow {
  const char* why;
  std::vector<std::pair<LimitKey, uint64_t>> environment;
  std::optional<std::vector<std::pair<LimitKey, uint64_t>>> session;  // nullopt = no session
  std::vector<std::pair<LimitKey, uint64_t>> expected;  // every other key: 0 / the default
  bool any;
};

LimitsConfig limitsOf(const std::vector<std::pair<LimitKey, uint64_t>>& values) {
  LimitsConfig out;
  for (const auto& [key, value] : values) out[key] = value;
  return out;
}

TEST(Policy, ResolveLimitsMergesSessionOverEnvironment) {
  using K = LimitKey;
  const std::vector<ResolveRow> rows = {
      {"nothing set: no limit, default window and trickle", {}, std::nullopt, {}, false},
      {"an empty session changes nothing",
       {{K::kRequestsPerSecond, 10}},
       std::vector<std::pair<LimitKey, uint64_t>>{},
       {{K::kRequestsPerSecond, 10}},
       true},
      {"no session: the environment's values",
       {{K::kMaxTunnels, 4}, {K::kRequestBurst, 20}},
       std::nullopt,
       {{K::kMaxTunnels, 4}, {K::kRequestBurst, 20}},
       true},
      {"the session overrides one key, the others are inherited",
       {{K::kRequestsPerSecond, 10}, {K::kRequestBurst, 20}},
       {{{K::kRequestsPerSecond, 5}}},
       {{K::kRequestsPerSecond, 5}, {K::kRequestBurst, 20}},
       true},
      {"a session may loosen its environment's limit",
       {{K::kMaxConnections, 10}},
       {{{K::kMaxConnections, 100}}},
       {{K::kMaxConnections, 100}},
       true},
      {"a session's 0 lifts its environment's limit",
       {{K::kMaxTunnels, 4}},
       {{{K::kMaxTunnels, 0}}},
       {},
       false},
      {"a key only the session sets",
       {},
       {{{K::kDownloadBudgetBytes, 1000}}},
       {{K::kDownloadBudgetBytes, 1000}},
       true},
      {"the environment's window",
       {{K::kBudgetWindowSeconds, 60}},
       std::nullopt,
       {{K::kBudgetWindowSeconds, 60}},
       false},
      {"the session's window over the environment's",
       {{K::kBudgetWindowSeconds, 60}},
       {{{K::kBudgetWindowSeconds, 120}}},
       {{K::kBudgetWindowSeconds, 120}},
       false},
      {"a window of 0 is the default", {{K::kBudgetWindowSeconds, 0}}, std::nullopt, {}, false},
      {"a trickle of 0 is the default",
       {{K::kUploadBudgetBytes, 1}},
       {{{K::kTrickleBytesPerSecond, 0}}},
       {{K::kUploadBudgetBytes, 1}},
       true},
      {"the session's trickle",
       {{K::kTrickleBytesPerSecond, 10}},
       {{{K::kTrickleBytesPerSecond, 2}}},
       {{K::kTrickleBytesPerSecond, 2}},
       false},
      {"the largest values pass through",
       {{K::kUploadBytesPerSecond, uint64_t{1} << 53}, {K::kBudgetWindowSeconds, 31536000}},
       std::nullopt,
       {{K::kUploadBytesPerSecond, uint64_t{1} << 53}, {K::kBudgetWindowSeconds, 31536000}},
       true},
  };
  for (const ResolveRow& row : rows) {
    SCOPED_TRACE(row.why);
    const LimitsConfig environment = limitsOf(row.environment);
    std::optional<LimitsConfig> session;
    if (row.session) session = limitsOf(*row.session);
    const Limits got = resolveLimits(environment, session ? &*session : nullptr);
    Limits want;
    want.values[static_cast<size_t>(K::kBudgetWindowSeconds)] = kDefaultBudgetWindowSeconds;
    want.values[static_cast<size_t>(K::kTrickleBytesPerSecond)] = kDefaultTrickleBytesPerSecond;
    for (const auto& [key, value] : row.expected) want.values[static_cast<size_t>(key)] = value;
    for (size_t i = 0; i < kLimitKeyCount; ++i) {
      EXPECT_EQ(got.values[i], want.values[i]) << limitKeyName(static_cast<LimitKey>(i));
    }
    EXPECT_EQ(got.any(), row.any);
  }
  EXPECT_EQ(kDefaultBudgetWindowSeconds, 3600u);
  EXPECT_EQ(kDefaultTrickleBytesPerSecond, 1024u);
}

TEST(Policy, ExplanationsSayWhyAndHowToAllow) {
  auto snap = compileOk(catalogueConfig());
  Host h = *canonicalizeHost("github.com").host;
  const Environment* env = snap->environment("default");
  Decision d = snap->check(RequestInfo{"default", "GET", &h, 443});
  EXPECT_NE(decisionSummary(d, env, h, 443).find("github.com:443"), std::string::npos);
  std::string fix = howToAllow(d, env, h, 443);
  EXPECT_NE(fix.find("add \"github.com\" to domains in [environment]"), std::string::npos) << fix;

  Host evil = *canonicalizeHost("a.evil.test").host;
  const Environment* open = snap->environment("open");
  Decision denied = snap->check(RequestInfo{"open", "GET", &evil, 443});
  std::string why = decisionSummary(denied, open, evil, 443);
  EXPECT_NE(why.find("'**.evil.test'"), std::string::npos) << why;
  EXPECT_NE(why.find("test.toml:9:3"), std::string::npos) << why;
  EXPECT_NE(howToAllow(denied, open, evil, 443).find("deny entries win"), std::string::npos);
  EXPECT_EQ(environmentTag(*open), "open@" + open->version());
}

// ---- modes, shadows and the name index --------------------------------------------------------

EnvironmentConfig namedEnvironment(const char* name, AccessLevel level) {
  EnvironmentConfig e;
  e.name = name;
  e.level = level;
  return e;
}

TEST(Policy, ModeNamesAreStable) {
  EXPECT_STREQ(environmentModeName(EnvironmentMode::kEnforce), "enforce");
  EXPECT_STREQ(environmentModeName(EnvironmentMode::kReport), "report");
  EnvironmentConfig defaults;
  EXPECT_EQ(defaults.mode, EnvironmentMode::kEnforce);
  EXPECT_EQ(defaults.shadow, "");
}

TEST(Policy, VersionChangesWithModeAndShadow) {
  auto version = [](const PolicyConfig& c, const char* name) {
    return compileOk(c)->environment(name)->version();
  };
  const PolicyConfig base = catalogueConfig();
  PolicyConfig enforce = base;
  enforce.default_environment.mode = EnvironmentMode::kEnforce;
  EXPECT_EQ(version(base, "default"), version(enforce, "default"))
      << "the default mode does not change the version";
  PolicyConfig report = base;
  report.default_environment.mode = EnvironmentMode::kReport;
  EXPECT_NE(version(base, "default"), version(report, "default")) << "report mode";
  PolicyConfig shadow = base;
  shadow.default_environment.shadow = "locked";
  EXPECT_NE(version(base, "default"), version(shadow, "default")) << "a shadow";
  PolicyConfig other_shadow = base;
  other_shadow.default_environment.shadow = "open";
  EXPECT_NE(version(shadow, "default"), version(other_shadow, "default")) << "another shadow";
  PolicyConfig both = shadow;
  both.default_environment.mode = EnvironmentMode::kReport;
  EXPECT_NE(version(both, "default"), version(shadow, "default"));
  EXPECT_NE(version(both, "default"), version(report, "default"));
  EXPECT_EQ(version(shadow, "locked"), version(base, "locked"))
      << "being someone's shadow does not change an environment";
  EXPECT_EQ(version(both, "default").size(), 12u);
}

TEST(Policy, ModeIsExposed) {
  PolicyConfig c = catalogueConfig();
  c.environments[1].mode = EnvironmentMode::kReport;  // "open"
  auto snap = compileOk(c);
  EXPECT_EQ(snap->environment("default")->mode(), EnvironmentMode::kEnforce);
  EXPECT_EQ(snap->environment("open")->mode(), EnvironmentMode::kReport);
}

TEST(Policy, ShadowResolvesToTheEnvironmentInTheSameSnapshot) {
  PolicyConfig c = catalogueConfig();
  c.default_environment.shadow = "locked";
  c.environments[0].shadow = "open";     // locked -> open: not followed from default
  c.environments[1].shadow = "default";  // open -> default: a cycle through two is fine
  auto snap = compileOk(c);
  const Environment* def = snap->environment("default");
  const Environment* locked = snap->environment("locked");
  const Environment* open = snap->environment("open");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->shadow(), locked);
  EXPECT_EQ(locked->shadow(), open);
  EXPECT_EQ(open->shadow(), def);
  EXPECT_EQ(snap->environment("trusted")->shadow(), nullptr) << "no shadow";
  EXPECT_EQ(snap->environment("mixed")->shadow(), nullptr);
}

struct ShadowErrorRow {
  const char* reason;
  const char* environment;  // whose shadow is set ("default" = [environment])
  const char* shadow;
  const char* message;
  const char* hint;
};

TEST(Policy, BadShadowsAreErrorsAtTheirPosition) {
  const ShadowErrorRow rows[] = {
      {"a typo", "mixed", "lokced",
       "[environments.mixed] shadow 'lokced' is not a defined "
       "environment",
       "did you mean 'locked'?"},
      {"nothing close: the environments are listed", "default", "staging",
       "[environment] shadow 'staging' is not a defined environment",
       "use one of default, locked, open, trusted, mixed"},
      {"itself", "open", "open", "[environments.open] shadow names the environment itself",
       "name another environment"},
      {"default itself", "default", "default", "[environment] shadow names the environment itself",
       ""},
      {"case matters", "open", "Locked", "shadow 'Locked' is not a defined environment",
       "did you mean 'locked'?"},
      {"a session's environment", "open", "session:sbx-1",
       "shadow 'session:sbx-1' is not a defined environment", "not a session's environment"},
  };
  for (const ShadowErrorRow& row : rows) {
    SCOPED_TRACE(row.reason);
    PolicyConfig c = catalogueConfig();
    EnvironmentConfig* env = &c.default_environment;
    for (auto& e : c.environments) {
      if (e.name == row.environment) env = &e;
    }
    env->shadow = row.shadow;
    env->shadow_pos = SourcePos{"test.toml", 7, 10};
    if (std::string(row.shadow).find(':') != std::string::npos) {
      EnvironmentConfig session = catalogueConfig().default_environment;
      session.name = row.shadow;
      c.environments.push_back(session);
    }
    PolicyCompile pc = compilePolicy(c);
    EXPECT_EQ(pc.snapshot, nullptr);
    ASSERT_EQ(pc.issues.size(), 1u) << ::testing::PrintToString(pc.issues.size());
    EXPECT_EQ(pc.issues[0].severity, ConfigIssue::Severity::kError);
    EXPECT_EQ(pc.issues[0].pos.toString(), "test.toml:7:10");
    EXPECT_NE(pc.issues[0].message.find(row.message), std::string::npos) << pc.issues[0].message;
    EXPECT_NE(pc.issues[0].hint.find(row.hint), std::string::npos) << pc.issues[0].hint;
  }
}

TEST(Policy, SynthesisedEnvironmentsFollowTheirBasesShadowSilently) {
  PolicyConfig c = catalogueConfig();
  c.environments[1].shadow = "locked";  // open -> locked
  EnvironmentConfig copy = c.environments[1];
  copy.name = "session:a";
  c.environments.push_back(copy);
  auto snap = compileOk(c);
  EXPECT_EQ(snap->environment("session:a")->shadow(), snap->environment("locked"));
  EXPECT_EQ(snap->environment("session:a")->version(), snap->environment("open")->version())
      << "the same policy has the same version, whatever its name";
}

TEST(Policy, DuplicateEnvironmentNamesAreAnError) {
  PolicyConfig c = catalogueConfig();
  c.environments[0].pos = SourcePos{"test.toml", 3, 1};
  EnvironmentConfig again = namedEnvironment("locked", AccessLevel::kFull);
  again.pos = SourcePos{"test.toml", 30, 1};
  c.environments.push_back(again);
  PolicyCompile pc = compilePolicy(c);
  EXPECT_EQ(pc.snapshot, nullptr);
  ASSERT_EQ(pc.issues.size(), 1u);
  EXPECT_EQ(pc.issues[0].pos.toString(), "test.toml:30:1");
  EXPECT_EQ(pc.issues[0].message, "environment 'locked' is defined twice");
  EXPECT_NE(pc.issues[0].hint.find("test.toml:3:1"), std::string::npos);
}

TEST(Policy, CopiedBadEntriesAreReportedOnce) {
  PolicyConfig c;
  c.trusted = smallTrusted();
  c.environments.push_back(namedEnvironment("web", AccessLevel::kCustom));
  c.environments[0].domains = entries({"ok.test"}, 4);
  c.environments[0].deny = entries({"*.com"}, 5);
  for (const char* name : {"session:a", "session:b"}) {
    EnvironmentConfig copy = c.environments[0];
    copy.name = name;
    copy.domains.push_back(PatternEntry{"https://x.test/", SourcePos{"test.toml", 9, 12}});
    c.environments.push_back(copy);
  }
  PolicyCompile pc = compilePolicy(c);
  EXPECT_EQ(pc.snapshot, nullptr);
  std::vector<std::string> got;
  for (const auto& i : pc.issues) got.push_back(i.pos.toString() + " " + i.message);
  // Both sessions wrote the same string at the same place: one issue (a real config has one
  // position per string, so this only happens for copies).
  ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("test.toml:5:4 invalid entry in [environments.web] deny"),
            std::string::npos)
      << got[0];
  EXPECT_NE(got[1].find("test.toml:9:18 invalid entry in environment 'session:a' domains"),
            std::string::npos)
      << got[1];
}

TEST(Policy, ThousandsOfEnvironmentsAreLookedUpByName) {
  PolicyConfig c = catalogueConfig();
  constexpr int kSessions = 5000;
  for (int i = 0; i < kSessions; ++i) {
    EnvironmentConfig e = namedEnvironment("", AccessLevel::kCustom);
    e.name = "session:sbx-" + std::to_string(i);
    e.domains.push_back(PatternEntry{"s" + std::to_string(i) + ".example", {}});
    c.environments.push_back(std::move(e));
  }
  auto snap = compileOk(c);
  ASSERT_EQ(snap->environments().size(), 5u + kSessions);
  EXPECT_EQ(snap->environments()[0]->name(), "default") << "order kept: default first";
  EXPECT_EQ(snap->environments()[1]->name(), "locked") << "then file order";
  EXPECT_EQ(snap->environments()[5]->name(), "session:sbx-0") << "then appended ones";
  EXPECT_EQ(snap->environments().back()->name(), "session:sbx-4999");
  for (const auto& env : snap->environments()) {
    ASSERT_EQ(snap->environment(env->name()), env.get()) << env->name();
  }
  EXPECT_EQ(snap->environment("session:sbx-5000"), nullptr);
  EXPECT_EQ(snap->environment("session:"), nullptr);
  EXPECT_EQ(snap->environment(""), nullptr);
  EXPECT_EQ(snap->environment("DEFAULT"), nullptr);

  const Host own = *canonicalizeHost("s4321.example").host;
  const Host other = *canonicalizeHost("s4322.example").host;
  EXPECT_TRUE(snap->check(RequestInfo{"session:sbx-4321", "GET", &own, 443}).allowed());
  Decision d = snap->check(RequestInfo{"session:sbx-4321", "GET", &other, 443});
  EXPECT_EQ(d.reason, Reason::kHostNotAllowed) << "each session has its own domains";
  EXPECT_EQ(snap->check(RequestInfo{"session:nope", "GET", &own, 443}).reason,
            Reason::kUnknownEnvironment);
}

TEST(Policy, SynthesisedEnvironmentsAreNamedAsSuchInExplanations) {
  PolicyConfig c = catalogueConfig();
  EnvironmentConfig copy = c.default_environment;
  copy.name = "session:sbx-1";
  c.environments.push_back(copy);
  auto snap = compileOk(c);
  const Environment* env = snap->environment("session:sbx-1");
  Host h = *canonicalizeHost("github.com").host;
  Decision d = snap->check(RequestInfo{"session:sbx-1", "GET", &h, 443});
  std::string fix = howToAllow(d, env, h, 443);
  EXPECT_NE(fix.find("add \"github.com\" to domains in environment 'session:sbx-1'"),
            std::string::npos)
      << fix;
  EXPECT_EQ(fix.find("[environments.session:"), std::string::npos) << "no such table" << fix;
}

TEST(Policy, EveryReasonHasAStableCode) {
  std::set<std::string> codes;
  for (int r = 0; r < kReasonCount; ++r) codes.insert(reasonCode(static_cast<Reason>(r)));
  EXPECT_EQ(codes.size(), static_cast<size_t>(kReasonCount));
}

}  // namespace
}  // namespace gatehouse::policy
