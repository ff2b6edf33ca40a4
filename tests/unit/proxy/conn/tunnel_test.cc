// The tunnel on real loopback sockets: bytes both ways, half-close passed on, byte counts,
// backpressure with a reader that stops, and no leaked handle.
#include "proxy/conn/tunnel.h"

#include <gtest/gtest.h>

#include "proxy/net/listener.h"

namespace gatehouse::conn {
namespace {

using net::TcpConnection;

// A test peer that records what it reads.
struct Peer : TcpConnection::Callbacks {
  std::string received;
  bool eof = false;
  int error = 0;
  std::function<void()> on_change;
  void onData(TcpConnection&, const char* data, size_t len) override {
    received.append(data, len);
    if (on_change) on_change();
  }
  void onEndOfStream(TcpConnection&) override {
    eof = true;
    if (on_change) on_change();
  }
  void onError(TcpConnection&, int status) override {
    error = status;
    if (on_change) on_change();
  }
  void onWritable(TcpConnection&) override {}
};

// client <-> [accepted | tunnel | dialed] <-> origin, all on 127.0.0.1.
struct Rig {
  event::UvDispatcher d;
  std::unique_ptr<net::Listener> front;
  std::unique_ptr<net::Listener> origin_listener;
  std::unique_ptr<TcpConnection> client;
  std::unique_ptr<TcpConnection> accepted;
  std::unique_ptr<TcpConnection> dialed;
  std::unique_ptr<TcpConnection> origin;
  std::unique_ptr<Tunnel> tunnel;
  Peer client_peer;
  Peer origin_peer;
  Tunnel::Stats stats;
  bool closed = false;

  void setUp(std::chrono::milliseconds idle = std::chrono::milliseconds(0)) {
    std::string error;
    net::SocketAddress any{*policy::IpAddress::parse("127.0.0.1"), 0};
    front = net::Listener::listen(
        d.loop(), any, 16, [this](std::unique_ptr<TcpConnection> c) { accepted = std::move(c); },
        error);
    origin_listener = net::Listener::listen(
        d.loop(), any, 16,
        [this](std::unique_ptr<TcpConnection> c) {
          origin = std::move(c);
          origin->setCallbacks(&origin_peer);
          origin->startReading();
        },
        error);
    ASSERT_NE(front, nullptr) << error;
    ASSERT_NE(origin_listener, nullptr) << error;
    int connected = 0;
    client =
        TcpConnection::connect(d.loop(), front->address(), [&](int s) { connected += s == 0; });
    dialed = TcpConnection::connect(d.loop(), origin_listener->address(),
                                    [&](int s) { connected += s == 0; });
    runUntil([&] { return connected == 2 && accepted && origin; });
    client->setCallbacks(&client_peer);
    client->startReading();
    tunnel = std::make_unique<Tunnel>(d, std::move(accepted), std::move(dialed), idle,
                                      [this](const Tunnel::Stats& s) {
                                        stats = s;
                                        closed = true;
                                      });
  }

  // Runs the loop, calling `each` every millisecond, until `each` returns false or `limit`
  // passes. A repeating timer keeps the loop from blocking in poll when no I/O is pending.
  bool spin(std::chrono::milliseconds limit, const std::function<bool()>& each) {
    const auto end = std::chrono::steady_clock::now() + limit;
    bool stopped_by_callback = false;
    event::TimerPtr tick;
    tick = d.createTimer([&] {
      if (!each()) {
        stopped_by_callback = true;
        uv_stop(d.loop());
      } else if (std::chrono::steady_clock::now() >= end) {
        uv_stop(d.loop());
      } else {
        tick->enable(std::chrono::milliseconds(1));
      }
    });
    tick->enable(std::chrono::milliseconds(0));
    uv_run(d.loop(), UV_RUN_DEFAULT);
    return stopped_by_callback;
  }

  // Runs the loop until `done` holds, at most 5 s.
  void runUntil(const std::function<bool()>& done) {
    if (done()) return;
    spin(std::chrono::seconds(5), [&] { return !done(); });
    ASSERT_TRUE(done()) << "timed out";
  }

  ~Rig() {
    tunnel.reset();
    client.reset();
    origin.reset();
    front.reset();
    origin_listener.reset();
    EXPECT_EQ(d.shutdown(), 0) << "a handle leaked";
  }
};

TEST(Tunnel, PumpsBothWaysAndPassesHalfCloseOn) {
  Rig r;
  r.setUp();
  r.tunnel->start("early:");
  r.client->write(std::string_view("hello"));
  r.runUntil([&] { return r.origin_peer.received == "early:hello"; });
  r.origin->write(std::string_view("world"));
  r.origin->shutdownWrite();
  r.runUntil([&] { return r.client_peer.received == "world" && r.client_peer.eof; });
  EXPECT_FALSE(r.closed) << "the client's direction is still open";
  r.client->write(std::string_view("!"));
  r.client->shutdownWrite();
  r.runUntil([&] { return r.origin_peer.eof && r.closed; });
  EXPECT_EQ(r.origin_peer.received, "early:hello!");
  EXPECT_EQ(r.stats.bytes_up, 12u);
  EXPECT_EQ(r.stats.bytes_down, 5u);
  EXPECT_STREQ(r.stats.end, "closed");
}

TEST(Tunnel, ResetOfOneSideClosesBoth) {
  Rig r;
  r.setUp();
  r.tunnel->start("");
  r.client->write(std::string_view("x"));
  r.runUntil([&] { return r.origin_peer.received == "x"; });
  r.origin->close(/*reset=*/true);
  r.runUntil([&] { return r.closed && (r.client_peer.eof || r.client_peer.error != 0); });
  EXPECT_STREQ(r.stats.end, "upstream-error");
}

TEST(Tunnel, IdleTimeoutClosesBoth) {
  Rig r;
  r.setUp(std::chrono::milliseconds(50));
  r.tunnel->start("");
  r.runUntil([&] { return r.closed; });
  EXPECT_STREQ(r.stats.end, "idle-timeout");
  r.runUntil([&] { return r.client_peer.eof || r.client_peer.error != 0; });
}

TEST(Tunnel, SlowReaderBoundsWhatTheProxyQueues) {
  Rig r;
  r.setUp();
  r.tunnel->start("");
  // The client does not read: the origin's 16 MiB must stall at the watermarks and the kernel
  // buffers, not pile up in the proxy.
  r.client->stopReading();
  const std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  for (int i = 0; i < 256; ++i) {
    r.origin->write(std::string_view(chunk));
    sent += chunk.size();
  }
  // Let the pump run for a while, watching what the proxy holds for the client.
  size_t most_queued = 0;
  r.spin(std::chrono::milliseconds(300), [&] {
    most_queued = std::max(most_queued, r.tunnel->queuedToClient());
    return true;
  });
  EXPECT_LT(r.tunnel->stats().bytes_down, sent) << "the stalled client stalls the origin";
  // High watermark (256 KiB) plus at most one read (64 KiB) before reading stops.
  EXPECT_LE(most_queued, 320u * 1024);
  EXPECT_GT(most_queued, 0u) << "the test must actually reach the watermark";
  r.client->startReading();
  r.runUntil([&] { return r.client_peer.received.size() == sent; });
}

}  // namespace
}  // namespace gatehouse::conn
