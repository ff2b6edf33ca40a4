#include "control/admin_server.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "proxy/http/message.h"
#include "proxy/http/request_parser.h"
#include "proxy/http/responses.h"

namespace gatehouse::control {

namespace {

constexpr int kBacklog = 128;
// After the final response of a connection the server sends FIN and keeps reading, dropping the
// bytes, until the client closes too: closing a socket with unread bytes sends RST, which can
// destroy the response before the client has read it (a 413 answered while the body is still
// arriving). Bounded in time and bytes, so a client cannot keep the connection this way.
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr size_t kLingerMaxBytes = size_t{1} << 20;

constexpr std::string_view kInternalError = "internal error";

// RFC 9110 §5.6.2 tchar.
bool isTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool validName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return isTokenChar(static_cast<unsigned char>(c));
  });
}

// Field content: no control byte but HTAB (so no CR, LF or NUL: a value cannot split the head).
bool validValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

// Headers the server writes itself: from a handler they would contradict the framing or the
// fixed security headers.
bool reservedName(std::string_view name) {
  for (std::string_view reserved :
       {"content-type", "content-length", "transfer-encoding", "connection", "keep-alive",
        "upgrade", "te", "trailer", "cache-control", "x-content-type-options"}) {
    if (http::equalsIgnoreCase(name, reserved)) return true;
  }
  return false;
}

AdminResponse errorResponse(int status, std::string_view message) {
  nlohmann::json body = nlohmann::json::object();
  body["error"] = std::string(message);
  AdminResponse r;
  r.status = status;
  r.content_type = "application/json";
  // The messages are ASCII sentences of ours; replace rather than throw if one ever is not.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string serialize(const AdminResponse& r, bool head_request, bool close) {
  // 204 and 304 have no body and are sent without framing or Content-Type.
  const bool no_content = r.status == 204 || r.status == 304;
  std::string out;
  out.reserve(256 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http::statusText(r.status);
  out += "\r\n";
  if (!no_content) {
    if (!r.content_type.empty() && validValue(r.content_type)) {
      out += "Content-Type: ";
      out += r.content_type;
      out += "\r\n";
    }
    // HEAD: the length of what GET would send.
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : r.headers) {
    if (!validName(name) || !validValue(value) || reservedName(name)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!no_content && !head_request) out += r.body;
  return out;
}

std::string bodyTooLarge(size_t max) {
  return "the request body is larger than " + std::to_string(max) + " bytes";
}

}  // namespace

// One connection of the admin listener.
//
// Ownership: held by the AdminServer; finish() hands it back (AdminServer::release), and the
// dispatcher destroys it after the current callback. After abort() (the server closing) it never
// touches the server again, so the server may be gone by the time it is destroyed.
class AdminConnection final : public event::DeferredDeletable,
                              public net::TcpConnection::Callbacks,
                              public http::RequestParser::Callbacks {
 public:
  AdminConnection(AdminServer& server, std::unique_ptr<net::TcpConnection> connection)
      : server_(server),
        handler_(server.handler_),
        options_(server.options_),
        conn_(std::move(connection)),
        parser_(*this, parserOptions(options_)),
        timer_(server.dispatcher_.createTimer([this] { onTimer(); })) {
    conn_->setCallbacks(this);
  }
  ~AdminConnection() override { conn_->setCallbacks(nullptr); }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  void start() {
    conn_->startReading();
    armTimer();
  }

  // Over the connection limit: 503 and close, without reading a byte.
  void reject() {
    rejected_ = true;
    AdminResponse r = errorResponse(503, "too many admin connections");
    r.headers.emplace_back("Retry-After", "1");
    conn_->write(serialize(r, false, true));
    state_ = State::kClosing;
    conn_->shutdownWrite();
    armTimer();
  }

  // The server is closing: close the socket now, without calling back into the server.
  void abort() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    timer_->disable();
    conn_->close();
  }

  bool rejected() const { return rejected_; }

 private:
  enum class State : uint8_t {
    kReading,  // requests are read and answered
    kClosing,  // the final response is written and FIN queued; waiting for the client's FIN
    kClosed,
  };
  // What timer_ is armed for.
  enum class Wait : uint8_t {
    kNone,
    kIdle,          // between requests: idle_timeout_ms, then close silently
    kRequest,       // from a request's first byte: header_timeout_ms for head and body, then 408
    kWriteBlocked,  // the client does not read its responses: idle_timeout_ms, then close
    kLinger,        // closing: kLingerTimeout, then close
  };

  static http::RequestParserOptions parserOptions(const AdminServerOptions& options) {
    http::RequestParserOptions o;
    o.allow_origin_form_paths = {"/"};
    // 0 means "unlimited" to the parser; onBody() enforces the limit in that case.
    o.max_body = options.max_body_bytes;
    return o;
  }

  // ---- net::TcpConnection::Callbacks ----

  void onData(net::TcpConnection&, const char* data, size_t len) override {
    if (state_ == State::kClosing) {
      lingered_ += len;
      if (lingered_ > kLingerMaxBytes) finish();
      return;
    }
    if (state_ != State::kReading) return;
    pending_.append(data, len);
    processInput();
  }

  void onEndOfStream(net::TcpConnection&) override {
    peer_eof_ = true;
    if (state_ == State::kClosing) {
      // Closing before the response has been written would lose it.
      if (conn_->writeShutdownDone()) finish();
      return;
    }
    if (state_ == State::kReading) processInput();
  }

  void onError(net::TcpConnection&, int) override { finish(); }

  void onWritable(net::TcpConnection&) override {
    if (state_ != State::kReading || !write_blocked_) return;
    // The client read its responses: go on with the pipelined requests.
    write_blocked_ = false;
    timer_->disable();
    wait_ = Wait::kNone;
    if (!peer_eof_) conn_->startReading();
    parser_.resume();
    processInput();
  }

  void onWriteShutdownDone(net::TcpConnection&) override {
    if (state_ == State::kClosing && (peer_eof_ || rejected_)) finish();
  }

  // ---- http::RequestParser::Callbacks (only record and pause; processInput() acts) ----

  void onRequestHead(http::RequestHead&& head) override {
    parser_.pause();  // check the head before any body byte is read
    head_ = std::move(head);
    head_ready_ = true;
  }

  void onBody(const char* data, size_t len) override {
    if (body_too_large_) return;
    if (len > options_.max_body_bytes - request_.body.size()) {
      body_too_large_ = true;
      parser_.pause();
      return;
    }
    request_.body.append(data, len);
  }

  void onMessageComplete() override {
    parser_.pause();  // one request at a time: a pipelined one waits until this one is answered
    request_complete_ = true;
  }

  // ---- the request loop ----

  void processInput() {
    while (state_ == State::kReading && !write_blocked_) {
      const http::ParseResult r = parser_.feed(pending_.data(), pending_.size());
      pending_.erase(0, r.consumed);
      if (r.failed()) {
        fail(r.error.status, r.error.message);
        return;
      }
      if (head_ready_) {
        head_ready_ = false;
        if (!acceptHead()) return;
        parser_.resume();
        continue;  // the body, or the end of a request without one
      }
      if (body_too_large_) {
        fail(413, bodyTooLarge(options_.max_body_bytes));
        return;
      }
      if (r.status == http::ParseStatus::kUpgrade) {
        // Not reached (upgrades are off and CONNECT is refused at its head); never pass the
        // bytes after it on as HTTP.
        fail(400, "the request cannot be served here");
        return;
      }
      if (!request_complete_) break;  // every byte is consumed: wait for more
      const bool close =
          r.status == http::ParseStatus::kDone || !head_->keep_alive || head_->version_minor == 0;
      respond(close);
      if (state_ != State::kReading) return;
      resetRequest();
      if (conn_->aboveHighWatermark()) {
        // The client is not reading its responses: parse nothing more until it does.
        write_blocked_ = true;
        conn_->stopReading();
        break;
      }
      parser_.resume();
    }
    if (state_ != State::kReading) return;
    if (peer_eof_ && !write_blocked_) {
      onPeerDone();
      return;
    }
    armTimer();
  }

  // Checks a head the parser accepted; false when it was answered with an error.
  bool acceptHead() {
    const http::RequestHead& h = *head_;
    if (h.is_connect) {
      fail(400, "CONNECT is not served: the admin listener is not a proxy");
      return false;
    }
    if (!h.origin_form) {
      fail(400, "the request target must be a path: the admin listener is not a proxy");
      return false;
    }
    if (h.content_length && *h.content_length > options_.max_body_bytes) {
      fail(413, bodyTooLarge(options_.max_body_bytes));
      return false;
    }
    const http::Header* authorization = nullptr;
    const http::Header* content_type = nullptr;
    for (const http::Header& header : h.headers) {
      const bool is_authorization = http::equalsIgnoreCase(header.name, "authorization");
      const bool is_content_type = http::equalsIgnoreCase(header.name, "content-type");
      // Two values of either would leave it to chance which one the handler checks.
      if ((is_authorization && authorization != nullptr) ||
          (is_content_type && content_type != nullptr)) {
        fail(400, is_authorization ? "the Authorization header appears more than once"
                                   : "the Content-Type header appears more than once");
        return false;
      }
      if (is_authorization) authorization = &header;
      if (is_content_type) content_type = &header;
    }
    request_.method = h.method;
    const size_t question = h.target.find('?');
    request_.path = h.target.substr(0, question);
    request_.query = question == std::string::npos ? "" : h.target.substr(question + 1);
    if (authorization != nullptr) request_.authorization = authorization->value;
    if (content_type != nullptr) request_.content_type = content_type->value;
    request_.peer = conn_->peer();
    if (h.expect_continue && (h.chunked || h.content_length.value_or(0) > 0)) {
      conn_->write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    return true;
  }

  void respond(bool close) {
    AdminResponse response;
    // The handler may close or destroy the server: handler_ keeps the callable alive, and after
    // it returns nothing but this connection's own state is used.
    try {
      response = (*handler_)(request_);
    } catch (const std::exception&) {
      response = errorResponse(500, kInternalError);
    } catch (...) {
      response = errorResponse(500, kInternalError);
    }
    if (state_ != State::kReading) return;
    if (response.status < 200 || response.status > 599) {
      response = errorResponse(500, kInternalError);
    }
    writeResponse(response, close);
  }

  void writeResponse(const AdminResponse& response, bool close) {
    const bool head_request = head_ && head_->method == "HEAD";
    conn_->write(serialize(response, head_request, close));
    if (close) startClosing();
  }

  // An error the server answers itself; the connection closes after it.
  void fail(int status, std::string_view message) {
    if (state_ != State::kReading) return;
    writeResponse(errorResponse(status, message), true);
  }

  void resetRequest() {
    head_.reset();
    request_ = AdminRequest{};
    request_complete_ = false;
    body_too_large_ = false;
    // The next request gets its own deadline, from its own first byte.
    timer_->disable();
    wait_ = Wait::kNone;
  }

  // The client sent FIN and every byte before it has been handled.
  void onPeerDone() {
    const http::ParseResult r = parser_.finish();
    if (r.failed()) {
      fail(r.error.status, r.error.message);  // it ended in the middle of a request
      return;
    }
    startClosing();
  }

  void startClosing() {
    state_ = State::kClosing;
    pending_.clear();
    conn_->shutdownWrite();
    if (!peer_eof_) conn_->startReading();  // lingering: read and drop until the client's FIN
    armTimer();
  }

  void armTimer() {
    switch (state_) {
      case State::kClosing:
        if (wait_ != Wait::kLinger) timer_->enable(kLingerTimeout);
        wait_ = Wait::kLinger;
        return;
      case State::kClosed:
        timer_->disable();
        wait_ = Wait::kNone;
        return;
      case State::kReading:
        break;
    }
    if (write_blocked_) {
      if (wait_ != Wait::kWriteBlocked) {
        timer_->enable(std::chrono::milliseconds(options_.idle_timeout_ms));
      }
      wait_ = Wait::kWriteBlocked;
    } else if (parser_.idle() && pending_.empty() && !head_) {
      if (wait_ != Wait::kIdle) timer_->enable(std::chrono::milliseconds(options_.idle_timeout_ms));
      wait_ = Wait::kIdle;
    } else if (wait_ != Wait::kRequest) {
      // Slowloris: armed once at the request's first byte, never pushed back.
      timer_->enable(std::chrono::milliseconds(options_.header_timeout_ms));
      wait_ = Wait::kRequest;
    }
  }

  void onTimer() {
    switch (std::exchange(wait_, Wait::kNone)) {
      case Wait::kRequest:
        fail(408, "the request did not arrive in time");
        return;
      case Wait::kIdle:
      case Wait::kWriteBlocked:
      case Wait::kLinger:
        finish();
        return;
      case Wait::kNone:
        return;
    }
  }

  void finish() {
    if (state_ == State::kClosed) return;
    abort();
    server_.release(this);
  }

  AdminServer& server_;
  std::shared_ptr<const AdminHandler> handler_;
  const AdminServerOptions options_;
  std::unique_ptr<net::TcpConnection> conn_;
  http::RequestParser parser_;
  event::TimerPtr timer_;
  State state_ = State::kReading;
  Wait wait_ = Wait::kNone;
  bool rejected_ = false;
  bool peer_eof_ = false;
  bool write_blocked_ = false;
  std::string pending_;  // bytes read and not yet consumed by the parser
  size_t lingered_ = 0;  // bytes dropped while closing

  // The current request.
  std::optional<http::RequestHead> head_;
  bool head_ready_ = false;  // onRequestHead ran; processInput() has not checked it yet
  bool request_complete_ = false;
  bool body_too_large_ = false;
  AdminRequest request_;
};

// ---- the server ---------------------------------------------------------------------------------

AdminServer::AdminServer(event::Dispatcher& dispatcher, AdminHandler handler,
                         AdminServerOptions options)
    : dispatcher_(dispatcher),
      handler_(std::make_shared<const AdminHandler>(std::move(handler))),
      options_(options) {}

std::unique_ptr<AdminServer> AdminServer::listen(event::Dispatcher& dispatcher,
                                                 const net::SocketAddress& address,
                                                 AdminHandler handler, AdminServerOptions options,
                                                 std::string& error) {
  const char* invalid = nullptr;
  if (!handler) {
    invalid = "no request handler";
  } else if (options.header_timeout_ms <= 0) {
    invalid = "header_timeout_ms must be positive";
  } else if (options.idle_timeout_ms <= 0) {
    invalid = "idle_timeout_ms must be positive";
  } else if (options.max_connections <= 0) {
    invalid = "max_connections must be positive";
  }
  if (invalid != nullptr) {
    error = "cannot listen on " + address.toString() + ": " + invalid;
    return nullptr;
  }
  std::unique_ptr<AdminServer> server(new AdminServer(dispatcher, std::move(handler), options));
  AdminServer* raw = server.get();
  server->listener_ = net::Listener::listen(
      dispatcher.loop(), address, kBacklog,
      [raw](std::unique_ptr<net::TcpConnection> c) { raw->onAccept(std::move(c)); }, error);
  if (server->listener_ == nullptr) return nullptr;
  server->address_ = server->listener_->address();
  return server;
}

AdminServer::~AdminServer() { close(); }

void AdminServer::onAccept(std::unique_ptr<net::TcpConnection> connection) {
  if (listener_ == nullptr) return;
  if (active_ >= options_.max_connections) {
    // A flood: beyond this, connections are closed without even the 503.
    if (rejected_ >= options_.max_connections) return;
    ++rejected_;
    auto c = std::make_unique<AdminConnection>(*this, std::move(connection));
    AdminConnection* raw = c.get();
    connections_.push_back(std::move(c));
    raw->reject();
    return;
  }
  ++active_;
  auto c = std::make_unique<AdminConnection>(*this, std::move(connection));
  AdminConnection* raw = c.get();
  connections_.push_back(std::move(c));
  raw->start();
}

void AdminServer::release(AdminConnection* connection) {
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->get() == connection) {
      --(connection->rejected() ? rejected_ : active_);
      dispatcher_.deferredDelete(std::move(*it));
      connections_.erase(it);
      return;
    }
  }
}

void AdminServer::close() {
  listener_.reset();
  // abort() does not call back into release(), so the list is not changed while walked; a
  // connection inside one of its callbacks (the handler closing the server) stays alive until
  // that callback returns.
  std::vector<std::unique_ptr<AdminConnection>> all = std::move(connections_);
  connections_.clear();
  active_ = 0;
  rejected_ = 0;
  for (std::unique_ptr<AdminConnection>& c : all) {
    c->abort();
    dispatcher_.deferredDelete(std::move(c));
  }
}

}  // namespace gatehouse::control
