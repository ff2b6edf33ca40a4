// Local endpoints on the proxy listener (SPEC §5, §7): origin-form requests whose path a plugin
// serves (the git path: /git/…, /github/api/…) are answered by that plugin instead of being
// refused with 400. The proxy core parses the request head and the body framing, and the plugin
// sees decoded body bytes and writes the whole response (head and framed body) itself.
//
// The proxy-side session of SPEC §6 (Proxy-Authorization, client address) does not apply here:
// the plugin identifies its client itself (the git path's scoped credential).
//
// Threading and ownership: everything on the worker's loop thread. The ClientConnection owns the
// handler and destroys it through the dispatcher's deferred delete, never inside one of the
// handler's own calls; destroying a handler cancels whatever it started (upstream connections,
// timers). A handler never calls the exchange from its constructor or from open().
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/decision_log.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/message.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::conn {

// What a local handler sees of its client. Implemented by ClientConnection.
class LocalExchange {
 public:
  virtual ~LocalExchange() = default;
  // Queues response bytes for the client, exactly as given (the handler frames its body).
  virtual void send(std::string bytes) = 0;
  // True while the client's write queue is above its high watermark: stop producing response
  // bytes until LocalHandler::onClientWritable().
  virtual bool clientBlocked() const = 0;
  // Backpressure on the request body: while paused, onBody() is not called and the client
  // socket is not read.
  virtual void pauseBody() = 0;
  virtual void resumeBody() = 0;
  // The response is complete (every byte of it was given to send()). With `keep_alive` the
  // connection reads its next request once the request body has also been read completely;
  // without, it closes after flushing. Called at most once per request.
  virtual void complete(bool keep_alive) = 0;
  // Closes the client connection at once (a response cannot be finished, e.g. the upstream
  // failed after its head was relayed). Nothing more is sent.
  virtual void abort() = 0;
  // Writes the request's decision-log line; the core fills client, time, duration, kind
  // ("local"), method and byte counts (bytes_up = request body bytes read, bytes_down = response
  // bytes sent). At most once per request; a request that ends without one is logged by the
  // core as "client-gone".
  virtual void log(common::DecisionRecord record) = 0;
  virtual const std::optional<net::SocketAddress>& clientAddress() const = 0;
  virtual event::Dispatcher& dispatcher() = 0;
};

// One request on a local endpoint.
class LocalHandler : public event::DeferredDeletable {
 public:
  // Called once, right after open() returned the handler; may use the exchange (even complete()).
  virtual void start() = 0;
  // Decoded request body bytes (chunked framing removed), in order.
  virtual void onBody(const char* data, size_t len) = 0;
  // The request body ended (at once after start() for a request without one).
  virtual void onBodyComplete() = 0;
  // The client's write queue drained below its low watermark after clientBlocked().
  virtual void onClientWritable() = 0;
};

class LocalEndpoints {
 public:
  virtual ~LocalEndpoints() = default;
  // Path prefixes served, e.g. {"/git/", "/github/api/"}: the request parser accepts origin-form
  // requests under them (every other origin-form request is answered 400 by the core).
  virtual std::vector<std::string> prefixes() const = 0;
  // Loop thread. The handler for `head` (origin-form, under one of prefixes()); it answers every
  // request it is given, refusals included. `exchange` outlives the handler.
  virtual std::unique_ptr<LocalHandler> open(const http::RequestHead& head,
                                             LocalExchange& exchange) = 0;
};

}  // namespace gatehouse::conn
