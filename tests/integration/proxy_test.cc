// Forwarding through the real proxy (SPEC §5; BAD-INPUTS A18, F20, F21, G1-G3, G7, H3): curl and
// raw clients against the fake origin, asserting what the client got and what the origin
// received.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/git_peer.h"
#include "tests/integration/harness.h"

namespace gatehouse::testing {
namespace {

using Forwarding = ProxyTest;

std::string bodyOf(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 7) % 53);
  return s;
}

// What /sink answers for a body.
std::string sinkReport(const std::string& body) {
  char text[64];
  std::snprintf(text, sizeof text, "%zu %016llx\n", body.size(),
                static_cast<unsigned long long>(fnv1a64(body)));
  return text;
}

TEST_F(Forwarding, CurlGetReturnsTheOriginBodyAndTheOriginGetsOriginFormWithHost) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(curl({"http://" + at("origin.test") + "/small"}), milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kSmallBody);
  ASSERT_EQ(origin_->requestCount(), 1u);
  const OriginRequest req = origin_->requests()[0];
  EXPECT_EQ(req.head.rfind("GET /small HTTP/1.1\r\n", 0), 0u) << req.head;
  EXPECT_EQ(req.count("Host"), 1u) << req.head;
  EXPECT_EQ(req.header("Host"), at("origin.test"));
  EXPECT_FALSE(req.has("Proxy-Connection")) << req.head;

  ASSERT_TRUE(proxy_->waitForDecisions(1, milliseconds(2000)));
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("kind"), "http");
  EXPECT_EQ(lines[0].at("decision"), "allow");
  EXPECT_EQ(lines[0].at("host"), "origin.test");
  EXPECT_EQ(lines[0].at("status"), "200");
  EXPECT_EQ(lines[0].at("bytes_down"), std::to_string(kSmallBody.size()));
}

// G1, G2, G3: hop-by-hop headers, the headers the client's Connection names, proxy credentials
// and Upgrade never reach the origin; the client gets a plain 200, never a 101.
TEST_F(Forwarding, HopByHopConnectionNamedAndUpgradeHeadersAreNotForwarded) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(curl({"-i", "-H", "Connection: Upgrade, X-Secret", "-H", "X-Secret: s3cr3t", "-H",
                       "Proxy-Authorization: Basic Zm9vOmJhcg==", "-H", "Keep-Alive: timeout=5",
                       "-H", "TE: trailers", "-H", "Trailer: X-T", "-H", "Upgrade: websocket", "-H",
                       "X-Kept: yes", "http://" + at("origin.test") + "/echo"}),
                 milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 200 ", 0), 0u) << r.out;
  ASSERT_EQ(origin_->requestCount(), 1u);
  const OriginRequest req = origin_->requests()[0];
  for (const char* name : {"X-Secret", "Proxy-Authorization", "Proxy-Connection", "Keep-Alive",
                           "TE", "Trailer", "Upgrade"}) {
    EXPECT_FALSE(req.has(name)) << name << " was forwarded:\n" << req.head;
  }
  EXPECT_EQ(req.head.find("s3cr3t"), std::string::npos) << req.head;
  EXPECT_EQ(req.head.find("Zm9vOmJhcg=="), std::string::npos) << req.head;
  std::string connection = req.header("Connection");
  std::transform(connection.begin(), connection.end(), connection.begin(), ::tolower);
  EXPECT_EQ(connection.find("x-secret"), std::string::npos) << req.head;
  EXPECT_EQ(connection.find("upgrade"), std::string::npos) << req.head;
  EXPECT_EQ(req.header("X-Kept"), "yes") << req.head;
}

TEST_F(Forwarding, H2cUpgradeIsStrippedAndTheRequestForwardedAsPlainHttp) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto r = exchange(getRequest(at("origin.test"), "/echo",
                               "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                               "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head;
  ASSERT_EQ(origin_->requestCount(), 1u);
  const OriginRequest req = origin_->requests()[0];
  EXPECT_FALSE(req.has("Upgrade")) << req.head;
  EXPECT_FALSE(req.has("HTTP2-Settings")) << req.head;
}

// BAD-INPUTS I13: a scoped git credential sent to another host is removed, never swapped; other
// Authorization headers pass untouched.
TEST_F(Forwarding, GatehouseCredentialsNeverReachAnotherHost) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string credential = "gatehouse_gc_0123456789abcdefABCDEF";
  const std::string variants[] = {
      "Authorization: Bearer " + credential + "\r\n",
      "Authorization: Basic " + base64Encode("x-access-token:" + credential) + "\r\n",
      "authorization: token " + credential + "\r\n",
  };
  for (const std::string& header : variants) {
    auto r = exchange(getRequest(at("origin.test"), "/echo", header));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->head;
  }
  auto kept = exchange(getRequest(at("origin.test"), "/echo", "Authorization: Bearer other\r\n"));
  ASSERT_TRUE(kept.has_value());
  ASSERT_EQ(origin_->requestCount(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    const OriginRequest req = origin_->requests()[i];
    EXPECT_FALSE(req.has("Authorization")) << req.head;
    EXPECT_EQ(req.head.find("gatehouse_gc_"), std::string::npos) << req.head;
  }
  EXPECT_EQ(origin_->requests()[3].header("Authorization"), "Bearer other");
}

// Keep-alive on the client side (curl reuses its proxy connection) and on the upstream side
// (the pool reuses the origin connection for the same host and port).
TEST_F(Forwarding, TwoUrlsInOneCurlReuseTheClientAndTheUpstreamConnection) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r = runCommand(curl({"-v", "http://" + at("origin.test") + "/small",
                                     "http://" + at("origin.test") + "/echo"}),
                               milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(std::string(kSmallBody), 0), 0u) << r.out;
  EXPECT_NE(r.out.find("GET /echo HTTP/1.1\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("Re-using existing connection"), std::string::npos) << r.err;
  ASSERT_EQ(origin_->requestCount(), 2u);
  EXPECT_EQ(origin_->accepts(), 1u) << "the second request did not reuse the pooled connection";
}

TEST_F(Forwarding, Http10ClientGetsABodyItCanReadAndHostIsGenerated) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(curl({"-0", "http://" + at("origin.test") + "/small"}), milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kSmallBody);

  // A18: an HTTP/1.0 absolute-form request without Host; the origin's chunked body must reach
  // the 1.0 client unchunked, delimited by the close.
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send("GET http://" + at("origin.test") + "/chunked HTTP/1.0\r\n\r\n"));
  const std::string raw = c->readUntilClose(milliseconds(5000));
  ASSERT_TRUE(c->closed()) << raw;
  HttpResponse resp;
  size_t used = 0;
  ASSERT_EQ(parseResponse(raw, true, false, &resp, &used), ParseOutcome::kComplete) << raw;
  EXPECT_EQ(resp.status, 200);
  EXPECT_FALSE(resp.has("Transfer-Encoding")) << resp.head;
  EXPECT_EQ(resp.body, kChunkedBody);
  ASSERT_EQ(origin_->requestCount(), 2u);
  EXPECT_EQ(origin_->requests()[1].header("Host"), at("origin.test"));
}

TEST_F(Forwarding, PostWithASizedBody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  TempDir dir;
  const std::string body = bodyOf(size_t{100} * 1024);
  const std::string file = dir.write("body", body);
  CommandResult r =
      runCommand(curl({"--data-binary", "@" + file, "-H", "Content-Type: application/octet-stream",
                       "http://" + at("origin.test") + "/sink"}),
                 milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, sinkReport(body));
  ASSERT_EQ(origin_->requestCount(), 1u);
  const OriginRequest req = origin_->requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("Content-Length"), std::to_string(body.size())) << req.head;
  EXPECT_FALSE(req.has("Transfer-Encoding")) << req.head;
}

TEST_F(Forwarding, PostWithAChunkedBody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  TempDir dir;
  const std::string body = bodyOf(size_t{300} * 1024 + 17);
  const std::string file = dir.write("body", body);
  CommandResult r =
      runCommand(curl({"--data-binary", "@" + file, "-H", "Transfer-Encoding: chunked",
                       "http://" + at("origin.test") + "/sink"}),
                 milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, sinkReport(body));
  ASSERT_EQ(origin_->requestCount(), 1u);
  const OriginRequest req = origin_->requests()[0];
  EXPECT_EQ(req.header("Transfer-Encoding"), "chunked") << req.head;
  EXPECT_FALSE(req.has("Content-Length")) << req.head;
}

// G7 with curl: a 2 MiB body sent after "Expect: 100-continue"; the origin's 100 is relayed, so
// curl does not wait for its expect timeout.
TEST_F(Forwarding, ExpectContinueWithCurlRelaysTheOrigins100) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  TempDir dir;
  const std::string body = bodyOf(size_t{2} << 20);
  const std::string file = dir.write("body", body);
  CommandResult r =
      runCommand(curl({"-v", "--expect100-timeout", "5", "-H", "Expect: 100-continue",
                       "--data-binary", "@" + file, "http://" + at("origin.test") + "/sink"}),
                 milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, sinkReport(body));
  EXPECT_NE(r.err.find("< HTTP/1.1 100 Continue"), std::string::npos) << r.err;
  EXPECT_LT(r.elapsed_ms, 4000) << "curl waited for its expect timeout";
}

// G7 with a raw client: no body byte is sent before the 100 arrives.
TEST_F(Forwarding, ExpectContinueWithARawClientGets100BeforeSendingTheBody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send("POST http://" + at("origin.test") + "/echo HTTP/1.1\r\nHost: " +
                      at("origin.test") + "\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto cont = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(cont.has_value()) << "no 100 Continue; got: " << c->buffered();
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c->send("hello"));
  auto r = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  const size_t head_len = std::stoul(r->header("X-Head-Length"));
  EXPECT_EQ(r->body.substr(head_len), "hello");
}

TEST_F(Forwarding, HeadGetsTheHeadersWithoutABody) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  CommandResult r =
      runCommand(curl({"-I", "http://" + at("origin.test") + "/small"}), milliseconds(20000));
  ASSERT_TRUE(r.finished) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 200 ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("Content-Length: 13\r\n"), std::string::npos) << r.out;

  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  const std::string a = at("origin.test");
  ASSERT_TRUE(c->send("HEAD http://" + a + "/small HTTP/1.1\r\nHost: " + a + "\r\n\r\n"));
  auto head = c->readResponse(milliseconds(3000), /*no_body=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("Content-Length"), "13");
  // No body byte follows the head.
  EXPECT_FALSE(c->waitForData(milliseconds(200))) << c->buffered();
  ASSERT_EQ(origin_->requestCount(), 2u);
  EXPECT_EQ(origin_->requests()[1].method, "HEAD");
}

// The HEAD response carries Content-Length but no body: the GET after it must not read one.
TEST_F(Forwarding, HeadThenGetOnOneConnection) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  const std::string a = at("origin.test");
  ASSERT_TRUE(c->send("HEAD http://" + a + "/small HTTP/1.1\r\nHost: " + a + "\r\n\r\n"));
  auto head = c->readResponse(milliseconds(3000), /*no_body=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  ASSERT_TRUE(c->send(getRequest(a, "/small")));
  auto get = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(get.has_value()) << c->buffered();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, kSmallBody);
}

// Chunked and close-delimited origin bodies reach an HTTP/1.1 client re-framed (chunked), so
// its connection could stay open.
TEST_F(Forwarding, ChunkedAndCloseDelimitedResponsesAreReframedForHttp11Clients) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  struct Row {
    const char* path;
    std::string_view body;
  };
  for (const Row& row : {Row{"/chunked", kChunkedBody}, Row{"/close", kUntilCloseBody}}) {
    SCOPED_TRACE(row.path);
    auto c = connectToProxy();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->send(getRequest(at("origin.test"), row.path)));
    auto r = c->readResponse(milliseconds(3000));
    ASSERT_TRUE(r.has_value()) << c->buffered();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Transfer-Encoding"), "chunked") << r->head;
    EXPECT_EQ(r->body, row.body);
  }
}

TEST_F(Forwarding, ChunkedThenCloseDelimitedOnOneKeepAliveConnection) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send(getRequest(at("origin.test"), "/chunked")));
  auto chunked = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(chunked.has_value());
  EXPECT_EQ(chunked->body, kChunkedBody);
  ASSERT_TRUE(c->send(getRequest(at("origin.test"), "/close")));
  auto until_close = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(until_close.has_value()) << c->buffered();
  EXPECT_EQ(until_close->body, kUntilCloseBody);
}

// F21: two requests for two hosts in one write, answered in order, each from its own host.
TEST_F(Forwarding, PipelinedRequestsForTwoHostsAreAnsweredInOrder) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(
      c->send(getRequest(at("origin.test"), "/small") + getRequest(at("a.api.test"), "/echo")));
  auto first = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, kSmallBody);
  auto second = c->readResponse(milliseconds(3000));
  ASSERT_TRUE(second.has_value()) << c->buffered();
  EXPECT_EQ(second->status, 200);
  EXPECT_NE(second->body.find("\r\nHost: " + at("a.api.test") + "\r\n"), std::string::npos)
      << second->body;
  const auto reqs = origin_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("Host"), at("origin.test"));
  EXPECT_EQ(reqs[1].header("Host"), at("a.api.test"));
  // The pool key is the host: a.api.test never travels on origin.test's connection.
  EXPECT_NE(reqs[0].connection, reqs[1].connection);
}

// F20: bytes after a "Connection: close" request are never parsed.
TEST_F(Forwarding, NothingAfterAConnectionCloseRequestIsAnswered) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  auto c = connectToProxy();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send(getRequest(at("origin.test"), "/small", "Connection: close\r\n") +
                      getRequest(at("origin.test"), "/echo")));
  const std::string raw = c->readUntilClose(milliseconds(5000));
  EXPECT_TRUE(c->closed());
  HttpResponse r;
  size_t used = 0;
  ASSERT_EQ(parseResponse(raw, true, false, &r, &used), ParseOutcome::kComplete) << raw;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kSmallBody);
  EXPECT_EQ(used, raw.size()) << "a second response followed: " << raw.substr(used);
  EXPECT_EQ(origin_->requestCount(), 1u);
}

// H3: a 1 GiB download whose first 32 MiB are read slowly (64 KiB every 2 ms through a small
// receive window) and the rest as fast as the client can: the proxy stops reading the origin
// instead of buffering, so its RSS stays bounded whatever the size: under 60 MiB, and (the
// sharper test: buffering would add the body) under 16 MiB above its RSS at the start.
// Sanitizer builds move 64 MiB and keep freed memory in quarantine, so there only the download
// is checked.
TEST_F(Forwarding, SlowReaderOfA1GiBDownloadKeepsTheProxyRssBounded) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  constexpr size_t kSize = kSanitizerBuild ? (64u << 20) : (1u << 30);
  constexpr size_t kSlowPart = 32u << 20;
  constexpr long kRssLimitKiB = 60L * 1024;
  constexpr long kGrowthLimitKiB = 16L * 1024;
  const long baseline = proxy_->rssKiB();
  std::string error;
  auto c = RawClient::connect(kProxyIp, proxy_->port(), &error);
  ASSERT_NE(c, nullptr) << error;
  c->setReceiveBuffer(64 * 1024);
  ASSERT_TRUE(c->send(getRequest(at("origin.test"), "/big?n=" + std::to_string(kSize))));

  const auto deadline = Clock::now() + milliseconds(90000);
  std::string head;
  std::vector<char> buf(size_t{64} * 1024);
  size_t body = 0;
  bool pattern_ok = true;
  long max_rss = 0;
  int reads = 0;
  while (Clock::now() < deadline) {
    const size_t n = c->readSome(buf.data(), buf.size(), milliseconds(2000));
    if (n == 0) break;
    size_t from = 0;
    if (head.find("\r\n\r\n") == std::string::npos) {
      head.append(buf.data(), n);
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      from = n - (head.size() - end - 4);
      head.resize(end + 4);
    }
    for (size_t i = from; i < n; ++i, ++body) {
      if (buf[i] != bigBodyByte(body)) pattern_ok = false;
    }
    if (body >= kSize) break;
    if (++reads % 16 == 0) max_rss = std::max(max_rss, proxy_->rssKiB());
    // The slow reader's pace, for the first part.
    if (body < kSlowPart) std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(head.rfind("HTTP/1.1 200 ", 0), 0u) << head;
  EXPECT_EQ(body, kSize);
  EXPECT_TRUE(pattern_ok);
  RecordProperty("baseline_rss_kib", static_cast<int>(baseline));
  RecordProperty("max_rss_kib", static_cast<int>(max_rss));
  EXPECT_GT(max_rss, 0);
  if (!kSanitizerBuild) {
    EXPECT_LT(max_rss, kRssLimitKiB) << "the proxy buffered the download";
    EXPECT_LT(max_rss - baseline, kGrowthLimitKiB) << "the proxy buffered the download";
  }
}

}  // namespace
}  // namespace gatehouse::testing
