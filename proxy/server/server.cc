#include "proxy/server/server.h"

#include <sys/prctl.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "control/config.h"
#include "policy/explain.h"
#include "proxy/conn/context.h"
#include "proxy/event/dispatcher.h"
#include "proxy/server/worker.h"

namespace gatehouse::server {

namespace {

using Loaded = control::LoadedConfig;

Loaded load(const std::string& path) { return control::loadAndCompile(path); }

// The proxy's own endpoints: the listen address, or every local address for a wildcard one.
std::vector<policy::Endpoint> selfEndpoints(const net::SocketAddress& listen) {
  std::vector<policy::Endpoint> out;
  const bool wildcard =
      listen.ip == policy::IpAddress::v4(0) || listen.ip == policy::IpAddress::v6({});
  if (!wildcard) {
    out.push_back({listen.ip, listen.port});
    return out;
  }
  uv_interface_address_t* addresses = nullptr;
  int count = 0;
  if (uv_interface_addresses(&addresses, &count) == 0) {
    for (int i = 0; i < count; ++i) {
      if (auto a = net::fromSockaddr(reinterpret_cast<const sockaddr*>(&addresses[i].address))) {
        out.push_back({a->ip, listen.port});
      }
    }
    uv_free_interface_addresses(addresses, count);
  }
  return out;
}

FILE* openDecisionLog(const std::string& where, bool& owned, std::ostream& err) {
  owned = false;
  if (where.empty()) return nullptr;
  if (where == "stdout") return stdout;
  if (where == "stderr") return stderr;
  FILE* f = std::fopen(where.c_str(), "a");
  if (f == nullptr) {
    err << "gatehouse: cannot open the decision log " << where << "; logging to stderr\n";
    return stderr;
  }
  owned = true;
  return f;
}

class Server final {
 public:
  Server(std::string path, std::ostream& out, std::ostream& err)
      : path_(std::move(path)), out_(out), err_(err) {}

  int run() {
    Loaded l = load(path_);
    for (const auto& i : l.issues) err_ << i.toString() << '\n';
    if (l.policy == nullptr) {
      err_ << "gatehouse: not starting: the configuration has errors\n";
      return 2;
    }
    config_ = l.config;
    bool owned = false;
    FILE* log_file = openDecisionLog(config_.log.decisions, owned, err_);
    log_ = std::make_unique<common::DecisionLog>(log_file, owned);

    auto listen = net::parseSocketAddress(config_.listener.address);
    if (!listen) {
      err_ << "gatehouse: bad [listener] address " << config_.listener.address << '\n';
      return 2;
    }
    int n = config_.listener.workers;
    if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    // A first snapshot for the workers' construction; the one with self endpoints follows.
    publish(l.policy, config_);
    for (int i = 0; i < n; ++i) {
      auto w = std::make_unique<Worker>(i, snapshots_, *log_, connections_);
      std::string error;
      if (!w->init(*listen, config_.listener, config_.resolver, error)) {
        err_ << "gatehouse: " << error << '\n';
        return 2;
      }
      // Workers after the first bind the port the first one got (port 0 = a free port).
      listen->port = w->address().port;
      workers_.push_back(std::move(w));
    }
    bound_ = workers_.front()->address();
    l.policy->setSelfEndpoints(selfEndpoints(bound_));
    publish(l.policy, config_);

    // Handlers first: whoever waits for the line below may signal right after it.
    installSignals();
    for (auto& w : workers_) w->start();
    err_ << "gatehouse: listening on " << bound_.toString() << " (" << n << " worker"
         << (n == 1 ? "" : "s") << ", generation " << generation_ << ")" << std::endl;
    main_.run();
    return exit_status_;
  }

 private:
  void publish(std::shared_ptr<policy::PolicySnapshot> policy, const control::Config& config) {
    auto snap = std::make_shared<conn::ProxySnapshot>();
    snap->listener = config.listener;
    snap->policy = std::move(policy);
    snap->generation = ++generation_;
    snapshots_.publish(std::move(snap));
  }

  void installSignals() {
    auto add = [this](int signum, void (*cb)(uv_signal_t*, int)) {
      auto h = std::make_unique<event::UvHandle<uv_signal_t>>();
      if (uv_signal_init(main_.loop(), h->get()) == 0) {
        h->markInitialised();
        (*h)->data = this;
        uv_signal_start(h->get(), cb, signum);
      }
      signals_.push_back(std::move(h));
    };
    add(SIGHUP, [](uv_signal_t* h, int) {
      if (auto* self = static_cast<Server*>(h->data)) self->reload();
    });
    add(SIGTERM, [](uv_signal_t* h, int) {
      if (auto* self = static_cast<Server*>(h->data)) self->drain();
    });
    add(SIGINT, [](uv_signal_t* h, int) {
      if (auto* self = static_cast<Server*>(h->data)) self->drain();
    });
  }

  void reload() {
    Loaded l = load(path_);
    if (l.policy == nullptr) {
      for (const auto& i : l.issues) err_ << i.toString() << '\n';
      err_ << "gatehouse: reload failed; keeping generation " << generation_ << std::endl;
      return;
    }
    l.policy->setSelfEndpoints(selfEndpoints(bound_));
    config_ = l.config;
    for (auto& w : workers_) w->reconfigure(config_.resolver, config_.listener);
    publish(l.policy, config_);
    err_ << "gatehouse: reloaded " << (path_.empty() ? "<built-in defaults>" : path_)
         << ": generation " << generation_;
    for (const auto& e : l.policy->environments()) err_ << ", " << policy::environmentTag(*e);
    err_ << std::endl;
  }

  void drain() {
    if (draining_) return;
    draining_ = true;
    err_ << "gatehouse: draining (up to " << config_.listener.drain_timeout_ms << " ms)"
         << std::endl;
    for (auto& w : workers_) {
      w->stopAccepting();
      w->drain();
    }
    drain_deadline_ = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(config_.listener.drain_timeout_ms);
    drain_timer_ = main_.createTimer([this] { checkDrained(); });
    drain_timer_->enable(std::chrono::milliseconds(20));
  }

  void checkDrained() {
    int active = 0;
    for (auto& w : workers_) active += w->activeConnections();
    if (active > 0 && std::chrono::steady_clock::now() < drain_deadline_) {
      drain_timer_->enable(std::chrono::milliseconds(20));
      return;
    }
    for (auto& w : workers_) w->stop();
    workers_.clear();
    err_ << "gatehouse: stopped"
         << (active > 0 ? " (closed connections at the drain deadline)" : "") << std::endl;
    drain_timer_.reset();
    for (auto& s : signals_) s->close();
    main_.exit();
  }

  std::string path_;
  std::ostream& out_;
  std::ostream& err_;
  control::Config config_;
  std::unique_ptr<common::DecisionLog> log_;
  conn::SnapshotHolder snapshots_;
  std::atomic<int> connections_{0};
  uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::SocketAddress bound_;
  event::UvDispatcher main_;
  std::vector<std::unique_ptr<event::UvHandle<uv_signal_t>>> signals_;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  event::TimerPtr drain_timer_;
  int exit_status_ = 0;
};

}  // namespace

int serve(const std::string& config_path, std::ostream& out, std::ostream& err) {
  std::signal(SIGPIPE, SIG_IGN);
  // The process may hold secrets (tokens, credentials): no core dumps (BAD-INPUTS J5).
  prctl(PR_SET_DUMPABLE, 0);
  Server server(config_path, out, err);
  return server.run();
}

}  // namespace gatehouse::server
