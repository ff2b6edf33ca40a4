// The proxy's request parser (proxy/http/request_parser.h): one row per input of
// ../shared/BAD-INPUTS.md groups A, E3, E4, E9, F, G4, G5, G9-G11 with the expected status and
// reason, plus ordinary requests that must keep working with the events they produce. Every row
// is parsed in one feed(), byte by byte and in random chunks, and all must agree.
#include "proxy/http/request_parser.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/message.h"
#include "tests/unit/test_text.h"

namespace gatehouse::http {
namespace {

using testing_text::paramName;
using testing_text::printable;

using namespace std::string_literals;

// ---------------------------------------------------------------------------------------------
// Harness.

const char* statusName(ParseStatus s) {
  switch (s) {
    case ParseStatus::kNeedMore:
      return "need-more";
    case ParseStatus::kPaused:
      return "paused";
    case ParseStatus::kUpgrade:
      return "upgrade";
    case ParseStatus::kDone:
      return "done";
    case ParseStatus::kError:
      return "error";
  }
  return "?";
}

// "GET allowed.test:80/path cl=5 close", the fields a caller decides on.
std::string describeHead(const RequestHead& h) {
  std::string s = h.method + " ";
  if (h.origin_form) {
    s += "origin " + h.parsed.path;
    if (!h.parsed.host.text.empty()) s += " host=" + h.parsed.host.authorityForm();
  } else {
    s += h.parsed.host.authorityForm() + ":" + std::to_string(h.parsed.port) + h.parsed.path;
  }
  if (h.version_minor == 0) s += " 1.0";
  if (h.chunked) s += " chunked";
  if (h.content_length) s += " cl=" + std::to_string(*h.content_length);
  if (!h.keep_alive) s += " close";
  if (h.expect_continue) s += " expect";
  if (h.has_upgrade) s += " upgrade";
  return s;
}

class Recorder final : public RequestParser::Callbacks {
 public:
  void onRequestHead(RequestHead&& head) override {
    events += "head;";
    heads.push_back(std::move(head));
    bodies.emplace_back();
    if (pause_on_head && parser != nullptr) parser->pause();
  }
  void onBody(const char* data, size_t len) override {
    EXPECT_FALSE(bodies.empty()) << "body before any head";
    if (!bodies.empty()) bodies.back().append(data, len);
    ++body_calls;
    if (pause_on_body && parser != nullptr) parser->pause();
  }
  void onMessageComplete() override {
    events += "complete;";
    ++completes;
    if (pause_on_complete && parser != nullptr) parser->pause();
  }

  RequestParser* parser = nullptr;
  bool pause_on_head = false;
  bool pause_on_body = false;
  bool pause_on_complete = false;
  std::string events;
  std::vector<RequestHead> heads;
  std::vector<std::string> bodies;
  size_t completes = 0;
  size_t body_calls = 0;
};

struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  ParseError error;
  size_t consumed = 0;  // bytes of the input used in total
  std::string events;
  std::vector<RequestHead> heads;
  std::vector<std::string> bodies;
  size_t completes = 0;
  int pauses = 0;

  // Heads, bodies and the final status in one line, for the table.
  std::string summary() const {
    std::string s;
    for (size_t i = 0; i < heads.size(); ++i) {
      if (i > 0) s += " | ";
      s += describeHead(heads[i]);
      if (!bodies[i].empty()) s += " body=" + printable(bodies[i]);
      if (completes <= i) s += " (incomplete)";
    }
    s += " => ";
    s += statusName(status);
    if (status == ParseStatus::kUpgrade || status == ParseStatus::kDone) {
      s += "@" + std::to_string(consumed);
    }
    return s;
  }
  std::string describe() const {
    if (status == ParseStatus::kError) {
      return std::to_string(error.status) + " " + std::string(error.reason) + " (" + error.message +
             ") at " + std::to_string(consumed) + " after " + events;
    }
    return summary();
  }
};

enum class Split : uint8_t { kWhole, kBytes, kRandom };

// Feeds `input` to a fresh parser as one buffer, one byte per call, or random chunks; resumes
// after every pause and stops at the first status other than kNeedMore/kPaused.
Outcome parse(std::string_view input, Split split, const RequestParserOptions& options = {},
              uint32_t seed = 1, Recorder* recorder_template = nullptr) {
  Recorder rec;
  if (recorder_template != nullptr) {
    rec.pause_on_head = recorder_template->pause_on_head;
    rec.pause_on_body = recorder_template->pause_on_body;
    rec.pause_on_complete = recorder_template->pause_on_complete;
  }
  RequestParser parser(rec, options);
  rec.parser = &parser;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> size_dist(1, 17);
  Outcome out;
  size_t pos = 0;
  ParseResult r;
  while (true) {
    size_t remaining = input.size() - pos;
    size_t n = remaining;
    if (split == Split::kBytes) n = std::min<size_t>(remaining, 1);
    if (split == Split::kRandom) n = std::min(remaining, size_dist(rng));
    r = parser.feed(input.data() + pos, n);
    EXPECT_LE(r.consumed, n);
    pos += r.consumed;
    if (r.status == ParseStatus::kPaused) {
      ++out.pauses;
      parser.resume();
      continue;
    }
    if (r.status != ParseStatus::kNeedMore || pos >= input.size()) break;
  }
  out.status = r.status;
  out.error = r.error;
  out.consumed = pos;
  out.events = rec.events;
  out.heads = std::move(rec.heads);
  out.bodies = std::move(rec.bodies);
  out.completes = rec.completes;
  return out;
}

// Every split gives the same outcome as one buffer.
void expectSplitIndependent(std::string_view input, const Outcome& whole,
                            const RequestParserOptions& options, const std::string& label) {
  std::vector<std::pair<std::string, Outcome>> others;
  others.emplace_back("byte by byte", parse(input, Split::kBytes, options));
  for (uint32_t seed : {1u, 2u, 3u}) {
    others.emplace_back("random chunks seed " + std::to_string(seed),
                        parse(input, Split::kRandom, options, seed));
  }
  for (const auto& [name, o] : others) {
    EXPECT_EQ(o.describe(), whole.describe()) << label << ": " << name;
    EXPECT_EQ(o.bodies, whole.bodies) << label << ": " << name;
  }
}

// Request builders; `fields` is zero or more complete field lines.
std::string get(const std::string& fields) {
  return "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + fields + "\r\n";
}
std::string post(const std::string& fields, const std::string& body) {
  return "POST http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + fields + "\r\n" + body;
}
std::string chunked(const std::string& body) {
  return post("Transfer-Encoding: chunked\r\n", body);
}
// A request line plus one Host field.
std::string line(const std::string& request_line, const std::string& host = "allowed.test") {
  return request_line + "\r\nHost: " + host + "\r\n\r\n";
}
std::string connect(const std::string& target, const std::string& fields) {
  return "CONNECT " + target + " HTTP/1.1\r\n" + fields + "\r\n";
}
std::string fields(size_t count) {
  std::string s;
  for (size_t i = 0; i < count; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s;
}
// A GET whose head is exactly `total` bytes long.
std::string headOfSize(size_t total) {
  const std::string prefix = "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nX: ";
  const std::string suffix = "\r\n\r\n";
  return prefix + std::string(total - prefix.size() - suffix.size(), 'v') + suffix;
}
std::string targetOfSize(size_t total) {
  const std::string prefix = "http://allowed.test/";
  return prefix + std::string(total - prefix.size(), 'a');
}

const std::string kHelloChunks = "5\r\nhello\r\n0\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// The table.

enum class Opts : uint8_t { kDefault, kUnderscores, kOriginGit, kSmallBody, kUpgrade };

RequestParserOptions optionsFor(Opts o) {
  RequestParserOptions options;
  switch (o) {
    case Opts::kDefault:
      break;
    case Opts::kUnderscores:
      options.allow_underscore_headers = true;
      break;
    case Opts::kOriginGit:
      options.allow_origin_form_paths = {"/git/", "/github/api/"};
      break;
    case Opts::kSmallBody:
      options.max_body = 8;
      break;
    case Opts::kUpgrade:
      options.allow_upgrade = true;
      break;
  }
  return options;
}

struct Row {
  const char* id;
  std::string input;
  int status;          // 0: accepted
  std::string expect;  // the reason when refused; the summary when accepted
  const char* why;
  Opts opts = Opts::kDefault;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const Row& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " \"" << printable(row.input.substr(0, 200)) << "\"";
}

std::string at(const std::string& s) { return std::to_string(s.size()); }

std::vector<Row> rows() {
  const std::string close_get = get("Connection: close\r\n");
  const std::string connect_head = connect("allowed.test:443", "Host: allowed.test:443\r\n");
  return {
      // Ordinary requests.
      {"ok", get(""), 0, "GET allowed.test:80/ => need-more", "plain GET"},
      {"ok", line("GET http://allowed.test:8080/a/b?c=d&e HTTP/1.1", "allowed.test:8080"), 0,
       "GET allowed.test:8080/a/b?c=d&e => need-more", "port, path and query"},
      {"ok", line("GET http://allowed.test?x=1 HTTP/1.1"), 0,
       "GET allowed.test:80/?x=1 => need-more", "query without a path"},
      {"ok", line("GET http://Allowed.Test./ HTTP/1.1", "ALLOWED.TEST"), 0,
       "GET allowed.test:80/ => need-more", "Host compared in canonical form (case, trailing dot)"},
      {"ok", line("GET http://allowed.test/ HTTP/1.1", "allowed.test:80"), 0,
       "GET allowed.test:80/ => need-more", "explicit default port in Host"},
      {"ok", line("GET http://allowed.test:80/ HTTP/1.1"), 0, "GET allowed.test:80/ => need-more",
       "explicit default port in the target"},
      {"ok", line("GET http://[2001:db8::1]:8080/ HTTP/1.1", "[2001:DB8::1]:8080"), 0,
       "GET [2001:db8::1]:8080/ => need-more", "IPv6 literal"},
      {"ok", post("Content-Length: 5\r\n", "hello"), 0,
       "POST allowed.test:80/ cl=5 body=hello => need-more", "Content-Length body"},
      {"ok", post("Content-Length: 0\r\n", ""), 0, "POST allowed.test:80/ cl=0 => need-more",
       "empty body"},
      {"ok", chunked("5;ext=1;q=\"x\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"), 0,
       "POST allowed.test:80/ chunked body=hello world => need-more",
       "chunks with extensions; trailers dropped"},
      {"ok", post("Transfer-Encoding: CHUNKED\r\n", kHelloChunks), 0,
       "POST allowed.test:80/ chunked body=hello => need-more",
       "coding names are case-insensitive"},
      {"ok", get("X: a\x80\xff\r\n"), 0, "GET allowed.test:80/ => need-more",
       "obs-text in a value is legal (never in a name)"},
      {"ok", get("X:\r\nY:   spaced  out  \r\n"), 0, "GET allowed.test:80/ => need-more",
       "empty and padded values"},
      {"ok", "\r\n" + get(""), 0, "GET allowed.test:80/ => need-more",
       "one empty line before the request (RFC 9112 §2.2)"},
      {"ok", get("Expect: 100-continue\r\n"), 0, "GET allowed.test:80/ expect => need-more",
       "Expect: 100-continue"},
      {"ok", get("Expect: 100-Continue\r\n"), 0, "GET allowed.test:80/ expect => need-more",
       "expectation names are case-insensitive"},
      {"ok", get("Connection: Upgrade\r\nUpgrade: websocket\r\n") + get(""), 0,
       "GET allowed.test:80/ upgrade | GET allowed.test:80/ => need-more",
       "Upgrade is stripped by default: the next bytes are the next request (G3)"},
      {"ok", get("Connection: Upgrade\r\nUpgrade: websocket\r\n") + "XX", 0,
       "GET allowed.test:80/ upgrade => upgrade@" +
           at(get("Connection: Upgrade\r\nUpgrade: websocket\r\n")),
       "with allow_upgrade the parser stops after the request", Opts::kUpgrade},
      {"ok", get("Connection: keep-alive, X-Foo\r\nX-Foo: 1\r\n"), 0,
       "GET allowed.test:80/ => need-more", "Connection naming a header"},
      {"ok", "GET http://allowed.test/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get(""), 0,
       "GET allowed.test:80/ 1.0 | GET allowed.test:80/ => need-more", "HTTP/1.0 keep-alive"},
      {"ok", get("Host2: x\r\nX-Host: y\r\n"), 0, "GET allowed.test:80/ => need-more",
       "names containing 'host' are not Host"},

      // A: request target and host identity.
      {"A1", line("GET http://allowed.test/ HTTP/1.1", "evil.test"), 400, "host-mismatch",
       "Host names another host than the target"},
      {"A2", line("GET http://allowed.test:80/ HTTP/1.1", "allowed.test:81"), 400, "host-mismatch",
       "ports differ"},
      {"A2", line("GET http://allowed.test:8080/ HTTP/1.1"), 400, "host-mismatch",
       "target :8080, Host without port (80)"},
      {"A2", line("GET http://allowed.test/ HTTP/1.1", "allowed.test:8080"), 400, "host-mismatch",
       "target without port, Host :8080"},
      {"A2", line("GET http://127.0.0.1/ HTTP/1.1", "127.1"), 400, "bad-host",
       "Host in a numeric form resolvers reinterpret"},
      {"A3", get("Host: allowed.test\r\n"), 400, "duplicate-host", "two equal Host lines"},
      {"A3", get("Host: evil.test\r\n"), 400, "duplicate-host", "two different Host lines"},
      {"A3", get("host: allowed.test:80\r\n"), 400, "duplicate-host", "h:80 and h, different case"},
      {"A4", line("GET / HTTP/1.1"), 400, "origin-form", "origin-form on the proxy port"},
      {"A4", line("GET /git/org/repo.git/info/refs HTTP/1.1"), 400, "origin-form",
       "the local endpoint only when the options allow it"},
      {"A4",
       line("GET /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1", "proxy.local"), 0,
       "GET origin /git/org/repo.git/info/refs?service=git-upload-pack host=proxy.local => "
       "need-more",
       "allowed local endpoint", Opts::kOriginGit},
      {"A4", line("GET /github/api/repos HTTP/1.1", "proxy.local:3128"), 0,
       "GET origin /github/api/repos host=proxy.local => need-more", "second allowed prefix",
       Opts::kOriginGit},
      {"A4", line("GET /gitx HTTP/1.1"), 400, "origin-form", "a prefix is matched whole",
       Opts::kOriginGit},
      {"A4", line("GET /git/a#b HTTP/1.1"), 400, "fragment", "no fragment on the local endpoint",
       Opts::kOriginGit},
      {"A5", line("GET * HTTP/1.1"), 400, "asterisk-form", "asterisk-form"},
      {"A5", line("OPTIONS * HTTP/1.1"), 400, "asterisk-form", "OPTIONS *"},
      {"A6", line("GET allowed.test:80 HTTP/1.1"), 400, "bad-target",
       "authority-form with a non-CONNECT method (llhttp refuses the '.' in a scheme)"},
      {"A6", line("GET localhost:80 HTTP/1.1"), 400, "bad-target",
       "authority-form without a dot (llhttp wants \"//\" after a scheme)"},
      {"A7", line("GET http://allowed.test@evil.test/ HTTP/1.1"), 400, "userinfo", "userinfo"},
      {"A7", line("GET http://allowed.test:80@evil.test/ HTTP/1.1"), 400, "userinfo",
       "userinfo with a port-like part"},
      {"A7", line("GET http://allowed.test%2f@evil.test/ HTTP/1.1"), 400, "userinfo",
       "percent-encoded slash in userinfo"},
      {"A8", line("GET http://evil.test\\@allowed.test/ HTTP/1.1"), 400, "bad-target",
       "backslash (llhttp)"},
      {"A8", line("GET http://evil.test#@allowed.test/ HTTP/1.1"), 400, "bad-target",
       "# before @ (llhttp refuses '#' in the authority)"},
      {"A8", line("GET http://evil.test?@allowed.test/ HTTP/1.1"), 400, "userinfo", "? before @"},
      {"A8", line("GET http://1.1.1.1 &@2.2.2.2# @3.3.3.3/ HTTP/1.1"), 400, "bad-request-line",
       "spaces split the request line"},
      {"A9", line("GET http://%61llowed.test/ HTTP/1.1"), 400, "bad-host", "percent-encoded host"},
      {"A10", line("GET https://allowed.test/ HTTP/1.1"), 400, "unsupported-scheme",
       "https on the plain listener"},
      {"A10", line("GET ftp://allowed.test/ HTTP/1.1"), 400, "unsupported-scheme", "ftp"},
      {"A10", line("GET gopher://allowed.test:70/_x HTTP/1.1"), 400, "unsupported-scheme",
       "gopher"},
      {"A10", line("GET file:///etc/passwd HTTP/1.1"), 400, "unsupported-scheme", "file"},
      {"A11", line("GET http://allowed.test/a\tb HTTP/1.1"), 400, "bad-target", "HT in the path"},
      {"A11", line("GET http://allowed.test/a\x7f HTTP/1.1"), 400, "bad-target", "DEL"},
      {"A11", line("GET http://allowed.test/a\x80 HTTP/1.1"), 400, "bad-target", "0x80"},
      {"A11", line("GET http://allowed.test/a\xff HTTP/1.1"), 400, "bad-target", "0xff"},
      {"A11", line("GET http://allowed.test/a\0b HTTP/1.1"s), 400, "bad-target", "NUL"},
      {"A11", line("GET http://allowed\x01.test/ HTTP/1.1"), 400, "bad-target", "C0 in the host"},
      {"A11", line("GET http://allowed.test/a b HTTP/1.1"), 400, "bad-request-line",
       "SP in the target"},
      {"A12", line("GET http://allowed.test/#x HTTP/1.1"), 400, "fragment", "raw #"},
      {"A12", line("GET http://allowed.test/a?b#c HTTP/1.1"), 400, "fragment", "# after a query"},
      {"A13", line("GET " + targetOfSize(8192) + " HTTP/1.1"), 0,
       "GET allowed.test:80/" + std::string(8192 - 20, 'a') + " => need-more",
       "a target of exactly the cap"},
      {"A13", line("GET " + targetOfSize(8193) + " HTTP/1.1"), 414, "target-too-long",
       "one byte over the cap"},
      {"A13", line("GET " + targetOfSize(100000) + " HTTP/1.1"), 414, "target-too-long",
       "far over the cap: refused at the cap, not at the head cap"},
      {"A13", line("GET /" + std::string(9000, 'a') + " HTTP/1.1"), 414, "target-too-long",
       "length is checked before the form"},
      {"A14", line("get http://allowed.test/ HTTP/1.1"), 400, "bad-method", "lowercase method"},
      {"A14", line("G(T http://allowed.test/ HTTP/1.1"), 400, "bad-method",
       "separator in a method"},
      {"A14", line("GET\thttp://allowed.test/ HTTP/1.1"), 400, "bad-method", "HT after the method"},
      {"A14", line("TRACK http://allowed.test/ HTTP/1.1"), 400, "bad-method", "unknown method"},
      {"A14", line(" GET http://allowed.test/ HTTP/1.1"), 400, "bad-method", "leading space"},
      {"A15", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405, "h2-preface", "the h2 preface"},
      {"A15", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nXYZ", 405, "h2-preface",
       "h2 preface followed by frames"},
      {"A16", "GET /\r\n\r\n", 505, "bad-version", "HTTP/0.9 request line"},
      {"A16", "GET http://allowed.test/\r\nHost: allowed.test\r\n\r\n", 505, "bad-version",
       "HTTP/0.9 request line with fields"},
      {"A16", line("GET http://allowed.test/ HTTP/0.9"), 505, "bad-version", "HTTP/0.9 named"},
      {"A16", line("GET http://allowed.test/ HTTP/2.0"), 505, "bad-version", "HTTP/2.0"},
      {"A16", line("GET http://allowed.test/ HTTP/1.32"), 505, "bad-version", "HTTP/1.32"},
      {"A16", line("GET http://allowed.test/ HTTP/1.12"), 505, "bad-version", "HTTP/1.12"},
      {"A16", line("GET http://allowed.test/ HTTP/1.2"), 505, "bad-version", "HTTP/1.2"},
      {"A16", line("GET http://allowed.test/ HTTP/3.0"), 505, "bad-version", "HTTP/3.0"},
      {"A16", line("GET http://allowed.test/ HTTP/9.9"), 505, "bad-version", "HTTP/9.9"},
      {"A16", line("GET http://allowed.test/ HTTP/4294967295.255"), 505, "bad-version",
       "overflowing version"},
      {"A16", line("GET http://allowed.test/ HTTP/1.1x"), 400, "bad-request-line",
       "junk after the version"},
      {"A16", line("GET http://allowed.test/ HTTP/1.1 x"), 400, "bad-request-line",
       "a word after the version"},
      {"A16", line("GET http://allowed.test/ HTTP/1.1 "), 400, "bad-request-line",
       "trailing space"},
      {"A16", line("GET http://allowed.test/ HTTP/1"), 400, "bad-request-line", "no minor version"},
      {"A16", line("GET http://allowed.test/ HTTP/1..1"), 400, "bad-request-line", "two dots"},
      {"A16", line("GET http://allowed.test/ http/1.1"), 400, "bad-request-line",
       "lowercase protocol"},
      {"A16", line("GET http://allowed.test/ RTSP/1.0"), 400, "bad-request-line",
       "another protocol llhttp knows"},
      {"A16", line("SOURCE http://allowed.test/ ICE/1.0"), 400, "bad-request-line", "ICE"},
      {"A17", "GET http://allowed.test/ HTTP/1.1\r\n\r\n", 400, "missing-host",
       "HTTP/1.1 without Host"},
      {"A17", line("GET http://allowed.test/ HTTP/1.1", ""), 400, "bad-host", "empty Host"},
      {"A17", line("GET http://allowed.test/ HTTP/1.1", "allowed.test/x"), 400, "bad-host",
       "Host with a path"},
      {"A17", line("GET http://allowed.test/ HTTP/1.1", "user@allowed.test"), 400, "bad-host",
       "Host with userinfo"},
      {"A17", line("GET http://allowed.test/ HTTP/1.1", "allowed.test:+80"), 400, "bad-host",
       "Host with a signed port"},
      {"A18", "GET http://allowed.test/ HTTP/1.0\r\n\r\n", 0,
       "GET allowed.test:80/ 1.0 close => done@" + at("GET http://allowed.test/ HTTP/1.0\r\n\r\n"),
       "HTTP/1.0 without Host: allowed, and HTTP/1.0 closes"},
      {"A18", line("GET http://allowed.test/ HTTP/1.0", "evil.test"), 400, "host-mismatch",
       "HTTP/1.0 with a Host is still compared"},
      {"A19", line("GET http:/// HTTP/1.1"), 400, "bad-host", "empty authority"},
      {"A19", line("GET http://:80/ HTTP/1.1"), 400, "bad-host", "port without host"},
      {"A19", connect(":443", ""), 400, "bad-host", "CONNECT without host"},

      // E: CONNECT.
      {"E1", connect_head, 0, "CONNECT allowed.test:443 => upgrade@" + at(connect_head),
       "CONNECT stops parsing at the end of its head"},
      {"E1", connect("allowed.test:443", ""), 0,
       "CONNECT allowed.test:443 => upgrade@" + at(connect("allowed.test:443", "")),
       "CONNECT without Host: the target is the authority"},
      {"E1", connect("allowed.test:443", "Host: allowed.test\r\n"), 0,
       "CONNECT allowed.test:443 => upgrade@" +
           at(connect("allowed.test:443", "Host: allowed.test\r\n")),
       "Host without a port: only the host is compared"},
      {"E1", connect("[2001:db8::1]:443", "Host: [2001:db8::1]:443\r\n"), 0,
       "CONNECT [2001:db8::1]:443 => upgrade@" +
           at(connect("[2001:db8::1]:443", "Host: [2001:db8::1]:443\r\n")),
       "IPv6 CONNECT"},
      {"E3", connect("allowed.test", "Host: allowed.test\r\n"), 400, "connect-target", "no port"},
      {"E3", connect("allowed.test:", "Host: allowed.test\r\n"), 400, "bad-port", "empty port"},
      {"E3", connect("allowed.test:0", ""), 400, "bad-port", "port 0"},
      {"E3", connect("allowed.test:65536", ""), 400, "bad-port", "port 65536"},
      {"E3", connect("/", "Host: allowed.test\r\n"), 400, "connect-target", "a path"},
      {"E3", connect("http://allowed.test:443", "Host: allowed.test\r\n"), 400, "connect-target",
       "a URL"},
      {"E3", connect("allowed.test:443/x", "Host: allowed.test\r\n"), 400, "connect-target",
       "authority with a path"},
      {"E3", connect("u@allowed.test:443", "Host: allowed.test\r\n"), 400, "userinfo", "userinfo"},
      {"E3", connect("[allowed.test]:443", ""), 400, "bad-host", "bracketed name (B13)"},
      {"E3", "CONNECT allowed.test:443\r\n\r\n", 505, "bad-version", "CONNECT as HTTP/0.9"},
      {"E4", connect("allowed.test:443", "Host: evil.test:443\r\n"), 400, "host-mismatch",
       "Host names another host"},
      {"E4", connect("allowed.test:443", "Host: allowed.test:8443\r\n"), 400, "host-mismatch",
       "Host names another port"},
      {"E4", connect("allowed.test:443", "Host: allowed.test:443\r\nHost: allowed.test:443\r\n"),
       400, "duplicate-host", "two Host lines"},
      {"E9",
       connect("allowed.test:443", "Host: allowed.test:443\r\nContent-Length: 5\r\n") + "hello",
       400, "connect-body", "Content-Length on CONNECT"},
      {"E9", connect("allowed.test:443", "Content-Length: 0\r\n"), 400, "connect-body",
       "even Content-Length: 0"},
      {"E9", connect("allowed.test:443", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", 400,
       "connect-body", "Transfer-Encoding on CONNECT"},

      // F: framing and smuggling.
      {"F1", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", kHelloChunks), 400,
       "te-and-cl", "CL then TE"},
      {"F1", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", kHelloChunks), 400,
       "te-and-cl", "TE then CL"},
      {"F1",
       "POST http://allowed.test/ HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: "
       "chunked\r\n\r\n" +
           kHelloChunks,
       400, "te-and-cl", "CL and TE in HTTP/1.0"},
      {"F2", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400,
       "duplicate-content-length", "two equal values"},
      {"F2", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400,
       "duplicate-content-length", "two different values"},
      {"F2", post("Content-Length: 1, 1\r\n", "h"), 400, "bad-content-length", "a list"},
      {"F3", post("Content-Length: +1\r\n", "h"), 400, "bad-content-length", "sign"},
      {"F3", post("Content-Length: -1\r\n", "h"), 400, "bad-content-length", "negative"},
      {"F3", post("Content-Length: 0x10\r\n", "h"), 400, "bad-content-length", "hex"},
      {"F3", post("Content-Length: \r\n", "h"), 400, "bad-content-length", "empty"},
      {"F3", post("Content-Length: 1Z\r\n", "h"), 400, "bad-content-length", "trailing letter"},
      {"F3", post("Content-Length: 10000000000000000000000\r\n", "h"), 400, "bad-content-length",
       "10^22"},
      {"F3", post("Content-Length: 18446744073709551616\r\n", "h"), 400, "bad-content-length",
       "2^64"},
      {"F4", post("Content-Length: 010\r\n", "0123456789"), 400, "bad-content-length",
       "leading zero (llhttp accepts it; octal to some backends)"},
      {"F4", post("Content-Length: 00\r\n", ""), 400, "bad-content-length", "zero written twice"},
      {"F5", post("Transfer-Encoding: identity\r\n", ""), 501, "unsupported-transfer-coding",
       "identity"},
      {"F5", post("Transfer-Encoding: gzip\r\n", ""), 501, "unsupported-transfer-coding", "gzip"},
      {"F5", post("Transfer-Encoding: chunked, identity\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "chunked not last"},
      {"F5", post("Transfer-Encoding: identity, chunked\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "llhttp reads this as chunked"},
      {"F5", post("Transfer-Encoding: gzip, chunked\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "an extra coding"},
      {"F5", post("Transfer-Encoding: ,chunked\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "empty list element"},
      {"F5", post("Transfer-Encoding: chunked, chunked\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "chunked twice in one line"},
      {"F5", post("Transfer-Encoding: xchunked\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "chunked as a suffix"},
      {"F5",
       post("Transfer-Encoding: \xa0"
            "chunked\xa0\r\n",
            kHelloChunks),
       501, "unsupported-transfer-coding", "NBSP around chunked"},
      {"F5", post("Transfer-Encoding: chunked \r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "trailing space (llhttp does not read it as chunked)"},
      {"F5", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", kHelloChunks),
       501, "unsupported-transfer-coding", "two chunked field lines"},
      {"F5", post("Transfer-Encoding: \"chunked\"\r\n", kHelloChunks), 501,
       "unsupported-transfer-coding", "quoted"},
      {"F6",
       "POST http://allowed.test/ HTTP/1.0\r\nHost: allowed.test\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400, "te-in-http10", "Transfer-Encoding in HTTP/1.0"},
      {"F7", chunked("0_2e\r\n\r\n"), 400, "bad-chunk", "underscore"},
      {"F7", chunked("0x1\r\nx\r\n0\r\n\r\n"), 400, "bad-chunk", "hex prefix"},
      {"F7", chunked(" 1\r\nx\r\n0\r\n\r\n"), 400, "bad-chunk", "leading space"},
      {"F7", chunked("1 \r\nx\r\n0\r\n\r\n"), 400, "bad-chunk", "trailing space"},
      {"F7", chunked("fffffffffffffffff1\r\n"), 400, "bad-chunk", "overflow"},
      {"F7", chunked("\r\nx\r\n0\r\n\r\n"), 400, "bad-chunk", "empty size"},
      {"F7", chunked("-0x0\r\n\r\n"), 400, "bad-chunk", "negative"},
      {"F8", chunked("5\r\r;ABCD\r\nhello\r\n0\r\n\r\n"), 400, "bad-chunk",
       "bare CR before an extension"},
      {"F8", chunked("5\nhello\r\n0\r\n\r\n"), 400, "bad-chunk", "bare LF after the size"},
      {"F8", chunked("5\r\nhelloX0\r\n\r\n"), 400, "bad-chunk", "no CRLF after the data"},
      {"F8", chunked("5\r\nhello\n0\r\n\r\n"), 400, "bad-chunk", "bare LF after the data"},
      {"F8", chunked("5\r\nhello\r0\r\n\r\n"), 400, "bad-chunk", "bare CR after the data"},
      {"F8", chunked("0\r\n\n"), 400, "bad-trailer", "bare LF ending the body"},
      {"F9", chunked("1;a=" + std::string(17000, 'b') + "\r\nx\r\n0\r\n\r\n"), 413,
       "chunk-extensions-too-large", "one huge extension"},
      {"F9",
       chunked("1" +
               [] {
                 std::string s;
                 for (int i = 0; i < 5000; ++i) s += ";a=b";
                 return s;
               }() +
               "\r\nx\r\n0\r\n\r\n"),
       413, "chunk-extensions-too-large", "many extensions (Node CVE-2024-22019)"},
      {"F9",
       chunked("1;a=" + std::string(16000, 'b') + "\r\nx\r\n1;a=" + std::string(16000, 'b') +
               "\r\ny\r\n0\r\n\r\n"),
       0, "POST allowed.test:80/ chunked body=xy => need-more", "the cap is per chunk line"},
      {"F10", chunked("0\r\nHost: evil.test\r\n\r\n"), 0,
       "POST allowed.test:80/ chunked => need-more", "Host in trailers: dropped, never delivered"},
      {"F10", chunked("0\r\nContent-Length: 5\r\n\r\n"), 400, "bad-trailer",
       "Content-Length in trailers"},
      {"F10", chunked("0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "bad-trailer",
       "Transfer-Encoding in trailers"},
      {"F10", chunked("0\r\n" + fields(101) + "\r\n"), 431, "trailers-too-large",
       "too many trailer fields"},
      {"F11", post("X-Abc: \rxTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, "bad-header",
       "CVE-2023-30589 bare CR"},
      {"F11", get("X: a\rb\r\n"), 400, "bad-header", "bare CR inside a value"},
      {"F11", get("X-Ho\rst: a\r\n"), 400, "bad-header", "bare CR in a name"},
      {"F11", "GET http://allowed.test/ HTTP/1.1\rHost: allowed.test\r\n\r\n", 400,
       "bad-request-line", "bare CR ends the request line"},
      {"F11", line("GET http://allowed.test/a\rb HTTP/1.1"), 400, "bad-target",
       "bare CR in the target"},
      {"F12", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\rX", 400, "bad-header",
       "CVE-2025-23167"},
      {"F13", get("X: a\r\n b\r\n"), 400, "bad-header", "obs-fold"},
      {"F13", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400, "bad-header",
       "obs-fold of Transfer-Encoding"},
      {"F14", "GET http://allowed.test/ HTTP/1.1\r\n Host: allowed.test\r\n\r\n", 400, "bad-header",
       "SP before the first field"},
      {"F14", post("X: y\r\n Content-Length: 5\r\n", "hello"), 400, "bad-header", "CVE-2024-27982"},
      {"F15", get(": x\r\n"), 400, "bad-header", "empty name"},
      {"F15", get(":\r\n"), 400, "bad-header", "lone colon"},
      {"F16", "GET http://allowed.test/ HTTP/1.1\r\nHost : allowed.test\r\n\r\n", 400, "bad-header",
       "SP before the colon"},
      {"F16", post("Content-Length : 5\r\n", "hello"), 400, "bad-header",
       "SP before the colon of Content-Length"},
      {"F16", post("Transfer-Encoding\t: chunked\r\n", kHelloChunks), 400, "bad-header",
       "HT before the colon"},
      {"F17", "GET http://allowed.test/ HTTP/1.1\nHost: allowed.test\n\n", 400, "bad-request-line",
       "LF-only lines"},
      {"F17", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\n\r\n", 400, "bad-header",
       "LF-only after a value"},
      {"F17", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\n", 400, "bad-header",
       "LF-only empty line"},
      {"F18", get("X: a\0b\r\n"s), 400, "bad-header", "NUL in a value"},
      {"F18",
       get("X: a\x01"
           "b\r\n"),
       400, "bad-header", "C0 in a value"},
      {"F18",
       get("X: a\x7f"
           "b\r\n"),
       400, "bad-header", "DEL in a value"},
      {"F18", get("X\x85: a\r\n"), 400, "bad-header", "0x85 in a name"},
      {"F18", get("X\xa0: a\r\n"), 400, "bad-header", "0xa0 in a name"},
      {"F18", get("X\x01: a\r\n"), 400, "bad-header", "C0 in a name"},
      {"F18", get("X@: a\r\n"), 400, "bad-header", "'@' in a name"},
      {"F18", get("X/: a\r\n"), 400, "bad-header", "'/' in a name"},
      {"F18", get("X\"(: a\r\n"), 400, "bad-header", "quote and parenthesis in a name"},
      {"F18", get("X{}[]: a\r\n"), 400, "bad-header", "braces and brackets in a name"},
      {"F19", post("Content-Length 5\r\n", "hello"), 400, "bad-header", "no colon"},
      {"F20", close_get + get(""), 0, "GET allowed.test:80/ close => done@" + at(close_get),
       "nothing after Connection: close is parsed"},
      {"F20", close_get + "garbage\r\n\r\n", 0,
       "GET allowed.test:80/ close => done@" + at(close_get), "not even garbage"},
      {"F20", "GET http://allowed.test/ HTTP/1.0\r\n\r\nGET http://evil.test/ HTTP/1.0\r\n\r\n", 0,
       "GET allowed.test:80/ 1.0 close => done@" + at("GET http://allowed.test/ HTTP/1.0\r\n\r\n"),
       "HTTP/1.0 without keep-alive"},
      {"F21",
       line("GET http://a.test/ HTTP/1.1", "a.test") +
           line("GET http://b.test/x HTTP/1.1", "b.test"),
       0, "GET a.test:80/ | GET b.test:80/x => need-more", "pipelined requests for two hosts"},

      // G: header semantics and limits.
      {"G4", get(fields(99)), 0, "GET allowed.test:80/ => need-more", "exactly 100 fields"},
      {"G4", get(fields(100)), 431, "too-many-headers", "101 fields"},
      {"G5", headOfSize(size_t{64} * 1024), 0, "GET allowed.test:80/ => need-more",
       "a head of exactly the cap"},
      {"G5", headOfSize(size_t{64} * 1024 + 1), 431, "headers-too-large", "one byte over"},
      {"G5", get("X: " + std::string(1 << 20, 'v') + "\r\n"), 431, "headers-too-large",
       "one 1 MiB field"},
      {"G5", std::string(70000, '\n') + get(""), 431, "headers-too-large",
       "empty lines count towards the head"},
      {"G6",
       get("X-Forwarded-For: " +
           [] {
             std::string list = "10.0.0.1";
             for (int i = 0; i < 9999; ++i) list += ", 10.0.0.1";
             return list;
           }() +
           "\r\n"),
       431, "headers-too-large", "10,000 X-Forwarded-For entries: refused at the head cap"},
      {"G6", get("X-Forwarded-For: 192.0.2.1, 192.0.2.2, 192.0.2.3\r\n"), 0,
       "GET allowed.test:80/ => need-more", "a short X-Forwarded-For is an ordinary header"},
      {"G9", get("Expect: foo\r\n"), 417, "expectation-failed", "unknown expectation"},
      {"G9", get("Expect: 100-continue\r\nExpect: 100-continue\r\n"), 417, "expectation-failed",
       "two Expect fields"},
      {"G9", get("Expect: 100-continue, foo\r\n"), 417, "expectation-failed", "a list"},
      {"G9", get("Expect:\r\n"), 417, "expectation-failed", "empty"},
      {"G10", line("TRACE http://allowed.test/ HTTP/1.1"), 405, "method-not-allowed",
       "TRACE would reflect injected credentials"},
      {"G11", get("X_Forwarded_For: 1.2.3.4\r\n"), 400, "underscore-header",
       "underscore in a name (Envoy: reject at the edge)"},
      {"G11", get("X_Forwarded_For: 1.2.3.4\r\n"), 0, "GET allowed.test:80/ => need-more",
       "allowed by option", Opts::kUnderscores},

      // Body limits.
      {"H7", post("Content-Length: 9\r\n", "123456789"), 413, "body-too-large",
       "Content-Length over max_body", Opts::kSmallBody},
      {"H7", post("Content-Length: 8\r\n", "12345678"), 0,
       "POST allowed.test:80/ cl=8 body=12345678 => need-more", "exactly max_body",
       Opts::kSmallBody},
      {"H7", chunked("5\r\n12345\r\n4\r\n6789\r\n0\r\n\r\n"), 413, "body-too-large",
       "chunked body over max_body", Opts::kSmallBody},
      {"H7", chunked("10\r\n0123456789abcdef\r\n0\r\n\r\n"), 413, "body-too-large",
       "the error is placed at the first byte over the cap whatever the split", Opts::kSmallBody},
  };
}

class RequestRows : public ::testing::TestWithParam<Row> {};

TEST_P(RequestRows, ParsesAsTheTableSays) {
  const Row& row = GetParam();
  RequestParserOptions options = optionsFor(row.opts);
  Outcome o = parse(row.input, Split::kWhole, options);
  if (row.status == 0) {
    EXPECT_EQ(o.summary(), row.expect) << row.why << ": " << o.describe();
    EXPECT_EQ(o.completes, o.heads.size()) << row.why;
  } else {
    EXPECT_EQ(o.status, ParseStatus::kError) << row.why << ": " << o.describe();
    EXPECT_EQ(o.error.status, row.status) << row.why << ": " << o.describe();
    EXPECT_EQ(o.error.reason, row.expect) << row.why << ": " << o.describe();
    EXPECT_FALSE(o.error.message.empty());
    // Errors in the body come after the head was delivered; any other error before it.
    const bool body_error =
        o.error.reason == "bad-chunk" || o.error.reason == "bad-trailer" ||
        o.error.reason == "trailers-too-large" || o.error.reason == "chunk-extensions-too-large" ||
        (o.error.reason == "body-too-large" && o.heads.size() == 1 && o.heads[0].chunked);
    EXPECT_EQ(o.heads.empty(), !body_error) << row.why << ": " << o.describe();
  }
  expectSplitIndependent(row.input, o, options, row.why);
}

INSTANTIATE_TEST_SUITE_P(Rows, RequestRows, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// F22: the smuggler tool's default Transfer-Encoding gadgets (defparam/smuggler
// configs/default.py): 13 bytes in 10 positions plus 4 fixed mutations, in its request
// template with a Content-Length. Each is refused with 400 or 501, or read exactly as the
// strict reading does: Content-Length framing, no Transfer-Encoding field, the same body.

struct Gadget {
  std::string name;
  std::string text;
};

std::vector<Gadget> smugglerGadgets() {
  std::vector<Gadget> g = {
      {"nameprefix1", " Transfer-Encoding: chunked"},
      {"tabprefix1", "Transfer-Encoding:\tchunked"},
      {"tabprefix2", "Transfer-Encoding\t:\tchunked"},
      {"space1", "Transfer-Encoding : chunked"},
  };
  const char kHex[] = "0123456789abcdef";
  for (int b : {0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff}) {
    const std::string c(1, static_cast<char>(b));
    const std::string hex = {kHex[b >> 4], kHex[b & 0xf]};
    g.push_back({"midspace-" + hex, "Transfer-Encoding:" + c + "chunked"});
    g.push_back({"postspace-" + hex, "Transfer-Encoding" + c + ": chunked"});
    g.push_back({"prespace-" + hex, c + "Transfer-Encoding: chunked"});
    g.push_back({"endspace-" + hex, "Transfer-Encoding: chunked" + c});
    g.push_back({"xprespace-" + hex, "X: X" + c + "Transfer-Encoding: chunked"});
    g.push_back({"endspacex-" + hex, "Transfer-Encoding: chunked" + c + "X: X"});
    g.push_back({"rxprespace-" + hex, "X: X\r" + c + "Transfer-Encoding: chunked"});
    g.push_back({"xnprespace-" + hex, "X: X" + c + "\nTransfer-Encoding: chunked"});
    g.push_back({"endspacerx-" + hex, "Transfer-Encoding: chunked\r" + c + "X: X"});
    g.push_back({"endspacexn-" + hex, "Transfer-Encoding: chunked" + c + "\nX: X"});
  }
  return g;
}

// The body is a CL.TE probe: read as chunked it ends after "0\r\n\r\n" and leaves "X" behind.
const std::string kProbeBody = "0\r\n\r\nX";

std::string smugglerRequest(const std::string& gadget) {
  return "POST http://allowed.test/?cb=1 HTTP/1.1\r\n" + gadget +
         "\r\nHost: allowed.test\r\nUser-Agent: Mozilla/5.0\r\n"
         "Content-type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
         "Content-Length: " +
         std::to_string(kProbeBody.size()) + "\r\n\r\n" + kProbeBody;
}

TEST(SmugglerGadgets, AreRefusedOrReadWithTheStrictFraming) {
  std::vector<Gadget> gadgets = smugglerGadgets();
  ASSERT_EQ(gadgets.size(), 134u);
  std::vector<std::string> accepted;
  for (const Gadget& g : gadgets) {
    SCOPED_TRACE(g.name);
    const std::string input = smugglerRequest(g.text);
    Outcome o = parse(input, Split::kWhole);
    expectSplitIndependent(input, o, {}, g.name);
    if (o.status == ParseStatus::kError) {
      EXPECT_TRUE(o.error.status == 400 || o.error.status == 501) << o.describe();
      EXPECT_TRUE(o.heads.empty());
      continue;
    }
    accepted.push_back(g.name);
    ASSERT_EQ(o.heads.size(), 1u) << o.describe();
    const RequestHead& head = o.heads[0];
    EXPECT_FALSE(head.chunked);
    EXPECT_EQ(head.content_length, kProbeBody.size());
    EXPECT_EQ(head.find("transfer-encoding"), nullptr);
    EXPECT_EQ(o.bodies[0], kProbeBody);
    // What goes upstream has one framing header, which a strict parser reads the same way.
    std::string upstream = serializeRequestHead(head) + kProbeBody;
    RequestParserOptions origin;
    origin.allow_origin_form_paths = {"/"};
    Outcome again = parse(upstream, Split::kWhole, origin);
    ASSERT_EQ(again.heads.size(), 1u) << again.describe();
    EXPECT_EQ(again.heads[0].content_length, kProbeBody.size());
    EXPECT_FALSE(again.heads[0].chunked);
    EXPECT_EQ(again.bodies[0], kProbeBody);
  }
  // A byte inside the value of X (HT, SP, obs-text) makes the gadget part of that value.
  EXPECT_EQ(accepted, (std::vector<std::string>{"xprespace-09", "xprespace-20", "xprespace-a0",
                                                "xprespace-ff"}));
}

// ---------------------------------------------------------------------------------------------
// Pipelining, pausing, CONNECT.

TEST(RequestPipelining, ThreeRequestsInOneBufferWithAChunkedPostBetween) {
  const std::string input =
      line("GET http://a.test/1 HTTP/1.1", "a.test") +
      "POST http://b.test/2 HTTP/1.1\r\nHost: b.test\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
      line("GET http://c.test/3 HTTP/1.1", "c.test");
  Outcome o = parse(input, Split::kWhole);
  EXPECT_EQ(o.summary(),
            "GET a.test:80/1 | POST b.test:80/2 chunked body=hello world | GET c.test:80/3 => "
            "need-more");
  EXPECT_EQ(o.events, "head;complete;head;complete;head;complete;");
  EXPECT_EQ(o.consumed, input.size());
  expectSplitIndependent(input, o, {}, "pipelining");
}

TEST(RequestPause, AfterTheHeadNoBodyByteIsConsumed) {
  const std::string head =
      "POST http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n"
      "Content-Length: 5\r\n\r\n";
  const std::string next = get("");
  const std::string input = head + "hello" + next;
  Recorder rec;
  RequestParser parser(rec);
  rec.parser = &parser;
  rec.pause_on_head = true;

  ParseResult r = parser.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, head.size()) << "stops exactly at the end of the head";
  EXPECT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.body_calls, 0u);
  EXPECT_EQ(parser.feed(input.data() + r.consumed, 1).status, ParseStatus::kPaused)
      << "feed while paused consumes nothing";
  EXPECT_EQ(parser.feed(input.data() + r.consumed, 1).consumed, 0u);

  rec.pause_on_head = false;
  parser.resume();
  ParseResult r2 = parser.feed(input.data() + r.consumed, input.size() - r.consumed);
  EXPECT_EQ(r2.status, ParseStatus::kNeedMore);
  EXPECT_EQ(r.consumed + r2.consumed, input.size());
  ASSERT_EQ(rec.bodies.size(), 2u);
  EXPECT_EQ(rec.bodies[0], "hello");
  EXPECT_EQ(rec.events, "head;complete;head;complete;");
}

TEST(RequestPause, AfterABodyAndAfterEachMessage) {
  const std::string first = post("Content-Length: 5\r\n", "hello");
  const std::string input = first + get("");
  Recorder rec;
  RequestParser parser(rec);
  rec.parser = &parser;
  rec.pause_on_complete = true;
  ParseResult r = parser.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, first.size()) << "one request at a time";
  EXPECT_EQ(rec.events, "head;complete;");
  parser.resume();
  r = parser.feed(input.substr(first.size()));
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(rec.events, "head;complete;head;complete;");

  // Pausing in onBody stops after that span.
  Recorder rec2;
  RequestParser parser2(rec2);
  rec2.parser = &parser2;
  rec2.pause_on_body = true;
  r = parser2.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(rec2.events, "head;");
  EXPECT_EQ(rec2.bodies[0], "hello");
  rec2.pause_on_body = false;
  parser2.resume();
  r = parser2.feed(input.substr(first.size()));
  EXPECT_EQ(r.status, ParseStatus::kNeedMore);
  EXPECT_EQ(rec2.events, "head;complete;head;complete;");
}

TEST(RequestPause, ABodylessRequestCompletesOnTheFeedAfterResume) {
  const std::string input = get("");
  Recorder rec;
  RequestParser parser(rec);
  rec.parser = &parser;
  rec.pause_on_head = true;
  ParseResult r = parser.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, input.size());
  EXPECT_EQ(rec.events, "head;");
  EXPECT_FALSE(parser.idle());
  parser.resume();
  r = parser.feed(nullptr, 0);
  EXPECT_EQ(r.status, ParseStatus::kNeedMore);
  EXPECT_EQ(rec.events, "head;complete;");
  EXPECT_TRUE(parser.idle());
}

TEST(RequestPause, OutsideACallbackStopsTheNextFeed) {
  Recorder rec;
  RequestParser parser(rec);
  parser.pause();
  ParseResult r = parser.feed(get(""));
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, 0u);
  parser.resume();
  EXPECT_EQ(parser.feed(get("")).status, ParseStatus::kNeedMore);
  EXPECT_EQ(rec.events, "head;complete;");
}

// E8 / INV-NOBYTES: bytes after a CONNECT head are never parsed as HTTP; the consumed count
// says exactly where they start, however the input is split.
TEST(RequestConnect, EarlyBytesAreNeverParsed) {
  const std::string head = connect("evil.test:443", "Host: evil.test:443\r\n");
  const std::string client_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  for (const std::string& early :
       {std::string("GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n"), client_hello,
        std::string("\r\n\r\n"), std::string(100000, 'x')}) {
    const std::string input = head + early;
    for (Split split : {Split::kWhole, Split::kBytes, Split::kRandom}) {
      Outcome o = parse(input, split);
      EXPECT_EQ(o.status, ParseStatus::kUpgrade) << printable(early.substr(0, 20));
      EXPECT_EQ(o.consumed, head.size());
      EXPECT_EQ(o.events, "head;complete;");
      ASSERT_EQ(o.heads.size(), 1u);
      EXPECT_TRUE(o.heads[0].is_connect);
      EXPECT_EQ(o.heads[0].parsed.host.text, "evil.test");
      EXPECT_EQ(o.heads[0].parsed.port, 443);
    }
    // Later feeds do not look at the bytes either.
    Recorder rec;
    RequestParser parser(rec);
    ParseResult r = parser.feed(input);
    EXPECT_EQ(r.status, ParseStatus::kUpgrade);
    r = parser.feed(early);
    EXPECT_EQ(r.status, ParseStatus::kUpgrade);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(rec.heads.size(), 1u);
  }
}

TEST(RequestConnect, PauseInTheHeadCallbackStillEndsWithUpgrade) {
  const std::string head = connect("allowed.test:443", "Host: allowed.test:443\r\n");
  Recorder rec;
  RequestParser parser(rec);
  rec.parser = &parser;
  rec.pause_on_head = true;
  ParseResult r = parser.feed(head + "EARLY");
  EXPECT_EQ(r.status, ParseStatus::kUpgrade);
  EXPECT_EQ(r.consumed, head.size());
}

TEST(RequestUpgrade, AllowedUpgradeStopsAndCanResumeAsHttp) {
  const std::string first = get("Connection: upgrade\r\nUpgrade: websocket\r\n");
  const std::string input = first + get("");
  Recorder rec;
  RequestParserOptions options;
  options.allow_upgrade = true;
  RequestParser parser(rec, options);
  ParseResult r = parser.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kUpgrade);
  EXPECT_EQ(r.consumed, first.size());
  parser.resumeAfterUpgrade();
  r = parser.feed(input.substr(first.size()));
  EXPECT_EQ(r.status, ParseStatus::kNeedMore);
  EXPECT_EQ(rec.events, "head;complete;head;complete;");
}

TEST(RequestFinish, BetweenRequestsIsDoneInsideOneIsAnError) {
  {
    Recorder rec;
    RequestParser parser(rec);
    EXPECT_TRUE(parser.idle());
    EXPECT_EQ(parser.finish().status, ParseStatus::kDone);
  }
  {
    Recorder rec;
    RequestParser parser(rec);
    parser.feed(get(""));
    EXPECT_EQ(parser.finish().status, ParseStatus::kDone);
    EXPECT_EQ(parser.feed(get("")).status, ParseStatus::kDone);
  }
  for (const std::string& partial :
       {std::string("GET http://allowed.test/ HTT"), post("Content-Length: 5\r\n", "hel"),
        chunked("5\r\nhello\r\n")}) {
    Recorder rec;
    RequestParser parser(rec);
    EXPECT_EQ(parser.feed(partial).status, ParseStatus::kNeedMore);
    EXPECT_FALSE(parser.idle());
    ParseResult r = parser.finish();
    EXPECT_EQ(r.status, ParseStatus::kError) << printable(partial);
    EXPECT_EQ(r.error.status, 400);
    EXPECT_EQ(r.error.reason, "incomplete-request");
  }
}

TEST(RequestErrors, AreStickyAndConsumeNothingMore) {
  Recorder rec;
  RequestParser parser(rec);
  ParseResult r = parser.feed(line("GET http://allowed.test/ HTTP/1.1", "evil.test") + get(""));
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error.reason, "host-mismatch");
  ParseResult again = parser.feed(get(""));
  EXPECT_EQ(again.status, ParseStatus::kError);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(again.error.reason, "host-mismatch");
  EXPECT_TRUE(rec.heads.empty());
}

// G5: a 1 MiB header is refused at the cap; llhttp never sees more than the cap.
TEST(RequestLimits, HugeHeaderFailsAtTheCap) {
  const std::string input = get("X: " + std::string(1 << 20, 'v') + "\r\n");
  Recorder rec;
  RequestParser parser(rec);
  ParseResult r = parser.feed(input);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error.status, 431);
  EXPECT_EQ(r.consumed, 64u * 1024u);
}

TEST(RequestLimits, HeadCapAppliesPerRequest) {
  // Two pipelined requests of 40 KiB each: each head is under the cap on its own.
  const std::string one = headOfSize(size_t{40} * 1024);
  Outcome o = parse(one + one, Split::kWhole);
  EXPECT_EQ(o.status, ParseStatus::kNeedMore) << o.describe();
  EXPECT_EQ(o.heads.size(), 2u);
}

TEST(RequestModel, HeadersKeepOrderAndCaseAndFindIsCaseInsensitive) {
  Outcome o = parse(get("X-First: 1\r\nx-second:  two  \r\nX-FIRST: 3\r\n"), Split::kWhole);
  ASSERT_EQ(o.heads.size(), 1u);
  const RequestHead& h = o.heads[0];
  ASSERT_EQ(h.headers.size(), 4u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[2].name, "x-second");
  EXPECT_EQ(h.headers[2].value, "two");
  ASSERT_NE(h.find("x-first"), nullptr);
  EXPECT_EQ(h.find("X-FIRST")->value, "1");
  EXPECT_EQ(h.find("missing"), nullptr);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "http://allowed.test/");
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.version_minor, 1);
}

// ---------------------------------------------------------------------------------------------
// serializeRequestHead.

RequestHead parseOne(const std::string& input, const RequestParserOptions& options = {}) {
  Outcome o = parse(input, Split::kWhole, options);
  EXPECT_EQ(o.heads.size(), 1u) << o.describe();
  return o.heads.empty() ? RequestHead{} : o.heads[0];
}

TEST(SerializeRequest, OriginFormAndRegeneratedHost) {
  RequestHead h =
      parseOne(line("GET http://Allowed.Test.:8080/a/b?c=d HTTP/1.1", "allowed.test:8080"));
  EXPECT_EQ(serializeRequestHead(h), "GET /a/b?c=d HTTP/1.1\r\nHost: allowed.test:8080\r\n\r\n");
  h = parseOne(line("GET http://allowed.test:80 HTTP/1.1", "ALLOWED.test:80"));
  EXPECT_EQ(serializeRequestHead(h), "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
  h = parseOne(line("GET http://[2001:db8::1]/ HTTP/1.1", "[2001:db8::1]"));
  EXPECT_EQ(serializeRequestHead(h), "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n");
}

TEST(SerializeRequest, HopByHopHeadersAreRemoved) {
  RequestHead h = parseOne(
      get("Connection: keep-alive, X-Hop, Upgrade\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
          "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
          "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nProxy-Authorization: Basic c2VjcmV0\r\n"
          "Proxy-Authenticate: Basic\r\nAccept: */*\r\nUser-Agent: test\r\n"));
  EXPECT_TRUE(h.has_upgrade);
  EXPECT_EQ(serializeRequestHead(h),
            "GET / HTTP/1.1\r\nHost: allowed.test\r\nAccept: */*\r\nUser-Agent: test\r\n\r\n");
}

TEST(SerializeRequest, ProxyAuthorizationIsNeverForwarded) {
  RequestHead h = parseOne(get("proxy-authorization: Bearer canary-token\r\n"));
  std::string out = serializeRequestHead(h);
  EXPECT_EQ(out.find("canary-token"), std::string::npos) << out;
  EXPECT_EQ(out.find("roxy-"), std::string::npos) << out;
}

// G1: a client's Connection header strips only the client's own headers.
TEST(SerializeRequest, ConnectionNamesStripOnlyClientHeaders) {
  RequestHead h = parseOne(
      get("Connection: close, Authorization, X-Proxy-Added\r\nAuthorization: Bearer client\r\n"
          "X-Proxy-Added: client\r\n"));
  RequestSerializeOptions options;
  options.keep_alive = true;
  options.extra_headers = {
      {"Authorization", "Bearer injected"}, {"X-Proxy-Added", "proxy"}, {"Via", "1.1 gatehouse"}};
  EXPECT_EQ(serializeRequestHead(h, options),
            "GET / HTTP/1.1\r\nHost: allowed.test\r\nAuthorization: Bearer injected\r\n"
            "X-Proxy-Added: proxy\r\nVia: 1.1 gatehouse\r\n\r\n");
}

TEST(SerializeRequest, ExtraHeadersWithLineBreaksAreDropped) {
  RequestHead h = parseOne(get(""));
  RequestSerializeOptions options;
  options.extra_headers = {
      {"X-Ok", "1"}, {"X-Bad", "a\r\nInjected: 1"}, {"X\nBad", "1"}, {"", "1"}};
  EXPECT_EQ(serializeRequestHead(h, options),
            "GET / HTTP/1.1\r\nHost: allowed.test\r\nX-Ok: 1\r\n\r\n");
}

TEST(SerializeRequest, UpgradeKeptOnlyWhenAllowed) {
  RequestHead h =
      parseOne(get("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"));
  EXPECT_EQ(serializeRequestHead(h),
            "GET / HTTP/1.1\r\nHost: allowed.test\r\nSec-WebSocket-Key: k\r\n\r\n");
  RequestSerializeOptions options;
  options.allow_upgrade = true;
  EXPECT_EQ(serializeRequestHead(h, options),
            "GET / HTTP/1.1\r\nHost: allowed.test\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
            "k\r\nConnection: upgrade\r\n\r\n");
}

TEST(SerializeRequest, Http10ClientGetsHostAndCanonicalFraming) {
  RequestHead h = parseOne(
      "POST http://allowed.test:81/form HTTP/1.0\r\nExpect: 100-continue\r\n"
      "Content-Length: 3\r\n\r\nabc");
  EXPECT_FALSE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue) << "RFC 9110 §10.1.1: ignored for HTTP/1.0";
  RequestSerializeOptions options;
  options.keep_alive = h.keep_alive;
  EXPECT_EQ(serializeRequestHead(h, options),
            "POST /form HTTP/1.1\r\nHost: allowed.test:81\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\n");
}

TEST(SerializeRequest, FramingComesFromTheModel) {
  RequestHead h =
      parseOne(post("transfer-encoding: Chunked\r\nExpect: 100-continue\r\n", "0\r\n\r\n"));
  EXPECT_EQ(serializeRequestHead(h),
            "POST / HTTP/1.1\r\nHost: allowed.test\r\nExpect: 100-continue\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  h = parseOne(post("content-length: 2\r\n", "ab"));
  EXPECT_EQ(serializeRequestHead(h),
            "POST / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 2\r\n\r\n");
}

TEST(SerializeRequest, ConnectAndOriginForm) {
  RequestHead h =
      parseOne(connect("allowed.test:443", "Host: allowed.test:443\r\nUser-Agent: c\r\n"));
  EXPECT_EQ(serializeRequestHead(h),
            "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\nUser-Agent: c\r\n\r\n");
  RequestParserOptions options;
  options.allow_origin_form_paths = {"/git/"};
  h = parseOne(line("GET /git/o/r.git/info/refs?service=git-upload-pack HTTP/1.1", "proxy:3128"),
               options);
  EXPECT_EQ(
      serializeRequestHead(h),
      "GET /git/o/r.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: proxy:3128\r\n\r\n");
}

// Every accepted row's forwarded head is itself a request the strict parser accepts with the
// same method, path and framing.
TEST(SerializeRequest, RoundTripsThroughTheParser) {
  for (const Row& row : rows()) {
    if (row.status != 0) continue;
    RequestParserOptions origin = optionsFor(row.opts);
    origin.allow_origin_form_paths = {"/"};
    Outcome o = parse(row.input, Split::kWhole, optionsFor(row.opts));
    for (size_t i = 0; i < o.heads.size(); ++i) {
      const RequestHead& h = o.heads[i];
      if (h.is_connect) continue;
      std::string body;
      if (h.chunked) {
        body = "0\r\n\r\n";
      } else if (h.content_length) {
        body = o.bodies[i];
      }
      Outcome again = parse(serializeRequestHead(h) + body, Split::kWhole, origin);
      ASSERT_EQ(again.heads.size(), 1u) << row.why << ": " << again.describe();
      const RequestHead& a = again.heads[0];
      EXPECT_EQ(a.method, h.method) << row.why;
      EXPECT_EQ(a.parsed.path, h.origin_form ? h.target : h.parsed.path) << row.why;
      EXPECT_EQ(a.chunked, h.chunked) << row.why;
      EXPECT_EQ(a.content_length, h.content_length) << row.why;
      EXPECT_FALSE(a.has_upgrade) << row.why;
    }
  }
}

}  // namespace
}  // namespace gatehouse::http
