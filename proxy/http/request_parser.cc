#include "proxy/http/request_parser.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "policy/host.h"

namespace gatehouse::http {

namespace {

// Room in the request-line copy around the target: method, two SPs, "HTTP/1.1", CRLF.
constexpr size_t kRequestLineSlack = 64;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// llhttp reports HPE_INVALID_VERSION both for syntax errors ("HTTP/1.1x", a bare LF) and for
// well-formed versions it does not know ("HTTP/1.32", "HTTP/9.9", "HTTP/4294967295.255"); the
// second kind is 505 (BAD-INPUTS A16). `prefix` is the version text before the error position
// and `at` the byte there (-1 when it is not part of this input yet). llhttp checks the version
// value right after the minor digit, so for "HTTP/1.32" the error position follows "HTTP/1.3"
// (and may lie past the end of a short feed); a second digit after an accepted "HTTP/1.1" or
// after the major digit is refused at that digit.
bool isUnsupportedVersion(std::string_view prefix, int at) {
  if (prefix.substr(0, 5) != "HTTP/") return false;
  std::string_view v = prefix.substr(5);
  const bool at_digit = at >= '0' && at <= '9';
  if (v.size() == 1 && isDigit(v[0])) return at_digit;
  if (v.size() == 3 && isDigit(v[0]) && v[1] == '.' && isDigit(v[2])) {
    const bool known = v[0] == '1' && (v[2] == '0' || v[2] == '1');
    return !known || at_digit;
  }
  return false;
}

std::string_view targetReason(const TargetParse& p, bool connect, std::string_view target) {
  switch (p.error) {
    case TargetError::kUserinfo:
      return "userinfo";
    case TargetError::kFragment:
      return "fragment";
    case TargetError::kEmptyHost:
    case TargetError::kBadHost:
      return "bad-host";
    case TargetError::kBadPort:
      return "bad-port";
    default:
      break;
  }
  if (connect) return "connect-target";
  switch (p.error) {
    case TargetError::kUnsupportedScheme:
      return target.find("://") == std::string_view::npos ? "not-absolute-form"
                                                          : "unsupported-scheme";
    case TargetError::kNotAbsolute:
      return "not-absolute-form";
    default:
      return "bad-target";
  }
}

struct HostHeader {
  policy::Host host;
  std::optional<uint16_t> port;
};

// A Host field value: uri-host [ ":" port ], with the same host rules as targets.
std::optional<HostHeader> parseHostHeader(std::string_view value, std::string* message) {
  std::string_view host = value;
  std::optional<std::string_view> port_text;
  if (!value.empty() && value[0] == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) {
      *message = "the Host header is malformed";
      return std::nullopt;
    }
    host = value.substr(0, close + 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        *message = "the Host header is malformed";
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else if (size_t colon = value.find(':'); colon != std::string_view::npos) {
    host = value.substr(0, colon);
    port_text = value.substr(colon + 1);
  }
  if (host.empty()) {
    *message = "the Host header has no host";
    return std::nullopt;
  }
  policy::HostParse hp = policy::canonicalizeHost(host);
  if (!hp.ok()) {
    *message = std::string("the Host header is malformed: ") + policy::hostErrorMessage(hp.error);
    return std::nullopt;
  }
  HostHeader out{std::move(*hp.host), std::nullopt};
  if (port_text) {
    out.port = policy::parsePort(*port_text);
    if (!out.port) {
      *message = "the Host header's port is not a number from 1 to 65535";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

const llhttp_settings_t& RequestParser::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_url = onUrl;
    s.on_url_complete = onUrlComplete;
    s.on_method_complete = onMethodComplete;
    s.on_version_complete = onVersionComplete;
    s.on_header_field = onHeaderField;
    s.on_header_field_complete = onHeaderFieldComplete;
    s.on_header_value = onHeaderValue;
    s.on_header_value_complete = onHeaderValueComplete;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBodyData;
    s.on_message_complete = onMessageCompleteCb;
    s.on_chunk_extension_name = onChunkExtension;
    s.on_chunk_extension_value = onChunkExtension;
    s.on_chunk_extension_name_complete = onChunkExtensionComplete;
    s.on_chunk_extension_value_complete = onChunkExtensionComplete;
    s.on_chunk_header = onChunkHeader;
    return s;
  }();
  return kSettings;
}

RequestParser::RequestParser(Callbacks& callbacks, RequestParserOptions options)
    : callbacks_(callbacks), options_(std::move(options)) {
  // No llhttp_set_lenient_*: every lenient flag re-opens a smuggling input (BAD-INPUTS F).
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
  resetMessage();
}

void RequestParser::resetMessage() {
  head_ = RequestHead{};
  in_head_ = true;
  head_bytes_ = 0;
  line_.clear();
  line_done_ = false;
  version_seen_ = false;
  field_.clear();
  value_.clear();
  header_count_ = 0;
  seen_host_ = false;
  seen_content_length_ = false;
  seen_transfer_encoding_ = false;
  seen_expect_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  body_bytes_ = 0;
  chunk_extension_bytes_ = 0;
  in_trailers_ = false;
  trailer_count_ = 0;
  trailer_bytes_ = 0;
  message_keep_alive_ = true;
  message_is_connect_ = false;
}

int RequestParser::fail(int status, std::string_view reason, std::string message) {
  if (!has_error_) {
    has_error_ = true;
    error_.status = status;
    error_.reason = reason;
    error_.message = std::move(message);
  }
  return -1;
}

ParseResult RequestParser::failResult(size_t consumed) {
  state_ = State::kError;
  return {ParseStatus::kError, consumed, error_};
}

// Copies the request-line bytes of a slice into line_ (leading empty lines skipped, as llhttp
// does) and returns how many bytes of the slice llhttp may see: all of them, or up to the
// request-line cap when the line has not ended by then.
size_t RequestParser::copyRequestLine(const char* data, size_t len) {
  const size_t line_max = options_.max_target + kRequestLineSlack;
  line_base_ = line_.size();
  slice_copy_from_ = len;
  size_t i = 0;
  for (; i < len; ++i) {
    char c = data[i];
    if (line_.empty() && (c == '\r' || c == '\n')) continue;
    if (line_.size() >= line_max) break;
    if (slice_copy_from_ == len) slice_copy_from_ = i;
    line_.push_back(c);
    if (c == '\n') {
      line_done_ = true;
      break;
    }
  }
  slice_copy_len_ = line_.size() - line_base_;
  if (!line_done_ && line_.size() >= line_max) return i;
  return len;
}

bool RequestParser::errorInRequestLine(size_t error_offset) const {
  if (line_done_at_slice_) return false;
  if (!line_done_) return true;
  return error_offset < slice_copy_from_ + slice_copy_len_;
}

ParseError RequestParser::mapLlhttpError(llhttp_errno_t err, size_t error_offset) const {
  const bool in_line = in_head_ && errorInRequestLine(error_offset);
  std::string_view phase_reason = in_head_ ? (in_line ? "bad-request-line" : "bad-header")
                                           : (in_trailers_ ? "bad-trailer" : "bad-chunk");
  switch (err) {
    case HPE_INVALID_METHOD:
      return {400, "bad-method", "the request method is not a valid HTTP method"};
    case HPE_INVALID_URL:
      return {400, "bad-target", "the request target contains a byte that is not allowed"};
    case HPE_INVALID_VERSION:
      if (in_line && error_offset >= slice_copy_from_ &&
          error_offset <= slice_copy_from_ + slice_copy_len_) {
        const size_t index = line_base_ + (error_offset - slice_copy_from_);
        std::string_view prefix(line_.data(), index);
        const size_t space = prefix.rfind(' ');
        prefix.remove_prefix(space == std::string_view::npos ? 0 : space + 1);
        const int at = index < line_.size() ? static_cast<unsigned char>(line_[index]) : -1;
        if (isUnsupportedVersion(prefix, at)) {
          return {505, "bad-version", "only HTTP/1.0 and HTTP/1.1 are supported"};
        }
      }
      return {400, "bad-request-line", "the HTTP version in the request line is malformed"};
    case HPE_INVALID_CONTENT_LENGTH:
      if (!in_head_) break;
      return {400, "bad-content-length", "Content-Length must be one decimal number"};
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      if (!in_head_) break;
      return {400, "duplicate-content-length", "Content-Length appears more than once"};
    case HPE_INVALID_TRANSFER_ENCODING:
      if (!in_head_) break;
      if (seen_content_length_) {
        return {400, "te-and-cl", "Content-Length and Transfer-Encoding together are refused"};
      }
      return {501, "unsupported-transfer-coding", "only Transfer-Encoding: chunked is supported"};
    case HPE_INVALID_CHUNK_SIZE:
      return {400, "bad-chunk", "a chunk size is malformed"};
    case HPE_PAUSED_H2_UPGRADE:
      return {405, "h2-preface", "HTTP/2 with prior knowledge is not supported; use HTTP/1.1"};
    default:
      break;
  }
  if (phase_reason == "bad-request-line") {
    return {400, phase_reason, "the request line is malformed"};
  }
  if (phase_reason == "bad-header") {
    return {400, phase_reason, "a header field is malformed"};
  }
  if (phase_reason == "bad-trailer") {
    return {400, phase_reason, "a trailer field is malformed"};
  }
  return {400, phase_reason, "the chunked body is malformed"};
}

ParseResult RequestParser::feed(const char* data, size_t len) {
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
  // After a pause llhttp may still have work that needs no input (ending a message without a
  // body), so it always runs once, and again after every pause, even with no bytes left.
  bool drain = true;
  while (off < len || drain) {
    drain = false;
    size_t n = len - off;
    const bool head_slice = in_head_;
    const uint64_t generation = head_generation_;
    line_done_at_slice_ = line_done_;
    slice_copy_from_ = 0;
    slice_copy_len_ = 0;
    if (in_head_ && n > 0) {
      // The caps are enforced before llhttp sees the byte past them, so a 1 MiB header fails
      // at the cap and the memory held stays bounded (BAD-INPUTS G5, A13).
      if (head_bytes_ >= options_.max_header_bytes) {
        fail(431, "headers-too-large",
             "the request head is larger than " + std::to_string(options_.max_header_bytes) +
                 " bytes");
        return failResult(off);
      }
      n = std::min(n, options_.max_header_bytes - head_bytes_);
      if (!line_done_) {
        if (line_.size() >= options_.max_target + kRequestLineSlack) {
          fail(414, "target-too-long",
               "the request target is longer than " + std::to_string(options_.max_target) +
                   " bytes");
          return failResult(off);
        }
        n = copyRequestLine(data + off, n);
      }
    }
    llhttp_errno_t err = llhttp_execute(&parser_, data + off, n);
    size_t used = n;
    if (err != HPE_OK) {
      // llhttp places an error raised in a data callback at the end of the span; the body cap
      // records the exact byte instead.
      const char* pos = body_error_at_ != nullptr ? body_error_at_ : llhttp_get_error_pos(&parser_);
      body_error_at_ = nullptr;
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
        if (last_was_connect_ || options_.allow_upgrade) {
          state_ = State::kUpgraded;
          return {ParseStatus::kUpgrade, off, {}};
        }
        llhttp_resume_after_upgrade(&parser_);
        if (done_after_message_) {
          state_ = State::kDone;
          return {ParseStatus::kDone, off, {}};
        }
        if (paused_) return {ParseStatus::kPaused, off, {}};
        break;
      default:
        if (!has_error_) {
          has_error_ = true;
          error_ = mapLlhttpError(err, used);
        }
        return failResult(off);
    }
  }
  return {ParseStatus::kNeedMore, off, {}};
}

ParseResult RequestParser::finish() {
  if (state_ != State::kParsing) return feed(nullptr, 0);
  // Requests have no close-delimited bodies: anything but (at most) empty lines is incomplete.
  if (in_head_ && line_.empty()) {
    state_ = State::kDone;
    return {ParseStatus::kDone, 0, {}};
  }
  fail(400, "incomplete-request", "the connection closed in the middle of a request");
  return failResult(0);
}

void RequestParser::resumeAfterUpgrade() {
  if (state_ != State::kUpgraded || last_was_connect_) return;
  llhttp_resume_after_upgrade(&parser_);
  state_ = done_after_message_ ? State::kDone : State::kParsing;
}

bool RequestParser::originFormAllowed(std::string_view target) const {
  for (const std::string& prefix : options_.allow_origin_form_paths) {
    if (!prefix.empty() && target.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

bool RequestParser::checkRequestLine() {
  // llhttp accepts several spaces between the parts and RTSP/ICE protocol names; the proxy
  // accepts exactly the canonical line (RFC 9112 §3).
  std::string expected = head_.method;
  expected += ' ';
  expected += head_.target;
  expected += " HTTP/";
  expected += static_cast<char>('0' + head_.version_major);
  expected += '.';
  expected += static_cast<char>('0' + head_.version_minor);
  expected += "\r\n";
  if (line_ != expected) {
    fail(400, "bad-request-line",
         "the request line must be METHOD SP target SP HTTP/1.x with single spaces");
    return false;
  }
  return true;
}

bool RequestParser::checkTarget() {
  const std::string& target = head_.target;
  if (head_.is_connect) {
    TargetParse p = parseAuthorityForm(target);
    if (!p.ok()) {
      fail(400, targetReason(p, true, target), p.message());
      return false;
    }
    head_.parsed = std::move(*p.target);
    return true;
  }
  if (target == "*") {
    fail(400, "asterisk-form", "asterisk-form (\"*\") requests are not forwarded");
    return false;
  }
  if (!target.empty() && target[0] == '/') {
    if (!originFormAllowed(target)) {
      fail(400, "origin-form",
           "a forward proxy needs an absolute URL (http://host/path) or CONNECT host:port");
      return false;
    }
    for (char c : target) {
      auto u = static_cast<unsigned char>(c);
      if (c == '#') {
        fail(400, "fragment", "the request target contains '#'");
        return false;
      }
      if (u <= 0x20 || u >= 0x7f || c == '\\') {
        fail(400, "bad-target", "the request target contains a byte that is not allowed");
        return false;
      }
    }
    head_.origin_form = true;
    head_.parsed.path = target;
    return true;
  }
  TargetParse p = parseAbsoluteForm(target);
  if (!p.ok()) {
    fail(400, targetReason(p, false, target), p.message());
    return false;
  }
  head_.parsed = std::move(*p.target);
  return true;
}

bool RequestParser::checkHost() {
  const Header* host = head_.find("host");
  if (host == nullptr) {
    // HTTP/1.0 has no Host requirement (the serialiser adds one, A18); a CONNECT's authority is
    // its target and nothing of its head is forwarded.
    if (head_.version_minor == 0 || head_.is_connect) return true;
    fail(400, "missing-host", "HTTP/1.1 requests need a Host header");
    return false;
  }
  std::string message;
  std::optional<HostHeader> hh = parseHostHeader(host->value, &message);
  if (!hh) {
    fail(400, "bad-host", std::move(message));
    return false;
  }
  if (head_.origin_form) {
    head_.parsed.host = std::move(hh->host);
    head_.parsed.port = hh->port.value_or(80);
    head_.parsed.port_explicit = hh->port.has_value();
    return true;
  }
  bool same = hh->host.text == head_.parsed.host.text;
  if (head_.is_connect) {
    // Clients write "Host: host:port" for CONNECT; without a port only the host can be compared.
    same = same && (!hh->port || *hh->port == head_.parsed.port);
  } else {
    uint16_t default_port = head_.parsed.scheme == "https" ? 443 : 80;
    same = same && hh->port.value_or(default_port) == head_.parsed.port;
  }
  if (!same) {
    fail(400, "host-mismatch", "the Host header does not match the request target");
    return false;
  }
  return true;
}

bool RequestParser::checkFraming() {
  if (head_.is_connect && (seen_content_length_ || seen_transfer_encoding_)) {
    fail(400, "connect-body",
         "a CONNECT request has no body (no Content-Length or Transfer-Encoding)");
    return false;
  }
  // Whatever the proxy reports must be how llhttp reads the body that follows.
  const bool ll_chunked = (parser_.flags & F_CHUNKED) != 0;
  const bool ll_length = (parser_.flags & F_CONTENT_LENGTH) != 0;
  if (!head_.is_connect &&
      (ll_chunked != head_.chunked || ll_length != head_.content_length.has_value() ||
       (ll_length && parser_.content_length != *head_.content_length))) {
    fail(400, "framing-mismatch", "the message framing is ambiguous");
    return false;
  }
  if (options_.max_body != 0 && head_.content_length && *head_.content_length > options_.max_body) {
    fail(413, "body-too-large",
         "the request body is larger than " + std::to_string(options_.max_body) + " bytes");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// llhttp callbacks. Checks run only in *_complete callbacks (or on data whose position is
// exact), never on partial spans, so the result does not depend on how input was split.

int RequestParser::onUrl(llhttp_t* p, const char* at, size_t len) {
  self(p).head_.target.append(at, len);
  return 0;
}

int RequestParser::onUrlComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  if (r.head_.target.size() > r.options_.max_target) {
    return r.fail(
        414, "target-too-long",
        "the request target is longer than " + std::to_string(r.options_.max_target) + " bytes");
  }
  return 0;
}

int RequestParser::onMethodComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  switch (static_cast<llhttp_method_t>(p->method)) {
    case HTTP_PRI:
      return r.fail(405, "h2-preface",
                    "HTTP/2 with prior knowledge is not supported; use HTTP/1.1");
    case HTTP_TRACE:
      // TRACE would reflect whatever the proxy adds to the request (G10).
      return r.fail(405, "method-not-allowed", "TRACE is not allowed through the proxy");
    default:
      return 0;
  }
}

int RequestParser::onVersionComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  r.version_seen_ = true;
  if (p->http_major != 1 || p->http_minor > 1) {
    return r.fail(505, "bad-version", "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  return 0;
}

int RequestParser::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  RequestParser& r = self(p);
  if (r.in_head_) {
    r.field_.append(at, len);
  } else {
    r.trailer_bytes_ += len;
  }
  return 0;
}

int RequestParser::onHeaderFieldComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  if (!r.in_head_) {
    // Trailers are counted, never stored or forwarded (F10).
    if (++r.trailer_count_ > r.options_.max_headers ||
        r.trailer_bytes_ > r.options_.max_header_bytes) {
      return r.fail(431, "trailers-too-large", "the chunked body's trailer section is too large");
    }
    return 0;
  }
  if (++r.header_count_ > r.options_.max_headers) {
    return r.fail(
        431, "too-many-headers",
        "the request has more than " + std::to_string(r.options_.max_headers) + " header fields");
  }
  const std::string& name = r.field_;
  if (!r.options_.allow_underscore_headers && name.find('_') != std::string::npos) {
    return r.fail(400, "underscore-header", "header names with '_' are refused");
  }
  if (equalsIgnoreCase(name, "host")) {
    if (r.seen_host_)
      return r.fail(400, "duplicate-host", "the Host header appears more than once");
    r.seen_host_ = true;
  } else if (equalsIgnoreCase(name, "content-length")) {
    if (r.seen_content_length_) {
      return r.fail(400, "duplicate-content-length", "Content-Length appears more than once");
    }
    if (r.seen_transfer_encoding_) {
      return r.fail(400, "te-and-cl", "Content-Length and Transfer-Encoding together are refused");
    }
    r.seen_content_length_ = true;
  } else if (equalsIgnoreCase(name, "transfer-encoding")) {
    if (r.seen_content_length_) {
      return r.fail(400, "te-and-cl", "Content-Length and Transfer-Encoding together are refused");
    }
    if (r.seen_transfer_encoding_) {
      // Two field lines are one list of two codings.
      return r.fail(501, "unsupported-transfer-coding",
                    "only Transfer-Encoding: chunked is supported");
    }
    r.seen_transfer_encoding_ = true;
  } else if (equalsIgnoreCase(name, "expect")) {
    if (r.seen_expect_) return r.fail(417, "expectation-failed", "Expect appears more than once");
    r.seen_expect_ = true;
  }
  return 0;
}

int RequestParser::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  RequestParser& r = self(p);
  if (r.in_head_) {
    r.value_.append(at, len);
  } else {
    r.trailer_bytes_ += len;
  }
  return 0;
}

int RequestParser::onHeaderValueComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  if (!r.in_head_) {
    if (r.trailer_bytes_ > r.options_.max_header_bytes) {
      return r.fail(431, "trailers-too-large", "the chunked body's trailer section is too large");
    }
    return 0;
  }
  const std::string& name = r.field_;
  std::string_view value = trimOws(r.value_);
  if (equalsIgnoreCase(name, "content-length")) {
    std::optional<uint64_t> length = parseContentLength(value);
    if (!length)
      return r.fail(400, "bad-content-length", "Content-Length must be one decimal number");
    r.head_.content_length = length;
  } else if (equalsIgnoreCase(name, "transfer-encoding")) {
    if (p->http_major == 1 && p->http_minor == 0) {
      // RFC 9112 §6.1: the framing of such a message is faulty.
      return r.fail(400, "te-in-http10", "Transfer-Encoding is not allowed in HTTP/1.0");
    }
    // The value as llhttp saw it (leading OWS already skipped): llhttp does not read
    // "chunked " as chunked, so neither does the proxy.
    if (!equalsIgnoreCase(r.value_, "chunked")) {
      return r.fail(501, "unsupported-transfer-coding",
                    "only Transfer-Encoding: chunked is supported");
    }
    r.head_.chunked = true;
  } else if (equalsIgnoreCase(name, "expect")) {
    if (!equalsIgnoreCase(value, "100-continue")) {
      return r.fail(417, "expectation-failed", "only Expect: 100-continue is supported");
    }
  } else if (equalsIgnoreCase(name, "connection")) {
    r.connection_close_ = r.connection_close_ || hasToken(value, "close");
    r.connection_keep_alive_ = r.connection_keep_alive_ || hasToken(value, "keep-alive");
  } else if (equalsIgnoreCase(name, "upgrade")) {
    r.head_.has_upgrade = true;
  }
  r.head_.headers.push_back(Header{std::move(r.field_), std::string(value)});
  r.field_.clear();
  r.value_.clear();
  return 0;
}

int RequestParser::onHeadersComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  r.in_head_ = false;
  ++r.head_generation_;
  if (!r.version_seen_) {
    return r.fail(505, "bad-version", "HTTP/0.9 requests are not supported");
  }
  RequestHead& head = r.head_;
  head.version_major = p->http_major;
  head.version_minor = p->http_minor;
  head.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  head.is_connect = p->method == HTTP_CONNECT;
  if (!r.checkRequestLine() || !r.checkTarget() || !r.checkHost() || !r.checkFraming()) return -1;

  head.keep_alive = head.version_minor == 1 ? !r.connection_close_
                                            : r.connection_keep_alive_ && !r.connection_close_;
  head.expect_continue = r.seen_expect_ && head.version_minor == 1;
  r.message_keep_alive_ = head.keep_alive;
  r.message_is_connect_ = head.is_connect;
  r.chunk_extension_bytes_ = 0;
  r.callbacks_.onRequestHead(std::move(head));
  head = RequestHead{};
  // CONNECT: llhttp ends the message and stops with HPE_PAUSED_UPGRADE right here. Otherwise
  // pause, so feed() knows exactly where the head ended and can stop before the body.
  return r.message_is_connect_ ? 0 : HPE_PAUSED;
}

int RequestParser::onBodyData(llhttp_t* p, const char* at, size_t len) {
  RequestParser& r = self(p);
  const uint64_t max = r.options_.max_body;
  if (max != 0 && len > max - r.body_bytes_) {
    // Deliver up to the cap, so the bytes seen before the error do not depend on chunking.
    auto allowed = static_cast<size_t>(max - r.body_bytes_);
    if (allowed > 0) r.callbacks_.onBody(at, allowed);
    r.body_bytes_ = max;
    r.body_error_at_ = at + allowed;
    r.fail(413, "body-too-large",
           "the request body is larger than " + std::to_string(max) + " bytes");
    return HPE_USER;
  }
  r.body_bytes_ += len;
  r.callbacks_.onBody(at, len);
  return r.paused_ ? HPE_PAUSED : 0;
}

int RequestParser::onMessageCompleteCb(llhttp_t* p) {
  RequestParser& r = self(p);
  const bool keep_alive = r.message_keep_alive_ && llhttp_should_keep_alive(p) != 0;
  const bool upgrade = p->upgrade != 0;
  r.last_was_connect_ = r.message_is_connect_;
  r.callbacks_.onMessageComplete();
  r.resetMessage();
  if (!keep_alive) r.done_after_message_ = true;
  if (upgrade) return 0;
  // Pause so the next head's byte count starts exactly here.
  return HPE_PAUSED;
}

int RequestParser::onChunkExtension(llhttp_t* p, const char* /*at*/, size_t len) {
  self(p).chunk_extension_bytes_ += len;
  return 0;
}

int RequestParser::onChunkExtensionComplete(llhttp_t* p) {
  RequestParser& r = self(p);
  // The ';' or '=' before each name or value counts too, so ";a=b" repeated is 4 bytes each.
  ++r.chunk_extension_bytes_;
  if (r.chunk_extension_bytes_ > r.options_.max_chunk_extension_bytes) {
    return r.fail(413, "chunk-extensions-too-large", "a chunk's extensions are too large");
  }
  return 0;
}

int RequestParser::onChunkHeader(llhttp_t* p) {
  RequestParser& r = self(p);
  r.chunk_extension_bytes_ = 0;
  if (p->content_length == 0) r.in_trailers_ = true;
  return 0;
}

}  // namespace gatehouse::http
