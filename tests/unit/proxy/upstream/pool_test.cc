// The upstream connection pool: reuse, idle expiry by the sweep, removal when an idle
// connection's peer closes or talks out of turn, and the per-key cap.
#include "proxy/upstream/pool.h"

#include <gtest/gtest.h>

#include <functional>

#include "proxy/net/listener.h"

namespace gatehouse::upstream {
namespace {

using net::TcpConnection;

struct Sink : TcpConnection::Callbacks {
  void onData(TcpConnection&, const char*, size_t) override {}
  void onEndOfStream(TcpConnection&) override {}
  void onError(TcpConnection&, int) override {}
  void onWritable(TcpConnection&) override {}
};

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    listener_ = net::Listener::listen(
        d_.loop(), net::SocketAddress{*policy::IpAddress::parse("127.0.0.1"), 0}, 16,
        [this](std::unique_ptr<TcpConnection> c) {
          c->setCallbacks(&sink_);
          c->startReading();
          accepted_.push_back(std::move(c));
        },
        error);
    ASSERT_NE(listener_, nullptr) << error;
  }
  void TearDown() override {
    pool_.reset();
    accepted_.clear();
    listener_.reset();
    EXPECT_EQ(d_.shutdown(), 0) << "a handle leaked";
  }

  // Runs the loop (with a ticking timer so it never blocks in poll) until done() or 3 s.
  void spinUntil(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    event::TimerPtr tick;
    tick = d_.createTimer([&] {
      if (done() || std::chrono::steady_clock::now() >= end) {
        uv_stop(d_.loop());
      } else {
        tick->enable(std::chrono::milliseconds(1));
      }
    });
    tick->enable(std::chrono::milliseconds(0));
    uv_run(d_.loop(), UV_RUN_DEFAULT);
    ASSERT_TRUE(done()) << "timed out";
  }

  std::unique_ptr<TcpConnection> dial() {
    int done = 0;
    auto c = TcpConnection::connect(d_.loop(), listener_->address(),
                                    [&](int s) { done = s == 0 ? 1 : -1; });
    const size_t before = accepted_.size();
    spinUntil([&] { return done != 0 && accepted_.size() > before; });
    return c;
  }

  event::UvDispatcher d_;
  std::unique_ptr<net::Listener> listener_;
  Sink sink_;
  std::vector<std::unique_ptr<TcpConnection>> accepted_;
  std::unique_ptr<ConnectionPool> pool_;
};

TEST_F(PoolTest, ReusesTheMostRecentIdleConnectionPerKey) {
  pool_ = std::make_unique<ConnectionPool>(d_, PoolOptions{std::chrono::seconds(10), 8, 64});
  const std::string a = ConnectionPool::key("a.test", 80, false, "s1");
  auto c1 = dial();
  auto c2 = dial();
  TcpConnection* raw2 = c2.get();
  pool_->put(a, std::move(c1));
  pool_->put(a, std::move(c2));
  EXPECT_EQ(pool_->idleCount(), 2u);
  EXPECT_EQ(pool_->take(ConnectionPool::key("a.test", 80, false, "s2")), nullptr)
      << "another session never gets this session's connection";
  EXPECT_EQ(pool_->take(ConnectionPool::key("a.test", 443, false, "s1")), nullptr);
  auto got = pool_->take(a);
  EXPECT_EQ(got.get(), raw2);
  EXPECT_EQ(pool_->idleCount(), 1u);
}

TEST_F(PoolTest, IdleConnectionsExpire) {
  pool_ = std::make_unique<ConnectionPool>(d_, PoolOptions{std::chrono::milliseconds(40), 8, 64});
  const std::string a = ConnectionPool::key("a.test", 80, false, "");
  pool_->put(a, dial());
  EXPECT_EQ(pool_->idleCount(), 1u);
  spinUntil([&] { return pool_->idleCount() == 0; });
  EXPECT_EQ(pool_->take(a), nullptr);
}

TEST_F(PoolTest, APeerThatClosesOrTalksIsDropped) {
  pool_ = std::make_unique<ConnectionPool>(d_, PoolOptions{std::chrono::seconds(10), 8, 64});
  const std::string a = ConnectionPool::key("a.test", 80, false, "");
  pool_->put(a, dial());
  accepted_.back()->close();  // the upstream closes the idle connection
  spinUntil([&] { return pool_->idleCount() == 0; });

  pool_->put(a, dial());
  accepted_.back()->write(std::string_view("HTTP/1.1 200 OK\r\n\r\n"));  // out of turn
  spinUntil([&] { return pool_->idleCount() == 0; });
  EXPECT_EQ(pool_->take(a), nullptr);
}

TEST_F(PoolTest, PerKeyCapClosesTheSurplus) {
  pool_ = std::make_unique<ConnectionPool>(d_, PoolOptions{std::chrono::seconds(10), 2, 64});
  const std::string a = ConnectionPool::key("a.test", 80, false, "");
  for (int i = 0; i < 3; ++i) pool_->put(a, dial());
  EXPECT_EQ(pool_->idleCount(), 2u);
}

}  // namespace
}  // namespace gatehouse::upstream
