// The session store: identification by Proxy-Authorization and client address, expiry,
// throttling of failed attempts, dynamic sessions, and what is (never) kept of a credential.
#include "control/session_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/test_credentials.h"

namespace gatehouse::control {
namespace {

using testing_credentials::base64;
using testing_credentials::basic;
using testing_credentials::hex;

using conn::SessionQuery;
using conn::SessionResult;
using conn::SessionStatus;
using std::chrono::system_clock;

constexpr char kSecretOne[] = "secret-one-0123456789";
constexpr char kSecretThree[] = "secret-three-0123456789";

SessionConfig session(std::string id, std::string environment, const std::string& secret,
                      std::vector<std::string> clients) {
  SessionConfig c;
  c.id = std::move(id);
  c.environment = std::move(environment);
  if (!secret.empty()) c.credential_sha256 = hex(SessionStore::sha256(secret));
  c.clients = std::move(clients);
  return c;
}

conn::SessionInfo sessionInfo(std::string environment, std::vector<std::string> labels = {},
                              system_clock::time_point expires = system_clock::time_point::max()) {
  conn::SessionInfo info;
  info.environment = std::move(environment);
  info.labels = std::move(labels);
  info.expires = expires;
  return info;
}

std::vector<SessionConfig> staticSessions() {
  return {
      session("sbx-1", "web-dev", kSecretOne, {}),
      session("sbx-2", "data", "", {"10.0.0.0/24"}),
      session("sbx-3", "web-dev", kSecretThree, {"10.0.0.7/32"}),
      session("sbx-4", "data", "", {"10.9.0.0/16"}),
      session("sbx-5", "web-dev", "", {"10.9.0.0/16"}),
      session("sbx-6", "data", "", {"2001:db8:1::/48"}),
  };
}

SessionQuery query(std::string_view client, std::string_view authorization) {
  SessionQuery q;
  if (!client.empty()) {
    std::optional<policy::IpAddress> ip = policy::IpAddress::parse(client);
    EXPECT_TRUE(ip.has_value()) << client;
    if (ip) q.client = net::SocketAddress{*ip, 40000};
  }
  q.proxy_authorization = authorization;
  return q;
}

struct Case {
  const char* name;
  const char* client;  // "" = unknown
  std::string authorization;
  SessionStatus status;
  const char* session;      // expected id, "" = none
  const char* environment;  // expected environment when identified
  const char* reason_has;   // substring of the reason, "" = not checked
};

TEST(SessionStore, IdentificationTable) {
  const std::vector<Case> cases = {
      {"valid Basic credential", "192.0.2.1", basic(std::string("sbx-1:") + kSecretOne),
       SessionStatus::kIdentified, "sbx-1", "web-dev", "Proxy-Authorization"},
      {"valid credential, unknown client address", "", basic(std::string("sbx-1:") + kSecretOne),
       SessionStatus::kIdentified, "sbx-1", "web-dev", ""},
      {"lowercase scheme", "192.0.2.1", "basic " + base64(std::string("sbx-1:") + kSecretOne),
       SessionStatus::kIdentified, "sbx-1", "web-dev", ""},
      {"uppercase scheme", "192.0.2.1", "BASIC " + base64(std::string("sbx-1:") + kSecretOne),
       SessionStatus::kIdentified, "sbx-1", "web-dev", ""},
      {"several spaces after the scheme (1*SP)", "192.0.2.1",
       "Basic   " + base64(std::string("sbx-1:") + kSecretOne), SessionStatus::kIdentified, "sbx-1",
       "web-dev", ""},
      {"wrong secret", "192.0.2.1", basic("sbx-1:secret-one-012345678"), SessionStatus::kDenied, "",
       "", "wrong credential"},
      {"secret of another session", "192.0.2.1", basic(std::string("sbx-1:") + kSecretThree),
       SessionStatus::kDenied, "", "", "wrong credential"},
      {"unknown session id", "192.0.2.1", basic(std::string("sbx-9:") + kSecretOne),
       SessionStatus::kDenied, "", "", "unknown session"},
      {"id and secret swapped", "192.0.2.1", basic(std::string(kSecretOne) + ":sbx-1"),
       SessionStatus::kDenied, "", "", ""},
      {"session without credential", "192.0.2.1", basic("sbx-2:anything"), SessionStatus::kDenied,
       "", "", ""},
      {"malformed base64", "192.0.2.1", "Basic !!!!", SessionStatus::kDenied, "", "", "base64"},
      {"base64 without padding", "192.0.2.1", "Basic YWJjOmQ", SessionStatus::kDenied, "", "",
       "base64"},
      {"base64 with non-zero trailing bits", "192.0.2.1", "Basic YWJjOmR=", SessionStatus::kDenied,
       "", "", "base64"},
      {"base64url alphabet", "192.0.2.1", "Basic c2J4LTE6-_-_", SessionStatus::kDenied, "", "",
       "base64"},
      {"padding in the middle", "192.0.2.1", "Basic YQ==YWJj", SessionStatus::kDenied, "", "",
       "base64"},
      {"space inside the token", "192.0.2.1", "Basic YWJj OmRl", SessionStatus::kDenied, "", "",
       "base64"},
      {"token too long", "192.0.2.1", "Basic " + std::string(2000, 'A'), SessionStatus::kDenied, "",
       "", "too long"},
      {"missing password (no colon)", "192.0.2.1", basic("sbx-1"), SessionStatus::kDenied, "", "",
       "no password"},
      {"empty password", "192.0.2.1", basic("sbx-1:"), SessionStatus::kDenied, "", "",
       "empty password"},
      {"scheme without token", "192.0.2.1", "Basic", SessionStatus::kDenied, "", "", "no token"},
      {"whitespace only", "192.0.2.1", "   ", SessionStatus::kDenied, "", "", "scheme"},
      {"Bearer scheme", "192.0.2.1", "Bearer abc.def", SessionStatus::kDenied, "", "", "scheme"},
      {"Digest scheme", "192.0.2.1", "Digest username=\"sbx-1\", realm=\"gatehouse\"",
       SessionStatus::kDenied, "", "", "scheme"},
      {"scheme glued to the token", "192.0.2.1",
       "Basic" + base64(std::string("sbx-1:") + kSecretOne), SessionStatus::kDenied, "", "",
       "scheme"},
      {"client CIDR match", "10.0.0.9", "", SessionStatus::kIdentified, "sbx-2", "data",
       "client address"},
      {"longest CIDR prefix wins", "10.0.0.7", "", SessionStatus::kIdentified, "sbx-3", "web-dev",
       ""},
      {"IPv6 client CIDR match", "2001:db8:1::5", "", SessionStatus::kIdentified, "sbx-6", "data",
       ""},
      {"address bound to two sessions", "10.9.1.1", "", SessionStatus::kDenied, "", "",
       "more than one session"},
      {"bound credential from its address", "10.0.0.7", basic(std::string("sbx-3:") + kSecretThree),
       SessionStatus::kIdentified, "sbx-3", "web-dev", ""},
      {"bound credential from another address", "10.0.0.8",
       basic(std::string("sbx-3:") + kSecretThree), SessionStatus::kDenied, "", "", "not bound"},
      {"bound credential from an unknown address", "", basic(std::string("sbx-3:") + kSecretThree),
       SessionStatus::kDenied, "", "", "not bound"},
      {"wrong credential never falls back to the address", "10.0.0.9", basic("sbx-2:guess"),
       SessionStatus::kDenied, "", "", ""},
      {"no match, sessions required", "192.0.2.1", "", SessionStatus::kChallenge, "", "",
       "required"},
      {"no address, sessions required", "", "", SessionStatus::kChallenge, "", "", ""},
      {"IPv6 no match, sessions required", "2001:db8:2::1", "", SessionStatus::kChallenge, "", "",
       ""},
  };
  const system_clock::time_point now = system_clock::now();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SessionStore store(staticSessions());  // fresh per row: failures of one row throttle none
    EXPECT_TRUE(store.required());
    SessionResult r = store.identify(query(c.client, c.authorization), now);
    EXPECT_STREQ(conn::sessionStatusName(r.status), conn::sessionStatusName(c.status));
    if (std::string(c.session).empty()) {
      EXPECT_EQ(r.session, nullptr);
    } else {
      ASSERT_NE(r.session, nullptr);
      EXPECT_EQ(r.session->id, c.session);
      EXPECT_EQ(r.session->environment, c.environment);
    }
    EXPECT_NE(r.reason.find(c.reason_has), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find("secret"), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find("sbx-"), std::string::npos) << "no client input echoed";
  }
}

TEST(SessionStore, NotRequiredGivesTheDefaultEnvironment) {
  struct Row {
    const char* name;
    std::optional<bool> required;
    bool with_sessions;
    SessionStatus expected;
  };
  const std::vector<Row> rows = {
      {"no sessions, default: anonymous", std::nullopt, false, SessionStatus::kAnonymous},
      {"sessions, default: required", std::nullopt, true, SessionStatus::kChallenge},
      {"sessions, explicitly not required", false, true, SessionStatus::kAnonymous},
      {"no sessions, explicitly required", true, false, SessionStatus::kChallenge},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    SessionStore store(row.with_sessions ? staticSessions() : std::vector<SessionConfig>{},
                       row.required);
    SessionResult r = store.identify(query("192.0.2.1", ""), system_clock::now());
    EXPECT_STREQ(conn::sessionStatusName(r.status), conn::sessionStatusName(row.expected));
    EXPECT_EQ(r.session, nullptr);
  }
  // Not required still refuses a wrong credential and still identifies a bound address.
  SessionStore lax(staticSessions(), false);
  EXPECT_EQ(lax.identify(query("192.0.2.1", basic("sbx-1:wrong")), system_clock::now()).status,
            SessionStatus::kDenied);
  EXPECT_EQ(lax.identify(query("10.0.0.9", ""), system_clock::now()).status,
            SessionStatus::kIdentified);
}

TEST(SessionStore, RequiredFollowsDynamicSessionsByDefault) {
  SessionStore store({});
  EXPECT_FALSE(store.required());
  AddedSession added = store.add(sessionInfo("web-dev", {}));
  ASSERT_TRUE(added.ok) << added.error;
  EXPECT_TRUE(store.required());
  EXPECT_EQ(store.identify(query("192.0.2.1", ""), system_clock::now()).status,
            SessionStatus::kChallenge);
  EXPECT_TRUE(store.remove(added.id));
  // Sticky: the deleted session's clients must not become anonymous users of the default
  // environment.
  EXPECT_TRUE(store.required());
  EXPECT_EQ(store
                .identify(query("192.0.2.1", basic(added.id + ":" + added.proxy_credential)),
                          system_clock::now())
                .status,
            SessionStatus::kDenied);
}

TEST(SessionStore, WithoutSessionsCredentialsAreIgnored) {
  // The sidecar case: HTTP_PROXY=http://user:pass@... must keep working without sessions.
  SessionStore store({});
  EXPECT_EQ(store.identify(query("192.0.2.1", basic("user:pass")), system_clock::now()).status,
            SessionStatus::kAnonymous);
  EXPECT_EQ(store.identify(query("192.0.2.1", "Bearer x"), system_clock::now()).status,
            SessionStatus::kAnonymous);
  // Unless sessions are required: then there is nobody to be.
  SessionStore required({}, true);
  EXPECT_EQ(required.identify(query("192.0.2.1", basic("user:pass")), system_clock::now()).status,
            SessionStatus::kDenied);
  EXPECT_EQ(required.identify(query("192.0.2.1", ""), system_clock::now()).status,
            SessionStatus::kChallenge);
}

TEST(SessionStore, ReplaceStaticKeepsDynamicSessions) {
  SessionStore store(staticSessions());
  AddedSession dynamic = store.add(sessionInfo("web-dev", {}));
  ASSERT_TRUE(dynamic.ok);
  store.replaceStatic({session("sbx-9", "data", kSecretThree, {})}, false);
  EXPECT_FALSE(store.get("sbx-1").has_value());  // gone with the old config
  ASSERT_TRUE(store.get("sbx-9").has_value());
  EXPECT_FALSE(store.get("sbx-9")->dynamic);
  ASSERT_TRUE(store.get(dynamic.id).has_value());
  EXPECT_FALSE(store.required());  // explicitly not required now
  const auto now = system_clock::now();
  EXPECT_EQ(
      store.identify(query("192.0.2.1", basic(std::string("sbx-1:") + kSecretOne)), now).status,
      SessionStatus::kDenied);
  SessionResult nine =
      store.identify(query("192.0.2.1", basic(std::string("sbx-9:") + kSecretThree)), now);
  ASSERT_EQ(nine.status, SessionStatus::kIdentified);
  EXPECT_EQ(nine.session->environment, "data");
  EXPECT_EQ(
      store.identify(query("192.0.2.1", basic(dynamic.id + ":" + dynamic.proxy_credential)), now)
          .status,
      SessionStatus::kIdentified);
  // Not required and no credential: anonymous.
  EXPECT_EQ(store.identify(query("192.0.2.1", ""), now).status, SessionStatus::kAnonymous);
}

TEST(SessionStore, AddWithChosenIdAndDetails) {
  SessionStore store({});
  NewSession s;
  s.id = store.newId();
  ASSERT_EQ(s.id.rfind("dyn-", 0), 0u);
  EXPECT_EQ(s.id.size(), 4u + 24u);
  s.environment = "session:" + s.id;
  s.base_environment = "web-dev";
  s.domains = {"**.example.dev"};
  s.labels = {"team=web"};
  s.clients = {"192.0.2.0/24"};
  AddedSession added = store.add(s);
  ASSERT_TRUE(added.ok) << added.error;
  EXPECT_EQ(added.id, s.id);
  std::optional<SessionView> v = store.get(s.id);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->info->environment, "session:" + s.id);
  EXPECT_EQ(v->base_environment, "web-dev");
  EXPECT_EQ(v->domains, std::vector<std::string>{"**.example.dev"});
  EXPECT_EQ(v->info->labels, std::vector<std::string>{"team=web"});
  EXPECT_TRUE(v->dynamic);
  // The same id again is refused, and the first session is untouched.
  AddedSession again = store.add(s);
  EXPECT_FALSE(again.ok);
  EXPECT_TRUE(again.proxy_credential.empty());
  EXPECT_EQ(store
                .identify(query("192.0.2.7", basic(s.id + ":" + added.proxy_credential)),
                          system_clock::now())
                .status,
            SessionStatus::kIdentified);
  NewSession bad;
  bad.clients = {"not-a-cidr"};
  EXPECT_FALSE(store.add(bad).ok);
}

TEST(SessionStore, UpdateChangesOnlyWhatIsGiven) {
  SessionStore store(staticSessions());
  AddedSession added = store.add(sessionInfo("web-dev", {"a"}));
  ASSERT_TRUE(added.ok);
  SessionPatch patch;
  patch.environment = "data";
  patch.base_environment = "data";
  EXPECT_EQ(store.update(added.id, patch), "");
  std::optional<SessionView> v = store.get(added.id);
  EXPECT_EQ(v->info->environment, "data");
  EXPECT_EQ(v->info->labels, std::vector<std::string>{"a"});
  const std::string auth = basic(added.id + ":" + added.proxy_credential);
  // The credential survives the change.
  SessionResult r = store.identify(query("192.0.2.1", auth), system_clock::now());
  ASSERT_EQ(r.status, SessionStatus::kIdentified);
  EXPECT_EQ(r.session->environment, "data");
  // Expire it now: refused from the next request on.
  SessionPatch expire;
  expire.expires = system_clock::now() - std::chrono::seconds(1);
  EXPECT_EQ(store.update(added.id, expire), "");
  EXPECT_EQ(store.identify(query("192.0.2.1", auth), system_clock::now()).status,
            SessionStatus::kExpired);
  EXPECT_NE(store.update("sbx-1", patch), "");  // static
  EXPECT_NE(store.update("nope", patch), "");
  SessionPatch bad;
  bad.clients = std::vector<std::string>{"300.0.0.1/32"};
  EXPECT_NE(store.update(added.id, bad), "");
}

TEST(SessionStore, PurgeExpiredRemovesOnlyOldDynamicSessions) {
  SessionStore store(staticSessions());
  const auto now = system_clock::now();
  AddedSession old_one = store.add(sessionInfo("web-dev", {}, now - std::chrono::hours(2)));
  AddedSession recent = store.add(sessionInfo("web-dev", {}, now - std::chrono::seconds(5)));
  AddedSession live = store.add(sessionInfo("web-dev", {}, now + std::chrono::hours(1)));
  ASSERT_TRUE(old_one.ok && recent.ok && live.ok);
  const size_t statics = staticSessions().size();
  EXPECT_EQ(store.activeCount(now), statics + 1);
  EXPECT_EQ(store.purgeExpired(now - std::chrono::hours(1)), std::vector<std::string>{old_one.id});
  EXPECT_FALSE(store.get(old_one.id).has_value());
  EXPECT_TRUE(store.get(recent.id).has_value());  // still named as expired for a while
  EXPECT_EQ(store.list().size(), statics + 2);
}

TEST(SessionStore, Expiry) {
  SessionStore store(staticSessions());
  const system_clock::time_point t0 = system_clock::now();
  conn::SessionInfo info = sessionInfo("web-dev", {"ci"}, t0 + std::chrono::seconds(60));
  AddedSession by_credential = store.add(info);
  AddedSession by_address = store.add(info, {"192.0.2.10/32"});
  ASSERT_TRUE(by_credential.ok && by_address.ok);
  const std::string auth = basic(by_credential.id + ":" + by_credential.proxy_credential);

  SessionResult before = store.identify(query("192.0.2.1", auth), t0 + std::chrono::seconds(59));
  EXPECT_EQ(before.status, SessionStatus::kIdentified);
  SessionResult at = store.identify(query("192.0.2.1", auth), t0 + std::chrono::seconds(60));
  EXPECT_EQ(at.status, SessionStatus::kExpired);
  ASSERT_NE(at.session, nullptr);
  EXPECT_EQ(at.session->id, by_credential.id);
  EXPECT_EQ(at.reason.find(by_credential.proxy_credential), std::string::npos);

  EXPECT_EQ(store.identify(query("192.0.2.10", ""), t0).status, SessionStatus::kIdentified);
  EXPECT_EQ(store.identify(query("192.0.2.10", ""), t0 + std::chrono::hours(1)).status,
            SessionStatus::kExpired);

  // A live session reusing the address of an expired one is not shadowed by it.
  AddedSession successor = store.add(sessionInfo("data", {}), {"192.0.2.10/32"});
  ASSERT_TRUE(successor.ok);
  SessionResult r = store.identify(query("192.0.2.10", ""), t0 + std::chrono::hours(1));
  EXPECT_EQ(r.status, SessionStatus::kIdentified);
  ASSERT_NE(r.session, nullptr);
  EXPECT_EQ(r.session->id, successor.id);
}

class FakeClock {
 public:
  std::chrono::steady_clock::time_point now() const { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
};

TEST(SessionStore, ThrottlesFailuresPerClientAndRecovers) {
  FakeClock clock;
  SessionStore::Options options;
  options.failure_burst = 10;
  options.failure_refill_per_second = 1;
  options.clock = [&clock] { return clock.now(); };
  SessionStore store(staticSessions(), std::nullopt, options);
  const system_clock::time_point now = system_clock::now();
  const std::string good = basic(std::string("sbx-1:") + kSecretOne);
  const std::string bad = basic("sbx-1:guess");

  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kDenied);
  }
  // Out of budget: refused before the credential is checked, even a correct one.
  SessionResult throttled = store.identify(query("192.0.2.1", good), now);
  EXPECT_EQ(throttled.status, SessionStatus::kThrottled);
  EXPECT_EQ(throttled.session, nullptr);
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kThrottled);
  // Other clients are unaffected, and identification by address is not throttled.
  EXPECT_EQ(store.identify(query("192.0.2.2", good), now).status, SessionStatus::kIdentified);
  EXPECT_EQ(store.identify(query("10.0.0.9", ""), now).status, SessionStatus::kIdentified);

  // One second refills one attempt.
  clock.advance(std::chrono::milliseconds(999));
  EXPECT_EQ(store.identify(query("192.0.2.1", good), now).status, SessionStatus::kThrottled);
  clock.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(store.identify(query("192.0.2.1", good), now).status, SessionStatus::kIdentified);
  // A success spends nothing: one second more makes two attempts.
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kThrottled);

  // A long pause refills the whole burst, and no more.
  clock.advance(std::chrono::hours(1));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kDenied);
  }
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kThrottled);
}

TEST(SessionStore, ThrottlesIpv6PerSlash64) {
  FakeClock clock;
  SessionStore::Options options;
  options.failure_burst = 3;
  options.clock = [&clock] { return clock.now(); };
  SessionStore store(staticSessions(), std::nullopt, options);
  const system_clock::time_point now = system_clock::now();
  const std::string bad = basic("sbx-1:guess");
  EXPECT_EQ(store.identify(query("2001:db8:5::1", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("2001:db8:5::2", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("2001:db8:5::3", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("2001:db8:5::4", bad), now).status, SessionStatus::kThrottled);
  EXPECT_EQ(store.identify(query("2001:db8:6::1", bad), now).status, SessionStatus::kDenied);
}

TEST(SessionStore, TrackedClientTableIsBounded) {
  FakeClock clock;
  SessionStore::Options options;
  options.max_tracked_clients = 2;
  options.clock = [&clock] { return clock.now(); };
  SessionStore store(staticSessions(), std::nullopt, options);
  const system_clock::time_point now = system_clock::now();
  const std::string bad = basic("sbx-1:guess");
  EXPECT_EQ(store.identify(query("192.0.2.1", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("192.0.2.2", bad), now).status, SessionStatus::kDenied);
  // Table full: a newcomer gets a single attempt, not a fresh burst.
  EXPECT_EQ(store.identify(query("192.0.2.3", bad), now).status, SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("192.0.2.3", bad), now).status, SessionStatus::kThrottled);
}

TEST(SessionStore, DynamicAddAndRemove) {
  SessionStore store(staticSessions());
  const system_clock::time_point now = system_clock::now();
  AddedSession a = store.add(sessionInfo("web-dev", {"team-a"}));
  AddedSession b = store.add(sessionInfo("data", {}), {"198.51.100.0/24"});
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_NE(a.id, "ignored");
  EXPECT_EQ(a.id.rfind("dyn-", 0), 0u) << a.id;
  EXPECT_NE(a.id, b.id);
  EXPECT_NE(a.proxy_credential, b.proxy_credential);
  EXPECT_EQ(a.proxy_credential.rfind(kProxyCredentialPrefix, 0), 0u);
  // 256 bits in unpadded base64url: 43 characters after the prefix.
  EXPECT_EQ(a.proxy_credential.size(), kProxyCredentialPrefix.size() + 43);
  EXPECT_EQ(a.proxy_credential.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                kProxyCredentialPrefix.size()),
            std::string::npos);

  const std::string auth = basic(a.id + ":" + a.proxy_credential);
  SessionResult r = store.identify(query("192.0.2.1", auth), now);
  ASSERT_EQ(r.status, SessionStatus::kIdentified) << r.reason;
  EXPECT_EQ(r.session->id, a.id);
  EXPECT_EQ(r.session->environment, "web-dev");
  EXPECT_EQ(r.session->labels, std::vector<std::string>{"team-a"});
  SessionResult by_address = store.identify(query("198.51.100.7", ""), now);
  ASSERT_EQ(by_address.status, SessionStatus::kIdentified);
  EXPECT_EQ(by_address.session->id, b.id);

  std::optional<SessionView> view = store.get(a.id);
  ASSERT_TRUE(view.has_value());
  EXPECT_TRUE(view->dynamic);
  EXPECT_EQ(view->info->environment, "web-dev");
  EXPECT_EQ(view->credential_sha256, hex(SessionStore::sha256(a.proxy_credential)));
  EXPECT_NE(view->credential_sha256, a.proxy_credential);
  EXPECT_EQ(view->credential_sha256.find(a.proxy_credential.substr(kProxyCredentialPrefix.size())),
            std::string::npos);
  EXPECT_EQ(store.list().size(), staticSessions().size() + 2);
  for (const SessionView& v : store.list()) {
    EXPECT_NE(v.credential_sha256, a.proxy_credential);
    EXPECT_NE(v.info->id, a.proxy_credential);
    for (const std::string& label : v.info->labels) EXPECT_NE(label, a.proxy_credential);
  }
  ASSERT_TRUE(store.get("sbx-1").has_value());
  EXPECT_FALSE(store.get("sbx-1")->dynamic);
  EXPECT_FALSE(store.get("nope").has_value());

  // A session already handed out stays valid for its holder; the store refuses from now on.
  std::shared_ptr<const conn::SessionInfo> held = r.session;
  EXPECT_TRUE(store.remove(a.id));
  EXPECT_EQ(store.identify(query("192.0.2.1", auth), now).status, SessionStatus::kDenied);
  EXPECT_EQ(held->id, a.id);
  EXPECT_FALSE(store.get(a.id).has_value());
  EXPECT_FALSE(store.remove(a.id));
  EXPECT_FALSE(store.remove("sbx-1")) << "static sessions are not removed at run time";
  EXPECT_TRUE(store.remove(b.id));
  EXPECT_EQ(store.identify(query("198.51.100.7", ""), now).status, SessionStatus::kChallenge);
}

TEST(SessionStore, AddRejectsInvalidClients) {
  SessionStore store({});
  AddedSession added = store.add(sessionInfo("web-dev", {}), {"10.0.0.1/8"});
  EXPECT_FALSE(added.ok);
  EXPECT_FALSE(added.error.empty());
  EXPECT_TRUE(added.proxy_credential.empty());
  EXPECT_TRUE(store.list().empty());
}

TEST(SessionStore, InvalidStaticEntriesFailClosed) {
  SessionConfig bad_hash = session("sbx-1", "web-dev", "", {"not-a-cidr"});
  bad_hash.credential_sha256 = "XYZ";
  SessionStore store({bad_hash});
  EXPECT_EQ(store.identify(query("192.0.2.1", basic("sbx-1:XYZ")), system_clock::now()).status,
            SessionStatus::kDenied);
  EXPECT_EQ(store.identify(query("192.0.2.1", ""), system_clock::now()).status,
            SessionStatus::kChallenge);
  EXPECT_EQ(store.get("sbx-1")->credential_sha256, "");
}

TEST(SessionStore, ConcurrentReadersAndWriter) {
  SessionStore store(staticSessions());
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  const std::string good = basic(std::string("sbx-1:") + kSecretOne);
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (store.identify(query("", good), system_clock::now()).status !=
            SessionStatus::kIdentified) {
          ++wrong;
        }
        store.list();
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    AddedSession added = store.add(sessionInfo("data", {}));
    ASSERT_TRUE(added.ok);
    EXPECT_EQ(store
                  .identify(query("", basic(added.id + ":" + added.proxy_credential)),
                            system_clock::now())
                  .status,
              SessionStatus::kIdentified);
    EXPECT_TRUE(store.remove(added.id));
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(store.list().size(), staticSessions().size());
}

}  // namespace
}  // namespace gatehouse::control
