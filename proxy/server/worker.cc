#include "proxy/server/worker.h"

#include <cstdio>

#include "proxy/http/responses.h"

namespace gatehouse::server {

Worker::Worker(int index, WorkerShared shared)
    : index_(index),
      snapshots_(shared.snapshots),
      log_(shared.log),
      stats_(shared.stats),
      connections_(shared.connections),
      tunnels_(shared.tunnels),
      sessions_(shared.make_resolver(dispatcher_)) {
  if (shared.make_local_endpoints) {
    local_endpoints_ = shared.make_local_endpoints(
        dispatcher_, [this]() -> upstream::Connector& { return *connector_; });
  }
}

Worker::~Worker() {
  if (thread_.joinable()) stop();
  clients_.clear();
  rejected_.clear();
  retired_.clear();
  pool_.reset();
  sessions_.reset();
  local_endpoints_.reset();
  connector_.reset();
  resolver_.reset();
  listener_.reset();
  dispatcher_.shutdown();
}

bool Worker::init(const net::SocketAddress& address, const ListenerConfig& listener,
                  const net::ResolverConfig& resolver, std::string& error) {
  listener_ = net::Listener::listen(
      dispatcher_.loop(), address, 1024,
      [this](std::unique_ptr<net::TcpConnection> c) { onAccept(std::move(c)); }, error);
  if (listener_ == nullptr) return false;
  address_ = listener_->address();
  net::CaresResolver::Created created = net::CaresResolver::create(dispatcher_, resolver);
  if (created.resolver == nullptr) {
    error = "resolver: " + created.error;
    return false;
  }
  resolver_ = std::move(created.resolver);
  upstream::ConnectorOptions options;
  options.connect_timeout = std::chrono::milliseconds(listener.connect_timeout_ms);
  connector_ = std::make_unique<upstream::Connector>(dispatcher_, *resolver_, options);
  upstream::PoolOptions pool_options;
  pool_options.idle_timeout = std::chrono::milliseconds(listener.idle_timeout_ms);
  pool_ = std::make_unique<upstream::ConnectionPool>(dispatcher_, pool_options);
  return true;
}

void Worker::reconfigure(const net::ResolverConfig& resolver, const ListenerConfig& listener) {
  dispatcher_.post([this, resolver, listener] {
    net::CaresResolver::Created created = net::CaresResolver::create(dispatcher_, resolver);
    if (created.resolver == nullptr) {
      std::fprintf(stderr, "gatehouse: worker %d keeps its resolver: %s\n", index_,
                   created.error.c_str());
      return;
    }
    Retired old;
    old.resolver = std::move(resolver_);
    old.connector = std::move(connector_);
    Retired* slot = &retired_.emplace_back(std::move(old));
    // Every query of the old resolver is answered within its timeout (+ margin for delivery).
    slot->expiry = dispatcher_.createTimer([this, slot] {
      for (auto it = retired_.begin(); it != retired_.end(); ++it) {
        if (&*it == slot) {
          // Inside the expiry timer's own callback: hand everything to deferred delete.
          struct Holder : event::DeferredDeletable {
            Retired retired;
          };
          auto holder = std::make_unique<Holder>();
          holder->retired = std::move(*it);
          retired_.erase(it);
          dispatcher_.deferredDelete(std::move(holder));
          return;
        }
      }
    });
    slot->expiry->enable(std::chrono::milliseconds(resolver.timeout_ms + 1000));
    resolver_ = std::move(created.resolver);
    upstream::ConnectorOptions options;
    options.connect_timeout = std::chrono::milliseconds(listener.connect_timeout_ms);
    connector_ = std::make_unique<upstream::Connector>(dispatcher_, *resolver_, options);
  });
}

void Worker::start() {
  thread_ = std::thread([this] { dispatcher_.run(); });
}

void Worker::onAccept(std::unique_ptr<net::TcpConnection> connection) {
  const int limit = snapshots_.current()->listener.max_connections;
  if (connections_.fetch_add(1) >= limit) {
    connections_.fetch_sub(1);
    // Refuse fast, without reading: accepted connections keep being served (BAD-INPUTS H5).
    http::Refusal r;
    r.status = 503;
    r.proxy_error = "connection_limit_reached";
    r.reason = "connection-limit";
    r.details = "too many connections";
    r.what = "a new connection";
    r.why = "the proxy has reached its connection limit";
    r.extra_headers = "Retry-After: 1\r\n";
    connection->write(http::buildRefusal(r));
    connection->shutdownWrite();
    rejected_.push_back(std::make_unique<Rejected>(*this, std::move(connection)));
    return;
  }
  active_.fetch_add(1);
  stats_.connectionOpened();
  auto client = std::make_unique<conn::ClientConnection>(*this, std::move(connection));
  conn::ClientConnection* raw = client.get();
  clients_.push_back(std::move(client));
  raw->start();
}

bool Worker::acquireTunnelSlot() {
  const int limit = snapshots_.current()->listener.max_tunnels;
  if (tunnels_.fetch_add(1, std::memory_order_relaxed) >= limit) {
    tunnels_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

Worker::Rejected::Rejected(Worker& worker, std::unique_ptr<net::TcpConnection> connection)
    : worker_(worker), connection_(std::move(connection)) {
  connection_->setCallbacks(this);
}

void Worker::Rejected::done() {
  connection_->setCallbacks(nullptr);
  connection_->close();
  for (auto it = worker_.rejected_.begin(); it != worker_.rejected_.end(); ++it) {
    if (it->get() == this) {
      worker_.dispatcher_.deferredDelete(std::move(*it));
      worker_.rejected_.erase(it);
      return;
    }
  }
}

void Worker::release(conn::ClientConnection* connection) {
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() == connection) {
      dispatcher_.deferredDelete(std::move(*it));
      clients_.erase(it);
      active_.fetch_sub(1);
      connections_.fetch_sub(1);
      stats_.connectionClosed();
      return;
    }
  }
}

void Worker::stopAccepting() {
  dispatcher_.post([this] {
    if (listener_) listener_->close();
  });
}

void Worker::drain() {
  dispatcher_.post([this] {
    // drain() may release connections: iterate over a copy of the pointers.
    std::vector<conn::ClientConnection*> all;
    for (auto& c : clients_) all.push_back(c.get());
    for (auto* c : all) c->drain();
  });
}

void Worker::closeAll() {
  dispatcher_.post([this] {
    std::vector<conn::ClientConnection*> all;
    for (auto& c : clients_) all.push_back(c.get());
    for (auto* c : all) c->close();
  });
}

void Worker::stop() {
  closeAll();
  dispatcher_.post([this] {
    if (listener_) listener_->close();
    dispatcher_.exit();
  });
  if (thread_.joinable()) thread_.join();
}

}  // namespace gatehouse::server
