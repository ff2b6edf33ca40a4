// The upstream response parser (proxy/http/response_parser.h) and serializeResponseHead: one
// row per upstream response of ../shared/BAD-INPUTS.md F23 (all refused with 502 and the
// reason, so the client connection never desyncs) plus ordinary responses with the events they
// produce. Every row is parsed in one feed(), byte by byte and in random chunks, and all must
// agree.
#include "proxy/http/response_parser.h"

#include <gtest/gtest.h>

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

std::string describeHead(const ResponseHead& h) {
  std::string s = std::to_string(h.status);
  if (h.version_minor == 0) s += " 1.0";
  if (h.content_length) s += " cl=" + std::to_string(*h.content_length);
  if (h.chunked) s += " chunked";
  if (h.body_until_close) s += " until-close";
  if (!h.keep_alive) s += " close";
  return s;
}

class Recorder final : public ResponseParser::Callbacks {
 public:
  struct Item {
    bool interim = false;
    std::string text;
    std::string body;
    bool complete = false;
  };

  void onInformational(ResponseHead&& head) override {
    items.push_back({true, std::to_string(head.status), "", true});
    informational.push_back(std::move(head));
  }
  void onResponseHead(ResponseHead&& head) override {
    items.push_back({false, describeHead(head), "", false});
    heads.push_back(std::move(head));
    if (pause_on_head && parser != nullptr) parser->pause();
  }
  void onBody(const char* data, size_t len) override {
    EXPECT_FALSE(items.empty() || items.back().interim) << "body without a final head";
    if (!items.empty()) items.back().body.append(data, len);
  }
  void onMessageComplete() override {
    EXPECT_FALSE(items.empty());
    if (!items.empty()) items.back().complete = true;
  }

  ResponseParser* parser = nullptr;
  bool pause_on_head = false;
  std::vector<Item> items;
  std::vector<ResponseHead> heads;
  std::vector<ResponseHead> informational;
};

struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  ParseError error;
  size_t consumed = 0;
  std::vector<Recorder::Item> items;

  std::string summary() const {
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) s += " | ";
      const Recorder::Item& it = items[i];
      if (it.interim) {
        s += "(" + it.text + ")";
        continue;
      }
      s += it.text;
      if (!it.body.empty()) s += " body=" + printable(it.body);
      if (!it.complete) s += " (incomplete)";
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
             ") at " + std::to_string(consumed) + " after " + summary();
    }
    return summary();
  }
};

enum class Split : uint8_t { kWhole, kBytes, kRandom };

// What each outstanding request allows.
enum class Req : uint8_t { kGet, kHead, kUpgrade };

Outcome parse(std::string_view input, const std::vector<Req>& requests, bool finish, Split split,
              uint32_t seed = 1) {
  Recorder rec;
  ResponseParserOptions options;
  ResponseParser parser(rec, options);
  rec.parser = &parser;
  for (Req r : requests) {
    parser.expectResponse({.head_request = r == Req::kHead, .upgrade_allowed = r == Req::kUpgrade});
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> size_dist(1, 13);
  Outcome out;
  size_t pos = 0;
  ParseResult r;
  while (true) {
    size_t remaining = input.size() - pos;
    size_t n = remaining;
    if (split == Split::kBytes) n = std::min<size_t>(remaining, 1);
    if (split == Split::kRandom) n = std::min(remaining, size_dist(rng));
    r = parser.feed(input.data() + pos, n);
    pos += r.consumed;
    if (r.status == ParseStatus::kPaused) {
      parser.resume();
      continue;
    }
    if (r.status != ParseStatus::kNeedMore || pos >= input.size()) break;
  }
  if (finish && r.status == ParseStatus::kNeedMore) r = parser.finish();
  out.status = r.status;
  out.error = r.error;
  out.consumed = pos;
  out.items = rec.items;
  return out;
}

struct Row {
  const char* id;
  std::vector<Req> requests;
  std::string input;
  bool finish;         // the upstream closes after the input
  int status;          // 0: accepted; else 502
  std::string expect;  // the reason when refused; the summary when accepted
  const char* why;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const Row& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " \"" << printable(row.input.substr(0, 200)) << "\"";
}

std::string at(const std::string& s) { return std::to_string(s.size()); }

std::string fieldLines(size_t count) {
  std::string s;
  for (size_t i = 0; i < count; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s;
}

const std::vector<Req> kGet = {Req::kGet};
const std::vector<Req> kHead = {Req::kHead};

std::vector<Row> rows() {
  const std::string close_resp =
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi";
  const std::string until_close = "HTTP/1.0 200 OK\r\nServer: s\r\n\r\nabc";
  const std::string switching =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  return {
      // Ordinary responses.
      {"ok", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 0,
       "200 cl=5 body=hello => need-more", "Content-Length"},
      {"ok", kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       false, 0, "200 chunked body=hello => need-more", "chunked"},
      {"ok", kGet,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
       false, 0, "200 chunked body=hello => need-more", "extensions and trailers (dropped)"},
      {"ok", kGet, "HTTP/1.1 204 No Content\r\n\r\n", false, 0, "204 => need-more", "204"},
      {"ok", kGet, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, 0,
       "204 cl=0 => need-more", "204 with Content-Length: 0"},
      {"ok", kGet, "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", false, 0,
       "304 cl=100 => need-more", "304: the length describes the representation"},
      {"ok", kHead, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, 0,
       "200 cl=5 => need-more", "HEAD: no body"},
      {"ok", kHead, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 0,
       "200 chunked => need-more", "HEAD with chunked: no body"},
      {"ok",
       {Req::kHead, Req::kGet},
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
       false,
       0,
       "200 cl=5 | 200 cl=2 body=hi => need-more",
       "HEAD then GET, pipelined"},
      {"ok",
       {Req::kGet, Req::kGet},
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: "
       "1\r\n\r\nb",
       false,
       0,
       "200 cl=1 body=a | 404 cl=1 body=b => need-more",
       "two responses"},
      {"ok", kGet, until_close, true, 0,
       "200 1.0 until-close close body=abc => done@" + at(until_close),
       "HTTP/1.0 body until close"},
      {"ok", kGet, "HTTP/1.1 200 OK\r\n\r\nabc", true, 0,
       "200 until-close close body=abc => done@" + at("HTTP/1.1 200 OK\r\n\r\nabc"),
       "HTTP/1.1 without a length"},
      {"ok", kGet, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
       false, 0, "200 1.0 cl=2 body=hi => need-more", "HTTP/1.0 keep-alive"},
      {"ok", kGet, close_resp + "HTTP/1.1 200 OK\r\n\r\n", false, 0,
       "200 cl=2 close body=hi => done@" + at(close_resp), "nothing after Connection: close"},
      {"ok", kGet, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       false, 0, "(100) | 200 cl=0 => need-more", "100 Continue then the response"},
      {"F23", kGet,
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
       "Content-Length: 0\r\n\r\n",
       false, 0, "(100) | (100) | 200 cl=0 => need-more", "100 twice is fine"},
      {"ok", kGet,
       "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 102 "
       "Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       false, 0, "(103) | (102) | 200 cl=0 => need-more", "other interim responses"},
      {"ok",
       {Req::kUpgrade},
       switching + "\x81\x05hello",
       false,
       0,
       "101 close => upgrade@" + at(switching),
       "an allowed 101: the rest is not HTTP"},
      {"ok", kGet, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 0, "200 cl=0 => need-more",
       "no reason phrase"},
      {"ok", kGet, "HTTP/1.1 599 Custom\r\nContent-Length: 0\r\n\r\n", false, 0,
       "599 cl=0 => need-more", "highest status"},
      {"ok", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab", false, 0,
       "200 cl=18446744073709551615 body=ab (incomplete) => need-more", "largest length"},
      {"ok", kGet, "HTTP/1.1 200 OK\r\nX_Under: 1\r\nContent-Length: 0\r\n\r\n", false, 0,
       "200 cl=0 => need-more", "underscores are fine from upstreams"},

      // F23: malformed upstream responses.
      {"F23", kGet,
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false,
       502, "upstream-te-and-cl", "CL then TE"},
      {"F23", kGet,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false,
       502, "upstream-te-and-cl", "TE then CL"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", false,
       502, "upstream-duplicate-content-length", "duplicate equal Content-Length"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false,
       502, "upstream-duplicate-content-length", "duplicate different Content-Length"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na", false, 502,
       "upstream-bad-content-length", "list Content-Length"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 01\r\n\r\na", false, 502,
       "upstream-bad-content-length", "leading zero"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", false, 502,
       "upstream-bad-content-length", "sign"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-header", "obs-fold"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-header", "bare CR in a value"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nX: \rTransfer-Encoding: chunked\r\n\r\n", false, 502,
       "upstream-bad-header", "bare CR hiding a Transfer-Encoding"},
      {"F23", kGet, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, 502,
       "upstream-bad-status-line", "LF-only lines"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", false, 502, "upstream-bad-header",
       "LF-only after a field"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\n: x\r\n\r\n", false, 502, "upstream-bad-header",
       "empty field name"},
      {"F23", kGet,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
       false, 502, "upstream-unsolicited-101", "unsolicited 101"},
      {"F23", kGet, "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, 502,
       "upstream-unsolicited-101", "unsolicited bare 101"},
      {"F23", kGet, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", false, 502,
       "upstream-unsolicited-response", "body on 204"},
      {"F23", kGet, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello", false, 502,
       "upstream-unsolicited-response", "body on 304"},
      {"F23", kHead, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 502,
       "upstream-unsolicited-response", "body on HEAD"},
      {"F23",
       {Req::kGet, Req::kGet},
       "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
       false,
       502,
       "upstream-bad-status-line",
       "body on 204 while another response is expected: never read as that response"},
      {"F23", kGet, "HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n",
       false, 502, "upstream-bad-status-line", "a body on 100"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, 502,
       "upstream-truncated", "truncated Content-Length body"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true, 502,
       "upstream-truncated", "truncated chunked body"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Le", true, 502, "upstream-truncated",
       "truncated head"},
      {"F23", kGet, "", true, 502, "upstream-closed", "closed without a response"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", false, 502,
       "upstream-transfer-coding", "a coding other than chunked"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false,
       502, "upstream-transfer-coding", "an extra coding"},
      {"F23", kGet,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       502, "upstream-transfer-coding", "two Transfer-Encoding lines"},
      {"F23", kGet, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, 502,
       "upstream-transfer-coding", "Transfer-Encoding in HTTP/1.0"},
      {"F23", kGet, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-version", "HTTP/2.0 status line"},
      {"F23", kGet, "HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-version", "HTTP/0.9 status line"},
      {"F23", kGet, "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-status-line", "unknown version"},
      {"F23", kGet, "HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-status", "status over 599"},
      {"F23", kGet, "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", false, 502,
       "upstream-bad-status", "status under 100"},
      {"F23", kGet, "HTTP/1.1 2000 OK\r\n\r\n", false, 502, "upstream-bad-status-line",
       "four-digit status"},
      {"F23", kGet, "SSH-2.0-OpenSSH_9.2\r\n", false, 502, "upstream-bad-status-line",
       "not HTTP at all"},
      {"F23",
       {},
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       false,
       502,
       "upstream-unsolicited-response",
       "a response nobody asked for"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\n", false, 502,
       "upstream-unsolicited-response", "even an empty line after the last response"},
      {"F23", kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 502,
       "upstream-bad-body", "bad chunk size"},
      {"F23", kGet,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n", false,
       502, "upstream-bad-body", "Content-Length in trailers"},
      {"G4", kGet, "HTTP/1.1 200 OK\r\n" + fieldLines(101) + "\r\n", false, 502,
       "upstream-headers-too-large", "too many fields"},
      {"G5", kGet, "HTTP/1.1 200 OK\r\nX: " + std::string(1 << 20, 'v') + "\r\n\r\n", false, 502,
       "upstream-headers-too-large", "a 1 MiB field"},
  };
}

class ResponseRows : public ::testing::TestWithParam<Row> {};

TEST_P(ResponseRows, ParsesAsTheTableSays) {
  const Row& row = GetParam();
  Outcome o = parse(row.input, row.requests, row.finish, Split::kWhole);
  if (row.status == 0) {
    EXPECT_EQ(o.summary(), row.expect) << row.why << ": " << o.describe();
  } else {
    EXPECT_EQ(o.status, ParseStatus::kError) << row.why << ": " << o.describe();
    EXPECT_EQ(o.error.status, row.status) << row.why << ": " << o.describe();
    EXPECT_EQ(o.error.reason, row.expect) << row.why << ": " << o.describe();
    EXPECT_FALSE(o.error.message.empty());
  }
  Outcome bytes = parse(row.input, row.requests, row.finish, Split::kBytes);
  EXPECT_EQ(bytes.describe(), o.describe()) << row.why << ": byte by byte";
  for (uint32_t seed : {1u, 2u, 3u}) {
    Outcome chunks = parse(row.input, row.requests, row.finish, Split::kRandom, seed);
    EXPECT_EQ(chunks.describe(), o.describe()) << row.why << ": random chunks seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, ResponseRows, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(ResponseParser, HeadModel) {
  Recorder rec;
  ResponseParser parser(rec);
  parser.expectResponse();
  EXPECT_EQ(parser.outstanding(), 1u);
  ParseResult r = parser.feed(
      "HTTP/1.1 404  Not  Found \r\nX-A:  1 \r\ncontent-length: 0\r\nSet-Cookie: a=b\r\n\r\n");
  EXPECT_EQ(r.status, ParseStatus::kNeedMore);
  ASSERT_EQ(rec.heads.size(), 1u);
  const ResponseHead& h = rec.heads[0];
  EXPECT_EQ(h.status, 404);
  EXPECT_EQ(h.reason, "Not  Found");
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[0].value, "1");
  EXPECT_EQ(h.headers[1].name, "content-length");
  ASSERT_NE(h.find("SET-COOKIE"), nullptr);
  EXPECT_EQ(h.find("set-cookie")->value, "a=b");
  EXPECT_EQ(parser.outstanding(), 0u);
}

TEST(ResponseParser, InformationalHeadsGoToTheirOwnCallback) {
  Recorder rec;
  ResponseParser parser(rec);
  parser.expectResponse();
  parser.feed("HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(rec.informational.size(), 1u);
  EXPECT_EQ(rec.informational[0].status, 100);
  EXPECT_EQ(rec.informational[0].reason, "Continue");
  EXPECT_TRUE(rec.heads.empty());
  EXPECT_EQ(parser.outstanding(), 1u) << "the final response is still expected";
}

TEST(ResponseParser, PauseAfterTheHead) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  Recorder rec;
  ResponseParser parser(rec);
  rec.parser = &parser;
  rec.pause_on_head = true;
  parser.expectResponse();
  ParseResult r = parser.feed(head + "hello");
  EXPECT_EQ(r.status, ParseStatus::kPaused);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_TRUE(rec.items.at(0).body.empty());
  parser.resume();
  r = parser.feed(std::string("hello"));
  EXPECT_EQ(r.status, ParseStatus::kNeedMore);
  EXPECT_EQ(rec.items.at(0).body, "hello");
  EXPECT_TRUE(rec.items.at(0).complete);
}

TEST(ResponseParser, UpgradeStopsExactlyAtTheHead) {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
  for (Split split : {Split::kWhole, Split::kBytes, Split::kRandom}) {
    Outcome o = parse(head + "PRI * HTTP/2.0\r\n\r\n", {Req::kUpgrade}, false, split);
    EXPECT_EQ(o.status, ParseStatus::kUpgrade);
    EXPECT_EQ(o.consumed, head.size());
  }
}

// ---------------------------------------------------------------------------------------------
// serializeResponseHead.

ResponseHead parseHead(const std::string& input, Req req = Req::kGet) {
  Recorder rec;
  ResponseParser parser(rec);
  parser.expectResponse(
      {.head_request = req == Req::kHead, .upgrade_allowed = req == Req::kUpgrade});
  ParseResult r = parser.feed(input);
  EXPECT_NE(r.status, ParseStatus::kError) << r.error.reason;
  EXPECT_EQ(rec.heads.size(), 1u);
  return rec.heads.empty() ? ResponseHead{} : rec.heads[0];
}

TEST(SerializeResponse, HopByHopHeadersAreRemoved) {
  ResponseHead h = parseHead(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
      "Proxy-Authenticate: Basic\r\nProxy-Connection: close\r\nTrailer: X-T\r\nTE: trailers\r\n"
      "Upgrade: h2c\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(serializeResponseHead(h),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
}

TEST(SerializeResponse, FramingFollowsTheModelAndTheClient) {
  ResponseHead chunked = parseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(responseFraming(chunked, {}), BodyFraming::kChunked);
  EXPECT_EQ(serializeResponseHead(chunked),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");

  ResponseSerializeOptions http10;
  http10.http10_client = true;
  EXPECT_EQ(responseFraming(chunked, http10), BodyFraming::kUntilClose);
  EXPECT_EQ(serializeResponseHead(chunked, http10), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");

  ResponseHead until_close = parseHead("HTTP/1.0 200 OK\r\n\r\n");
  EXPECT_EQ(responseFraming(until_close, {}), BodyFraming::kChunked)
      << "re-chunked so the client connection can stay open";
  EXPECT_EQ(serializeResponseHead(until_close),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");

  ResponseHead sized = parseHead("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  EXPECT_EQ(serializeResponseHead(sized, http10),
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\n");
  ResponseSerializeOptions closing;
  closing.keep_alive = false;
  closing.extra_headers = {{"Via", "1.1 gatehouse"}};
  EXPECT_EQ(
      serializeResponseHead(sized, closing),
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\nVia: 1.1 gatehouse\r\n\r\n");
}

TEST(SerializeResponse, BodilessResponses) {
  ResponseHead head = parseHead("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", Req::kHead);
  ResponseSerializeOptions head_request;
  head_request.head_request = true;
  EXPECT_EQ(responseFraming(head, head_request), BodyFraming::kNone);
  EXPECT_EQ(serializeResponseHead(head, head_request),
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  ResponseHead not_modified = parseHead("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
  EXPECT_EQ(serializeResponseHead(not_modified),
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
  ResponseHead no_content = parseHead("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(serializeResponseHead(no_content), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(SerializeResponse, UpgradeKeptOnlyForAnAllowed101) {
  ResponseHead h = parseHead(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: x\r\n\r\n",
      Req::kUpgrade);
  ResponseSerializeOptions options;
  options.allow_upgrade = true;
  EXPECT_EQ(serializeResponseHead(h, options),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
            "x\r\nConnection: upgrade\r\n\r\n");
}

TEST(SerializeResponse, ReasonPhraseCannotBreakTheLine) {
  ResponseHead h;
  h.status = 200;
  h.reason = "OK\r\nInjected: 1";
  h.content_length = 0;
  EXPECT_EQ(serializeResponseHead(h), "HTTP/1.1 200 OKInjected: 1\r\nContent-Length: 0\r\n\r\n");
}

}  // namespace
}  // namespace gatehouse::http
