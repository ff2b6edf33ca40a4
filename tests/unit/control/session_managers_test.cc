// The session-manager registry: built-ins by name, what each makes, and a registry a test
// fills itself (no static registration).
#include "control/session_managers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

#include "proxy/event/dispatcher.h"

namespace gatehouse::control {
namespace {

SessionConfig addressSession() {
  SessionConfig c;
  c.id = "by-address";
  c.environment = "alpha";
  c.clients = {"192.0.2.0/24"};
  return c;
}

conn::SessionQuery from(const char* ip) {
  conn::SessionQuery q;
  q.client = net::SocketAddress{*policy::IpAddress::parse(ip), 40000};
  return q;
}

TEST(SessionManagers, BuiltinsAreListedInOrderWithDescriptions) {
  const SessionManagerRegistry r = builtinSessionManagers();
  EXPECT_EQ(r.names(), (std::vector<std::string>{"builtin", "none"}));
  EXPECT_NE(r.find("builtin"), nullptr);
  EXPECT_NE(r.find("none"), nullptr);
  EXPECT_EQ(r.find("Builtin"), nullptr);  // names are exact
  EXPECT_EQ(r.find(""), nullptr);
  EXPECT_FALSE(r.description("builtin").empty());
  EXPECT_TRUE(r.description("nope").empty());
}

TEST(SessionManagers, BuiltinIdentifiesFromTheStoreAndAcceptsDynamicSessions) {
  event::UvDispatcher d;
  auto store = std::make_shared<const SessionStore>(std::vector<SessionConfig>{addressSession()});
  SessionManager m = (*builtinSessionManagers().find("builtin"))(store);
  EXPECT_TRUE(m.dynamic_sessions);
  std::unique_ptr<conn::SessionResolver> resolver = m.make_resolver(d);
  std::optional<conn::SessionResult> r = resolver->resolveNow(from("192.0.2.9"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, conn::SessionStatus::kIdentified);
  EXPECT_EQ(r->session->environment, "alpha");
  r = resolver->resolveNow(from("198.51.100.1"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, conn::SessionStatus::kChallenge);
  resolver.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(SessionManagers, NoneMakesEveryClientAnonymousAtOnceAndAsynchronously) {
  event::UvDispatcher d;
  auto store = std::make_shared<const SessionStore>(std::vector<SessionConfig>{addressSession()});
  SessionManager m = (*builtinSessionManagers().find("none"))(store);
  EXPECT_FALSE(m.dynamic_sessions);
  std::unique_ptr<conn::SessionResolver> resolver = m.make_resolver(d);
  // Even a client the store would know, and even with a credential: nobody is identified.
  conn::SessionQuery q = from("192.0.2.9");
  q.proxy_authorization = "Basic Zm9vOmJhcg==";
  std::optional<conn::SessionResult> r = resolver->resolveNow(q);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, conn::SessionStatus::kAnonymous);
  EXPECT_EQ(r->session, nullptr);
  // The asynchronous path answers the same, never inline.
  std::vector<conn::SessionStatus> got;
  net::CancelHandlePtr h =
      resolver->resolve(q, [&](conn::SessionResult result) { got.push_back(result.status); });
  EXPECT_TRUE(got.empty());
  event::TimerPtr stop = d.createTimer([&] { d.exit(); });
  stop->enable(std::chrono::milliseconds(20));
  d.run();
  EXPECT_EQ(got, std::vector<conn::SessionStatus>{conn::SessionStatus::kAnonymous});
  h.reset();
  stop.reset();
  resolver.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(SessionManagers, ARegistryIsFilledExplicitly) {
  SessionManagerRegistry r;
  EXPECT_TRUE(r.names().empty());
  int made = 0;
  r.add("custom", "a test manager", [&](std::shared_ptr<const SessionStore>) {
    ++made;
    return SessionManager{};
  });
  ASSERT_NE(r.find("custom"), nullptr);
  (*r.find("custom"))(nullptr);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(r.description("custom"), "a test manager");
}

}  // namespace
}  // namespace gatehouse::control
