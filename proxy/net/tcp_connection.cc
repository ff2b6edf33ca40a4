#include "proxy/net/tcp_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

#include "policy/host.h"

namespace gatehouse::net {

namespace {

// Reads are consumed inside the read callback, so one buffer per loop thread serves every
// connection of that loop: an idle connection costs no read buffer at all.
constexpr size_t kReadBuffer = 64 * 1024;
thread_local std::array<char, kReadBuffer> tl_read_buffer;

}  // namespace

std::string SocketAddress::toString() const {
  return (ip.isV6() ? "[" + ip.toString() + "]" : ip.toString()) + ":" + std::to_string(port);
}

std::optional<SocketAddress> fromSockaddr(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  SocketAddress out;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    out.ip = policy::IpAddress::v4(ntohl(in->sin_addr.s_addr));
    out.port = ntohs(in->sin_port);
    return out;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::array<uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6->sin6_addr, 16);
    out.ip = policy::IpAddress::v6(bytes);
    out.port = ntohs(in6->sin6_port);
    return out;
  }
  return std::nullopt;
}

socklen_t toSockaddr(const SocketAddress& address, sockaddr_storage& storage) {
  std::memset(&storage, 0, sizeof storage);
  if (address.ip.isV4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(address.port);
    in->sin_addr.s_addr = htonl(address.ip.v4Value());
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(address.port);
  std::memcpy(&in6->sin6_addr, address.ip.bytes(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<SocketAddress> parseSocketAddress(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  SocketAddress out;
  if (port_text == "0") {
    out.port = 0;
  } else {
    auto port = policy::parsePort(port_text);
    if (!port) return std::nullopt;
    out.port = *port;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto ip = policy::IpAddress::parseV6(host.substr(1, host.size() - 2));
    if (!ip) return std::nullopt;
    out.ip = *ip;
    return out;
  }
  auto ip = policy::IpAddress::parseV4(host);
  if (!ip) return std::nullopt;
  out.ip = *ip;
  return out;
}

struct TcpConnection::WriteReq {
  uv_write_t req{};
  std::string data;
};

struct TcpConnection::ConnectReq {
  uv_connect_t req{};
};

TcpConnection::TcpConnection(uv_loop_t* loop) {
  if (uv_tcp_init(loop, tcp_.get()) == 0) {
    tcp_.markInitialised();
    tcp_->data = this;
  }
}

TcpConnection::~TcpConnection() { close(); }

std::unique_ptr<TcpConnection> TcpConnection::accept(uv_loop_t* loop, uv_stream_t* server) {
  std::unique_ptr<TcpConnection> conn(new TcpConnection(loop));
  if (conn->tcp_.closed() || uv_accept(server, conn->tcp_.asStream()) != 0) return nullptr;
  uv_tcp_nodelay(conn->tcp_.get(), 1);
  conn->fillAddresses();
  return conn;
}

std::unique_ptr<TcpConnection> TcpConnection::connect(uv_loop_t* loop, const SocketAddress& to,
                                                      std::function<void(int)> done) {
  std::unique_ptr<TcpConnection> conn(new TcpConnection(loop));
  if (conn->tcp_.closed()) return nullptr;
  conn->connect_done_ = std::move(done);
  conn->peer_ = to;  // known: no getpeername once connected
  sockaddr_storage storage;
  toSockaddr(to, storage);
  auto* req = new ConnectReq();
  int rc = uv_tcp_connect(&req->req, conn->tcp_.get(), reinterpret_cast<const sockaddr*>(&storage),
                          &TcpConnection::onConnect);
  if (rc != 0) {
    delete req;
    return nullptr;
  }
  uv_tcp_nodelay(conn->tcp_.get(), 1);
  return conn;
}

void TcpConnection::fillAddresses() {
  sockaddr_storage storage;
  int len = sizeof storage;
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(&storage), &len) == 0) {
    peer_ = fromSockaddr(reinterpret_cast<sockaddr*>(&storage));
  }
}

const std::optional<SocketAddress>& TcpConnection::local() const {
  // Asked for rarely: a getsockname per connection only when someone wants it.
  if (!local_ && !local_asked_ && !tcp_.closed()) {
    local_asked_ = true;
    sockaddr_storage storage;
    int len = sizeof storage;
    if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&storage), &len) == 0) {
      local_ = fromSockaddr(reinterpret_cast<sockaddr*>(&storage));
    }
  }
  return local_;
}

void TcpConnection::onConnect(uv_connect_t* req, int status) noexcept {
  auto* owner = static_cast<TcpConnection*>(req->handle->data);
  delete reinterpret_cast<ConnectReq*>(req);
  if (owner == nullptr) return;  // closed while connecting
  auto done = std::move(owner->connect_done_);
  if (done) done(status);  // may destroy owner
}

void TcpConnection::startReading() {
  if (tcp_.closed() || reading_) return;
  if (uv_read_start(tcp_.asStream(), &TcpConnection::onAlloc, &TcpConnection::onRead) == 0) {
    reading_ = true;
  }
}

void TcpConnection::stopReading() {
  if (tcp_.closed() || !reading_) return;
  uv_read_stop(tcp_.asStream());
  reading_ = false;
}

void TcpConnection::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
  buf->base = tl_read_buffer.data();
  buf->len = tl_read_buffer.size();
}

void TcpConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpConnection*>(stream->data);
  if (self == nullptr || self->callbacks_ == nullptr) return;
  if (nread > 0) {
    self->bytes_read_ += static_cast<uint64_t>(nread);
    self->callbacks_->onData(*self, buf->base, static_cast<size_t>(nread));
    return;
  }
  if (nread == UV_EOF) {
    self->stopReading();
    self->callbacks_->onEndOfStream(*self);
    return;
  }
  if (nread < 0) {
    self->stopReading();
    self->callbacks_->onError(*self, static_cast<int>(nread));
  }
}

bool TcpConnection::write(std::string_view data) {
  if (tcp_.closed() || write_shutdown_) return false;
  if (data.empty()) return true;
  if (queued_ == 0 && !tryWrite(data)) return true;
  return queue(std::string(data));
}

bool TcpConnection::write(std::string&& data) {
  if (tcp_.closed() || write_shutdown_) return false;
  if (data.empty()) return true;
  if (queued_ == 0) {
    std::string_view rest = data;
    if (!tryWrite(rest)) return true;
    if (rest.size() != data.size()) data.erase(0, data.size() - rest.size());
  }
  return queue(std::move(data));
}

// Nothing is queued: write at once. uv_write would arm and disarm the write watcher (an epoll_ctl
// per burst); uv_try_write does not. True when bytes are left for queue(); errors are left to the
// queued write, which reports them from the loop (never inline).
bool TcpConnection::tryWrite(std::string_view& data) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  const int n = uv_try_write(tcp_.asStream(), &buf, 1);
  if (n <= 0) return true;
  bytes_written_ += static_cast<uint64_t>(n);
  data.remove_prefix(static_cast<size_t>(n));
  return !data.empty();
}

bool TcpConnection::queue(std::string&& data) {
  auto* req = new WriteReq();
  req->data = std::move(data);
  uv_buf_t buf = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
  const size_t size = req->data.size();
  if (uv_write(&req->req, tcp_.asStream(), &buf, 1, &TcpConnection::onWrite) != 0) {
    delete req;
    return false;
  }
  queued_ += size;
  if (queued_ >= high_watermark_) above_high_ = true;
  return true;
}

void TcpConnection::onWrite(uv_write_t* req, int status) noexcept {
  auto* w = reinterpret_cast<WriteReq*>(req);
  const size_t size = w->data.size();
  // handle->data is cleared at close: status 0 after close proves nothing about the owner.
  auto* self = static_cast<TcpConnection*>(req->handle->data);
  delete w;
  if (self == nullptr) return;
  self->queued_ -= size;
  if (status == 0) {
    self->bytes_written_ += size;
  } else if (self->callbacks_ != nullptr) {
    self->callbacks_->onError(*self, status);
    return;
  }
  if (self->above_high_ && self->queued_ <= self->low_watermark_) {
    self->above_high_ = false;
    if (self->callbacks_ != nullptr) self->callbacks_->onWritable(*self);
  }
}

void TcpConnection::shutdownWrite() {
  if (tcp_.closed() || write_shutdown_) return;
  write_shutdown_ = true;
  auto* req = new uv_shutdown_t();
  if (uv_shutdown(req, tcp_.asStream(), &TcpConnection::onShutdown) != 0) delete req;
}

void TcpConnection::onShutdown(uv_shutdown_t* req, int status) noexcept {
  auto* self = static_cast<TcpConnection*>(req->handle->data);
  delete req;
  if (self == nullptr) return;
  self->write_shutdown_done_ = true;
  if (self->callbacks_ == nullptr) return;
  if (status == 0) {
    self->callbacks_->onWriteShutdownDone(*self);
  } else {
    self->callbacks_->onError(*self, status);
  }
}

void TcpConnection::close(bool reset) {
  if (tcp_.closed()) return;
  reading_ = false;
  if (reset) {
    // uv_tcp_close_reset closes the handle itself; hand it the struct's ownership the same way.
    uv_tcp_t* h = tcp_.get();
    h->data = nullptr;
    if (uv_tcp_close_reset(
            h, [](uv_handle_t* closed) { delete reinterpret_cast<uv_tcp_t*>(closed); }) == 0) {
      tcp_.release();
      return;
    }
  }
  tcp_.close();
}

}  // namespace gatehouse::net
