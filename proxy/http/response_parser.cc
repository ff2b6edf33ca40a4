#include "proxy/http/response_parser.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace gatehouse::http {

namespace {

constexpr int kBadGateway = 502;

}  // namespace

const llhttp_settings_t& ResponseParser::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_status = onStatus;
    s.on_status_complete = onStatusComplete;
    s.on_version_complete = onVersionComplete;
    s.on_header_field = onHeaderField;
    s.on_header_field_complete = onHeaderFieldComplete;
    s.on_header_value = onHeaderValue;
    s.on_header_value_complete = onHeaderValueComplete;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBodyData;
    s.on_message_complete = onMessageCompleteCb;
    return s;
  }();
  return kSettings;
}

ResponseParser::ResponseParser(Callbacks& callbacks, ResponseParserOptions options)
    : callbacks_(callbacks), options_(options) {
  // No llhttp_set_lenient_*: see request_parser.cc.
  llhttp_init(&parser_, HTTP_RESPONSE, &settings());
  parser_.data = this;
  resetMessage();
}

void ResponseParser::expectResponse(ResponseExpectation expectation) {
  expected_.push_back(expectation);
}

void ResponseParser::resetMessage() {
  head_ = ResponseHead{};
  in_head_ = true;
  head_bytes_ = 0;
  status_line_done_ = false;
  version_seen_ = false;
  field_.clear();
  value_.clear();
  header_count_ = 0;
  seen_content_length_ = false;
  seen_transfer_encoding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  trailer_count_ = 0;
  trailer_bytes_ = 0;
  informational_ = false;
  message_keep_alive_ = true;
}

int ResponseParser::fail(std::string_view reason, std::string message) {
  if (!has_error_) {
    has_error_ = true;
    error_.status = kBadGateway;
    error_.reason = reason;
    error_.message = std::move(message);
  }
  return -1;
}

ParseResult ResponseParser::failResult(size_t consumed) {
  state_ = State::kError;
  return {ParseStatus::kError, consumed, error_};
}

ParseError ResponseParser::mapLlhttpError(llhttp_errno_t err) const {
  if (in_head_ && !status_line_done_) {
    return {kBadGateway, "upstream-bad-status-line", "the upstream sent a malformed status line"};
  }
  switch (err) {
    case HPE_INVALID_CONTENT_LENGTH:
      if (!in_head_) break;
      return {kBadGateway, "upstream-bad-content-length",
              "the upstream sent a malformed Content-Length"};
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      if (!in_head_) break;
      return {kBadGateway, "upstream-duplicate-content-length",
              "the upstream sent Content-Length more than once"};
    case HPE_INVALID_TRANSFER_ENCODING:
      if (!in_head_) break;
      if (seen_content_length_) {
        return {kBadGateway, "upstream-te-and-cl",
                "the upstream sent both Content-Length and Transfer-Encoding"};
      }
      return {kBadGateway, "upstream-transfer-coding",
              "the upstream used a transfer coding other than chunked"};
    default:
      break;
  }
  if (in_head_) {
    return {kBadGateway, "upstream-bad-header", "the upstream sent a malformed header field"};
  }
  return {kBadGateway, "upstream-bad-body", "the upstream sent a malformed body"};
}

ParseResult ResponseParser::feed(const char* data, size_t len) {
  switch (state_) {
    case State::kError:
      return {ParseStatus::kError, 0, error_};
    case State::kUpgraded:
      return {ParseStatus::kUpgrade, 0, {}};
    case State::kDone:
      return {ParseStatus::kDone, 0, {}};
    case State::kParsing:
      break;
  }
  if (paused_) return {ParseStatus::kPaused, 0, {}};

  static constexpr char kNoBytes[1] = {0};
  if (data == nullptr) data = kNoBytes;
  size_t off = 0;
  bool drain = true;  // see RequestParser::feed
  while (off < len || drain) {
    drain = false;
    size_t n = len - off;
    const bool head_slice = in_head_;
    const uint64_t generation = head_generation_;
    if (in_head_ && n > 0) {
      if (head_bytes_ == 0 && expected_.empty()) {
        // A body on 204/304/HEAD or a response nobody asked for: never the next response.
        fail("upstream-unsolicited-response", "the upstream sent data that answers no request");
        return failResult(off);
      }
      if (head_bytes_ >= options_.max_header_bytes) {
        fail("upstream-headers-too-large", "the upstream's response head is too large");
        return failResult(off);
      }
      n = std::min(n, options_.max_header_bytes - head_bytes_);
    }
    llhttp_errno_t err = llhttp_execute(&parser_, data + off, n);
    size_t used = n;
    if (err != HPE_OK) {
      const char* pos = llhttp_get_error_pos(&parser_);
      used = pos == nullptr ? 0 : static_cast<size_t>(pos - (data + off));
    }
    if (head_slice && generation == head_generation_) head_bytes_ += used;
    off += used;

    switch (err) {
      case HPE_OK:
        break;
      case HPE_PAUSED:
        llhttp_resume(&parser_);
        if (done_after_message_) {
          state_ = State::kDone;
          return {ParseStatus::kDone, off, {}};
        }
        if (paused_) return {ParseStatus::kPaused, off, {}};
        drain = true;
        break;
      case HPE_PAUSED_UPGRADE:
        if (last_was_upgrade_) {
          state_ = State::kUpgraded;
          return {ParseStatus::kUpgrade, off, {}};
        }
        fail("upstream-unsolicited-101", "the upstream switched protocols without being asked");
        return failResult(off);
      default:
        if (!has_error_) {
          has_error_ = true;
          error_ = mapLlhttpError(err);
        }
        return failResult(off);
    }
  }
  return {ParseStatus::kNeedMore, off, {}};
}

ParseResult ResponseParser::finish() {
  if (state_ != State::kParsing) return feed(nullptr, 0);
  if (in_head_ && head_bytes_ == 0) {
    if (!expected_.empty()) {
      fail("upstream-closed", "the upstream closed the connection without responding");
      return failResult(0);
    }
    state_ = State::kDone;
    return {ParseStatus::kDone, 0, {}};
  }
  finishing_ = true;
  llhttp_errno_t err = llhttp_finish(&parser_);
  finishing_ = false;
  if (err == HPE_OK && in_head_ && head_bytes_ == 0) {
    state_ = State::kDone;
    return {ParseStatus::kDone, 0, {}};
  }
  fail("upstream-truncated", "the upstream closed the connection in the middle of a response");
  return failResult(0);
}

int ResponseParser::onStatus(llhttp_t* p, const char* at, size_t len) {
  self(p).head_.reason.append(at, len);
  return 0;
}

int ResponseParser::onStatusComplete(llhttp_t* p) {
  ResponseParser& r = self(p);
  r.status_line_done_ = true;
  if (p->status_code < 100 || p->status_code > 599) {
    return r.fail("upstream-bad-status", "the upstream sent a status code outside 100-599");
  }
  return 0;
}

int ResponseParser::onVersionComplete(llhttp_t* p) {
  ResponseParser& r = self(p);
  r.version_seen_ = true;
  if (p->http_major != 1 || p->http_minor > 1) {
    return r.fail("upstream-bad-version",
                  "the upstream answered with an HTTP version other than 1.x");
  }
  return 0;
}

int ResponseParser::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  ResponseParser& r = self(p);
  if (r.in_head_) {
    r.field_.append(at, len);
  } else {
    r.trailer_bytes_ += len;
  }
  return 0;
}

int ResponseParser::onHeaderFieldComplete(llhttp_t* p) {
  ResponseParser& r = self(p);
  if (!r.in_head_) {
    if (++r.trailer_count_ > r.options_.max_headers ||
        r.trailer_bytes_ > r.options_.max_header_bytes) {
      return r.fail("upstream-headers-too-large", "the upstream's trailer section is too large");
    }
    return 0;
  }
  if (++r.header_count_ > r.options_.max_headers) {
    return r.fail("upstream-headers-too-large", "the upstream sent too many header fields");
  }
  const std::string& name = r.field_;
  if (equalsIgnoreCase(name, "content-length")) {
    if (r.seen_content_length_) {
      return r.fail("upstream-duplicate-content-length",
                    "the upstream sent Content-Length more than once");
    }
    if (r.seen_transfer_encoding_) {
      return r.fail("upstream-te-and-cl",
                    "the upstream sent both Content-Length and Transfer-Encoding");
    }
    r.seen_content_length_ = true;
  } else if (equalsIgnoreCase(name, "transfer-encoding")) {
    if (r.seen_content_length_) {
      return r.fail("upstream-te-and-cl",
                    "the upstream sent both Content-Length and Transfer-Encoding");
    }
    if (r.seen_transfer_encoding_) {
      return r.fail("upstream-transfer-coding",
                    "the upstream used a transfer coding other than chunked");
    }
    r.seen_transfer_encoding_ = true;
  }
  return 0;
}

int ResponseParser::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  ResponseParser& r = self(p);
  if (r.in_head_) {
    r.value_.append(at, len);
  } else {
    r.trailer_bytes_ += len;
  }
  return 0;
}

int ResponseParser::onHeaderValueComplete(llhttp_t* p) {
  ResponseParser& r = self(p);
  if (!r.in_head_) {
    if (r.trailer_bytes_ > r.options_.max_header_bytes) {
      return r.fail("upstream-headers-too-large", "the upstream's trailer section is too large");
    }
    return 0;
  }
  const std::string& name = r.field_;
  std::string_view value = trimOws(r.value_);
  if (equalsIgnoreCase(name, "content-length")) {
    std::optional<uint64_t> length = parseContentLength(value);
    if (!length) {
      return r.fail("upstream-bad-content-length", "the upstream sent a malformed Content-Length");
    }
    r.head_.content_length = length;
  } else if (equalsIgnoreCase(name, "transfer-encoding")) {
    // Any other coding would have to be forwarded as is and re-framed; a gateway cannot do
    // that safely, and HTTP/1.0 has no transfer codings at all (RFC 9112 §6.1).
    if (p->http_minor == 0 || !equalsIgnoreCase(r.value_, "chunked")) {
      return r.fail("upstream-transfer-coding",
                    "the upstream used a transfer coding other than chunked");
    }
    r.head_.chunked = true;
  } else if (equalsIgnoreCase(name, "connection")) {
    r.connection_close_ = r.connection_close_ || hasToken(value, "close");
    r.connection_keep_alive_ = r.connection_keep_alive_ || hasToken(value, "keep-alive");
  }
  r.head_.headers.push_back(Header{std::move(r.field_), std::string(value)});
  r.field_.clear();
  r.value_.clear();
  return 0;
}

int ResponseParser::onHeadersComplete(llhttp_t* p) {
  ResponseParser& r = self(p);
  r.in_head_ = false;
  ++r.head_generation_;
  if (r.expected_.empty()) {
    return r.fail("upstream-unsolicited-response",
                  "the upstream sent data that answers no request");
  }
  const ResponseExpectation expectation = r.expected_.front();
  ResponseHead& head = r.head_;
  head.status = p->status_code;
  head.version_major = p->http_major;
  head.version_minor = p->http_minor;
  head.reason = std::string(trimOws(head.reason));
  if (head.status == 101 && !expectation.upgrade_allowed) {
    // Upgrade is stripped unless the caller allowed it; a 101 then would turn the connection
    // into something the proxy never checked (BAD-INPUTS G3, F23).
    return r.fail("upstream-unsolicited-101",
                  "the upstream switched protocols without being asked");
  }
  const bool interim = head.status < 200 && head.status != 101;
  const bool no_body =
      head.status < 200 || head.status == 204 || head.status == 304 || expectation.head_request;
  if (!no_body) {
    const bool ll_chunked = (p->flags & F_CHUNKED) != 0;
    const bool ll_length = (p->flags & F_CONTENT_LENGTH) != 0;
    if (ll_chunked != head.chunked || ll_length != head.content_length.has_value() ||
        (ll_length && p->content_length != *head.content_length)) {
      return r.fail("upstream-bad-framing", "the upstream's message framing is ambiguous");
    }
    head.body_until_close = !head.chunked && !head.content_length;
  }
  head.keep_alive = head.version_minor == 1 ? !r.connection_close_
                                            : r.connection_keep_alive_ && !r.connection_close_;
  if (head.body_until_close || head.status == 101) head.keep_alive = false;
  r.informational_ = interim;
  r.message_keep_alive_ = head.keep_alive;
  r.last_was_upgrade_ = head.status == 101;
  if (interim) {
    r.callbacks_.onInformational(std::move(head));
  } else {
    r.callbacks_.onResponseHead(std::move(head));
  }
  head = ResponseHead{};
  if (r.last_was_upgrade_) return 0;  // llhttp ends the message and stops (HPE_PAUSED_UPGRADE)
  if (expectation.head_request && !interim) return 1;  // llhttp: this message has no body
  return HPE_PAUSED;
}

int ResponseParser::onBodyData(llhttp_t* p, const char* at, size_t len) {
  ResponseParser& r = self(p);
  r.callbacks_.onBody(at, len);
  return r.paused_ && !r.finishing_ ? HPE_PAUSED : 0;
}

int ResponseParser::onMessageCompleteCb(llhttp_t* p) {
  ResponseParser& r = self(p);
  if (r.informational_) {
    // The final response of the same request follows.
    r.resetMessage();
    return r.finishing_ ? 0 : HPE_PAUSED;
  }
  const bool keep_alive = r.message_keep_alive_ && llhttp_should_keep_alive(p) != 0;
  const bool upgrade = r.last_was_upgrade_;
  r.callbacks_.onMessageComplete();
  if (!r.expected_.empty()) r.expected_.pop_front();
  r.resetMessage();
  if (!keep_alive) r.done_after_message_ = true;
  if (upgrade || r.finishing_) return 0;
  return HPE_PAUSED;
}

}  // namespace gatehouse::http
