// The session store as the git path's CredentialProvider (SPEC §6, §7): scoped git credentials
// in every accepted header shape, refusals, throttling, expiry, isolation between sessions,
// PATCH and DELETE of git bindings, static bindings read from token files, and the upstream token
// being wiped once nothing uses it any more. A canary token is checked never to appear in a reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/session_store.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::control {
namespace {

using gitproxy::GrantResult;
using gitproxy::GrantStatus;
using std::chrono::system_clock;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing_credentials::base64;
using testing_credentials::hex;

constexpr char kCanaryToken[] = "gh-canary-token-5b1e0c7d9a";
constexpr char kOtherToken[] = "gh-canary-token-other-44f2";

std::optional<net::SocketAddress> from(const char* address) {
  std::optional<policy::IpAddress> ip = policy::IpAddress::parse(address);
  EXPECT_TRUE(ip.has_value()) << address;
  if (!ip) return std::nullopt;
  return net::SocketAddress{*ip, 40000};
}

std::shared_ptr<const gitproxy::Secret> secret(const char* token) {
  return std::make_shared<const gitproxy::Secret>(token);
}

GitBinding binding(std::vector<std::string> repos, std::string push_branch = "claude/task-1",
                   const char* token = kCanaryToken) {
  GitBinding b;
  b.repos = std::move(repos);
  b.push_branch = std::move(push_branch);
  b.token = secret(token);
  return b;
}

std::string tempFile(const std::string& name, const std::string& content, mode_t mode) {
  const std::string path =
      ::testing::TempDir() + "gatehouse-git-" + std::to_string(::getpid()) + "-" + name;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(path.c_str(), mode);
  return path;
}

std::string basicAuth(const std::string& user, const std::string& credential) {
  return "Basic " + base64(user + ":" + credential);
}

class FakeClock {
 public:
  std::chrono::steady_clock::time_point now() const { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
};

class SessionGitTest : public ::testing::Test {
 protected:
  // A dynamic session with a git binding; its git credential.
  AddedSession addWithGit(GitBinding git, std::vector<std::string> clients = {},
                          system_clock::time_point expires = system_clock::time_point::max()) {
    NewSession s;
    s.environment = "web-dev";
    s.labels = {"team=web"};
    s.clients = std::move(clients);
    s.expires = expires;
    s.git = std::move(git);
    AddedSession added = store_.add(std::move(s));
    EXPECT_TRUE(added.ok) << added.error;
    EXPECT_THAT(added.git_credential, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
    return added;
  }

  GrantResult grant(const std::string& authorization, const char* client = nullptr) {
    GrantResult r =
        store_.grantFor(authorization, client ? from(client) : std::nullopt, system_clock::now());
    // Never a secret in what goes to the client and the log.
    EXPECT_THAT(r.reason, Not(HasSubstr(kCanaryToken)));
    EXPECT_THAT(r.reason, Not(HasSubstr(gitproxy::kGitCredentialPrefix)));
    if (r.status == GrantStatus::kGranted) {
      EXPECT_NE(r.grant, nullptr);
    } else {
      EXPECT_EQ(r.grant, nullptr);
    }
    return r;
  }

  SessionStore store_{std::vector<SessionConfig>{}};
};

struct SchemeRow {
  const char* reason;
  std::string authorization;
  GrantStatus status;
  const char* reason_has;  // "" = not checked
};

TEST_F(SessionGitTest, HeaderShapesTable) {
  AddedSession added = addWithGit(binding({"Octo-Org/Hello-World", "org/docs:read"}));
  const std::string c = added.git_credential;
  const std::vector<SchemeRow> rows = {
      {"Basic with git's usual user", basicAuth("x-access-token", c), GrantStatus::kGranted, ""},
      {"Basic with any user", basicAuth("someone", c), GrantStatus::kGranted, ""},
      {"Basic with an empty user", basicAuth("", c), GrantStatus::kGranted, ""},
      {"Basic with the session id as user", basicAuth(added.id, c), GrantStatus::kGranted, ""},
      {"basic in lower case", "basic " + base64("u:" + c), GrantStatus::kGranted, ""},
      {"Bearer", "Bearer " + c, GrantStatus::kGranted, ""},
      {"BEARER in upper case, spaces around", "  BEARER   " + c + " ", GrantStatus::kGranted, ""},
      {"token (GitHub clients)", "token " + c, GrantStatus::kGranted, ""},
      {"Token", "Token " + c, GrantStatus::kGranted, ""},
      {"no header", "", GrantStatus::kMissing, "authentication required"},
      {"only spaces", "   ", GrantStatus::kMissing, "authentication required"},
      {"Digest", "Digest username=\"x\"", GrantStatus::kMalformed, "scheme"},
      {"credential without scheme", c, GrantStatus::kMalformed, "scheme"},
      {"Bearer without credential", "Bearer", GrantStatus::kMalformed, "no credentials"},
      {"Bearer with two tokens", "Bearer " + c + " extra", GrantStatus::kMalformed, "one token"},
      {"Basic not base64", "Basic !!!!", GrantStatus::kMalformed, "base64"},
      {"Basic base64url", "Basic c2J4LTE6-_-_", GrantStatus::kMalformed, "base64"},
      {"Basic without colon", "Basic " + base64(c), GrantStatus::kMalformed, "no password"},
      {"too long", "Bearer " + std::string(2000, 'a'), GrantStatus::kMalformed, "too long"},
      {"a GitHub token", "Bearer ghp_0123456789abcdef0123456789abcdef0123", GrantStatus::kDenied,
       "not a gatehouse git credential"},
      {"a proxy credential", basicAuth(added.id, added.proxy_credential), GrantStatus::kDenied,
       "not a gatehouse git credential"},
      {"the upstream token itself", "Bearer " + std::string(kCanaryToken), GrantStatus::kDenied,
       "not a gatehouse git credential"},
      {"unknown credential", "Bearer " + std::string(gitproxy::kGitCredentialPrefix) + "nope",
       GrantStatus::kDenied, "unknown or revoked git credential"},
      {"credential plus a character", "Bearer " + c + "x", GrantStatus::kDenied, "unknown"},
      {"credential minus a character", "Bearer " + c.substr(0, c.size() - 1), GrantStatus::kDenied,
       "unknown"},
      {"Basic with empty password", basicAuth("u", ""), GrantStatus::kDenied,
       "not a gatehouse git credential"},
  };
  for (const SchemeRow& row : rows) {
    SCOPED_TRACE(row.reason);
    GrantResult r = grant(row.authorization);
    EXPECT_EQ(r.status, row.status) << r.reason;
    EXPECT_THAT(r.reason, HasSubstr(row.reason_has));
    if (r.status != GrantStatus::kGranted) continue;
    EXPECT_EQ(r.session_id, added.id);
    const gitproxy::GitGrant& g = *r.grant;
    EXPECT_EQ(g.session_id, added.id);
    EXPECT_EQ(g.labels, std::vector<std::string>{"team=web"});
    ASSERT_EQ(g.repos.size(), 2u);
    EXPECT_EQ(g.repos[0].owner, "octo-org");  // lower case
    EXPECT_EQ(g.repos[0].repo, "hello-world");
    EXPECT_TRUE(g.repos[0].push);
    EXPECT_EQ(g.repos[1].repo, "docs");
    EXPECT_FALSE(g.repos[1].push);
    EXPECT_NE(g.find("OCTO-ORG", "Hello-World"), nullptr);
    EXPECT_EQ(g.find("org", "other"), nullptr);
    EXPECT_EQ(g.push_branch, "claude/task-1");
    ASSERT_NE(g.token, nullptr);
    EXPECT_EQ(g.token->view(), kCanaryToken);
  }
}

TEST_F(SessionGitTest, OnlyTheHashOfTheCredentialIsKept) {
  AddedSession added = addWithGit(binding({"org/repo"}));
  std::optional<SessionView> v = store_.get(added.id);
  ASSERT_TRUE(v.has_value());
  ASSERT_TRUE(v->git.has_value());
  EXPECT_EQ(v->git->repos, std::vector<std::string>{"org/repo"});
  EXPECT_EQ(v->git->push_branch, "claude/task-1");
  EXPECT_TRUE(v->git->token_set);
  // 32 random bytes in base64url after the prefix; two sessions never share one.
  EXPECT_EQ(added.git_credential.size(), gitproxy::kGitCredentialPrefix.size() + 43);
  AddedSession other = addWithGit(binding({"org/repo"}));
  EXPECT_NE(other.git_credential, added.git_credential);
  // A session without a binding has no git credential.
  NewSession plain;
  AddedSession no_git = store_.add(plain);
  ASSERT_TRUE(no_git.ok);
  EXPECT_EQ(no_git.git_credential, "");
  EXPECT_FALSE(store_.get(no_git.id)->git.has_value());
}

TEST_F(SessionGitTest, TwoSessionsAreIsolated) {
  AddedSession a = addWithGit(binding({"org/a"}, "branch-a", kCanaryToken));
  AddedSession b = addWithGit(binding({"org/b"}, "branch-b", kOtherToken));
  GrantResult ra = grant("Bearer " + a.git_credential);
  GrantResult rb = grant("Bearer " + b.git_credential);
  ASSERT_EQ(ra.status, GrantStatus::kGranted);
  ASSERT_EQ(rb.status, GrantStatus::kGranted);
  EXPECT_EQ(ra.grant->session_id, a.id);
  EXPECT_EQ(rb.grant->session_id, b.id);
  EXPECT_NE(ra.grant->find("org", "a"), nullptr);
  EXPECT_EQ(ra.grant->find("org", "b"), nullptr);
  EXPECT_EQ(rb.grant->find("org", "a"), nullptr);
  EXPECT_EQ(ra.grant->push_branch, "branch-a");
  EXPECT_EQ(rb.grant->token->view(), kOtherToken);
  // Removing one leaves the other working.
  EXPECT_TRUE(store_.remove(a.id));
  EXPECT_EQ(grant("Bearer " + a.git_credential).status, GrantStatus::kDenied);
  EXPECT_EQ(grant("Bearer " + b.git_credential).status, GrantStatus::kGranted);
}

TEST_F(SessionGitTest, DeletedSessionIsDeniedAtOnce) {
  AddedSession added = addWithGit(binding({"org/repo"}));
  ASSERT_EQ(grant("Bearer " + added.git_credential).status, GrantStatus::kGranted);
  ASSERT_TRUE(store_.remove(added.id));
  GrantResult r = grant("Bearer " + added.git_credential);
  EXPECT_EQ(r.status, GrantStatus::kDenied);
  EXPECT_EQ(r.reason, "unknown or revoked git credential");
  EXPECT_EQ(r.session_id, "");
}

TEST_F(SessionGitTest, ExpiredSession) {
  const auto past = system_clock::now() - std::chrono::seconds(1);
  AddedSession added = addWithGit(binding({"org/repo"}), {}, past);
  GrantResult r = grant("Bearer " + added.git_credential);
  EXPECT_EQ(r.status, GrantStatus::kExpired);
  EXPECT_EQ(r.session_id, added.id);
  // A PATCH that extends the session makes the credential work again; the grant carries the new
  // expiry and labels.
  SessionPatch patch;
  patch.expires = system_clock::now() + std::chrono::hours(1);
  patch.labels = std::vector<std::string>{"ticket:7"};
  ASSERT_EQ(store_.update(added.id, patch), "");
  r = grant("Bearer " + added.git_credential);
  ASSERT_EQ(r.status, GrantStatus::kGranted);
  EXPECT_EQ(r.grant->expires, *patch.expires);
  EXPECT_EQ(r.grant->labels, std::vector<std::string>{"ticket:7"});
}

TEST_F(SessionGitTest, CredentialOnlyFromTheSessionsClients) {
  AddedSession added = addWithGit(binding({"org/repo"}), {"10.4.0.0/16"});
  EXPECT_EQ(grant("Bearer " + added.git_credential, "10.4.1.2").status, GrantStatus::kGranted);
  GrantResult elsewhere = grant("Bearer " + added.git_credential, "192.0.2.9");
  EXPECT_EQ(elsewhere.status, GrantStatus::kDenied);
  EXPECT_THAT(elsewhere.reason, HasSubstr("address not bound"));
  EXPECT_EQ(grant("Bearer " + added.git_credential).status, GrantStatus::kDenied);  // no address
}

TEST(SessionGitThrottle, FailuresAreThrottledPerAddress) {
  FakeClock clock;
  SessionStore::Options options;
  options.failure_burst = 3;
  options.failure_refill_per_second = 1;
  options.clock = [&clock] { return clock.now(); };
  SessionStore store({}, std::nullopt, options);
  NewSession s;
  s.git = binding({"org/repo"});
  AddedSession added = store.add(s);
  ASSERT_TRUE(added.ok);
  const auto now = system_clock::now();
  const std::string good = "Bearer " + added.git_credential;
  const std::string unknown = "Bearer " + std::string(gitproxy::kGitCredentialPrefix) + "guess";
  EXPECT_EQ(store.grantFor(unknown, from("192.0.2.1"), now).status, GrantStatus::kDenied);
  EXPECT_EQ(store.grantFor("Bearer ghp_x", from("192.0.2.1"), now).status, GrantStatus::kDenied);
  EXPECT_EQ(store.grantFor("Basic !!", from("192.0.2.1"), now).status, GrantStatus::kMalformed);
  // The bucket is empty: refused before the credential is looked at, even a correct one.
  GrantResult throttled = store.grantFor(good, from("192.0.2.1"), now);
  EXPECT_EQ(throttled.status, GrantStatus::kThrottled);
  EXPECT_EQ(throttled.grant, nullptr);
  EXPECT_THAT(throttled.reason, HasSubstr("too many failed"));
  // A missing header is no failure and not throttled (git asks its helper after the 401).
  EXPECT_EQ(store.grantFor("", from("192.0.2.1"), now).status, GrantStatus::kMissing);
  // Other addresses are unaffected.
  EXPECT_EQ(store.grantFor(good, from("192.0.2.2"), now).status, GrantStatus::kGranted);
  // Proxy credential failures and git credential failures share the address's bucket.
  conn::SessionQuery q;
  q.client = from("192.0.2.1");
  q.proxy_authorization = "Basic " + base64(added.id + ":wrong");
  EXPECT_EQ(store.identify(q, now).status, conn::SessionStatus::kThrottled);
  // One second refills one attempt; a success spends nothing.
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(store.grantFor(good, from("192.0.2.1"), now).status, GrantStatus::kGranted);
  EXPECT_EQ(store.grantFor(good, from("192.0.2.1"), now).status, GrantStatus::kGranted);
  EXPECT_EQ(store.grantFor(unknown, from("192.0.2.1"), now).status, GrantStatus::kDenied);
  EXPECT_EQ(store.grantFor(good, from("192.0.2.1"), now).status, GrantStatus::kThrottled);
}

TEST_F(SessionGitTest, PatchReplacesTheScopeAndKeepsTheCredential) {
  AddedSession added = addWithGit(binding({"org/old"}, "old-branch", kCanaryToken));
  const std::string auth = "Bearer " + added.git_credential;
  SessionPatch patch;
  GitBinding next = binding({"org/new:read"}, "", kOtherToken);
  next.extra_branches = {};
  patch.git.emplace(next);
  std::string issued = "untouched";
  ASSERT_EQ(store_.update(added.id, patch, &issued), "");
  EXPECT_EQ(issued, "");  // the credential stays
  GrantResult r = grant(auth);
  ASSERT_EQ(r.status, GrantStatus::kGranted);
  EXPECT_EQ(r.grant->find("org", "old"), nullptr);
  ASSERT_NE(r.grant->find("org", "new"), nullptr);
  EXPECT_FALSE(r.grant->find("org", "new")->push);
  EXPECT_EQ(r.grant->push_branch, "");
  EXPECT_EQ(r.grant->token->view(), kOtherToken);

  // Rotation: a new credential, returned once; the old one stops at once.
  SessionPatch rotate;
  rotate.rotate_git_credential = true;
  std::string rotated;
  ASSERT_EQ(store_.update(added.id, rotate, &rotated), "");
  EXPECT_THAT(rotated, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
  EXPECT_NE(rotated, added.git_credential);
  EXPECT_EQ(grant(auth).status, GrantStatus::kDenied);
  EXPECT_EQ(grant("Bearer " + rotated).status, GrantStatus::kGranted);

  // Removal: the binding and its credential go.
  SessionPatch remove;
  remove.git.emplace(std::nullopt);
  std::string none = "untouched";
  ASSERT_EQ(store_.update(added.id, remove, &none), "");
  EXPECT_EQ(none, "");
  EXPECT_EQ(grant("Bearer " + rotated).status, GrantStatus::kDenied);
  EXPECT_FALSE(store_.get(added.id)->git.has_value());
  SessionPatch rotate_nothing;
  rotate_nothing.rotate_git_credential = true;
  EXPECT_NE(store_.update(added.id, rotate_nothing), "");

  // Binding again issues a fresh credential.
  SessionPatch again;
  again.git.emplace(binding({"org/again"}));
  std::string fresh;
  ASSERT_EQ(store_.update(added.id, again, &fresh), "");
  EXPECT_THAT(fresh, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
  EXPECT_NE(fresh, rotated);
  EXPECT_EQ(grant("Bearer " + fresh).status, GrantStatus::kGranted);

  // An invalid repo changes nothing.
  SessionPatch bad;
  bad.git.emplace(binding({"not-a-repo"}));
  EXPECT_THAT(store_.update(added.id, bad), HasSubstr("not of the form owner/repo"));
  EXPECT_EQ(grant("Bearer " + fresh).status, GrantStatus::kGranted);
}

TEST_F(SessionGitTest, TheTokenIsWipedWhenNothingUsesItAnyMore) {
  AddedSession added = addWithGit(binding({"org/repo"}));
  std::weak_ptr<const gitproxy::Secret> token;
  {
    GrantResult r = grant("Bearer " + added.git_credential);
    ASSERT_EQ(r.status, GrantStatus::kGranted);
    token = r.grant->token;
  }
  ASSERT_FALSE(token.expired());
  ASSERT_TRUE(store_.remove(added.id));
  EXPECT_TRUE(token.expired());  // the Secret's destructor wiped the bytes

  // A request still holding the grant keeps the token until it ends.
  AddedSession second = addWithGit(binding({"org/repo"}));
  GrantResult in_flight = grant("Bearer " + second.git_credential);
  ASSERT_EQ(in_flight.status, GrantStatus::kGranted);
  std::weak_ptr<const gitproxy::Secret> second_token = in_flight.grant->token;
  std::shared_ptr<const gitproxy::GitGrant> copy = in_flight.grant;
  in_flight.grant.reset();
  ASSERT_TRUE(store_.remove(second.id));
  EXPECT_FALSE(second_token.expired());
  EXPECT_EQ(grant("Bearer " + second.git_credential).status, GrantStatus::kDenied);
  copy.reset();
  EXPECT_TRUE(second_token.expired());

  // A PATCH that replaces the token drops the old one; one that changes only labels keeps it.
  AddedSession third = addWithGit(binding({"org/repo"}));
  std::weak_ptr<const gitproxy::Secret> third_token =
      grant("Bearer " + third.git_credential).grant->token;
  SessionPatch labels;
  labels.labels = std::vector<std::string>{"x"};
  ASSERT_EQ(store_.update(third.id, labels), "");
  EXPECT_FALSE(third_token.expired());
  SessionPatch replace;
  replace.git.emplace(binding({"org/repo"}, "b", kOtherToken));
  ASSERT_EQ(store_.update(third.id, replace), "");
  EXPECT_TRUE(third_token.expired());
}

// Static bindings ([sessions.git]): the token comes from token_file, re-read on every reload.
SessionConfig staticGitSession(const std::string& id, const std::string& token_file,
                               const std::string& credential) {
  SessionConfig c;
  c.id = id;
  c.environment = "web-dev";
  c.clients = {"10.7.0.0/16"};
  SessionGitConfig git;
  git.repos = {"Org/Repo", "org/docs.git:read"};
  git.push_branch = "claude/task-9";
  git.extra_branches = {"claude/task-9-fixup"};
  git.token_file = token_file;
  git.scoped_credential_sha256 = hex(SessionStore::sha256(credential));
  c.git = git;
  return c;
}

TEST(SessionGitStatic, TokenFileIsReadAndReloaded) {
  const std::string credential = std::string(gitproxy::kGitCredentialPrefix) + "static-one";
  const std::string file = tempFile("static-token", std::string(kCanaryToken) + "\r\n", 0600);
  SessionStore store({staticGitSession("sbx-git", file, credential)});
  const auto now = system_clock::now();
  GrantResult r = store.grantFor(basicAuth("x", credential), from("10.7.0.1"), now);
  ASSERT_EQ(r.status, GrantStatus::kGranted) << r.reason;
  EXPECT_EQ(r.session_id, "sbx-git");
  ASSERT_NE(r.grant->token, nullptr);
  EXPECT_EQ(r.grant->token->view(), kCanaryToken);  // one trailing CRLF removed
  ASSERT_EQ(r.grant->repos.size(), 2u);
  EXPECT_EQ(r.grant->repos[0].owner, "org");
  EXPECT_EQ(r.grant->repos[1].repo, "docs");  // without ".git"
  EXPECT_EQ(r.grant->extra_branches, std::vector<std::string>{"claude/task-9-fixup"});
  std::optional<SessionView> v = store.get("sbx-git");
  ASSERT_TRUE(v->git.has_value());
  EXPECT_EQ(v->git->repos, (std::vector<std::string>{"org/repo", "org/docs:read"}));
  EXPECT_TRUE(v->git->token_set);

  // Token rotation: the file changes, a reload re-reads it; the old Secret is released.
  std::weak_ptr<const gitproxy::Secret> old_token = r.grant->token;
  r = GrantResult{};
  tempFile("static-token", std::string(kOtherToken) + "\n", 0600);
  store.replaceStatic({staticGitSession("sbx-git", file, credential)}, std::nullopt);
  EXPECT_TRUE(old_token.expired());
  r = store.grantFor("Bearer " + credential, from("10.7.0.1"), now);
  ASSERT_EQ(r.status, GrantStatus::kGranted);
  EXPECT_EQ(r.grant->token->view(), kOtherToken);

  // A file the loader would refuse gives no token (git requests then fail), never a fallback.
  for (const std::string& bad :
       {tempFile("static-open", "tok\n", 0644), tempFile("static-empty", "", 0600),
        ::testing::TempDir() + "gatehouse-git-no-such-file"}) {
    SCOPED_TRACE(bad);
    store.replaceStatic({staticGitSession("sbx-git", bad, credential)}, std::nullopt);
    r = store.grantFor("Bearer " + credential, from("10.7.0.1"), now);
    ASSERT_EQ(r.status, GrantStatus::kGranted);
    EXPECT_EQ(r.grant->token, nullptr);
    EXPECT_FALSE(store.get("sbx-git")->git->token_set);
  }
  // A reload without the session revokes its credential.
  store.replaceStatic({}, std::nullopt);
  EXPECT_EQ(store.grantFor("Bearer " + credential, from("10.7.0.1"), now).status,
            GrantStatus::kDenied);
}

struct TokenFileRow {
  const char* reason;
  std::string content;
  mode_t mode;
  const char* token;    // expected token, nullptr = refused
  const char* problem;  // substring of the problem when refused
};

TEST(ReadGitTokenFile, Table) {
  const std::vector<TokenFileRow> rows = {
      {"plain", "abc123", 0600, "abc123", ""},
      {"one LF removed", "abc123\n", 0600, "abc123", ""},
      {"one CRLF removed", "abc123\r\n", 0400, "abc123", ""},
      {"two LFs", "abc123\n\n", 0600, nullptr, "holds spaces, control characters"},
      {"trailing CR only", "abc123\r", 0600, nullptr, "control characters"},
      {"inner space", "abc 123", 0600, nullptr, "spaces"},
      {"leading newline", "\nabc", 0600, nullptr, "control characters"},
      {"NUL byte", std::string("ab\0c", 4), 0600, nullptr, "control characters"},
      {"empty", "", 0600, nullptr, "is empty"},
      {"only a newline", "\n", 0600, nullptr, "is empty"},
      {"4096 bytes", std::string(4096, 't'), 0600, "", ""},
      {"4096 bytes and a newline", std::string(4096, 't') + "\n", 0600, "", ""},
      {"4097 bytes", std::string(4097, 't'), 0600, nullptr, "longer than 4096"},
      {"group readable", "abc", 0640, nullptr, "(mode 0640)"},
      {"others readable", "abc", 0604, nullptr, "(mode 0604)"},
      {"group writable", "abc", 0620, nullptr, "group or others"},
  };
  for (const TokenFileRow& row : rows) {
    SCOPED_TRACE(row.reason);
    const std::string path = tempFile("table", row.content, row.mode);
    GitTokenFile f = readGitTokenFile(path);
    if (row.token == nullptr) {
      EXPECT_EQ(f.token, nullptr);
      EXPECT_THAT(f.problem, HasSubstr(row.problem));
      EXPECT_FALSE(f.hint.empty());
      if (!row.content.empty()) {
        EXPECT_THAT(f.problem + f.hint, Not(HasSubstr("abc")));
      }
    } else {
      ASSERT_NE(f.token, nullptr) << f.problem;
      const std::string expected = *row.token != '\0' ? row.token : std::string(4096, 't');
      EXPECT_EQ(f.token->view(), expected);
    }
    ::unlink(path.c_str());
  }
  GitTokenFile missing = readGitTokenFile(::testing::TempDir() + "gatehouse-git-missing");
  EXPECT_EQ(missing.token, nullptr);
  EXPECT_THAT(missing.problem, HasSubstr("cannot be read"));
  GitTokenFile directory = readGitTokenFile(::testing::TempDir());
  EXPECT_EQ(directory.token, nullptr);
  EXPECT_THAT(directory.problem, HasSubstr("not a regular file"));
  const std::string open_file = tempFile("table-open", "abc", 0644);
  EXPECT_EQ(readGitTokenFile(open_file).hint, "chmod 600 " + open_file);
}

}  // namespace
}  // namespace gatehouse::control
