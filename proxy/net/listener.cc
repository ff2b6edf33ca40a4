#include "proxy/net/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatehouse::net {

std::unique_ptr<Listener> Listener::listen(uv_loop_t* loop, const SocketAddress& address,
                                           int backlog, AcceptCallback on_accept,
                                           std::string& error) {
  std::unique_ptr<Listener> l(new Listener(loop, std::move(on_accept), backlog));
  const char* what = "";
  if (int err = l->open(address, &what); err != 0) {
    error = std::string("cannot listen on ") + address.toString() + ": " + what + ": " +
            std::strerror(err);
    return nullptr;
  }
  return l;
}

int Listener::open(const SocketAddress& address, const char** what) {
  // libuv 1.44 has no SO_REUSEPORT flag: create and bind the socket ourselves, then hand it over.
  const int family = address.ip.isV4() ? AF_INET : AF_INET6;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  auto fail = [&](const char* step, int err) {
    *what = step;
    if (fd >= 0) ::close(fd);
    return err;
  };
  if (fd < 0) return fail("socket", errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail("SO_REUSEPORT", errno);
  }
  sockaddr_storage storage;
  socklen_t len = toSockaddr(address, storage);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0) return fail("bind", errno);
  tcp_ = event::UvHandle<uv_tcp_t>();
  if (uv_tcp_init(loop_, tcp_.get()) != 0) return fail("uv_tcp_init", ENOMEM);
  tcp_.markInitialised();
  tcp_->data = this;
  if (int rc = uv_tcp_open(tcp_.get(), fd); rc != 0) return fail("uv_tcp_open", -rc);
  fd = -1;  // the handle owns it now
  if (int rc = uv_listen(tcp_.asStream(), backlog_, &Listener::onConnection); rc != 0) {
    tcp_.close();
    return fail("listen", -rc);
  }
  int name_len = sizeof storage;
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&storage), &name_len) == 0) {
    if (auto bound = fromSockaddr(reinterpret_cast<sockaddr*>(&storage))) address_ = *bound;
  }
  return 0;
}

void Listener::onConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  if (self == nullptr) return;
  if (status == UV_EMFILE || status == UV_ENFILE) {
    self->pause();
    return;
  }
  if (status != 0) return;
  std::unique_ptr<TcpConnection> conn = TcpConnection::accept(server->loop, server);
  if (conn != nullptr) self->on_accept_(std::move(conn));
}

void Listener::pause() {
  // Closing the socket ends libuv's accept loop (its fd is gone) and frees one descriptor.
  tcp_.close();
  if (closed_) return;
  if (!retry_.initialised()) {
    if (uv_timer_init(loop_, retry_.get()) != 0) return;
    retry_.markInitialised();
    retry_->data = this;
  }
  uv_timer_start(retry_.get(), &Listener::onRetry, kEmfilePauseMs, 0);
}

void Listener::onRetry(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Listener*>(timer->data);
  if (self == nullptr || self->closed_) return;
  const char* what = "";
  if (self->open(self->address_, &what) != 0) {
    // Still no descriptor (or the port is briefly unavailable): try again after the pause.
    uv_timer_start(self->retry_.get(), &Listener::onRetry, kEmfilePauseMs, 0);
  }
}

}  // namespace gatehouse::net
