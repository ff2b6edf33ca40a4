// One client connection on the proxy listener: the request pipeline of SPEC §3 for every
// request it carries, then forwarding (absolute-form HTTP) or a tunnel (CONNECT).
//
//   read head ─► parse strictly ─► session (407 / 429) ─► name policy of the session's
//   environment (no DNS before it; report mode and shadow evaluated here) ─► connector (resolve,
//   address guard, dial) ─► HTTP: re-serialised head + streamed body, response streamed back
//                          CONNECT: 200, ClientHello read, SNI == host, then the tunnel
//
// Requests on one connection are handled one at a time and answered in order; pipelined bytes
// wait, unparsed, until the previous response is complete. A refusal closes the connection
// after the response: bytes the client sent after a refused request are never parsed or
// forwarded (BAD-INPUTS INV-NOBYTES, INV-CLOSE).
//
// Backpressure: body bytes are read from one side only while the other side's write queue is
// below its high watermark.
//
// Threading and ownership: owned by the worker (ConnectionContext), used on its loop thread;
// when it ends it calls context.release(this) and is destroyed after the current callback.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "policy/policy.h"
#include "proxy/common/decision_log.h"
#include "proxy/conn/context.h"
#include "proxy/conn/local_endpoint.h"
#include "proxy/conn/tunnel.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/message.h"
#include "proxy/http/request_parser.h"
#include "proxy/http/response_parser.h"
#include "proxy/http/responses.h"
#include "proxy/net/tcp_connection.h"
#include "proxy/tls/client_hello.h"

namespace gatehouse::conn {

class ClientConnection final : public event::DeferredDeletable,
                               public net::TcpConnection::Callbacks,
                               public http::RequestParser::Callbacks,
                               private LocalExchange {
 public:
  ClientConnection(ConnectionContext& context, std::unique_ptr<net::TcpConnection> client);
  ~ClientConnection() override;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  void start();
  // Closes the connection (and its tunnel or upstream) now.
  void close();
  // Graceful drain: an idle connection closes now, a busy one after its current request; a
  // tunnel keeps running until close().
  void drain();

 private:
  enum class State : uint8_t {
    kReadingHead,  // waiting for (the rest of) a request head
    kConnecting,   // a head arrived: identifying the session, deciding, resolving, dialing
    kForwarding,   // HTTP: request and response streaming
    kTunnelHello,  // CONNECT: 200 sent, reading the ClientHello
    kTunnel,       // CONNECT: bytes pumped by the tunnel
    kLocal,        // an origin-form request answered by a local endpoint (the git path)
    kClosing,      // a final response is being flushed
    kClosed,
  };

  // The upstream of a forwarded HTTP request.
  // It is never destroyed inside its own callbacks: retireUpstream() detaches it and hands it to
  // the dispatcher's deferred delete.
  class Upstream final : public event::DeferredDeletable,
                         public net::TcpConnection::Callbacks,
                         public http::ResponseParser::Callbacks {
   public:
    Upstream(ClientConnection& owner, std::unique_ptr<net::TcpConnection> connection);
    ~Upstream() override;
    void detach();
    // Hands the connection over (for the pool); the Upstream is then only retired.
    std::unique_ptr<net::TcpConnection> releaseConnection();
    bool reusable() const { return reusable_; }
    net::TcpConnection& connection() { return *connection_; }
    http::ResponseParser& parser() { return parser_; }

    void onData(net::TcpConnection& conn, const char* data, size_t len) override;
    void onEndOfStream(net::TcpConnection& conn) override;
    void onError(net::TcpConnection& conn, int status) override;
    void onWritable(net::TcpConnection& conn) override;
    void onInformational(http::ResponseHead&& head) override;
    void onResponseHead(http::ResponseHead&& head) override;
    void onBody(const char* data, size_t len) override;
    void onMessageComplete() override;

   private:
    ClientConnection& owner_;
    std::unique_ptr<net::TcpConnection> connection_;
    http::ResponseParser parser_;
    bool detached_ = false;
    bool reusable_ = false;          // the response kept the connection alive and ended cleanly
    bool feeding_ = false;           // inside parser_.feed()
    bool complete_pending_ = false;  // the response ended inside feed(): finish after it
  };

  // net::TcpConnection::Callbacks (the client socket).
  void onData(net::TcpConnection& conn, const char* data, size_t len) override;
  void onEndOfStream(net::TcpConnection& conn) override;
  void onError(net::TcpConnection& conn, int status) override;
  void onWritable(net::TcpConnection& conn) override;
  void onWriteShutdownDone(net::TcpConnection& conn) override;

  // http::RequestParser::Callbacks.
  void onRequestHead(http::RequestHead&& head) override;
  void onBody(const char* data, size_t len) override;
  void onMessageComplete() override;

  void processInput();
  size_t maxPending() const {
    return static_cast<size_t>(snapshot_ ? snapshot_->listener.max_header_bytes : 65536);
  }
  void handleParseResult(const http::ParseResult& result);
  void decide();
  void onSession(SessionResult result);
  void decidePolicy();
  void evaluateShadow(const policy::Environment& env);
  // SPEC §3 step 5: the session's connection cap, rates, budgets and tunnel caps; false when
  // the request was refused.
  bool admit();
  void refuseLimit(common::Admission admission);
  // The limits in force now for a running tunnel or body: re-read once a second so that a
  // reload or an API change reaches it.
  const policy::Limits& liveLimits();
  // Bytes moved under the session's limits: the pause before that side may read again.
  std::chrono::nanoseconds meter(bool upload, size_t bytes);
  // Pauses reading a body side (HTTP forwarding) for `pause`.
  void shapeHttp(bool upload, std::chrono::nanoseconds pause);
  void releaseTunnelLimits();
  // Counts the request's policy decision once (the first call per request wins).
  void countDecision(policy::Verdict verdict, policy::Reason reason);
  common::RequestKind kind() const;
  void connectUpstream();
  // By value: the outcome must outlive the attempt, which refusing destroys.
  void onConnected(upstream::ConnectOutcome outcome);
  void startForwarding(std::unique_ptr<net::TcpConnection> upstream);
  void startTunnelHello(std::unique_ptr<net::TcpConnection> upstream);
  void onHelloBytes(const char* data, size_t len);
  void checkHello();
  void requestDone();
  void responseDone(bool upstream_reusable);
  // The request is answered: read the next one, or close once the response is out.
  void nextRequest(bool keep_alive);
  void retireUpstream();
  // Response bytes for the client: the first ones go out together with the held head.
  void writeResponse(std::string_view bytes);
  void writeResponse(std::string&& bytes);
  void flushResponseHead();
  void upstreamFailed(int status, std::string_view proxy_error, std::string reason,
                      std::string message);

  // Local endpoints (proxy/conn/local_endpoint.h).
  void startLocal(LocalEndpoints& endpoints);
  void localDone();
  void retireLocal();
  void send(std::string bytes) override;
  bool clientBlocked() const override;
  void pauseBody() override;
  void resumeBody() override;
  void complete(bool keep_alive) override;
  void abort() override;
  void log(common::DecisionRecord record) override;
  const std::optional<net::SocketAddress>& clientAddress() const override;
  event::Dispatcher& dispatcher() override { return context_.dispatcher(); }

  void refuse(int status, std::string_view proxy_error, std::string reason, std::string details,
              std::string why, std::string how = "", std::string rule = "",
              std::string extra_headers = "");
  void refuseDecision(const policy::Decision& decision);
  void refuseSession(const SessionResult& result);
  void logRequest(const std::string& decision, const std::string& reason, const std::string& rule,
                  int status);
  void armTimer();
  void onTimer();
  void finish();  // closes everything and releases this connection

  ConnectionContext& context_;
  std::unique_ptr<net::TcpConnection> client_;
  http::RequestParser parser_;
  std::shared_ptr<const ProxySnapshot> snapshot_;  // of the current request
  State state_ = State::kReadingHead;
  std::string pending_;  // client bytes not yet consumed by the parser
  bool client_eof_ = false;
  bool draining_ = false;
  event::TimerPtr timer_;
  // What timer_ is armed for while reading a head: the idle keep-alive wait, or the deadline of
  // the head being received (armed once when its first byte arrives, never pushed back).
  enum class Wait : uint8_t { kNone, kIdle, kHead };
  Wait wait_ = Wait::kNone;

  // The current request.
  std::optional<http::RequestHead> head_;
  net::CancelHandlePtr session_query_;          // an asynchronous session resolution in flight
  std::shared_ptr<const SessionInfo> session_;  // null: anonymous (the default environment)
  std::string environment_ = "default";         // the environment the request is decided in
  const policy::Environment* env_ = nullptr;    // in snapshot_; null if it does not exist
  policy::Decision decision_;
  bool report_allowed_ = false;  // denied, but let through by report mode
  // Limits (SPEC §3 step 5): the state the request counts against and the limits in force.
  std::shared_ptr<SessionLimits> limits_state_;
  policy::Limits limits_;
  std::chrono::steady_clock::time_point limits_read_;
  std::shared_ptr<SessionLimits> connection_state_;  // the session this connection counts for
  bool session_tunnel_ = false;                      // holds one of its session's tunnels
  bool tunnel_slot_ = false;                         // holds one of the process's tunnels
  event::TimerPtr shape_timer_up_;                   // HTTP body shaping, per direction
  event::TimerPtr shape_timer_down_;
  bool upload_shaped_ = false;
  bool download_shaped_ = false;
  bool decision_counted_ = false;
  std::optional<policy::Decision> shadow_;  // the shadow environment's decision
  std::string client_text_;
  std::chrono::steady_clock::time_point started_;
  bool request_complete_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool response_keep_alive_ = true;
  http::BodyFraming response_framing_ = http::BodyFraming::kNone;
  std::string response_head_;  // serialised, not yet written (see writeResponse)
  int response_status_ = 0;
  uint64_t bytes_up_ = 0;
  uint64_t bytes_down_ = 0;
  uint64_t progress_mark_ = 0;  // bytes_up_ + bytes_down_ when timer_ was last armed
  std::unique_ptr<Upstream> upstream_;
  // The connection attempt of the current (or previous) request; replaced by the next one, never
  // destroyed from inside its own callback.
  net::CancelHandlePtr connecting_;
  std::string pool_key_;
  bool decided_ = false;  // decide() ran for the current request
  bool reused_ = false;   // upstream_ came from the pool

  // A local endpoint's request.
  std::unique_ptr<LocalHandler> local_;
  bool local_complete_ = false;    // the handler finished its response
  bool local_keep_alive_ = false;  // ... and the connection may carry another request
  bool local_logged_ = false;      // the handler wrote the request's decision line
  bool local_paused_ = false;      // the handler paused the request body
  event::TimerPtr local_resume_;   // resumes the body outside the handler's call
  bool parsing_ = false;           // inside parser_.feed() (its callbacks may not re-enter it)

  // CONNECT.
  std::unique_ptr<net::TcpConnection> tunnel_upstream_;
  std::unique_ptr<tls::ClientHelloReader> hello_;
  std::unique_ptr<Tunnel> tunnel_;
  std::string sni_;
};

}  // namespace gatehouse::conn
