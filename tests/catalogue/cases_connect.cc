// BAD-INPUTS E (CONNECT tunnels). The tunnel endpoint is the echo server on 127.0.0.2:{Q}: it
// records what reaches it and sends it back. Every ClientHello carries "CATTAG<tag>;" in its
// random field, so INV-NOBYTES is checked per case: a refused tunnel leaves no record of its tag.
//
// Not applicable:
//   E11 (upstream connect timeout): every loopback address answers at once (accept or RST); a
//       black-holed destination needs routing the test cannot set up without privileges.
//   E10 max tunnel duration: gatehouse has no duration cap (idle timeout only; tested).
#include <thread>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

std::string connect(const std::string& authority, const std::string& extra = "") {
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n" + extra + "\r\n";
}

// Reads exactly `n` bytes (or fewer on close/timeout).
std::string readBytes(RawClient& client, size_t n, milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[65536];
  while (out.size() < n && Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    const size_t got = client.readSome(buf, std::min(sizeof buf, n - out.size()), left);
    if (got == 0) break;
    out.append(buf, got);
  }
  return out;
}

enum class Then { kEcho, kClose };

// CONNECT `request`; expects 200, sends `hello` (in `pieces` writes), then either gets the bytes
// echoed (the tunnel works and carried them unchanged) or a close with nothing having reached the
// echo endpoint. `early`: the hello goes in the same write as the CONNECT.
void tunnel(Ctx& ctx, const std::string& request_tmpl, const std::string& hello, Then then,
            bool early = false, int pieces = 1, const std::string& reason = "") {
  auto client = ctx.connect();
  if (client == nullptr) return;
  const std::string request = ctx.expand(request_tmpl);
  ctx.sent = request + hello;
  client->send(early ? request + hello : request);
  auto established = client->readResponse(milliseconds(3000), /*no_body=*/true);
  if (!ctx.expect(established.has_value(), "no response to the CONNECT")) return;
  if (!ctx.expect(established->status == 200, "CONNECT: expected 200, actual " +
                                                  std::to_string(established->status) + " " +
                                                  established->header("X-Gatehouse-Reason"))) {
    return;
  }
  if (!early) {
    const size_t step = (hello.size() + pieces - 1) / pieces;
    for (size_t at = 0; at < hello.size(); at += step) {
      client->send(std::string_view(hello).substr(at, step));
      if (pieces > 1) std::this_thread::yield();
    }
  }
  if (then == Then::kEcho) {
    const std::string back = readBytes(*client, hello.size(), milliseconds(3000));
    ctx.expect(back == hello, "expected the " + std::to_string(hello.size()) +
                                  " bytes echoed through the tunnel, got " +
                                  std::to_string(back.size()) + " (" + escapeBytes(back, 80) + ")");
    ctx.expect(!ctx.echoRecords().empty(), "the tunnel endpoint never saw the case's bytes");
    return;
  }
  const bool closed = client->waitForClose(milliseconds(3000));
  ctx.expect(closed, "expected the proxy to close the tunnel");
  const auto records = ctx.echoRecords();
  ctx.expect(records.empty(),
             "INV-NOBYTES: the ClientHello reached the upstream: " +
                 (records.empty() ? std::string() : escapeBytes(records[0].raw, 80)));
  if (!reason.empty()) {
    // The decision line names why; it is checked once the log is complete.
    (void)reason;
  }
}

Case tunnelCase(std::string id, std::string why, std::string request, std::string sni, Then then,
                HelloOptions options = {}, bool early = false, int pieces = 1) {
  return custom(std::move(id), std::move(why),
                [request, sni, then, options, early, pieces](Ctx& ctx) {
                  tunnel(ctx, request, clientHello(sni, ctx.tag, options), then, early, pieces);
                });
}

}  // namespace

std::vector<Case> connectCases() {
  std::vector<Case> c;
  // ---- E1 ----
  c.push_back(tunnelCase("E1", "allowed CONNECT: 200, then the ClientHello spliced unchanged",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho));
  c.push_back(tunnelCase("E1.b", "allowed wildcard name", connect("a.api.test:{Q}"), "a.api.test",
                         Then::kEcho));
  c.push_back(tunnelCase("E1.c", "uppercase CONNECT host, lowercase SNI",
                         connect("ALLOWED.TEST:{Q}"), "allowed.test", Then::kEcho));
  c.push_back(tunnelCase("E1.d", "trailing-dot CONNECT host, SNI without (same name)",
                         connect("allowed.test.:{Q}"), "allowed.test", Then::kEcho));
  c.push_back(tunnelCase("E1.e", "uppercase SNI for a lowercase host (names are case-insensitive)",
                         connect("allowed.test:{Q}"), "ALLOWED.TEST", Then::kEcho));
  c.push_back(tunnelCase("E1.f", "CONNECT without a Host header",
                         "CONNECT allowed.test:{Q} HTTP/1.1\r\n\r\n", "allowed.test", Then::kEcho));
  c.push_back(tunnelCase("E1.g", "HTTP/1.0 CONNECT", "CONNECT allowed.test:{Q} HTTP/1.0\r\n\r\n",
                         "allowed.test", Then::kEcho));
  c.push_back(tunnelCase("E1.h", "mixed answers: only the public address is dialed",
                         connect("mixed.api.test:{Q}"), "mixed.api.test", Then::kEcho));
  // ---- E2 ----
  for (const char* port : {"22", "25", "6379", "11211", "8080"}) {
    c.push_back(refuse(std::string("E2.") + port, std::string("allowed host, port ") + port,
                       connect(std::string("allowed.test:") + port), 403)
                    .reasonIs("port-not-allowed"));
  }
  // ---- E3, E4, E9: malformed CONNECTs ----
  c.push_back(refuse("E3", "no port", connect("allowed.test"), 400));
  c.push_back(refuse("E3.b", "empty port", connect("allowed.test:"), 400));
  c.push_back(
      refuse("E3.c", "slash target", "CONNECT / HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400));
  c.push_back(refuse("E3.d", "absolute URI target",
                     "CONNECT http://allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n",
                     400));
  c.push_back(refuse("E3.e", "authority with a path",
                     "CONNECT allowed.test:{Q}/x HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400));
  c.push_back(refuse("E3.f", "userinfo in the authority",
                     "CONNECT u@allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400)
                  .reasonIs("userinfo"));
  c.push_back(refuse("E3.g", "port 0", connect("allowed.test:0"), 400));
  c.push_back(refuse("E3.h", "port 65536", connect("allowed.test:65536"), 400));
  c.push_back(refuse("E3.i", "port +443", connect("allowed.test:+443"), 400));
  c.push_back(
      refuse("E3.j", "asterisk", "CONNECT * HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400));
  c.push_back(refuse("E3.k", "query in the authority",
                     "CONNECT allowed.test:{Q}?x HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400));
  c.push_back(refuse("E3.l", "percent-encoded host", connect("%61llowed.test:{Q}"), 400));
  c.push_back(refuse("E3.m", "two colons", connect("allowed.test::{Q}"), 400));
  c.push_back(refuse("E4", "Host names another host than the CONNECT target",
                     "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: evil.test:{Q}\r\n\r\n", 400)
                  .noDns("evil.test"));
  c.push_back(refuse("E4.b", "denied target, allowed Host: never routed by Host",
                     "CONNECT evil.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\n\r\n", 400)
                  .noDns("evil.test"));
  c.push_back(refuse("E4.c", "Host port differs",
                     "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n", 400));
  c.push_back(refuse("E4.d", "two Host headers",
                     "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\nHost: "
                     "allowed.test:{Q}\r\n\r\n",
                     400));
  c.push_back(
      refuse("E9", "CONNECT with Content-Length",
             "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\nContent-Length: "
             "5\r\n\r\nhello",
             400)
          .reasonIs("connect-body"));
  c.push_back(refuse("E9.b", "CONNECT with Transfer-Encoding",
                     "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     400));
  c.push_back(
      refuse("E9.c", "CONNECT with Content-Length: 0",
             "CONNECT allowed.test:{Q} HTTP/1.1\r\nHost: allowed.test:{Q}\r\nContent-Length: "
             "0\r\n\r\n",
             400));
  // ---- E5-E7: what the tunnel may carry ----
  c.push_back(tunnelCase("E5", "SNI names a denied host (domain fronting)",
                         connect("allowed.test:{Q}"), "evil.test", Then::kClose));
  c.push_back(tunnelCase("E5.b", "SNI names another allowed host", connect("allowed.test:{Q}"),
                         "a.api.test", Then::kClose));
  c.push_back(tunnelCase("E5.c", "SNI is a suffix trick", connect("allowed.test:{Q}"),
                         "allowed.test.evil.test", Then::kClose));
  c.push_back(tunnelCase("E5.d", "SNI is the CONNECT host plus junk", connect("allowed.test:{Q}"),
                         "allowed.testx", Then::kClose));
  HelloOptions two;
  two.two_snis = true;
  c.push_back(tunnelCase("E5.e", "two host_name entries, the second denied",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kClose, two));
  c.push_back(tunnelCase("E6", "no SNI on a hostname CONNECT", connect("allowed.test:{Q}"), "",
                         Then::kClose));
  c.push_back(custom("E6.b", "plain HTTP instead of TLS inside the tunnel", [](Ctx& ctx) {
    tunnel(ctx, connect("allowed.test:{Q}"),
           ctx.expand("GET {T} HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), Then::kClose);
  }));
  c.push_back(custom("E6.c", "a malformed ClientHello (lengths inconsistent)", [](Ctx& ctx) {
    std::string hello = clientHello("allowed.test", ctx.tag);
    hello[3] = '\x7f';  // the record claims far more than follows... then junk
    hello[4] = '\x00';
    hello += std::string(0x7f00, 'j');
    tunnel(ctx, connect("allowed.test:{Q}"), hello, Then::kClose);
  }));
  c.push_back(
      custom("E6.d", "a handshake that is not a ClientHello (ServerHello type)", [](Ctx& ctx) {
        std::string hello = clientHello("allowed.test", ctx.tag);
        hello[5] = '\x02';
        tunnel(ctx, connect("allowed.test:{Q}"), hello, Then::kClose);
      }));
  HelloOptions split;
  split.split_records = true;
  c.push_back(tunnelCase("E6.e", "ClientHello split across two TLS records is parsed",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, split));
  c.push_back(tunnelCase("E6.f", "ClientHello split across TCP writes is parsed",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, {}, false, 7));
  HelloOptions padded;
  padded.padding_before_sni = 1400;
  c.push_back(tunnelCase("E6.g", "SNI after byte 1024 (large key shares) is found",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, padded));
  HelloOptions padded_split = padded;
  padded_split.split_records = true;
  c.push_back(tunnelCase("E6.h", "long ClientHello split over records and writes",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, padded_split,
                         false, 3));
  c.push_back(tunnelCase("E6.i", "SNI mismatch hidden after byte 1024", connect("allowed.test:{Q}"),
                         "evil.test", Then::kClose, padded));
  HelloOptions ech;
  ech.ech = true;
  c.push_back(tunnelCase("E7",
                         "ECH with the allowed outer SNI: refused by default (SPEC §3.7: "
                         "the inner name cannot be checked)",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kClose, ech));
  c.push_back(tunnelCase("E7.b",
                         "ECH allowed by configuration: the outer SNI is still checked "
                         "and the tunnel works",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, ech)
                  .on(Profile::kLimits)
                  .serialRun());
  c.push_back(tunnelCase("E7.c", "ECH allowed by configuration, outer SNI denied",
                         connect("allowed.test:{Q}"), "evil.test", Then::kClose, ech)
                  .on(Profile::kLimits)
                  .serialRun());
  // ---- E8: early bytes after a denied CONNECT ----
  c.push_back(
      refuse("E8",
             "denied CONNECT followed at once by a request: 403, close, the request "
             "is never parsed nor forwarded",
             connect("evil.test:443") + "GET http://{A}{T}/early HTTP/1.1\r\nHost: {A}\r\n\r\n",
             403)
          .noDns("evil.test"));
  c.push_back(custom("E8.b", "denied CONNECT followed at once by a ClientHello", [](Ctx& ctx) {
    const std::string bytes =
        ctx.expand(connect("evil.test:{Q}")) + clientHello("evil.test", ctx.tag) + ctx.followUp();
    auto ex = ctx.exchangeUntilClose(bytes);
    ctx.expect(ex.responses.size() == 1 && ex.responses[0].status == 403,
               "expected exactly one 403, got " + std::to_string(ex.responses.size()) +
                   " response(s)" +
                   (ex.responses.empty() ? "" : " " + std::to_string(ex.responses[0].status)));
    ctx.expect(ex.closed && ex.leftover.empty(), "INV-CLOSE: more after the 403");
    ctx.noDns("evil.test");
  }));
  c.push_back(refuse(
      "E8.c", "port-denied CONNECT followed at once by a request",
      connect("allowed.test:22") + "GET http://{A}{T}/early HTTP/1.1\r\nHost: {A}\r\n\r\n", 403));
  c.push_back(
      refuse("E8.d", "address-denied CONNECT followed at once by a request",
             connect("loop.api.test:{Q}") + "GET http://{A}{T}/early HTTP/1.1\r\nHost: {A}\r\n\r\n",
             403)
          .reasonIs("address-denied"));
  c.push_back(refuse(
      "E8.e", "malformed CONNECT followed at once by a request",
      connect("allowed.test") + "GET http://{A}{T}/early HTTP/1.1\r\nHost: {A}\r\n\r\n", 400));
  c.push_back(tunnelCase("E8.f",
                         "allowed CONNECT with the ClientHello in the same write "
                         "(optimistic): held until the decision, then checked and spliced",
                         connect("allowed.test:{Q}"), "allowed.test", Then::kEcho, {}, true));
  c.push_back(tunnelCase("E8.g", "allowed CONNECT with a fronting ClientHello in the same write",
                         connect("allowed.test:{Q}"), "evil.test", Then::kClose, {}, true));
  // ---- E10: half-close, RST, idle ----
  c.push_back(custom("E10",
                     "client half-close mid-tunnel is propagated; the echo's reply still "
                     "arrives, then EOF",
                     [](Ctx& ctx) {
                       auto client = ctx.connect();
                       if (client == nullptr) return;
                       client->send(ctx.expand(connect("allowed.test:{Q}")));
                       auto r = client->readResponse(milliseconds(3000), true);
                       if (!ctx.expect(r && r->status == 200, "CONNECT not established")) return;
                       const std::string hello = clientHello("allowed.test", ctx.tag);
                       client->send(hello);
                       client->shutdownWrite();
                       const std::string back =
                           readBytes(*client, hello.size(), milliseconds(3000));
                       ctx.expect(back == hello, "the echo did not come back after the half-close");
                       ctx.expect(client->waitForClose(milliseconds(3000)),
                                  "the upstream's EOF was not propagated");
                     }));
  c.push_back(custom(
      "E10.b", "upstream half-close is propagated while the client can still send", [](Ctx& ctx) {
        auto client = ctx.connect();
        if (client == nullptr) return;
        client->send(ctx.expand(connect("allowed.test:{Q}")));
        auto r = client->readResponse(milliseconds(3000), true);
        if (!ctx.expect(r && r->status == 200, "CONNECT not established")) return;
        const std::string hello = clientHello("allowed.test", ctx.tag);
        client->send(hello + "HALFCLOSE");
        const std::string back = readBytes(*client, hello.size() + 9, milliseconds(3000));
        ctx.expect(back == hello + "HALFCLOSE", "echo missing");
        // EOF from the upstream, but the client's direction stays open.
        char tmp[16];
        ctx.expect(client->readSome(tmp, sizeof tmp, milliseconds(2000)) == 0 && client->closed(),
                   "expected EOF after the upstream's half-close");
        client->send("after-half-close");
        const auto deadline = Clock::now() + milliseconds(2000);
        bool arrived = false;
        while (!arrived && Clock::now() < deadline) {
          for (const auto& rec : ctx.echoRecords()) {
            arrived = arrived || rec.raw.find("after-half-close") != std::string::npos;
          }
          if (!arrived) std::this_thread::sleep_for(milliseconds(10));
        }
        ctx.expect(arrived, "bytes sent after the upstream's half-close were lost");
      }));
  c.push_back(custom("E10.c", "upstream RST closes both sides", [](Ctx& ctx) {
    auto client = ctx.connect();
    if (client == nullptr) return;
    client->send(ctx.expand(connect("allowed.test:{Q}")));
    auto r = client->readResponse(milliseconds(3000), true);
    if (!ctx.expect(r && r->status == 200, "CONNECT not established")) return;
    client->send(clientHello("allowed.test", ctx.tag) + "RSTNOW");
    ctx.expect(client->waitForClose(milliseconds(3000)), "the client side stayed open after RST");
  }));
  c.push_back(
      custom("E10.d", "an idle tunnel is closed at tunnel_idle_timeout_ms (500 ms)",
             [](Ctx& ctx) {
               auto client = ctx.connect();
               if (client == nullptr) return;
               client->send(ctx.expand(connect("allowed.test:{Q}")));
               auto r = client->readResponse(milliseconds(3000), true);
               if (!ctx.expect(r && r->status == 200, "CONNECT not established")) return;
               const std::string hello = clientHello("allowed.test", ctx.tag);
               client->send(hello);
               readBytes(*client, hello.size(), milliseconds(3000));
               const auto started = Clock::now();
               ctx.expect(client->waitForClose(milliseconds(3000)), "the idle tunnel stayed open");
               const long ms = testing::elapsedMs(started);
               ctx.expect(ms >= 300 && ms < 2500, "closed after " + std::to_string(ms) + " ms");
             })
          .on(Profile::kLimits)
          .serialRun());
  // ---- E11 ----
  c.push_back(refuse("E11", "nothing listens on the allowed destination port: 502",
                     connect("allowed.test:{C}"), 502)
                  .reasonIs("upstream-unreachable"));
  c.push_back(refuse("E11.b", "the same for absolute-form",
                     "GET http://allowed.test:{C}{T} HTTP/1.1\r\nHost: "
                     "allowed.test:{C}\r\n\r\n",
                     502)
                  .reasonIs("upstream-unreachable"));
  // ---- E12 ----
  c.push_back(
      custom("E12",
             "tunnel cap (2) reached: 503 with Retry-After (the catalogue allows 429 or 503), open "
             "tunnels unaffected",
             [](Ctx& ctx) {
               std::vector<std::unique_ptr<RawClient>> open;
               // Tunnels of earlier serial cases may still be winding down: retry a
               // refused one for a moment.
               const auto deadline = Clock::now() + milliseconds(3000);
               while (open.size() < 2) {
                 auto client = ctx.connect();
                 if (client == nullptr) return;
                 client->send(ctx.expand(connect("allowed.test:{Q}")));
                 auto r = client->readResponse(milliseconds(3000), true);
                 if (r && r->status == 503 && Clock::now() < deadline) {
                   std::this_thread::sleep_for(milliseconds(20));
                   continue;
                 }
                 if (!ctx.expect(r && r->status == 200,
                                 "tunnel " + std::to_string(open.size()) + " not established")) {
                   return;
                 }
                 const std::string hello = clientHello("allowed.test", ctx.tag);
                 client->send(hello);
                 readBytes(*client, hello.size(), milliseconds(3000));
                 open.push_back(std::move(client));
               }
               auto ex = ctx.exchangeUntilClose(ctx.expand(connect("allowed.test:{Q}")));
               if (ctx.expect(!ex.responses.empty(), "no response to the third tunnel")) {
                 const HttpResponse& r = ex.responses[0];
                 ctx.expect(
                     r.status == 503 && r.header("X-Gatehouse-Reason") == "tunnel-limit-reached",
                     "expected 503 tunnel-limit-reached, actual " + std::to_string(r.status) + " " +
                         r.header("X-Gatehouse-Reason"));
                 ctx.expect(!r.header("Retry-After").empty(), "no Retry-After");
               }
               for (auto& client : open) {
                 client->send("still-open");
                 ctx.expect(readBytes(*client, 10, milliseconds(2000)) == "still-open",
                            "an open tunnel stopped working at the cap");
               }
             })
          .on(Profile::kLimits)
          .serialRun());
  return c;
}

}  // namespace gatehouse::catalogue
