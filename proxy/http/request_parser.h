// Incremental HTTP/1 request parser for the proxy listener: llhttp (>= 9.2.1, no lenient flag)
// for the grammar, plus the proxy's own checks that llhttp leaves to the application
// (SPEC §3 step 1, BAD-INPUTS A, E3, E4, E9, F, G4, G5, G9-G11):
//
//   request line    exactly "METHOD SP target SP HTTP/1.x CRLF"; HTTP/1.0 and 1.1 only (505
//                   otherwise, 400 for syntax errors); PRI (the h2 preface) and TRACE → 405
//   target          absolute-form http:// for every method but CONNECT, authority-form
//                   host:port for CONNECT (proxy/http/target.h); origin-form only for the
//                   path prefixes the options allow; asterisk-form → 400
//   Host            exactly one on HTTP/1.1 (CONNECT may omit it); equal to the target's
//                   authority (canonical host and numeric port)
//   framing         Content-Length: plain decimal, once; Transfer-Encoding: exactly
//                   "chunked", once, HTTP/1.1 only, never with Content-Length; CONNECT has
//                   neither. What the caller sees is cross-checked with llhttp's own reading.
//   limits          target length (414), head bytes and header count (431, enforced while the
//                   head is still arriving, so memory stays bounded), body size (413), chunk
//                   extension bytes (413), trailers (431, never delivered)
//
// Other statuses: 400 for every syntax error llhttp reports (reason by where it happened:
// bad-method, bad-target, bad-request-line, bad-header, bad-chunk, bad-trailer), 417 for any
// Expect but one "100-continue", 501 for any Transfer-Encoding but one "chunked", 400
// underscore-header unless allowed. Each error has a stable kebab-case reason and a short
// message that never echoes the input.
//
// Every check is tied to a byte position in the stream, so the result (events, error, consumed
// count) is the same however the input is split into feed() calls.
//
// Typical use: pause() in onRequestHead, decide (policy, DNS) outside the callback, then
// resume() and feed() the bytes not yet consumed; for CONNECT, feed() returns kUpgrade with the
// head's length as `consumed`, and the caller owns every byte after it (INV-NOBYTES).
//
// Single-threaded: one parser per client connection, used on that connection's loop thread.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/message.h"

namespace gatehouse::http {

struct RequestParserOptions {
  size_t max_target = size_t{8} * 1024;         // longer → 414
  size_t max_header_bytes = size_t{64} * 1024;  // request line + fields + CRLFs; more → 431
  size_t max_headers = 100;                     // field lines; more → 431
  uint64_t max_body = 0;                        // 0: unlimited; more → 413
  size_t max_chunk_extension_bytes =
      size_t{16} * 1024;  // per chunk line (Node's cap, CVE-2024-22019)
  // Envoy recommends rejecting "X_Forwarded_For"-style names at the edge: some backends fold
  // '_' into '-' and would see a header the proxy never checked (BAD-INPUTS G11).
  bool allow_underscore_headers = false;
  // false: a request with "Connection: upgrade" + "Upgrade" is an ordinary request (the caller
  // strips Upgrade) and the bytes after it are parsed as the next request. true: feed() stops
  // after such a request with kUpgrade; resumeAfterUpgrade() continues as HTTP.
  bool allow_upgrade = false;
  // Origin-form targets starting with one of these prefixes ("/git/", "/github/api/") are
  // accepted with RequestHead::origin_form set: the proxy's local endpoints (SPEC §5, §7).
  std::vector<std::string> allow_origin_form_paths;
};

class RequestParser final {
 public:
  // Called synchronously from feed() on the caller's thread. A callback may call pause(); it
  // must not call feed() or finish() or destroy the parser.
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // A complete, checked head. No body byte has been consumed yet; pause() here stops feed()
    // before the first body byte (for CONNECT, feed() returns kUpgrade anyway).
    virtual void onRequestHead(RequestHead&& head) = 0;
    // Body bytes, de-chunked. Valid only during the call.
    virtual void onBody(const char* data, size_t len) = 0;
    // The request (body included) ended. Trailers of a chunked body are never delivered.
    virtual void onMessageComplete() = 0;
  };

  explicit RequestParser(Callbacks& callbacks, RequestParserOptions options = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;
  RequestParser(RequestParser&&) = delete;
  RequestParser& operator=(RequestParser&&) = delete;
  ~RequestParser() = default;

  // Consumes bytes and reports events through the callbacks (see ParseStatus). Pipelined
  // requests in one buffer are all parsed unless a callback pauses. After kError, kUpgrade or
  // kDone every later call returns the same status with consumed == 0.
  ParseResult feed(const char* data, size_t len);
  ParseResult feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }

  // The client closed its sending side. kDone between requests; kError (400
  // "incomplete-request") inside one, including after a kPaused that was never resumed and fed.
  ParseResult finish();

  // From a callback: feed() returns kPaused right after the current event (head, body span or
  // message end). Outside a callback: the next feed() returns kPaused without consuming. After
  // resume(), call feed() with the unconsumed bytes even when there are none: a request without
  // a body completes (onMessageComplete) only then.
  void pause() { paused_ = true; }
  void resume() { paused_ = false; }
  bool paused() const { return paused_; }

  // After kUpgrade for a non-CONNECT request (allow_upgrade): the upstream refused the upgrade,
  // so the bytes after the request are HTTP again.
  void resumeAfterUpgrade();

  // No part of a request has been received since the last one ended (for choosing between the
  // idle keep-alive and the header-read timeouts).
  bool idle() const { return in_head_ && head_bytes_ == 0; }

 private:
  enum class State : uint8_t { kParsing, kUpgraded, kDone, kError };

  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
  static const llhttp_settings_t& settings();

  static int onUrl(llhttp_t* p, const char* at, size_t len);
  static int onUrlComplete(llhttp_t* p);
  static int onMethodComplete(llhttp_t* p);
  static int onVersionComplete(llhttp_t* p);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderFieldComplete(llhttp_t* p);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBodyData(llhttp_t* p, const char* at, size_t len);
  static int onMessageCompleteCb(llhttp_t* p);
  static int onChunkExtension(llhttp_t* p, const char* at, size_t len);
  static int onChunkExtensionComplete(llhttp_t* p);
  static int onChunkHeader(llhttp_t* p);

  // Records an error found by a callback; returns the value that makes llhttp stop.
  int fail(int status, std::string_view reason, std::string message);
  ParseResult failResult(size_t consumed);
  void resetMessage();
  size_t copyRequestLine(const char* data, size_t len);
  ParseError mapLlhttpError(llhttp_errno_t err, size_t error_offset) const;
  bool errorInRequestLine(size_t error_offset) const;
  bool checkRequestLine();
  bool checkTarget();
  bool checkHost();
  bool checkFraming();
  bool originFormAllowed(std::string_view target) const;

  Callbacks& callbacks_;
  RequestParserOptions options_;
  llhttp_t parser_;
  State state_ = State::kParsing;
  ParseError error_;
  bool has_error_ = false;
  bool paused_ = false;
  bool last_was_connect_ = false;
  bool done_after_message_ = false;
  uint64_t head_generation_ = 0;         // bumped at every headers-complete
  const char* body_error_at_ = nullptr;  // the first byte over max_body, in the current slice

  // Per message.
  RequestHead head_;
  bool in_head_ = true;
  size_t head_bytes_ = 0;  // bytes of the current head fed to llhttp so far
  std::string line_;       // copy of the request line, leading empty lines skipped, up to LF
  bool line_done_ = false;
  // Where the current slice's bytes went in line_, to find an error byte in the copy.
  bool line_done_at_slice_ = false;
  size_t slice_copy_from_ = 0;  // slice offset of the first byte copied
  size_t slice_copy_len_ = 0;
  size_t line_base_ = 0;  // line_.size() before the slice
  bool version_seen_ = false;
  std::string field_;
  std::string value_;
  size_t header_count_ = 0;
  bool seen_host_ = false;
  bool seen_content_length_ = false;
  bool seen_transfer_encoding_ = false;
  bool seen_expect_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  uint64_t body_bytes_ = 0;
  size_t chunk_extension_bytes_ = 0;
  bool in_trailers_ = false;
  size_t trailer_count_ = 0;
  size_t trailer_bytes_ = 0;
  bool message_keep_alive_ = true;
  bool message_is_connect_ = false;
};

}  // namespace gatehouse::http
