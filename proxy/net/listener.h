// A TCP listener of one worker loop. Several workers listen on the same address with
// SO_REUSEPORT, and the kernel spreads connections between them.
//
// Out of file descriptors (EMFILE/ENFILE): libuv's spare-fd trick does not hold when several
// loops share the process (another worker takes the freed descriptor), and libuv then reports
// the error in a loop without returning. The listener sheds load instead: it closes its socket
// (pending connections go to the other workers' sockets or are refused) and listens again on
// the same address after a pause, so a worker never spins and recovers once descriptors are
// free.
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
  ~Listener() { close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound address (the real port when asked for port 0).
  const SocketAddress& address() const { return address_; }
  void close() {
    closed_ = true;
    tcp_.close();
    retry_.close();
  }
  // How long the listener pauses after running out of file descriptors.
  static constexpr uint64_t kEmfilePauseMs = 100;

 private:
  Listener(uv_loop_t* loop, AcceptCallback on_accept, int backlog)
      : loop_(loop), on_accept_(std::move(on_accept)), backlog_(backlog) {}
  // socket, SO_REUSEPORT, bind, listen on `address`; 0 or an errno, `what` naming the step.
  int open(const SocketAddress& address, const char** what);
  void pause();
  static void onConnection(uv_stream_t* server, int status) noexcept;
  static void onRetry(uv_timer_t* timer) noexcept;

  uv_loop_t* loop_;
  event::UvHandle<uv_tcp_t> tcp_;
  event::UvHandle<uv_timer_t> retry_;
  AcceptCallback on_accept_;
  int backlog_;
  SocketAddress address_;
  bool closed_ = false;
};

}  // namespace gatehouse::net
