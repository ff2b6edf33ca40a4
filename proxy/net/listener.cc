#include "proxy/net/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatehouse::net {

std::unique_ptr<Listener> Listener::listen(uv_loop_t* loop, const SocketAddress& address,
                                           int backlog, AcceptCallback on_accept,
                                           std::string& error) {
  std::unique_ptr<Listener> l(new Listener(std::move(on_accept)));
  auto fail = [&](const char* what, int err) -> std::unique_ptr<Listener> {
    error = std::string("cannot listen on ") + address.toString() + ": " + what + ": " +
            std::strerror(err);
    return nullptr;
  };
  // libuv 1.44 has no SO_REUSEPORT flag: create and bind the socket ourselves, then hand it over.
  const int family = address.ip.isV4() ? AF_INET : AF_INET6;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    ::close(fd);
    return fail("SO_REUSEPORT", err);
  }
  sockaddr_storage storage;
  socklen_t len = toSockaddr(address, storage);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0) {
    int err = errno;
    ::close(fd);
    return fail("bind", err);
  }
  if (uv_tcp_init(loop, l->tcp_.get()) != 0) {
    ::close(fd);
    return fail("uv_tcp_init", ENOMEM);
  }
  l->tcp_.markInitialised();
  l->tcp_->data = l.get();
  if (int rc = uv_tcp_open(l->tcp_.get(), fd); rc != 0) {
    ::close(fd);
    return fail("uv_tcp_open", -rc);
  }
  if (int rc = uv_listen(l->tcp_.asStream(), backlog, &Listener::onConnection); rc != 0) {
    return fail("listen", -rc);
  }
  int name_len = sizeof storage;
  if (uv_tcp_getsockname(l->tcp_.get(), reinterpret_cast<sockaddr*>(&storage), &name_len) == 0) {
    if (auto bound = fromSockaddr(reinterpret_cast<sockaddr*>(&storage))) l->address_ = *bound;
  }
  return l;
}

void Listener::onConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  // On EMFILE libuv itself accepts and drops pending connections (its reserve-fd trick), so
  // there is no busy loop here; the status is simply not a connection.
  if (self == nullptr || status != 0) return;
  std::unique_ptr<TcpConnection> conn = TcpConnection::accept(server->loop, server);
  if (conn != nullptr) self->on_accept_(std::move(conn));
}

}  // namespace gatehouse::net
