// A TCP listener of one worker loop. Several workers listen on the same address with
// SO_REUSEPORT, and the kernel spreads connections between them.
//
// Threading: the loop thread. onAccept runs from the loop for every accepted connection.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "proxy/event/uv_handle.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::net {

class Listener final {
 public:
  using AcceptCallback = std::function<void(std::unique_ptr<TcpConnection>)>;

  // Binds (SO_REUSEADDR + SO_REUSEPORT) and listens. On failure returns nullptr and sets
  // `error` to a sentence naming the address and the system error.
  static std::unique_ptr<Listener> listen(uv_loop_t* loop, const SocketAddress& address,
                                          int backlog, AcceptCallback on_accept,
                                          std::string& error);
  ~Listener() { tcp_.close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound address (the real port when asked for port 0).
  const SocketAddress& address() const { return address_; }
  void close() { tcp_.close(); }

 private:
  explicit Listener(AcceptCallback on_accept) : on_accept_(std::move(on_accept)) {}
  static void onConnection(uv_stream_t* server, int status) noexcept;

  event::UvHandle<uv_tcp_t> tcp_;
  AcceptCallback on_accept_;
  SocketAddress address_;
};

}  // namespace gatehouse::net
