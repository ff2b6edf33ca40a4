// The command line (SPEC §9), run in-process through runCli(), plus the exit statuses of the
// real binary.
#include "proxy/server/cli.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <sstream>

namespace gatehouse::server {
namespace {

const std::string kSrc = GATEHOUSE_SOURCE_DIR;
const std::string kData = kSrc + "/tests/data/cli/";

struct CliRun {
  int status;
  std::string out;
  std::string err;
  std::string firstLine() const { return out.substr(0, out.find('\n')); }
};

CliRun run(std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  int status = runCli(args, out, err);
  return CliRun{status, out.str(), err.str()};
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Cli, VersionNamesTheTrustedList) {
  CliRun r = run({"version"});
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "gatehouse 0.1.0\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "Trusted list 2026.11.21 (201 entries, built in)")) << r.out;
  EXPECT_TRUE(contains(r.out, "llhttp 9.")) << r.out;
}

TEST(Cli, CheckConfigAcceptsTheShippedConfig) {
  CliRun r = run({"check-config", kSrc + "/conf/gatehouse.toml"});
  EXPECT_EQ(r.status, kExitOk) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, ": OK")) << r.out;
  EXPECT_TRUE(contains(r.out, "(201 entries)")) << r.out;
}

TEST(Cli, CheckConfigReportsEveryErrorWithItsPosition) {
  CliRun r = run({"check-config", kSrc + "/tests/data/config_errors.toml"});
  EXPECT_EQ(r.status, kExitDenied);
  EXPECT_TRUE(contains(r.out, "config_errors.toml:3:")) << r.out;
  EXPECT_TRUE(contains(r.out, "config_errors.toml:4:")) << r.out;
  EXPECT_TRUE(contains(r.out, "config_errors.toml:7:")) << r.out;
  EXPECT_TRUE(contains(r.out, " error(s)")) << r.out;
}

TEST(Cli, CheckConfigReportsPatternErrorsInsideStrings) {
  const std::string path = ::testing::TempDir() + "/bad_patterns.toml";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(
      "[environment]\nlevel = \"custom\"\ndomains = [\"ok.example\", \"*.com\", \"a.*.b\"]\n", f);
  std::fclose(f);
  CliRun r = run({"check-config", path});
  EXPECT_EQ(r.status, kExitDenied);
  EXPECT_TRUE(contains(r.out,
                       "bad_patterns.toml:3:27: error: invalid entry in [environment] "
                       "domains: '*.com' is a wildcard over a top-level domain"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "bad_patterns.toml:3:38: error:")) << r.out;
  EXPECT_TRUE(contains(r.out, "2 error(s)")) << r.out;
}

TEST(Cli, ExplainWithBuiltInDefaults) {
  CliRun allow = run({"explain", "https://github.com/org/repo.git"});
  EXPECT_EQ(allow.status, kExitOk) << allow.out << allow.err;
  EXPECT_EQ(allow.firstLine(), "allow allow-listed");
  EXPECT_TRUE(contains(allow.out, "rule:        trusted:github.com")) << allow.out;
  EXPECT_TRUE(contains(allow.out, "environment: default@")) << allow.out;

  CliRun deny = run({"explain", "example.org"});
  EXPECT_EQ(deny.status, kExitDenied);
  EXPECT_EQ(deny.firstLine(), "deny host-not-allowed");
  EXPECT_TRUE(contains(deny.out, "destination: example.org:443")) << deny.out;
  EXPECT_TRUE(contains(deny.out, "not on the Trusted list")) << deny.out;
  EXPECT_TRUE(contains(deny.out, "to allow:    set level = \"custom\"")) << deny.out;

  CliRun port = run({"explain", "github.com:22"});
  EXPECT_EQ(port.status, kExitDenied);
  EXPECT_EQ(port.firstLine(), "deny port-not-allowed");
}

TEST(Cli, ExplainDeniesMalformedTargetsWithTheirReason) {
  for (const char* target :
       {"http://2130706433/", "http://allowed.test@evil.test/", "http://%61llowed.test/",
        "[fe80::1%25eth0]:443", "127.0.0.1.:80", "ftp://github.com/", "github.com:0"}) {
    CliRun r = run({"explain", target});
    EXPECT_EQ(r.status, kExitDenied) << target;
    EXPECT_EQ(r.firstLine(), "deny malformed-target") << target;
    EXPECT_TRUE(contains(r.out, "why:")) << target;
  }
}

TEST(Cli, ExplainChecksStaticAnswersAndIpLiterals) {
  const std::string cfg = kData + "explain.toml";
  CliRun ok = run({"explain", "--config", cfg, "http://origin.test/"});
  EXPECT_EQ(ok.status, kExitOk) << ok.out << ok.err;
  EXPECT_TRUE(contains(ok.out, "address:     127.0.0.2 -> allow addresses.allow:127.0.0.2/32"))
      << ok.out;

  CliRun priv = run({"explain", "--config", cfg, "http://private.test/"});
  EXPECT_EQ(priv.status, kExitDenied) << priv.out;
  EXPECT_EQ(priv.firstLine(), "deny address-denied");
  EXPECT_TRUE(contains(priv.out, "rule:        address-guard:private")) << priv.out;

  CliRun mixed = run({"explain", "--config", cfg, "http://mixed.test/"});
  EXPECT_EQ(mixed.status, kExitOk) << "dial only the address that passed: " << mixed.out;
  EXPECT_TRUE(contains(mixed.out, "10.0.0.5 -> deny address-guard:private")) << mixed.out;

  CliRun denied = run({"explain", "--config", cfg, "https://secret.origin.test/"});
  EXPECT_EQ(denied.firstLine(), "deny host-denied");
  EXPECT_TRUE(contains(denied.out, "entry at:    " + cfg + ":5:")) << denied.out;

  CliRun lit = run({"explain", "--config", cfg, "--environment", "open", "http://127.0.0.1/"});
  EXPECT_EQ(lit.status, kExitDenied);
  EXPECT_EQ(lit.firstLine(), "deny address-denied");
  CliRun meta = run(
      {"explain", "--config", cfg, "--environment", "open", "http://[::ffff:169.254.169.254]/"});
  EXPECT_EQ(meta.firstLine(), "deny address-denied");
  EXPECT_TRUE(contains(meta.out, "address-guard:link-local")) << meta.out;

  CliRun doc = run({"explain", "--config", cfg, "192.0.2.10:443"});
  EXPECT_EQ(doc.firstLine(), "deny address-denied") << "listed, but documentation range";
}

TEST(Cli, UsageAndConfigErrorsExitTwo) {
  EXPECT_EQ(run({"explain"}).status, kExitUsage);
  EXPECT_EQ(run({"explain", "a", "b"}).status, kExitUsage);
  EXPECT_EQ(run({"explain", "--bogus", "x"}).status, kExitUsage);
  EXPECT_EQ(run({"explain", "--environment", "nope", "github.com"}).status, kExitUsage);
  EXPECT_EQ(run({"explain", "--config", kSrc + "/tests/data/config_errors.toml", "x.test"}).status,
            kExitUsage);
  EXPECT_EQ(run({"explain", "--config", "/nonexistent.toml", "x.test"}).status, kExitUsage);
  EXPECT_EQ(run({"frobnicate"}).status, kExitUsage);
  EXPECT_EQ(run({"policy"}).status, kExitUsage);
  EXPECT_EQ(run({"check-config"}).status, kExitUsage);
  CliRun help = run({"help"});
  EXPECT_EQ(help.status, kExitOk);
  EXPECT_TRUE(contains(help.out, "policy diff OLD NEW"));
}

TEST(Cli, PolicyTestCountsPassesAndFailures) {
  CliRun ok = run({"policy", "test", kSrc + "/conf/examples/web-dev_test.toml"});
  EXPECT_EQ(ok.status, kExitOk) << ok.out << ok.err;
  EXPECT_TRUE(contains(ok.out, "18 passed, 0 failed\n")) << ok.out;

  CliRun bad = run({"policy", "test", kData + "failing_test.toml"});
  EXPECT_EQ(bad.status, kExitDenied);
  EXPECT_TRUE(contains(bad.out, "1 passed, 2 failed\n")) << bad.out;
  EXPECT_TRUE(contains(bad.out, "failing_test.toml:8:1: GET https://secret.origin.test/"))
      << bad.out;
  EXPECT_TRUE(contains(bad.out, "expected allow, got deny host-denied")) << bad.out;
  EXPECT_TRUE(contains(bad.out, "expected allow always-allowed, got allow allow-listed"))
      << bad.out;
  EXPECT_TRUE(contains(bad.out, "case: expected to fail: the deny entry wins")) << bad.out;
}

TEST(Cli, PolicyLintAndStrict) {
  CliRun r = run({"policy", "lint", kData + "lint.toml"});
  EXPECT_EQ(r.status, kExitOk) << r.out;
  EXPECT_TRUE(contains(r.out, "2 warning(s)")) << r.out;
  EXPECT_TRUE(contains(r.out, "lint.toml:4:")) << r.out;
  EXPECT_EQ(run({"policy", "lint", "--strict", kData + "lint.toml"}).status, kExitDenied);
  CliRun clean = run({"policy", "lint", "--strict", kSrc + "/conf/examples/web-dev.toml"});
  EXPECT_EQ(clean.status, kExitOk) << clean.out;
  EXPECT_TRUE(contains(clean.out, "0 warning(s)")) << clean.out;
}

TEST(Cli, PolicyDiff) {
  CliRun same = run({"policy", "diff", kData + "explain.toml", kData + "explain.toml"});
  EXPECT_EQ(same.status, kExitOk) << same.out;
  CliRun r = run({"policy", "diff", kData + "explain.toml", kData + "explain_wider.toml"});
  EXPECT_EQ(r.status, kExitDenied) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "  + domains:new.test")) << r.out;
  EXPECT_TRUE(contains(r.out, "  + deny:mixed.test")) << r.out;
  EXPECT_TRUE(contains(r.out, "newly allowed new.test:443")) << r.out;
  EXPECT_TRUE(contains(r.out, "newly denied  mixed.test:80")) << r.out;
  EXPECT_EQ(run({"policy", "diff", kData + "explain.toml"}).status, kExitUsage);
}

TEST(Cli, ServeRefusesBadConfigurationsAndUnbindableAddresses) {
  CliRun bad = run({"--config", kSrc + "/tests/data/config_errors.toml"});
  EXPECT_EQ(bad.status, kExitUsage);
  EXPECT_TRUE(contains(bad.err, "not starting")) << bad.err;

  // 192.0.2.1 (TEST-NET-1) is never a local address: bind fails, serve says where and exits.
  const std::string path = ::testing::TempDir() + "/unbindable.toml";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("[listener]\naddress = \"192.0.2.1:0\"\nworkers = 1\n[log]\ndecisions = \"\"\n", f);
  std::fclose(f);
  CliRun unbindable = run({"serve", "--config", path});
  EXPECT_EQ(unbindable.status, kExitUsage);
  EXPECT_TRUE(contains(unbindable.err, "cannot listen on 192.0.2.1:0: bind")) << unbindable.err;
}

// The real binary's exit statuses, which scripts depend on.
TEST(Cli, BinaryExitStatuses) {
  auto status = [](const std::string& args) {
    std::string cmd = std::string(GATEHOUSE_BINARY) + " " + args + " >/dev/null 2>&1";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(status("explain github.com"), 0);
  EXPECT_EQ(status("explain example.org"), 1);
  EXPECT_EQ(status("explain --environment nope github.com"), 2);
  EXPECT_EQ(status("check-config " + kSrc + "/tests/data/config_errors.toml"), 1);
}

}  // namespace
}  // namespace gatehouse::server
