// Generated variants (each id names the catalogue row it multiplies):
//
//   A11/B12/F22 .gen  every smuggling gadget byte (NUL, CTLs, HT, LF, VT, FF, CR, SP, DEL, 0x80,
//                     0xA0, 0xFF, CRLF, obs-fold) in every position of the request line and of
//                     the Host, Content-Length and Transfer-Encoding field lines. Judged
//                     differentially: the bytes are also parsed by the strict reference parser
//                     (strict_sink.h). The proxy may refuse (400/501/505, then close, nothing
//                     upstream) or forward; what it forwards must be exactly what the reference
//                     read, request by request (method, path, body), answered in order, and
//                     whatever the reference refuses must never be answered with a 200.
//   C1-C7/C13 .gen    every IP encoding (decimal, octal, hex, short, zero-padded, trailing dot,
//                     overflow, percent-encoded, v4-mapped/compatible, NAT64, 6to4, zone ids,
//                     brackets) of loopback, private, metadata and special addresses, in every
//                     request form: refused (403 for a well-formed literal, 400 for the rest),
//                     never dialed, never resolved.
//   A-B .gen          every host trick (case, trailing dot, empty labels, userinfo, '@',
//                     backslash, '#', percent-encoding, punycode, look-alikes, NUL, brackets,
//                     long labels, port tricks, several Host lines) on allowed, wildcard,
//                     unlisted and deny-listed hosts, as absolute-form, Host header and CONNECT.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

// ---- gadgets ---------------------------------------------------------------------------------

struct Gadget {
  const char* name;
  std::string bytes;
};

std::vector<Gadget> gadgets() {
  return {{"nul", std::string(1, '\0')},
          {"0x01", "\x01"},
          {"0x04", "\x04"},
          {"bs", "\x08"},
          {"ht", "\t"},
          {"lf", "\n"},
          {"vt", "\x0b"},
          {"ff", "\x0c"},
          {"cr", "\r"},
          {"0x1f", "\x1f"},
          {"sp", " "},
          {"del", "\x7f"},
          {"0x80", "\x80"},
          {"nbsp", "\xa0"},
          {"0xff", "\xff"},
          {"crlf", "\r\n"},
          {"fold-sp", "\r\n "},
          {"fold-ht", "\r\n\t"}};
}

// Where a gadget goes, found in the expanded request: insert at `at`, or replace `replace` bytes.
struct Spot {
  size_t at = 0;
  size_t replace = 0;
};
using Locate = std::function<Spot(const std::string& request)>;

struct Position {
  const char* name;
  Locate locate;
};

std::vector<Position> requestLinePositions() {
  auto at = [](size_t (*f)(const std::string&), size_t replace = 0) -> Locate {
    return [f, replace](const std::string& r) { return Spot{f(r), replace}; };
  };
  return {
      {"line-start", at([](const std::string&) -> size_t { return 0; })},
      {"in-method", at([](const std::string&) -> size_t { return 1; })},
      {"after-method", at([](const std::string& r) { return r.find(' '); })},
      {"for-sp1", at([](const std::string& r) { return r.find(' '); }, 1)},
      {"after-sp1", at([](const std::string& r) { return r.find(' ') + 1; })},
      {"in-scheme", at([](const std::string& r) { return r.find("http://") + 2; })},
      {"after-slashes", at([](const std::string& r) { return r.find("http://") + 7; })},
      {"in-host", at([](const std::string& r) { return r.find("http://") + 12; })},
      {"before-port", at([](const std::string& r) { return r.find(':', r.find("http://") + 7); })},
      {"in-port", at([](const std::string& r) { return r.find(':', r.find("http://") + 7) + 2; })},
      {"end-of-path", at([](const std::string& r) { return r.find(" HTTP/"); })},
      {"for-sp2", at([](const std::string& r) { return r.find(" HTTP/"); }, 1)},
      {"after-sp2", at([](const std::string& r) { return r.find(" HTTP/") + 1; })},
      {"in-version", at([](const std::string& r) { return r.find(" HTTP/") + 3; })},
      {"after-version-slash", at([](const std::string& r) { return r.find(" HTTP/") + 6; })},
      {"in-version-dot", at([](const std::string& r) { return r.find(" HTTP/") + 7; })},
      {"end-of-version", at([](const std::string& r) { return r.find("\r\n"); })},
      {"for-cr", at([](const std::string& r) { return r.find("\r\n"); }, 1)},
      {"for-lf", at([](const std::string& r) { return r.find("\r\n") + 1; }, 1)},
      {"after-crlf", at([](const std::string& r) { return r.find("\r\n") + 2; })},
  };
}

std::vector<Position> fieldPositions(const std::string& name) {
  // Offsets within the field line "Name: value\r\n" that starts at `line`.
  auto line = [name](const std::string& r) { return r.find("\r\n" + name + ":") + 2; };
  auto colon = [line](const std::string& r) { return r.find(':', line(r)); };
  auto eol = [line](const std::string& r) { return r.find("\r\n", line(r)); };
  auto ins = [](std::function<size_t(const std::string&)> f) -> Locate {
    return [f](const std::string& r) { return Spot{f(r), 0}; };
  };
  auto rep = [](std::function<size_t(const std::string&)> f) -> Locate {
    return [f](const std::string& r) { return Spot{f(r), 1}; };
  };
  return {
      {"line-start", ins(line)},
      {"in-name", ins([line](const std::string& r) { return line(r) + 1; })},
      {"end-of-name", ins(colon)},
      {"for-colon", rep(colon)},
      {"after-colon", ins([colon](const std::string& r) { return colon(r) + 1; })},
      {"for-sp", rep([colon](const std::string& r) { return colon(r) + 1; })},
      {"value-start", ins([colon](const std::string& r) { return colon(r) + 2; })},
      {"in-value", ins([colon, eol](const std::string& r) {
         return colon(r) + 2 + (eol(r) - colon(r) - 2) / 2;
       })},
      {"value-end", ins(eol)},
      {"for-cr", rep(eol)},
      {"for-lf", rep([eol](const std::string& r) { return eol(r) + 1; })},
      {"after-line", ins([eol](const std::string& r) { return eol(r) + 2; })},
  };
}

bool isRefusal(int status) { return status == 400 || status == 501 || status == 505; }

// The differential judgement described at the top of the file.
void differential(Ctx& ctx, const std::string& bytes) {
  ctx.sent = bytes;
  std::vector<StrictRequest> refs;
  StrictStatus term = StrictStatus::kOk;
  std::string why;
  bool ends_connection = false;
  for (size_t pos = 0; pos < bytes.size() && refs.size() < 4;) {
    StrictRequest r;
    size_t used = 0;
    StrictOptions o;
    o.proxy_form = true;
    term = parseStrictRequest(std::string_view(bytes).substr(pos), o, &r, &used, &why);
    if (term != StrictStatus::kOk) break;
    pos += used;
    const bool close =
        equalsNoCase(r.header("connection"), "close") ||
        (r.version == "HTTP/1.0" && !equalsNoCase(r.header("connection"), "keep-alive"));
    refs.push_back(std::move(r));
    if (close) {
      ends_connection = true;
      break;
    }
  }
  auto client = ctx.connect();
  if (client == nullptr) return;
  client->send(bytes);
  std::vector<HttpResponse> got;
  bool refused = false;
  const size_t wanted = refs.size() + (term == StrictStatus::kInvalid ? 1 : 0);
  while (got.size() < wanted) {
    auto r = client->readResponse(milliseconds(2500), false);
    if (!r) break;
    got.push_back(std::move(*r));
    if (got.back().status != 200) {
      refused = true;
      break;
    }
  }
  const std::string expected =
      std::to_string(refs.size()) + " request(s) the reference accepts" +
      (term == StrictStatus::kInvalid ? ", then one it refuses (" + why + ")" : "");
  // Every 200 answers the reference's request of the same rank, in order.
  size_t served = 0;
  for (const HttpResponse& r : got) {
    if (r.status != 200) break;
    if (served >= refs.size()) {
      ctx.fail("a 200 for bytes the strict reference refuses (" + why + "); expected " + expected);
      break;
    }
    const std::string want = "ok " + refs[served].path() + "\n";
    ctx.expect(r.body == want, "response " + std::to_string(served + 1) + " answers " +
                                   escapeBytes(r.body, 120) + ", expected " + escapeBytes(want));
    ++served;
  }
  if (refused) {
    const int s = got.back().status;
    ctx.expect(isRefusal(s), "refusal status " + std::to_string(s) + " (expected 400, 501 or 505)");
    ctx.expect(client->waitForClose(milliseconds(2500)), "INV-CLOSE: open after the refusal");
    ctx.expect(client->buffered().empty(),
               "INV-CLOSE: bytes after the refusal: " + escapeBytes(client->buffered(), 120));
  } else if (term == StrictStatus::kInvalid && served == refs.size()) {
    ctx.fail("expected a refusal after " + std::to_string(served) +
             " answered request(s): the reference refuses the rest (" + why + "); got " +
             (got.size() > served ? std::to_string(got[served].status) : std::string("nothing")));
  } else if (got.size() < refs.size() && !ends_connection) {
    ctx.fail("expected " + expected + ", got " + std::to_string(got.size()) + " response(s)");
  }
  // The sink saw exactly the requests answered with 200, as the reference read them.
  const auto records = ctx.sinkRecords();
  std::vector<const SinkRecord*> forwarded;
  for (const SinkRecord& r : records) {
    if (r.suffix.rfind("(incomplete)", 0) != 0) forwarded.push_back(&r);
  }
  ctx.expect(forwarded.size() == served, "upstream: " + std::to_string(forwarded.size()) +
                                             " request(s) at the sink, " + std::to_string(served) +
                                             " answered with 200");
  for (size_t i = 0; i < forwarded.size() && i < served; ++i) {
    const StrictRequest& up = forwarded[i]->request;
    const StrictRequest& ref = refs[i];
    ctx.expect(up.method == ref.method && up.target == ref.path() && up.body == ref.body,
               "upstream request " + std::to_string(i + 1) +
                   " differs from what the client sent: " +
                   escapeBytes(up.method + " " + up.target + " body=" + up.body, 160) + " vs " +
                   escapeBytes(ref.method + " " + ref.path() + " body=" + ref.body, 160));
    ctx.expect(up.header("Host") == ctx.expand("allowed.test:{P}"),
               "upstream Host " + escapeBytes(up.header("Host")));
  }
}

void addGadgetCases(std::vector<Case>& out) {
  struct Base {
    const char* row;
    const char* name;
    std::string tmpl;
    std::vector<Position> positions;
  };
  const std::vector<Base> bases = {
      {"A11", "line", "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n\r\n", requestLinePositions()},
      {"B12", "host", "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nX-A: b\r\n\r\n",
       fieldPositions("Host")},
      {"F22", "cl",
       "POST http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
       fieldPositions("Content-Length")},
      {"F22", "te",
       "POST http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\nX-A: "
       "b\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       fieldPositions("Transfer-Encoding")},
  };
  for (const Base& base : bases) {
    for (const Position& pos : base.positions) {
      for (const Gadget& g : gadgets()) {
        Case c = custom(std::string(base.row) + ".gen." + base.name + "." + pos.name + "." + g.name,
                        std::string("gadget ") + g.name + " at " + pos.name + " of the " +
                            base.name + (std::string(base.name) == "line" ? "" : " field"),
                        [tmpl = base.tmpl, locate = pos.locate, gadget = g.bytes](Ctx& ctx) {
                          std::string r = ctx.expand(tmpl);
                          const Spot s = locate(r);
                          r.replace(s.at, s.replace, gadget);
                          differential(ctx, r + ctx.followUp());
                        });
        c.generated = true;
        out.push_back(std::move(c));
      }
    }
  }
}

// ---- IP encodings ----------------------------------------------------------------------------

std::string fmt(const char* f, unsigned a = 0, unsigned b = 0, unsigned c = 0, unsigned d = 0) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

std::string octalOctet(unsigned v) { return v == 0 ? "00" : fmt("0%o", v); }

// A well-formed dotted quad (no leading zeros): the only IPv4 spelling gatehouse takes as an IP.
bool canonicalDotted(const std::string& s) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
  return s == fmt("%u.%u.%u.%u", a, b, c, d) && a < 256 && b < 256 && c < 256 && d < 256;
}

bool validBracketedV6(const std::string& s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  const std::string inner = s.substr(1, s.size() - 2);
  in6_addr a;
  return inner.find('%') == std::string::npos && ::inet_pton(AF_INET6, inner.c_str(), &a) == 1;
}

struct Encoded {
  std::string name;
  std::string host;
};

std::vector<Encoded> v4Encodings(uint32_t ip) {
  const unsigned a = ip >> 24, b = (ip >> 16) & 255, c = (ip >> 8) & 255, d = ip & 255;
  const std::string dotted = fmt("%u.%u.%u.%u", a, b, c, d);
  return {
      {"dotted", dotted},
      {"decimal", std::to_string(ip)},
      {"hex", fmt("0x%x", ip)},
      {"hex-upper", fmt("0X%X", ip)},
      {"hex-padded", fmt("0x%08x", ip)},
      {"octal", fmt("0%o", ip)},
      {"octal-dotted",
       octalOctet(a) + "." + octalOctet(b) + "." + octalOctet(c) + "." + octalOctet(d)},
      {"hex-dotted", fmt("0x%x.0x%x.0x%x.0x%x", a, b, c, d)},
      {"hex-first", fmt("0x%x.%u.%u.%u", a, b, c, d)},
      {"short2", fmt("%u.%u", a, (b << 16) | (c << 8) | d)},
      {"short3", fmt("%u.%u.%u", a, b, (c << 8) | d)},
      {"zero-padded", fmt("%03u.%03u.%03u.%03u", a, b, c, d)},
      {"leading-zero", "0" + dotted},
      {"trailing-dot", dotted + "."},
      {"overflow", std::to_string(uint64_t{ip} + (uint64_t{1} << 32))},
      {"pct-dots", fmt("%u%%2e%u%%2e%u%%2e%u", a, b, c, d)},
      {"mapped", "[::ffff:" + dotted + "]"},
      {"mapped-hex", fmt("[::ffff:%x:%x]", ip >> 16, ip & 0xffff)},
      {"mapped-upper", fmt("[::FFFF:%X:%X]", ip >> 16, ip & 0xffff)},
      {"mapped-full", fmt("[0:0:0:0:0:ffff:%x:%x]", ip >> 16, ip & 0xffff)},
      {"mapped-padded", fmt("[0000:0000:0000:0000:0000:ffff:%04x:%04x]", ip >> 16, ip & 0xffff)},
      {"compat", "[::" + dotted + "]"},
      {"nat64", "[64:ff9b::" + dotted + "]"},
      {"6to4", fmt("[2002:%x:%x::1]", ip >> 16, ip & 0xffff)},
      {"bracketed-v4", "[" + dotted + "]"},
      {"mapped-zone", "[::ffff:" + dotted + "%25lo]"},
      {"unbracketed-mapped", "::ffff:" + dotted},
  };
}

std::vector<Encoded> v6Encodings(const std::string& compressed, const std::string& full) {
  std::string upper = compressed;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string padded;
  for (size_t i = 0, start = 0; i <= full.size(); ++i) {
    if (i == full.size() || full[i] == ':') {
      const std::string group = full.substr(start, i - start);
      padded += (start ? ":" : "") + std::string(4 - group.size(), '0') + group;
      start = i + 1;
    }
  }
  return {
      {"compressed", "[" + compressed + "]"},
      {"full", "[" + full + "]"},
      {"padded", "[" + padded + "]"},
      {"upper", "[" + upper + "]"},
      {"zone", "[" + compressed + "%25eth0]"},
      {"unbracketed", compressed},
      {"trailing-dot", "[" + compressed + "]."},
  };
}

int ipStatus(const std::string& host) {
  return canonicalDotted(host) || validBracketedV6(host) ? 403 : 400;
}

void addIpCases(std::vector<Case>& out) {
  struct Addr {
    const char* row;
    const char* label;
    uint32_t ip;
  };
  const Addr v4[] = {
      {"C1", "loopback", 0x7f000001},    {"C1", "canary3", 0x7f000003},
      {"C1", "canary4", 0x7f000004},     {"C1", "loopback-top", 0x7ffffffe},
      {"C2", "unspecified", 0},          {"C3", "metadata", 0xa9fea9fe},
      {"C7", "rfc1918-10", 0x0a000005},  {"C7", "rfc1918-172", 0xac100001},
      {"C7", "rfc1918-192", 0xc0a80101}, {"C7", "cgnat", 0x64400001},
      {"C7", "multicast", 0xe0000001},   {"C7", "broadcast", 0xffffffff},
  };
  struct V6 {
    const char* row;
    const char* label;
    const char* compressed;
    const char* full;
  };
  const V6 v6[] = {
      {"C4", "v6-loopback", "::1", "0:0:0:0:0:0:0:1"},
      {"C4", "v6-unspecified", "::", "0:0:0:0:0:0:0:0"},
      {"C7", "link-local", "fe80::1", "fe80:0:0:0:0:0:0:1"},
      {"C7", "ula", "fc00::1", "fc00:0:0:0:0:0:0:1"},
      {"C7", "v6-multicast", "ff02::1", "ff02:0:0:0:0:0:0:1"},
      {"C5", "nat64-loopback", "64:ff9b::7f00:1", "64:ff9b:0:0:0:0:7f00:1"},
  };
  struct Host {
    std::string row;
    std::string id;
    std::string host;
  };
  std::vector<Host> hosts;
  for (const Addr& a : v4) {
    for (const Encoded& e : v4Encodings(a.ip)) {
      const std::string row = e.name == "trailing-dot" ? "C13" : a.row;
      hosts.push_back({row, std::string(a.label) + "." + e.name, e.host});
    }
  }
  for (const V6& a : v6) {
    for (const Encoded& e : v6Encodings(a.compressed, a.full)) {
      hosts.push_back(
          {e.name == "zone" ? "C6" : a.row, std::string(a.label) + "." + e.name, e.host});
    }
  }
  struct Form {
    const char* name;
    const char* tmpl;  // H = the host
    bool host_header_only;
  };
  const Form forms[] = {
      {"get", "GET http://H:{P}{T} HTTP/1.1\r\nHost: H:{P}\r\n\r\n", false},
      {"get-80", "GET http://H{T} HTTP/1.1\r\nHost: H\r\n\r\n", false},
      {"http10", "GET http://H:{P}{T} HTTP/1.0\r\n\r\n", false},
      {"connect", "CONNECT H:{Q} HTTP/1.1\r\nHost: H:{Q}\r\n\r\n", false},
      {"connect-443", "CONNECT H:443 HTTP/1.1\r\n\r\n", false},
      {"host-header", "GET http://{A}{T} HTTP/1.1\r\nHost: H:{P}\r\n\r\n", true},
  };
  for (const Host& h : hosts) {
    for (const Form& f : forms) {
      // Replace every standalone H (not part of HTTP or Host).
      std::string expanded;
      for (size_t i = 0; i < std::string(f.tmpl).size(); ++i) {
        const std::string t = f.tmpl;
        if (t[i] == 'H' && t.compare(i, 4, "HTTP") != 0 && t.compare(i, 4, "Host") != 0) {
          expanded += h.host;
        } else {
          expanded += t[i];
        }
      }
      const int status = f.host_header_only ? 400 : ipStatus(h.host);
      Case c =
          refuse(h.row + ".gen." + h.id + "." + f.name,
                 "IP literal " + h.host + " (" + f.name + "): " +
                     (status == 403 ? "an IP literal, no IP entry" : "not a canonical literal"),
                 expanded, status)
              .noDns(h.host);
      c.generated = true;
      out.push_back(std::move(c));
    }
  }
}

// ---- host tricks -----------------------------------------------------------------------------

enum class Kind { kSame, kBad, kOther };

struct Trick {
  const char* row;
  const char* name;
  Kind kind;
  // (host, port) -> authority as written; for kOther, `other` gives the name it really is.
  std::function<std::string(const std::string&, const std::string&)> authority;
  std::function<std::string(const std::string&)> other;
  bool second_host = false;  // the request carries a second Host line naming the canonical host
};

bool allowedName(const std::string& n) {
  if (n == "bad.api.test") return false;
  if (n == "allowed.test") return true;
  return n.size() > 9 && n.compare(n.size() - 9, 9, ".api.test") == 0;
}

bool staticName(const std::string& n) {
  static const char* kStatic[] = {"allowed.test",   "a.api.test",     "b.api.test",
                                  "x.y.z.api.test", "a.b.c.api.test", "foo_bar.api.test"};
  return std::find(std::begin(kStatic), std::end(kStatic), n) != std::end(kStatic);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string replaceFirst(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::vector<Trick> tricks() {
  using S = const std::string&;
  auto same = [](const char* row, const char* name, auto f) {
    return Trick{row, name, Kind::kSame, f, {}};
  };
  auto bad = [](const char* row, const char* name, auto f) {
    return Trick{row, name, Kind::kBad, f, {}};
  };
  auto other = [](const char* row, const char* name, auto f, auto o) {
    return Trick{row, name, Kind::kOther, f, o};
  };
  return {
      same("A1", "plain", [](S h, S p) { return h + ":" + p; }),
      same("B1", "upper", [](S h, S p) { return upper(h) + ":" + p; }),
      same("B1", "mixed",
           [](S h, S p) {
             std::string m = h;
             for (size_t i = 0; i < m.size(); i += 2) m[i] = static_cast<char>(std::toupper(m[i]));
             return m + ":" + p;
           }),
      same("B2", "trailing-dot", [](S h, S p) { return h + ".:" + p; }),
      bad("B3", "two-trailing-dots", [](S h, S p) { return h + "..:" + p; }),
      bad("B3", "leading-dot", [](S h, S p) { return "." + h + ":" + p; }),
      bad("B3", "inner-empty-label", [](S h, S p) { return replaceFirst(h, ".", "..") + ":" + p; }),
      bad("A7", "userinfo", [](S h, S p) { return "user@" + h + ":" + p; }),
      bad("A7", "userinfo-password", [](S h, S p) { return "u:p@" + h + ":" + p; }),
      bad("A7", "userinfo-allowed", [](S h, S p) { return "allowed.test@" + h + ":" + p; }),
      bad("A7", "at-evil", [](S h, S p) { return h + ":" + p + "@evil.test:" + p; }),
      bad("A7", "encoded-slash-at", [](S h, S p) { return "allowed.test%2f@" + h + ":" + p; }),
      bad("A9", "pct-first-letter",
          [](S h, S p) { return fmt("%%%02x", h[0]) + h.substr(1) + ":" + p; }),
      bad("A9", "pct-dot", [](S h, S p) { return replaceFirst(h, ".", "%2e") + ":" + p; }),
      bad("A8", "backslash-at", [](S h, S p) { return "evil.test\\@" + h + ":" + p; }),
      bad("A8", "backslash-end", [](S h, S p) { return h + "\\:" + p; }),
      bad("A8", "hash-at", [](S h, S p) { return "evil.test#@" + h + ":" + p; }),
      other(
          "B9", "punycode",
          [](S h, S p) { return "xn--" + replaceFirst(h, ".", "-x1a.") + ":" + p; },
          [](S h) { return "xn--" + replaceFirst(h, ".", "-x1a."); }),
      other(
          "B6", "suffix-evil", [](S h, S p) { return h + ".evil.test:" + p; },
          [](S h) { return h + ".evil.test"; }),
      other(
          "B5", "prefix-join", [](S h, S p) { return "evil" + h + ":" + p; },
          [](S h) { return "evil" + h; }),
      other(
          "B7", "subdomain", [](S h, S p) { return "{U}." + h + ":" + p; },
          [](S h) { return "{U}." + h; }),
      other(
          "B10", "underscore-label", [](S h, S p) { return "x_{U}." + h + ":" + p; },
          [](S h) { return "x_{U}." + h; }),
      bad("B8", "cyrillic-a", [](S h, S p) { return "\xd0\xb0" + h + ":" + p; }),
      bad("B8", "fullwidth-dot",
          [](S h, S p) { return replaceFirst(h, ".", "\xef\xbc\x8e") + ":" + p; }),
      bad("B8", "ideographic-dot",
          [](S h, S p) { return replaceFirst(h, ".", "\xe3\x80\x82") + ":" + p; }),
      bad("B12", "nul", [](S h, S p) { return h + std::string(1, '\0') + ".evil.test:" + p; }),
      bad("B12", "pct-nul", [](S h, S p) { return h + "%00.evil.test:" + p; }),
      bad("B13", "bracketed", [](S h, S p) { return "[" + h + "]:" + p; }),
      bad("B11", "long-label", [](S h, S p) { return std::string(64, 'a') + "." + h + ":" + p; }),
      bad("B14", "port-leading-zero", [](S h, S p) { return h + ":0" + p; }),
      bad("B14", "port-plus", [](S h, S p) { return h + ":+" + p; }),
      bad("B14", "port-empty", [](S h, S) { return h + ":"; }),
      bad("B14", "port-65536", [](S h, S) { return h + ":65536"; }),
      bad("B14", "port-0", [](S h, S) { return h + ":0"; }),
      bad("B14", "port-twice", [](S h, S p) { return h + ":" + p + ":" + p; }),
      bad("B14", "port-hex", [](S h, S) { return h + ":0x50"; }),
      other(
          "B14", "port-22", [](S h, S) { return h + ":22"; }, [](S h) { return h; }),
      Trick{"A3", "second-host-line", Kind::kBad, [](S h, S p) { return h + ":" + p; }, {}, true},
      Trick{"A3",
            "second-host-line-upper",
            Kind::kBad,
            [](S h, S p) { return upper(h) + ":" + p; },
            {},
            true},
  };
}

// What a trick on `host` must produce in `form`.
struct TrickExpect {
  int status = 0;
  bool dns_allowed = false;  // the resolver may be asked (an allowed name without a fixed answer)
};

TrickExpect trickExpect(const Trick& t, const std::string& host, const std::string& form,
                        const std::string& other_name) {
  const bool port22 = std::string(t.name) == "port-22";
  if (form == "host-header") {
    // The target is the canonical host: only an equivalent Host is accepted.
    if (t.kind != Kind::kSame) return {400, false};
    return {allowedName(host) ? 200 : 403, false};
  }
  if (t.kind == Kind::kBad) return {400, false};
  const std::string name = t.kind == Kind::kSame ? host : other_name;
  if (!allowedName(name) || port22) return {403, false};
  if (staticName(name)) return {200, false};
  return {502, true};  // allowed, resolved, no answer
}

void addTrickCases(std::vector<Case>& out) {
  const std::pair<const char*, const char*> bases[] = {{"allowed", "allowed.test"},
                                                       {"wildcard", "a.api.test"},
                                                       {"unlisted", "evil.test"},
                                                       {"denied", "bad.api.test"}};
  for (const Trick& t : tricks()) {
    for (const auto& [base_label, host] : bases) {
      for (const char* form : {"absolute", "host-header", "connect"}) {
        const std::string h = host;
        const std::string f = form;
        const std::string other_name = t.other ? t.other(h) : "";
        Case c = custom(
            std::string(t.row) + ".gen." + t.name + "." + base_label + "." + form,
            std::string("host trick ") + t.name + " on " + host + " (" + form + ")",
            [t, h, f, other_name](Ctx& ctx) {
              const std::string port = f == "connect" ? "{Q}" : "{P}";
              const std::string authority = ctx.expand(t.authority(h, port));
              const std::string canonical = ctx.expand(h + ":" + port);
              std::string bytes;
              const std::string second = t.second_host ? "Host: " + canonical + "\r\n" : "";
              if (f == "absolute") {
                bytes = "GET http://" + authority + ctx.path() + " HTTP/1.1\r\nHost: " + authority +
                        "\r\n" + second + "\r\n";
              } else if (f == "host-header") {
                bytes = "GET http://" + canonical + ctx.path() + " HTTP/1.1\r\nHost: " + authority +
                        "\r\n" + second + "\r\n";
              } else {
                bytes = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n" +
                        second + "\r\n";
              }
              const TrickExpect want = trickExpect(t, h, f, ctx.expand(other_name));
              // Names that fail the name policy are never resolved, whatever the form.
              if (!allowedName(h)) ctx.noDns(h);
              if (!other_name.empty() && !allowedName(ctx.expand(other_name))) {
                ctx.noDns(ctx.expand(other_name));
              }
              if (want.status == 200 && f == "connect") {
                ctx.sent = bytes;
                auto client = ctx.connect();
                if (client == nullptr) return;
                client->send(bytes);
                auto r = client->readResponse(milliseconds(3000), true);
                if (!ctx.expect(
                        r && r->status == 200,
                        "expected 200, actual " + (r ? std::to_string(r->status) : "none"))) {
                  return;
                }
                const std::string hello = clientHello(h, ctx.tag);
                client->send(hello);
                std::string back;
                char buf[4096];
                while (back.size() < hello.size()) {
                  const size_t n = client->readSome(buf, sizeof buf, milliseconds(3000));
                  if (n == 0) break;
                  back.append(buf, n);
                }
                ctx.expect(back == hello, "the tunnel did not carry the ClientHello");
                return;
              }
              if (want.status == 200) {
                bytes += ctx.followUp();
                ctx.sent = bytes;
                auto client = ctx.connect();
                if (client == nullptr) return;
                client->send(bytes);
                auto r = client->readResponse(milliseconds(3000));
                if (!ctx.expect(r && r->status == 200,
                                "expected 200, actual " + (r ? std::to_string(r->status) + " " +
                                                                   r->header("X-Gatehouse-Reason")
                                                             : "none"))) {
                  return;
                }
                auto r2 = client->readResponse(milliseconds(3000));
                ctx.expect(r2 && r2->status == 200, "the follow-up was not served");
                const auto recs = ctx.sinkRecords("");
                if (ctx.expect(recs.size() == 1, "expected one request upstream")) {
                  ctx.expect(recs[0].request.header("Host") == canonical,
                             "upstream Host " + recs[0].request.header("Host") +
                                 ", expected the canonical " + canonical);
                }
                return;
              }
              auto ex = ctx.exchangeUntilClose(bytes + ctx.followUp());
              ctx.sent = bytes;
              const int got = ex.responses.empty() ? 0 : ex.responses[0].status;
              ctx.expect(
                  got == want.status,
                  "expected " + std::to_string(want.status) + ", actual " + std::to_string(got) +
                      (ex.responses.empty() ? ""
                                            : " " + ex.responses[0].header("X-Gatehouse-Reason")));
              ctx.expect(ex.responses.size() <= 1 && ex.closed && ex.leftover.empty(),
                         "INV-CLOSE: more than one response or still open");
              ctx.expect(ctx.sinkRecords().empty(), "something reached the sink");
            });
        c.generated = true;
        out.push_back(std::move(c));
      }
    }
  }
}

}  // namespace

std::vector<Case> generatedCases() {
  std::vector<Case> out;
  addGadgetCases(out);
  addIpCases(out);
  addTrickCases(out);
  return out;
}

}  // namespace gatehouse::catalogue
