#include "proxy/upstream/connector.h"

#include "policy/explain.h"

namespace gatehouse::upstream {

namespace {

// One connection attempt: owned by the caller's cancel handle, so destroying the handle cancels
// the DNS query, the timer and the dial in progress.
class Attempt final : public net::CancelHandle {
 public:
  Attempt(event::Dispatcher& dispatcher, ConnectorOptions options, ConnectRequest request,
          std::function<void(ConnectOutcome&&)> done)
      : dispatcher_(dispatcher),
        options_(options),
        request_(std::move(request)),
        done_(std::move(done)),
        timer_(dispatcher.createTimer([this] { onTimeout(); })) {}

  void start(net::DnsResolver& resolver) {
    if (request_.host.isIp()) {
      // An IP literal is "resolved" to itself; deliver from the loop, never inline.
      deliver_ip_ = dispatcher_.createTimer([this] { onAddresses({request_.host.ip}); });
      deliver_ip_->enable(std::chrono::milliseconds(0));
      return;
    }
    const auto asked = std::chrono::steady_clock::now();
    query_ = resolver.resolve(request_.host.text, [this, asked](const net::DnsAnswer& answer) {
      query_.reset();
      outcome_.dns_status = answer.status;
      outcome_.dns_time = std::chrono::steady_clock::now() - asked;
      onAnswer(answer);
    });
  }

 private:
  void onAnswer(const net::DnsAnswer& answer) {
    switch (answer.status) {
      case net::DnsStatus::kOk:
        onAddresses(answer.addresses);
        return;
      case net::DnsStatus::kNxDomain:
        fail(502, "dns_error", "dns-nxdomain", "the name does not exist (NXDOMAIN)");
        return;
      case net::DnsStatus::kNoData:
        fail(502, "dns_error", "dns-no-address", "the name has no address records");
        return;
      case net::DnsStatus::kTimeout:
        fail(504, "dns_timeout", "dns-timeout", "the DNS query timed out");
        return;
      case net::DnsStatus::kServFail:
        if (answer.overloaded) {
          fail(503, "dns_error", "dns-overloaded",
               "the proxy is resolving too many names at once; retry shortly");
          return;
        }
        fail(502, "dns_error", "dns-failure", "the DNS query failed");
        return;
      default:
        fail(502, "dns_error", "dns-failure", "the DNS query failed");
    }
  }

  void onAddresses(const std::vector<policy::IpAddress>& addresses) {
    policy::RequestInfo info{request_.environment, "", &request_.host, request_.port};
    std::optional<policy::Decision> first_denial;
    for (const policy::IpAddress& ip : addresses) {
      if (request_.operator_destination) {
        allowed_.push_back(ip);
        continue;
      }
      policy::Decision d = request_.policy->checkResolved(info, ip);
      if (d.allowed()) {
        allowed_.push_back(ip);
      } else {
        outcome_.refused_addresses.push_back(ip.toString() + " " + d.ruleId());
        if (!first_denial) first_denial = d;
      }
    }
    if (allowed_.empty()) {
      if (first_denial) outcome_.decision = *first_denial;
      const bool loop = first_denial && first_denial->reason == policy::Reason::kProxyLoop;
      fail(403, loop ? "proxy_loop_detected" : "destination_ip_prohibited",
           loop ? "proxy-loop" : "address-denied",
           first_denial
               ? policy::decisionSummary(*first_denial, nullptr, request_.host, request_.port)
               : std::string("the name resolved to no address"));
      return;
    }
    dialNext();
  }

  void dialNext() {
    if (next_ >= allowed_.size()) {
      if (last_status_ == UV_ETIMEDOUT) {
        fail(504, "connection_timeout", "upstream-timeout",
             "connecting to the destination timed out");
      } else {
        fail(502, "connection_refused", "upstream-unreachable",
             std::string("connecting to the destination failed (") + uv_err_name(last_status_) +
                 ")");
      }
      return;
    }
    net::SocketAddress to{allowed_[next_++], request_.port};
    outcome_.address = to;
    const auto dialed = std::chrono::steady_clock::now();
    connection_ = net::TcpConnection::connect(dispatcher_.loop(), to, [this, dialed](int status) {
      timer_->disable();
      if (status == 0) {
        outcome_.connect_time = std::chrono::steady_clock::now() - dialed;
        outcome_.connection = std::move(connection_);
        finish();
        return;
      }
      last_status_ = status;
      connection_.reset();
      dialNext();
    });
    if (connection_ == nullptr) {
      last_status_ = UV_ECONNREFUSED;
      dialNext();
      return;
    }
    timer_->enable(options_.connect_timeout);
  }

  void onTimeout() {
    connection_.reset();  // closes the socket; its connect callback will not run
    last_status_ = UV_ETIMEDOUT;
    dialNext();
  }

  void fail(int status, const char* proxy_error, const char* reason, std::string message) {
    outcome_.status = status;
    outcome_.proxy_error = proxy_error;
    outcome_.reason = reason;
    outcome_.message = std::move(message);
    finish();
  }

  void finish() {
    timer_->disable();
    auto done = std::move(done_);
    if (done) done(std::move(outcome_));  // may destroy this
  }

  event::Dispatcher& dispatcher_;
  ConnectorOptions options_;
  ConnectRequest request_;
  std::function<void(ConnectOutcome&&)> done_;
  event::TimerPtr timer_;
  event::TimerPtr deliver_ip_;
  net::CancelHandlePtr query_;
  std::vector<policy::IpAddress> allowed_;
  size_t next_ = 0;
  int last_status_ = 0;
  std::unique_ptr<net::TcpConnection> connection_;
  ConnectOutcome outcome_;
};

}  // namespace

net::CancelHandlePtr Connector::connect(ConnectRequest request,
                                        std::function<void(ConnectOutcome&&)> done) {
  auto attempt =
      std::make_unique<Attempt>(dispatcher_, options_, std::move(request), std::move(done));
  attempt->start(resolver_);
  return attempt;
}

}  // namespace gatehouse::upstream
