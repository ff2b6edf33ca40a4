// What a client connection needs from the worker that owns it, and the snapshot it decides
// with.
//
// A ProxySnapshot is immutable and shared: a request, and a tunnel, keep the snapshot they
// started with until they end, while new requests use whatever is current (SPEC §5 hot reload).
//
// Threading: ConnectionContext is used on the worker's loop thread only; snapshots are shared
// between threads through std::shared_ptr<const ProxySnapshot>.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "policy/policy.h"
#include "proxy/common/decision_log.h"
#include "proxy/common/stats.h"
#include "proxy/conn/local_endpoint.h"
#include "proxy/conn/session.h"
#include "proxy/event/dispatcher.h"
#include "proxy/server/listener_config.h"
#include "proxy/upstream/connector.h"
#include "proxy/upstream/pool.h"

namespace gatehouse::conn {

class ClientConnection;

struct ProxySnapshot {
  server::ListenerConfig listener;
  std::shared_ptr<const policy::PolicySnapshot> policy;
  uint64_t generation = 0;
};

// Holds the current snapshot. current() from any thread; publish() from the main thread.
class SnapshotHolder final {
 public:
  std::shared_ptr<const ProxySnapshot> current() const {
    return current_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const ProxySnapshot> snapshot) {
    current_.store(std::move(snapshot), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const ProxySnapshot>> current_;
};

class ConnectionContext {
 public:
  virtual ~ConnectionContext() = default;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual upstream::Connector& connector() = 0;
  virtual upstream::ConnectionPool& pool() = 0;
  virtual std::shared_ptr<const ProxySnapshot> snapshot() = 0;
  virtual common::DecisionLog& decisionLog() = 0;
  // Who the client is and which environment applies (SPEC §6); asked once per request.
  virtual SessionResolver& sessions() = 0;
  virtual common::ProxyStats& stats() = 0;
  // The plugin serving origin-form requests (the git path); nullptr: every one is answered 400.
  virtual LocalEndpoints* localEndpoints() { return nullptr; }
  // The process-wide cap on concurrent tunnels ([listener] max_tunnels): false when reached.
  virtual bool acquireTunnelSlot() = 0;
  virtual void releaseTunnelSlot() = 0;
  // The connection has ended: the owner forgets it and destroys it after the current callback.
  virtual void release(ClientConnection* connection) = 0;
};

}  // namespace gatehouse::conn
