// The installed llhttp, with default settings and no lenient flag, rejects the request
// smuggling inputs of ../shared/BAD-INPUTS.md group F (and the parser-level rows of A and E)
// with a specific error. Every rejected input has a valid twin, the same request written
// correctly, that must parse with HPE_OK as exactly one complete message, so no row passes
// because everything fails. Each input is also fed one byte per llhttp_execute() call, as a
// slow client would send it, and must fail the same way.
//
// A second table pins the inputs llhttp 9.2.1 accepts that gatehouse must refuse itself, so a
// parser upgrade that changes them is noticed.
#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::http {
namespace {

using testing_text::paramName;
using testing_text::printable;

using namespace std::string_literals;

// What one parse produced.
struct Outcome {
  llhttp_errno_t error = HPE_OK;
  int messages = 0;  // on_message_complete calls
  std::string url;   // of the last message
  std::string body;  // all messages
  // For an error or a pause: the bytes llhttp did not consume (llhttp_get_error_pos onwards).
  std::string rest;
};

// An HTTP_REQUEST parser with llhttp_settings_init() defaults plus recording callbacks, and no
// lenient flag. Not movable: llhttp keeps a pointer to the settings.
class StrictParser {
 public:
  StrictParser() {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = [](llhttp_t* p) {
      self(p)->outcome_.url.clear();
      return 0;
    };
    settings_.on_url = [](llhttp_t* p, const char* at, size_t len) {
      self(p)->outcome_.url.append(at, len);
      return 0;
    };
    settings_.on_body = [](llhttp_t* p, const char* at, size_t len) {
      self(p)->outcome_.body.append(at, len);
      return 0;
    };
    settings_.on_message_complete = [](llhttp_t* p) {
      ++self(p)->outcome_.messages;
      return 0;
    };
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
  }
  StrictParser(const StrictParser&) = delete;
  StrictParser& operator=(const StrictParser&) = delete;

  uint16_t lenientFlags() const { return parser_.lenient_flags; }
  llhttp_t* raw() { return &parser_; }

  // One llhttp_execute() over all bytes, then llhttp_finish() if that succeeded.
  Outcome parseAll(std::string_view bytes) {
    outcome_.error = llhttp_execute(&parser_, bytes.data(), bytes.size());
    if (outcome_.error == HPE_OK) {
      outcome_.error = llhttp_finish(&parser_);
    } else {
      const char* pos = llhttp_get_error_pos(&parser_);
      if (pos != nullptr) outcome_.rest.assign(pos, bytes.data() + bytes.size());
    }
    return outcome_;
  }

  // One llhttp_execute() per byte, stopping at the first error or pause.
  Outcome parseByteByByte(std::string_view bytes) {
    for (char c : bytes) {
      outcome_.error = llhttp_execute(&parser_, &c, 1);
      if (outcome_.error != HPE_OK) return outcome_;
    }
    outcome_.error = llhttp_finish(&parser_);
    return outcome_;
  }

 private:
  static StrictParser* self(llhttp_t* p) { return static_cast<StrictParser*>(p->data); }

  llhttp_settings_t settings_;
  llhttp_t parser_;
  Outcome outcome_;
};

const char* reason(const llhttp_t* parser) {
  const char* r = llhttp_get_error_reason(parser);
  return r == nullptr ? "" : r;
}

// Request builders. `fields` is zero or more complete field lines ("Name: value\r\n").
std::string get(const std::string& fields) {
  return "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + fields + "\r\n";
}
std::string post(const std::string& fields, const std::string& body) {
  return "POST http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + fields + "\r\n" + body;
}
std::string chunked(const std::string& body) {
  return post("Transfer-Encoding: chunked\r\n", body);
}
std::string requestLine(const std::string& line) { return line + "\r\nHost: allowed.test\r\n\r\n"; }

const std::string kHelloChunks = "5\r\nhello\r\n0\r\n\r\n";

// ---------------------------------------------------------------------------------------------

struct StrictRow {
  const char* id;
  std::string bad;
  llhttp_errno_t error;  // what llhttp_execute() returns for `bad`
  std::string twin;      // the same request written correctly
  std::string twin_body;
  const char* why;
  int bad_messages = 0;  // complete messages before the error (F20 only)
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const StrictRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " \"" << printable(row.bad) << "\"";
}

std::vector<StrictRow> strictRows() {
  return {
      // F11 / RFC 9112 §2.2: a bare CR anywhere in the head.
      {"F11", post("X-Abc: \rxTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), HPE_STRICT,
       post("X-Abc: x\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), "",
       "CVE-2023-30589: 8.1.0 exposes the smuggled Transfer-Encoding"},
      {"F11", get("X:\rb\r\n"), HPE_STRICT, get("X:b\r\n"), "", "bare CR first in a value"},
      {"F11", get("X: a\rb\r\n"), HPE_LF_EXPECTED, get("X: ab\r\n"), "",
       "bare CR inside a value (note: a different code than at the start of the value)"},
      {"F11", get("X-Ho\rst: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X-Host: a\r\n"), "",
       "bare CR inside a field name"},
      {"F11", "GET http://allowed.test/ HTTP/1.1\rHost: allowed.test\r\n\r\n", HPE_STRICT, get(""),
       "", "bare CR ends the request line"},
      {"F11", requestLine("GET http://allowed.test/a\rb HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/ab HTTP/1.1"), "", "bare CR inside the target"},
      {"F11", requestLine("GET http://allowed.test/\r HTTP/1.1"), HPE_INVALID_URL, get(""), "",
       "bare CR ends the target"},
      {"F11", requestLine("GET\rhttp://allowed.test/ HTTP/1.1"), HPE_INVALID_METHOD, get(""), "",
       "bare CR after the method"},

      // F12: the empty line that ends the head is CR LF, nothing else.
      {"F12", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\rX", HPE_STRICT, get(""),
       "", "CVE-2025-23167: head ended by \\r\\n\\rX"},
      {"F12", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\rX\r\n", HPE_STRICT,
       get(""), "", "\\r\\n\\rX followed by CR LF"},

      // F13 / F14: obs-fold and lines starting with whitespace.
      {"F13", get("X: a\r\n b\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a b\r\n"), "",
       "obs-fold with SP"},
      {"F13", get("X: a\r\n\tb\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\tb\r\n"), "",
       "obs-fold with HT"},
      {"F13", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), HPE_INVALID_HEADER_TOKEN,
       chunked("0\r\n\r\n"), "", "CVE-2022-32213: Transfer-Encoding value on a folded line"},
      {"F13", post("Transfer-Encoding: identity\r\n ,chunked\r\n", "0\r\n\r\n"),
       HPE_INVALID_HEADER_TOKEN, chunked("0\r\n\r\n"), "",
       "folded continuation that turns the coding into chunked"},
      {"F14", "GET http://allowed.test/ HTTP/1.1\r\n Host: allowed.test\r\n\r\n",
       HPE_UNEXPECTED_SPACE, get(""), "", "whitespace before the first field line"},
      {"F14", "GET http://allowed.test/ HTTP/1.1\r\n\tHost: allowed.test\r\n\r\n",
       HPE_INVALID_HEADER_TOKEN, get(""), "",
       "HT before the first field line (note: not HPE_UNEXPECTED_SPACE as for SP)"},
      {"F14", post("X: y\r\n Content-Length: 5\r\n", "hello"), HPE_INVALID_HEADER_TOKEN,
       post("X: y\r\nContent-Length: 5\r\n", "hello"), "hello",
       "CVE-2024-27982: 8.1.0 folds the Content-Length line into X"},

      // F15 / F16 / F19: field-name syntax.
      {"F15", get(": x\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: x\r\n"), "",
       "empty field name (HAProxy CVE-2023-25725)"},
      {"F15", get(":\r\n"), HPE_INVALID_HEADER_TOKEN, get("X:\r\n"), "", "lone colon"},
      {"F16", "GET http://allowed.test/ HTTP/1.1\r\nHost : allowed.test\r\n\r\n",
       HPE_INVALID_HEADER_TOKEN, get(""), "", "space before the colon"},
      {"F16", post("Content-Length : 5\r\n", "hello"), HPE_INVALID_HEADER_TOKEN,
       post("Content-Length: 5\r\n", "hello"), "hello", "space before the colon of Content-Length"},
      {"F16", post("Transfer-Encoding\t: chunked\r\n", kHelloChunks), HPE_INVALID_HEADER_TOKEN,
       chunked(kHelloChunks), "hello", "HT before the colon of Transfer-Encoding"},
      {"F19", post("Content-Length 5\r\n", "hello"), HPE_INVALID_HEADER_TOKEN,
       post("Content-Length: 5\r\n", "hello"), "hello", "field line without a colon"},

      // F17: LF without CR in the head.
      {"F17", "GET http://allowed.test/ HTTP/1.1\nHost: allowed.test\n\n", HPE_INVALID_VERSION,
       get(""), "", "LF-only request (reported as a version error)"},
      {"F17", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\n\r\n", HPE_CR_EXPECTED,
       get(""), "", "LF-only after a field value"},
      {"F17", "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\n",
       HPE_INVALID_HEADER_TOKEN, get(""), "", "LF-only empty line ending the head"},

      // F18: bytes outside the field grammar.
      {"F18", get("X: a\0b\r\n"s), HPE_INVALID_HEADER_TOKEN, get("X: ab\r\n"), "",
       "NUL in a value"},
      {"F18",
       get("X: a\x01"
           "b\r\n"),
       HPE_INVALID_HEADER_TOKEN, get("X: ab\r\n"), "", "C0 control in a value"},
      {"F18",
       get("X: a\x7f"
           "b\r\n"),
       HPE_INVALID_HEADER_TOKEN, get("X: ab\r\n"), "", "DEL in a value"},
      {"F18", get("X\x85: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "",
       "0x85 (NEL) in a name"},
      {"F18", get("X\xa0: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "",
       "0xa0 (NBSP) in a name"},
      {"F18", get("X\x01: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "",
       "C0 control in a name"},
      {"F18", get("X@: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "", "'@' in a name"},
      {"F18", get("X/: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "", "'/' in a name"},
      {"F18", get("X\"(: a\r\n"), HPE_INVALID_HEADER_TOKEN, get("X: a\r\n"), "",
       "quote and parenthesis in a name"},

      // F1: Content-Length and Transfer-Encoding together.
      {"F1", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", kHelloChunks),
       HPE_INVALID_TRANSFER_ENCODING, chunked(kHelloChunks), "hello", "CL then TE (CL.TE)"},
      {"F1", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", kHelloChunks),
       HPE_INVALID_CONTENT_LENGTH, chunked(kHelloChunks), "hello", "TE then CL (TE.CL)"},
      {"F1",
       "POST http://allowed.test/ HTTP/1.0\r\nHost: allowed.test\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n" +
           kHelloChunks,
       HPE_INVALID_TRANSFER_ENCODING,
       "POST http://allowed.test/ HTTP/1.0\r\nHost: allowed.test\r\nContent-Length: "
       "5\r\n\r\nhello",
       "hello", "CL and TE in HTTP/1.0"},

      // F2 / F3: Content-Length values.
      {"F2", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
       HPE_UNEXPECTED_CONTENT_LENGTH, post("Content-Length: 6\r\n", "hello!"), "hello!",
       "two different values"},
      {"F2", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
       HPE_UNEXPECTED_CONTENT_LENGTH, post("Content-Length: 5\r\n", "hello"), "hello",
       "two equal values"},
      {"F2", post("Content-Length: 1, 1\r\n", "h"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 1\r\n", "h"), "h", "list value"},
      {"F3", post("Content-Length: +5\r\n", "hello"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 5\r\n", "hello"), "hello", "sign"},
      {"F3", post("Content-Length: -1\r\n", "hello"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 5\r\n", "hello"), "hello", "negative"},
      {"F3", post("Content-Length: 0x5\r\n", "hello"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 5\r\n", "hello"), "hello", "hex"},
      {"F3", post("Content-Length: 5x\r\n", "hello"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 5\r\n", "hello"), "hello", "trailing non-digit"},
      {"F3", post("Content-Length: \r\n", "hello"), HPE_INVALID_CONTENT_LENGTH,
       post("Content-Length: 5\r\n", "hello"), "hello", "empty (HAProxy CVE-2023-40225)"},
      {"F3", post("Content-Length: 10000000000000000000000\r\n", "hello"),
       HPE_INVALID_CONTENT_LENGTH, post("Content-Length: 5\r\n", "hello"), "hello",
       "10^22 overflows"},

      // F5: Transfer-Encoding values llhttp itself refuses.
      {"F5", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"),
       HPE_INVALID_TRANSFER_ENCODING, chunked("0\r\n\r\n"), "", "chunked not last"},
      {"F5", post("Transfer-Encoding: identity\r\n", "0\r\n\r\n"), HPE_INVALID_TRANSFER_ENCODING,
       chunked("0\r\n\r\n"), "", "identity alone"},
      {"F5", post("Transfer-Encoding: gzip\r\n", "0\r\n\r\n"), HPE_INVALID_TRANSFER_ENCODING,
       chunked("0\r\n\r\n"), "", "a request coding without chunked"},
      {"F5", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), HPE_INVALID_TRANSFER_ENCODING,
       chunked("0\r\n\r\n"), "", "chunked as a suffix"},
      {"F5",
       post("Transfer-Encoding: \xa0"
            "chunked\r\n",
            "0\r\n\r\n"),
       HPE_INVALID_TRANSFER_ENCODING, chunked("0\r\n\r\n"), "", "NBSP before chunked"},
      {"F5", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
       HPE_INVALID_TRANSFER_ENCODING, chunked("0\r\n\r\n"), "", "two chunked field lines"},

      // F7: chunk-size syntax.
      {"F7", chunked("0x0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked("0\r\n\r\n"), "",
       "hex prefix"},
      {"F7", chunked("-0x0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked("0\r\n\r\n"), "",
       "negative hex"},
      {"F7", chunked("+5\r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "sign"},
      {"F7", chunked("5 ;\r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "space and an empty extension"},
      {"F7", chunked("5 ;a=b\r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE,
       chunked("5;a=b\r\nhello\r\n0\r\n\r\n"), "hello", "space before the extension"},
      {"F7", chunked("5 \r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "trailing space"},
      {"F7", chunked(" 5\r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "leading space"},
      {"F7", chunked("0_2e\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked("0\r\n\r\n"), "",
       "underscore"},
      {"F7", chunked("fffffffffffffffff1\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "overflow"},
      {"F7", chunked("\r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE, chunked(kHelloChunks),
       "hello", "empty size"},

      // F8: chunk framing with bare CR, LF only or missing CRLF.
      {"F8", chunked("5\r\r;ABCD\r\nhello\r\n0\r\n\r\n"), HPE_STRICT,
       chunked("5;ABCD\r\nhello\r\n0\r\n\r\n"), "hello",
       "bare CR before a chunk extension (8.1.0 accepts)"},
      {"F8", chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"), HPE_STRICT,
       chunked("5;ab\r\nhello\r\n0\r\n\r\n"), "hello", "bare CR inside a chunk extension"},
      {"F8", chunked("5\nhello\r\n0\r\n\r\n"), HPE_CR_EXPECTED, chunked(kHelloChunks), "hello",
       "LF-only after the chunk size"},
      {"F8", chunked("5;a=b\nhello\r\n0\r\n\r\n"), HPE_CR_EXPECTED,
       chunked("5;a=b\r\nhello\r\n0\r\n\r\n"), "hello", "LF-only after a chunk extension"},
      {"F8", chunked("5\r\nhelloX0\r\n\r\n"), HPE_STRICT, chunked(kHelloChunks), "hello",
       "missing CRLF after the chunk data"},
      {"F8", chunked("5\r\nhello\n0\r\n\r\n"), HPE_CR_EXPECTED, chunked(kHelloChunks), "hello",
       "LF-only after the chunk data"},
      {"F8", chunked("5\r\nhello\r0\r\n\r\n"), HPE_STRICT, chunked(kHelloChunks), "hello",
       "bare CR after the chunk data"},
      {"F8", chunked("5\r\nhello\n\r\n0\r\n\r\n"), HPE_CR_EXPECTED, chunked(kHelloChunks), "hello",
       "LF before the CRLF after the chunk data"},
      {"F8", chunked("0\n\r\n"), HPE_CR_EXPECTED, chunked("0\r\n\r\n"), "",
       "LF-only after the last chunk"},
      {"F8", chunked("0\r\n\n"), HPE_INVALID_HEADER_TOKEN, chunked("0\r\n\r\n"), "",
       "LF-only end of the chunked body"},
      {"F8", chunked("0\r\nX: y\n\r\n"), HPE_CR_EXPECTED, chunked("0\r\nX: y\r\n\r\n"), "",
       "LF-only after a trailer field"},

      // F20: nothing after Connection: close is parsed.
      {"F20", get("Connection: close\r\n") + get(""), HPE_CLOSED_CONNECTION,
       get("Connection: close\r\n"), "", "a second request after Connection: close", 1},

      // A16: junk in or after the version.
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.1x"), HPE_INVALID_VERSION, get(""), "",
       "junk right after the version"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.1 x"), HPE_INVALID_VERSION, get(""), "",
       "a word after the version"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.1 "), HPE_INVALID_VERSION, get(""), "",
       "trailing space"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.1\t"), HPE_INVALID_VERSION, get(""), "",
       "trailing HT"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.1\0"s), HPE_INVALID_VERSION, get(""), "",
       "trailing NUL"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.12"), HPE_INVALID_VERSION, get(""), "",
       "two-digit minor version"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/1.32"), HPE_INVALID_VERSION, get(""), "",
       "http-garden HTTP/1.32"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/9.9"), HPE_INVALID_VERSION, get(""), "",
       "unknown version"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/4294967295.255"), HPE_INVALID_VERSION,
       get(""), "", "overflowing major version"},
      {"A16", requestLine("GET http://allowed.test/ http/1.1"), HPE_INVALID_CONSTANT, get(""), "",
       "lowercase protocol name"},

      // A11 / A14: the request line.
      {"A11", requestLine("GET http://allowed.test/a\tb HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/ab HTTP/1.1"), "", "HT in the path"},
      {"A11", requestLine("GET http://allowed.test/a\x7f HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/a HTTP/1.1"), "", "DEL in the path"},
      {"A11", requestLine("GET http://allowed.test/a\x80 HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/a HTTP/1.1"), "", "0x80 in the path"},
      {"A11", requestLine("GET http://allowed.test/a\xff HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/a HTTP/1.1"), "", "0xff in the path"},
      {"A11", requestLine("GET http://allowed.test/a\0b HTTP/1.1"s), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/ab HTTP/1.1"), "", "NUL in the path"},
      {"A11", requestLine("GET http://allowed\x01.test/ HTTP/1.1"), HPE_INVALID_URL, get(""), "",
       "C0 control in the host"},
      {"A11", requestLine("GET http://allowed\xff.test/ HTTP/1.1"), HPE_INVALID_URL, get(""), "",
       "0xff in the host"},
      {"A11", requestLine("GET http://allowed.test/a b HTTP/1.1"), HPE_INVALID_CONSTANT,
       requestLine("GET http://allowed.test/ab HTTP/1.1"), "",
       "SP in the target splits the request line"},
      {"A8", requestLine("GET http://evil.test\\@allowed.test/ HTTP/1.1"), HPE_INVALID_URL,
       requestLine("GET http://allowed.test/ HTTP/1.1"), "", "backslash in the authority"},
      {"A14", requestLine("get http://allowed.test/ HTTP/1.1"), HPE_INVALID_METHOD, get(""), "",
       "lowercase method"},
      {"A14", requestLine("G(T http://allowed.test/ HTTP/1.1"), HPE_INVALID_METHOD, get(""), "",
       "separator in the method"},
      {"A14", requestLine("GET\thttp://allowed.test/ HTTP/1.1"), HPE_INVALID_METHOD, get(""), "",
       "HT after the method"},
  };
}

class LlhttpStrict : public ::testing::TestWithParam<StrictRow> {};

TEST_P(LlhttpStrict, RejectsTheInputAndParsesItsTwin) {
  const StrictRow& row = GetParam();
  ASSERT_NE(row.bad, row.twin) << row.why;
  ASSERT_NE(row.error, HPE_OK) << row.why;

  StrictParser bad;
  ASSERT_EQ(bad.lenientFlags(), 0) << "default settings must not be lenient";
  Outcome b = bad.parseAll(row.bad);
  EXPECT_EQ(b.error, row.error) << row.why << ": expected " << llhttp_errno_name(row.error)
                                << ", got " << llhttp_errno_name(b.error) << " ("
                                << reason(bad.raw()) << ")";
  EXPECT_EQ(b.messages, row.bad_messages) << row.why << ": no message may complete";

  StrictParser slow;
  Outcome s = slow.parseByteByByte(row.bad);
  EXPECT_EQ(s.error, row.error) << row.why << ": byte by byte got " << llhttp_errno_name(s.error);
  EXPECT_EQ(s.messages, row.bad_messages) << row.why << ": byte by byte";

  StrictParser twin;
  Outcome t = twin.parseAll(row.twin);
  EXPECT_EQ(t.error, HPE_OK) << row.why << ": twin \"" << printable(row.twin) << "\" got "
                             << llhttp_errno_name(t.error) << " (" << reason(twin.raw()) << ")";
  EXPECT_EQ(t.messages, 1) << row.why << ": the twin is one complete request";
  EXPECT_EQ(t.body, row.twin_body) << row.why;

  StrictParser slow_twin;
  Outcome st = slow_twin.parseByteByByte(row.twin);
  EXPECT_EQ(st.error, HPE_OK) << row.why << ": twin byte by byte";
  EXPECT_EQ(st.messages, 1) << row.why << ": twin byte by byte";
  EXPECT_EQ(st.body, row.twin_body) << row.why << ": twin byte by byte";
}

INSTANTIATE_TEST_SUITE_P(Rows, LlhttpStrict, ::testing::ValuesIn(strictRows()),
                         [](const ::testing::TestParamInfo<StrictRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// Inputs llhttp 9.2.1 accepts (or hands over at a pause) that gatehouse must refuse or handle
// itself. If an upgrade starts rejecting one, the row fails and the note can be revisited; the
// proxy's own check must stay either way.

struct GapRow {
  const char* id;
  std::string input;
  llhttp_errno_t result;  // HPE_OK or a pause
  std::string rest;       // bytes left unparsed at the pause
  const char* who_checks;
  int messages = 1;  // complete messages before the result
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const GapRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " \"" << printable(row.input) << "\"";
}

std::vector<GapRow> gapRows() {
  return {
      {"A1", get("Host: evil.test\r\n"), HPE_OK, "",
       "a second (different) Host: the proxy refuses duplicates and Host != target"},
      {"A5", requestLine("GET * HTTP/1.1"), HPE_OK, "", "asterisk-form: the target parser"},
      {"A7", requestLine("GET http://allowed.test@evil.test/ HTTP/1.1"), HPE_OK, "",
       "userinfo: the target parser"},
      {"A12", requestLine("GET http://allowed.test/#x HTTP/1.1"), HPE_OK, "",
       "fragment: the target parser"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/2.0"), HPE_OK, "",
       "HTTP/2.0 in an h1 request line: the proxy answers 505"},
      {"A16", requestLine("GET http://allowed.test/ HTTP/0.9"), HPE_OK, "",
       "HTTP/0.9 named explicitly: the proxy answers 505"},
      {"A16", "GET /\r\n\r\n", HPE_OK, "", "HTTP/0.9 request line without a version: 505"},
      {"RFC9112-3", requestLine("GET  http://allowed.test/ HTTP/1.1"), HPE_OK, "",
       "two spaces after the method"},
      {"RFC9112-3", requestLine("GET http://allowed.test/  HTTP/1.1"), HPE_OK, "",
       "two spaces before the version"},
      {"F4", post("Content-Length: 010\r\n", "0123456789"), HPE_OK, "",
       "leading zero: forward the number (10), never the text"},
      {"F5", post("Transfer-Encoding: identity, chunked\r\n", "0\r\n\r\n"), HPE_OK, "",
       "read as chunked: the proxy checks the raw value"},
      {"F5", post("Transfer-Encoding: ,chunked\r\n", "0\r\n\r\n"), HPE_OK, "",
       "empty list element: the proxy checks the raw value"},
      {"F5", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), HPE_OK, "",
       "an extra coding: the proxy answers 501"},
      {"F6",
       "POST http://allowed.test/ HTTP/1.0\r\nHost: allowed.test\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       HPE_OK, "", "Transfer-Encoding in HTTP/1.0: the proxy answers 400 and closes"},
      {"F18", get("X: a\x80\r\n"), HPE_OK, "", "obs-text in a value is legal; never in a name"},
      {"E3", "CONNECT allowed.test HTTP/1.1\r\nHost: allowed.test\r\n\r\n", HPE_PAUSED_UPGRADE, "",
       "CONNECT without a port: the target parser"},
      {"E8",
       "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\nGET http://evil.test/ "
       "HTTP/1.1\r\n\r\n",
       HPE_PAUSED_UPGRADE, "GET http://evil.test/ HTTP/1.1\r\n\r\n",
       "early bytes after CONNECT are left to the proxy, which must drop them when denying"},
      {"E9",
       "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\nContent-Length: "
       "5\r\n\r\nhello",
       HPE_PAUSED_UPGRADE, "hello", "Content-Length on CONNECT is ignored: the proxy answers 400"},
      {"A15", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nXYZ", HPE_PAUSED_H2_UPGRADE, "XYZ",
       "h2 preface, consumed whole without completing a message: the proxy answers 405/400 and "
       "closes",
       0},
      {"G3",
       "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nUpgrade: websocket\r\n"
       "Connection: upgrade\r\n\r\nXX",
       HPE_PAUSED_UPGRADE, "XX", "Upgrade: the proxy strips it; bytes after it are a request"},
  };
}

class LlhttpAccepts : public ::testing::TestWithParam<GapRow> {};

TEST_P(LlhttpAccepts, InputsTheProxyMustCheckItself) {
  const GapRow& row = GetParam();
  StrictParser parser;
  ASSERT_EQ(parser.lenientFlags(), 0);
  Outcome o = parser.parseAll(row.input);
  EXPECT_EQ(o.error, row.result) << row.who_checks << ": got " << llhttp_errno_name(o.error) << " ("
                                 << reason(parser.raw()) << ")";
  EXPECT_EQ(o.rest, row.rest) << row.who_checks;
  EXPECT_EQ(o.messages, row.messages) << row.who_checks;
}

INSTANTIATE_TEST_SUITE_P(Rows, LlhttpAccepts, ::testing::ValuesIn(gapRows()),
                         [](const ::testing::TestParamInfo<GapRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// The URL llhttp reports is the raw target, byte for byte: the proxy parses it itself.
TEST(LlhttpUrl, IsTheRawTarget) {
  StrictParser parser;
  Outcome o = parser.parseAll(requestLine("GET http://Allowed.Test.:080/a/../b?c=%2F HTTP/1.1"));
  ASSERT_EQ(o.error, HPE_OK);
  EXPECT_EQ(o.url, "http://Allowed.Test.:080/a/../b?c=%2F");
}

// ---------------------------------------------------------------------------------------------
// Control: the lenient flags are what would let these inputs through, so gatehouse must never
// set them. Each input fails strictly and parses once the flag is set.

TEST(LlhttpLenientFlags, WouldAcceptWhatTheStrictParserRejects) {
  struct Row {
    void (*set_lenient)(llhttp_t*, int);
    const char* flag;
    std::string input;
    llhttp_errno_t strict_error;
  };
  const Row kRows[] = {
      {llhttp_set_lenient_headers, "headers", get("X: a\r\n b\r\n"), HPE_INVALID_HEADER_TOKEN},
      {llhttp_set_lenient_chunked_length, "chunked_length",
       post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", kHelloChunks),
       HPE_INVALID_TRANSFER_ENCODING},
      {llhttp_set_lenient_transfer_encoding, "transfer_encoding",
       post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"),
       HPE_INVALID_TRANSFER_ENCODING},
      {llhttp_set_lenient_data_after_close, "data_after_close",
       get("Connection: close\r\n") + get(""), HPE_CLOSED_CONNECTION},
      {llhttp_set_lenient_spaces_after_chunk_size, "spaces_after_chunk_size",
       chunked("5 \r\nhello\r\n0\r\n\r\n"), HPE_INVALID_CHUNK_SIZE},
  };
  for (const Row& row : kRows) {
    StrictParser strict;
    EXPECT_EQ(strict.parseAll(row.input).error, row.strict_error) << row.flag;

    StrictParser lenient;
    row.set_lenient(lenient.raw(), 1);
    EXPECT_NE(lenient.lenientFlags(), 0) << row.flag;
    Outcome o = lenient.parseAll(row.input);
    EXPECT_EQ(o.error, HPE_OK) << row.flag << ": " << llhttp_errno_name(o.error);
  }
}

TEST(LlhttpLenientFlags, DefaultSettingsHaveNone) {
  StrictParser parser;
  EXPECT_EQ(parser.lenientFlags(), 0);
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t raw;
  llhttp_init(&raw, HTTP_REQUEST, &settings);
  EXPECT_EQ(raw.lenient_flags, 0);
  EXPECT_EQ(raw.type, HTTP_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Debian 12's llhttp 8.1.0 accepts the F8, F11-F15 inputs above; 9.2.1 is the floor.

constexpr bool versionAtLeast(int major, int minor, int patch, int want_major, int want_minor,
                              int want_patch) {
  return std::tie(major, minor, patch) >= std::tie(want_major, want_minor, want_patch);
}

TEST(LlhttpVersion, IsAtLeast921) {
  EXPECT_TRUE(
      versionAtLeast(LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH, 9, 2, 1))
      << "llhttp " << LLHTTP_VERSION_MAJOR << "." << LLHTTP_VERSION_MINOR << "."
      << LLHTTP_VERSION_PATCH << " is older than 9.2.1";
}

TEST(LlhttpVersion, ComparisonIsLexicographic) {
  EXPECT_TRUE(versionAtLeast(9, 2, 1, 9, 2, 1));
  EXPECT_TRUE(versionAtLeast(9, 4, 1, 9, 2, 1));
  EXPECT_TRUE(versionAtLeast(9, 3, 0, 9, 2, 1));
  EXPECT_TRUE(versionAtLeast(10, 0, 0, 9, 2, 1));
  EXPECT_FALSE(versionAtLeast(9, 2, 0, 9, 2, 1));
  EXPECT_FALSE(versionAtLeast(9, 1, 9, 9, 2, 1));
  EXPECT_FALSE(versionAtLeast(8, 1, 0, 9, 2, 1));
  EXPECT_FALSE(versionAtLeast(8, 9, 9, 9, 2, 1));
}

}  // namespace
}  // namespace gatehouse::http
