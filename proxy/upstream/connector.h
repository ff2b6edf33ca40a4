// The upstream connector (SPEC §3 step 6): resolve -> classify every address -> dial only the
// addresses that passed, in order, each with its own connect timeout.
//
// The name was already allowed by the name policy. The resolver is asked once; the addresses it
// returns are checked by the policy's address guard and exactly those are dialed — nothing is
// resolved again between the check and the dial (DNS rebinding).
//
// Threading: one connector per worker loop; connect() and the callback on that loop thread. The
// callback runs exactly once, never inline, never after the returned handle is destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/host.h"
#include "policy/policy.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/dns_resolver.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::upstream {

struct ConnectRequest {
  policy::Host host;
  uint16_t port = 0;
  std::string environment;                               // for checkResolved()
  std::shared_ptr<const policy::PolicySnapshot> policy;  // kept alive for the whole attempt
  // A destination the operator configured (the git path's upstream, [git] connect_to), not one
  // a client named: the address guard does not apply and `policy` may be null.
  bool operator_destination = false;
};

struct ConnectOutcome {
  std::unique_ptr<net::TcpConnection> connection;  // set on success
  net::SocketAddress address;                      // the address dialed (success) or tried last
  // On failure: what the client is told.
  int status = 0;             // 403, 502, 504
  std::string proxy_error;    // RFC 9209: destination_ip_prohibited, dns_error, dns_timeout, ...
  std::string reason;         // X-Gatehouse-Reason: address-denied, dns-nxdomain, ...
  std::string message;        // one sentence for the body and the log
  policy::Decision decision;  // the address guard's decision when it refused every address
  std::vector<std::string> refused_addresses;  // addresses the guard refused ("10.0.0.5 private")
  // For metrics: the DNS lookup when there was one (none for an IP literal), and how long the
  // successful dial took.
  std::optional<net::DnsStatus> dns_status;
  std::chrono::steady_clock::duration dns_time{};
  std::chrono::steady_clock::duration connect_time{};
  bool ok() const { return connection != nullptr; }
};

struct ConnectorOptions {
  std::chrono::milliseconds connect_timeout{5000};  // per address
};

class Connector final {
 public:
  Connector(event::Dispatcher& dispatcher, net::DnsResolver& resolver, ConnectorOptions options)
      : dispatcher_(dispatcher), resolver_(resolver), options_(options) {}

  net::CancelHandlePtr connect(ConnectRequest request, std::function<void(ConnectOutcome&&)> done);

 private:
  event::Dispatcher& dispatcher_;
  net::DnsResolver& resolver_;
  ConnectorOptions options_;
};

}  // namespace gatehouse::upstream
