// Timeouts, limits, reload and drain of the real proxy process (SPEC §5; BAD-INPUTS H1, H4, H5,
// L1, "Decisions": reload keeps tunnels; INV-ALIVE).
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gatehouse::testing {
namespace {

using Lifecycle = ProxyTest;

// H1: a slowloris client trickling one header byte every 100 ms is cut off at the header
// timeout (300 ms: a 408, or a silent close), counted from the first byte of the head, while
// other clients keep being served.
TEST_F(Lifecycle, SlowlorisIsCutOffAtTheHeaderTimeoutWhileOthersAreServed) {
  config_.listener["header_timeout_ms"] = "300";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  const std::string head = getRequest(at("origin.test")).substr(0, 30);
  const auto started = Clock::now();
  bool ended = false;
  int probes = 0;
  for (size_t i = 0; i < head.size() && !ended; ++i) {
    c->send(head.substr(i, 1));
    // One byte per 100 ms, unless the proxy answers or closes first.
    ended = c->waitForData(milliseconds(100)) || c->closed();
    // A probe right after the first byte, then every third: the first one runs well before the
    // 300 ms deadline even on a loaded machine.
    if (!ended && i % 3 == 0) {
      auto probe = exchange(getRequest(at("origin.test")));
      ASSERT_TRUE(probe.has_value());
      EXPECT_EQ(probe->status, 200);
      ++probes;
    }
  }
  const long elapsed = elapsedMs(started);
  ASSERT_TRUE(ended) << "the slowloris client was never cut off";
  EXPECT_LE(elapsed, 1200);
  EXPECT_GE(probes, 1);
  if (!c->buffered().empty()) {
    auto r = c->readResponse(milliseconds(2000));
    ASSERT_TRUE(r.has_value()) << c->buffered();
    EXPECT_EQ(r->status, 408) << r->head;
    EXPECT_EQ(r->header("X-Gatehouse-Reason"), "header-timeout") << r->head;
  }
  EXPECT_TRUE(c->waitForClose(milliseconds(2000)));
}

// A head that stops half-way gets 408 at the header timeout.
TEST_F(Lifecycle, AnIncompleteHeadGets408AtTheHeaderTimeout) {
  config_.listener["header_timeout_ms"] = "300";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  const auto started = Clock::now();
  ASSERT_TRUE(c->send(getRequest(at("origin.test")).substr(0, 40)));
  auto r = c->readResponse(milliseconds(3000));
  const long elapsed = elapsedMs(started);
  ASSERT_TRUE(r.has_value()) << c->buffered();
  EXPECT_EQ(r->status, 408) << r->head;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "header-timeout") << r->head;
  EXPECT_GE(elapsed, 250);
  EXPECT_LE(elapsed, 1200);
  EXPECT_TRUE(c->waitForClose(milliseconds(2000)));
  EXPECT_EQ(origin_->accepts(), 0u);
}

// H4: a keep-alive connection idle after its response, and a connection that never sends a
// byte, are closed at idle_timeout_ms.
TEST_F(Lifecycle, IdleConnectionsAreClosedAtTheIdleTimeout) {
  config_.listener["idle_timeout_ms"] = "300";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto used = connectToProxy();
  ASSERT_NE(used, nullptr);
  ASSERT_TRUE(used->send(getRequest(at("origin.test"))));
  auto r = used->readResponse(milliseconds(3000));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->header("Connection") == "close") << r->head;
  auto started = Clock::now();
  EXPECT_TRUE(used->waitForClose(milliseconds(3000)));
  long elapsed = elapsedMs(started);
  EXPECT_GE(elapsed, 200);
  EXPECT_LE(elapsed, 1200);
  EXPECT_TRUE(used->buffered().empty()) << used->buffered();

  auto silent = connectToProxy();
  ASSERT_NE(silent, nullptr);
  started = Clock::now();
  EXPECT_TRUE(silent->waitForClose(milliseconds(3000)));
  elapsed = elapsedMs(started);
  EXPECT_GE(elapsed, 200);
  EXPECT_LE(elapsed, 1200);
}

// H5: with max_connections = 5 the sixth connection gets a quick 503 and close; the five keep
// being served, and a connection after they closed is served again.
TEST_F(Lifecycle, TheConnectionAboveTheLimitGets503AndTheOthersAreServed) {
  config_.workers = 1;  // one accept queue: the sixth connection is the one refused
  config_.listener["max_connections"] = "5";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  std::vector<std::unique_ptr<RawClient>> first;
  for (int i = 0; i < 5; ++i) {
    first.push_back(connectToProxy());
    ASSERT_NE(first.back(), nullptr);
  }
  auto sixth = connectToProxy();
  ASSERT_NE(sixth, nullptr);
  const auto started = Clock::now();
  auto refused = sixth->readResponse(milliseconds(3000));
  ASSERT_TRUE(refused.has_value()) << "no 503";
  EXPECT_LT(elapsedMs(started), 1000);
  EXPECT_EQ(refused->status, 503) << refused->head;
  EXPECT_EQ(refused->header("X-Gatehouse-Reason"), "connection-limit") << refused->head;
  EXPECT_NE(refused->header("Proxy-Status").find("error=connection_limit_reached"),
            std::string::npos);
  EXPECT_FALSE(refused->header("Retry-After").empty());
  EXPECT_TRUE(sixth->waitForClose(milliseconds(2000)));

  for (auto& c : first) {
    ASSERT_TRUE(c->send(getRequest(at("origin.test"))));
    auto r = c->readResponse(milliseconds(3000));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  // Freed slots are reused (TearDown's probe needs one, too).
  first.clear();
  const auto deadline = Clock::now() + milliseconds(3000);
  std::optional<HttpResponse> r;
  do {
    r = exchange(getRequest(at("origin.test")));
  } while (r.has_value() && r->status == 503 && Clock::now() < deadline);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

// INV-ALIVE: after refusals, parse errors, aborted clients and closed tunnels, every socket is
// released: the fd count returns to what it was after the start.
TEST_F(Lifecycle, TheFdCountReturnsToBaselineAfterManyKindsOfConnections) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const int baseline = proxy_->fdCount();
  if (baseline < 0) GTEST_SKIP() << "/proc/" << proxy_->pid() << "/fd is not readable";
  const std::string origin = at("origin.test");
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(exchange(getRequest(at("evil.test"))).has_value());
    ASSERT_TRUE(exchange("GET / HTTP/1.1\r\nHost: " + origin + "\r\n\r\n").has_value());
    auto served = exchange(getRequest(origin, "/close"));
    ASSERT_TRUE(served.has_value());
    EXPECT_EQ(served->status, 200);
    // A tunnel closed for non-TLS bytes.
    auto tunnel = connectToProxy();
    ASSERT_NE(tunnel, nullptr);
    tunnel->send(connectRequest(origin) + "not tls");
    EXPECT_TRUE(tunnel->waitForClose(milliseconds(3000)));
    // A client that leaves in the middle of its head, and one in the middle of a download.
    auto partial = connectToProxy();
    ASSERT_NE(partial, nullptr);
    partial->send("GET http://" + origin + "/small HTTP/1.1\r\nHo");
    partial.reset();
    auto download = connectToProxy();
    ASSERT_NE(download, nullptr);
    download->setReceiveBuffer(16 * 1024);
    download->send(getRequest(origin, "/big?n=8388608"));
    EXPECT_TRUE(download->waitForData(milliseconds(3000)));
  }
  const auto deadline = Clock::now() + milliseconds(5000);
  int fds = proxy_->fdCount();
  while (fds > baseline && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    fds = proxy_->fdCount();
  }
  EXPECT_LE(fds, baseline) << "sockets leaked";
}

// SIGHUP: the next request follows the changed allowlist.
TEST_F(Lifecycle, ReloadAppliesTheNewAllowlistToTheNextRequest) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_NO_FATAL_FAILURE(expectRefusal(exchange(getRequest(at("other.test"))), 403,
                                        "host-not-allowed", "http_request_denied"));
  auto r = exchange(getRequest(at("a.api.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  const std::string before_env = r->header("X-Gatehouse-Environment");

  config_.domains = {"origin.test", "other.test"};
  ASSERT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded)
      << proxy_->stderrText();
  EXPECT_NE(proxy_->stderrText().find(": generation 3"), std::string::npos) << proxy_->stderrText();
  r = exchange(getRequest(at("other.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
  r = exchange(getRequest(at("a.api.test")));
  ASSERT_NO_FATAL_FAILURE(expectRefusal(r, 403, "host-not-allowed", "http_request_denied"));
  // The environment version in the refusal is the new one.
  EXPECT_NE(r->header("X-Gatehouse-Environment"), before_env);
}

// L1: a bad config on reload keeps the old policy, and stderr says so with the location.
TEST_F(Lifecycle, ABadConfigOnReloadKeepsTheOldPolicy) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  GatehouseConfig bad = config_;
  bad.domains.emplace_back("other.test");
  bad.domains.emplace_back("*.com");
  ASSERT_EQ(proxy_->reload(bad.toToml()), Gatehouse::ReloadResult::kFailed) << proxy_->stderrText();
  EXPECT_NE(proxy_->stderrText().find("gatehouse: reload failed; keeping generation 2"),
            std::string::npos)
      << proxy_->stderrText();
  EXPECT_NE(proxy_->stderrText().find("gatehouse.toml:"), std::string::npos)
      << "the error names no file:line:col\n"
      << proxy_->stderrText();
  ASSERT_EQ(proxy_->reload("[listener\naddress = "), Gatehouse::ReloadResult::kFailed)
      << proxy_->stderrText();
  ASSERT_EQ(proxy_->reload(config_.toToml() + "\n[unknown_section]\nkey = 1\n"),
            Gatehouse::ReloadResult::kFailed)
      << proxy_->stderrText();

  ASSERT_NO_FATAL_FAILURE(expectRefusal(exchange(getRequest(at("other.test"))), 403,
                                        "host-not-allowed", "http_request_denied"));
  auto r = exchange(getRequest(at("a.api.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

// A reload that changes [resolver] static answers applies them (or says that it cannot).
TEST_F(Lifecycle, ReloadAppliesNewStaticResolverAnswers) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  config_.static_hosts.emplace_back("late.api.test", std::vector<std::string>{kOriginIp});
  ASSERT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded)
      << proxy_->stderrText();
  auto r = exchange(getRequest(at("late.api.test")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
}

// SIGTERM with a slow download in flight: the download completes (drain), then the process
// exits 0; no new request is accepted meanwhile.
TEST_F(Lifecycle, SigtermDrainsAnInFlightDownloadAndExitsZero) {
  config_.listener["drain_timeout_ms"] = "8000";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  constexpr size_t kSize = size_t{256} * 1024;
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send(
      getRequest(at("origin.test"), "/slow?n=" + std::to_string(kSize) + "&chunk=16384&ms=60")));
  ASSERT_TRUE(c->waitForData(milliseconds(3000)));
  ASSERT_TRUE(origin_->waitForRequests(1, milliseconds(3000)));

  stopped_ = true;
  proxy_->process().signal(SIGTERM);
  ASSERT_TRUE(proxy_->process().waitForOutput(Subprocess::Stream::kStderr, "gatehouse: draining",
                                              milliseconds(3000)));
  // The listeners close: soon a new connection is refused. One accepted before the workers
  // closed their listeners may still get its one answer, and is closed after it.
  bool refused = false;
  for (int attempt = 0; attempt < 50 && !refused; ++attempt) {
    auto late = RawClient::connect(kProxyIp, proxy_->port());
    if (late == nullptr) {
      refused = true;
      break;
    }
    late->send(getRequest(at("origin.test")) + getRequest(at("origin.test")));
    const std::string answer = late->readUntilClose(milliseconds(3000));
    EXPECT_TRUE(late->closed());
    EXPECT_EQ(answer.find("HTTP/1.1", 1), std::string::npos) << "two answers while draining";
  }
  EXPECT_TRUE(refused) << "the proxy kept accepting connections while draining";
  auto r = c->readResponse(milliseconds(8000));
  ASSERT_TRUE(r.has_value()) << "the download was cut: " << c->buffered().size() << " bytes";
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->body.size(), kSize);
  for (size_t i = 0; i < kSize; ++i) {
    if (r->body[i] != bigBodyByte(i)) {
      ADD_FAILURE() << "body differs at byte " << i;
      break;
    }
  }
  const auto status = proxy_->process().wait(milliseconds(8000));
  EXPECT_EQ(status, std::optional<int>(0)) << proxy_->stderrText();
  EXPECT_NE(proxy_->stderrText().find("gatehouse: stopped\n"), std::string::npos)
      << proxy_->stderrText();
}

}  // namespace
}  // namespace gatehouse::testing
