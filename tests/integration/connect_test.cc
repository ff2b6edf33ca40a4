// CONNECT tunnels through the real proxy (SPEC §3 step 7, §5; BAD-INPUTS A19, E1-E9, E11,
// INV-NOBYTES): curl and openssl s_client against openssl s_server, and a raw sink that counts
// every byte that reaches it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/unit/test_text.h"

namespace gatehouse::testing {
namespace {

using testing_text::printable;

// The start of a TLS 1.2 ClientHello record (enough for "is it TLS?" but not a full hello).
constexpr std::string_view kHelloStart("\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x03\x03", 11);

class Tunnels : public ProxyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ProxyTest::SetUp());
    std::string error;
    ASSERT_TRUE(makeSelfSignedCert(dir_, "tls.test", &cert_, &error)) << error;
    tls_ = TlsServer::start(kOriginIp, cert_, /*www=*/true, &error);
    ASSERT_NE(tls_, nullptr) << error;
    sink_ = FakeOrigin::start(kOriginIp, 0, FakeOrigin::Mode::kSink, &error);
    ASSERT_NE(sink_, nullptr) << error;
    config_.ports.push_back(tls_->port());
    config_.ports.push_back(sink_->port());
  }

  std::string tlsAuthority(std::string_view host = "tls.test") const {
    return std::string(host) + ":" + std::to_string(tls_->port());
  }
  std::string sinkAuthority(std::string_view host = "tls.test") const {
    return std::string(host) + ":" + std::to_string(sink_->port());
  }
  std::string proxyAddress() const { return "127.0.0.1:" + std::to_string(proxy_->port()); }

  // openssl s_client through the proxy to `authority`, with extra arguments.
  std::vector<std::string> sClient(const std::string& authority,
                                   std::vector<std::string> extra) const {
    std::vector<std::string> argv = {"openssl",  "s_client", "-proxy",  proxyAddress(),
                                     "-connect", authority,  "-CAfile", cert_.cert};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // The decision lines with this reason.
  size_t decisionsWithReason(std::string_view reason) const {
    size_t n = 0;
    for (const auto& d : decisions()) n += d.count("reason") && d.at("reason") == reason;
    return n;
  }

  TempDir dir_;
  TlsCert cert_;
  std::unique_ptr<TlsServer> tls_;
  std::unique_ptr<FakeOrigin> sink_;
};

// E1: curl through a tunnel to a TLS origin it verifies with the test CA.
TEST_F(Tunnels, CurlReachesATlsOriginThroughConnect) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r = runCommand(
      curl({"--cacert", cert_.cert, "-w", "\n%{http_code}", "https://" + tlsAuthority() + "/"}),
      milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("s_server"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 4), "\n200") << r.out;

  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(3000)));
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("kind"), "connect");
  EXPECT_EQ(lines[0].at("method"), "CONNECT");
  EXPECT_EQ(lines[0].at("decision"), "allow");
  EXPECT_EQ(lines[0].at("status"), "200");
  EXPECT_EQ(lines[0].at("sni"), "tls.test");
  EXPECT_NE(lines[0].at("bytes_up"), "0");
  EXPECT_NE(lines[0].at("bytes_down"), "0");
}

// Control for the sink tests below: with the right SNI the ClientHello does reach the sink.
TEST_F(Tunnels, TheClientHelloReachesTheUpstreamWhenTheSniMatches) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  std::string error;
  auto client =
      Subprocess::spawn(sClient(sinkAuthority(), {"-servername", "tls.test"}), true, &error);
  ASSERT_NE(client, nullptr) << error;
  EXPECT_TRUE(sink_->waitForBytes(1, milliseconds(5000)));
  EXPECT_EQ(sink_->accepts(), 1u);
  client->kill();
}

// E5: SNI other than the CONNECT host (domain fronting): the proxy closes before a single byte
// reaches the upstream, with openssl s_client and with curl --connect-to.
TEST_F(Tunnels, SniMismatchIsClosedBeforeAnyByteReachesTheUpstream) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(sClient(sinkAuthority(), {"-servername", "other.test"}), milliseconds(10000));
  ASSERT_TRUE(r.finished) << "s_client hung: the tunnel was not closed";
  EXPECT_NE(r.exit_code, 0) << r.out;

  // curl asks the proxy for tls.test but names other.test in its SNI.
  const std::string port = std::to_string(sink_->port());
  CommandResult c = runCommand(
      curl({"--cacert", cert_.cert, "--connect-to", "other.test:" + port + ":tls.test:" + port,
            "https://other.test:" + port + "/"}),
      milliseconds(20000));
  ASSERT_TRUE(c.finished) << c.err;
  EXPECT_NE(c.exit_code, 0) << c.out;

  EXPECT_EQ(sink_->bytesReceived(), 0u) << "INV-NOBYTES: the ClientHello was forwarded";
  ASSERT_TRUE(proxy_->waitForDecisions(2, milliseconds(3000)));
  EXPECT_EQ(decisionsWithReason("sni-mismatch"), 2u) << proxy_->process().stdoutText();
}

// E6: no SNI on a hostname CONNECT is refused by default.
TEST_F(Tunnels, MissingSniIsClosed) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r = runCommand(sClient(sinkAuthority(), {"-noservername"}), milliseconds(10000));
  ASSERT_TRUE(r.finished) << "s_client hung: the tunnel was not closed";
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(sink_->bytesReceived(), 0u);
  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(3000)));
  EXPECT_EQ(decisionsWithReason("sni-missing"), 1u) << proxy_->process().stdoutText();
}

// E6: bytes that are not TLS after the 200 are never forwarded.
TEST_F(Tunnels, NonTlsBytesAfterTheTunnelOpensAreClosed) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send(connectRequest(sinkAuthority())));
  auto established = c->readResponse(milliseconds(3000), /*no_body=*/true);
  ASSERT_TRUE(established.has_value());
  EXPECT_EQ(established->status, 200);
  ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: tls.test\r\n\r\n"));
  EXPECT_TRUE(c->waitForClose(milliseconds(3000)));
  EXPECT_EQ(sink_->bytesReceived(), 0u);
  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(3000)));
  EXPECT_EQ(decisionsWithReason("not-tls"), 1u) << proxy_->process().stdoutText();
}

// E8: a denied CONNECT followed by more bytes in the same write: exactly one 403, then close;
// the bytes are neither parsed as a request nor forwarded (INV-NOBYTES, INV-CLOSE).
TEST_F(Tunnels, DeniedConnectWithEarlyBytesGetsOne403AndNothingElse) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string early_request = getRequest(at("origin.test"), "/small");
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"evil.test:443", early_request},
      {"evil.test:" + std::to_string(sink_->port()), std::string(kHelloStart)},
      {"tls.test:22", early_request},
  };
  for (const auto& [target, early] : rows) {
    SCOPED_TRACE(target);
    auto c = connectToProxy();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->send(connectRequest(target) + early));
    const std::string raw = c->readUntilClose(milliseconds(5000));
    EXPECT_TRUE(c->closed()) << "INV-CLOSE: the connection stayed open";
    HttpResponse r;
    size_t used = 0;
    ASSERT_EQ(parseResponse(raw, true, false, &r, &used), ParseOutcome::kComplete)
        << printable(raw);
    EXPECT_EQ(r.status, 403) << r.head;
    EXPECT_EQ(used, raw.size()) << "a second response: " << printable(raw.substr(used));
  }
  EXPECT_EQ(origin_->requestCount(), 0u);
  EXPECT_EQ(sink_->accepts(), 0u);
  ASSERT_TRUE(proxy_->waitForDecisions(rows.size(), milliseconds(3000)));
  EXPECT_EQ(proxy_->decisionLines().size(), rows.size()) << proxy_->process().stdoutText();
}

// E3, E4, E9, A19: malformed CONNECT requests are 400 and close, whatever follows them.
TEST_F(Tunnels, MalformedConnectFormsAre400) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string sp = std::to_string(sink_->port());
  const std::string follow = getRequest(at("origin.test"), "/small");
  struct Row {
    std::string id;
    std::string bytes;
  };
  const std::vector<Row> rows = {
      {"E3 no port", "CONNECT tls.test HTTP/1.1\r\nHost: tls.test\r\n\r\n"},
      {"E3 empty port", "CONNECT tls.test: HTTP/1.1\r\nHost: tls.test:\r\n\r\n"},
      {"E3 slash", "CONNECT / HTTP/1.1\r\nHost: tls.test:" + sp + "\r\n\r\n"},
      {"E3 absolute URI",
       "CONNECT http://tls.test:" + sp + " HTTP/1.1\r\nHost: tls.test:" + sp + "\r\n\r\n"},
      {"E3 path", "CONNECT tls.test:" + sp + "/x HTTP/1.1\r\nHost: tls.test:" + sp + "\r\n\r\n"},
      {"E3 userinfo",
       "CONNECT u@tls.test:" + sp + " HTTP/1.1\r\nHost: tls.test:" + sp + "\r\n\r\n"},
      {"A19 empty host", "CONNECT :" + sp + " HTTP/1.1\r\nHost: :" + sp + "\r\n\r\n"},
      {"E4 Host differs",
       "CONNECT tls.test:" + sp + " HTTP/1.1\r\nHost: evil.test:" + sp + "\r\n\r\n"},
      {"E9 Content-Length", "CONNECT tls.test:" + sp + " HTTP/1.1\r\nHost: tls.test:" + sp +
                                "\r\nContent-Length: 5\r\n\r\nhello"},
      {"E9 Transfer-Encoding", "CONNECT tls.test:" + sp + " HTTP/1.1\r\nHost: tls.test:" + sp +
                                   "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.id + ": " + printable(row.bytes));
    auto c = connectToProxy();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->send(row.bytes + follow));
    const std::string raw = c->readUntilClose(milliseconds(5000));
    EXPECT_TRUE(c->closed());
    HttpResponse r;
    size_t used = 0;
    ASSERT_EQ(parseResponse(raw, true, false, &r, &used), ParseOutcome::kComplete)
        << printable(raw);
    EXPECT_EQ(r.status, 400) << r.head;
    EXPECT_FALSE(r.header("X-Gatehouse-Reason").empty()) << r.head;
    EXPECT_EQ(used, raw.size()) << "a second response: " << printable(raw.substr(used));
  }
  EXPECT_EQ(sink_->accepts(), 0u);
  EXPECT_EQ(origin_->requestCount(), 0u);
}

// E11: nothing listens on the allowed destination port: 502.
TEST_F(Tunnels, UnreachableUpstreamIs502) {
  const uint16_t closed_port = pickFreePort(kOriginIp);
  ASSERT_NE(closed_port, 0);
  config_.ports.push_back(closed_port);
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string authority = "tls.test:" + std::to_string(closed_port);
  for (bool connect : {false, true}) {
    SCOPED_TRACE(connect ? "CONNECT" : "GET");
    auto r = exchange(connect ? connectRequest(authority) : getRequest(authority));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 502) << r->head << r->body;
    EXPECT_EQ(r->header("X-Gatehouse-Reason"), "upstream-unreachable") << r->head;
  }
}

// E10: a tunnel without a byte either way is closed at tunnel_idle_timeout_ms.
TEST_F(Tunnels, AnIdleTunnelIsClosedAtTheTunnelIdleTimeout) {
  std::string error;
  auto echo = TlsServer::start(kOriginIp, cert_, /*www=*/false, &error);
  ASSERT_NE(echo, nullptr) << error;
  config_.ports.push_back(echo->port());
  config_.listener["tunnel_idle_timeout_ms"] = "300";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string authority = "tls.test:" + std::to_string(echo->port());
  auto client = Subprocess::spawn(sClient(authority, {"-servername", "tls.test"}), true, &error);
  ASSERT_NE(client, nullptr) << error;
  ASSERT_TRUE(client->waitForOutput(Subprocess::Stream::kStdout, "Verify return code: 0",
                                    milliseconds(5000)))
      << client->stdoutText() << client->stderrText();
  const auto started = Clock::now();
  EXPECT_TRUE(client->wait(milliseconds(3000)).has_value()) << "the idle tunnel stayed open";
  EXPECT_LE(elapsedMs(started), 1500);
  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(3000)));
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("kind"), "connect");
}

// An upstream that accepts the request and never answers: 504 at response_timeout_ms.
TEST_F(Tunnels, AnUpstreamThatNeverAnswersIs504AtTheResponseTimeout) {
  config_.listener["response_timeout_ms"] = "300";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const auto started = Clock::now();
  auto r = exchange(getRequest(sinkAuthority("sink.test")));
  const long elapsed = elapsedMs(started);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 504) << r->head << r->body;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "upstream-response-timeout") << r->head;
  EXPECT_GE(elapsed, 250);
  EXPECT_LE(elapsed, 1200);
  EXPECT_EQ(sink_->accepts(), 1u);
}

// SPEC §5 / BAD-INPUTS "Decisions": a tunnel open at a reload keeps running on its snapshot,
// while a new CONNECT follows the new policy.
TEST_F(Tunnels, ATunnelOpenAcrossAReloadKeepsWorking) {
  std::string error;
  auto echo = TlsServer::start(kOriginIp, cert_, /*www=*/false, &error);
  ASSERT_NE(echo, nullptr) << error;
  config_.ports.push_back(echo->port());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string authority = "tls.test:" + std::to_string(echo->port());
  auto client = Subprocess::spawn(sClient(authority, {"-servername", "tls.test"}), true, &error);
  ASSERT_NE(client, nullptr) << error;
  ASSERT_TRUE(client->waitForOutput(Subprocess::Stream::kStdout, "Verify return code: 0",
                                    milliseconds(5000)))
      << client->stdoutText() << client->stderrText();
  ASSERT_TRUE(client->writeStdin("before-reload\n"));
  ASSERT_TRUE(echo->process().waitForOutput(Subprocess::Stream::kStdout, "before-reload",
                                            milliseconds(5000)));

  GatehouseConfig changed = config_;
  changed.domains.erase(std::find(changed.domains.begin(), changed.domains.end(), "tls.test"));
  ASSERT_EQ(proxy_->reload(changed.toToml()), Gatehouse::ReloadResult::kReloaded)
      << proxy_->stderrText();
  ASSERT_NO_FATAL_FAILURE(expectRefusal(exchange(connectRequest(authority)), 403,
                                        "host-not-allowed", "http_request_denied"));

  ASSERT_TRUE(client->writeStdin("after-reload\n"));
  EXPECT_TRUE(echo->process().waitForOutput(Subprocess::Stream::kStdout, "after-reload",
                                            milliseconds(5000)))
      << echo->process().stdoutText();
  ASSERT_TRUE(echo->process().writeStdin("from-origin\n"));
  EXPECT_TRUE(client->waitForOutput(Subprocess::Stream::kStdout, "from-origin", milliseconds(5000)))
      << client->stdoutText();
  client->kill();
}

}  // namespace
}  // namespace gatehouse::testing
