// BAD-INPUTS G (header semantics, hop-by-hop headers, upgrades), H (resource exhaustion and
// timing) and J2-J4 (what the logs and metrics may hold).
//
// Choices asserted: G3 upgrades are stripped (not configurable to pass through); G7 the
// upstream's 100 Continue is relayed; G11 underscores in names are refused (400).
//
// Not applicable:
//   H6  RLIMIT_NOFILE on the proxy: the harness starts the binary itself and cannot lower its
//       limits (no prlimit on an unprivileged CI runner is assumed).
//   H12 a peer vanishing without FIN needs packet loss (netem / a network namespace).
//   H1  at scale (2 000 connections, 10 s drips) is the soak harness's job; here 20 connections
//       against a 1.5 s header timeout.
#include <thread>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

const std::string kGet = "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n";
const std::string kPost = "POST http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n";

std::string manyHeaders(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "X-H" + std::to_string(i) + ": v\r\n";
  return out;
}

long rss(Ctx& ctx) { return ctx.world.rig(ctx.c.profile).proxy->rssKiB(); }

}  // namespace

std::vector<Case> headerCases() {
  std::string xff(6000 * 9, ' ');
  xff.clear();
  for (int i = 0; i < 6000; ++i) xff += (i ? ", " : "") + std::string("10.0.0.1");
  std::string xff_huge;
  for (int i = 0; i < 10000; ++i) xff_huge += (i ? ", " : "") + std::string("10.0.0.1");

  std::vector<Case> c = {
      // ---- G1, G2 ----
      forward("G1", "Connection names Authorization: the client's Authorization is stripped",
              kGet + "Connection: Authorization\r\nAuthorization: Bearer secret-g1\r\n\r\n",
              lacksHeader("Authorization")),
      forward("G1.b", "Connection names a custom header: stripped",
              kGet + "Connection: X-Foo\r\nX-Foo: 1\r\n\r\n", lacksHeader("X-Foo")),
      forward("G1.c", "Connection names Host: the proxy's own Host is still sent",
              kGet + "Connection: Host\r\n\r\n", hasHeader("Host", "allowed.test:{P}")),
      forward("G1.d", "Connection names Content-Length: the proxy's framing is still sent",
              kPost + "Connection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
              all({hasHeader("Content-Length", "5"), bodyIs("hello")})),
      forward("G1.e", "Connection names Transfer-Encoding: the request stays chunked",
              kPost + "Connection: Transfer-Encoding\r\nTransfer-Encoding: "
                      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              all({hasHeader("Transfer-Encoding", "chunked"), bodyIs("hello")})),
      forward("G1.f", "two Connection headers, each naming a header",
              kGet + "Connection: X-A\r\nConnection: X-B\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n",
              all({lacksHeader("X-A"), lacksHeader("X-B"), hasHeader("X-C", "3")})),
      forward("G2", "Proxy-Authorization is not forwarded",
              kGet + "Proxy-Authorization: Basic eDp5\r\n\r\n", lacksHeader("Proxy-Authorization")),
      forward("G2.b", "Proxy-Connection is not forwarded",
              kGet + "Proxy-Connection: keep-alive\r\n\r\n", lacksHeader("Proxy-Connection")),
      forward("G2.c", "Keep-Alive is not forwarded", kGet + "Keep-Alive: timeout=5\r\n\r\n",
              lacksHeader("Keep-Alive")),
      forward("G2.d", "TE is not forwarded", kGet + "TE: trailers\r\n\r\n", lacksHeader("TE")),
      forward("G2.e", "Trailer is not forwarded", kGet + "Trailer: X-Sum\r\n\r\n",
              lacksHeader("Trailer")),
      forward("G2.f", "Upgrade is not forwarded", kGet + "Upgrade: foo/1\r\n\r\n",
              lacksHeader("Upgrade")),
      forward("G2.g", "Proxy-Authenticate in a request is not forwarded",
              kGet + "Proxy-Authenticate: Basic\r\n\r\n", lacksHeader("Proxy-Authenticate")),
      forward("G2.h", "end-to-end headers pass unchanged",
              kGet + "X-Custom: a, b;c=\"d\"\r\nAccept: */*\r\n\r\n",
              all({hasHeader("X-Custom", "a, b;c=\"d\""), hasHeader("Accept", "*/*")})),
      // ---- G3 ----
      forward("G3", "Upgrade: websocket on plain HTTP is stripped; forwarded as a plain request",
              kGet + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
                     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
              all({lacksHeader("Upgrade"), hasHeader("Sec-WebSocket-Version", "13")})),
      forward("G3.b", "h2c upgrade with HTTP2-Settings is stripped",
              kGet + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
                     "AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
              all({lacksHeader("Upgrade"), lacksHeader("HTTP2-Settings")})),
      refuse("G3.c", "denied host with Upgrade and early bytes: 403, nothing parsed or forwarded",
             "GET http://{U}.evil.test:{P}{T} HTTP/1.1\r\nHost: {U}.evil.test:{P}\r\nConnection: "
             "Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85"
             "early-frame",
             403)
          .noDns("{U}.evil.test"),
      // ---- G4-G6 ----
      refuse("G4", "101 header fields (cap 100)", kGet + manyHeaders(100) + "\r\n", 431)
          .reasonIs("too-many-headers"),
      forward("G4.b", "exactly 100 header fields (Host + 99) are accepted",
              kGet + manyHeaders(99) + "\r\n", hasHeader("X-H98", "v")),
      refuse("G5", "a 70 KiB header (cap 64 KiB)",
             kGet + "X-Big: " + std::string(size_t{70} * 1024, 'b') + "\r\n\r\n", 431)
          .reasonIs("headers-too-large"),
      refuse("G5.b", "a 1 MiB header: refused at the cap, memory bounded",
             kGet + "X-Big: " + std::string(size_t{1} << 20, 'b') + "\r\n\r\n", 431),
      forward("G5.c", "a 60 KiB header under the cap is forwarded whole",
              kGet + "X-Big: " + std::string(size_t{60} * 1024, 'b') + "\r\n\r\n",
              [](const SinkRecord& r, const Ctx&) -> std::string {
                return r.request.header("X-Big").size() == 60 * 1024 ? "" : "X-Big was altered";
              }),
      refuse(
          "G5.d", "many small headers over the byte cap",
          kGet +
              [] {
                std::string h;
                for (int i = 0; i < 90; ++i)
                  h += "X-F" + std::to_string(i) + ": " + std::string(800, 'f') + "\r\n";
                return h;
              }() +
              "\r\n",
          431),
      forward("G6", "X-Forwarded-For with 6 000 entries: bounded work, forwarded unchanged",
              kGet + "X-Forwarded-For: " + xff + "\r\n\r\n",
              [xff](const SinkRecord& r, const Ctx&) -> std::string {
                return r.request.count("X-Forwarded-For") == 1 &&
                               r.request.header("X-Forwarded-For").size() == xff.size()
                           ? ""
                           : "X-Forwarded-For altered";
              }),
      refuse("G6.b", "X-Forwarded-For with 10 000 entries is over the head cap",
             kGet + "X-Forwarded-For: " + xff_huge + "\r\n\r\n", 431),
      // ---- G7-G11 ----
      custom("G7", "Expect: 100-continue on an allowed POST: 100 arrives, then the body streams",
             [](Ctx& ctx) {
               auto client = ctx.connect();
               if (client == nullptr) return;
               const std::string head =
                   ctx.expand(kPost + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
               ctx.sent = head + "hello";
               client->send(head);
               auto interim = client->readResponse(milliseconds(3000));
               if (!ctx.expect(interim.has_value(), "no 100 Continue before the body")) return;
               ctx.expect(interim->status == 100,
                          "expected 100, got " + std::to_string(interim->status));
               client->send("hello");
               auto final_response = client->readResponse(milliseconds(3000));
               ctx.expect(final_response && final_response->status == 200, "no final 200");
               const auto recs = ctx.sinkRecords("");
               ctx.expect(recs.size() == 1 && recs[0].request.body == "hello",
                          "the body did not reach the upstream");
             }),
      refuse("G8", "Expect: 100-continue on a denied POST: 403 at once, body never read",
             "POST http://{U}.evil.test:{P}{T} HTTP/1.1\r\nHost: {U}.evil.test:{P}\r\nExpect: "
             "100-continue\r\nContent-Length: 1000000\r\n\r\n",
             403)
          .noDns("{U}.evil.test"),
      refuse("G9", "Expect: foo", kGet + "Expect: foo\r\n\r\n", 417).reasonIs("expectation-failed"),
      refuse("G9.b", "two Expect: 100-continue headers",
             kPost + "Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
             417),
      refuse("G9.c", "Expect: 100-continue, foo",
             kPost + "Expect: 100-continue, foo\r\nContent-Length: 1\r\n\r\nx", 417),
      forward("G9.d", "Expect on HTTP/1.0 is ignored and not forwarded",
              "GET http://{A}{T} HTTP/1.0\r\nHost: {A}\r\nExpect: 100-continue\r\nConnection: "
              "keep-alive\r\n\r\n",
              lacksHeader("Expect")),
      refuse("G10", "TRACE", "TRACE http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n\r\n", 405),
      refuse("G10.b", "TRACE with Max-Forwards",
             "TRACE http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nMax-Forwards: 0\r\n\r\n", 405),
      refuse("G10.c", "TRACK (not a method)", "TRACK http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n\r\n",
             400),
      refuse("G11", "underscore in a header name", kGet + "X_Forwarded_For: 1.2.3.4\r\n\r\n", 400)
          .reasonIs("underscore-header"),
      refuse("G11.b", "Content_Length (underscore look-alike of a framing header)",
             kPost + "Content_Length: 5\r\n\r\nhello", 400),
      // ---- H ----
      custom("H1",
             "slowloris: 20 connections dripping a head are closed at the header timeout "
             "while a probe keeps being answered",
             [](Ctx& ctx) {
               std::vector<std::unique_ptr<RawClient>> slow;
               for (int i = 0; i < 20; ++i) {
                 auto client = ctx.connect();
                 if (client == nullptr) return;
                 client->send(ctx.expand("GET http://{A}{T} HTTP/1.1\r\nX-A: "));
                 slow.push_back(std::move(client));
               }
               const auto started = Clock::now();
               // One connection keeps dripping a byte whenever 100 ms pass without an answer.
               auto& drip = *slow.front();
               while (!drip.waitForData(milliseconds(100)) && !drip.closed() &&
                      testing::elapsedMs(started) < 4000) {
                 drip.send("a");
               }
               const long drip_ms = testing::elapsedMs(started);
               ctx.expect(
                   drip_ms >= 1000 && drip_ms < 3500,
                   "the dripping connection was cut after " + std::to_string(drip_ms) + " ms");
               auto probe = ctx.exchangeUntilClose(ctx.expand(
                   "GET http://{A}{T}/probe HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n\r\n"));
               ctx.expect(!probe.responses.empty() && probe.responses[0].status == 200,
                          "the probe was not answered during the slowloris");
               for (auto& s : slow) {
                 const std::string got = s->readUntilClose(milliseconds(3000));
                 ctx.expect(s->closed(), "a slow connection stayed open");
                 ctx.expect(got.rfind("HTTP/1.1 408", 0) == 0,
                            "expected 408 then the close, got " + escapeBytes(got, 100));
               }
             })
          .serialRun(),
      custom("H2",
             "slow body: a request whose body stops arriving is ended (504, both sides closed) "
             "by the response timeout; gatehouse has no separate body-idle timeout",
             [](Ctx& ctx) {
               auto client = ctx.connect();
               if (client == nullptr) return;
               client->send(ctx.expand(kPost + "Content-Length: 10\r\n\r\nab"));
               const auto started = Clock::now();
               const std::string got = client->readUntilClose(milliseconds(6000));
               const long ms = testing::elapsedMs(started);
               // The response timer (1.5 s) runs while the body is awaited: observed 1.5-3 s.
               ctx.expect(client->closed() && ms < 4500,
                          (client->closed() ? "closed only after " : "still open after ") +
                              std::to_string(ms) +
                              " ms without body bytes: " + escapeBytes(got, 200));
               ctx.expect(got.rfind("HTTP/1.1 504", 0) == 0,
                          "expected 504, got " + escapeBytes(got, 100));
               // The upstream side is closed too (the sink saw the request end unfinished).
               bool upstream_closed = false;
               const auto deadline = Clock::now() + milliseconds(2000);
               while (!upstream_closed && Clock::now() < deadline) {
                 for (const SinkRecord& r : ctx.sinkRecords()) {
                   upstream_closed = upstream_closed || r.suffix.rfind("(incomplete)", 0) == 0;
                 }
                 if (!upstream_closed) std::this_thread::sleep_for(milliseconds(20));
               }
               ctx.expect(upstream_closed, "the upstream connection was left open");
             })
          .on(Profile::kLimits)
          .serialRun(),
      custom("H3", "slow reader: the proxy stops reading the upstream at its watermark",
             [](Ctx& ctx) {
               const long before = rss(ctx);
               const uint64_t sent_before = ctx.world.sink().bytesSent();
               auto client = ctx.connect();
               if (client == nullptr) return;
               client->setReceiveBuffer(4096);
               client->send(
                   ctx.expand("GET http://{A}{T}/big/67108864 HTTP/1.1\r\nHost: {A}\r\n\r\n"));
               // Wait until the sink stops making progress (TCP windows and the proxy's buffers
               // are full), within a deadline.
               uint64_t last = 0;
               int stable = 0;
               const auto deadline = Clock::now() + milliseconds(5000);
               while (stable < 5 && Clock::now() < deadline) {
                 std::this_thread::sleep_for(milliseconds(50));
                 const uint64_t now = ctx.world.sink().bytesSent() - sent_before;
                 stable = now == last && now > 0 ? stable + 1 : 0;
                 last = now;
               }
               ctx.expect(last < (uint64_t{64} << 20),
                          "the whole 64 MiB left the upstream although the client read nothing");
               const long grown = rss(ctx) - before;
               ctx.expect(testing::kSanitizerBuild || grown < 16 * 1024,
                          "RSS grew by " + std::to_string(grown) + " KiB");
             })
          .serialRun(),
      custom("H4", "idle keep-alive connections are closed at idle_timeout_ms (1 s)",
             [](Ctx& ctx) {
               std::vector<std::unique_ptr<RawClient>> idle;
               for (int i = 0; i < 4; ++i) {
                 auto client = ctx.connect();
                 if (client == nullptr) return;
                 client->send(ctx.expand(kGet + "\r\n"));
                 auto r = client->readResponse(milliseconds(3000));
                 ctx.expect(r && r->status == 200, "request not served");
                 idle.push_back(std::move(client));
               }
               for (auto& client : idle) {
                 ctx.expect(client->waitForClose(milliseconds(4000)),
                            "an idle keep-alive connection was never closed");
               }
             })
          .on(Profile::kLimits)
          .serialRun(),
      custom("H5", "connections above the cap (12) get 503 and a close; existing ones keep working",
             [](Ctx& ctx) {
               std::vector<std::unique_ptr<RawClient>> held;
               for (int i = 0; i < 12; ++i) {
                 auto client = ctx.connect();
                 if (client == nullptr) return;
                 client->send("G");  // accepted and counted, the head still incomplete
                 held.push_back(std::move(client));
               }
               auto extra = ctx.exchangeUntilClose(ctx.expand(kGet + "\r\n"), milliseconds(3000));
               ctx.expect(extra.closed, "the connection over the cap stayed open");
               ctx.expect(
                   !extra.responses.empty() && extra.responses[0].status == 503 &&
                       !extra.responses[0].header("Retry-After").empty(),
                   "over the cap: expected 503 with Retry-After, got " +
                       std::to_string(extra.responses.empty() ? 0 : extra.responses[0].status));
               ctx.expect(ctx.sinkRecords("").empty(), "the request over the cap was forwarded");
               // An existing connection finishes its request.
               held.back()->send(ctx.expand("ET http://{A}{T}/held HTTP/1.1\r\nHost: {A}\r\n\r\n"));
               auto r = held.back()->readResponse(milliseconds(3000));
               ctx.expect(r && r->status == 200, "an existing connection stopped working");
             })
          .on(Profile::kLimits)
          .serialRun(),
      custom("H7", "a 24 MiB upload streams with bounded proxy memory",
             [](Ctx& ctx) {
               const long before = rss(ctx);
               auto client = ctx.connect();
               if (client == nullptr) return;
               const size_t total = size_t{24} << 20;
               client->send(
                   ctx.expand(kPost + "Content-Length: " + std::to_string(total) + "\r\n\r\n"));
               const std::string block(size_t{256} * 1024, 'u');
               for (size_t sent = 0; sent < total; sent += block.size()) {
                 if (!client->send(block)) break;
               }
               auto r = client->readResponse(milliseconds(10000));
               ctx.expect(r && r->status == 200, "the upload was not answered");
               const auto recs = ctx.sinkRecords("");
               ctx.expect(recs.size() == 1 && recs[0].request.body.size() == total,
                          "the sink did not receive the whole body");
               const long grown = rss(ctx) - before;
               ctx.expect(testing::kSanitizerBuild || grown < 16 * 1024,
                          "RSS grew by " + std::to_string(grown) + " KiB");
             })
          .serialRun(),
      custom("H8", "2 000 pipelined requests in one write: answered in order, bounded memory",
             [](Ctx& ctx) {
               const long before = rss(ctx);
               auto client = ctx.connect();
               if (client == nullptr) return;
               std::string bytes;
               for (int i = 0; i < 2000; ++i) {
                 bytes += ctx.expand("GET http://{A}{T}/p" + std::to_string(i) +
                                     " HTTP/1.1\r\nHost: {A}\r\n\r\n");
               }
               std::thread writer([&] { client->send(bytes); });
               int in_order = 0;
               for (int i = 0; i < 2000; ++i) {
                 auto r = client->readResponse(milliseconds(5000));
                 if (!r) break;
                 in_order += r->body == "ok " + ctx.path("/p" + std::to_string(i)) + "\n";
               }
               writer.join();
               ctx.expect(in_order == 2000,
                          std::to_string(in_order) + " of 2000 answered in order");
               const long grown = rss(ctx) - before;
               ctx.expect(testing::kSanitizerBuild || grown < 16 * 1024,
                          "RSS grew by " + std::to_string(grown) + " KiB");
             })
          .serialRun(),
      custom(
          "H9", "a storm of 60 denied requests: every one refused, denial lines sampled",
          [](Ctx& ctx) {
            for (int i = 0; i < 60; ++i) {
              auto ex = ctx.exchangeUntilClose(ctx.expand(
                  "GET http://{U}.storm.test:{P}/ HTTP/1.1\r\nHost: {U}.storm.test:{P}\r\n\r\n"));
              if (ex.responses.empty() || ex.responses[0].status != 403) {
                ctx.fail("request " + std::to_string(i) + " was not refused with 403");
                return;
              }
            }
            ctx.noDns("{U}.storm.test");
          })
          .on(Profile::kLimits)
          .serialRun()
          .after([](Ctx& ctx) {
            size_t lines = 0;
            bool dropped = false;
            const std::string host = ctx.expand("\"host\":\"{U}.storm.test\"");
            for (const std::string& l : ctx.world.rig(Profile::kLimits).proxy->decisionLines()) {
              lines += l.find(host) != std::string::npos;
              dropped = dropped || l.find("dropped_denials") != std::string::npos;
            }
            ctx.expect(lines < 60, "all 60 denials were logged (sampling at 5/s)");
            ctx.expect(dropped, "no line says how many denials were dropped");
          }),
      custom("H13",
             "rate limit (1/s, burst 2) exceeded: 429 with Retry-After; another session is "
             "unaffected",
             [](Ctx& ctx) {
               int limited = 0;
               for (int i = 0; i < 5; ++i) {
                 auto ex = ctx.exchangeUntilClose(
                     ctx.expand("GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n" +
                                proxyAuth("sbx-rl") + "\r\n"));
                 if (ex.responses.empty()) continue;
                 if (ex.responses[0].status == 429) {
                   ++limited;
                   ctx.expect(!ex.responses[0].header("Retry-After").empty(),
                              "429 without Retry-After");
                 }
               }
               ctx.expect(limited >= 2, "expected at least 2 of 5 rapid requests limited, got " +
                                            std::to_string(limited));
               auto other = ctx.exchangeUntilClose(ctx.expand(
                   "GET http://{A}{T}/other HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n" +
                   proxyAuth("sbx-1") + "\r\n"));
               ctx.expect(!other.responses.empty() && other.responses[0].status == 200,
                          "another session was limited too");
             })
          .on(Profile::kGit)
          .serialRun(),
      // ---- J2-J4 ----
      forward(
          "J2", "Authorization, Proxy-Authorization, Cookie and the query never reach the log",
          "GET http://{A}{T}?token=SECRETQ{N} HTTP/1.1\r\nHost: {A}\r\nAuthorization: Bearer "
          "SECRETA{N}\r\nProxy-Authorization: Basic U0VDUkVUUA==\r\nCookie: s=SECRETC{N}\r\n\r\n")
          .after([](Ctx& ctx) {
            for (const std::string& l : ctx.world.rig(Profile::kMain).proxy->decisionLines()) {
              for (const char* s : {"SECRETQ{N}", "SECRETA{N}", "SECRETC{N}", "U0VDUkVUUA"}) {
                if (l.find(ctx.expand(s)) != std::string::npos) {
                  ctx.fail(std::string("a secret in the decision log: ") + escapeBytes(l, 300));
                }
              }
            }
          }),
      forward("J3", "quotes, backslashes and braces in the user agent are forwarded as they are",
              kGet + "User-Agent: x\"}{\\\"q\r\n\r\n", hasHeader("User-Agent", "x\"}{\\\"q")),
      refuse("J3.b", "ESC in the user agent (terminal escape in logs) is refused",
             kGet + "User-Agent: x\x1b[31mred\r\n\r\n", 400),
      refuse("J3.c", "a quote and a brace in the host",
             "GET http://evil\"}.test:{P}{T} HTTP/1.1\r\nHost: {A}\r\n\r\n", 400),
      refuse("J3.d", "CRLF-encoded log forging in the path is never decoded",
             "GET http://{U}.evil.test:{P}{T}%0d%0a{\"decision\":\"allow\"} HTTP/1.1\r\nHost: "
             "{U}.evil.test:{P}\r\n\r\n",
             403)
          .noDns("{U}.evil.test"),
      refuse("J4",
             "an attacker-chosen host never becomes a metric label (checked in /metrics "
             "after the run)",
             "GET http://{U}.attacker.test:{P}/ HTTP/1.1\r\nHost: {U}.attacker.test:{P}\r\n\r\n",
             403)
          .noDns("{U}.attacker.test"),
  };
  return c;
}

}  // namespace gatehouse::catalogue
