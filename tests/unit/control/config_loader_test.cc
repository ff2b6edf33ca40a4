#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "control/config.h"
#include "policy/limits_config.h"
#include "policy/policy.h"

namespace gatehouse::control {
namespace {

using policy::AccessLevel;
using policy::ConfigIssue;
using policy::ConfigIssues;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHex[] = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
constexpr char kHex2[] = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

std::string sourcePath(const std::string& relative) {
  return std::string(GATEHOUSE_SOURCE_DIR) + "/" + relative;
}
std::string dataPath(const std::string& name) { return sourcePath("tests/data/" + name); }

std::string describe(const ConfigIssues& issues) {
  std::string out;
  for (const ConfigIssue& issue : issues) out += "\n  " + issue.toString();
  return out.empty() ? " (none)" : out;
}

int countErrors(const ConfigIssues& issues) {
  int n = 0;
  for (const ConfigIssue& issue : issues) n += issue.severity == ConfigIssue::Severity::kError;
  return n;
}

// A file in the test's temporary directory with `content` and `mode`; its path.
std::string tempFile(const std::string& name, const std::string& content, mode_t mode) {
  const std::string path =
      ::testing::TempDir() + "gatehouse-loader-" + std::to_string(::getpid()) + "-" + name;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(path.c_str(), mode);
  return path;
}

// A git token file the loader accepts (mode 0600, one trailing newline).
const std::string& tokenFile() {
  static const std::string path = tempFile("token", "gatehouse-canary-loader-token\n", 0600);
  return path;
}
const std::string kTokenLine = "token_file = \"" + tokenFile() + "\"\n";

// A session that can be identified (lines 1-3), then a complete git binding (lines 4-8): rows
// append one line at line 9, or replace a key by writing the binding themselves.
const std::string kSession = "[[sessions]]\nid = \"a\"\nclients = [\"10.0.0.1\"]\n";
const std::string kGitHeader = kSession + "[sessions.git]\n";
std::string gitBinding(const std::string& push_branch_line) {
  return kGitHeader + "repos = [\"org/repo\"]\n" + push_branch_line + kTokenLine +
         "scoped_credential_sha256 = \"" + kHex2 + "\"\n";
}
const std::string kGit = gitBinding("push_branch = \"b\"\n");

// One problem in a snippet: exactly one issue, an error, at line:column, whose message and hint
// contain the given fragments.
struct ErrorRow {
  std::string reason;
  std::string toml;
  std::string message;
  int line;
  int column;
  std::string hint;  // "" = not checked
};

void expectSingleError(const ErrorRow& row, const ConfigIssues& issues, const std::string& file) {
  SCOPED_TRACE(row.reason + "\n--- toml ---\n" + row.toml + "--- issues ---" + describe(issues));
  ASSERT_EQ(issues.size(), 1u);
  const ConfigIssue& issue = issues[0];
  EXPECT_EQ(issue.severity, ConfigIssue::Severity::kError);
  EXPECT_EQ(issue.pos.file, file);
  EXPECT_EQ(issue.pos.line, row.line);
  EXPECT_EQ(issue.pos.column, row.column);
  EXPECT_THAT(issue.message, HasSubstr(row.message));
  if (!row.hint.empty()) {
    EXPECT_THAT(issue.hint, HasSubstr(row.hint));
  }
}

void runConfigRows(const std::vector<ErrorRow>& rows) {
  for (const ErrorRow& row : rows) {
    ConfigLoad load = loadConfigString(row.toml, "t.toml");
    expectSingleError(row, load.issues, "t.toml");
    EXPECT_FALSE(load.ok()) << row.reason;
  }
}

// Snippets that must load without any issue.
struct ValidRow {
  std::string reason;
  std::string toml;
};

void runValidRows(const std::vector<ValidRow>& rows) {
  for (const ValidRow& row : rows) {
    ConfigLoad load = loadConfigString(row.toml, "t.toml");
    EXPECT_TRUE(load.issues.empty()) << row.reason << "\n" << row.toml << describe(load.issues);
  }
}

// ---- syntax, unknown keys, types --------------------------------------------------------------

TEST(ConfigLoaderTest, SyntaxErrorIsOneIssueAtItsPosition) {
  runConfigRows({
      {"a key defined twice", "[listener]\nworkers = 1\nworkers = 2\n", "invalid TOML", 3, 11,
       "fix the syntax"},
      {"unterminated array", "[environment]\nports = [80,\n", "invalid TOML", 2, 14, ""},
      {"table defined twice", "[listener]\n[admin]\n[listener]\n", "cannot redefine", 3, 1, ""},
      {"invalid UTF-8 (toml++ reports the column before the bad byte)", "x = 1\ny = \xff\n",
       "invalid utf-8", 2, 4, ""},
  });
}

TEST(ConfigLoaderTest, UnknownKeysAreErrorsAtEveryLevel) {
  runConfigRows({
      {"top-level typo", "[lisener]\n", "unknown key 'lisener' at the top level", 1, 2,
       "did you mean 'listener'?"},
      {"top-level unrelated", "[metrics]\n", "unknown key 'metrics' at the top level", 1, 2,
       "valid top-level keys: listener, log, admin, environment, environments, addresses, "
       "resolver, "
       "git, sessions, trusted"},
      {"transposition", "[listener]\nwrokers = 4\n", "unknown key 'wrokers' in [listener]", 2, 1,
       "did you mean 'workers'?"},
      {"no close candidate", "[listener]\nthreads = 4\n", "unknown key 'threads' in [listener]", 2,
       1, "valid keys: address, workers, header_timeout_ms"},
      {"log", "[log]\ndecision = \"x\"\n", "unknown key 'decision' in [log]", 2, 1,
       "did you mean 'decisions'?"},
      {"listener timeout range", "[listener]\nheader_timeout_ms = 5\n",
       "[listener] header_timeout_ms = 5 is out of range", 2, 21, "use a value in 100..3600000"},
      {"admin", "[admin]\ntoken = \"x\"\n", "unknown key 'token' in [admin]", 2, 1,
       "valid keys: address, token_file"},
      {"environment", "[environment]\ndomain = []\n", "unknown key 'domain' in [environment]", 2, 1,
       "did you mean 'domains'?"},
      {"named environment", "[environments.web]\nlevl = \"full\"\n",
       "unknown key 'levl' in [environments.web]", 2, 1, "did you mean 'level'?"},
      {"addresses", "[addresses]\nallow_private = true\n",
       "unknown key 'allow_private' in [addresses]", 2, 1, "valid keys: deny_private, allow"},
      {"resolver", "[resolver]\ntimeout = 5\n", "unknown key 'timeout' in [resolver]", 2, 1,
       "valid keys: servers, timeout_ms, static"},
      {"git", "[git]\nupstreams = \"https://x.test\"\n", "unknown key 'upstreams' in [git]", 2, 1,
       "did you mean 'upstream'?"},
      {"session", kSession + "credential = \"x\"\n", "unknown key 'credential' in [[sessions]]", 4,
       1, "valid keys: id, environment, credential_sha256, clients, labels, domains, expires, git"},
      {"session label typo", kSession + "lables = []\n", "unknown key 'lables' in [[sessions]]", 4,
       1, "did you mean 'labels'?"},
      {"session expiry typo", kSession + "expiry = 2026-12-01T00:00:00Z\n",
       "unknown key 'expiry' in [[sessions]]", 4, 1, "did you mean 'expires'?"},
      {"environment mode typo", "[environment]\nmod = \"report\"\n",
       "unknown key 'mod' in [environment]", 2, 1, "did you mean 'mode'?"},
      {"environment shadow typo", "[environments.web]\nshadwo = \"default\"\n",
       "unknown key 'shadwo' in [environments.web]", 2, 1, "did you mean 'shadow'?"},
      {"listener require_session typo", "[listener]\nrequire_sessions = true\n",
       "unknown key 'require_sessions' in [listener]", 2, 1, "did you mean 'require_session'?"},
      {"log recent_decisions typo", "[log]\nrecent_decision = 10\n",
       "unknown key 'recent_decision' in [log]", 2, 1, "did you mean 'recent_decisions'?"},
      {"log, no close candidate", "[log]\nring = 10\n", "unknown key 'ring' in [log]", 2, 1,
       "valid keys: decisions, recent_decisions"},
      {"session git", kGit + "push_branchs = []\n", "unknown key 'push_branchs' in [sessions.git]",
       9, 1, "did you mean 'push_branch'?"},
      {"trusted", "[trusted]\npath = \"x.toml\"\n", "unknown key 'path' in [trusted]", 2, 1,
       "valid keys: file"},
      {"dotted key", "listener.adress = \"127.0.0.1:1\"\n", "unknown key 'adress' in [listener]", 1,
       10, "did you mean 'address'?"},
  });
}

TEST(ConfigLoaderTest, WrongTypesAreErrors) {
  runConfigRows({
      {"string for integer", "[listener]\nworkers = \"4\"\n",
       "[listener] workers must be an integer, not a string", 2, 11, ""},
      {"integer for string", "[listener]\naddress = 3128\n",
       "[listener] address must be a string, not an integer", 2, 11, ""},
      {"float for integer", "[resolver]\ntimeout_ms = 2.5\n",
       "[resolver] timeout_ms must be an integer, not a floating-point number", 2, 14, ""},
      {"date for string", "[admin]\ntoken_file = 2024-01-01\n",
       "[admin] token_file must be a string, not a date", 2, 14, ""},
      {"scalar for table", "listener = 5\n", "listener must be a table, not an integer", 1, 12, ""},
      {"array of tables for table", "[[listener]]\n",
       "listener must be a table, not an array of tables", 1, 1, ""},
      {"string for list", "[environment]\ndomains = \"x.test\"\n",
       "[environment] domains must be an array of strings, not a string", 2, 11,
       "write a list: domains = [\"x.test\"]"},
      {"non-string element", "[environment]\ndeny = [\"a.test\", 5]\n",
       "[environment] deny[1] must be a string, not an integer", 2, 19, ""},
      {"string for boolean", "[environment]\ninclude_trusted = \"yes\"\n",
       "[environment] include_trusted must be a boolean, not a string", 2, 19,
       "write true or false"},
      {"integer for ports", "[environment]\nports = 443\n",
       "[environment] ports must be an array of integers, not an integer", 2, 9, ""},
      {"string port", "[environment]\nports = [80, \"443\"]\n",
       "[environment] ports[1] must be an integer, not a string", 2, 14, ""},
      {"boolean for bool list", "[addresses]\nallow = [true]\n",
       "[addresses] allow[0] must be a string, not a boolean", 2, 10, ""},
      {"integer for deny_private", "[addresses]\ndeny_private = 1\n",
       "[addresses] deny_private must be a boolean, not an integer", 2, 16, ""},
      {"sessions as scalar", "sessions = 1\n",
       "sessions must be an array of tables ([[sessions]]), not an integer", 1, 12, ""},
      {"sessions as table", "[sessions]\nid = \"a\"\n",
       "sessions must be an array of tables ([[sessions]]), not a table", 1, 1, ""},
      {"environment not a table", "[environments]\nweb = 1\n",
       "environments.web must be a table, not an integer", 2, 7, "[environments.web]"},
      {"static value not a list", "[resolver]\nstatic = { \"a.test\" = \"127.0.0.1\" }\n",
       "[resolver] static.\"a.test\" must be an array of IP addresses, not a string", 2, 23, ""},
      {"static as list", "[resolver]\nstatic = []\n",
       "[resolver] static must be a table, not an array", 2, 10, ""},
      {"connect_to value not a string", "[git]\nconnect_to = { \"github.com\" = 443 }\n",
       "[git] connect_to.\"github.com\" must be a string, not an integer", 2, 31, ""},
      {"session git not a table", kSession + "git = \"org/repo\"\n",
       "[[sessions]] git must be a table, not a string", 4, 7, ""},
  });
}

// ---- listener and admin -----------------------------------------------------------------------

TEST(ConfigLoaderTest, ListenerAddressMustBeIpLiteralAndPort) {
  auto row = [](const std::string& reason, const std::string& address, const std::string& message,
                const std::string& hint) {
    return ErrorRow{reason,
                    "[listener]\naddress = \"" + address + "\"\n",
                    "[listener] address '" + address + "' " + message,
                    2,
                    11,
                    hint};
  };
  runConfigRows({
      row("a host name", "localhost:3128", "names a host; it must be an IP literal",
          "names are not resolved here"),
      row("no port", "127.0.0.1", "has no port", "append ':PORT'"),
      row("bracketed IPv6 without port", "[::1]", "has no port", "append ':PORT'"),
      row("IPv6 without brackets", "::1:3128", "has an IPv6 address without brackets",
          "'[::1]:3128'"),
      row("port too large", "127.0.0.1:65536", "has port 65536, outside 0..65535", ""),
      row("signed port", "127.0.0.1:+80", "has an invalid port '+80'", "0..65535"),
      row("leading zero port", "127.0.0.1:03128", "has an invalid port '03128'", ""),
      row("empty port", "127.0.0.1:", "has an invalid port ''", ""),
      row("not IPv6 in brackets", "[::g]:80", "has '::g' in brackets, which is not an IPv6 address",
          "brackets hold"),
      row("name in brackets", "[allowed.test]:80",
          "has 'allowed.test' in brackets, which is not an IPv6 address", ""),
      row("unclosed bracket", "[::1:80", "has no closing ']'", ""),
      row("junk after brackets", "[::1]x80", "has 'x80' after the address", ""),
      row("short IPv4 form", "127.1:80", "does not start with an IP address", ""),
      row("leading zero octet", "127.0.0.01:80", "does not start with an IP address", ""),
      row("empty", "", "is empty", "127.0.0.1:3128"),
  });
  runConfigRows({
      {"workers above 256", "[listener]\nworkers = 300\n",
       "[listener] workers = 300 is out of range", 2, 11,
       "use a value in 0..256; 0 = one per core"},
      {"negative workers", "[listener]\nworkers = -1\n", "[listener] workers = -1 is out of range",
       2, 11, "0..256"},
  });
  runValidRows({
      {"port 0 = any free port", "[listener]\naddress = \"127.0.0.1:0\"\n"},
      {"IPv6 listener", "[listener]\naddress = \"[::1]:3128\"\nworkers = 256\n"},
      {"all addresses", "[listener]\naddress = \"0.0.0.0:3128\"\n"},
  });
}

TEST(ConfigLoaderTest, AdminOffLoopbackNeedsToken) {
  runConfigRows({
      {"IPv4 any without token", "[admin]\naddress = \"0.0.0.0:9090\"\n",
       "[admin] address '0.0.0.0:9090' is not loopback and [admin] token_file is empty", 2, 11,
       "set token_file"},
      {"IPv6 any without token", "[admin]\naddress = \"[::]:9090\"\ntoken_file = \"\"\n",
       "the control API would be open to the network", 2, 11, ""},
      {"a name", "[admin]\naddress = \"localhost:9090\"\n",
       "[admin] address 'localhost:9090' names a host", 2, 11, ""},
      {"bad port", "[admin]\naddress = \"127.0.0.1:99999\"\n", "outside 0..65535", 2, 11,
       "\"\" disables the admin listener"},
  });
  runValidRows({
      {"disabled", "[admin]\naddress = \"\"\n"},
      {"IPv6 loopback", "[admin]\naddress = \"[::1]:9090\"\n"},
      {"other 127/8 address", "[admin]\naddress = \"127.0.0.2:0\"\n"},
      {"off loopback with a token", "[admin]\naddress = \"0.0.0.0:9090\"\ntoken_file = \"/t\"\n"},
      {"IPv4-mapped loopback", "[admin]\naddress = \"[::ffff:127.0.0.1]:9090\"\n"},
  });
}

TEST(ConfigLoaderTest, RequireSessionAndRecentDecisions) {
  runConfigRows({
      {"require_session \"auto\": auto is written by leaving the key out",
       "[listener]\nrequire_session = \"auto\"\n",
       "[listener] require_session must be a boolean, not a string", 2, 19,
       "leave require_session out for \"auto\""},
      {"require_session as a number", "[listener]\nrequire_session = 1\n",
       "[listener] require_session must be a boolean, not an integer", 2, 19,
       "write true or false"},
      {"negative ring size", "[log]\nrecent_decisions = -1\n",
       "[log] recent_decisions = -1 is out of range", 2, 20,
       "use a value in 0..1000000; 0 disables the in-memory ring"},
      {"ring size above a million", "[log]\nrecent_decisions = 1000001\n",
       "[log] recent_decisions = 1000001 is out of range", 2, 20, "0..1000000"},
      {"ring size as a string", "[log]\nrecent_decisions = \"1000\"\n",
       "[log] recent_decisions must be an integer, not a string", 2, 20, ""},
      {"ring size as a float", "[log]\nrecent_decisions = 1e3\n",
       "[log] recent_decisions must be an integer, not a floating-point number", 2, 20, ""},
      {"unknown session manager, close to a known one",
       "[listener]\nsession_manager = \"buitin\"\n",
       "[listener] session_manager 'buitin' is not a session manager", 2, 19,
       "did you mean 'builtin'?"},
      {"unknown session manager", "[listener]\nsession_manager = \"ldap\"\n",
       "[listener] session_manager 'ldap' is not a session manager", 2, 19, "builtin, none"},
      {"session manager as a boolean", "[listener]\nsession_manager = false\n",
       "[listener] session_manager must be a string, not a boolean", 2, 19, ""},
      {"sessions nobody could use: the manager identifies no one",
       "[listener]\nsession_manager = \"none\"\n[[sessions]]\nid = \"s\"\nclients = "
       "[\"10.0.0.1/32\"]\n",
       "session_manager is \"none\", so no client could use them", 3, 1,
       "remove the [[sessions]] tables"},
  });
  runValidRows({
      {"required", "[listener]\nrequire_session = true\n"},
      {"builtin session manager", "[listener]\nsession_manager = \"builtin\"\n"},
      {"no session manager", "[listener]\nsession_manager = \"none\"\n"},
      {"not required", "[listener]\nrequire_session = false\n"},
      {"ring off", "[log]\nrecent_decisions = 0\n"},
      {"largest ring", "[log]\nrecent_decisions = 1000000\n"},
  });
  EXPECT_EQ(loadConfigString("", "t.toml").config.listener.require_session, std::nullopt)
      << "absent = auto";
  EXPECT_EQ(loadConfigString("", "t.toml").config.log.recent_decisions, 1000);
  EXPECT_EQ(loadConfigString("[listener]\nrequire_session = true\n", "t.toml")
                .config.listener.require_session,
            std::optional<bool>(true));
  EXPECT_EQ(loadConfigString("[listener]\nrequire_session = false\n", "t.toml")
                .config.listener.require_session,
            std::optional<bool>(false));
  ConfigLoad ring = loadConfigString("[log]\nrecent_decisions = 0\n", "t.toml");
  EXPECT_EQ(ring.config.log.recent_decisions, 0);
  EXPECT_EQ(ring.config.log.recent_decisions_pos.toString(), "t.toml:2:20");
}

// ---- environments -----------------------------------------------------------------------------

TEST(ConfigLoaderTest, EnvironmentChecks) {
  runConfigRows({
      {"uppercase name", "[environments.Web]\n", "invalid environment name 'Web'", 1, 15,
       "a-z, 0-9"},
      {"leading dash", "[environments.\"-web\"]\n", "invalid environment name '-web'", 1, 15, ""},
      {"name too long", "[environments." + std::string(64, 'a') + "]\n", "invalid environment name",
       1, 15, ""},
      {"default is reserved", "[environments.default]\n",
       "environment name 'default' is reserved for [environment]", 1, 15, ""},
      {"level typo", "[environment]\nlevel = \"fulll\"\n",
       "[environment] level 'fulll' is not a known access level", 2, 9, "did you mean 'full'?"},
      {"level in capitals", "[environments.x]\nlevel = \"Trusted\"\n",
       "[environments.x] level 'Trusted' is not a known access level", 2, 9,
       "did you mean 'trusted'?"},
      {"unknown level", "[environment]\nlevel = \"open\"\n", "level 'open'", 2, 9,
       "use one of none, trusted, full, custom"},
      {"port 0", "[environment]\nports = [0]\n", "[environment] port 0 is out of range", 2, 10,
       "1..65535"},
      {"port too large", "[environment]\nports = [80, 70000]\n", "port 70000 is out of range", 2,
       14, ""},
      {"duplicate port", "[environment]\nports = [443, 443]\n", "port 443 is listed twice", 2, 15,
       "remove the duplicate"},
      {"no ports", "[environment]\nports = []\n", "[environment] ports is empty", 2, 9,
       "level = \"none\""},
      {"no ports at level full", "[environments.x]\nlevel = \"full\"\nports = []\n",
       "[environments.x] ports is empty", 3, 9, ""},
  });
  runConfigRows({
      {"mode typo", "[environment]\nmode = \"reprot\"\n",
       "[environment] mode 'reprot' is not a known mode", 2, 8, "did you mean 'report'?"},
      {"mode in capitals", "[environments.x]\nmode = \"Enforce\"\n",
       "[environments.x] mode 'Enforce' is not a known mode", 2, 8, "did you mean 'enforce'?"},
      {"unknown mode", "[environment]\nmode = \"audit\"\n", "mode 'audit' is not a known mode", 2,
       8, "use one of enforce, report"},
      {"empty mode", "[environment]\nmode = \"\"\n", "mode '' is not a known mode", 2, 8,
       "use one of enforce, report"},
      {"mode as a boolean", "[environment]\nmode = true\n",
       "[environment] mode must be a string, not a boolean", 2, 8, ""},
      {"shadow as a list", "[environments.x]\nshadow = [\"default\"]\n",
       "[environments.x] shadow must be a string, not an array", 2, 10, ""},
  });
  runValidRows({
      {"report mode", "[environment]\nmode = \"report\"\n"},
      {"enforce mode", "[environments.x]\nmode = \"enforce\"\n"},
      {"a shadow (resolved when the policy is compiled)",
       "[environment]\nshadow = \"strict\"\n[environments.strict]\nlevel = \"none\"\n"},
      {"no shadow", "[environment]\nshadow = \"\"\n"},
      {"no ports at level none", "[environment]\nlevel = \"none\"\nports = []\n"},
      {"names with digits, dash, underscore", "[environments.a]\n[environments.0-b_c]\n"},
      {"63-character name", "[environments." + std::string(63, 'a') + "]\n"},
  });
}

TEST(ConfigLoaderTest, ModeAndShadowAreRead) {
  ConfigLoad load = loadConfigString(
      "[environment]\nmode = \"report\"\nshadow = \"strict\"\n[environments.strict]\n"
      "level = \"none\"\n",
      "t.toml");
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  const policy::EnvironmentConfig& def = load.config.policy.default_environment;
  EXPECT_EQ(def.mode, policy::EnvironmentMode::kReport);
  EXPECT_EQ(def.mode_pos.toString(), "t.toml:2:8");
  EXPECT_EQ(def.shadow, "strict");
  EXPECT_EQ(def.shadow_pos.toString(), "t.toml:3:10");
  const policy::EnvironmentConfig& strict = load.config.policy.environments.at(0);
  EXPECT_EQ(strict.mode, policy::EnvironmentMode::kEnforce) << "the default";
  EXPECT_EQ(strict.shadow, "");
  EXPECT_EQ(strict.mode_pos.line, 0);
}

// ---- limits -----------------------------------------------------------------------------------

// Every limit key with the values it accepts and the hint's last clause, in limitKeyName order.
struct LimitSpec {
  std::string key;
  uint64_t min;
  uint64_t max;
  std::string meaning;
};
constexpr uint64_t kTwoTo53 = 9007199254740992;
const std::vector<LimitSpec> kLimitSpecs = {
    {"requests_per_second", 0, kTwoTo53, "0 = no limit"},
    {"request_burst", 0, kTwoTo53, "0 = the rate (at least 1)"},
    {"tunnels_per_second", 0, kTwoTo53, "0 = no limit"},
    {"tunnel_burst", 0, kTwoTo53, "0 = the rate (at least 1)"},
    {"destination_requests_per_second", 0, kTwoTo53, "0 = no limit"},
    {"destination_burst", 0, kTwoTo53, "0 = the rate (at least 1)"},
    {"max_connections", 0, 10000000, "0 = no limit"},
    {"max_tunnels", 0, 10000000, "0 = no limit"},
    {"upload_bytes_per_second", 0, kTwoTo53, "0 = no limit"},
    {"download_bytes_per_second", 0, kTwoTo53, "0 = no limit"},
    {"upload_budget_bytes", 0, kTwoTo53, "0 = no limit"},
    {"download_budget_bytes", 0, kTwoTo53, "0 = no limit"},
    {"budget_window_s", 1, 31536000, "leave it out for the default 3600"},
    {"trickle_bytes_per_second", 0, kTwoTo53, "0 = the default 1024"},
};

// The three places a limits table is written: how it is named in messages, the text up to and
// including its header, and the line its first key is on.
struct LimitsTable {
  std::string where;
  std::string header;
  int line;
};
const std::vector<LimitsTable> kLimitsTables = {
    {"[environment.limits]", "[environment.limits]\n", 2},
    {"[environments.web.limits]", "[environments.web.limits]\n", 2},
    {"[sessions.limits]", kSession + "[sessions.limits]\n", 5},
};

// A line that gives a limit key its effect, so that a valid row draws no warning.
std::string companionLine(const std::string& key) {
  if (key == "request_burst") return "requests_per_second = 1\n";
  if (key == "tunnel_burst") return "tunnels_per_second = 1\n";
  if (key == "destination_burst") return "destination_requests_per_second = 1\n";
  if (key == "trickle_bytes_per_second") return "upload_budget_bytes = 1\n";
  return "";
}

TEST(ConfigLoaderTest, LimitSpecsCoverEveryLimitKey) {
  ASSERT_EQ(kLimitSpecs.size(), policy::kLimitKeyCount);
  for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
    EXPECT_EQ(kLimitSpecs[i].key, policy::limitKeyName(static_cast<policy::LimitKey>(i)));
  }
}

TEST(ConfigLoaderTest, EveryLimitKeyIsRangeAndTypeCheckedInEveryTable) {
  std::vector<ErrorRow> errors;
  std::vector<ValidRow> valid;
  for (const LimitsTable& table : kLimitsTables) {
    for (const LimitSpec& spec : kLimitSpecs) {
      const std::string in = spec.key + " in " + table.where;
      const std::string line = spec.key + " = ";
      const int column = static_cast<int>(line.size()) + 1;
      const std::string range = "use a value in " + std::to_string(spec.min) + ".." +
                                std::to_string(spec.max) + "; " + spec.meaning;
      const std::string field = table.where + " " + spec.key;
      errors.push_back({in + ": one above the largest value",
                        table.header + line + std::to_string(spec.max + 1) + "\n",
                        field + " = " + std::to_string(spec.max + 1) + " is out of range",
                        table.line, column, range});
      errors.push_back({in + ": negative", table.header + line + "-1\n",
                        field + " = -1 is out of range", table.line, column, range});
      errors.push_back(
          {in + ": the largest TOML integer", table.header + line + "9223372036854775807\n",
           field + " = 9223372036854775807 is out of range", table.line, column, range});
      errors.push_back({in + ": a quoted number", table.header + line + "\"100\"\n",
                        field + " must be an integer, not a string", table.line, column,
                        "write a whole number without quotes or units"});
      errors.push_back({in + ": a size with a unit", table.header + line + "\"10MB\"\n",
                        field + " must be an integer, not a string", table.line, column,
                        "e.g. " + spec.key + " = 100"});
      errors.push_back({in + ": a fraction", table.header + line + "1.5\n",
                        field + " must be an integer, not a floating-point number", table.line,
                        column, ""});
      errors.push_back({in + ": a boolean", table.header + line + "true\n",
                        field + " must be an integer, not a boolean", table.line, column, ""});
      valid.push_back({in + ": the smallest value", table.header + line + std::to_string(spec.min) +
                                                        "\n" + companionLine(spec.key)});
      valid.push_back({in + ": the largest value", table.header + line + std::to_string(spec.max) +
                                                       "\n" + companionLine(spec.key)});
    }
  }
  runConfigRows(errors);
  runValidRows(valid);
}

TEST(ConfigLoaderTest, LimitsTablesChecks) {
  runConfigRows({
      {"budget_window_s = 0 is not \"the default\": leaving it out is",
       "[environment.limits]\nbudget_window_s = 0\n",
       "[environment.limits] budget_window_s = 0 is out of range", 2, 19,
       "leave it out for the default 3600"},
      {"a window of more than a year", "[environments.web.limits]\nbudget_window_s = 31536001\n",
       "[environments.web.limits] budget_window_s = 31536001 is out of range", 2, 19,
       "use a value in 1..31536000"},
      {"a session's window of 0", kSession + "[sessions.limits]\nbudget_window_s = 0\n",
       "[sessions.limits] budget_window_s = 0 is out of range", 5, 19,
       "leave it out for the default 3600"},
      {"rate typo in [environment.limits]", "[environment.limits]\nrequest_per_second = 5\n",
       "unknown key 'request_per_second' in [environment.limits]", 2, 1,
       "did you mean 'requests_per_second'?"},
      {"cap typo in [environments.NAME.limits]", "[environments.web.limits]\nmax_conections = 5\n",
       "unknown key 'max_conections' in [environments.web.limits]", 2, 1,
       "did you mean 'max_connections'?"},
      {"window without its unit in [sessions.limits]",
       kSession + "[sessions.limits]\nbudget_window = 60\n",
       "unknown key 'budget_window' in [sessions.limits]", 5, 1, "did you mean 'budget_window_s'?"},
      {"a key of no limit", "[environment.limits]\nbandwidth = 5\n",
       "unknown key 'bandwidth' in [environment.limits]", 2, 1,
       "valid keys: requests_per_second, request_burst, tunnels_per_second, tunnel_burst, "
       "destination_requests_per_second, destination_burst, max_connections, max_tunnels, "
       "upload_bytes_per_second, download_bytes_per_second, upload_budget_bytes, "
       "download_budget_bytes, budget_window_s, trickle_bytes_per_second"},
      {"a [listener] key in a session's limits",
       kSession + "[sessions.limits]\nmax_header_bytes = 5\n",
       "unknown key 'max_header_bytes' in [sessions.limits]", 5, 1, "valid keys:"},
      {"limits key typo in [environment]", "[environment]\nlimit = {}\n",
       "unknown key 'limit' in [environment]", 2, 1, "did you mean 'limits'?"},
      {"limits key typo in [[sessions]]", kSession + "limts = {}\n",
       "unknown key 'limts' in [[sessions]]", 4, 1, "did you mean 'limits'?"},
      {"limits as a number in [environment]", "[environment]\nlimits = 5\n",
       "[environment] limits must be a table, not an integer", 2, 10, ""},
      {"limits as a list in [environments.NAME]", "[environments.web]\nlimits = []\n",
       "[environments.web] limits must be a table, not an array", 2, 10, ""},
      {"limits as an array of tables in [[sessions]]", kSession + "[[sessions.limits]]\n",
       "[[sessions]] limits must be a table, not an array of tables", 4, 1, ""},
      {"a dotted key inside a limits table", "[environment.limits]\nrequests.per_second = 5\n",
       "unknown key 'requests' in [environment.limits]", 2, 1, ""},
      {"an undefined environment is the only problem: its limits are unknown, so the session's "
       "burst draws no warning",
       kSession + "environment = \"nope\"\n[sessions.limits]\nrequest_burst = 5\n",
       "[[sessions]] environment 'nope' is not defined", 4, 15, ""},
  });
  runValidRows({
      {"an empty limits table", "[environment.limits]\n"},
      {"an inline table",
       "[environment]\nlimits = { requests_per_second = 10, max_tunnels = 4 }\n"},
      {"every key of a named environment",
       "[environments.web.limits]\nrequests_per_second = 10\nrequest_burst = 20\n"
       "tunnels_per_second = 1\ntunnel_burst = 2\ndestination_requests_per_second = 5\n"
       "destination_burst = 5\nmax_connections = 100\nmax_tunnels = 50\n"
       "upload_bytes_per_second = 1048576\ndownload_bytes_per_second = 10485760\n"
       "upload_budget_bytes = 1073741824\ndownload_budget_bytes = 10737418240\n"
       "budget_window_s = 86400\ntrickle_bytes_per_second = 512\n"},
      {"a session's burst uses its environment's rate",
       "[environments.web.limits]\nrequests_per_second = 10\n" + kSession +
           "environment = \"web\"\n[sessions.limits]\nrequest_burst = 50\n"},
      {"a session's trickle uses its environment's budget",
       "[environment.limits]\ndownload_budget_bytes = 1000\n" + kSession +
           "[sessions.limits]\ntrickle_bytes_per_second = 10\n"},
      {"a session's rate gives its environment's burst an effect",
       "[environment.limits]\nrequest_burst = 50\nrequests_per_second = 10\n" + kSession +
           "[sessions.limits]\nrequests_per_second = 5\n"},
      {"a burst of 0 without a rate restates the default: no warning",
       "[environment.limits]\nrequest_burst = 0\ntunnel_burst = 0\ndestination_burst = 0\n"},
      {"the default trickle without a budget restates the default: no warning",
       kSession + "[sessions.limits]\ntrickle_bytes_per_second = 1024\n"},
      {"a trickle of 0 (the default) without a budget",
       "[environments.web.limits]\ntrickle_bytes_per_second = 0\n"},
      {"a session lifting its environment's cap", "[environment.limits]\nmax_tunnels = 4\n" +
                                                      kSession +
                                                      "[sessions.limits]\nmax_tunnels = 0\n"},
  });
}

// Limits that do nothing as written: one warning each, at the value, and the config still loads.
TEST(ConfigLoaderTest, IneffectiveLimitsAreWarnings) {
  const std::vector<ErrorRow> rows = {
      {"a request burst without a rate", "[environment.limits]\nrequest_burst = 5\n",
       "[environment.limits] request_burst has no effect without requests_per_second", 2, 17,
       "set requests_per_second, or remove request_burst"},
      {"a burst with a rate of 0 (no limit)",
       "[environment.limits]\nrequests_per_second = 0\nrequest_burst = 5\n",
       "[environment.limits] request_burst has no effect without requests_per_second", 3, 17, ""},
      {"a tunnel burst without a rate", "[environments.web.limits]\ntunnel_burst = 5\n",
       "[environments.web.limits] tunnel_burst has no effect without tunnels_per_second", 2, 16,
       "set tunnels_per_second, or remove tunnel_burst"},
      {"a destination burst beside an unrelated rate",
       "[environment.limits]\nrequests_per_second = 5\ndestination_burst = 5\n",
       "[environment.limits] destination_burst has no effect without "
       "destination_requests_per_second",
       3, 21, ""},
      {"a session's burst when neither it nor its environment sets the rate",
       kSession + "[sessions.limits]\ndestination_burst = 5\n",
       "[sessions.limits] destination_burst has no effect without "
       "destination_requests_per_second",
       5, 21, "here or in the session's environment"},
      {"a session's rate of 0 lifts its environment's rate, so its own burst does nothing",
       "[environment.limits]\nrequests_per_second = 10\n" + kSession +
           "[sessions.limits]\nrequests_per_second = 0\nrequest_burst = 5\n",
       "[sessions.limits] request_burst has no effect without requests_per_second", 8, 17, ""},
      {"a trickle without a budget", "[environment.limits]\ntrickle_bytes_per_second = 10\n",
       "[environment.limits] trickle_bytes_per_second has no effect without upload_budget_bytes "
       "or download_budget_bytes",
       2, 28, "set a budget, or remove trickle_bytes_per_second"},
      {"a trickle beside budgets of 0 (no limit)",
       "[environments.web.limits]\nupload_budget_bytes = 0\ntrickle_bytes_per_second = 10\n",
       "[environments.web.limits] trickle_bytes_per_second has no effect", 3, 28, ""},
      {"a session's trickle when its environment (named) has no budget",
       "[environments.web.limits]\nrequests_per_second = 1\n" + kSession +
           "environment = \"web\"\n[sessions.limits]\ntrickle_bytes_per_second = 10\n",
       "[sessions.limits] trickle_bytes_per_second has no effect", 8, 28,
       "set a budget here or in the session's environment"},
  };
  for (const ErrorRow& row : rows) {
    ConfigLoad load = loadConfigString(row.toml, "t.toml");
    SCOPED_TRACE(row.reason + "\n--- toml ---\n" + row.toml + "--- issues ---" +
                 describe(load.issues));
    EXPECT_TRUE(load.ok());
    ASSERT_EQ(load.issues.size(), 1u);
    EXPECT_EQ(load.issues[0].severity, ConfigIssue::Severity::kWarning);
    EXPECT_EQ(load.issues[0].pos.toString(),
              "t.toml:" + std::to_string(row.line) + ":" + std::to_string(row.column));
    EXPECT_THAT(load.issues[0].message, HasSubstr(row.message));
    EXPECT_THAT(load.issues[0].hint, HasSubstr(row.hint));
  }
}

TEST(ConfigLoaderTest, LimitsAreReadWithPositions) {
  ConfigLoad load = loadConfigString(
      "[environment.limits]\n"                                   // 1
      "requests_per_second = 10\n"                               // 2
      "budget_window_s = 60\n"                                   // 3
      "[environments.web]\n"                                     // 4
      "limits = { max_tunnels = 4, upload_budget_bytes = 0 }\n"  // 5
      "[environments.other]\n"                                   // 6
      "level = \"none\"\n"                                       // 7
      "[[sessions]]\n"                                           // 8
      "id = \"a\"\n"                                             // 9
      "clients = [\"10.0.0.1\"]\n"                               // 10
      "environment = \"web\"\n"                                  // 11
      "[sessions.limits]\n"                                      // 12
      "max_tunnels = 0\n"                                        // 13
      "download_budget_bytes = 9007199254740992\n"               // 14
      "[[sessions]]\n"                                           // 15
      "id = \"b\"\n"                                             // 16
      "clients = [\"10.0.0.2\"]\n",                              // 17
      "t.toml");
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  using policy::LimitKey;
  auto position = [](const policy::LimitsConfig& limits, LimitKey key) {
    return limits.positions[static_cast<size_t>(key)].toString();
  };
  auto setKeys = [](const policy::LimitsConfig& limits) {
    std::vector<std::string> keys;
    for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
      if (limits.values[i]) keys.emplace_back(policy::limitKeyName(static_cast<LimitKey>(i)));
    }
    return keys;
  };

  const policy::LimitsConfig& def = load.config.policy.default_environment.limits;
  EXPECT_THAT(setKeys(def), ElementsAre("requests_per_second", "budget_window_s"));
  EXPECT_EQ(def[LimitKey::kRequestsPerSecond], std::optional<uint64_t>(10));
  EXPECT_EQ(position(def, LimitKey::kRequestsPerSecond), "t.toml:2:23");
  EXPECT_EQ(def[LimitKey::kBudgetWindowSeconds], std::optional<uint64_t>(60));
  EXPECT_EQ(position(def, LimitKey::kBudgetWindowSeconds), "t.toml:3:19");
  EXPECT_EQ(def.positions[static_cast<size_t>(LimitKey::kMaxTunnels)].line, 0) << "unset";

  ASSERT_EQ(load.config.policy.environments.size(), 2u);
  const policy::LimitsConfig& web = load.config.policy.environments[0].limits;
  EXPECT_THAT(setKeys(web), ElementsAre("max_tunnels", "upload_budget_bytes"));
  EXPECT_EQ(web[LimitKey::kMaxTunnels], std::optional<uint64_t>(4));
  EXPECT_EQ(position(web, LimitKey::kMaxTunnels), "t.toml:5:26");
  EXPECT_EQ(web[LimitKey::kUploadBudgetBytes], std::optional<uint64_t>(0)) << "0 is set, not unset";
  EXPECT_EQ(position(web, LimitKey::kUploadBudgetBytes), "t.toml:5:51");
  EXPECT_TRUE(load.config.policy.environments[1].limits.empty());

  ASSERT_EQ(load.config.sessions.size(), 2u);
  const policy::LimitsConfig& a = load.config.sessions[0].limits;
  EXPECT_THAT(setKeys(a), ElementsAre("max_tunnels", "download_budget_bytes"));
  EXPECT_EQ(a[LimitKey::kMaxTunnels], std::optional<uint64_t>(0));
  EXPECT_EQ(position(a, LimitKey::kMaxTunnels), "t.toml:13:15");
  EXPECT_EQ(a[LimitKey::kDownloadBudgetBytes], std::optional<uint64_t>(kTwoTo53));
  EXPECT_EQ(position(a, LimitKey::kDownloadBudgetBytes), "t.toml:14:25");
  EXPECT_TRUE(load.config.sessions[1].limits.empty());

  // What the session gets: its own values over its environment's, then the defaults.
  policy::Limits resolved = policy::resolveLimits(load.config.policy.environments[0].limits, &a);
  EXPECT_EQ(resolved[LimitKey::kMaxTunnels], 0u) << "the session lifts the cap";
  EXPECT_EQ(resolved[LimitKey::kUploadBudgetBytes], 0u);
  EXPECT_EQ(resolved[LimitKey::kDownloadBudgetBytes], kTwoTo53);
  EXPECT_EQ(resolved[LimitKey::kBudgetWindowSeconds], 3600u);
  EXPECT_EQ(resolved[LimitKey::kTrickleBytesPerSecond], 1024u);
}

TEST(ConfigLoaderTest, InvalidLimitValuesAreNotStored) {
  ConfigLoad load = loadConfigString(
      "[environment.limits]\nrequests_per_second = -1\nmax_tunnels = \"3\"\nrequest_burst = 3\n"
      "requests_per_sec = 3\nmax_connections = 7\n",
      "t.toml");
  EXPECT_EQ(countErrors(load.issues), 3) << describe(load.issues);
  const policy::LimitsConfig& def = load.config.policy.default_environment.limits;
  EXPECT_FALSE(def[policy::LimitKey::kRequestsPerSecond].has_value());
  EXPECT_FALSE(def[policy::LimitKey::kMaxTunnels].has_value());
  EXPECT_EQ(def[policy::LimitKey::kRequestBurst], std::optional<uint64_t>(3));
  EXPECT_EQ(def[policy::LimitKey::kMaxConnections], std::optional<uint64_t>(7));
  // The rate was written, but wrongly: the burst still has no effect, and says so.
  ASSERT_EQ(load.issues.size(), 4u);
  EXPECT_EQ(load.issues[2].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(load.issues[2].pos.toString(), "t.toml:4:17");
}

TEST(ConfigLoaderTest, GlobalTunnelCapAndDeniedSampling) {
  runConfigRows({
      {"no tunnels at all would break every CONNECT", "[listener]\nmax_tunnels = 0\n",
       "[listener] max_tunnels = 0 is out of range", 2, 15,
       "use a value in 1..10000000; concurrent CONNECT tunnels per process"},
      {"more tunnels than connections could ever hold", "[listener]\nmax_tunnels = 10000001\n",
       "[listener] max_tunnels = 10000001 is out of range", 2, 15, "1..10000000"},
      {"max_tunnels as a string", "[listener]\nmax_tunnels = \"100\"\n",
       "[listener] max_tunnels must be an integer, not a string", 2, 15, ""},
      {"max_tunnels typo", "[listener]\nmax_tunnel = 5\n", "unknown key 'max_tunnel' in [listener]",
       2, 1, "did you mean 'max_tunnels'?"},
      {"negative sampling", "[log]\ndenied_sample_per_second = -1\n",
       "[log] denied_sample_per_second = -1 is out of range", 2, 28,
       "use a value in 0..1000000; denied-request lines per second during a storm; 0 logs every "
       "denial"},
      {"sampling above a million", "[log]\ndenied_sample_per_second = 1000001\n",
       "[log] denied_sample_per_second = 1000001 is out of range", 2, 28, "0..1000000"},
      {"sampling as a float", "[log]\ndenied_sample_per_second = 0.5\n",
       "[log] denied_sample_per_second must be an integer, not a floating-point number", 2, 28, ""},
      {"sampling typo", "[log]\ndenied_samples_per_second = 5\n",
       "unknown key 'denied_samples_per_second' in [log]", 2, 1,
       "did you mean 'denied_sample_per_second'?"},
  });
  runValidRows({
      {"one tunnel", "[listener]\nmax_tunnels = 1\n"},
      {"the largest tunnel cap", "[listener]\nmax_tunnels = 10000000\n"},
      {"every denial logged", "[log]\ndenied_sample_per_second = 0\n"},
      {"the largest sampling rate", "[log]\ndenied_sample_per_second = 1000000\n"},
  });
  ConfigLoad load = loadConfigString(
      "[listener]\nmax_tunnels = 7\n[log]\ndenied_sample_per_second = 0\n", "t.toml");
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  EXPECT_EQ(load.config.listener.max_tunnels, 7);
  EXPECT_EQ(load.config.log.denied_sample_per_second, 0);
}

// ---- resolver and git -------------------------------------------------------------------------

TEST(ConfigLoaderTest, ResolverChecks) {
  runConfigRows({
      {"server without port", "[resolver]\nservers = [\"8.8.8.8\"]\n",
       "[resolver] server '8.8.8.8' has no port", 2, 12, "192.0.2.53:53"},
      {"server by name", "[resolver]\nservers = [\"dns.google:53\"]\n", "names a host", 2, 12, ""},
      {"server port 0", "[resolver]\nservers = [\"1.1.1.1:53\", \"8.8.8.8:0\"]\n",
       "server '8.8.8.8:0' has port 0, outside 1..65535", 2, 26, ""},
      {"timeout 0", "[resolver]\ntimeout_ms = 0\n", "[resolver] timeout_ms = 0 is out of range", 2,
       14, "1..60000"},
      {"timeout above a minute", "[resolver]\ntimeout_ms = 60001\n", "timeout_ms = 60001", 2, 14,
       ""},
      {"static IP key", "[resolver]\nstatic = { \"127.0.0.1\" = [\"127.0.0.1\"] }\n",
       "[resolver] static host '127.0.0.1' is an IP address, not a name", 2, 12, ""},
      {"static empty label", "[resolver]\nstatic = { \"a..test\" = [\"127.0.0.1\"] }\n",
       "[resolver] static host 'a..test' is not a valid host name", 2, 12, ""},
      {"static non-ASCII", "[resolver]\nstatic = { \"b\xc3\xbc.test\" = [\"127.0.0.1\"] }\n",
       "is not a valid host name", 2, 12, "punycode"},
      {"static no addresses", "[resolver]\nstatic = { \"a.test\" = [] }\n",
       "[resolver] static.\"a.test\" has no addresses", 2, 23, ""},
      {"static bracketed IPv6", "[resolver]\nstatic = { \"a.test\" = [\"[::1]\"] }\n",
       "[resolver] static address '[::1]' is not an IP address", 2, 24, "without brackets"},
      {"static name as address", "[resolver]\nstatic = { \"a.test\" = [\"localhost\"] }\n",
       "static address 'localhost' is not an IP address", 2, 24, ""},
      {"static short IPv4", "[resolver]\nstatic = { \"a.test\" = [\"127.1\"] }\n",
       "static address '127.1' is not an IP address", 2, 24, ""},
      {"static duplicate after canonicalisation",
       "[resolver]\nstatic = { \"a.test\" = [\"127.0.0.1\"], \"A.TEST.\" = [\"127.0.0.2\"] }\n",
       "[resolver] static name 'a.test' is listed twice", 2, 38, "t.toml:2:12"},
      {"static as a table section", "[resolver.static]\n\"x.test\" = [\"1.2.3\"]\n",
       "static address '1.2.3' is not an IP address", 2, 13, ""},
  });
}

TEST(ConfigLoaderTest, GitChecks) {
  auto upstream = [](const std::string& reason, const std::string& url, const std::string& message,
                     const std::string& hint) {
    return ErrorRow{reason,
                    "[git]\nupstream = \"" + url + "\"\n",
                    "[git] upstream '" + url + "' " + message,
                    2,
                    12,
                    hint};
  };
  runConfigRows({
      upstream("plain http", "http://github.com", "is a plain http:// URL",
               "the real token must never travel in clear text"),
      upstream("no scheme", "github.com", "is not an https:// URL", "https://github.com"),
      upstream("uppercase scheme", "HTTPS://github.com", "is not an https:// URL", ""),
      upstream("no host", "https://", "has no host", ""),
      upstream("no host before path", "https:///x", "has no host", ""),
      upstream("user info", "https://x-access-token:t@github.com", "contains user info",
               "token_file"),
      upstream("port 0", "https://github.com:0", "has port 0, outside 1..65535", ""),
      upstream("bad host", "https://a..b/", "has an invalid host 'a..b'", ""),
      upstream("query", "https://github.com/?a=1", "has a query or fragment", ""),
      upstream("space in path", "https://github.com/a b", "contains a space", "percent-encode"),
      upstream("non-ASCII host",
               "https://gith\xc3\xbc"
               "b.com",
               "contains a space, a control character or a non-ASCII byte", "punycode"),
      {"api upstream", "[git]\napi_upstream = \"http://api.github.com\"\n",
       "[git] api_upstream 'http://api.github.com' is a plain http:// URL", 2, 16, ""},
      {"connect_to target by name", "[git]\nconnect_to = { \"github.com\" = \"github.com:443\" }\n",
       "[git] connect_to target 'github.com:443' names a host", 2, 31, ""},
      {"connect_to without port", "[git]\nconnect_to = { \"github.com\" = \"127.0.0.1\" }\n",
       "connect_to target '127.0.0.1' has no port", 2, 31, ""},
      {"connect_to IP key", "[git]\nconnect_to = { \"127.0.0.1\" = \"127.0.0.1:443\" }\n",
       "[git] connect_to host '127.0.0.1' is an IP address, not a name", 2, 16, ""},
      {"connect_to duplicate",
       "[git]\nconnect_to = { \"github.com\" = \"127.0.0.1:1\", \"GitHub.com\" = \"127.0.0.1:2\" "
       "}\n",
       "connect_to host 'github.com' is listed twice", 2, 46, ""},
  });
  runValidRows({
      {"IPv6 host, port and path prefix",
       "[git]\nupstream = \"https://[::1]:8443/prefix/\"\napi_upstream = "
       "\"https://127.0.0.1:29443\"\n"},
      {"GHES with IPv6 target",
       "[git]\nupstream = \"https://ghe.test/git\"\nconnect_to = { \"ghe.test\" = \"[::1]:443\" "
       "}\n"},
  });
}

// ---- sessions ---------------------------------------------------------------------------------

TEST(ConfigLoaderTest, SessionChecks) {
  runConfigRows({
      {"no id", "[[sessions]]\nclients = [\"10.0.0.1\"]\n", "[[sessions]] has no id", 1, 1,
       "add id"},
      {"space in id", "[[sessions]]\nid = \"sbx 1\"\nclients = [\"10.0.0.1\"]\n",
       "[[sessions]] id 'sbx 1' is not a valid session id", 2, 6, "A-Z, a-z, 0-9"},
      {"id too long",
       "[[sessions]]\nid = \"" + std::string(65, 'a') + "\"\nclients = [\"10.0.0.1\"]\n",
       "is not a valid session id", 2, 6, ""},
      {"empty id", "[[sessions]]\nid = \"\"\nclients = [\"10.0.0.1\"]\n",
       "id '' is not a valid session id", 2, 6, ""},
      {"duplicate id", kSession + "[[sessions]]\nid = \"a\"\nclients = [\"10.0.0.2\"]\n",
       "[[sessions]] id 'a' is used twice", 5, 6, "the first use is at t.toml:2:6"},
      {"undefined environment",
       "[environments.web-dev]\n" + kSession + "environment = \"webdev\"\n",
       "[[sessions]] environment 'webdev' is not defined", 5, 15, "did you mean 'web-dev'?"},
      {"undefined environment, nothing close", kSession + "environment = \"staging\"\n",
       "environment 'staging' is not defined", 4, 15,
       "define [environments.staging] or use one of default"},
      {"short credential", kSession + "credential_sha256 = \"abc\"\n",
       "[[sessions]] credential_sha256 is not a hex SHA-256", 4, 21, "64 lowercase hex digits"},
      {"uppercase credential", kSession + "credential_sha256 = \"" + std::string(64, 'A') + "\"\n",
       "credential_sha256 is not a hex SHA-256", 4, 21, "write the hex digits in lowercase"},
      {"client with host bits", "[[sessions]]\nid = \"a\"\nclients = [\"10.0.0.1/8\"]\n",
       "[[sessions]] client '10.0.0.1/8' is not an address or CIDR", 3, 12, "host bits"},
      {"client by name", "[[sessions]]\nid = \"a\"\nclients = [\"10.0.0.0/8\", \"box.test\"]\n",
       "client 'box.test' is not an address or CIDR", 3, 26, ""},
      {"unidentifiable session", "[[sessions]]\nid = \"a\"\n",
       "[[sessions]] 'a' has neither credential_sha256 nor clients", 1, 1, "set credential_sha256"},
      {"empty credential and no clients",
       "[[sessions]]\nid = \"a\"\ncredential_sha256 = \"\"\nclients = []\n",
       "has neither credential_sha256 nor clients", 1, 1, ""},
  });
  runValidRows({
      {"credential only",
       "[[sessions]]\nid = \"a.b_c-D\"\ncredential_sha256 = \"" + std::string(kHex) + "\"\n"},
      {"explicit default environment", kSession + "environment = \"default\"\n"},
      {"no sessions", "sessions = []\n"},
      {"inline session tables", "sessions = [{ id = \"a\", clients = [\"10.0.0.1\"] }]\n"},
      {"environment defined later in the file",
       kSession + "environment = \"late\"\n[environments.late]\nlevel = \"full\"\n"},
      {"IPv6 clients", "[[sessions]]\nid = \"a\"\nclients = [\"fd00::/8\", \"::1\"]\n"},
      {"64-character id",
       "[[sessions]]\nid = \"" + std::string(64, 'x') + "\"\nclients = [\"10.0.0.1\"]\n"},
  });
}

TEST(ConfigLoaderTest, SessionLabelsDomainsAndExpiry) {
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += (i ? ", \"l" : "\"l") + std::to_string(i) + "\"";
  const std::string kOffsetHint = "write an offset date-time such as 2026-12-01T00:00:00Z";
  runConfigRows({
      {"17 labels", kSession + "labels = [" + sixteen + ", \"l16\"]\n",
       "[[sessions]] has 17 labels, more than 16", 4, 10, "keep at most 16 labels"},
      {"space in a label", kSession + "labels = [\"team web\"]\n",
       "[[sessions]] label 'team web' is not a valid label", 4, 11, "A-Z, a-z, 0-9, '.', '_', ':'"},
      {"empty label", kSession + "labels = [\"ok\", \"\"]\n", "label '' is not a valid label", 4,
       17, ""},
      {"label of 65 characters", kSession + "labels = [\"" + std::string(65, 'x') + "\"]\n",
       "is not a valid label", 4, 11, ""},
      {"non-ASCII label", kSession + "labels = [\"caf\u00e9\"]\n", "is not a valid label", 4, 11,
       ""},
      {"comma in a label", kSession + "labels = [\"a,b\"]\n", "label 'a,b' is not a valid label", 4,
       11, ""},
      {"same label twice", kSession + "labels = [\"team=web\", \"team=web\"]\n",
       "[[sessions]] label 'team=web' is listed twice", 4, 23, "remove the duplicate"},
      {"labels as a string", kSession + "labels = \"team=web\"\n",
       "[[sessions]] labels must be an array of strings, not a string", 4, 10,
       "write a list: labels = [\"team=web\"]"},
      {"label as a number", kSession + "labels = [42]\n",
       "[[sessions]] labels[0] must be a string, not an integer", 4, 11, ""},
      {"domains as a string", kSession + "domains = \"**.example.dev\"\n",
       "[[sessions]] domains must be an array of strings, not a string", 4, 11,
       "write a list: domains = [\"**.example.dev\"]"},
      {"domain as a table", kSession + "domains = [{ host = \"x\" }]\n",
       "[[sessions]] domains[0] must be a string, not a table", 4, 12, ""},
      {"local date-time", kSession + "expires = 2026-12-01T00:00:00\n",
       "[[sessions]] expires must be an offset date-time, not a local date-time", 4, 11,
       kOffsetHint},
      {"date only", kSession + "expires = 2026-12-01\n",
       "[[sessions]] expires must be an offset date-time, not a date", 4, 11, kOffsetHint},
      {"time only", kSession + "expires = 12:00:00\n",
       "[[sessions]] expires must be an offset date-time, not a time", 4, 11, kOffsetHint},
      {"quoted date-time", kSession + "expires = \"2026-12-01T00:00:00Z\"\n",
       "[[sessions]] expires must be an offset date-time, not a string", 4, 11, "no quotes"},
      {"epoch seconds", kSession + "expires = 1796083200\n",
       "[[sessions]] expires must be an offset date-time, not an integer", 4, 11, kOffsetHint},
  });
  runValidRows({
      {"sixteen labels", kSession + "labels = [" + sixteen + "]\n"},
      {"every label character", kSession +
                                    "labels = [\"team=web\", \"ticket:42\", \"A-z_0.9/x\", \"" +
                                    std::string(64, 'x') + "\"]\n"},
      {"no labels", kSession + "labels = []\n"},
      {"domains (validated when the policy is compiled)",
       kSession + "domains = [\"**.example.dev\", \"*.com\"]\n"},
      {"no domains", kSession + "domains = []\n"},
      {"UTC expiry", kSession + "expires = 2200-12-01T00:00:00Z\n"},
      {"expiry with an offset and fractions", kSession + "expires = 2200-12-01T02:00:00.5+02:00\n"},
      {"expiry past the clock's range", kSession + "expires = 9999-12-31T23:59:59Z\n"},
  });
}

TEST(ConfigLoaderTest, SessionLabelsDomainsAndExpiryAreRead) {
  ConfigLoad load = loadConfigString(
      kSession +
          "labels = [\"team=web\", \"ticket:42\"]\ndomains = [\"**.example.dev\", "
          "\"api.test:8443\"]\nexpires = 2026-12-01T02:30:00.25+02:30\n"
          "[[sessions]]\nid = \"b\"\nclients = [\"10.0.0.2\"]\nexpires = 9999-01-01T00:00:00Z\n",
      "t.toml");
  ASSERT_EQ(countErrors(load.issues), 0) << describe(load.issues);
  ASSERT_EQ(load.config.sessions.size(), 2u);
  const SessionConfig& a = load.config.sessions[0];
  EXPECT_THAT(a.labels, ElementsAre("team=web", "ticket:42"));
  ASSERT_EQ(a.domains.size(), 2u);
  EXPECT_EQ(a.domains[0].text, "**.example.dev");
  EXPECT_EQ(a.domains[0].pos.toString(), "t.toml:5:12");
  EXPECT_EQ(a.domains[1].text, "api.test:8443");
  EXPECT_EQ(a.domains[1].pos.toString(), "t.toml:5:30");
  ASSERT_TRUE(a.expires.has_value());
  // 2026-12-01T00:00:00Z is 1796083200 s after the epoch; the offset is +02:30.
  EXPECT_EQ(*a.expires, std::chrono::system_clock::time_point(std::chrono::seconds(1796083200)) +
                            std::chrono::milliseconds(250));
  EXPECT_EQ(load.config.sessions[1].expires, std::chrono::system_clock::time_point::max())
      << "beyond the clock's range: never";
  EXPECT_TRUE(load.config.sessions[1].labels.empty());
  EXPECT_TRUE(load.config.sessions[1].domains.empty());
  EXPECT_FALSE(loadConfigString(kSession, "t.toml").config.sessions.at(0).expires.has_value());
}

TEST(ConfigLoaderTest, PastExpiryIsAWarning) {
  ConfigLoad load = loadConfigString(kSession + "expires = 2020-01-01T00:00:00Z\n", "t.toml");
  ASSERT_EQ(load.issues.size(), 1u) << describe(load.issues);
  EXPECT_TRUE(load.ok());
  EXPECT_EQ(load.issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(load.issues[0].pos.toString(), "t.toml:4:11");
  EXPECT_THAT(load.issues[0].message, HasSubstr("[[sessions]] 'a' expired already"));
  ASSERT_TRUE(load.config.sessions.at(0).expires.has_value());
  EXPECT_EQ(*load.config.sessions[0].expires,
            std::chrono::system_clock::time_point(std::chrono::seconds(1577836800)));
}

TEST(ConfigLoaderTest, SessionGitChecks) {
  auto repos = [](const std::string& reason, const std::string& list, const std::string& message,
                  int column, const std::string& hint) {
    return ErrorRow{reason,
                    kGitHeader + "repos = " + list + "\npush_branch = \"b\"\n" + kTokenLine +
                        "scoped_credential_sha256 = \"" + kHex2 + "\"\n",
                    message,
                    5,
                    column,
                    hint};
  };
  runConfigRows({
      repos("no slash", "[\"org\"]", "[sessions.git] repo 'org' is not of the form owner/repo", 10,
            "'owner/repo:read'"),
      repos("two slashes", "[\"a/b/c\"]", "repo 'a/b/c' is not of the form owner/repo", 10, ""),
      repos("unknown mode", "[\"org/repo:write\"]", "has an unknown access mode 'write'", 10, ""),
      repos("dot repo", "[\"org/.\"]", "has an invalid repository name '.'", 10, "not '.' or '..'"),
      repos("dot-dot repo", "[\"org/..\"]", "invalid repository name '..'", 10, ""),
      repos("empty repo", "[\"org/\"]", "invalid repository name ''", 10, ""),
      repos("underscore owner", "[\"my_org/repo\"]", "has an invalid owner 'my_org'", 10,
            "1-39 letters, digits or '-'"),
      repos("owner too long", "[\"" + std::string(40, 'o') + "/r\"]", "has an invalid owner", 10,
            ""),
      repos("repo too long", "[\"o/" + std::string(101, 'r') + "\"]", "invalid repository name", 10,
            ""),
      repos("space in repo", "[\"org/my repo\"]", "invalid repository name 'my repo'", 10, ""),
      repos("same repo twice, case-insensitive", "[\"Org/Repo\", \"org/repo:read\"]",
            "repo 'org/repo:read' is listed twice", 22, "t.toml:5:10"),
      {"pushable repo without push_branch",
       kGitHeader + "repos = [\"org/repo\"]\n" + kTokenLine + "scoped_credential_sha256 = \"" +
           kHex2 + "\"\n",
       "[sessions.git] has pushable repos but no push_branch", 4, 1, "'owner/repo:read'"},
      {"no token_file",
       kGitHeader + "repos = [\"org/repo:read\"]\nscoped_credential_sha256 = \"" + kHex2 + "\"\n",
       "[sessions.git] has no token_file", 4, 1, "the real GitHub token"},
      {"empty token_file",
       kGitHeader +
           "repos = [\"org/repo:read\"]\ntoken_file = \"\"\nscoped_credential_sha256 = \"" + kHex2 +
           "\"\n",
       "[sessions.git] token_file is empty", 6, 14, ""},
      {"no scoped credential", kGitHeader + "repos = [\"org/repo:read\"]\n" + kTokenLine,
       "[sessions.git] has no scoped_credential_sha256", 4, 1, ""},
      {"empty scoped credential",
       kGitHeader + "repos = []\n" + kTokenLine + "scoped_credential_sha256 = \"\"\n",
       "[sessions.git] scoped_credential_sha256 is not a hex SHA-256", 7, 28, ""},
      {"extra branch equal to push_branch", kGit + "extra_branches = [\"b\"]\n",
       "[sessions.git] branch 'b' is listed twice", 9, 19, ""},
      {"invalid extra branch", kGit + "extra_branches = [\"ok\", \"a..b\"]\n",
       "[sessions.git] extra branch 'a..b' contains '..'", 9, 25, ""},
  });
  runValidRows({
      {"read-only repos need no push_branch",
       kGitHeader + "repos = [\"org/repo:read\", \"org/other:read\"]\n" + kTokenLine +
           "scoped_credential_sha256 = \"" + kHex2 + "\"\n"},
      {"complete binding", kGit + "extra_branches = [\"b2\", \"feature/x\"]\n"},
      {"names at their limits", kGitHeader + "repos = [\"" + std::string(39, 'o') + "/" +
                                    std::string(100, 'r') + "\", \"a-b/c.d_e\"]\n" +
                                    "push_branch = \"b\"\n" + kTokenLine +
                                    "scoped_credential_sha256 = \"" + kHex2 + "\"\n"},
  });
}

// [sessions.git] token_file must name a regular, non-empty file that only its owner may read or
// write (BAD-INPUTS J5): checked when the configuration loads, with the value's position.
TEST(ConfigLoaderTest, SessionGitTokenFileChecks) {
  auto binding = [](const std::string& path) {
    return kGitHeader + "repos = [\"org/repo:read\"]\ntoken_file = \"" + path +
           "\"\nscoped_credential_sha256 = \"" + kHex2 + "\"\n";
  };
  const std::string missing = ::testing::TempDir() + "gatehouse-loader-no-such-token";
  const std::string open_to_all = tempFile("token-0644", "canary-value\n", 0644);
  const std::string group_readable = tempFile("token-0640", "tok\n", 0640);
  const std::string empty = tempFile("token-empty", "", 0600);
  const std::string only_newline = tempFile("token-newline", "\n", 0600);
  const std::string two_lines = tempFile("token-two-lines", "canary-value\n\n", 0600);
  const std::string inner_space = tempFile("token-space", "canary-value x\n", 0600);
  const std::string too_long = tempFile("token-long", std::string(5000, 't'), 0600);
  runConfigRows({
      {"missing file", binding(missing),
       "[sessions.git] token_file '" + missing + "' cannot be read", 6, 14, "mode 600"},
      {"mode 0644", binding(open_to_all),
       "token_file '" + open_to_all + "' is readable or writable by group or others (mode 0644)", 6,
       14, "chmod 600 " + open_to_all},
      {"mode 0640", binding(group_readable), "by group or others (mode 0640)", 6, 14,
       "chmod 600 " + group_readable},
      {"empty file", binding(empty), "token_file '" + empty + "' is empty", 6, 14, "printf %s"},
      {"only a newline", binding(only_newline), "is empty", 6, 14, ""},
      {"two trailing newlines", binding(two_lines), "holds spaces, control characters", 6, 14, ""},
      {"space inside", binding(inner_space), "holds spaces, control characters", 6, 14, ""},
      {"too long", binding(too_long), "is longer than 4096 bytes", 6, 14, ""},
      {"a directory", binding(::testing::TempDir()), "is not a regular file", 6, 14, ""},
  });
  const std::string crlf = tempFile("token-crlf", "tok\r\n", 0400);
  const std::string bare = tempFile("token-bare", "tok", 0600);
  runValidRows({
      {"0600 with a newline", binding(tokenFile())},
      {"0400 with CRLF", binding(crlf)},
      {"no newline", binding(bare)},
  });
  // The token never appears in an issue, whatever the file holds.
  for (const std::string& path : {open_to_all, two_lines, inner_space}) {
    ConfigLoad load = loadConfigString(binding(path), "t.toml");
    for (const ConfigIssue& issue : load.issues) {
      EXPECT_THAT(issue.message + issue.hint, ::testing::Not(HasSubstr("canary-value"))) << path;
    }
  }
}

TEST(ConfigLoaderTest, RepoEndingInDotGitIsAWarning) {
  ConfigLoad load =
      loadConfigString(kGitHeader + "repos = [\"org/repo.git\"]\npush_branch = \"b\"\n" +
                           kTokenLine + "scoped_credential_sha256 = \"" + kHex2 + "\"\n",
                       "t.toml");
  ASSERT_EQ(load.issues.size(), 1u) << describe(load.issues);
  EXPECT_TRUE(load.ok());
  EXPECT_EQ(load.issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(load.issues[0].pos.toString(), "t.toml:5:10");
  EXPECT_THAT(load.issues[0].hint, HasSubstr("without '.git'"));
}

// Branch names follow `git check-ref-format --branch`; each row is one push_branch value written
// as a TOML basic string (so "\\u0001" is a control character).
TEST(ConfigLoaderTest, PushBranchFollowsGitRefRules) {
  struct Row {
    std::string toml_value;
    std::string problem;
  };
  const std::vector<Row> rows = {
      {"", "is empty"},
      {"a..b", "contains '..'"},
      {"a b", "contains ' '"},
      {"a~1", "contains '~'"},
      {"a^1", "contains '^'"},
      {"a:b", "contains ':'"},
      {"a?b", "contains '?'"},
      {"a*b", "contains '*'"},
      {"a[b", "contains '['"},
      {"a\\\\b", "contains '\\'"},
      {"a\\u0001b", "contains a control character"},
      {"a\\tb", "contains a control character"},
      {"a\\u007fb", "contains a control character"},
      {"/a", "starts or ends with '/'"},
      {"a/", "starts or ends with '/'"},
      {"a//b", "contains '//'"},
      {"a.", "ends with '.'"},
      {"a.lock", "has a component ending with '.lock'"},
      {"a.lock/b", "has a component ending with '.lock'"},
      {"a@{1}", "contains '@{'"},
      {"@", "is '@'"},
      {".a", "has a component starting with '.'"},
      {"a/.b", "has a component starting with '.'"},
      {"-a", "starts with '-'"},
      {"HEAD", "is 'HEAD'"},
      {"refs/heads/x", "starts with 'refs/'"},
  };
  for (const Row& row : rows) {
    ConfigLoad load =
        loadConfigString(gitBinding("push_branch = \"" + row.toml_value + "\"\n"), "t.toml");
    ErrorRow expected{
        "push_branch \"" + row.toml_value + "\"", "", "[sessions.git] push_branch '", 6, 15, ""};
    expectSingleError(expected, load.issues, "t.toml");
    if (!load.issues.empty()) {
      EXPECT_THAT(load.issues[0].message, HasSubstr("' " + row.problem)) << row.toml_value;
    }
  }
  for (const char* ok : {"claude/task-123", "feature/x.y", "a@b", "a-b_c/d.e", "v1.2", "a/b/c",
                         "caf\\u00e9", "x.locked"}) {
    ConfigLoad load =
        loadConfigString(gitBinding("push_branch = \"" + std::string(ok) + "\"\n"), "t.toml");
    EXPECT_TRUE(load.issues.empty()) << ok << describe(load.issues);
  }
}

// ---- [trusted] and the Trusted list -----------------------------------------------------------

TEST(ConfigLoaderTest, TrustedFileOverridesEmbeddedList) {
  ConfigLoad load = loadConfigFile(dataPath("trusted_override.toml"));
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  const std::string small = dataPath("trusted_small.toml");
  EXPECT_EQ(load.config.trusted_file, small);
  const policy::TrustedList& list = load.config.policy.trusted;
  EXPECT_EQ(list.source, small);
  EXPECT_EQ(list.version, "2026.01.01-test");
  ASSERT_EQ(list.groups.size(), 2u);
  EXPECT_EQ(list.groups[0].id, "code_hosts");
  EXPECT_EQ(list.groups[0].title, "Code hosts");
  ASSERT_EQ(list.groups[0].domains.size(), 2u);
  EXPECT_EQ(list.groups[0].domains[0].text, "github.com");
  EXPECT_EQ(list.groups[0].domains[0].pos.toString(), small + ":11:3");
  EXPECT_EQ(list.groups[0].domains[1].text, "*.githubusercontent.com");
  EXPECT_EQ(list.groups[1].id, "package_registries");
  ASSERT_EQ(list.groups[1].domains.size(), 2u);
  EXPECT_EQ(list.groups[1].domains[1].text, "**.pypi.org");
  EXPECT_EQ(list.groups[1].domains[1].pos.toString(), small + ":17:34");
}

TEST(ConfigLoaderTest, TrustedFileProblemsPointAtTheKey) {
  // The config's name gives the directory relative paths are resolved against.
  const std::string name = dataPath("inline.toml");
  ConfigLoad missing = loadConfigString("[trusted]\nfile = \"no_such_list.toml\"\n", name);
  ErrorRow row{"missing file",
               "",
               "cannot read the Trusted list file '" + dataPath("no_such_list.toml") +
                   "': No such file or directory",
               2,
               8,
               "relative paths are resolved against the directory of the config file"};
  expectSingleError(row, missing.issues, name);
  EXPECT_EQ(missing.config.trusted_file, dataPath("no_such_list.toml"));
  EXPECT_EQ(missing.config.policy.trusted.source, "<embedded>");

  ConfigLoad directory = loadConfigString("[trusted]\nfile = \"../data\"\n", name);
  expectSingleError({"a directory", "", "is a directory", 2, 8, ""}, directory.issues, name);

  ConfigLoad empty = loadConfigString("[trusted]\nfile = \"\"\n", name);
  EXPECT_TRUE(empty.issues.empty()) << describe(empty.issues);
  EXPECT_EQ(empty.config.trusted_file, "");
  EXPECT_EQ(empty.config.policy.trusted.source, "<embedded>");
}

TEST(ConfigLoaderTest, TrustedFileIssuesComeAfterConfigIssuesWithTheirOwnFile) {
  // config_errors.toml is a config, not a Trusted list: every top-level table is unknown there.
  const std::string name = dataPath("inline.toml");
  ConfigLoad load = loadConfigString(
      "[trusted]\nfile = \"config_errors.toml\"\n[listener]\nworkers = 999\n", name);
  const std::string list = dataPath("config_errors.toml");
  ASSERT_EQ(load.issues.size(), 5u) << describe(load.issues);
  EXPECT_EQ(load.issues[0].pos.toString(), name + ":4:11");
  EXPECT_EQ(load.issues[1].pos.toString(), list + ":1:1");
  EXPECT_THAT(load.issues[1].message, HasSubstr("the Trusted list has no version"));
  EXPECT_EQ(load.issues[2].pos.toString(), list + ":2:2");
  EXPECT_THAT(load.issues[2].message, HasSubstr("unknown key 'listener' at the top level"));
  EXPECT_EQ(load.issues[3].pos.toString(), list + ":6:2");
  EXPECT_EQ(load.issues[4].pos.toString(), list + ":10:3");
  EXPECT_THAT(load.issues[4].hint, HasSubstr("valid top-level keys: version, changelog, groups"));
}

TEST(ConfigLoaderTest, TrustedListErrors) {
  const std::string kVersion = "version = \"1\"\n";
  const std::vector<ErrorRow> rows = {
      {"no version", "[groups.a]\ndomains = []\n", "the Trusted list has no version", 1, 1,
       "add version"},
      {"empty file", "", "the Trusted list has no version", 1, 1, ""},
      {"version not a string", "version = 1\n", "version must be a string, not an integer", 1, 11,
       ""},
      {"empty version", "version = \"\"\n", "the Trusted list version is empty", 1, 11, ""},
      {"unknown top-level key", kVersion + "[groupz.a]\n", "unknown key 'groupz' at the top level",
       2, 2, "did you mean 'groups'?"},
      {"unknown group key", kVersion + "[groups.a]\ntitel = \"A\"\n",
       "unknown key 'titel' in [groups.a]", 3, 1, "did you mean 'title'?"},
      {"group not a table", kVersion + "[groups]\na = 1\n",
       "groups.a must be a table, not an integer", 3, 5, ""},
      {"domains not a list", kVersion + "[groups.a]\ndomains = \"x.test\"\n",
       "[groups.a] domains must be an array of strings, not a string", 3, 11, ""},
      {"domain not a string", kVersion + "[groups.a]\ndomains = [\"x.test\", 2]\n",
       "[groups.a] domains[1] must be a string, not an integer", 3, 22, ""},
      {"title not a string", kVersion + "[groups.a]\ntitle = []\n",
       "[groups.a] title must be a string, not an array", 3, 9, ""},
      {"changelog not tables", kVersion + "changelog = [\"x\"]\n",
       "changelog must be an array of tables ([[changelog]]), not an array", 2, 13, ""},
      {"changelog key typo", kVersion + "[[changelog]]\nversion = \"1\"\nchnages = []\n",
       "unknown key 'chnages' in [[changelog]]", 4, 1, "did you mean 'changes'?"},
      {"changelog entry without version",
       kVersion + "[[changelog]]\nversion = \"1\"\n[[changelog]]\nchanges = []\n",
       "[[changelog]] entry has no version", 4, 1, ""},
      {"changes not strings", kVersion + "[[changelog]]\nversion = \"1\"\nchanges = [1]\n",
       "[[changelog]] changes[0] must be a string, not an integer", 4, 12, ""},
      {"syntax error", kVersion + "[groups.a\n", "invalid TOML", 2, 10, ""},
  };
  for (const ErrorRow& row : rows) {
    ConfigIssues issues;
    policy::TrustedList list = loadTrustedList(row.toml, "list.toml", issues);
    expectSingleError(row, issues, "list.toml");
    EXPECT_EQ(list.source, "list.toml");
  }
}

TEST(ConfigLoaderTest, TrustedListWarnsWhenChangelogMissesTheVersion) {
  ConfigIssues issues;
  policy::TrustedList list = loadTrustedList(
      "version = \"2\"\n[[changelog]]\nversion = \"1\"\nchanges = [\"first\"]\n", "l.toml", issues);
  ASSERT_EQ(issues.size(), 1u) << describe(issues);
  EXPECT_EQ(issues[0].severity, ConfigIssue::Severity::kWarning);
  EXPECT_EQ(issues[0].pos.toString(), "l.toml:1:11");
  EXPECT_THAT(issues[0].message, HasSubstr("no [[changelog]] entry for version '2'"));
  EXPECT_EQ(list.version, "2");
}

TEST(ConfigLoaderTest, TrustedListWithEmptyChangelogAndNoGroupsIsValid) {
  ConfigIssues issues;
  policy::TrustedList list = loadTrustedList("version = \"v\"\nchangelog = []\n", "l.toml", issues);
  EXPECT_TRUE(issues.empty()) << describe(issues);
  EXPECT_EQ(list.version, "v");
  EXPECT_TRUE(list.groups.empty());
}

TEST(ConfigLoaderTest, TrustedListKeepsFileOrderAndDefaultsTitleToId) {
  ConfigIssues issues;
  policy::TrustedList list = loadTrustedList(
      "version = \"v\"\n[groups.zeta]\ndomains = [\"z.test\"]\n[groups.alpha]\ntitle = \"A\"\n",
      "l.toml", issues);
  ASSERT_TRUE(issues.empty()) << describe(issues);
  ASSERT_EQ(list.groups.size(), 2u);
  EXPECT_EQ(list.groups[0].id, "zeta");
  EXPECT_EQ(list.groups[0].title, "zeta");
  EXPECT_EQ(list.groups[0].domains[0].pos.toString(), "l.toml:3:12");
  EXPECT_EQ(list.groups[1].id, "alpha");
  EXPECT_EQ(list.groups[1].title, "A");
  EXPECT_TRUE(list.groups[1].domains.empty());
}

TEST(ConfigLoaderTest, ShippedTrustedListLoads) {
  const std::string path = sourcePath("conf/trusted.toml");
  ConfigLoad file = loadConfigString("[trusted]\nfile = \"trusted.toml\"\n", sourcePath("conf/x"));
  ASSERT_TRUE(file.issues.empty()) << describe(file.issues);
  const policy::TrustedList& list = file.config.policy.trusted;
  EXPECT_EQ(list.source, path);
  EXPECT_EQ(list.version, "2026.11.21");
  ASSERT_EQ(list.groups.size(), 17u);
  size_t entries = 0;
  for (const policy::TrustedGroup& g : list.groups) {
    EXPECT_FALSE(g.title.empty()) << g.id;
    entries += g.domains.size();
  }
  EXPECT_EQ(entries, 201u);
  EXPECT_EQ(list.groups[0].id, "anthropic_services");
  EXPECT_EQ(list.groups[0].title, "Anthropic services");
  EXPECT_EQ(list.groups[0].domains[0].text, "api.anthropic.com");
  EXPECT_EQ(list.groups[0].domains[0].pos.file, path);
  EXPECT_GT(list.groups[0].domains[0].pos.line, 0);
  EXPECT_EQ(list.groups[0].domains[0].pos.column, 3);
  EXPECT_EQ(list.groups[1].id, "version_control");

  // The embedded copy is the same list.
  ConfigLoad embedded = loadConfigString("", "e.toml");
  ASSERT_TRUE(embedded.issues.empty()) << describe(embedded.issues);
  EXPECT_EQ(embedded.config.policy.trusted.source, "<embedded>");
  EXPECT_EQ(embedded.config.policy.trusted.version, list.version);
  ASSERT_EQ(embedded.config.policy.trusted.groups.size(), 17u);
  EXPECT_EQ(embedded.config.policy.trusted.groups[16].id, list.groups[16].id);
  EXPECT_EQ(embedded.config.policy.trusted.groups[16].domains.size(),
            list.groups[16].domains.size());
}

// ---- whole files ------------------------------------------------------------------------------

TEST(ConfigLoaderTest, EmptyConfigHasTheDefaults) {
  ConfigLoad load = loadConfigString("", "empty.toml");
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  const Config& c = load.config;
  EXPECT_EQ(c.file, "empty.toml");
  EXPECT_EQ(c.trusted_file, "");
  EXPECT_EQ(c.listener.address, "127.0.0.1:3128");
  EXPECT_EQ(c.listener.address_pos.line, 0);
  EXPECT_EQ(c.listener.workers, 0);
  EXPECT_EQ(c.listener.require_session, std::nullopt);
  EXPECT_EQ(c.listener.max_tunnels, 10000);
  EXPECT_EQ(c.log.recent_decisions, 1000);
  EXPECT_EQ(c.log.denied_sample_per_second, 100);
  EXPECT_EQ(c.admin.address, "127.0.0.1:9090");
  EXPECT_EQ(c.admin.token_file, "");
  const policy::EnvironmentConfig& env = c.policy.default_environment;
  EXPECT_EQ(env.name, "default");
  EXPECT_EQ(env.pos.line, 0);
  EXPECT_EQ(env.level, AccessLevel::kTrusted);
  EXPECT_TRUE(env.domains.empty());
  EXPECT_FALSE(env.include_trusted);
  EXPECT_TRUE(env.deny.empty());
  EXPECT_TRUE(env.always_allow.empty());
  EXPECT_THAT(env.ports, ElementsAre(80, 443));
  EXPECT_EQ(env.mode, policy::EnvironmentMode::kEnforce);
  EXPECT_EQ(env.shadow, "");
  EXPECT_TRUE(env.limits.empty()) << "no limits unless configured";
  EXPECT_TRUE(c.policy.environments.empty());
  EXPECT_TRUE(c.policy.addresses.deny_private);
  EXPECT_TRUE(c.policy.addresses.allow.empty());
  EXPECT_TRUE(c.resolver.servers.empty());
  EXPECT_EQ(c.resolver.timeout_ms, 2000);
  EXPECT_TRUE(c.resolver.static_hosts.empty());
  EXPECT_EQ(c.git.upstream, "https://github.com");
  EXPECT_EQ(c.git.api_upstream, "https://api.github.com");
  EXPECT_EQ(c.git.ca_file, "");
  EXPECT_TRUE(c.git.connect_to.empty());
  EXPECT_TRUE(c.sessions.empty());
  EXPECT_EQ(c.policy.trusted.source, "<embedded>");
}

TEST(ConfigLoaderTest, ShippedExampleConfigLoadsWithTheDefaults) {
  const std::string path = sourcePath("conf/gatehouse.toml");
  ConfigLoad load = loadConfigFile(path);
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  ConfigLoad defaults = loadConfigString("", "empty.toml");
  const Config& c = load.config;
  const Config& d = defaults.config;
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.listener.address, d.listener.address);
  EXPECT_GT(c.listener.address_pos.line, 0);
  EXPECT_EQ(c.listener.workers, d.listener.workers);
  EXPECT_EQ(c.listener.require_session, std::nullopt) << "documented commented out: auto";
  EXPECT_EQ(c.listener.max_tunnels, d.listener.max_tunnels);
  EXPECT_EQ(c.log.recent_decisions, d.log.recent_decisions);
  EXPECT_EQ(c.log.denied_sample_per_second, d.log.denied_sample_per_second);
  EXPECT_GT(c.log.recent_decisions_pos.line, 0);
  EXPECT_EQ(c.admin.address, d.admin.address);
  EXPECT_EQ(c.admin.token_file, d.admin.token_file);
  EXPECT_EQ(c.policy.default_environment.level, AccessLevel::kTrusted);
  EXPECT_TRUE(c.policy.default_environment.domains.empty());
  EXPECT_EQ(c.policy.default_environment.include_trusted, false);
  EXPECT_THAT(c.policy.default_environment.ports, ElementsAre(80, 443));
  EXPECT_EQ(c.policy.default_environment.mode, d.policy.default_environment.mode);
  EXPECT_GT(c.policy.default_environment.mode_pos.line, 0);
  EXPECT_EQ(c.policy.default_environment.shadow, d.policy.default_environment.shadow);
  EXPECT_GT(c.policy.default_environment.shadow_pos.line, 0);
  EXPECT_TRUE(c.policy.default_environment.limits.empty()) << "documented commented out";
  EXPECT_TRUE(c.policy.environments.empty());
  EXPECT_TRUE(c.policy.addresses.deny_private);
  EXPECT_TRUE(c.resolver.servers.empty());
  EXPECT_EQ(c.resolver.timeout_ms, d.resolver.timeout_ms);
  EXPECT_TRUE(c.resolver.static_hosts.empty());
  EXPECT_EQ(c.git.upstream, d.git.upstream);
  EXPECT_EQ(c.git.api_upstream, d.git.api_upstream);
  EXPECT_EQ(c.git.ca_file, "");
  EXPECT_TRUE(c.git.connect_to.empty());
  EXPECT_TRUE(c.sessions.empty());
  EXPECT_EQ(c.trusted_file, "");
  EXPECT_EQ(c.policy.trusted.source, "<embedded>");
  EXPECT_EQ(c.policy.trusted.groups.size(), 17u);
}

TEST(ConfigLoaderTest, EveryKeyIsRead) {
  const std::string path = dataPath("config_full.toml");
  // The file names /run/secrets/github-token, which the loader checks: point it at a real token
  // file (the last value on its line, so no other position moves).
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string kWritten = "\"/run/secrets/github-token\"";
  ASSERT_NE(text.find(kWritten), std::string::npos);
  text.replace(text.find(kWritten), kWritten.size(), "\"" + tokenFile() + "\"");
  ConfigLoad load = loadConfigString(text, path);
  ASSERT_TRUE(load.issues.empty()) << describe(load.issues);
  const Config& c = load.config;
  auto at = [&](int line, int column) {
    return path + ":" + std::to_string(line) + ":" + std::to_string(column);
  };

  EXPECT_EQ(c.listener.address, "[::1]:8080");
  EXPECT_EQ(c.listener.address_pos.toString(), at(3, 11));
  EXPECT_EQ(c.listener.workers, 4);
  EXPECT_EQ(c.listener.workers_pos.toString(), at(4, 11));

  EXPECT_EQ(c.admin.address, "0.0.0.0:9091");
  EXPECT_EQ(c.admin.address_pos.toString(), at(7, 11));
  EXPECT_EQ(c.admin.token_file, "/run/secrets/admin-token");
  EXPECT_EQ(c.admin.token_file_pos.toString(), at(8, 14));

  const policy::EnvironmentConfig& def = c.policy.default_environment;
  EXPECT_EQ(def.name, "default");
  EXPECT_EQ(def.pos.toString(), at(10, 1));
  EXPECT_EQ(def.level, AccessLevel::kCustom);
  ASSERT_EQ(def.domains.size(), 2u);
  EXPECT_EQ(def.domains[0].text, "**.example.dev");
  EXPECT_EQ(def.domains[0].pos.toString(), at(12, 12));
  EXPECT_EQ(def.domains[1].text, "api.example.com:8443");
  EXPECT_EQ(def.domains[1].pos.toString(), at(12, 30));
  EXPECT_TRUE(def.include_trusted);
  ASSERT_EQ(def.deny.size(), 1u);
  EXPECT_EQ(def.deny[0].text, "evil.example.dev");
  EXPECT_EQ(def.deny[0].pos.toString(), at(14, 9));
  ASSERT_EQ(def.always_allow.size(), 1u);
  EXPECT_EQ(def.always_allow[0].text, "api.anthropic.com");
  EXPECT_THAT(def.ports, ElementsAre(443, 8443));
  EXPECT_EQ(def.ports_pos.toString(), at(16, 9));

  // In file order, not key order.
  ASSERT_EQ(c.policy.environments.size(), 2u);
  const policy::EnvironmentConfig& web = c.policy.environments[0];
  EXPECT_EQ(web.name, "web-dev");
  EXPECT_EQ(web.pos.toString(), at(18, 1));
  EXPECT_EQ(web.level, AccessLevel::kFull);
  EXPECT_THAT(web.ports, ElementsAre(443));
  EXPECT_FALSE(web.include_trusted);
  const policy::EnvironmentConfig& airgap = c.policy.environments[1];
  EXPECT_EQ(airgap.name, "airgap");
  EXPECT_EQ(airgap.level, AccessLevel::kNone);
  EXPECT_TRUE(airgap.ports.empty());
  EXPECT_EQ(airgap.ports_pos.toString(), at(25, 9));
  ASSERT_EQ(airgap.always_allow.size(), 1u);
  EXPECT_EQ(airgap.always_allow[0].pos.toString(), at(24, 17));

  EXPECT_FALSE(c.policy.addresses.deny_private);
  ASSERT_EQ(c.policy.addresses.allow.size(), 2u);
  EXPECT_EQ(c.policy.addresses.allow[0].text, "127.0.0.0/8");
  EXPECT_EQ(c.policy.addresses.allow[1].text, "::1/128");
  EXPECT_EQ(c.policy.addresses.allow[1].pos.toString(), at(29, 25));

  EXPECT_THAT(c.resolver.servers, ElementsAre("192.0.2.53:53", "[2001:db8::53]:5353"));
  EXPECT_EQ(c.resolver.servers_pos.toString(), at(32, 11));
  EXPECT_EQ(c.resolver.timeout_ms, 500);
  EXPECT_EQ(c.resolver.timeout_pos.toString(), at(33, 14));
  ASSERT_EQ(c.resolver.static_hosts.size(), 2u);
  EXPECT_EQ(c.resolver.static_hosts[0].name, "origin.test");  // canonical, written "Origin.Test."
  EXPECT_THAT(c.resolver.static_hosts[0].addresses, ElementsAre("127.0.0.2", "::1"));
  EXPECT_EQ(c.resolver.static_hosts[0].pos.toString(), at(34, 12));
  EXPECT_EQ(c.resolver.static_hosts[1].name, "b.test");
  EXPECT_THAT(c.resolver.static_hosts[1].addresses, ElementsAre("192.0.2.7"));

  EXPECT_EQ(c.git.upstream, "https://ghes.example.com:8443/git");
  EXPECT_EQ(c.git.upstream_pos.toString(), at(37, 12));
  EXPECT_EQ(c.git.api_upstream, "https://ghes.example.com/api/v3");
  EXPECT_EQ(c.git.api_upstream_pos.toString(), at(38, 16));
  EXPECT_EQ(c.git.ca_file, "tests/data/ca.pem");
  EXPECT_EQ(c.git.ca_file_pos.toString(), at(39, 11));
  ASSERT_EQ(c.git.connect_to.size(), 1u);
  EXPECT_EQ(c.git.connect_to[0].host, "ghes.example.com");
  EXPECT_EQ(c.git.connect_to[0].target, "127.0.0.1:29443");
  EXPECT_EQ(c.git.connect_to[0].pos.toString(), at(40, 16));

  ASSERT_EQ(c.sessions.size(), 2u);
  const SessionConfig& s1 = c.sessions[0];
  EXPECT_EQ(s1.id, "sbx-1");
  EXPECT_EQ(s1.pos.toString(), at(42, 1));
  EXPECT_EQ(s1.environment, "web-dev");
  EXPECT_EQ(s1.credential_sha256, kHex);
  EXPECT_THAT(s1.clients, ElementsAre("10.0.0.5/32", "fd00::/8"));
  ASSERT_TRUE(s1.git.has_value());
  EXPECT_EQ(s1.git->pos.toString(), at(47, 1));
  EXPECT_THAT(s1.git->repos, ElementsAre("org/repo", "org/docs:read"));
  EXPECT_EQ(s1.git->repos_pos.toString(), at(48, 9));
  EXPECT_EQ(s1.git->push_branch, "claude/task-123");
  EXPECT_THAT(s1.git->extra_branches, ElementsAre("claude/task-123-fixup"));
  EXPECT_EQ(s1.git->token_file, tokenFile());
  EXPECT_EQ(s1.git->scoped_credential_sha256, kHex2);
  const SessionConfig& s2 = c.sessions[1];
  EXPECT_EQ(s2.id, "sbx-2");
  EXPECT_EQ(s2.environment, "default");
  EXPECT_EQ(s2.credential_sha256, "");
  EXPECT_THAT(s2.clients, ElementsAre("10.0.0.6"));
  EXPECT_FALSE(s2.git.has_value());
}

TEST(ConfigLoaderTest, AllProblemsAreReportedInFileOrder) {
  const std::string path = dataPath("config_errors.toml");
  ConfigLoad load = loadConfigFile(path);
  EXPECT_FALSE(load.ok());
  std::vector<std::string> got;
  for (const ConfigIssue& issue : load.issues) {
    got.push_back(issue.pos.toString().substr(path.size()) + " " + issue.message);
  }
  EXPECT_THAT(got,
              ElementsAre(":3:11 [listener] address 'localhost:3128' names a host; it must be an "
                          "IP literal",
                          ":4:1 unknown key 'wrokers' in [listener]",
                          ":7:9 [environment] level 'fulll' is not a known access level",
                          ":8:14 [environment] port 80 is listed twice",
                          ":10:1 [[sessions]] 'sbx 1' has neither credential_sha256 nor clients, "
                          "so no client could ever use it",
                          ":11:6 [[sessions]] id 'sbx 1' is not a valid session id",
                          ":12:15 [[sessions]] environment 'nope' is not defined"));
  EXPECT_EQ(countErrors(load.issues), 7);
}

// A config file for loadAndCompile(), under the test's temporary directory.
std::string writeConfig(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

const std::string kSessionDomainsConfig =
    "[environments.web]\n"                  // 1
    "level = \"custom\"\n"                  // 2
    "domains = [\"**.web.test\"]\n"         // 3
    "shadow = \"default\"\n"                // 4
    "[[sessions]]\n"                        // 5
    "id = \"sbx-1\"\n"                      // 6
    "environment = \"web\"\n"               // 7
    "clients = [\"10.0.0.1\"]\n"            // 8
    "domains = [\"ok.test\", \"*.com\"]\n"  // 9
    "[[sessions]]\n"                        // 10
    "id = \"sbx-2\"\n"                      // 11
    "clients = [\"10.0.0.2\"]\n";           // 12

TEST(ConfigLoaderTest, LoadAndCompileChecksSessionDomainsWithPositions) {
  const std::string path = writeConfig("session_domains_bad.toml", kSessionDomainsConfig);
  LoadedConfig l = loadAndCompile(path);
  EXPECT_FALSE(l.ok());
  EXPECT_EQ(l.policy, nullptr);
  ASSERT_EQ(l.issues.size(), 1u) << describe(l.issues);
  EXPECT_EQ(l.issues[0].severity, ConfigIssue::Severity::kError);
  EXPECT_EQ(l.issues[0].pos.toString(), path + ":9:24") << "the '*' inside the second string";
  EXPECT_THAT(l.issues[0].message, HasSubstr("environment 'session:sbx-1' domains"));
}

TEST(ConfigLoaderTest, LoadAndCompileAddsSessionEnvironmentsToThePolicyOnly) {
  std::string text = kSessionDomainsConfig;
  text.replace(text.find(", \"*.com\""), 9, "");
  const std::string path = writeConfig("session_domains_ok.toml", text);
  LoadedConfig l = loadAndCompile(path);
  ASSERT_TRUE(l.ok()) << describe(l.issues);
  ASSERT_EQ(l.config.policy.environments.size(), 1u) << "the file's own policy, unchanged";
  EXPECT_EQ(l.config.policy.environments[0].name, "web");
  ASSERT_EQ(l.policy->environments().size(), 3u) << "sbx-2 has no domains: no environment";
  const policy::Environment* env = l.policy->environment("session:sbx-1");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->shadow(), l.policy->environment("default")) << "copied from web";
  policy::Host ok = *policy::canonicalizeHost("ok.test").host;
  policy::Host web = *policy::canonicalizeHost("a.web.test").host;
  EXPECT_TRUE(l.policy->check({"session:sbx-1", "GET", &ok, 443}).allowed());
  EXPECT_TRUE(l.policy->check({"session:sbx-1", "GET", &web, 443}).allowed());
  EXPECT_FALSE(l.policy->check({"web", "GET", &ok, 443}).allowed());
}

TEST(ConfigLoaderTest, SessionEnvironmentsCopyTheirBasesLimits) {
  const std::string path = writeConfig("session_limits.toml",
                                       "[environments.web]\n"            // 1
                                       "level = \"custom\"\n"            // 2
                                       "domains = [\"**.web.test\"]\n"   // 3
                                       "[environments.web.limits]\n"     // 4
                                       "requests_per_second = 5\n"       // 5
                                       "download_budget_bytes = 1000\n"  // 6
                                       "[[sessions]]\n"                  // 7
                                       "id = \"sbx-1\"\n"                // 8
                                       "environment = \"web\"\n"         // 9
                                       "clients = [\"10.0.0.1\"]\n"      // 10
                                       "domains = [\"ok.test\"]\n"       // 11
                                       "[sessions.limits]\n"             // 12
                                       "requests_per_second = 50\n");    // 13
  LoadedConfig l = loadAndCompile(path);
  ASSERT_TRUE(l.ok()) << describe(l.issues);
  const policy::Environment* web = l.policy->environment("web");
  const policy::Environment* session = l.policy->environment("session:sbx-1");
  ASSERT_NE(web, nullptr);
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->config().limits.values, web->config().limits.values)
      << "the environment's limits, not the session's overrides";
  EXPECT_EQ(session->config().limits[policy::LimitKey::kRequestsPerSecond],
            std::optional<uint64_t>(5));
  EXPECT_EQ(session->config()
                .limits.positions[static_cast<size_t>(policy::LimitKey::kRequestsPerSecond)]
                .toString(),
            path + ":5:23");
  policy::Limits limits =
      policy::resolveLimits(session->config().limits, &l.config.sessions.at(0).limits);
  EXPECT_EQ(limits[policy::LimitKey::kRequestsPerSecond], 50u);
  EXPECT_EQ(limits[policy::LimitKey::kDownloadBudgetBytes], 1000u);
}

TEST(ConfigLoaderTest, LoadAndCompileChecksShadows) {
  const std::string path = writeConfig("shadow_bad.toml",
                                       "[environment]\nshadow = \"strcit\"\n[environments.strict]\n"
                                       "level = \"none\"\n[environments.web]\nshadow = \"web\"\n");
  LoadedConfig l = loadAndCompile(path);
  EXPECT_FALSE(l.ok());
  ASSERT_EQ(l.issues.size(), 2u) << describe(l.issues);
  EXPECT_EQ(l.issues[0].pos.toString(), path + ":2:10");
  EXPECT_THAT(l.issues[0].message,
              HasSubstr("[environment] shadow 'strcit' is not a defined environment"));
  EXPECT_EQ(l.issues[0].hint, "did you mean 'strict'?");
  EXPECT_EQ(l.issues[1].pos.toString(), path + ":6:10");
  EXPECT_THAT(l.issues[1].message,
              HasSubstr("[environments.web] shadow names the environment itself"));
}

TEST(ConfigLoaderTest, UnreadableConfigFileIsOneError) {
  const std::string path = dataPath("no_such_config.toml");
  ConfigLoad load = loadConfigFile(path);
  ASSERT_EQ(load.issues.size(), 1u) << describe(load.issues);
  EXPECT_EQ(load.issues[0].pos.file, path);
  EXPECT_EQ(load.issues[0].pos.line, 0);
  EXPECT_THAT(load.issues[0].message,
              HasSubstr("cannot read the config file: No such file or directory"));
  EXPECT_EQ(load.config.file, path);

  ConfigLoad directory = loadConfigFile(sourcePath("tests/data"));
  ASSERT_EQ(directory.issues.size(), 1u) << describe(directory.issues);
  EXPECT_THAT(directory.issues[0].message, HasSubstr("is a directory"));
}

// Bad documents never throw out of the loader (BAD-INPUTS L1, L4).
TEST(ConfigLoaderTest, HostileDocumentsBecomeIssues) {
  const std::vector<std::string> documents = {
      std::string("a = \"\0\"\n", 7),
      "\xef\xbb\xbf[listener]\nworkers = 1e400\n",
      std::string(5000, '[') + std::string(5000, ']'),
      "a = " + std::string(5000, '[') + std::string(5000, ']') + "\n",
      "[listener]\nworkers = 99999999999999999999\n",
      "[listener]\nworkers = 9223372036854775807\n",
      "[environment]\nports = [-9223372036854775808]\n",
      "[" + std::string(100000, 'k') + "]\n",
      "[[sessions]]\n[[sessions]]\n[[sessions]]\n",
      "environments = []\n",
      "[environments.a.b.c]\n",
      "[resolver]\nstatic = { \"\" = [\"1.1.1.1\"] }\n",
      "[git]\nconnect_to = { \"\" = \"\" }\nupstream = \"https://[\"\n",
  };
  for (const std::string& doc : documents) {
    ConfigLoad load;
    EXPECT_NO_THROW(load = loadConfigString(doc, "h.toml")) << doc.substr(0, 60);
    EXPECT_FALSE(load.ok()) << doc.substr(0, 60) << describe(load.issues);
    for (const ConfigIssue& issue : load.issues) {
      EXPECT_FALSE(issue.message.empty());
      EXPECT_EQ(issue.pos.file, "h.toml") << issue.toString();
    }
  }
}

}  // namespace
}  // namespace gatehouse::control
