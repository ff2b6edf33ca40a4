#include "proxy/conn/client_connection.h"

#include <strings.h>

#include <algorithm>
#include <cstdio>

#include "policy/explain.h"
#include "proxy/common/secrets.h"

namespace gatehouse::conn {

namespace {

http::RequestParserOptions parserOptions(const server::ListenerConfig& l,
                                         LocalEndpoints* endpoints) {
  http::RequestParserOptions o;
  if (endpoints != nullptr) o.allow_origin_form_paths = endpoints->prefixes();
  o.max_target = static_cast<size_t>(l.max_uri_bytes);
  o.max_header_bytes = static_cast<size_t>(l.max_header_bytes);
  o.max_headers = static_cast<size_t>(l.max_headers);
  return o;
}

const char* proxyErrorFor(const policy::Decision& d) {
  switch (d.reason) {
    case policy::Reason::kAddressDenied:
      return "destination_ip_prohibited";
    case policy::Reason::kProxyLoop:
      return "proxy_loop_detected";
    default:
      return "http_request_denied";
  }
}

std::string chunk(const char* data, size_t len) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", len);
  std::string out(size);
  out.append(data, len);
  out += "\r\n";
  return out;
}

}  // namespace

// ---- the upstream of a forwarded request ------------------------------------------------------

ClientConnection::Upstream::Upstream(ClientConnection& owner,
                                     std::unique_ptr<net::TcpConnection> connection)
    : owner_(owner), connection_(std::move(connection)), parser_(*this) {
  connection_->setCallbacks(this);
}

ClientConnection::Upstream::~Upstream() {
  if (connection_) connection_->setCallbacks(nullptr);
}

std::unique_ptr<net::TcpConnection> ClientConnection::Upstream::releaseConnection() {
  detached_ = true;
  connection_->setCallbacks(nullptr);  // the pool takes over at once, reading included
  return std::move(connection_);
}

void ClientConnection::Upstream::detach() {
  detached_ = true;
  if (connection_) {
    connection_->setCallbacks(nullptr);
    connection_->close();
  }
}

void ClientConnection::Upstream::onData(net::TcpConnection&, const char* data, size_t len) {
  ClientConnection& o = owner_;
  feeding_ = true;
  http::ParseResult r = parser_.feed(data, len);
  feeding_ = false;
  if (detached_ || o.state_ == State::kClosed) return;
  o.flushResponseHead();  // a head whose body comes in a later read
  if (complete_pending_) {
    // The response ended inside this read. Anything after it (bytes out of turn, a parse error
    // on them, a close) means the connection is not reused; only now may it go to the pool.
    complete_pending_ = false;
    if (r.failed() || r.status == http::ParseStatus::kDone || r.consumed < len) reusable_ = false;
    o.responseDone(false);
    return;
  }
  if (r.failed()) {
    o.upstreamFailed(502, "http_protocol_error", std::string(r.error.reason), r.error.message);
    return;
  }
  if (r.status == http::ParseStatus::kDone) reusable_ = false;
  if (r.consumed < len && o.response_complete_) {
    // Bytes after the response: never relayed, and the connection is not reused.
    reusable_ = false;
  }
}

void ClientConnection::Upstream::onEndOfStream(net::TcpConnection&) {
  ClientConnection& o = owner_;
  http::ParseResult r = parser_.finish();
  if (detached_ || o.state_ == State::kClosed) return;
  if (r.failed()) {
    o.upstreamFailed(502, "http_response_incomplete", std::string(r.error.reason), r.error.message);
  }
}

void ClientConnection::Upstream::onError(net::TcpConnection&, int status) {
  if (detached_) return;
  owner_.upstreamFailed(
      502, "connection_terminated", "upstream-reset",
      std::string("the upstream connection failed (") + uv_err_name(status) + ")");
}

void ClientConnection::Upstream::onWritable(net::TcpConnection&) {
  // The upstream drained what we queued: read the client's body again.
  ClientConnection& o = owner_;
  if (o.state_ != State::kForwarding || o.request_complete_ || o.upload_shaped_) return;
  o.parser_.resume();
  o.processInput();
  if (o.state_ == State::kForwarding && !o.client_eof_) o.client_->startReading();
}

void ClientConnection::Upstream::onInformational(http::ResponseHead&& head) {
  ClientConnection& o = owner_;
  // Relay 100 Continue to HTTP/1.1 clients that asked for it; other 1xx are dropped.
  if (head.status == 100 && o.head_ && o.head_->expect_continue) {
    o.client_->write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
  }
}

void ClientConnection::Upstream::onResponseHead(http::ResponseHead&& head) {
  ClientConnection& o = owner_;
  o.response_started_ = true;
  o.response_status_ = head.status;
  http::ResponseSerializeOptions options;
  options.head_request = o.head_ && o.head_->method == "HEAD";
  options.http10_client = o.head_ && o.head_->version_minor == 0;
  options.keep_alive = o.head_ && o.head_->keep_alive && !o.draining_;
  o.response_framing_ = http::responseFraming(head, options);
  o.response_keep_alive_ = options.keep_alive && head.keep_alive &&
                           o.response_framing_ != http::BodyFraming::kUntilClose;
  reusable_ = head.keep_alive && !head.body_until_close;
  options.keep_alive = o.response_keep_alive_;
  // Held until the first body bytes (or the end of this read): head and body in one write.
  o.response_head_ = http::serializeResponseHead(head, options);
}

void ClientConnection::Upstream::onBody(const char* data, size_t len) {
  ClientConnection& o = owner_;
  o.bytes_down_ += len;
  if (o.response_framing_ == http::BodyFraming::kChunked) {
    o.writeResponse(chunk(data, len));
  } else if (o.response_framing_ != http::BodyFraming::kNone) {
    o.writeResponse(std::string_view(data, len));
  }
  // A slow client stops the upstream (resumed in ClientConnection::onWritable).
  if (o.client_->aboveHighWatermark()) connection_->stopReading();
  if (o.limits_state_) o.shapeHttp(false, o.meter(false, len));
}

void ClientConnection::Upstream::onMessageComplete() {
  ClientConnection& o = owner_;
  if (o.response_framing_ == http::BodyFraming::kChunked) {
    o.writeResponse(std::string_view("0\r\n\r\n"));
  }
  o.flushResponseHead();
  o.response_complete_ = true;
  if (feeding_) {
    complete_pending_ = true;  // onData finishes once the parser has returned
    return;
  }
  o.responseDone(false);
}

void ClientConnection::writeResponse(std::string_view bytes) {
  if (response_head_.empty()) {
    client_->write(bytes);
    return;
  }
  response_head_.append(bytes);
  client_->write(std::move(response_head_));
  response_head_.clear();
}

void ClientConnection::writeResponse(std::string&& bytes) {
  if (response_head_.empty()) {
    client_->write(std::move(bytes));
    return;
  }
  response_head_.append(bytes);
  client_->write(std::move(response_head_));
  response_head_.clear();
}

void ClientConnection::flushResponseHead() {
  if (response_head_.empty()) return;
  client_->write(std::move(response_head_));
  response_head_.clear();
}

// ---- the client -----------------------------------------------------------------------------

ClientConnection::ClientConnection(ConnectionContext& context,
                                   std::unique_ptr<net::TcpConnection> client)
    : context_(context),
      client_(std::move(client)),
      parser_(*this, parserOptions(context.snapshot()->listener, context.localEndpoints())),
      timer_(context.dispatcher().createTimer([this] { onTimer(); })) {
  client_->setCallbacks(this);
  if (client_->peer()) client_text_ = client_->peer()->toString();
}

ClientConnection::~ClientConnection() {
  if (client_) client_->setCallbacks(nullptr);
}

void ClientConnection::start() {
  client_->startReading();
  armTimer();
}

void ClientConnection::armTimer() {
  // The request's snapshot when there is one: no atomic load per call on the request path.
  const std::shared_ptr<const ProxySnapshot> snap = snapshot_ ? snapshot_ : context_.snapshot();
  const auto& l = snap->listener;
  switch (state_) {
    case State::kReadingHead:
      if (parser_.idle() && pending_.empty()) {
        if (wait_ != Wait::kIdle) timer_->enable(std::chrono::milliseconds(l.idle_timeout_ms));
        wait_ = Wait::kIdle;
      } else if (wait_ != Wait::kHead) {
        // Slowloris: the whole head must arrive within header_timeout_ms of its first byte.
        timer_->enable(std::chrono::milliseconds(l.header_timeout_ms));
        wait_ = Wait::kHead;
      }
      return;
    case State::kTunnelHello:
      timer_->enable(std::chrono::milliseconds(l.header_timeout_ms));
      break;
    case State::kForwarding:
      // One timer for the whole exchange, checked for progress when it fires (onTimer): no
      // timer restart per read.
      progress_mark_ = bytes_up_ + bytes_down_;
      timer_->enable(std::chrono::milliseconds(l.response_timeout_ms));
      break;
    case State::kLocal:
      // A local exchange (the git path) in which no byte moves either way for twice the idle
      // timeout closes: a client that stops in the middle of its body does not keep it. The
      // handler times out its own upstream.
      progress_mark_ = bytes_up_ + bytes_down_;
      timer_->enable(std::chrono::milliseconds(2 * static_cast<int64_t>(l.idle_timeout_ms)));
      break;
    case State::kClosing:
      // A client that never reads the end of its final response does not keep the connection.
      timer_->enable(std::chrono::milliseconds(l.idle_timeout_ms));
      break;
    default:
      timer_->disable();
  }
}

void ClientConnection::onTimer() {
  switch (state_) {
    case State::kReadingHead:
      if (parser_.idle() && pending_.empty()) {
        finish();  // idle keep-alive connection: close silently
      } else {
        refuse(408, "http_request_error", "header-timeout", "request head timeout",
               "the request head did not arrive in time");
      }
      return;
    case State::kTunnelHello:
      logRequest("deny", "client-hello-timeout", "", 200);
      finish();
      return;
    case State::kForwarding: {
      // Bytes moved since the timer was armed (a body streaming either way): wait another
      // period. Nothing for a whole period: before the response head it is a 504; after it,
      // the upstream stalled mid-body (or the client stopped reading) and both connections
      // close, so a stalled exchange never holds them for ever.
      const uint64_t progress = bytes_up_ + bytes_down_;
      if (progress != progress_mark_) {
        progress_mark_ = progress;
        timer_->enable(std::chrono::milliseconds(snapshot_->listener.response_timeout_ms));
        return;
      }
      if (response_started_) {
        logRequest("allow", "upstream-body-timeout", decision_.ruleId(), response_status_);
        finish();
        return;
      }
      upstreamFailed(504, "http_response_timeout", "upstream-response-timeout",
                     "the upstream did not answer in time");
      return;
    }
    case State::kLocal: {
      const uint64_t progress = bytes_up_ + bytes_down_;
      if (progress != progress_mark_) {
        armTimer();
        return;
      }
      if (!local_logged_) logRequest("deny", "local-idle-timeout", "", 0);
      finish();
      return;
    }
    case State::kClosing:
      finish();
      return;
    case State::kConnecting:
      if (!decided_) {
        decided_ = true;
        decide();
      }
      return;
    default:
      return;
  }
}

void ClientConnection::onData(net::TcpConnection&, const char* data, size_t len) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  if (state_ == State::kTunnelHello) {
    onHelloBytes(data, len);
    return;
  }
  pending_.append(data, len);
  // Never hold more than one head's worth of unparsed bytes: stop reading until they are used.
  if (pending_.size() > maxPending()) client_->stopReading();
  if (state_ == State::kReadingHead ||
      ((state_ == State::kForwarding || state_ == State::kLocal) && !request_complete_)) {
    processInput();
  }
}

void ClientConnection::processInput() {
  while (state_ != State::kClosed && !parser_.paused()) {
    const bool had_bytes = !pending_.empty();
    parsing_ = true;
    http::ParseResult r = parser_.feed(pending_.data(), pending_.size());
    parsing_ = false;
    if (state_ == State::kClosed) return;
    pending_.erase(0, r.consumed);
    handleParseResult(r);
    if (state_ == State::kLocal && local_complete_ && request_complete_) {
      // Both ended inside feed(): the next request is read now that the parser has returned.
      localDone();
      return;
    }
    if (state_ == State::kConnecting && !decided_) {
      // A head arrived: decide now that feed() has returned (a parser callback may only pause).
      decided_ = true;
      decide();
      return;
    }
    if (r.status != http::ParseStatus::kNeedMore || !had_bytes || state_ == State::kClosed) break;
    if (pending_.empty()) break;
  }
  if (state_ == State::kReadingHead) armTimer();
}

void ClientConnection::handleParseResult(const http::ParseResult& r) {
  switch (r.status) {
    case http::ParseStatus::kError:
      refuse(r.error.status, "http_request_error", std::string(r.error.reason),
             std::string(r.error.reason), r.error.message);
      return;
    case http::ParseStatus::kDone:
      // The request ended the connection; nothing after it is parsed.
      client_->stopReading();
      pending_.clear();
      return;
    case http::ParseStatus::kUpgrade:
      // CONNECT: the bytes after the head stay in pending_ untouched until the decision (reading
      // goes on into pending_, bounded by maxPending(); a refusal discards them).
      return;
    case http::ParseStatus::kPaused:
      // Keep reading (toggling costs two epoll_ctl calls per request); onData stops reading
      // once a head's worth of bytes waits unparsed.
      if (pending_.size() > maxPending()) client_->stopReading();
      return;
    case http::ParseStatus::kNeedMore:
      return;
  }
}

void ClientConnection::onEndOfStream(net::TcpConnection&) {
  client_eof_ = true;
  if (state_ == State::kTunnelHello) {
    logRequest("deny", "client-closed", "", 200);
    finish();
    return;
  }
  if (state_ == State::kReadingHead) {
    http::ParseResult r = parser_.finish();
    if (r.failed()) {
      refuse(r.error.status, "http_request_error", std::string(r.error.reason),
             std::string(r.error.reason), r.error.message);
      return;
    }
    finish();
    return;
  }
  if ((state_ == State::kForwarding || state_ == State::kLocal) && !request_complete_) {
    // The client went away in the middle of its request.
    if (state_ == State::kLocal && !local_logged_) logRequest("deny", "client-gone", "", 0);
    finish();
  }
}

void ClientConnection::onError(net::TcpConnection&, int) {
  if (state_ == State::kLocal && !local_logged_) {
    logRequest("deny", "client-gone", "", 0);
  } else if (state_ == State::kForwarding || state_ == State::kConnecting) {
    logRequest(decision_.allowed() ? "allow" : "deny", "client-gone", decision_.ruleId(), 0);
  }
  finish();
}

void ClientConnection::onWritable(net::TcpConnection&) {
  if (state_ == State::kLocal) {
    if (local_) local_->onClientWritable();
    return;
  }
  // The client drained the response: read the upstream again (unless shaping holds it).
  if (state_ == State::kForwarding && upstream_ && !download_shaped_) {
    upstream_->connection().startReading();
  }
}

void ClientConnection::onWriteShutdownDone(net::TcpConnection&) {
  if (state_ == State::kClosing) finish();
}

// ---- one request ----------------------------------------------------------------------------

void ClientConnection::onRequestHead(http::RequestHead&& head) {
  parser_.pause();  // decide before any body byte is read
  timer_->disable();
  wait_ = Wait::kNone;
  snapshot_ = context_.snapshot();
  head_ = std::move(head);
  started_ = std::chrono::steady_clock::now();
  request_complete_ = false;
  response_started_ = response_complete_ = false;
  response_status_ = 0;
  bytes_up_ = bytes_down_ = 0;
  session_.reset();
  environment_ = "default";
  env_ = nullptr;
  upload_shaped_ = download_shaped_ = false;
  if (shape_timer_up_) shape_timer_up_->disable();
  if (shape_timer_down_) shape_timer_down_->disable();
  report_allowed_ = false;
  decision_counted_ = false;
  shadow_.reset();
  state_ = State::kConnecting;
  decided_ = false;  // processInput() decides once feed() has returned
}

void ClientConnection::decide() {
  const http::RequestHead& h = *head_;
  if (h.origin_form) {
    if (LocalEndpoints* endpoints = context_.localEndpoints()) {
      startLocal(*endpoints);
      return;
    }
    refuse(400, "http_request_error", "origin-form", "origin-form request",
           "this proxy serves no local endpoint at that path");
    return;
  }
  // SPEC §3 step 2: who is the client? A resolver that knows at once answers inline.
  SessionQuery query;
  query.client = client_->peer();
  if (const http::Header* auth = h.find("proxy-authorization")) {
    query.proxy_authorization = auth->value;
  }
  SessionResolver& resolver = context_.sessions();
  if (std::optional<SessionResult> now = resolver.resolveNow(query)) {
    onSession(std::move(*now));
    return;
  }
  session_query_ =
      resolver.resolve(query, [this](SessionResult result) { onSession(std::move(result)); });
}

void ClientConnection::onSession(SessionResult result) {
  if (state_ != State::kConnecting) return;
  limits_state_ = std::move(result.limits);
  switch (result.status) {
    case SessionStatus::kIdentified:
      session_ = std::move(result.session);
      environment_ = session_->environment;
      break;
    case SessionStatus::kAnonymous:
      environment_ = "default";
      break;
    default:
      session_ = std::move(result.session);  // kExpired names the session, for the log
      refuseSession(result);
      return;
  }
  decidePolicy();
}

void ClientConnection::decidePolicy() {
  const http::RequestHead& h = *head_;
  // SPEC §3 step 3: the name policy of the session's environment, before any DNS query.
  env_ = snapshot_->policy->environment(environment_);
  policy::RequestInfo info{environment_, h.method, &h.parsed.host, h.parsed.port};
  decision_ = snapshot_->policy->check(info);
  if (env_ != nullptr && env_->shadow() != nullptr) evaluateShadow(*env_);
  if (!decision_.allowed()) {
    // Report mode lets a name-policy denial through (decided, logged and counted as a denial).
    // An unknown environment is a configuration error, never reported through.
    if (env_ == nullptr || env_->mode() != policy::EnvironmentMode::kReport) {
      refuseDecision(decision_);
      return;
    }
    report_allowed_ = true;
    countDecision(policy::Verdict::kDeny, decision_.reason);
    context_.stats().reportAllowed(decision_.reason);
  }
  // SPEC §3 step 5 (step 4, rules, has none configured yet): limits, still before any DNS.
  if (!admit()) return;
  if (!h.is_connect) {
    // An idle connection to the same destination for the same session, if its address still
    // passes the guard under this request's policy.
    pool_key_ = upstream::ConnectionPool::key(h.parsed.host.text, h.parsed.port, false,
                                              session_ ? session_->id : std::string());
    while (auto pooled = context_.pool().take(pool_key_)) {
      if (!pooled->peer()) continue;
      if (snapshot_->policy->checkResolved(info, pooled->peer()->ip).allowed()) {
        reused_ = true;
        countDecision(policy::Verdict::kAllow, decision_.reason);
        startForwarding(std::move(pooled));
        return;
      }
    }
  }
  connectUpstream();
}

void ClientConnection::evaluateShadow(const policy::Environment& env) {
  const http::RequestHead& h = *head_;
  const policy::Decision shadow = env.shadow()->checkName(h.parsed.host, h.parsed.port);
  common::ShadowOutcome outcome = common::ShadowOutcome::kAgree;
  if (shadow.allowed() != decision_.allowed()) {
    outcome =
        shadow.allowed() ? common::ShadowOutcome::kWouldAllow : common::ShadowOutcome::kWouldDeny;
  }
  context_.stats().shadowDecided(outcome, shadow.reason);
  shadow_ = shadow;
}

common::RequestKind ClientConnection::kind() const {
  if (head_ && head_->is_connect) return common::RequestKind::kConnect;
  return common::RequestKind::kHttp;
}

bool ClientConnection::admit() {
  const http::RequestHead& h = *head_;
  if (h.is_connect) {
    if (!context_.acquireTunnelSlot()) {
      refuse(503, "http_request_denied", "tunnel-limit-reached", "too many tunnels",
             "the proxy has reached its limit of concurrent tunnels", "retry shortly", "",
             "Retry-After: 1\r\n");
      return false;
    }
    tunnel_slot_ = true;
  }
  if (!limits_state_) return true;
  limits_ = policy::resolveLimits(env_ != nullptr ? env_->config().limits : policy::LimitsConfig{},
                                  session_ ? &session_->limits : nullptr);
  limits_read_ = std::chrono::steady_clock::now();
  common::SessionLimiter& limiter = limits_state_->limiter();
  if (connection_state_ != limits_state_) {
    // The first request of this connection in this session: it counts as one of its
    // connections until it closes (or a later request names another session).
    if (!limiter.acquireConnection(limits_)) {
      refuseLimit(common::Admission{common::LimitHit::kConnections, common::kNanosPerSecond});
      return false;
    }
    if (connection_state_) connection_state_->limiter().releaseConnection();
    connection_state_ = limits_state_;
  }
  // The destination key is only built when a per-destination limit needs it.
  std::string destination;
  if (limits_[policy::LimitKey::kDestinationRequestsPerSecond] != 0) {
    destination = h.parsed.host.text + ":" + std::to_string(h.parsed.port);
  }
  common::Admission admission =
      limiter.admitRequest(common::monotonicNanos(), limits_, destination, h.is_connect);
  if (!admission.ok()) {
    refuseLimit(admission);
    return false;
  }
  if (h.is_connect) {
    if (!limiter.acquireTunnel(limits_)) {
      refuseLimit(common::Admission{common::LimitHit::kTunnels, common::kNanosPerSecond});
      return false;
    }
    session_tunnel_ = true;
  }
  return true;
}

void ClientConnection::refuseLimit(common::Admission admission) {
  context_.stats().limited(admission.hit);
  const bool budget = admission.hit == common::LimitHit::kUploadBudget ||
                      admission.hit == common::LimitHit::kDownloadBudget;
  const int64_t seconds = std::max<int64_t>(
      1, (admission.retry_after + common::kNanosPerSecond - 1) / common::kNanosPerSecond);
  std::string why;
  switch (admission.hit) {
    case common::LimitHit::kRequestRate:
      why = "the session sent more requests per second than its limit allows";
      break;
    case common::LimitHit::kDestinationRate:
      why = "the session sent more requests per second to this destination than its limit allows";
      break;
    case common::LimitHit::kTunnelRate:
      why = "the session opened more tunnels per second than its limit allows";
      break;
    case common::LimitHit::kConnections:
      why = "the session has as many open connections as its limit allows";
      break;
    case common::LimitHit::kTunnels:
      why = "the session has as many open tunnels as its limit allows";
      break;
    case common::LimitHit::kUploadBudget:
      why = "the session has spent its upload budget for the current window";
      break;
    case common::LimitHit::kDownloadBudget:
      why = "the session has spent its download budget for the current window";
      break;
    case common::LimitHit::kNone:
      break;
  }
  refuse(429, "http_request_denied", budget ? "budget-exhausted" : "rate-limited",
         budget ? "budget exhausted" : "rate limited", std::move(why),
         "retry after " + std::to_string(seconds) + " s, or ask the operator for higher limits",
         std::string("limits:") + common::limitHitName(admission.hit),
         "Retry-After: " + std::to_string(seconds) + "\r\n");
}

const policy::Limits& ClientConnection::liveLimits() {
  const auto now = std::chrono::steady_clock::now();
  if (now - limits_read_ < std::chrono::seconds(1)) return limits_;
  limits_read_ = now;
  // The current snapshot (a reload) and the session's current overrides (an API change).
  std::shared_ptr<const ProxySnapshot> snap = context_.snapshot();
  const policy::Environment* env = snap->policy->environment(environment_);
  const policy::LimitsConfig overrides = limits_state_->overrides();
  limits_ = policy::resolveLimits(env != nullptr ? env->config().limits : policy::LimitsConfig{},
                                  session_ ? &overrides : nullptr);
  return limits_;
}

std::chrono::nanoseconds ClientConnection::meter(bool upload, size_t bytes) {
  if (!limits_state_) return std::chrono::nanoseconds(0);
  const policy::Limits& limits = liveLimits();
  common::SessionLimiter& limiter = limits_state_->limiter();
  const common::Nanos now = common::monotonicNanos();
  return std::chrono::nanoseconds(upload ? limiter.onUpload(now, limits, bytes)
                                         : limiter.onDownload(now, limits, bytes));
}

void ClientConnection::shapeHttp(bool upload, std::chrono::nanoseconds pause) {
  if (pause.count() <= 0 || state_ != State::kForwarding) return;
  event::TimerPtr& timer = upload ? shape_timer_up_ : shape_timer_down_;
  if (upload) {
    upload_shaped_ = true;
    parser_.pause();
    client_->stopReading();
    if (!timer) {
      timer = context_.dispatcher().createTimer([this] {
        upload_shaped_ = false;
        if (state_ != State::kForwarding || request_complete_ || !upstream_) return;
        if (upstream_->connection().aboveHighWatermark()) return;  // onWritable resumes
        parser_.resume();
        processInput();
        if (state_ == State::kForwarding && !request_complete_ && !client_eof_ && !upload_shaped_) {
          client_->startReading();
        }
      });
    }
  } else {
    download_shaped_ = true;
    if (upstream_) upstream_->connection().stopReading();
    if (!timer) {
      timer = context_.dispatcher().createTimer([this] {
        download_shaped_ = false;
        if (state_ != State::kForwarding || !upstream_) return;
        if (client_->aboveHighWatermark()) return;  // onWritable resumes
        upstream_->connection().startReading();
      });
    }
  }
  timer->enable(std::chrono::ceil<std::chrono::milliseconds>(pause));
}

void ClientConnection::releaseTunnelLimits() {
  if (session_tunnel_ && limits_state_) limits_state_->limiter().releaseTunnel();
  session_tunnel_ = false;
  if (tunnel_slot_) context_.releaseTunnelSlot();
  tunnel_slot_ = false;
}

void ClientConnection::countDecision(policy::Verdict verdict, policy::Reason reason) {
  if (decision_counted_) return;
  decision_counted_ = true;
  const policy::AccessLevel level = env_ != nullptr ? env_->level() : policy::AccessLevel::kNone;
  context_.stats().decided(kind(), level, verdict, reason);
}

void ClientConnection::connectUpstream() {
  const http::RequestHead& h = *head_;
  reused_ = false;
  upstream::ConnectRequest req;
  req.host = h.parsed.host;
  req.port = h.parsed.port;
  req.environment = environment_;
  req.policy = snapshot_->policy;
  connecting_ = context_.connector().connect(
      std::move(req),
      [this](upstream::ConnectOutcome&& outcome) { onConnected(std::move(outcome)); });
}

void ClientConnection::onConnected(upstream::ConnectOutcome outcome) {
  if (state_ != State::kConnecting) return;
  common::ProxyStats& stats = context_.stats();
  if (outcome.dns_status) stats.dnsLookup(*outcome.dns_status, outcome.dns_time);
  if (!outcome.ok()) {
    if (outcome.status == 403) {
      refuseDecision(outcome.decision);
      return;
    }
    // Allowed by the policy; the failure is the upstream's or DNS's (counted as a refusal).
    countDecision(policy::Verdict::kAllow, decision_.reason);
    refuse(outcome.status, outcome.proxy_error, outcome.reason, outcome.reason, outcome.message);
    return;
  }
  stats.upstreamConnected(outcome.connect_time);
  countDecision(policy::Verdict::kAllow, decision_.reason);
  if (head_->is_connect) {
    startTunnelHello(std::move(outcome.connection));
  } else {
    startForwarding(std::move(outcome.connection));
  }
}

void ClientConnection::startForwarding(std::unique_ptr<net::TcpConnection> connection) {
  state_ = State::kForwarding;
  upstream_ = std::make_unique<Upstream>(*this, std::move(connection));
  // BAD-INPUTS I13: a credential gatehouse issued (the scoped git credential) never reaches
  // another host; the request goes on without it.
  std::vector<http::Header>& headers = head_->headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const http::Header& h) {
                                 return h.name.size() == 13 &&
                                        strcasecmp(h.name.c_str(), "authorization") == 0 &&
                                        common::carriesIssuedCredential(h.value);
                               }),
                headers.end());
  http::RequestSerializeOptions options;
  options.keep_alive = true;
  upstream_->parser().expectResponse(
      http::ResponseExpectation{head_->method == "HEAD", /*upgrade_allowed=*/false});
  upstream_->connection().write(http::serializeRequestHead(*head_, options));
  upstream_->connection().startReading();
  armTimer();
  // Now the body (if any) may be read. A retried request was read completely already: the
  // parser stays paused at its end, so a pipelined request is not read before this one is
  // answered.
  if (request_complete_) return;
  parser_.resume();
  processInput();
  if (state_ == State::kForwarding && !request_complete_ && !client_eof_) client_->startReading();
}

void ClientConnection::onBody(const char* data, size_t len) {
  if (state_ == State::kLocal) {
    bytes_up_ += len;
    if (local_) local_->onBody(data, len);
    return;
  }
  if (!upstream_) return;
  bytes_up_ += len;
  net::TcpConnection& up = upstream_->connection();
  if (head_->chunked) {
    up.write(chunk(data, len));
  } else {
    up.write(std::string_view(data, len));
  }
  if (up.aboveHighWatermark()) parser_.pause();  // resumed by Upstream::onWritable
  if (limits_state_) shapeHttp(true, meter(true, len));
}

void ClientConnection::onMessageComplete() {
  if (state_ == State::kConnecting) {
    // A request without body completes when the parser is resumed in startForwarding; for a
    // refused request the message end is irrelevant.
    return;
  }
  request_complete_ = true;
  if (state_ == State::kLocal) {
    // Stop at the message boundary: a pipelined request waits until this one is answered.
    parser_.pause();
    // With the response complete too, processInput() reads the next request once feed()
    // returned (never from inside the parser's callback).
    if (!local_complete_ && local_) local_->onBodyComplete();
    return;
  }
  if (upstream_ && head_->chunked) upstream_->connection().write(std::string_view("0\r\n\r\n"));
  // Stop at the message boundary: a pipelined request waits until this one is answered.
  parser_.pause();
  if (response_complete_) responseDone(false);
}

void ClientConnection::responseDone(bool) {
  bool body_cut = false;
  if (!response_complete_ || !request_complete_) {
    if (response_complete_ && !request_complete_) {
      // The upstream answered before the request body ended: neither connection can continue
      // (the upstream still expects the rest of the body).
      response_keep_alive_ = false;
      request_complete_ = true;
      body_cut = true;
    } else {
      return;
    }
  }
  logRequest("allow", policy::reasonCode(decision_.reason), decision_.ruleId(), response_status_);
  if (upstream_ && upstream_->reusable() && !body_cut && !pool_key_.empty()) {
    context_.pool().put(pool_key_, upstream_->releaseConnection());
  }
  retireUpstream();
  nextRequest(response_keep_alive_);
}

void ClientConnection::nextRequest(bool keep_alive) {
  head_.reset();
  if (!keep_alive || draining_ || client_eof_) {
    state_ = State::kClosing;
    armTimer();
    client_->shutdownWrite();
    return;
  }
  state_ = State::kReadingHead;
  parser_.resume();
  processInput();
  if (state_ == State::kReadingHead) {
    client_->startReading();
    armTimer();
  }
}

void ClientConnection::retireUpstream() {
  if (!upstream_) return;
  upstream_->detach();
  context_.dispatcher().deferredDelete(std::move(upstream_));
}

void ClientConnection::upstreamFailed(int status, std::string_view proxy_error, std::string reason,
                                      std::string message) {
  if (state_ == State::kClosed) return;
  // A pooled connection the upstream closed while it was idle (a close or reset before any byte
  // of a response): retry once on a new one, for requests that sent no body. Never after a
  // timeout or a malformed answer: the upstream got the request, and a retry would replay it.
  const bool idle_close = reason == "upstream-closed" || reason == "upstream-reset";
  if (reused_ && idle_close && !response_started_ && bytes_up_ == 0 && !head_->chunked &&
      !head_->content_length.value_or(0)) {
    retireUpstream();
    state_ = State::kConnecting;
    parser_.pause();
    connectUpstream();
    return;
  }
  if (response_started_) {
    // Part of the response is on its way: the client can only learn of the failure by the
    // connection closing early.
    logRequest("allow", reason, decision_.ruleId(), response_status_);
    finish();
    return;
  }
  refuse(status, proxy_error, reason, reason, message);
}

// ---- CONNECT ----------------------------------------------------------------------------------

void ClientConnection::startTunnelHello(std::unique_ptr<net::TcpConnection> upstream) {
  tunnel_upstream_ = std::move(upstream);
  state_ = State::kTunnelHello;
  hello_ = std::make_unique<tls::ClientHelloReader>();
  client_->write(http::connectEstablished());
  armTimer();
  // Bytes the client sent right after the CONNECT head are the start of its tunnel data.
  std::string early = std::move(pending_);
  pending_.clear();
  if (!early.empty()) onHelloBytes(early.data(), early.size());
  if (state_ != State::kTunnelHello) return;
  if (client_eof_) {
    // The client closed while the upstream was being dialed, before a whole ClientHello.
    logRequest("deny", "client-closed", "", 200);
    finish();
    return;
  }
  client_->startReading();
}

void ClientConnection::onHelloBytes(const char* data, size_t len) {
  hello_->feed(reinterpret_cast<const uint8_t*>(data), len);
  if (hello_->status() != tls::HelloStatus::kNeedMore) checkHello();
}

void ClientConnection::checkHello() {
  // Reading stays on: a refusal closes the connection, an allowed hello hands it to the tunnel.
  timer_->disable();
  const auto& l = snapshot_->listener;
  const policy::Host& host = head_->parsed.host;
  const tls::HelloStatus status = hello_->status();
  std::string reason;
  if (status != tls::HelloStatus::kDone) {
    if (!(status == tls::HelloStatus::kNotTls && l.allow_non_tls)) {
      reason = status == tls::HelloStatus::kNotTls ? "not-tls" : "malformed-client-hello";
    }
  } else {
    const tls::ClientHelloInfo& info = hello_->info();
    sni_ = info.sni;
    if (info.sni_invalid) {
      reason = "sni-invalid";
    } else if (info.has_ech && !l.allow_ech) {
      reason = "ech-not-allowed";
    } else if (!info.has_sni) {
      if (!host.isIp() && !l.allow_missing_sni) reason = "sni-missing";
    } else {
      policy::HostParse sni = policy::canonicalizeHost(info.sni);
      // An IP-literal CONNECT carrying a host name, or a name other than the CONNECT host, is
      // domain fronting.
      if (!sni.ok() || sni.host->isIp() || host.isIp() || sni.host->text != host.text) {
        reason = "sni-mismatch";
      }
    }
  }
  if (!reason.empty()) {
    // Nothing reaches the upstream: close both before any byte is forwarded.
    logRequest("deny", reason, "tls:" + reason, 200);
    finish();
    return;
  }
  state_ = State::kTunnel;
  const std::vector<uint8_t>& buffered = hello_->buffered();
  std::string early(buffered.begin(), buffered.end());
  hello_.reset();
  auto idle = std::chrono::milliseconds(l.tunnel_idle_timeout_ms);
  context_.stats().tunnelOpened();
  tunnel_ = std::make_unique<Tunnel>(
      context_.dispatcher(), std::move(client_), std::move(tunnel_upstream_), idle,
      [this](const Tunnel::Stats& stats) {
        bytes_up_ = stats.bytes_up;
        bytes_down_ = stats.bytes_down;
        logRequest("allow", policy::reasonCode(decision_.reason), decision_.ruleId(), 200);
        finish();
      });
  if (limits_state_) {
    tunnel_->setMeter([this](bool upload, size_t bytes) { return meter(upload, bytes); });
  }
  tunnel_->start(std::move(early));
}

// ---- refusals, logging, the end -----------------------------------------------------------------

void ClientConnection::refuseDecision(const policy::Decision& d) {
  countDecision(policy::Verdict::kDeny, d.reason);
  const policy::Host& host = head_->parsed.host;
  const uint16_t port = head_->parsed.port;
  refuse(403, proxyErrorFor(d), policy::reasonCode(d.reason), policy::reasonCode(d.reason),
         policy::decisionSummary(d, env_, host, port), policy::howToAllow(d, env_, host, port),
         d.ruleId());
}

void ClientConnection::refuseSession(const SessionResult& result) {
  // RFC 9110 §15.5.8: a 407 carries the challenge; JVM and .NET clients only send credentials
  // after it.
  static constexpr std::string_view kChallenge =
      "Proxy-Authenticate: Basic realm=\"gatehouse\"\r\n";
  common::ProxyStats& stats = context_.stats();
  switch (result.status) {
    case SessionStatus::kChallenge:
      refuse(407, "http_request_denied", "session-required", "session required", result.reason,
             "send Proxy-Authorization: Basic with the session id as user name and its proxy "
             "credential as password (HTTP_PROXY=http://ID:CREDENTIAL@proxy:port)",
             "", std::string(kChallenge));
      return;
    case SessionStatus::kExpired:
      stats.authFailed(common::AuthFailure::kExpired);
      refuse(407, "http_request_denied", "session-expired", "session expired", result.reason,
             "ask the operator for a new session", "", std::string(kChallenge));
      return;
    case SessionStatus::kThrottled:
      stats.authFailed(common::AuthFailure::kThrottled);
      refuse(429, "http_request_denied", "auth-throttled", "too many failed authentications",
             result.reason, "wait, then retry with a valid credential", "", "Retry-After: 1\r\n");
      return;
    default:
      stats.authFailed(common::AuthFailure::kDenied);
      refuse(407, "http_request_denied", "session-denied", "session credential refused",
             result.reason, "check the session id and proxy credential", "",
             std::string(kChallenge));
      return;
  }
}

void ClientConnection::refuse(int status, std::string_view proxy_error, std::string reason,
                              std::string details, std::string why, std::string how,
                              std::string rule, std::string extra_headers) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  if (state_ == State::kLocal && bytes_down_ > 0) {
    // A local endpoint's response is on its way (a framing error in the rest of the body): the
    // client can only learn of it by the connection closing.
    logRequest("error", reason, rule, status);
    finish();
    return;
  }
  context_.stats().refused(status);
  http::Refusal r;
  r.extra_headers = std::move(extra_headers);
  r.status = status;
  r.proxy_error = proxy_error;
  r.reason = reason;
  // Proxy-Status details in words: "host-not-allowed" -> "host not allowed".
  for (char& c : details) c = c == '-' ? ' ' : c;
  r.details = std::move(details);
  r.rule = rule;
  if (env_ != nullptr) r.environment = policy::environmentTag(*env_);
  if (head_) {
    r.what = head_->method + " " + head_->parsed.host.authorityForm() + ":" +
             std::to_string(head_->parsed.port);
  } else {
    r.what = "the request";
  }
  r.why = std::move(why);
  r.how = std::move(how);
  r.close = true;
  logRequest(status == 403 || status == 407 || status == 429 ? "deny" : "error", reason, rule,
             status);
  retireUpstream();
  retireLocal();
  connecting_.reset();
  session_query_.reset();
  tunnel_upstream_.reset();
  releaseTunnelLimits();
  client_->stopReading();
  pending_.clear();
  state_ = State::kClosing;
  armTimer();
  client_->write(http::buildRefusal(r));
  client_->shutdownWrite();
}

void ClientConnection::logRequest(const std::string& decision, const std::string& reason,
                                  const std::string& rule, int status) {
  if (state_ == State::kLocal) local_logged_ = true;
  if (head_) {
    common::ProxyStats& stats = context_.stats();
    stats.bytes(kind(), common::Direction::kUp, bytes_up_);
    stats.bytes(kind(), common::Direction::kDown, bytes_down_);
  }
  if (!context_.decisionLog().enabled()) return;
  common::DecisionRecord rec;
  rec.time = std::chrono::system_clock::now();
  rec.client = client_text_;
  if (head_) {
    rec.kind = head_->is_connect ? "connect" : (head_->origin_form ? "local" : "http");
    rec.method = head_->method;
    rec.host = head_->parsed.host.text;
    rec.port = head_->parsed.port;
  } else {
    rec.kind = "http";
  }
  if (env_ != nullptr) rec.environment = policy::environmentTag(*env_);
  if (session_) {
    rec.session = session_->id;
    rec.labels = session_->labels;
  }
  if (report_allowed_ && decision == "allow") rec.mode = "report";
  if (shadow_ && env_ != nullptr && env_->shadow() != nullptr) {
    rec.shadow_environment = policy::environmentTag(*env_->shadow());
    rec.shadow_decision = policy::verdictName(shadow_->verdict);
    rec.shadow_reason = policy::reasonCode(shadow_->reason);
  }
  rec.decision = decision;
  rec.reason = reason;
  rec.rule = rule;
  rec.status = status;
  rec.sni = sni_;
  rec.bytes_up = bytes_up_;
  rec.bytes_down = bytes_down_;
  if (head_) {
    rec.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
            .count();
  }
  context_.decisionLog().write(rec);
}

// ---- local endpoints ---------------------------------------------------------------------------

void ClientConnection::startLocal(LocalEndpoints& endpoints) {
  state_ = State::kLocal;
  local_complete_ = local_keep_alive_ = local_logged_ = local_paused_ = false;
  local_ = endpoints.open(*head_, *this);
  if (!local_) {
    refuse(400, "http_request_error", "origin-form", "origin-form request",
           "this proxy serves no local endpoint at that path");
    return;
  }
  local_->start();
  if (state_ != State::kLocal) return;
  armTimer();
  // The body (if any) may be read now; a request without one completes in processInput().
  if (!local_paused_) {
    parser_.resume();
    processInput();
    if (state_ == State::kLocal && !request_complete_ && !client_eof_ && !local_paused_) {
      client_->startReading();
    }
  }
}

void ClientConnection::retireLocal() {
  if (!local_) return;
  context_.dispatcher().deferredDelete(std::move(local_));
  if (local_resume_) local_resume_->disable();
}

void ClientConnection::localDone() {
  retireLocal();
  nextRequest(local_keep_alive_);
}

void ClientConnection::send(std::string bytes) {
  if (state_ != State::kLocal || local_complete_) return;
  bytes_down_ += bytes.size();
  client_->write(std::move(bytes));
}

bool ClientConnection::clientBlocked() const { return client_->aboveHighWatermark(); }

void ClientConnection::pauseBody() {
  if (state_ != State::kLocal || request_complete_) return;
  local_paused_ = true;
  parser_.pause();
  client_->stopReading();
}

void ClientConnection::resumeBody() {
  if (state_ != State::kLocal || request_complete_ || !local_paused_) return;
  local_paused_ = false;
  // Never call the handler back from inside its own call: the body resumes on the next turn.
  if (!local_resume_) {
    local_resume_ = context_.dispatcher().createTimer([this] {
      if (state_ != State::kLocal || request_complete_ || local_paused_) return;
      parser_.resume();
      processInput();
      if (state_ == State::kLocal && !request_complete_ && !client_eof_ && !local_paused_) {
        client_->startReading();
      }
    });
  }
  local_resume_->enable(std::chrono::milliseconds(0));
}

void ClientConnection::complete(bool keep_alive) {
  if (state_ != State::kLocal || local_complete_) return;
  local_complete_ = true;
  local_keep_alive_ = keep_alive && head_->keep_alive && !draining_;
  if (!local_logged_) logRequest("error", "local-incomplete", "", 0);
  if (request_complete_) {
    // Inside the parser's callback (onBodyComplete), processInput() finishes once feed()
    // returned.
    if (!parsing_) localDone();
    return;
  }
  if (!local_keep_alive_) {
    // The rest of the body is never read: close once the response is out.
    retireLocal();
    head_.reset();
    client_->stopReading();
    pending_.clear();
    state_ = State::kClosing;
    armTimer();
    client_->shutdownWrite();
    return;
  }
  // The handler drains the rest of the body; the next request is read after it.
  if (local_paused_) resumeBody();
}

void ClientConnection::abort() {
  if (state_ != State::kLocal) return;
  if (!local_logged_) logRequest("error", "local-aborted", "", 0);
  finish();
}

void ClientConnection::log(common::DecisionRecord rec) {
  if (local_logged_ || !head_) return;
  local_logged_ = true;
  common::ProxyStats& stats = context_.stats();
  stats.bytes(common::RequestKind::kLocal, common::Direction::kUp, bytes_up_);
  stats.bytes(common::RequestKind::kLocal, common::Direction::kDown, bytes_down_);
  if (!context_.decisionLog().enabled()) return;
  rec.time = std::chrono::system_clock::now();
  rec.kind = "local";
  rec.client = client_text_;
  rec.method = head_->method;
  rec.bytes_up = bytes_up_;
  rec.bytes_down = bytes_down_;
  rec.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
          .count();
  context_.decisionLog().write(rec);
}

const std::optional<net::SocketAddress>& ClientConnection::clientAddress() const {
  return client_->peer();
}

void ClientConnection::drain() {
  draining_ = true;
  if (state_ == State::kReadingHead && parser_.idle() && pending_.empty()) finish();
}

void ClientConnection::close() { finish(); }

void ClientConnection::finish() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  timer_->disable();
  connecting_.reset();
  session_query_.reset();
  if (tunnel_) context_.stats().tunnelClosed();
  releaseTunnelLimits();
  if (connection_state_) connection_state_->limiter().releaseConnection();
  connection_state_.reset();
  if (shape_timer_up_) shape_timer_up_->disable();
  if (shape_timer_down_) shape_timer_down_->disable();
  retireUpstream();
  retireLocal();
  if (tunnel_upstream_) tunnel_upstream_->close();
  // The tunnel, like this connection, may be inside one of its own callbacks: it is closed
  // here and destroyed with this connection, after the current callback.
  if (tunnel_) tunnel_->close();
  if (client_) client_->close();
  context_.release(this);
}

}  // namespace gatehouse::conn
