// One worker: an event-loop thread with its own listener (SO_REUSEPORT), resolver, connector
// and the client connections it accepted.
//
// Threading: constructed, bound and started by the main thread; everything else happens on the
// worker's loop thread, reached from outside only through post().
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "proxy/common/decision_log.h"
#include "proxy/conn/client_connection.h"
#include "proxy/conn/context.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/cares_resolver.h"
#include "proxy/net/listener.h"
#include "proxy/upstream/connector.h"

namespace gatehouse::server {

// What every worker shares with the server; owned by the server, outliving the workers.
struct WorkerShared {
  const conn::SnapshotHolder& snapshots;
  common::DecisionLog& log;
  common::ProxyStats& stats;
  std::atomic<int>& connections;  // process-wide count of client connections
  std::atomic<int>& tunnels;      // process-wide count of tunnels
  // Makes the worker's session resolver, on its loop (called on the worker's dispatcher).
  std::function<std::unique_ptr<conn::SessionResolver>(event::Dispatcher&)> make_resolver;
  // Makes the worker's local endpoints (the git path) on its loop; unset or returning nullptr:
  // none, every origin-form request is answered 400.
  // `connector` returns the worker's current connector (replaced when the resolver is).
  std::function<std::unique_ptr<conn::LocalEndpoints>(
      event::Dispatcher&, std::function<upstream::Connector&()> connector)>
      make_local_endpoints;
};

class Worker final : public conn::ConnectionContext {
 public:
  Worker(int index, WorkerShared shared);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(). `address` with port 0 picks a free port.
  bool init(const net::SocketAddress& address, const ListenerConfig& listener,
            const net::ResolverConfig& resolver, std::string& error);
  const net::SocketAddress& address() const { return address_; }
  void start();

  // Any thread.
  // After a reload: new resolver and connector from `resolver` for new requests; the old ones
  // stay alive until every query they hold has been answered (their timeout).
  void reconfigure(const net::ResolverConfig& resolver, const ListenerConfig& listener);
  void stopAccepting();
  void drain();     // idle connections close now, busy ones after their request
  void closeAll();  // every connection and tunnel, now
  void stop();      // exits the loop (after closeAll) and joins the thread
  int activeConnections() const { return active_.load(); }

  // conn::ConnectionContext (loop thread).
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  upstream::Connector& connector() override { return *connector_; }
  upstream::ConnectionPool& pool() override { return *pool_; }
  std::shared_ptr<const conn::ProxySnapshot> snapshot() override { return snapshots_.current(); }
  common::DecisionLog& decisionLog() override { return log_; }
  conn::SessionResolver& sessions() override { return *sessions_; }
  conn::LocalEndpoints* localEndpoints() override { return local_endpoints_.get(); }
  common::ProxyStats& stats() override { return stats_; }
  bool acquireTunnelSlot() override;
  void releaseTunnelSlot() override { tunnels_.fetch_sub(1, std::memory_order_relaxed); }
  void release(conn::ClientConnection* connection) override;

 private:
  // A connection refused at accept: its 503 is flushed, FIN sent, then it is closed.
  class Rejected final : public event::DeferredDeletable, public net::TcpConnection::Callbacks {
   public:
    Rejected(Worker& worker, std::unique_ptr<net::TcpConnection> connection);
    void onData(net::TcpConnection&, const char*, size_t) override {}
    void onEndOfStream(net::TcpConnection&) override {}
    void onError(net::TcpConnection&, int) override { done(); }
    void onWritable(net::TcpConnection&) override {}
    void onWriteShutdownDone(net::TcpConnection&) override { done(); }

   private:
    void done();
    Worker& worker_;
    std::unique_ptr<net::TcpConnection> connection_;
  };

  void onAccept(std::unique_ptr<net::TcpConnection> connection);

  int index_;
  const conn::SnapshotHolder& snapshots_;
  common::DecisionLog& log_;
  common::ProxyStats& stats_;
  std::atomic<int>& connections_;  // process-wide
  std::atomic<int>& tunnels_;      // process-wide
  std::atomic<int> active_{0};     // this worker's
  event::UvDispatcher dispatcher_;
  std::unique_ptr<net::Listener> listener_;
  net::SocketAddress address_;
  std::unique_ptr<net::CaresResolver> resolver_;
  std::unique_ptr<upstream::Connector> connector_;
  std::unique_ptr<upstream::ConnectionPool> pool_;
  std::unique_ptr<conn::SessionResolver> sessions_;
  std::unique_ptr<conn::LocalEndpoints> local_endpoints_;
  struct Retired {
    std::unique_ptr<net::CaresResolver> resolver;
    std::unique_ptr<upstream::Connector> connector;
    event::TimerPtr expiry;
  };
  std::list<Retired> retired_;
  std::list<std::unique_ptr<conn::ClientConnection>> clients_;
  std::list<std::unique_ptr<Rejected>> rejected_;
  std::thread thread_;
};

}  // namespace gatehouse::server
