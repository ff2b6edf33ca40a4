// A TCP connection on one worker's loop: reads delivered to callbacks, writes queued with owned
// buffers, write-queue watermarks for backpressure, half-close and close.
//
// Lifetime (STYLE "libuv lifetime"): the uv_tcp_t is held in a UvHandle, so the connection may
// be destroyed at any time, even inside one of its callbacks; write and connect requests are
// heap objects that reach the connection only through handle->data, which close() clears.
//
// Threading: everything on the loop thread that created the connection. Callbacks never run
// inline from a method call.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/ip.h"
#include "proxy/event/uv_handle.h"

namespace gatehouse::net {

struct SocketAddress {
  policy::IpAddress ip;
  uint16_t port = 0;
  std::string toString() const;  // "127.0.0.1:80", "[::1]:443"
};

std::optional<SocketAddress> fromSockaddr(const sockaddr* sa);
// Fills `storage` and returns its length.
socklen_t toSockaddr(const SocketAddress& address, sockaddr_storage& storage);
// "ip:port" / "[ipv6]:port" (IP literals only).
std::optional<SocketAddress> parseSocketAddress(std::string_view text);

class TcpConnection final {
 public:
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // Bytes read; `data` is only valid during the call.
    virtual void onData(TcpConnection& conn, const char* data, size_t len) = 0;
    // The peer half-closed (FIN). Reading stops; writing may go on.
    virtual void onEndOfStream(TcpConnection& conn) = 0;
    // A read or write failed (reset, ...); the connection is unusable and should be closed.
    virtual void onError(TcpConnection& conn, int uv_status) = 0;
    // The write queue fell to the low watermark after having reached the high one.
    virtual void onWritable(TcpConnection& conn) = 0;
    // shutdownWrite() completed: every queued byte was written and the FIN sent.
    virtual void onWriteShutdownDone(TcpConnection& /*conn*/) {}
  };

  // Wraps a connection accepted from `server`; nullptr if accept failed.
  static std::unique_ptr<TcpConnection> accept(uv_loop_t* loop, uv_stream_t* server);

  // Starts connecting to `to`; `done(status)` runs once on the loop thread (0 = connected), not
  // after the connection is destroyed. nullptr if the socket could not be created.
  static std::unique_ptr<TcpConnection> connect(uv_loop_t* loop, const SocketAddress& to,
                                                std::function<void(int status)> done);

  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  void setCallbacks(Callbacks* callbacks) { callbacks_ = callbacks; }
  void startReading();
  void stopReading();
  bool reading() const { return reading_; }

  // Queues bytes (copied). Returns false if the connection is closed or the write failed.
  bool write(std::string_view data);
  bool write(std::string&& data);
  size_t queuedBytes() const { return queued_; }
  // Backpressure: stop feeding this connection while above the high watermark; onWritable()
  // fires when the queue drains to the low one.
  void setWatermarks(size_t low, size_t high) {
    low_watermark_ = low;
    high_watermark_ = high;
  }
  bool aboveHighWatermark() const { return queued_ >= high_watermark_; }

  // Sends FIN after the queued bytes.
  void shutdownWrite();
  bool writeShutdown() const { return write_shutdown_; }
  bool writeShutdownDone() const { return write_shutdown_done_; }
  // Closes now; queued bytes may be lost. `reset` sends RST instead of FIN.
  void close(bool reset = false);
  bool closed() const { return tcp_.closed(); }

  const std::optional<SocketAddress>& peer() const { return peer_; }
  // The local address (getsockname on first use).
  const std::optional<SocketAddress>& local() const;
  uint64_t bytesRead() const { return bytes_read_; }
  uint64_t bytesWritten() const { return bytes_written_; }

 private:
  struct WriteReq;
  struct ConnectReq;
  explicit TcpConnection(uv_loop_t* loop);
  void fillAddresses();
  bool tryWrite(std::string_view& data);
  bool queue(std::string&& data);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWrite(uv_write_t* req, int status) noexcept;
  static void onShutdown(uv_shutdown_t* req, int status) noexcept;
  static void onConnect(uv_connect_t* req, int status) noexcept;

  event::UvHandle<uv_tcp_t> tcp_;
  Callbacks* callbacks_ = nullptr;
  std::function<void(int)> connect_done_;
  std::optional<SocketAddress> peer_;
  mutable std::optional<SocketAddress> local_;
  mutable bool local_asked_ = false;
  size_t queued_ = 0;
  size_t low_watermark_ = 64 * 1024;
  size_t high_watermark_ = 256 * 1024;
  bool above_high_ = false;
  bool reading_ = false;
  bool write_shutdown_ = false;
  bool write_shutdown_done_ = false;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace gatehouse::net
