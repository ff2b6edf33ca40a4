// HTTP/1 message models shared by the request and response parsers, the parse result type, and
// the serialisers that write the heads sent to the other side.
//
// The proxy never forwards the bytes it received: every forwarded head is written from these
// models (BAD-INPUTS F), with hop-by-hop headers removed and framing headers regenerated from
// what the parser decided, so the next hop cannot read a different framing than the proxy did.
//
// Pure functions and plain structs; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/target.h"

namespace gatehouse::http {

struct Header {
  std::string name;   // as received (case kept)
  std::string value;  // leading and trailing OWS removed
};

struct RequestHead {
  std::string method;  // "GET", "CONNECT", ...
  std::string target;  // raw request-target, byte for byte
  // The parsed target: absolute-form (scheme "http", host, port, path) for ordinary requests,
  // authority-form (scheme "", host, port, path "") for CONNECT. For an allowed origin-form
  // request (origin_form == true) path is the target and host/port come from the Host header
  // (empty host when the request has none).
  Target parsed;
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  std::vector<Header> headers;  // in order, as received
  bool is_connect = false;
  bool origin_form = false;  // an origin-form path the options allow (the local /git/ endpoint)
  bool keep_alive = true;    // per HTTP version and the Connection header
  bool chunked = false;      // Transfer-Encoding: chunked (the only coding accepted)
  std::optional<uint64_t> content_length;
  bool expect_continue = false;  // Expect: 100-continue on an HTTP/1.1 request
  bool has_upgrade = false;      // an Upgrade header is present (stripped unless allowed)

  // The first header with this name, compared case-insensitively; nullptr if none.
  const Header* find(std::string_view name) const;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  std::vector<Header> headers;
  bool keep_alive = true;
  bool chunked = false;
  std::optional<uint64_t> content_length;
  // No length and no chunking: the body runs until the upstream closes (HTTP/1.0 style).
  bool body_until_close = false;

  const Header* find(std::string_view name) const;
};

// ---------------------------------------------------------------------------------------------
// Parse results (both parsers).

enum class ParseStatus : uint8_t {
  kNeedMore,  // every byte was consumed; feed more when it arrives
  kPaused,    // pause() was called from a callback; `consumed` bytes were used, feed the rest
              // again after resume()
  kUpgrade,   // a CONNECT head, an allowed Upgrade request (body included) or an allowed 101
              // ended at `consumed`; the bytes after it are not HTTP and were not looked at
  kDone,      // the last message ended the connection (Connection: close, HTTP/1.0, EOF);
              // bytes after `consumed` are never parsed: close after answering
  kError,     // malformed input at or before `consumed`: answer `error.status` and close
};

struct ParseError {
  int status = 0;           // 400, 405, 413, 414, 417, 431, 501, 505 (requests); 502 (responses)
  std::string_view reason;  // stable kebab-case code for X-Gatehouse-Reason and metrics
  std::string message;      // one short line for the client; never echoes the input
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;  // bytes of this feed() call that were used
  ParseError error;     // when status == kError

  bool failed() const { return status == ParseStatus::kError; }
};

// ---------------------------------------------------------------------------------------------
// Serialisation of forwarded heads.

struct RequestSerializeOptions {
  bool keep_alive = true;  // false: "Connection: close" towards the upstream
  // Keep Upgrade (and "Connection: upgrade") when the caller lets this request upgrade. Never on
  // the git path; off by default (BAD-INPUTS G3).
  bool allow_upgrade = false;
  // Appended after hop-by-hop stripping, so a client's Connection header cannot name them away
  // (BAD-INPUTS G1). The caller removes any client header it replaces before serialising.
  // Names and values must be valid field syntax; any with CR, LF or NUL are dropped.
  std::vector<Header> extra_headers;
};

// The head sent upstream for a parsed request: "METHOD origin-form HTTP/1.1" ("CONNECT
// host:port" for CONNECT), Host regenerated from the parsed target, the client's headers minus
// hop-by-hop ones (Connection and every header it names, Proxy-Connection, Keep-Alive, TE,
// Trailer, Upgrade and HTTP2-Settings unless allowed, Proxy-Authorization, Proxy-Authenticate),
// Expect only for a 100-continue the client may rely on, the framing header the parser decided
// (Transfer-Encoding: chunked or the canonical Content-Length), then the extra headers.
std::string serializeRequestHead(const RequestHead& head,
                                 const RequestSerializeOptions& options = {});

struct ResponseSerializeOptions {
  bool keep_alive = true;     // false: "Connection: close" towards the client
  bool head_request = false;  // the response answers HEAD: no body, Content-Length kept as is
  // The client speaks HTTP/1.0: it cannot read chunked bodies, so chunked and close-delimited
  // bodies are sent close-delimited.
  bool http10_client = false;
  bool allow_upgrade = false;  // a 101 the caller relays: keep Upgrade and Connection: upgrade
  std::vector<Header> extra_headers;  // appended after stripping, as for requests
};

// How the body of a forwarded response is written to the client.
enum class BodyFraming : uint8_t {
  kNone,           // no body (1xx, 204, 304, HEAD)
  kContentLength,  // exactly content_length bytes
  kChunked,        // the caller chunk-encodes the body bytes it relays
  kUntilClose,     // the caller relays bytes and closes the client connection at the end
};

BodyFraming responseFraming(const ResponseHead& head, const ResponseSerializeOptions& options);

// The head sent to the client for a parsed upstream response: "HTTP/1.1 status reason", the
// upstream's headers minus hop-by-hop ones, and the framing header of responseFraming():
// chunked and close-delimited upstream bodies go out chunked to HTTP/1.1 clients (so the client
// connection can stay open), Content-Length as the canonical number. kUntilClose adds
// "Connection: close" whatever keep_alive says.
std::string serializeResponseHead(const ResponseHead& head,
                                  const ResponseSerializeOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Field helpers used by both parsers.

bool equalsIgnoreCase(std::string_view a, std::string_view b);

// Removes leading and trailing SP and HTAB.
std::string_view trimOws(std::string_view s);

// A Content-Length value: 1*DIGIT without sign, without leading zeros (except "0" itself) and
// within uint64_t. "010" is refused: some backends read it as octal (BAD-INPUTS F4).
std::optional<uint64_t> parseContentLength(std::string_view value);

// Whether the comma-separated list `value` (e.g. a Connection header) holds `token`,
// case-insensitively.
bool hasToken(std::string_view value, std::string_view token);

}  // namespace gatehouse::http
