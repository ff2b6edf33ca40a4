// [listener]: the proxy listener (forward HTTP, CONNECT, local /git/ endpoints).
#pragma once

#include <optional>
#include <string>

#include "policy/source.h"

namespace gatehouse::server {

struct ListenerConfig {
  std::string address = "127.0.0.1:3128";  // "ip:port" or "[ipv6]:port"; port 0 = any free port
  policy::SourcePos address_pos;
  int workers = 0;  // event-loop threads; 0 = one per core
  policy::SourcePos workers_pos;

  // Timeouts (SPEC §5), milliseconds.
  int header_timeout_ms = 10000;        // a request head must arrive within this (slowloris)
  int idle_timeout_ms = 60000;          // keep-alive connection idle between requests
  int connect_timeout_ms = 5000;        // per upstream address
  int response_timeout_ms = 30000;      // upstream response head; then the longest body pause
  int tunnel_idle_timeout_ms = 300000;  // CONNECT tunnel without a byte either way
  int drain_timeout_ms = 10000;         // SIGTERM: how long in-flight requests may finish

  // Limits.
  int max_connections = 10000;   // client connections per process; beyond: 503 and close
  int max_tunnels = 10000;       // concurrent CONNECT tunnels per process; beyond: 503, Retry-After
  int max_header_bytes = 65536;  // request head (431 beyond)
  int max_headers = 100;         // header fields (431 beyond)
  int max_uri_bytes = 8192;      // request-target (414 beyond)

  // What a CONNECT to a host name may carry (SPEC §3 step 7); the SNI must always equal the host.
  bool allow_missing_sni = false;  // a TLS ClientHello without server_name
  bool allow_non_tls = false;      // first bytes that are not a TLS ClientHello
  bool allow_ech = false;          // encrypted_client_hello (the outer SNI is still checked)

  // Whether every client must be identified as a session (SPEC §6); unset = "auto": required
  // whenever at least one session (static or dynamic) exists.
  std::optional<bool> require_session;
  // Which session manager identifies clients (control/session_managers.h): "builtin" or "none".
  std::string session_manager = "builtin";
  policy::SourcePos session_manager_pos;
};

// [log]
struct LogConfig {
  std::string decisions = "stdout";  // "stdout", "stderr", "" (off) or a file path (appended)
  policy::SourcePos decisions_pos;
  // Size of the in-memory ring of recent decisions served by the control API; 0 disables it.
  int recent_decisions = 1000;  // 0..1000000
  policy::SourcePos recent_decisions_pos;
  // During a storm of denials at most this many denied-request lines are written per second,
  // then one line saying how many were dropped; 0 writes every denial.
  int denied_sample_per_second = 100;  // 0..1000000
};

}  // namespace gatehouse::server
