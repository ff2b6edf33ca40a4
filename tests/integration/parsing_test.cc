// Malformed and smuggling request bytes against the real proxy (SPEC §3 step 1, §4; BAD-INPUTS
// A1-A6, A11-A17, F1-F8, F11-F19, G4, G5, G9-G11, INV-CLOSE). Each row is sent on its own
// connection followed, in the same write, by a valid request: the row gets exactly its status,
// the connection closes, the valid request is never answered and nothing reaches the origin.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/unit/test_text.h"

namespace gatehouse::testing {
namespace {

using testing_text::printable;

// A string literal with embedded NULs, every byte kept.
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

class Parsing : public ProxyTest {
 protected:
  struct Row {
    const char* id;
    std::string bytes;  // "{T}" stands for the origin's authority, origin.test:PORT
    int status;
  };

  std::string expand(std::string s) const {
    const std::string t = at("origin.test");
    for (size_t at_pos; (at_pos = s.find("{T}")) != std::string::npos;) s.replace(at_pos, 3, t);
    return s;
  }

  // Sends the row and a valid request in one write; asserts one response with the row's
  // status, then the close.
  void expectOneRefusalThenClose(const Row& row) {
    const std::string bytes = expand(row.bytes);
    SCOPED_TRACE(std::string(row.id) + ": " + printable(bytes.substr(0, 200)));
    auto c = connectToProxy();
    ASSERT_NE(c, nullptr);
    c->send(bytes + getRequest(at("origin.test"), "/small"));
    const std::string raw = c->readUntilClose(milliseconds(5000));
    EXPECT_TRUE(c->closed()) << "INV-CLOSE: the connection stayed open";
    HttpResponse r;
    size_t used = 0;
    ASSERT_EQ(parseResponse(raw, true, false, &r, &used), ParseOutcome::kComplete)
        << printable(raw);
    EXPECT_EQ(r.status, row.status) << r.head << r.body;
    EXPECT_FALSE(r.header("X-Gatehouse-Reason").empty()) << r.head;
    EXPECT_NE(r.header("Proxy-Status").find("error="), std::string::npos) << r.head;
    EXPECT_EQ(used, raw.size()) << "a second response: " << printable(raw.substr(used));
  }
};

TEST_F(Parsing, MalformedRequestHeadsGetTheirExactStatusAndClose) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string long_target = "GET http://{T}/" + std::string(9000, 'a') + " HTTP/1.1\r\n";
  std::string many_headers;
  for (int i = 0; i < 101; ++i) many_headers += "X-H" + std::to_string(i) + ": v\r\n";
  const std::string big_header = "X-Big: " + std::string(size_t{70} * 1024, 'b') + "\r\n";
  const std::vector<Row> rows = {
      // A: request target and host identity.
      {"A1 Host differs from the target",
       "GET http://{T}/small HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400},
      {"A2 Host port differs", "GET http://{T}/small HTTP/1.1\r\nHost: origin.test:81\r\n\r\n",
       400},
      {"A2 target port, Host without",
       "GET http://origin.test:8080/ HTTP/1.1\r\nHost: origin.test\r\n\r\n", 400},
      {"A3 two equal Host lines", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nHost: {T}\r\n\r\n",
       400},
      {"A3 two different Host lines",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nHost: evil.test\r\n\r\n", 400},
      {"A4 origin-form", "GET /small HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A5 asterisk GET", "GET * HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A5 OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A6 authority-form GET", "GET {T} HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A7 userinfo", "GET http://origin.test@evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400},
      {"A7 userinfo with port", "GET http://{T}@evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n",
       400},
      {"A7 encoded slash in userinfo",
       "GET http://origin.test%2f@evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400},
      {"A8 backslash", "GET http://evil.test\\@{T}/ HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A8 fragment before @", "GET http://evil.test#@{T}/ HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A8 query before @", "GET http://evil.test?@{T}/ HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A9 percent-encoded host",
       "GET http://%6frigin.test/ HTTP/1.1\r\nHost: %6frigin.test\r\n\r\n", 400},
      {"A10 https on the plain listener", "GET https://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n",
       400},
      {"A10 ftp", "GET ftp://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A10 gopher", "GET gopher://{T}/_x HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A10 file", "GET file:///etc/passwd HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A19 empty authority", "GET http:/// HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A19 port only", "GET http://:80/ HTTP/1.1\r\nHost: :80\r\n\r\n", 400},
      {"B3 empty label", "GET http://origin..test/ HTTP/1.1\r\nHost: origin..test\r\n\r\n", 400},
      {"B3 leading dot", "GET http://.origin.test/ HTTP/1.1\r\nHost: .origin.test\r\n\r\n", 400},
      {"B3 two trailing dots", "GET http://origin.test../ HTTP/1.1\r\nHost: origin.test..\r\n\r\n",
       400},
      {"B8 Cyrillic a in the host",
       "GET http://\xd0\xb0pi.test/ HTTP/1.1\r\nHost: \xd0\xb0pi.test\r\n\r\n", 400},
      {"B8 ideographic full stop",
       "GET http://origin\xe3\x80\x82test/ HTTP/1.1\r\nHost: origin\xe3\x80\x82test\r\n\r\n", 400},
      {"B11 label over 63 octets",
       "GET http://" + std::string(64, 'a') +
           ".api.test/ HTTP/1.1\r\nHost: " + std::string(64, 'a') + ".api.test\r\n\r\n",
       400},
      {"B12 NUL in Host",
       bytes("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\0.evil.test\r\n\r\n"), 400},
      {"B12 %00 in the host",
       "GET http://origin.test%00.evil.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n", 400},
      {"B13 bracketed name", "GET http://[origin.test]/ HTTP/1.1\r\nHost: [origin.test]\r\n\r\n",
       400},
      {"A11 HT in target", "GET http://{T}/a\tb HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A11 CTL in target",
       "GET http://{T}/a\x01"
       "b HTTP/1.1\r\nHost: {T}\r\n\r\n",
       400},
      {"A11 DEL in target",
       "GET http://{T}/a\x7f"
       "b HTTP/1.1\r\nHost: {T}\r\n\r\n",
       400},
      {"A11 0xFF in target",
       "GET http://{T}/a\xff"
       "b HTTP/1.1\r\nHost: {T}\r\n\r\n",
       400},
      {"A11 0x80 in target",
       "GET http://{T}/a\x80"
       "b HTTP/1.1\r\nHost: {T}\r\n\r\n",
       400},
      {"A11 SP in target", "GET http://{T}/a b HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A12 raw #", "GET http://{T}/small#frag HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A13 target over the cap", long_target + "Host: {T}\r\n\r\n", 414},
      {"A14 lowercase method", "get http://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A14 separator in method", "G(T http://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A14 slash in method", "GET/ http://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A15 h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405},
      {"A16 HTTP/0.9", "GET /\r\n\r\n", 505},
      {"A16 HTTP/2.0", "GET http://{T}/small HTTP/2.0\r\nHost: {T}\r\n\r\n", 505},
      {"A16 HTTP/9.9", "GET http://{T}/small HTTP/9.9\r\nHost: {T}\r\n\r\n", 505},
      {"A16 HTTP/1.32", "GET http://{T}/small HTTP/1.32\r\nHost: {T}\r\n\r\n", 505},
      {"A16 HTTP/4294967295.255", "GET http://{T}/small HTTP/4294967295.255\r\nHost: {T}\r\n\r\n",
       505},
      {"A16 version syntax", "GET http://{T}/small HTTQ/1.1\r\nHost: {T}\r\n\r\n", 400},
      {"A17 HTTP/1.1 without Host", "GET http://{T}/small HTTP/1.1\r\n\r\n", 400},
      // G: header semantics and limits.
      {"G4 101 header fields",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\n" + many_headers + "\r\n", 431},
      {"G5 a 70 KiB header", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\n" + big_header + "\r\n",
       431},
      {"G9 Expect: foo", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nExpect: foo\r\n\r\n", 417},
      {"G9 two Expect headers",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nExpect: 100-continue\r\n"
       "Expect: 100-continue\r\n\r\n",
       417},
      {"G10 TRACE", "TRACE http://{T}/small HTTP/1.1\r\nHost: {T}\r\n\r\n", 405},
      {"G11 underscore in a name",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n", 400},
      // F: framing and smuggling.
      {"F1 CL then TE",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400},
      {"F1 TE then CL",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 5\r\n\r\n0\r\n\r\n",
       400},
      {"F2 duplicate equal CL",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
       "\r\nhello",
       400},
      {"F2 duplicate different CL",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
       "\r\nhello!",
       400},
      {"F2 CL list", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 1, 1\r\n\r\nx",
       400},
      {"F3 CL +1", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: +1\r\n\r\nx",
       400},
      {"F3 CL 0x10", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 0x10\r\n\r\n",
       400},
      {"F3 CL -1", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: -1\r\n\r\n", 400},
      {"F3 CL empty", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length:\r\n\r\n", 400},
      {"F3 CL 1Z", "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 1Z\r\n\r\nx",
       400},
      {"F3 CL 10^22",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 10000000000000000000000\r\n"
       "\r\n",
       400},
      {"F4 CL with a leading zero",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length: 010\r\n\r\n0123456789", 400},
      {"F5 TE identity",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: identity\r\n\r\n", 501},
      {"F5 TE gzip",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"F5 TE chunked, identity",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
       501},
      {"F5 TE identity, chunked",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: identity, chunked\r\n"
       "\r\n0\r\n\r\n",
       501},
      {"F5 TE ,chunked",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
       501},
      {"F5 TE xchunked",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
      {"F5 two TE chunked",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: chunked\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       501},
      {"F6 TE in HTTP/1.0",
       "POST http://{T}/echo HTTP/1.0\r\nHost: {T}\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"F11 bare CR in a value",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX-Abc: \rxTransfer-Encoding: chunked\r\n"
       "\r\n",
       400},
      {"F12 head ends with CRLF CR X", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\n\rX", 400},
      {"F13 obs-fold", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"F13 obs-fold on TE",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"F14 line starting with SP",
       "GET http://{T}/small HTTP/1.1\r\n Content-Length: 5\r\nHost: {T}\r\n\r\n", 400},
      {"F15 empty field name", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\n: x\r\n\r\n", 400},
      {"F15 lone colon", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\n:\r\n\r\n", 400},
      {"F16 SP before the colon",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length : 5\r\n\r\nhello", 400},
      {"F16 HT before the colon",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding\t: chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"F17 bare LF line endings", "GET http://{T}/small HTTP/1.1\nHost: {T}\n\n", 400},
      {"F17 one bare LF", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\nX-A: b\r\n\r\n", 400},
      {"F18 NUL in a value",
       bytes("GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX-A: a\0b\r\n\r\n"), 400},
      {"F18 DEL in a value",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX-A: a\x7f"
       "b\r\n\r\n",
       400},
      {"F18 0xA0 in a name",
       "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX\xa0"
       "A: b\r\n\r\n",
       400},
      {"F18 separator in a name", "GET http://{T}/small HTTP/1.1\r\nHost: {T}\r\nX(A): b\r\n\r\n",
       400},
      {"F19 field without colon",
       "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nContent-Length 10\r\n\r\n", 400},
  };
  for (const Row& row : rows) {
    ASSERT_NO_FATAL_FAILURE(expectOneRefusalThenClose(row));
  }
  EXPECT_EQ(origin_->accepts(), 0u);
  // Every refusal is one decision line.
  ASSERT_TRUE(proxy_->waitForDecisions(rows.size(), milliseconds(3000)));
  EXPECT_EQ(proxy_->decisionLines().size(), rows.size());
}

// F7, F8: bad chunked bodies on an allowed request. The head is valid, so the request may
// already be on its way upstream; the client still gets a 400 (or, once the response started,
// a close) and the request after it is never answered.
TEST_F(Parsing, MalformedChunkedBodiesAre400AndClose) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string head =
      "POST http://{T}/echo HTTP/1.1\r\nHost: {T}\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::vector<Row> rows = {
      {"F7 chunk size 0x1", head + "0x1\r\na\r\n0\r\n\r\n", 400},
      {"F7 chunk size with leading SP", head + " 1\r\na\r\n0\r\n\r\n", 400},
      {"F7 chunk size with trailing SP", head + "1 \r\na\r\n0\r\n\r\n", 400},
      {"F7 chunk size 0_2e", head + "0_2e\r\n\r\n", 400},
      {"F7 chunk size overflow", head + "fffffffffffffffff1\r\na\r\n0\r\n\r\n", 400},
      {"F7 empty chunk size", head + "\r\na\r\n0\r\n\r\n", 400},
      {"F7 chunk size -0x0", head + "-0x0\r\n\r\n", 400},
      {"F8 bare CR in a chunk extension", head + "5\r\r;ABCD\r\nhello\r\n0\r\n\r\n", 400},
      {"F8 bare LF after the size", head + "5\nhello\r\n0\r\n\r\n", 400},
      {"F8 no CRLF after the data", head + "5\r\nhelloXX0\r\n\r\n", 400},
  };
  for (const Row& row : rows) {
    ASSERT_NO_FATAL_FAILURE(expectOneRefusalThenClose(row));
  }
  // Only the bad requests themselves could have reached the origin, never the valid one after.
  for (const OriginRequest& r : origin_->requests()) EXPECT_EQ(r.target, "/echo");
}

}  // namespace
}  // namespace gatehouse::testing
