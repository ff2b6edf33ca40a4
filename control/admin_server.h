// The admin listener's HTTP/1.1 server: transport only. It accepts connections, parses requests
// with the proxy's strict parser (origin-form targets only: the admin listener is not a proxy),
// hands every complete request to one AdminHandler and writes what it returns. The control
// API's routes live in that handler, not here.
//
//   accept ─► (over max_connections: 503, close, nothing read) ─► parse head ─► origin-form?
//   (absolute-form, CONNECT: 400) ─► body, whole, up to max_body_bytes (413) ─► handler ─►
//   response ─► next request on the same connection, or close (HTTP/1.0, Connection: close,
//   any error the server answers itself)
//
// Requests on one connection are answered one at a time, in order; pipelined requests wait,
// unparsed, until the previous response is written. Errors the server produces itself are
// JSON, {"error":"<short sentence>"}, and never echo request bytes. A handler that throws is
// answered 500 {"error":"internal error"}; the server keeps serving.
//
// Timeouts per connection: a request (head and body) must arrive within header_timeout_ms of
// its first byte (408, close); an idle keep-alive connection closes silently after
// idle_timeout_ms.
//
// Lifetime (STYLE "libuv lifetime"): connections are owned by the server and handed to
// dispatcher.deferredDelete() when they end. The server may be destroyed at any time, also from
// inside the handler: every connection is closed then, and nothing of the server is touched
// afterwards.
//
// Threading: everything, the handler included, runs on the dispatcher's loop thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/net/listener.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::control {

struct AdminRequest {
  std::string method;         // "GET", "POST", ...
  std::string path;           // the target's path, percent-decoding NOT applied, without the query
  std::string query;          // after '?', "" if none
  std::string authorization;  // the Authorization header value, "" if absent
  std::string content_type;   // "" if absent
  std::string body;           // the whole request body (bounded by options.max_body_bytes)
  std::optional<net::SocketAddress> peer;
};

struct AdminResponse {
  int status = 200;  // 200..599; anything else is answered 500 {"error":"internal error"}
  // "" sends no Content-Type. 204 and 304 are sent without Content-Type, Content-Length and body.
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (WWW-Authenticate, Allow, ...). A header whose name is not an RFC 9110 token
  // or whose value holds CR, LF, NUL or another control byte but HTAB is not sent; neither are
  // the headers the server writes itself (Content-Type, Content-Length, Transfer-Encoding,
  // Connection, Keep-Alive, Upgrade, TE, Trailer, Cache-Control, X-Content-Type-Options).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called on the loop thread, synchronously, once per complete request. It may throw (the
// request is answered 500) and may close or destroy the server.
using AdminHandler = std::function<AdminResponse(const AdminRequest&)>;

struct AdminServerOptions {
  size_t max_body_bytes = 1 << 20;  // more -> 413 JSON error, connection closed
  int header_timeout_ms = 10000;    // head + body must arrive within this -> 408, close
  int idle_timeout_ms = 60000;      // keep-alive idle -> close silently
  int max_connections = 64;         // beyond: 503 JSON error, close, without reading
};

class AdminConnection;

class AdminServer final {
 public:
  // Binds and listens on `dispatcher`'s loop; nullptr + `error` (a sentence naming the address)
  // on failure, also for an empty handler or a non-positive timeout or connection limit. On the
  // loop thread, or before the loop runs. The socket is bound by net::Listener, which sets
  // SO_REUSEPORT: another process of the same user could bind the same address too.
  static std::unique_ptr<AdminServer> listen(event::Dispatcher& dispatcher,
                                             const net::SocketAddress& address,
                                             AdminHandler handler, AdminServerOptions options,
                                             std::string& error);
  // Closes the listener and every connection.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound address (the real port when asked for port 0).
  const net::SocketAddress& address() const { return address_; }
  // Stops accepting and closes every connection now (responses not yet written are lost).
  // Idempotent; afterwards the server holds no libuv handle, so the loop can be closed before
  // the server is destroyed.
  void close();

 private:
  friend class AdminConnection;

  AdminServer(event::Dispatcher& dispatcher, AdminHandler handler, AdminServerOptions options);
  void onAccept(std::unique_ptr<net::TcpConnection> connection);
  // A connection has ended: forgotten now, destroyed after the current callback.
  void release(AdminConnection* connection);

  event::Dispatcher& dispatcher_;
  // Shared with the connections, so a handler that destroys the server is not destroyed while
  // it runs.
  std::shared_ptr<const AdminHandler> handler_;
  AdminServerOptions options_;
  std::unique_ptr<net::Listener> listener_;
  net::SocketAddress address_;
  std::vector<std::unique_ptr<AdminConnection>> connections_;
  int active_ = 0;    // connections being served
  int rejected_ = 0;  // connections being sent the 503
};

}  // namespace gatehouse::control
