#include "proxy/server/server.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "control/admin_server.h"
#include "control/config.h"
#include "control/control_api.h"
#include "control/metrics.h"
#include "control/session_environments.h"
#include "control/session_managers.h"
#include "control/session_store.h"
#include "gitproxy/git_handler.h"
#include "policy/explain.h"
#include "proxy/conn/context.h"
#include "proxy/event/dispatcher.h"
#include "proxy/server/worker.h"

namespace gatehouse::server {

namespace {

using Loaded = control::LoadedConfig;

Loaded load(const std::string& path) { return control::loadAndCompile(path); }

// The proxy's own endpoints: the listen address, or every local address for a wildcard one.
std::vector<policy::Endpoint> endpointsOf(const net::SocketAddress& listen) {
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

class Server final : public control::ControlPlane {
 public:
  Server(std::string path, std::ostream& out, std::ostream& err)
      : path_(std::move(path)), out_(out), err_(err), api_(*this) {}

  int run() {
    Loaded l = load(path_);
    for (const auto& i : l.issues) err_ << i.toString() << '\n';
    if (l.policy == nullptr) {
      err_ << "gatehouse: not starting: the configuration has errors\n";
      return 2;
    }
    config_ = l.config;
    if (!loadToken(config_, true)) return 2;
    bool owned = false;
    FILE* log_file = openDecisionLog(config_.log.decisions, owned, err_);
    log_ = std::make_unique<common::DecisionLog>(
        log_file, owned, static_cast<size_t>(std::max(0, config_.log.recent_decisions)),
        static_cast<uint32_t>(std::max(0, config_.log.denied_sample_per_second)));
    sessions_ =
        std::make_shared<control::SessionStore>(config_.sessions, config_.listener.require_session);
    {
      std::string error;
      std::shared_ptr<const gitproxy::GitSettings> git =
          gitproxy::buildGitSettings(config_.git, &error);
      if (git == nullptr) {
        err_ << "gatehouse: " << error << '\n';
        return 2;
      }
      git_settings_.publish(std::move(git));
    }

    auto listen = net::parseSocketAddress(config_.listener.address);
    if (!listen) {
      err_ << "gatehouse: bad [listener] address " << config_.listener.address << '\n';
      return 2;
    }
    int n = config_.listener.workers;
    if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    // A first snapshot for the workers' construction; the one with self endpoints follows.
    publish(l.policy, config_);
    // The session manager named by the config (the loader checked the name).
    const control::SessionManagerRegistry managers = control::builtinSessionManagers();
    const control::SessionManagerRegistry::Factory* factory =
        managers.find(config_.listener.session_manager);
    if (factory == nullptr) {
      err_ << "gatehouse: no session manager '" << config_.listener.session_manager << "'\n";
      return 2;
    }
    session_manager_ = (*factory)(sessions_);
    for (int i = 0; i < n; ++i) {
      auto make_git = [this](event::Dispatcher&, std::function<upstream::Connector&()> connector)
          -> std::unique_ptr<conn::LocalEndpoints> {
        return std::make_unique<gitproxy::GitEndpoints>(gitproxy::GitEndpoints::Deps{
            git_settings_, *sessions_, std::move(connector), metrics_});
      };
      server::WorkerShared shared{snapshots_,   *log_,    metrics_,
                                  connections_, tunnels_, session_manager_.make_resolver,
                                  make_git};
      auto w = std::make_unique<Worker>(i, std::move(shared));
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
    if (!config_.admin.address.empty()) {
      auto admin_address = net::parseSocketAddress(config_.admin.address);
      std::string error;
      if (admin_address) {
        admin_ = control::AdminServer::listen(
            main_, *admin_address,
            [this](const control::AdminRequest& r) { return api_.handle(r); }, {}, error);
      } else {
        error = "bad [admin] address " + config_.admin.address;
      }
      if (admin_ == nullptr) {
        err_ << "gatehouse: " << error << '\n';
        return 2;
      }
    }
    l.policy->setSelfEndpoints(selfEndpoints());
    publish(l.policy, config_);

    // Handlers first: whoever waits for the line below may signal right after it.
    installSignals();
    purge_timer_ = main_.createTimer([this] { purgeExpiredSessions(); });
    purge_timer_->enable(kPurgeInterval);
    for (auto& w : workers_) w->start();
    ready_ = true;
    err_ << "gatehouse: listening on " << bound_.toString() << " (" << n << " worker"
         << (n == 1 ? "" : "s") << ", generation " << generation_ << ")";
    if (admin_) err_ << "; control API on " << admin_->address().toString();
    err_ << std::endl;
    main_.run();
    return exit_status_;
  }

  // control::ControlPlane (main thread).
  std::shared_ptr<const conn::ProxySnapshot> snapshot() const override {
    return snapshots_.current();
  }
  const net::ResolverConfig& resolver() const override { return config_.resolver; }
  control::SessionStore& sessions() override { return *sessions_; }
  control::Metrics& metrics() override { return metrics_; }
  const common::DecisionLog& decisions() const override { return *log_; }
  bool ready() const override { return ready_ && !draining_; }
  bool dynamicSessions() const override { return session_manager_.dynamic_sessions; }

  Outcome reload() override {
    Outcome out;
    Loaded l = load(path_);
    out.issues = l.issues;
    std::shared_ptr<policy::PolicySnapshot> policy;
    if (l.policy != nullptr) {
      // Dynamic sessions stay across reloads: their environments must still exist.
      for (const control::SessionView& v : sessions_->list()) {
        if (v.dynamic && l.policy->environment(v.base_environment) == nullptr) {
          out.issues.push_back(
              policy::ConfigIssue{policy::ConfigIssue::Severity::kError,
                                  {},
                                  "environment '" + v.base_environment +
                                      "' is used by the dynamic session " + v.info->id,
                                  "keep the environment, or delete the session first"});
        }
      }
      if (!policy::hasErrors(out.issues)) {
        policy =
            compileServing(l.config, control::dynamicSessionEnvironments(*sessions_), out.issues);
      }
    }
    std::shared_ptr<const gitproxy::GitSettings> git;
    if (policy != nullptr) {
      std::string error;
      git = gitproxy::buildGitSettings(l.config.git, &error);
      if (git == nullptr) {
        out.issues.push_back(policy::ConfigIssue{
            policy::ConfigIssue::Severity::kError, {}, error, "check the [git] section"});
      }
    }
    if (policy == nullptr || git == nullptr || !loadToken(l.config, false)) {
      for (const auto& i : out.issues) err_ << i.toString() << '\n';
      err_ << "gatehouse: reload failed; keeping generation " << generation_ << std::endl;
      metrics_.reloads(control::Metrics::ReloadResult::kFailed).Increment();
      out.generation = generation_;
      return out;
    }
    if (l.config.admin.address != config_.admin.address) {
      err_ << "gatehouse: [admin] address changes take effect at the next start" << std::endl;
    }
    if (l.config.listener.session_manager != config_.listener.session_manager) {
      err_ << "gatehouse: [listener] session_manager changes take effect at the next start"
           << std::endl;
    }
    config_ = l.config;
    for (auto& w : workers_) w->reconfigure(config_.resolver, config_.listener);
    git_settings_.publish(std::move(git));
    publish(policy, config_);
    // After the publish: new static sessions may name environments that only now exist.
    sessions_->replaceStatic(config_.sessions, config_.listener.require_session);
    metrics_.reloads(control::Metrics::ReloadResult::kOk).Increment();
    err_ << "gatehouse: reloaded " << (path_.empty() ? "<built-in defaults>" : path_)
         << ": generation " << generation_;
    for (const auto& e : policy->environments()) {
      if (e->name().find(':') == std::string::npos) err_ << ", " << policy::environmentTag(*e);
    }
    err_ << std::endl;
    out.ok = true;
    out.generation = generation_;
    return out;
  }

  Outcome publishSessionEnvironments(
      const std::vector<control::SessionEnvironmentSpec>& dynamic) override {
    Outcome out;
    std::shared_ptr<policy::PolicySnapshot> policy = compileServing(config_, dynamic, out.issues);
    if (policy == nullptr) {
      out.generation = generation_;
      return out;
    }
    publish(policy, config_);
    out.ok = true;
    out.generation = generation_;
    return out;
  }

 private:
  static constexpr std::chrono::seconds kPurgeInterval{30};
  // Expired dynamic sessions stay listed (and refused with "session expired") this long.
  static constexpr std::chrono::hours kExpiredRetention{1};

  // The configuration's policy with the environments of every session that has inline domains
  // (static ones from `config`, dynamic ones given), its self endpoints set.
  std::shared_ptr<policy::PolicySnapshot> compileServing(
      const control::Config& config, const std::vector<control::SessionEnvironmentSpec>& dynamic,
      policy::ConfigIssues& issues) {
    std::shared_ptr<policy::PolicySnapshot> policy =
        control::compileServingPolicy(config, dynamic, issues);
    if (policy != nullptr) policy->setSelfEndpoints(selfEndpoints());
    return policy;
  }

  // The proxy's own endpoints: the proxy listener and the admin listener.
  std::vector<policy::Endpoint> selfEndpoints() const {
    std::vector<policy::Endpoint> out = endpointsOf(bound_);
    if (admin_) {
      std::vector<policy::Endpoint> admin = endpointsOf(admin_->address());
      out.insert(out.end(), admin.begin(), admin.end());
    }
    return out;
  }

  // Reads [admin] token_file into the API; at startup a problem stops the server, on reload it
  // fails the reload.
  bool loadToken(const control::Config& config, bool starting) {
    if (config.admin.address.empty() || config.admin.token_file.empty()) {
      api_.setToken("");
      return true;
    }
    std::string token, error, warning;
    if (!control::loadAdminToken(config.admin.token_file, token, error, warning)) {
      err_ << "gatehouse: " << error << (starting ? "; not starting" : "") << std::endl;
      return false;
    }
    if (!warning.empty()) err_ << "gatehouse: warning: " << warning << std::endl;
    api_.setToken(token);
    OPENSSL_cleanse(token.data(), token.size());
    return true;
  }

  void purgeExpiredSessions() {
    std::vector<std::string> purged =
        sessions_->purgeExpired(std::chrono::system_clock::now() - kExpiredRetention);
    if (!purged.empty()) {
      // Their environments go with them.
      Outcome o = publishSessionEnvironments(control::dynamicSessionEnvironments(*sessions_));
      (void)o;
    }
    purge_timer_->enable(kPurgeInterval);
  }

  void publish(std::shared_ptr<policy::PolicySnapshot> policy, const control::Config& config) {
    auto snap = std::make_shared<conn::ProxySnapshot>();
    snap->listener = config.listener;
    snap->policy = std::move(policy);
    snap->generation = ++generation_;
    snapshots_.publish(std::move(snap));
    metrics_.configGeneration().Set(static_cast<double>(generation_));
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
    purge_timer_.reset();
    admin_.reset();
    for (auto& s : signals_) s->close();
    main_.exit();
  }

  std::string path_;
  std::ostream& out_;
  std::ostream& err_;
  control::Config config_;
  control::Metrics metrics_;
  std::unique_ptr<common::DecisionLog> log_;
  std::shared_ptr<control::SessionStore> sessions_;
  control::SessionManager session_manager_;
  conn::SnapshotHolder snapshots_;
  std::atomic<int> connections_{0};
  std::atomic<int> tunnels_{0};
  uint64_t generation_ = 0;
  gitproxy::GitSettingsHolder git_settings_;  // outlives the workers (declared before them)
  std::vector<std::unique_ptr<Worker>> workers_;
  net::SocketAddress bound_;
  event::UvDispatcher main_;
  control::ControlApi api_;
  std::unique_ptr<control::AdminServer> admin_;
  std::vector<std::unique_ptr<event::UvHandle<uv_signal_t>>> signals_;
  bool ready_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  event::TimerPtr drain_timer_;
  event::TimerPtr purge_timer_;
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
