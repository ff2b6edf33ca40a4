// BAD-INPUTS A (request target and host identity) and B (hostname canonicalisation and wildcard
// matching). Policy: allowed.test and *.api.test allowed, bad.api.test denied; {A} is
// allowed.test on the strict sink's port. Names that fail the name policy are never looked up
// (noDns); names a case invents ({U}.…) are unique to it.
//
// Not applicable here: B15 (policy-file globs) is a configuration row, in cases_config.cc.
#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

// "GET http://<authority>{T} HTTP/1.1" with a Host naming the same authority.
std::string get(const std::string& authority, const std::string& extra = "") {
  return "GET http://" + authority + "{T} HTTP/1.1\r\nHost: " + authority + "\r\n" + extra + "\r\n";
}

std::string connect(const std::string& authority) {
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
}

const std::string kHost = "Host: {A}\r\n";

}  // namespace

std::vector<Case> targetCases() {
  const std::string label64(64, 'a');
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefghij.";
  long_name += "api.test";  // > 253 octets, every label short
  const std::string long_target = "GET http://{A}{T}?q=" + std::string(8300, 'a') + " HTTP/1.1\r\n";
  const std::string near_cap = "GET http://{A}{T}?q=" + std::string(7900, 'a') + " HTTP/1.1\r\n";

  std::vector<Case> c = {
      // ---- A1: Host vs absolute-form target ----
      refuse("A1", "Host names another host than the absolute-form target",
             "GET http://{A}{T} HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400)
          .reasonIs("host-mismatch")
          .noDns("evil.test"),
      refuse("A1.b", "Host names another host with the same port",
             "GET http://{A}{T} HTTP/1.1\r\nHost: evil.test:{P}\r\n\r\n", 400)
          .reasonIs("host-mismatch")
          .noDns("evil.test"),
      refuse("A1.c", "the target is the denied host, Host the allowed one: never routed by Host",
             "GET http://evil.test:{P}{T} HTTP/1.1\r\nHost: {A}\r\n\r\n", 400)
          .noDns("evil.test"),
      refuse("A1.d", "HTTP/1.0 with a mismatching Host",
             "GET http://{A}{T} HTTP/1.0\r\nHost: evil.test\r\n\r\n", 400)
          .noDns("evil.test"),
      refuse("A1.e", "Host is another allowed name than the target",
             "GET http://{A}{T} HTTP/1.1\r\nHost: a.api.test:{P}\r\n\r\n", 400),
      // ---- A2: ports ----
      refuse("A2", "target port 80, Host port 81",
             "GET http://allowed.test:80{T} HTTP/1.1\r\nHost: allowed.test:81\r\n\r\n", 400)
          .reasonIs("host-mismatch"),
      refuse("A2.b", "target with the sink's port, Host without a port (80)",
             "GET http://{A}{T} HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400),
      refuse("A2.c", "target without a port (80), Host with the sink's port",
             "GET http://allowed.test{T} HTTP/1.1\r\nHost: {A}\r\n\r\n", 400),
      refuse("A2.d", "target :8080, Host without a port",
             "GET http://allowed.test:8080{T} HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 400),
      refuse("A2.e", "Host port with a leading zero",
             "GET http://{A}{T} HTTP/1.1\r\nHost: allowed.test:0{P}\r\n\r\n", 400),
      // ---- A3: several Host lines ----
      refuse("A3", "two equal Host lines",
             "GET http://{A}{T} HTTP/1.1\r\n" + kHost + kHost + "\r\n", 400)
          .reasonIs("duplicate-host"),
      refuse("A3.b", "two different Host lines",
             "GET http://{A}{T} HTTP/1.1\r\n" + kHost + "Host: evil.test\r\n\r\n", 400)
          .noDns("evil.test"),
      refuse("A3.c", "Host h:80 and Host h",
             "GET http://allowed.test{T} HTTP/1.1\r\nHost: allowed.test:80\r\nHost: "
             "allowed.test\r\n\r\n",
             400),
      refuse("A3.d", "Host and host (case differs)",
             "GET http://{A}{T} HTTP/1.1\r\n" + kHost + "host: {A}\r\n\r\n", 400),
      refuse("A3.e", "two Host lines on HTTP/1.0",
             "GET http://{A}{T} HTTP/1.0\r\n" + kHost + kHost + "\r\n", 400),
      refuse("A3.f", "an empty second Host",
             "GET http://{A}{T} HTTP/1.1\r\n" + kHost + "Host:\r\n\r\n", 400),
      // ---- A4-A6: target forms ----
      refuse("A4", "origin-form on the forward-proxy port", "GET {T} HTTP/1.1\r\n" + kHost + "\r\n",
             400)
          .reasonIs("origin-form"),
      refuse("A4.b", "origin-form POST",
             "POST {T} HTTP/1.1\r\n" + kHost + "Content-Length: 2\r\n\r\nhi", 400),
      refuse("A4.c", "origin-form HTTP/1.0 without Host", "GET {T} HTTP/1.0\r\n\r\n", 400),
      refuse("A4.d", "origin-form next to the local /git/ endpoint prefix",
             "GET /gitx{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A5", "asterisk-form GET", "GET * HTTP/1.1\r\n" + kHost + "\r\n", 400)
          .reasonIs("asterisk-form"),
      refuse("A5.b", "OPTIONS *", "OPTIONS * HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A6", "authority-form with GET", "GET {A} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A6.b", "authority-form with POST",
             "POST {A} HTTP/1.1\r\n" + kHost + "Content-Length: 0\r\n\r\n", 400),
      // ---- A7-A9: userinfo, parser confusion, percent-encoding ----
      refuse("A7", "userinfo naming the allowed host before @evil.test",
             "GET http://allowed.test@evil.test:{P}{T} HTTP/1.1\r\nHost: evil.test:{P}\r\n\r\n",
             400)
          .reasonIs("userinfo")
          .noDns("evil.test")
          .noDns("allowed.test@evil.test"),
      refuse("A7.b", "userinfo with a port before @",
             "GET http://allowed.test:80@evil.test:{P}{T} HTTP/1.1\r\nHost: evil.test:{P}\r\n\r\n",
             400)
          .noDns("evil.test"),
      refuse("A7.c", "userinfo with an encoded slash",
             "GET http://allowed.test%2f@evil.test:{P}{T} HTTP/1.1\r\nHost: evil.test:{P}\r\n\r\n",
             400)
          .noDns("evil.test"),
      refuse("A7.d", "user:password@ on the allowed host",
             "GET http://u:p@{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A7.e", "an empty userinfo", "GET http://@{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A8", "backslash before @",
             "GET http://evil.test\\@{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400)
          .noDns("evil.test"),
      refuse("A8.b", "fragment before @",
             "GET http://evil.test#@{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400)
          .noDns("evil.test"),
      refuse("A8.c", "query before @", "GET http://evil.test?@{A}{T} HTTP/1.1\r\n" + kHost + "\r\n",
             400)
          .noDns("evil.test"),
      refuse("A8.d", "Orange Tsai's space-ampersand-at confusion",
             "GET http://1.1.1.1 &@2.2.2.2# @3.3.3.3/ HTTP/1.1\r\nHost: 3.3.3.3\r\n\r\n", 400),
      refuse("A8.e", "a query holding @ right after the allowed authority",
             "GET http://{A}?@evil.test{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A9", "percent-encoded first letter of the host",
             "GET http://%61llowed.test:{P}{T} HTTP/1.1\r\nHost: %61llowed.test:{P}\r\n\r\n", 400)
          .noDns("%61llowed.test")
          .noDns("allowed.test"),
      refuse("A9.b", "percent-encoded dot",
             "GET http://allowed%2etest:{P}{T} HTTP/1.1\r\nHost: allowed%2etest:{P}\r\n\r\n", 400),
      refuse("A9.c", "percent-encoded host in Host only",
             "GET http://{A}{T} HTTP/1.1\r\nHost: %61llowed.test:{P}\r\n\r\n", 400),
      // ---- A10: schemes ----
      refuse("A10", "https:// on the plain listener",
             "GET https://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A10.b", "ftp://", "GET ftp://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A10.c", "gopher:// (SSRF payloads)",
             "GET gopher://{A}/_x HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A10.d", "file://", "GET file:///etc/passwd HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A10.e", "ws://", "GET ws://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A10.f", "a scheme without //", "GET http:{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      forward("A10.g", "the scheme is case-insensitive: HTTP:// is http",
              "GET HTTP://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n",
              hasHeader("Host", "allowed.test:{P}")),
      // ---- A11-A13: target bytes and size ----
      refuse("A11", "HT in the target", "GET http://{A}{T}/a\tb HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A11.b", "SP in the target", "GET http://{A}{T}/a b HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A11.c", "0x01 in the target",
             "GET http://{A}{T}/a\x01z HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A11.d", "DEL in the target", "GET http://{A}{T}/a\x7fz HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A11.e", "0x80 in the target",
             "GET http://{A}{T}/a\x80z HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A11.f", "0xFF in the target",
             "GET http://{A}{T}/a\xffz HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A11.g", "NUL in the target",
             bytes("GET http://{A}{T}/a\0z HTTP/1.1\r\nHost: {A}\r\n\r\n"), 400),
      refuse("A11.h", "VT in the host part",
             "GET http://allowed.test\x0b:{P}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A11.i", "UTF-8 in the path",
             "GET http://{A}{T}/\xc3\xa9 HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A12", "raw # in the target", "GET http://{A}{T}#frag HTTP/1.1\r\n" + kHost + "\r\n",
             400)
          .reasonIs("fragment"),
      refuse("A12.b", "raw # right after the authority",
             "GET http://{A}#{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A13", "request-target over the 8 KiB cap", long_target + kHost + "\r\n", 414)
          .reasonIs("target-too-long"),
      forward("A13.b", "a request-target just under the cap is forwarded whole",
              near_cap + kHost + "\r\n",
              [](const SinkRecord& r, const Ctx&) -> std::string {
                return r.request.target.size() > 7900 ? "" : "the long target was cut";
              }),
      // ---- A14-A16: method and version ----
      refuse("A14", "lowercase method", "get http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400)
          .reasonIs("bad-method"),
      refuse("A14.b", "separator in the method", "G(T http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A14.c", "slash in the method", "GET/ http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A14.d", "unknown method", "FOO http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A14.e", "two spaces after the method",
             "GET  http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A14.f", "two spaces before the version",
             "GET http://{A}{T}  HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A14.g", "an empty method", " http://{A}{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A15", "HTTP/2 preface on the h1 listener", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405)
          .reasonIs("h2-preface"),
      refuse("A16", "HTTP/0.9 simple request", "GET /\r\n\r\n", 505),
      refuse("A16.b", "HTTP/2.0 in an h1 request line",
             "GET http://{A}{T} HTTP/2.0\r\n" + kHost + "\r\n", 505),
      refuse("A16.c", "HTTP/1.32", "GET http://{A}{T} HTTP/1.32\r\n" + kHost + "\r\n", 505),
      refuse("A16.d", "HTTP/9.9", "GET http://{A}{T} HTTP/9.9\r\n" + kHost + "\r\n", 505),
      refuse("A16.e", "HTTP/4294967295.255",
             "GET http://{A}{T} HTTP/4294967295.255\r\n" + kHost + "\r\n", 505),
      refuse("A16.f", "HTTP/1.2", "GET http://{A}{T} HTTP/1.2\r\n" + kHost + "\r\n", 505),
      refuse("A16.g", "version syntax HTTQ", "GET http://{A}{T} HTTQ/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A16.h", "lowercase http/1.1", "GET http://{A}{T} http/1.1\r\n" + kHost + "\r\n", 400),
      refuse("A16.i", "HTTP/1 without minor", "GET http://{A}{T} HTTP/1\r\n" + kHost + "\r\n", 400),
      refuse("A16.j", "HTTP/1.1 followed by junk",
             "GET http://{A}{T} HTTP/1.1x\r\n" + kHost + "\r\n", 400),
      // ---- A17-A19: Host requirement, empty authority ----
      refuse("A17", "HTTP/1.1 without Host", "GET http://{A}{T} HTTP/1.1\r\n\r\n", 400)
          .reasonIs("missing-host"),
      refuse("A17.b", "HTTP/1.1 POST without Host",
             "POST http://{A}{T} HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 400),
      forward("A18", "HTTP/1.0 absolute-form without Host: Host generated from the target",
              "GET http://{A}{T} HTTP/1.0\r\n\r\n", hasHeader("Host", "allowed.test:{P}"))
          .thenClose(),
      forward("A18.b", "HTTP/1.0 with keep-alive: still one Host, generated",
              "GET http://{A}{T} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
              all({hasHeader("Host", "allowed.test:{P}"), lacksHeader("Keep-Alive")})),
      refuse("A19", "empty authority http:///", "GET http:///{T} HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A19.b", "port without host http://:P/",
             "GET http://:{P}{T} HTTP/1.1\r\nHost: :{P}\r\n\r\n", 400),
      refuse("A19.c", "CONNECT :443", "CONNECT :443 HTTP/1.1\r\nHost: :443\r\n\r\n", 400),
      refuse("A19.d", "http://?x (no authority)", "GET http://?x HTTP/1.1\r\n" + kHost + "\r\n",
             400),
      refuse("A19.e", "empty Host value", "GET http://{A}{T} HTTP/1.1\r\nHost:\r\n\r\n", 400),

      // ---- B1: case ----
      forward("B1", "uppercase name matches case-insensitively", get("ALLOWED.TEST:{P}"),
              hasHeader("Host", "allowed.test:{P}")),
      forward("B1.b", "mixed-case wildcard name", get("A.Api.Test:{P}"),
              hasHeader("Host", "a.api.test:{P}")),
      forward("B1.c", "uppercase target, lowercase Host",
              "GET http://ALLOWED.TEST:{P}{T} HTTP/1.1\r\n" + kHost + "\r\n",
              hasHeader("Host", "allowed.test:{P}")),
      // ---- B2: trailing dot ----
      forward("B2", "trailing dot is the same name (canonical Host upstream)",
              get("allowed.test.:{P}"), hasHeader("Host", "allowed.test:{P}"))
          .noDns("allowed.test"),
      forward("B2.b", "trailing dot on a wildcard name", get("a.api.test.:{P}"),
              hasHeader("Host", "a.api.test:{P}")),
      forward("B2.c", "trailing dot in Host only",
              "GET http://{A}{T} HTTP/1.1\r\nHost: allowed.test.:{P}\r\n\r\n",
              hasHeader("Host", "allowed.test:{P}")),
      refuse("B2.d", "trailing dot on the denied name: same decision (403)",
             get("bad.api.test.:{P}"), 403)
          .reasonIs("host-denied"),
      refuse("B2.e", "trailing dot on the apex: same decision as the apex", get("api.test.:{P}"),
             403),
      // ---- B3: empty labels ----
      refuse("B3", "two dots in a row", get("allowed..test:{P}"), 400),
      refuse("B3.b", "leading dot", get(".allowed.test:{P}"), 400),
      refuse("B3.c", "two trailing dots", get("allowed.test..:{P}"), 400),
      refuse("B3.d", "a lone dot", get(".:{P}"), 400),
      refuse("B3.e", "empty label in a CONNECT", connect("allowed..test:{Q}"), 400),
      // ---- B4-B7: wildcard semantics ----
      refuse("B4", "*.api.test does not match the apex api.test", get("api.test:{P}"), 403)
          .reasonIs("host-not-allowed"),
      refuse("B4.b", "apex by CONNECT", connect("api.test:{Q}"), 403),
      refuse("B5", "label boundary: badapi.test", get("badapi.test:{P}"), 403),
      refuse("B5.b", "label boundary: xapi.test", get("xapi.test:{P}"), 403),
      refuse("B5.c", "label boundary, never resolved", get("{U}api.test:{P}"), 403)
          .noDns("{U}api.test"),
      refuse("B6", "suffix confusion api.test.evil.test", get("api.test.evil.test:{P}"), 403)
          .noDns("api.test.evil.test"),
      refuse("B6.b", "suffix confusion allowed.test.evil.test", get("allowed.test.evil.test:{P}"),
             403)
          .noDns("allowed.test.evil.test"),
      refuse("B6.c", "prefix confusion evilallowed.test", get("evilallowed.test:{P}"), 403)
          .noDns("evilallowed.test"),
      refuse("B6.d", "allowed.test is exact: sub.allowed.test is not allowed",
             get("{U}.allowed.test:{P}"), 403)
          .noDns("{U}.allowed.test"),
      forward("B7", "deep names match *.api.test", get("a.b.c.api.test:{P}"),
              hasHeader("Host", "a.b.c.api.test:{P}")),
      forward("B7.b", "deep names match *.api.test (x.y.z)", get("x.y.z.api.test:{P}")),
      refuse("B7.c", "deny-list entry wins over *.api.test", get("bad.api.test:{P}"), 403)
          .reasonIs("host-denied"),
      refuse("B7.d",
             "names under a denied name are allowed by *.api.test only if not denied: "
             "bad.api.test is exact, x.bad.api.test resolves (no answer)",
             get("{U}.bad.api.test:{P}"), 502),
      // ---- B8, B9: non-ASCII and punycode ----
      refuse("B8", "Cyrillic a in the host", get("\xd0\xb0pi.test:{P}"), 400),
      refuse("B8.b", "enclosed alphanumerics",
             get("\xe2\x93\x90\xe2\x93\x9b\xe2\x93\x9b\xe2\x93\x9e\xe2\x93\xa6\xe2\x93\x94\xe2\x93"
                 "\x93.test:{P}"),
             400),
      refuse("B8.c", "ideographic full stop", get("allowed\xe3\x80\x82test:{P}"), 400),
      refuse("B8.d", "fullwidth letters", get("\xef\xbd\x81llowed.test:{P}"), 400),
      refuse("B8.e", "Latin-1 byte in the host",
             get("allow\xe9"
                 "d.test:{P}"),
             400),
      refuse("B8.f", "non-ASCII in Host only",
             "GET http://{A}{T} HTTP/1.1\r\nHost: \xd0\xb0llowed.test:{P}\r\n\r\n", 400),
      refuse("B9", "punycode homograph of api.test is another name", get("xn--pi-7kc.test:{P}"),
             403)
          .noDns("xn--pi-7kc.test"),
      refuse("B9.b", "punycode label under the wildcard resolves like any name (no answer)",
             get("xn--{U}-9ja.api.test:{P}"), 502),
      // ---- B10-B13 ----
      forward("B10", "underscore labels are allowed (decision: [a-z0-9-_])",
              get("foo_bar.api.test:{P}"), hasHeader("Host", "foo_bar.api.test:{P}")),
      refuse("B11", "label longer than 63 octets", get(label64 + ".api.test:{P}"), 400),
      refuse("B11.b", "name longer than 253 octets", get(long_name + ":{P}"), 400),
      refuse("B11.c", "label longer than 63 octets by CONNECT", connect(label64 + ".api.test:{Q}"),
             400),
      refuse("B12", "NUL inside the Host value",
             bytes("GET http://{A}{T} HTTP/1.1\r\nHost: allowed.test\0.evil.test\r\n\r\n"), 400),
      refuse("B12.b", "%00 inside the host",
             "GET http://allowed.test%00.evil.test{T} HTTP/1.1\r\n" + kHost + "\r\n", 400),
      refuse("B12.c", "CR inside the Host value",
             "GET http://{A}{T} HTTP/1.1\r\nHost: allowed.test\r.evil.test\r\n\r\n", 400),
      refuse("B12.d", "NUL inside the target host",
             bytes("GET http://allowed.test\0.evil.test{T} HTTP/1.1\r\nHost: {A}\r\n\r\n"), 400),
      refuse("B13", "bracketed name", get("[allowed.test]:{P}"), 400),
      refuse("B13.b", "bracketed name by CONNECT", connect("[allowed.test]:443"), 400),
      refuse("B13.c", "bracketed name in Host only",
             "GET http://{A}{T} HTTP/1.1\r\nHost: [allowed.test]:{P}\r\n\r\n", 400),
      // ---- B14: ports ----
      refuse("B14", "allowed host on port 22", get("{U}.api.test:22"), 403)
          .reasonIs("port-not-allowed")
          .noDns("{U}.api.test"),
      refuse("B14.b", "allowed host on port 25", get("{U}.api.test:25"), 403).noDns("{U}.api.test"),
      refuse("B14.c", "allowed host on port 6379", get("{U}.api.test:6379"), 403)
          .noDns("{U}.api.test"),
      refuse("B14.d", "allowed host on port 11211", get("{U}.api.test:11211"), 403)
          .noDns("{U}.api.test"),
      refuse("B14.e", "CONNECT allowed host on port 22", connect("{U}.api.test:22"), 403)
          .reasonIs("port-not-allowed")
          .noDns("{U}.api.test"),
      refuse("B14.f", "port 0", get("allowed.test:0"), 400),
      refuse("B14.g", "port 65536", get("allowed.test:65536"), 400),
      refuse("B14.h", "port +80", get("allowed.test:+80"), 400),
      refuse("B14.i", "empty port after the colon", get("allowed.test:"), 400),
      refuse("B14.j", "port 99999999999", get("allowed.test:99999999999"), 400),
      refuse("B14.k", "port with a leading zero", get("allowed.test:0{P}"), 400),
      refuse("B14.l", "port -1", get("allowed.test:-1"), 400),
      refuse("B14.m", "port in hex", get("allowed.test:0x50"), 400),
      refuse("B14.n", "two ports", get("allowed.test:{P}:{P}"), 400),
  };
  return c;
}

}  // namespace gatehouse::catalogue
