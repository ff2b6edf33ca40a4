// DNS through the real proxy against the fake DNS server (SPEC §3 steps 3 and 6; BAD-INPUTS D1-D8,
// INV-NODNS): names are checked before any query, resolver failures map to 502/504, and only
// checked addresses are dialed.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace gatehouse::testing {
namespace {

using Dns = ProxyTest;
using Malformed = FakeDnsAnswer::Malformed;

// D1: names that fail the name policy (not listed, denied over a wildcard allow, a port not
// allowed) are refused without a single DNS query, for GET and for CONNECT.
TEST_F(Dns, DeniedNamesAreNeverResolved) {
  config_.deny.emplace_back("*.exfil.api.test");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string p = std::to_string(origin_->port());
  const std::vector<std::pair<std::string, const char*>> rows = {
      {"s3cr3t.attacker.test:" + p, "host-not-allowed"},
      {"s3cr3t.attacker.test:443", "host-not-allowed"},
      {"data.exfil.api.test:" + p, "host-denied"},
      {"data.exfil.api.test:443", "host-denied"},
      {"dns.api.test:22", "port-not-allowed"},
  };
  for (const auto& [authority, reason] : rows) {
    for (bool connect : {false, true}) {
      SCOPED_TRACE(authority + (connect ? " CONNECT" : " GET"));
      auto r = exchange(connect ? connectRequest(authority) : getRequest(authority));
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, reason, "http_request_denied"));
    }
  }
  // A query would have been logged before anything else happened to it.
  EXPECT_EQ(dns_->queryCount(), 0u);
  EXPECT_EQ(origin_->accepts(), 0u);
}

TEST_F(Dns, AnAllowedNameIsResolvedByTheConfiguredServer) {
  dns_->set("dns.api.test", FakeDnsAnswer::addresses({kOriginIp}, 60));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto r = exchange(getRequest(at("dns.api.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
  EXPECT_EQ(r->body, kSmallBody);
  EXPECT_GE(dns_->queryCount("dns.api.test"), 1u);
}

// D3, D4, D7: resolver failures are 502 with a dns_error Proxy-Status; nothing is dialed.
TEST_F(Dns, ResolverFailuresAre502) {
  dns_->set("nx.api.test", FakeDnsAnswer::error(DnsRcode::kNxDomain));
  dns_->set("servfail.api.test", FakeDnsAnswer::error(DnsRcode::kServFail));
  dns_->set("refused.api.test", FakeDnsAnswer::error(DnsRcode::kRefused));
  dns_->set("short.api.test",
            FakeDnsAnswer::addresses({kOriginIp}).withMalformed(Malformed::kShortAnswer));
  dns_->set("ptrloop.api.test",
            FakeDnsAnswer::addresses({kOriginIp}).withMalformed(Malformed::kPointerLoop));
  dns_->set("longname.api.test",
            FakeDnsAnswer::addresses({kOriginIp}).withMalformed(Malformed::kOversizedName));
  dns_->set("loop1.api.test", FakeDnsAnswer::alias("loop2.api.test"));
  dns_->set("loop2.api.test", FakeDnsAnswer::alias("loop1.api.test"));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  struct Row {
    const char* id;
    const char* host;
    const char* reason;  // "" = any dns-* reason
  };
  const Row rows[] = {
      {"D3 NXDOMAIN", "nx.api.test", "dns-nxdomain"},
      {"D3 unknown name", "unknown.api.test", "dns-nxdomain"},
      {"D4 SERVFAIL", "servfail.api.test", ""},
      {"D4 REFUSED", "refused.api.test", ""},
      {"D7 short answer", "short.api.test", ""},
      {"D7 pointer loop", "ptrloop.api.test", ""},
      {"D7 oversized name", "longname.api.test", ""},
      {"D7 CNAME loop", "loop1.api.test", ""},
  };
  for (const Row& row : rows) {
    for (bool connect : {false, true}) {
      SCOPED_TRACE(std::string(row.id) + (connect ? " CONNECT" : " GET"));
      auto r = exchange(connect ? connectRequest(at(row.host)) : getRequest(at(row.host)));
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->status, 502) << r->head << r->body;
      const std::string reason = r->header("X-Gatehouse-Reason");
      if (*row.reason != '\0') {
        EXPECT_EQ(reason, row.reason) << r->head;
      } else {
        EXPECT_EQ(reason.rfind("dns-", 0), 0u) << r->head;
      }
      EXPECT_NE(r->header("Proxy-Status").find("error=dns_error"), std::string::npos) << r->head;
    }
    EXPECT_GE(dns_->queryCount(row.host), 1u) << row.host;
  }
  EXPECT_EQ(origin_->accepts(), 0u);
}

// D5: a silent server: 504 dns_timeout within the configured timeout (500 ms), not later.
TEST_F(Dns, ASilentServerIs504WithinTheTimeout) {
  dns_->set("silent.api.test", FakeDnsAnswer::silence());
  config_.dns_timeout_ms = 500;
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const auto started = Clock::now();
  auto r = exchange(getRequest(at("silent.api.test")));
  const long elapsed = elapsedMs(started);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 504) << r->head << r->body;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "dns-timeout") << r->head;
  EXPECT_NE(r->header("Proxy-Status").find("error=dns_timeout"), std::string::npos) << r->head;
  EXPECT_GE(elapsed, 400);
  EXPECT_LE(elapsed, 1200);
  EXPECT_GE(dns_->queryCount("silent.api.test"), 1u);
}

// D6: slow names do not hold up a fast one.
TEST_F(Dns, SlowNamesDoNotStarveAFastOne) {
  dns_->set("slow.api.test", FakeDnsAnswer::addresses({kOriginIp}).withDelay(milliseconds(10000)));
  dns_->set("fast.api.test", FakeDnsAnswer::addresses({kOriginIp}));
  config_.dns_timeout_ms = 1500;
  ASSERT_NO_FATAL_FAILURE(startProxy());
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 20; ++i) {
    auto c = connectToProxy();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->send(getRequest(at("slow.api.test"))));
    slow.push_back(std::move(c));
  }
  ASSERT_TRUE(dns_->waitForQueries(1, milliseconds(2000)));
  const auto started = Clock::now();
  auto r = exchange(getRequest(at("fast.api.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
  EXPECT_LT(elapsedMs(started), 500);
  // The slow ones end at the DNS timeout.
  for (auto& c : slow) {
    auto s = c->readResponse(milliseconds(4000));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->status, 504) << s->head;
  }
}

// D8: a CNAME from an allowed name to a loopback (non-exempt) address is classified by its
// final address, and that address is never dialed.
TEST_F(Dns, ACnameToANonExemptLoopbackAddressIsAddressDenied) {
  dns_->set("cname.api.test", FakeDnsAnswer::alias("internal.corp.example"));
  dns_->set("internal.corp.example", FakeDnsAnswer::addresses({"127.0.0.3"}));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto r = exchange(getRequest(at("cname.api.test")));
  ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "address-denied", "destination_ip_prohibited"));
  EXPECT_EQ(r->header("X-Gatehouse-Rule"), "address-guard:loopback") << r->head;
  EXPECT_EQ(canary_private_->accepts(), 0u);
}

// D2: a TTL-0 name alternating between the origin and 127.0.0.3. Each request resolves once and
// dials only what it checked: the rebinding target is never dialed. /close keeps the upstream
// connection out of the pool, so every request resolves again.
TEST_F(Dns, RebindingToAPrivateAddressNeverReachesIt) {
  dns_->setSequence("rebind.api.test", {FakeDnsAnswer::addresses({kOriginIp}, 0),
                                        FakeDnsAnswer::addresses({"127.0.0.3"}, 0)});
  ASSERT_NO_FATAL_FAILURE(startProxy());
  int served = 0;
  int denied = 0;
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    auto r = exchange(getRequest(at("rebind.api.test"), "/close"));
    ASSERT_TRUE(r.has_value());
    if (r->status == 200) {
      EXPECT_EQ(r->body, kUntilCloseBody);
      ++served;
    } else {
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "address-denied", "destination_ip_prohibited"));
      ++denied;
    }
  }
  EXPECT_GE(served, 2);
  EXPECT_GE(denied, 2);
  EXPECT_EQ(canary_private_->accepts(), 0u);
  // Requests that may reuse a pooled origin connection keep going to the origin only.
  for (int i = 0; i < 4; ++i) {
    auto r = exchange(getRequest(at("rebind.api.test")));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->status == 200 || r->status == 403) << r->head;
  }
  EXPECT_EQ(canary_private_->accepts(), 0u);
}

// D2 across keep-alive reuse: later requests on the same client connection either reuse the
// checked origin connection from the pool or resolve again and are refused; 127.0.0.3 is never
// dialed.
TEST_F(Dns, RebindingAcrossKeepAliveReuseNeverReachesThePrivateAddress) {
  dns_->setSequence("rebind.api.test", {FakeDnsAnswer::addresses({kOriginIp}, 0),
                                        FakeDnsAnswer::addresses({"127.0.0.3"}, 0)});
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(c->send(getRequest(at("rebind.api.test"))));
    auto r = c->readResponse(milliseconds(3000));
    ASSERT_TRUE(r.has_value()) << c->buffered();
    if (r->status != 200) {
      // A refusal closes the connection.
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "address-denied", "destination_ip_prohibited"));
      break;
    }
    EXPECT_EQ(r->body, kSmallBody);
  }
  EXPECT_EQ(canary_private_->accepts(), 0u);
}

}  // namespace
}  // namespace gatehouse::testing
