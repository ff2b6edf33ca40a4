// The c-ares resolver against the fake DNS server, on a real libuv loop (BAD-INPUTS group D).
//
// Time is real: timeouts and TTLs are short, and every wait is a deadline on the loop, never a
// sleep. Every test ends with uv_loop_close() == 0 (TearDown).
#include "proxy/net/cares_resolver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/net/dns_cache.h"
#include "tests/fakes/fake_dns_server.h"

namespace gatehouse::net {
namespace {

using gatehouse::testing::DnsRcode;
using gatehouse::testing::FakeDnsAnswer;
using gatehouse::testing::FakeDnsServer;
using gatehouse::testing::kDnsTypeA;
using gatehouse::testing::kDnsTypeAaaa;
using Malformed = FakeDnsAnswer::Malformed;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::vector<std::string> texts(const std::vector<policy::IpAddress>& addresses) {
  std::vector<std::string> out;
  out.reserve(addresses.size());
  for (const auto& a : addresses) out.push_back(a.toString());
  return out;
}

std::string describe(const DnsAnswer& a) {
  std::ostringstream out;
  out << dnsStatusName(a.status) << " ttl=" << a.ttl.count() << (a.from_cache ? " cached" : "")
      << (a.from_static ? " static" : "");
  for (const auto& t : texts(a.addresses)) out << " " << t;
  return out.str();
}

long elapsedMs(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

class CaresResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = FakeDnsServer::start(&error);
    ASSERT_NE(server_, nullptr) << error;
    config_.servers = {server_->address()};
    config_.timeout_ms = 1000;
  }

  void TearDown() override {
    resolver_.reset();
    EXPECT_EQ(dispatcher_.shutdown(), 0) << "a uv handle leaked";
  }

  void makeResolver(CaresResolver::Options options = {}) {
    CaresResolver::Created created = CaresResolver::create(dispatcher_, config_, options);
    ASSERT_NE(created.resolver, nullptr) << created.error;
    resolver_ = std::move(created.resolver);
  }

  // Runs the loop until done() or `limit` has passed; returns done(). A prepare handle stops
  // the iteration before it would block in poll once done() holds (UV_RUN_ONCE alone would go on
  // to wait for the next timer after a timer callback made done() true).
  bool runUntil(const std::function<bool()>& done, milliseconds limit) {
    bool expired = false;
    event::TimerPtr guard = dispatcher_.createTimer([&] { expired = true; });
    guard->enable(limit);
    std::function<bool()> finished = [&] { return expired || done(); };
    event::UvHandle<uv_prepare_t> prepare;
    if (uv_prepare_init(dispatcher_.loop(), prepare.get()) == 0) {
      prepare.markInitialised();
      prepare->data = &finished;
      EXPECT_EQ(uv_prepare_start(prepare.get(),
                                 [](uv_prepare_t* handle) noexcept {
                                   auto* check = static_cast<std::function<bool()>*>(handle->data);
                                   if (check != nullptr && (*check)()) uv_stop(handle->loop);
                                 }),
                0);
      uv_unref(prepare.asHandle());
    }
    while (!finished()) uv_run(dispatcher_.loop(), UV_RUN_ONCE);
    return done();
  }
  void runFor(milliseconds d) {
    runUntil([] { return false; }, d);
  }

  DnsAnswer resolveAndWait(const std::string& name) {
    std::optional<DnsAnswer> answer;
    CancelHandlePtr handle = resolver_->resolve(name, [&](const DnsAnswer& a) { answer = a; });
    EXPECT_TRUE(runUntil([&] { return answer.has_value(); }, milliseconds(5000)))
        << "no answer for " << name;
    DnsAnswer none;
    none.status = DnsStatus::kCancelled;
    return answer.value_or(none);
  }

  event::UvDispatcher dispatcher_;
  std::unique_ptr<FakeDnsServer> server_;
  ResolverConfig config_;
  std::unique_ptr<CaresResolver> resolver_;
};

// ---- answers --------------------------------------------------------------------------------

TEST_F(CaresResolverTest, AAndAaaaWithTtlsIpv4First) {
  FakeDnsAnswer dual;
  dual.records = {{"2001:db8::1", 30}, {"127.0.0.2", 60}, {"2001:db8::2", 45}, {"127.0.0.3", 90}};
  server_->set("dual.test", dual);
  ASSERT_NO_FATAL_FAILURE(makeResolver());

  DnsAnswer a = resolveAndWait("dual.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  EXPECT_EQ(texts(a.addresses),
            (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "2001:db8::1", "2001:db8::2"}));
  EXPECT_EQ(a.ttl, seconds(30)) << "the smallest TTL of the addresses given";
  EXPECT_FALSE(a.from_cache);
  EXPECT_FALSE(a.from_static);
  EXPECT_EQ(server_->queryCount("dual.test", kDnsTypeA), 1U);
  EXPECT_EQ(server_->queryCount("dual.test", kDnsTypeAaaa), 1U);
}

TEST_F(CaresResolverTest, TtlIsCappedAtMaxTtl) {
  server_->set("long.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 86400));
  CaresResolver::Options options;
  options.max_ttl = seconds(300);
  ASSERT_NO_FATAL_FAILURE(makeResolver(options));
  DnsAnswer a = resolveAndWait("long.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  EXPECT_EQ(a.ttl, seconds(300));
}

TEST_F(CaresResolverTest, CnameToAnAddressIsFollowed) {
  // D8: the resolver returns the final addresses; the address guard classifies them.
  server_->set("www.allowed.test", FakeDnsAnswer::alias("edge.cdn.test"));
  server_->set("edge.cdn.test", FakeDnsAnswer::alias("origin.cdn.test"));
  server_->set("origin.cdn.test", FakeDnsAnswer::addresses({"10.0.0.5", "fd00::5"}, 60));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  DnsAnswer a = resolveAndWait("www.allowed.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  EXPECT_EQ(texts(a.addresses), (std::vector<std::string>{"10.0.0.5", "fd00::5"}));
}

TEST_F(CaresResolverTest, TwoHundredARecordsAreCappedAtMaxAddresses) {
  // D7: 3.2 KB of A records: truncated over UDP, fetched again over TCP, capped at 16.
  server_->set("many.test", FakeDnsAnswer::manyV4(200, 60));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  DnsAnswer a = resolveAndWait("many.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  ASSERT_EQ(a.addresses.size(), kMaxAddresses);
  EXPECT_EQ(a.addresses.front().toString(), "10.0.0.1");
  bool tcp = false;
  for (const auto& q : server_->queries()) tcp = tcp || (q.tcp && q.type == kDnsTypeA);
  EXPECT_TRUE(tcp) << "the truncated UDP answer is retried over TCP";
}

struct FailureRow {
  const char* name;
  FakeDnsAnswer answer;
  DnsStatus expected;
  const char* why;
};

TEST_F(CaresResolverTest, FailuresMapToStatuses) {
  const FailureRow rows[] = {
      {"nx.test", FakeDnsAnswer::error(DnsRcode::kNxDomain), DnsStatus::kNxDomain, "D3: NXDOMAIN"},
      {"servfail.test", FakeDnsAnswer::error(DnsRcode::kServFail), DnsStatus::kServFail,
       "D4: SERVFAIL"},
      {"refused.test", FakeDnsAnswer::error(DnsRcode::kRefused), DnsStatus::kServFail,
       "D4: REFUSED"},
      {"formerr.test", FakeDnsAnswer::error(DnsRcode::kFormErr), DnsStatus::kServFail,
       "FORMERR is a server problem"},
      {"notimp.test", FakeDnsAnswer::error(DnsRcode::kNotImp), DnsStatus::kServFail, "NOTIMP"},
      {"empty.test", FakeDnsAnswer::addresses({}), DnsStatus::kNoData, "name without records"},
      {"v6only.test", FakeDnsAnswer::addresses({"2001:db8::7"}), DnsStatus::kOk,
       "nodata for A is fine when AAAA answers"},
      {"truncated.test", FakeDnsAnswer::addresses({"127.0.0.2"}).withTruncation(),
       DnsStatus::kServFail, "D7: TC over UDP and no answer over TCP"},
      {"short.test", FakeDnsAnswer().withMalformed(Malformed::kShortAnswer), DnsStatus::kServFail,
       "D7: answer count larger than the packet"},
      {"ptrloop.test", FakeDnsAnswer().withMalformed(Malformed::kPointerLoop), DnsStatus::kServFail,
       "D7: compression pointer loop"},
      {"hugename.test", FakeDnsAnswer().withMalformed(Malformed::kOversizedName),
       DnsStatus::kServFail, "D7: 320-octet owner name"},
      {"loop-a.test", FakeDnsAnswer::alias("loop-b.test"), DnsStatus::kServFail,
       "D7: CNAME loop loop-a -> loop-b -> loop-a"},
      {"self.test", FakeDnsAnswer::alias("self.test"), DnsStatus::kServFail, "D7: CNAME to itself"},
      {"dangling.test", FakeDnsAnswer::alias("nothing-here.test"), DnsStatus::kNoData,
       "CNAME to a name without records"},
  };
  server_->set("loop-b.test", FakeDnsAnswer::alias("loop-a.test"));
  server_->set("nothing-here.test", FakeDnsAnswer::addresses({}));
  for (const auto& row : rows) server_->set(row.name, row.answer);
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  for (const auto& row : rows) {
    auto start = Clock::now();
    DnsAnswer a = resolveAndWait(row.name);
    EXPECT_EQ(dnsStatusName(a.status), std::string(dnsStatusName(row.expected)))
        << row.name << ": " << row.why << " (got " << describe(a) << ")";
    EXPECT_LT(elapsedMs(start), 900) << row.name << " must not wait for the timeout";
    if (row.expected != DnsStatus::kOk) {
      EXPECT_TRUE(a.addresses.empty()) << row.name;
    }
  }
  size_t tcp = 0;
  for (const auto& q : server_->queries()) tcp += q.tcp && q.name == "truncated.test" ? 1 : 0;
  EXPECT_GE(tcp, 1U) << "c-ares retries a truncated answer over TCP before giving up";
}

TEST_F(CaresResolverTest, SilentServerTimesOutWithinTimeout) {
  // D5: no answer at all; the callers get kTimeout at timeout_ms, not later.
  server_->set("silent.test", FakeDnsAnswer::silence());
  config_.timeout_ms = 300;
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  auto start = Clock::now();
  DnsAnswer a = resolveAndWait("silent.test");
  long took = elapsedMs(start);
  EXPECT_EQ(a.status, DnsStatus::kTimeout) << describe(a);
  EXPECT_GE(took, 250);
  EXPECT_LE(took, 300 + 150);
  EXPECT_GE(server_->queryCount("silent.test", kDnsTypeA), 1U);
  EXPECT_EQ(resolver_->stats().timeouts, 1U);
  EXPECT_EQ(resolver_->cacheSize(), 0U) << "timeouts are never cached";
}

TEST_F(CaresResolverTest, SilentAaaaStillDeliversTheAAnswerAtTheDeadline) {
  server_->set("partial.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  server_->setForType("partial.test", kDnsTypeAaaa, FakeDnsAnswer::silence());
  config_.timeout_ms = 300;
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  auto start = Clock::now();
  DnsAnswer a = resolveAndWait("partial.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  EXPECT_EQ(texts(a.addresses), (std::vector<std::string>{"127.0.0.2"}));
  EXPECT_LE(elapsedMs(start), 300 + 150);
  EXPECT_EQ(resolver_->cacheSize(), 0U) << "a partial answer is not remembered";
  ASSERT_TRUE(runUntil([&] { return resolver_->inflight() == 0; }, milliseconds(1000)))
      << "the c-ares lookup ends by itself soon after";
}

TEST_F(CaresResolverTest, NextServerAnswersWhenTheFirstIsSilent) {
  std::string error;
  std::unique_ptr<FakeDnsServer> second = FakeDnsServer::start(&error);
  ASSERT_NE(second, nullptr) << error;
  server_->setDefault(FakeDnsAnswer::silence());
  second->set("failover.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  config_.servers = {server_->address(), second->address()};
  config_.timeout_ms = 600;  // 2 servers x (1 + 2) per-try timeouts of 100 ms
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  auto start = Clock::now();
  DnsAnswer a = resolveAndWait("failover.test");
  EXPECT_EQ(a.status, DnsStatus::kOk) << describe(a);
  EXPECT_LT(elapsedMs(start), 400) << "the second server is asked after one per-try timeout";
  EXPECT_EQ(server_->queryCount("failover.test", kDnsTypeA), 1U);
}

// ---- static answers -------------------------------------------------------------------------

TEST_F(CaresResolverTest, StaticAnswersNeverQueryTheServer) {
  config_.static_hosts.push_back(StaticHost{"origin.test", {"127.0.0.1", "::1"}, {}});
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  bool returned = false;
  std::optional<DnsAnswer> answer;
  bool inline_call = false;
  CancelHandlePtr handle = resolver_->resolve("origin.test", [&](const DnsAnswer& a) {
    inline_call = !returned;
    answer = a;
  });
  returned = true;
  ASSERT_TRUE(runUntil([&] { return answer.has_value(); }, milliseconds(1000)));
  EXPECT_FALSE(inline_call) << "callbacks never run inside resolve()";
  EXPECT_EQ(answer->status, DnsStatus::kOk);
  EXPECT_TRUE(answer->from_static);
  EXPECT_EQ(answer->ttl, seconds(0));
  EXPECT_EQ(texts(answer->addresses), (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(server_->queryCount(), 0U) << "INV-NODNS: a static name is never asked";
}

TEST_F(CaresResolverTest, FactoryRejectsBadConfiguration) {
  ResolverConfig bad_static = config_;
  bad_static.static_hosts.push_back(StaticHost{"x.test", {"127.1"}, {}});
  CaresResolver::Created c1 = CaresResolver::create(dispatcher_, bad_static);
  EXPECT_EQ(c1.resolver, nullptr);
  EXPECT_NE(c1.error.find("127.1"), std::string::npos) << c1.error;

  ResolverConfig no_address = config_;
  no_address.static_hosts.push_back(StaticHost{"x.test", {}, {}});
  EXPECT_EQ(CaresResolver::create(dispatcher_, no_address).resolver, nullptr);

  struct ServerRow {
    const char* server;
    bool ok;
    const char* why;
  };
  const ServerRow rows[] = {
      {"127.0.0.1:53", true, "IPv4 with port"},
      {"[::1]:5353", true, "bracketed IPv6 with port"},
      {"dns.example:53", false, "a name: resolving the resolver is circular"},
      {"127.0.0.1", false, "no port"},
      {"127.0.0.1:99999", false, "port out of range (c-ares would accept it)"},
      {"127.0.0.1:0", false, "port 0"},
      {"::1:53", false, "IPv6 without brackets"},
      {"127.1:53", false, "non-canonical IPv4"},
  };
  for (const ServerRow& row : rows) {
    ResolverConfig config = config_;
    config.servers = {row.server};
    CaresResolver::Created c = CaresResolver::create(dispatcher_, config);
    EXPECT_EQ(c.resolver != nullptr, row.ok) << row.server << ": " << row.why << " " << c.error;
    if (!row.ok) {
      EXPECT_NE(c.error.find(row.server), std::string::npos) << c.error;
    }
  }
}

TEST_F(CaresResolverTest, ResolvConfIsUsedWhenNoServerIsConfigured) {
  config_.servers.clear();
  config_.static_hosts.push_back(StaticHost{"origin.test", {"127.0.0.1"}, {}});
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  EXPECT_EQ(resolveAndWait("origin.test").status, DnsStatus::kOk);
}

// ---- cache ----------------------------------------------------------------------------------

TEST_F(CaresResolverTest, AnswerIsReusedForItsTtlAndAskedAgainAfter) {
  // D9: a TTL-1 answer is reused during that second, never after.
  server_->set("ttl1.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 1));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  auto first_at = Clock::now();
  DnsAnswer first = resolveAndWait("ttl1.test");
  ASSERT_EQ(first.status, DnsStatus::kOk) << describe(first);
  EXPECT_EQ(first.ttl, seconds(1));

  DnsAnswer second = resolveAndWait("ttl1.test");
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(texts(second.addresses), texts(first.addresses));
  EXPECT_EQ(server_->queryCount("ttl1.test", kDnsTypeA), 1U);

  runFor(milliseconds(1050) - std::chrono::duration_cast<milliseconds>(Clock::now() - first_at));
  DnsAnswer third = resolveAndWait("ttl1.test");
  EXPECT_EQ(third.status, DnsStatus::kOk);
  EXPECT_FALSE(third.from_cache) << "expired answers are never served";
  EXPECT_EQ(server_->queryCount("ttl1.test", kDnsTypeA), 2U);
}

TEST_F(CaresResolverTest, TtlZeroIsNeverCachedSoRebindingSeesEachAnswer) {
  // D2: each resolve asks again; nothing hands out a stale 127.0.0.2 for the dial.
  server_->setSequence("rebind.test", {FakeDnsAnswer::addresses({"127.0.0.2"}, 0),
                                       FakeDnsAnswer::addresses({"127.0.0.3"}, 0)});
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  DnsAnswer first = resolveAndWait("rebind.test");
  DnsAnswer second = resolveAndWait("rebind.test");
  EXPECT_EQ(texts(first.addresses), (std::vector<std::string>{"127.0.0.2"}));
  EXPECT_EQ(texts(second.addresses), (std::vector<std::string>{"127.0.0.3"}));
  EXPECT_FALSE(second.from_cache);
  EXPECT_EQ(first.ttl, seconds(0));
  EXPECT_EQ(server_->queryCount("rebind.test", kDnsTypeA), 2U);
  EXPECT_EQ(resolver_->cacheSize(), 0U);
}

TEST_F(CaresResolverTest, NegativeAnswersAreCachedForNegativeTtl) {
  server_->set("nx.test", FakeDnsAnswer::error(DnsRcode::kNxDomain));
  server_->set("empty.test", FakeDnsAnswer::addresses({}));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  EXPECT_EQ(resolveAndWait("nx.test").status, DnsStatus::kNxDomain);
  DnsAnswer again = resolveAndWait("nx.test");
  EXPECT_EQ(again.status, DnsStatus::kNxDomain);
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(again.ttl, seconds(4)) << "5 s negative TTL, a moment later";
  EXPECT_EQ(server_->queryCount("nx.test"), 2U) << "one A and one AAAA query, once";

  EXPECT_EQ(resolveAndWait("empty.test").status, DnsStatus::kNoData);
  EXPECT_TRUE(resolveAndWait("empty.test").from_cache);
  EXPECT_EQ(server_->queryCount("empty.test"), 2U);
}

TEST_F(CaresResolverTest, NegativeTtlZeroDisablesNegativeCaching) {
  server_->set("nx.test", FakeDnsAnswer::error(DnsRcode::kNxDomain));
  CaresResolver::Options options;
  options.negative_ttl = seconds(0);
  ASSERT_NO_FATAL_FAILURE(makeResolver(options));
  resolveAndWait("nx.test");
  EXPECT_FALSE(resolveAndWait("nx.test").from_cache);
  EXPECT_EQ(server_->queryCount("nx.test", kDnsTypeA), 2U);
}

TEST_F(CaresResolverTest, ServfailIsNeverCached) {
  server_->set("bad.test", FakeDnsAnswer::error(DnsRcode::kServFail));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  EXPECT_EQ(resolveAndWait("bad.test").status, DnsStatus::kServFail);
  size_t asked = server_->queryCount("bad.test", kDnsTypeA);
  EXPECT_EQ(resolveAndWait("bad.test").status, DnsStatus::kServFail);
  EXPECT_GT(server_->queryCount("bad.test", kDnsTypeA), asked);
  EXPECT_EQ(resolver_->cacheSize(), 0U);
}

TEST_F(CaresResolverTest, CacheIsBoundedByMaxEntries) {
  server_->setDefault(FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  CaresResolver::Options options;
  options.max_entries = 3;
  ASSERT_NO_FATAL_FAILURE(makeResolver(options));
  for (const char* name : {"a.test", "b.test", "c.test", "d.test"}) resolveAndWait(name);
  EXPECT_EQ(resolver_->cacheSize(), 3U);
  EXPECT_FALSE(resolveAndWait("a.test").from_cache) << "the oldest entry was evicted";
  EXPECT_TRUE(resolveAndWait("d.test").from_cache);
}

// ---- concurrency ----------------------------------------------------------------------------

TEST_F(CaresResolverTest, ConcurrentRequestsForOneNameShareOneQuery) {
  server_->set("popular.test",
               FakeDnsAnswer::addresses({"127.0.0.2"}, 0).withDelay(milliseconds(50)));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  std::vector<CancelHandlePtr> handles;
  handles.reserve(10);
  std::vector<DnsAnswer> answers;
  for (int i = 0; i < 10; ++i) {
    handles.push_back(
        resolver_->resolve("popular.test", [&](const DnsAnswer& a) { answers.push_back(a); }));
  }
  ASSERT_TRUE(runUntil([&] { return answers.size() == 10; }, milliseconds(2000)));
  for (const auto& a : answers) {
    EXPECT_EQ(texts(a.addresses), (std::vector<std::string>{"127.0.0.2"})) << describe(a);
  }
  EXPECT_EQ(server_->queryCount("popular.test", kDnsTypeA), 1U);
  EXPECT_EQ(server_->queryCount("popular.test", kDnsTypeAaaa), 1U);
  EXPECT_EQ(resolver_->stats().coalesced, 9U);
  EXPECT_EQ(resolver_->stats().upstream_queries, 1U);
}

TEST_F(CaresResolverTest, MaxInflightFailsNewNamesFastAndNeverQueues) {
  server_->setDefault(FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(milliseconds(300)));
  CaresResolver::Options options;
  options.max_inflight = 2;
  ASSERT_NO_FATAL_FAILURE(makeResolver(options));
  std::optional<DnsAnswer> a;
  std::optional<DnsAnswer> a2;
  std::optional<DnsAnswer> b;
  std::optional<DnsAnswer> c;
  auto start = Clock::now();
  CancelHandlePtr ha = resolver_->resolve("a.test", [&](const DnsAnswer& x) { a = x; });
  CancelHandlePtr hb = resolver_->resolve("b.test", [&](const DnsAnswer& x) { b = x; });
  CancelHandlePtr hc = resolver_->resolve("c.test", [&](const DnsAnswer& x) { c = x; });
  CancelHandlePtr ha2 = resolver_->resolve("a.test", [&](const DnsAnswer& x) { a2 = x; });
  ASSERT_TRUE(runUntil([&] { return c.has_value(); }, milliseconds(1000)));
  EXPECT_LT(elapsedMs(start), 100) << "the overflow is answered at once";
  EXPECT_EQ(c->status, DnsStatus::kServFail);
  EXPECT_TRUE(c->overloaded) << "callers can tell overload from a real SERVFAIL";
  EXPECT_EQ(resolver_->stats().overloaded, 1U);
  EXPECT_FALSE(a.has_value());
  ASSERT_TRUE(runUntil([&] { return a && a2 && b; }, milliseconds(2000)));
  EXPECT_EQ(a->status, DnsStatus::kOk);
  EXPECT_EQ(a2->status, DnsStatus::kOk) << "a name already in flight still joins";
  EXPECT_EQ(b->status, DnsStatus::kOk);
  EXPECT_EQ(server_->queryCount("c.test"), 0U);
  EXPECT_EQ(resolver_->inflight(), 0U);
  EXPECT_EQ(resolveAndWait("c.test").status, DnsStatus::kOk) << "room again";
}

TEST_F(CaresResolverTest, SlowNamesDoNotStarveAFastOne) {
  // D6: 50 slow names (plus 50 requests for one more slow name) in flight; a fast name is still
  // answered promptly. (The case is 10 s; 1.5 s with a 3 s timeout shows the same.)
  server_->setDefault(FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(milliseconds(1500)));
  server_->set("fast.test", FakeDnsAnswer::addresses({"127.0.0.9"}, 60));
  config_.timeout_ms = 3000;
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  std::vector<CancelHandlePtr> handles;
  int slow_ok = 0;
  int slow_done = 0;
  auto on_slow = [&](const DnsAnswer& x) {
    ++slow_done;
    if (x.status == DnsStatus::kOk) ++slow_ok;
  };
  for (int i = 0; i < 50; ++i) {
    handles.push_back(resolver_->resolve("slow-" + std::to_string(i) + ".test", on_slow));
    handles.push_back(resolver_->resolve("slow.test", on_slow));
  }
  ASSERT_TRUE(server_->waitForQueries(102, milliseconds(2000)));
  auto start = Clock::now();
  DnsAnswer fast = resolveAndWait("fast.test");
  EXPECT_EQ(fast.status, DnsStatus::kOk);
  EXPECT_LT(elapsedMs(start), 200);
  EXPECT_EQ(slow_done, 0);
  ASSERT_TRUE(runUntil([&] { return slow_done == 100; }, milliseconds(3500)));
  EXPECT_EQ(slow_ok, 100);
}

// ---- cancellation and destruction -----------------------------------------------------------

TEST_F(CaresResolverTest, DestroyingTheHandleCancelsTheCallback) {
  server_->set("slow.test",
               FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(milliseconds(50)));
  config_.static_hosts.push_back(StaticHost{"static.test", {"127.0.0.1"}, {}});
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  int called = 0;
  CancelHandlePtr upstream = resolver_->resolve("slow.test", [&](const DnsAnswer&) { ++called; });
  CancelHandlePtr fixed = resolver_->resolve("static.test", [&](const DnsAnswer&) { ++called; });
  upstream.reset();
  fixed.reset();
  ASSERT_TRUE(runUntil([&] { return resolver_->inflight() == 0; }, milliseconds(2000)));
  runFor(milliseconds(20));
  EXPECT_EQ(called, 0);
  // The query still finished and filled the cache; cancelling a cache hit works the same way.
  CancelHandlePtr cached = resolver_->resolve("slow.test", [&](const DnsAnswer&) { ++called; });
  cached.reset();
  runFor(milliseconds(20));
  EXPECT_EQ(called, 0);
  EXPECT_EQ(resolver_->stats().cache_hits, 1U);
}

TEST_F(CaresResolverTest, CancellingOneWaiterLeavesTheOthers) {
  server_->set("shared.test",
               FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(milliseconds(50)));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  int first = 0;
  int second = 0;
  CancelHandlePtr h1 = resolver_->resolve("shared.test", [&](const DnsAnswer&) { ++first; });
  CancelHandlePtr h2 = resolver_->resolve("shared.test", [&](const DnsAnswer&) { ++second; });
  h1.reset();
  ASSERT_TRUE(runUntil([&] { return second == 1; }, milliseconds(2000)));
  EXPECT_EQ(first, 0);
}

TEST_F(CaresResolverTest, DestroyingTheResolverWithQueriesInFlight) {
  server_->set("silent.test", FakeDnsAnswer::silence());
  server_->set("slow.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(seconds(2)));
  server_->set("many.test", FakeDnsAnswer::manyV4(200, 60).withDelay(milliseconds(200)));
  server_->set("cached.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  config_.static_hosts.push_back(StaticHost{"static.test", {"127.0.0.1"}, {}});
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  ASSERT_EQ(resolveAndWait("cached.test").status, DnsStatus::kOk);
  int called = 0;
  std::vector<CancelHandlePtr> handles;
  for (const char* name : {"silent.test", "slow.test", "many.test"}) {
    handles.push_back(resolver_->resolve(name, [&](const DnsAnswer&) { ++called; }));
  }
  // Wait until many.test has moved to TCP, so a TCP connection is open as well.
  auto tcp_asked = [&] {
    for (const auto& q : server_->queries()) {
      if (q.tcp && q.name == "many.test") return true;
    }
    return false;
  };
  ASSERT_TRUE(runUntil(tcp_asked, milliseconds(2000)));
  // Answers known but not delivered yet: they must not be delivered either.
  for (const char* name : {"static.test", "cached.test"}) {
    handles.push_back(resolver_->resolve(name, [&](const DnsAnswer&) { ++called; }));
  }
  EXPECT_EQ(resolver_->inflight(), 3U);
  resolver_.reset();
  runFor(milliseconds(100));
  EXPECT_EQ(called, 0);
  handles.clear();  // handles may outlive the resolver
}

TEST_F(CaresResolverTest, DestroyingTheResolverInsideACallback) {
  config_.static_hosts.push_back(StaticHost{"static.test", {"127.0.0.1"}, {}});
  server_->set("slow.test",
               FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(milliseconds(30)));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  int called = 0;
  CancelHandlePtr h1 = resolver_->resolve("static.test", [&](const DnsAnswer&) {
    ++called;
    resolver_.reset();
  });
  CancelHandlePtr h2 = resolver_->resolve("static.test", [&](const DnsAnswer&) { ++called; });
  CancelHandlePtr h3 = resolver_->resolve("slow.test", [&](const DnsAnswer&) { ++called; });
  ASSERT_TRUE(runUntil([&] { return called > 0; }, milliseconds(1000)));
  runFor(milliseconds(100));
  EXPECT_EQ(called, 1);
  EXPECT_EQ(resolver_, nullptr);
}

TEST_F(CaresResolverTest, ResolvingAgainFromACallback) {
  server_->set("again.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  ASSERT_NO_FATAL_FAILURE(makeResolver());
  std::optional<DnsAnswer> inner;
  CancelHandlePtr inner_handle;
  CancelHandlePtr outer = resolver_->resolve("again.test", [&](const DnsAnswer&) {
    inner_handle = resolver_->resolve("again.test", [&](const DnsAnswer& a) { inner = a; });
  });
  ASSERT_TRUE(runUntil([&] { return inner.has_value(); }, milliseconds(2000)));
  EXPECT_TRUE(inner->from_cache);
}

// ---- DnsCache on its own (synthetic clock) --------------------------------------------------

DnsAnswer okAnswer(const char* address, int ttl_s) {
  DnsAnswer a;
  a.status = DnsStatus::kOk;
  a.addresses = {policy::IpAddress::parse(address).value()};
  a.ttl = seconds(ttl_s);
  return a;
}

TEST(DnsCache, ExpiresExactlyAtTtl) {
  DnsCache cache(10);
  event::MonotonicTime t0{};
  cache.insert("a.test", okAnswer("192.0.2.1", 10), t0);
  auto hit = cache.lookup("a.test", t0 + milliseconds(9999));
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(hit->from_cache);
  EXPECT_EQ(hit->ttl, seconds(0)) << "whole seconds left, rounded down";
  EXPECT_FALSE(cache.lookup("a.test", t0 + seconds(10)).has_value());
  EXPECT_EQ(cache.size(), 0U) << "an expired entry is dropped";
}

TEST(DnsCache, WhatIsCacheable) {
  struct Row {
    DnsStatus status;
    int ttl;
    bool cacheable;
    const char* why;
  };
  const Row rows[] = {
      {DnsStatus::kOk, 60, true, "positive answer"},
      {DnsStatus::kOk, 0, false, "TTL 0: rebinding protection"},
      {DnsStatus::kNxDomain, 5, true, "negative answer"},
      {DnsStatus::kNoData, 5, true, "negative answer"},
      {DnsStatus::kNxDomain, 0, false, "negative caching disabled"},
      {DnsStatus::kServFail, 60, false, "servfail is never cached"},
      {DnsStatus::kTimeout, 60, false, "timeout is never cached"},
  };
  for (const Row& row : rows) {
    DnsAnswer a;
    a.status = row.status;
    a.ttl = seconds(row.ttl);
    EXPECT_EQ(DnsCache::cacheable(a), row.cacheable) << row.why;
  }
  DnsAnswer fixed = okAnswer("192.0.2.1", 60);
  fixed.from_static = true;
  EXPECT_FALSE(DnsCache::cacheable(fixed)) << "static answers are not cache entries";
}

TEST(DnsCache, EvictsLeastRecentlyUsed) {
  DnsCache cache(2);
  event::MonotonicTime t0{};
  cache.insert("a.test", okAnswer("192.0.2.1", 60), t0);
  cache.insert("b.test", okAnswer("192.0.2.2", 60), t0);
  ASSERT_TRUE(cache.lookup("a.test", t0).has_value());  // a is now the most recent
  cache.insert("c.test", okAnswer("192.0.2.3", 60), t0);
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_TRUE(cache.lookup("a.test", t0).has_value());
  EXPECT_FALSE(cache.lookup("b.test", t0).has_value());
  EXPECT_TRUE(cache.lookup("c.test", t0).has_value());
}

TEST(DnsCache, UncacheableAnswerReplacesAnOlderEntry) {
  DnsCache cache(10);
  event::MonotonicTime t0{};
  cache.insert("a.test", okAnswer("192.0.2.1", 60), t0);
  cache.insert("a.test", okAnswer("192.0.2.2", 0), t0 + seconds(1));
  EXPECT_FALSE(cache.lookup("a.test", t0 + seconds(1)).has_value());
}

TEST(DnsCache, ZeroEntriesMeansNoCache) {
  DnsCache cache(0);
  cache.insert("a.test", okAnswer("192.0.2.1", 60), event::MonotonicTime{});
  EXPECT_EQ(cache.size(), 0U);
}

}  // namespace
}  // namespace gatehouse::net
