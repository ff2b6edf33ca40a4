// The built-in SessionResolver on a real loop: never inline, exactly once, never after the handle
// is destroyed, and safe when the handle is destroyed inside the callback.
#include "control/session_resolver.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::control {
namespace {

using testing_credentials::basic;
using testing_credentials::hex;

using conn::SessionQuery;
using conn::SessionResult;
using conn::SessionStatus;

std::shared_ptr<const SessionStore> makeStore() {
  SessionConfig c;
  c.id = "sbx-1";
  c.environment = "web-dev";
  c.credential_sha256 = hex(SessionStore::sha256("secret-one"));
  c.clients = {"10.0.0.0/24"};
  return std::make_shared<const SessionStore>(std::vector<SessionConfig>{c});
}

SessionQuery query(const char* client, std::string_view authorization) {
  SessionQuery q;
  q.client = net::SocketAddress{*policy::IpAddress::parse(client), 40000};
  q.proxy_authorization = authorization;
  return q;
}

// Runs the loop for `ms`: a repeating timer stops it, so run() cannot block forever.
void runFor(event::UvDispatcher& d, int ms) {
  event::TimerPtr stop;
  int ticks = 0;
  stop = d.createTimer([&] {
    if (++ticks * 5 >= ms) {
      d.exit();
    } else {
      stop->enable(std::chrono::milliseconds(5));
    }
  });
  stop->enable(std::chrono::milliseconds(5));
  d.run();
}

TEST(StoreSessionResolver, DeliversOnceAndNeverInline) {
  event::UvDispatcher d;
  StoreSessionResolver resolver(d, makeStore());
  std::vector<SessionResult> results;
  std::string auth = basic("sbx-1:secret-one");
  net::CancelHandlePtr handle = resolver.resolve(
      query("10.0.0.5", auth), [&](const SessionResult& r) { results.push_back(r); });
  auth.assign(auth.size(), 'x');  // the query is only read during resolve()
  ASSERT_NE(handle, nullptr);
  EXPECT_TRUE(results.empty()) << "the callback ran inline";
  runFor(d, 30);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, SessionStatus::kIdentified);
  ASSERT_NE(results[0].session, nullptr);
  EXPECT_EQ(results[0].session->id, "sbx-1");
  EXPECT_EQ(results[0].session->environment, "web-dev");
  runFor(d, 20);
  EXPECT_EQ(results.size(), 1u) << "delivered more than once";
  handle.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(StoreSessionResolver, EveryOutcomeIsDelivered) {
  struct Row {
    const char* name;
    const char* client;
    std::string authorization;
    SessionStatus expected;
  };
  const std::vector<Row> rows = {
      {"credential from the bound CIDR", "10.0.0.9", basic("sbx-1:secret-one"),
       SessionStatus::kIdentified},
      {"credential from outside the bound CIDR", "192.0.2.1", basic("sbx-1:secret-one"),
       SessionStatus::kDenied},
      {"client address", "10.0.0.9", "", SessionStatus::kIdentified},
      {"wrong secret", "10.0.0.9", basic("sbx-1:nope"), SessionStatus::kDenied},
      {"nothing presented", "192.0.2.1", "", SessionStatus::kChallenge},
  };
  event::UvDispatcher d;
  StoreSessionResolver resolver(d, makeStore());
  std::vector<std::optional<SessionResult>> results(rows.size());
  std::vector<net::CancelHandlePtr> handles;
  for (size_t i = 0; i < rows.size(); ++i) {
    handles.push_back(resolver.resolve(query(rows[i].client, rows[i].authorization),
                                       [&results, i](const SessionResult& r) { results[i] = r; }));
  }
  runFor(d, 30);
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].name);
    ASSERT_TRUE(results[i].has_value());
    EXPECT_STREQ(conn::sessionStatusName(results[i]->status),
                 conn::sessionStatusName(rows[i].expected));
  }
  handles.clear();
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(StoreSessionResolver, DestroyingTheHandleCancels) {
  event::UvDispatcher d;
  StoreSessionResolver resolver(d, makeStore());
  int calls = 0;
  net::CancelHandlePtr handle =
      resolver.resolve(query("10.0.0.5", ""), [&](const SessionResult&) { ++calls; });
  handle.reset();
  runFor(d, 30);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(StoreSessionResolver, DestroyingTheHandleInsideTheCallbackIsSafe) {
  event::UvDispatcher d;
  StoreSessionResolver resolver(d, makeStore());
  int calls = 0;
  std::optional<SessionStatus> status;
  net::CancelHandlePtr handle;
  // The callback owns a captured object; it must stay alive until the callback returns even
  // though the handle holding the callback goes away inside it.
  auto witness = std::make_shared<std::string>("alive");
  handle = resolver.resolve(query("10.0.0.5", ""), [&, witness](const SessionResult& r) {
    ++calls;
    handle.reset();
    status = r.status;
    EXPECT_EQ(*witness, "alive");
  });
  runFor(d, 30);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(handle, nullptr);
  EXPECT_EQ(status, SessionStatus::kIdentified);
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(StoreSessionResolver, TheStoreSeesDynamicChanges) {
  event::UvDispatcher d;
  auto store = std::make_shared<SessionStore>(std::vector<SessionConfig>{});
  StoreSessionResolver resolver(d, store);
  conn::SessionInfo info;
  info.environment = "data";
  AddedSession added = store->add(info);
  ASSERT_TRUE(added.ok);
  const std::string auth = basic(added.id + ":" + added.proxy_credential);
  std::vector<SessionStatus> statuses;
  net::CancelHandlePtr first = resolver.resolve(
      query("192.0.2.1", auth), [&](const SessionResult& r) { statuses.push_back(r.status); });
  runFor(d, 20);
  ASSERT_TRUE(store->remove(added.id));
  net::CancelHandlePtr second = resolver.resolve(
      query("192.0.2.1", auth), [&](const SessionResult& r) { statuses.push_back(r.status); });
  runFor(d, 20);
  EXPECT_EQ(statuses,
            (std::vector<SessionStatus>{SessionStatus::kIdentified, SessionStatus::kDenied}));
  first.reset();
  second.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

}  // namespace
}  // namespace gatehouse::control
