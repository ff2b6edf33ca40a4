// Idle upstream connections kept for reuse (SPEC §5: keyed by host, port, TLS and session).
//
// A connection goes back to the pool only after a complete response on a connection both sides
// keep alive. While idle, any byte from the upstream, an EOF or an error removes it (a server
// that talks out of turn cannot be trusted to start the next response at a boundary), and so
// does the idle timeout. The address a pooled connection goes to was checked by the address
// guard when it was dialed; callers check it again against the policy of the new request.
//
// Threading: one pool per worker loop; everything on that loop thread.
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "proxy/event/dispatcher.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::upstream {

struct PoolOptions {
  std::chrono::milliseconds idle_timeout{30000};
  size_t max_idle_per_key = 256;
  size_t max_idle_total = 4096;
};

class ConnectionPool final {
 public:
  ConnectionPool(event::Dispatcher& dispatcher, PoolOptions options)
      : dispatcher_(dispatcher), options_(options) {}
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // "host:port|tls|session"
  static std::string key(const std::string& host, uint16_t port, bool tls,
                         const std::string& session);

  // An idle connection for `key` (most recently used first), or nullptr. Its callbacks are
  // cleared and it is still reading: the caller sets its own callbacks right away.
  std::unique_ptr<net::TcpConnection> take(const std::string& key);
  // Keeps `connection` for reuse (or closes it when the pool is full).
  void put(const std::string& key, std::unique_ptr<net::TcpConnection> connection);

  size_t idleCount() const { return total_; }

 private:
  // One idle connection; any event on it removes it from the pool.
  struct Entry final : public event::DeferredDeletable, public net::TcpConnection::Callbacks {
    Entry(ConnectionPool& pool, std::string key, std::unique_ptr<net::TcpConnection> connection);
    ~Entry() override;
    void onData(net::TcpConnection&, const char*, size_t) override { pool_.remove(this); }
    void onEndOfStream(net::TcpConnection&) override { pool_.remove(this); }
    void onError(net::TcpConnection&, int) override { pool_.remove(this); }
    void onWritable(net::TcpConnection&) override {}

    ConnectionPool& pool_;
    std::string key_;
    std::unique_ptr<net::TcpConnection> connection_;
    event::MonotonicTime idle_since;
  };
  using EntryList = std::list<std::unique_ptr<Entry>>;
  void remove(Entry* entry);
  // One timer for the whole pool (no handle per idle connection): every quarter of the idle
  // timeout it drops the entries idle for longer than the timeout.
  void sweep();
  std::chrono::milliseconds sweepInterval() const;

  event::Dispatcher& dispatcher_;
  PoolOptions options_;
  std::unordered_map<std::string, EntryList> idle_;
  size_t total_ = 0;
  event::TimerPtr sweep_timer_;
};

}  // namespace gatehouse::upstream
