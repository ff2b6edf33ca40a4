#include "proxy/upstream/pool.h"

#include <algorithm>
#include <iterator>

namespace gatehouse::upstream {

ConnectionPool::Entry::Entry(ConnectionPool& pool, std::string key,
                             std::unique_ptr<net::TcpConnection> connection)
    : pool_(pool), key_(std::move(key)), connection_(std::move(connection)) {
  connection_->setCallbacks(this);
  connection_->startReading();  // to notice EOF, resets and unsolicited bytes
  idle_since = pool_.dispatcher_.now();
}

ConnectionPool::Entry::~Entry() {
  if (connection_) connection_->setCallbacks(nullptr);
}

ConnectionPool::~ConnectionPool() = default;

std::string ConnectionPool::key(const std::string& host, uint16_t port, bool tls,
                                const std::string& session) {
  return host + ":" + std::to_string(port) + (tls ? "|tls|" : "|tcp|") + session;
}

std::unique_ptr<net::TcpConnection> ConnectionPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  std::unique_ptr<Entry> entry = std::move(it->second.back());
  it->second.pop_back();
  if (it->second.empty()) idle_.erase(it);
  --total_;
  std::unique_ptr<net::TcpConnection> conn = std::move(entry->connection_);
  // Still reading (no epoll_ctl churn): the caller sets its callbacks before the loop runs again.
  conn->setCallbacks(nullptr);
  dispatcher_.deferredDelete(std::move(entry));
  return conn;
}

void ConnectionPool::put(const std::string& key, std::unique_ptr<net::TcpConnection> connection) {
  if (connection == nullptr || connection->closed() || connection->writeShutdown()) return;
  EntryList& list = idle_[key];
  if (total_ >= options_.max_idle_total || list.size() >= options_.max_idle_per_key) {
    if (list.empty()) idle_.erase(key);
    return;  // `connection` closes as it goes out of scope
  }
  list.push_back(std::make_unique<Entry>(*this, key, std::move(connection)));
  ++total_;
  if (sweep_timer_ == nullptr) sweep_timer_ = dispatcher_.createTimer([this] { sweep(); });
  if (!sweep_timer_->enabled()) sweep_timer_->enable(sweepInterval());
}

std::chrono::milliseconds ConnectionPool::sweepInterval() const {
  return std::max(std::chrono::milliseconds(10), options_.idle_timeout / 4);
}

void ConnectionPool::sweep() {
  const auto now = dispatcher_.now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    EntryList& list = it->second;
    // Oldest first: entries are appended when they become idle.
    while (!list.empty() && now - list.front()->idle_since >= options_.idle_timeout) {
      Entry* e = list.front().get();
      e->connection_->setCallbacks(nullptr);
      e->connection_->close();
      dispatcher_.deferredDelete(std::move(list.front()));
      list.pop_front();
      --total_;
    }
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
  if (total_ > 0) sweep_timer_->enable(sweepInterval());
}

void ConnectionPool::remove(Entry* entry) {
  auto it = idle_.find(entry->key_);
  if (it == idle_.end()) return;
  for (auto e = it->second.begin(); e != it->second.end(); ++e) {
    if (e->get() != entry) continue;
    entry->connection_->setCallbacks(nullptr);
    entry->connection_->close();
    // The entry may be inside its own callback: destroy it after the callback.
    dispatcher_.deferredDelete(std::move(*e));
    it->second.erase(e);
    if (it->second.empty()) idle_.erase(it);
    --total_;
    return;
  }
}

}  // namespace gatehouse::upstream
