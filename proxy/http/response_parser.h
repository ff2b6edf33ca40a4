// Incremental HTTP/1 response parser for upstream connections: llhttp (no lenient flag) plus
// the proxy's own framing checks (BAD-INPUTS F23). Every error is a 502 for the client and means
// the upstream connection must be closed, never pooled: after a framing error nothing on it can
// be trusted to start at a message boundary.
//
//   status line   HTTP/1.0 or HTTP/1.1, status 100-599
//   1xx           100/102/103 go to onInformational() (the caller relays or drops them; any
//                 number of them is fine); 101 only when the request was allowed to upgrade
//   framing       Content-Length plain decimal, once; Transfer-Encoding exactly "chunked", once,
//                 never with Content-Length, never on HTTP/1.0; no body for HEAD, 1xx, 204,
//                 304; otherwise no length means the body runs until the upstream closes
//   desync        bytes that arrive while no response is expected (a body on 204/304/HEAD, a
//                 second response nobody asked for) are an error, not the next response
//   EOF           finish() completes a close-delimited body and reports a truncated one
//
// Single-threaded: one parser per upstream connection, used on its loop thread.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "proxy/http/message.h"

namespace gatehouse::http {

struct ResponseParserOptions {
  size_t max_header_bytes = size_t{64} * 1024;  // status line + fields; more → 502
  size_t max_headers = 100;
};

// What the request that a response answers allows.
struct ResponseExpectation {
  bool head_request = false;     // HEAD: no body, whatever the headers say
  bool upgrade_allowed = false;  // the request kept Upgrade: a 101 ends HTTP on this connection
};

class ResponseParser final {
 public:
  // Called synchronously from feed()/finish() on the caller's thread. A callback may call
  // pause(); it must not call feed() or finish() or destroy the parser.
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // An interim 1xx response (not 101). The final response of the same request follows. By
    // default it is consumed; the caller may relay it (to an HTTP/1.1 client only).
    virtual void onInformational(ResponseHead&& /*head*/) {}
    // The final response head (or an allowed 101). For a body, onBody follows. pause() here
    // stops feed() before the first body byte; for a response without a body (HEAD, 204, 304)
    // it takes effect right after onMessageComplete.
    virtual void onResponseHead(ResponseHead&& head) = 0;
    // Body bytes, de-chunked. Valid only during the call.
    virtual void onBody(const char* data, size_t len) = 0;
    // The response ended; its expectation is used up.
    virtual void onMessageComplete() = 0;
  };

  explicit ResponseParser(Callbacks& callbacks, ResponseParserOptions options = {});
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;
  ResponseParser(ResponseParser&&) = delete;
  ResponseParser& operator=(ResponseParser&&) = delete;
  ~ResponseParser() = default;

  // Call once for every request written to the upstream, in order, when its head is sent.
  // Responses are matched to these in order; bytes with none outstanding are an error.
  void expectResponse(ResponseExpectation expectation = {});
  size_t outstanding() const { return expected_.size(); }

  // As RequestParser::feed(): kNeedMore, kPaused, kUpgrade (after an allowed 101: the bytes
  // after `consumed` belong to the upgraded protocol), kDone (the response ended the
  // connection: Connection: close, HTTP/1.0), kError (status 502).
  ParseResult feed(const char* data, size_t len);
  ParseResult feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }

  // The upstream closed. Completes a close-delimited body (onMessageComplete, kDone); kError
  // "upstream-truncated" inside any other message, "upstream-closed" when a response is
  // outstanding and none has started.
  ParseResult finish();

  void pause() { paused_ = true; }
  void resume() { paused_ = false; }
  bool paused() const { return paused_; }

 private:
  enum class State : uint8_t { kParsing, kUpgraded, kDone, kError };

  static ResponseParser& self(llhttp_t* p) { return *static_cast<ResponseParser*>(p->data); }
  static const llhttp_settings_t& settings();

  static int onStatus(llhttp_t* p, const char* at, size_t len);
  static int onStatusComplete(llhttp_t* p);
  static int onVersionComplete(llhttp_t* p);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderFieldComplete(llhttp_t* p);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBodyData(llhttp_t* p, const char* at, size_t len);
  static int onMessageCompleteCb(llhttp_t* p);

  int fail(std::string_view reason, std::string message);
  ParseResult failResult(size_t consumed);
  void resetMessage();
  ParseError mapLlhttpError(llhttp_errno_t err) const;

  Callbacks& callbacks_;
  ResponseParserOptions options_;
  llhttp_t parser_;
  std::deque<ResponseExpectation> expected_;
  State state_ = State::kParsing;
  ParseError error_;
  bool has_error_ = false;
  bool paused_ = false;
  bool finishing_ = false;
  bool done_after_message_ = false;
  bool last_was_upgrade_ = false;
  uint64_t head_generation_ = 0;

  // Per message.
  ResponseHead head_;
  bool in_head_ = true;
  size_t head_bytes_ = 0;
  bool status_line_done_ = false;
  bool version_seen_ = false;
  std::string field_;
  std::string value_;
  size_t header_count_ = 0;
  bool seen_content_length_ = false;
  bool seen_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  size_t trailer_count_ = 0;
  size_t trailer_bytes_ = 0;
  bool informational_ = false;
  bool message_keep_alive_ = true;
};

}  // namespace gatehouse::http
