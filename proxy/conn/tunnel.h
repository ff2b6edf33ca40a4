// A CONNECT tunnel: bytes pumped both ways between the client and the upstream connection.
//
// Backpressure: when one side's write queue reaches its high watermark, reading from the other
// side stops until the queue drains, so a slow reader never makes the proxy buffer without
// bound. Half-close: a FIN from one side is passed on as a FIN to the other, and the tunnel ends
// when both directions are finished, on an error or reset of either side (both closed), or
// after `idle_timeout` without a byte in either direction.
//
// Shaping: an optional meter is told of every chunk read and answers how long that side must
// stop reading (rate limits and budgets, proxy/common/limits.h); the bytes already read are
// always forwarded, so shaping slows a tunnel and never loses data.
//
// Threading: the loop thread of both connections. onClosed runs once, from a loop callback.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "proxy/event/dispatcher.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::conn {

class Tunnel final {
 public:
  struct Stats {
    uint64_t bytes_up = 0;    // client -> upstream
    uint64_t bytes_down = 0;  // upstream -> client
    const char* end = "";     // "closed", "idle-timeout", "client-error", "upstream-error"
  };

  Tunnel(event::Dispatcher& dispatcher, std::unique_ptr<net::TcpConnection> client,
         std::unique_ptr<net::TcpConnection> upstream, std::chrono::milliseconds idle_timeout,
         std::function<void(const Stats&)> on_closed);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // `upload`: the chunk came from the client. Returns the pause before that side reads again.
  using Meter = std::function<std::chrono::nanoseconds(bool upload, size_t bytes)>;
  // Before start().
  void setMeter(Meter meter) { meter_ = std::move(meter); }

  // Bytes the client sent before the tunnel started (e.g. the ClientHello that was inspected);
  // forwarded first. Then reading starts on both sides.
  void start(std::string early_client_bytes);

  const Stats& stats() const { return stats_; }
  // Closes both sides now (drain deadline, shutdown); on_closed runs as for any other end.
  void close() { finish("closed-by-proxy", true); }
  // Bytes the proxy holds for the client (or the upstream), not yet accepted by the kernel.
  size_t queuedToClient() const { return client_ ? client_->queuedBytes() : 0; }
  size_t queuedToUpstream() const { return upstream_ ? upstream_->queuedBytes() : 0; }

 private:
  class Side final : public net::TcpConnection::Callbacks {
   public:
    Side(Tunnel& tunnel, bool is_client) : tunnel_(tunnel), is_client_(is_client) {}
    void onData(net::TcpConnection& conn, const char* data, size_t len) override;
    void onEndOfStream(net::TcpConnection& conn) override;
    void onError(net::TcpConnection& conn, int status) override;
    void onWritable(net::TcpConnection& conn) override;
    void onWriteShutdownDone(net::TcpConnection& conn) override;

   private:
    Tunnel& tunnel_;
    bool is_client_;
  };

  net::TcpConnection& peerOf(bool is_client) { return is_client ? *upstream_ : *client_; }
  net::TcpConnection& selfOf(bool is_client) { return is_client ? *client_ : *upstream_; }
  void touch();
  void finish(const char* end, bool reset);
  // After a chunk from `is_client`'s side: pause that side as the meter says.
  void meter(bool is_client, size_t bytes);
  void resumeShaped(bool is_client);
  bool canRead(bool is_client) const;
  void maybeDone();

  event::Dispatcher& dispatcher_;
  std::unique_ptr<net::TcpConnection> client_;
  std::unique_ptr<net::TcpConnection> upstream_;
  Side client_side_{*this, true};
  Side upstream_side_{*this, false};
  std::chrono::milliseconds idle_timeout_;
  event::TimerPtr idle_timer_;
  std::function<void(const Stats&)> on_closed_;
  Meter meter_;
  event::TimerPtr shape_timer_[2];  // [0] client side, [1] upstream side; created when needed
  bool shaped_[2] = {false, false};
  Stats stats_;
  bool client_eof_ = false;
  bool upstream_eof_ = false;
  bool finished_ = false;
};

}  // namespace gatehouse::conn
