// Policy denials through the real proxy (SPEC §2-§4; BAD-INPUTS B4-B6, B14, C1-C9, C13, E2,
// K1): exact statuses and refusal headers, and no connection to any canary (INV-NOCONN).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/unit/test_text.h"

namespace gatehouse::testing {
namespace {

using Denials = ProxyTest;
using testing_text::printable;

TEST_F(Denials, HostNotAllowedGets403WithEveryReasonHeaderAndATextBody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto r = exchange(getRequest(at("evil.test")));
  ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "host-not-allowed", "http_request_denied"));
  EXPECT_NE(r->header("Proxy-Status").find("details=\"host not allowed\""), std::string::npos)
      << r->head;
  EXPECT_FALSE(r->header("X-Gatehouse-Rule").empty()) << r->head;
  EXPECT_NE(r->body.find("evil.test"), std::string::npos) << r->body;
  // The body explains; it never echoes the request.
  EXPECT_EQ(r->body.find("HTTP/1.1"), std::string::npos) << r->body;
  EXPECT_EQ(origin_->accepts(), 0u);

  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(2000)));
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("decision"), "deny");
  EXPECT_EQ(lines[0].at("reason"), "host-not-allowed");
  EXPECT_EQ(lines[0].at("status"), "403");
  EXPECT_EQ(lines[0].at("host"), "evil.test");
}

TEST_F(Denials, CurlSeesTheRefusal) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(curl({"-i", "http://" + at("evil.test") + "/"}), milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("X-Gatehouse-Reason: host-not-allowed\r\n"), std::string::npos) << r.out;
}

// E2 / B14: an allowed host on a port the environment does not list; invalid ports are 400.
TEST_F(Denials, PortNotAllowedIs403AndInvalidPortsAre400) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (const char* port : {"22", "25", "6379", "11211"}) {
    SCOPED_TRACE(port);
    const std::string authority = std::string("origin.test:") + port;
    ASSERT_NO_FATAL_FAILURE(expectRefusal(exchange(getRequest(authority)), 403, "port-not-allowed",
                                          "http_request_denied"));
    ASSERT_NO_FATAL_FAILURE(expectRefusal(exchange(connectRequest(authority)), 403,
                                          "port-not-allowed", "http_request_denied"));
  }
  for (const char* port : {"0", "65536", "+80", "99999999999"}) {
    SCOPED_TRACE(port);
    const std::string authority = std::string("origin.test:") + port;
    auto r = exchange(getRequest(authority));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << r->head;
    r = exchange(connectRequest(authority));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << r->head;
  }
  EXPECT_EQ(origin_->accepts(), 0u);
}

// B4-B7 and deny-over-allow, as a table: every name resolves (static) to the live origin, so a
// wrong "allow" would show as a 200 and a request at the origin.
TEST_F(Denials, WildcardApexAndDenyListAsATable) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  struct Row {
    const char* id;
    const char* host;
    int status;
    const char* reason;  // for 403s
    const char* rule;    // expected X-Gatehouse-Rule substring for 403s
  };
  const Row rows[] = {
      {"exact entry", "origin.test", 200, "", ""},
      {"B1 case-insensitive", "ORIGIN.Test", 200, "", ""},
      {"B2 trailing dot", "origin.test.", 200, "", ""},
      {"wildcard one label", "a.api.test", 200, "", ""},
      {"B7 wildcard deep name", "x.y.z.api.test", 200, "", ""},
      {"B4 *.x excludes the apex", "api.test", 403, "host-not-allowed", ""},
      {"B5 label boundary", "badapi.test", 403, "host-not-allowed", ""},
      {"B6 suffix confusion", "origin.test.evil.test", 403, "host-not-allowed", ""},
      {"B9 punycode homograph", "xn--pi-7kc.test", 403, "host-not-allowed", ""},
      {"deny wins over *.api.test", "bad.api.test", 403, "host-denied", "bad.api.test"},
  };
  size_t served = 0;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.id);
    auto r = exchange(getRequest(at(row.host)));
    if (row.status == 200) {
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->status, 200) << r->head << r->body;
      EXPECT_EQ(r->body, kSmallBody);
      ++served;
    } else {
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, row.reason, "http_request_denied"));
      EXPECT_NE(r->header("X-Gatehouse-Rule").find(row.rule), std::string::npos) << r->head;
    }
  }
  EXPECT_EQ(origin_->requestCount(), served);
}

// G8: "Expect: 100-continue" on a denied POST: the 403 comes at once, without the body, and the
// connection closes.
TEST_F(Denials, ExpectContinueOnADeniedPostGets403WithoutTheBody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send("POST http://" + at("evil.test") + "/ HTTP/1.1\r\nHost: " + at("evil.test") +
                      "\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n"));
  auto r = c->readResponse(milliseconds(3000));
  ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "host-not-allowed", "http_request_denied"));
  EXPECT_TRUE(c->waitForClose(milliseconds(3000)));
}

// C8: allowed names whose only addresses are private, loopback or metadata.
TEST_F(Denials, NamesResolvingToPrivateLoopbackOrMetadataAreAddressDenied) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  struct Row {
    const char* host;
    const char* rule;
  };
  for (const Row& row : {Row{"private.test", "address-guard:private"},
                         Row{"loopback.test", "address-guard:loopback"},
                         Row{"metadata.test", "address-guard:link-local"}}) {
    SCOPED_TRACE(row.host);
    for (bool connect : {false, true}) {
      auto r = exchange(connect ? connectRequest(at(row.host)) : getRequest(at(row.host)));
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "address-denied", "destination_ip_prohibited"));
      EXPECT_EQ(r->header("X-Gatehouse-Rule"), row.rule) << r->head;
    }
  }
  EXPECT_EQ(origin_->accepts(), 0u);
}

// C9: mixed answers (127.0.0.3 first, then the origin): only the checked public address is
// dialed, every time.
TEST_F(Denials, MixedAnswersAreServedFromTheAllowedAddressOnly) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (int i = 0; i < 3; ++i) {
    auto r = exchange(getRequest(at("mixed.test")));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->head << r->body;
    EXPECT_EQ(r->body, kSmallBody);
  }
  EXPECT_EQ(origin_->requestCount(), 3u);
  EXPECT_EQ(canary_private_->accepts(), 0u);
}

// C1-C6, C13: IP literals in every form, in absolute-form and as CONNECT targets. Dotted quads
// and bracketed IPv6 are IP literals the policy has no IP entry for (403); every other numeric
// spelling and zone ids are malformed (400). The canaries on 127.0.0.1/.3/.4 listen on the port
// used, so any dial would be counted.
TEST_F(Denials, IpLiteralsInEveryFormAreRefusedAndNeverDialed) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  struct Row {
    const char* id;
    const char* host;
    int status;
  };
  const Row rows[] = {
      {"C1", "127.0.0.1", 403},
      {"C1", "127.1", 400},
      {"C1", "2130706433", 400},
      {"C1", "0x7f000001", 400},
      {"C1", "0x7f.1", 400},
      {"C1", "0177.0.0.1", 400},
      {"C1", "017700000001", 400},
      {"C1", "127.000.000.001", 400},
      {"C1", "127.0.0.01", 400},
      {"C1", "127.0.0.3", 403},
      {"C1", "127.0.0.4", 403},
      {"C2", "0", 400},
      {"C2", "0.0.0.0", 403},
      {"C3", "169.254.169.254", 403},
      {"C3", "2852039166", 400},
      {"C3", "0251.0376.0251.0376", 400},
      {"C3", "[::ffff:169.254.169.254]", 403},
      {"C3", "[::ffff:a9fe:a9fe]", 403},
      {"C3", "metadata.google.internal", 403},
      {"C4", "[::1]", 403},
      {"C4", "[0:0:0:0:0:0:0:1]", 403},
      {"C4", "[::]", 403},
      {"C4", "[::127.0.0.1]", 403},
      {"C4", "[::ffff:127.0.0.1]", 403},
      {"C4", "[0:0:0:0:0:ffff:7f00:1]", 403},
      {"C5", "[64:ff9b::a9fe:a9fe]", 403},
      {"C5", "[2002:a9fe:a9fe::1]", 403},
      {"C5", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", 403},
      {"C6", "[fe80::1%25eth0]", 400},
      {"C6", "[fe80::1%eth0]", 400},
      {"C6", "fe80::1%lo", 400},
      {"C13", "127.0.0.1.", 400},
      {"C13", "127.0.0.3.", 400},
  };
  for (const Row& row : rows) {
    const std::string authority = at(row.host);
    for (bool connect : {false, true}) {
      SCOPED_TRACE(std::string(row.id) + " " + authority + (connect ? " CONNECT" : " GET"));
      auto r = exchange(connect ? connectRequest(authority) : getRequest(authority));
      if (row.status == 403) {
        ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "host-not-allowed", "http_request_denied"));
      } else {
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, row.status) << r->head << r->body;
        EXPECT_FALSE(r->header("X-Gatehouse-Reason").empty()) << r->head;
      }
    }
  }
  EXPECT_EQ(origin_->accepts(), 0u);
}

// An IP entry lets an IP literal past the name policy, never past the address guard.
TEST_F(Denials, AnIpEntryDoesNotExemptALoopbackLiteralFromTheAddressGuard) {
  config_.domains.emplace_back("127.0.0.3");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (bool connect : {false, true}) {
    SCOPED_TRACE(connect ? "CONNECT" : "GET");
    auto r = exchange(connect ? connectRequest(at("127.0.0.3")) : getRequest(at("127.0.0.3")));
    ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "address-denied", "destination_ip_prohibited"));
    EXPECT_EQ(r->header("X-Gatehouse-Rule"), "address-guard:loopback") << r->head;
  }
  // The exempted origin address as a literal is served.
  config_.domains.emplace_back(kOriginIp);
  ASSERT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded);
  auto r = exchange(getRequest(at(kOriginIp)));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
}

// K1 / C11: the proxy's own address and port as the destination, through an exempted loopback
// range, by IP literal and by name, absolute-form and CONNECT: 403 proxy-loop, and the proxy
// never connects to itself (which would show as extra decision lines).
TEST_F(Denials, TheProxysOwnAddressIsAProxyLoop) {
  config_.domains.emplace_back("self.test");
  config_.domains.emplace_back("127.0.0.1");
  config_.address_allow.emplace_back("127.0.0.1/32");
  config_.static_hosts.emplace_back("self.test", std::vector<std::string>{"127.0.0.1"});
  ASSERT_NO_FATAL_FAILURE(startProxy());
  // The port is known only now: allow it by a reload.
  const std::string self_port = std::to_string(proxy_->port());
  config_.ports.push_back(proxy_->port());
  ASSERT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded)
      << proxy_->stderrText();
  size_t requests = 0;
  for (const char* host : {"self.test", "127.0.0.1"}) {
    const std::string authority = std::string(host) + ":" + self_port;
    for (bool connect : {false, true}) {
      SCOPED_TRACE(authority + (connect ? " CONNECT" : " GET"));
      auto r = exchange(connect ? connectRequest(authority) : getRequest(authority));
      ++requests;
      ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "proxy-loop", "proxy_loop_detected"));
    }
  }
  ASSERT_TRUE(proxy_->waitForDecisions(requests, milliseconds(2000)));
  EXPECT_EQ(proxy_->decisionLines().size(), requests) << proxy_->process().stdoutText();
}

}  // namespace
}  // namespace gatehouse::testing
