#include "gitproxy/git_handler.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <variant>

#include "gitproxy/api_policy.h"
#include "gitproxy/git_names.h"
#include "gitproxy/push_policy.h"
#include "gitproxy/receive_pack.h"
#include "gitproxy/report_status.h"
#include "gitproxy/route.h"
#include "policy/host.h"
#include "proxy/http/response_parser.h"
#include "proxy/http/responses.h"

namespace gatehouse::gitproxy {

const char* gitOperationName(GitOperation operation) {
  switch (operation) {
    case GitOperation::kFetch:
      return "fetch";
    case GitOperation::kPush:
      return "push";
    case GitOperation::kApi:
      return "api";
  }
  return "api";
}

const char* gitResultName(GitResult result) {
  switch (result) {
    case GitResult::kOk:
      return "ok";
    case GitResult::kRefused:
      return "refused";
    case GitResult::kUnauthorized:
      return "unauthorized";
    case GitResult::kInvalid:
      return "invalid";
    case GitResult::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<UpstreamBase> parseUpstreamBase(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  uint16_t port = 443;
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (authority[0] != '[' || authority.find(']') < colon)) {
    host = authority.substr(0, colon);
    std::string_view digits = authority.substr(colon + 1);
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    port = static_cast<uint16_t>(value);
  }
  policy::HostParse parsed = policy::canonicalizeHost(host);
  if (!parsed.ok()) return std::nullopt;
  UpstreamBase base;
  base.host = parsed.host->text;
  base.port = port;
  base.authority = parsed.host->authorityForm();
  if (port != 443) base.authority += ":" + std::to_string(port);
  base.path_prefix = std::string(path);
  return base;
}

std::shared_ptr<const GitSettings> buildGitSettings(const GitConfig& config, std::string* error) {
  auto settings = std::make_shared<GitSettings>();
  std::optional<UpstreamBase> git = parseUpstreamBase(config.upstream);
  std::optional<UpstreamBase> api = parseUpstreamBase(config.api_upstream);
  if (!git || !api) {
    *error = "[git] upstream and api_upstream must be https:// base URLs";
    return nullptr;
  }
  settings->git = std::move(*git);
  settings->api = std::move(*api);
  for (const ConnectTo& c : config.connect_to) {
    std::optional<net::SocketAddress> address = net::parseSocketAddress(c.target);
    if (!address) {
      *error = "[git] connect_to \"" + c.host + "\" is not an ip:port";
      return nullptr;
    }
    settings->connect_to.emplace_back(c.host, *address);
  }
  tls::TlsClientOptions options;
  options.ca_file = config.ca_file;
  settings->tls = tls::TlsClientContext::create(options, error);
  if (!settings->tls) return nullptr;
  return settings;
}

namespace {

constexpr std::string_view kGitRealm = "WWW-Authenticate: Basic realm=\"gatehouse-git\"\r\n";

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

// Wipes a string that held the token (the Authorization header) before it is freed.
void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && asciiLower(a) == asciiLower(b);
}

std::string chunk(const char* data, size_t len) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", len);
  std::string out(size);
  out.append(data, len);
  out += "\r\n";
  return out;
}

// JSON string body (the API's error messages are fixed text, but keep them valid whatever).
std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// Client request headers passed upstream; everything else (Authorization, Cookie, Proxy-*,
// Forwarded, hop-by-hop, framing) is dropped or regenerated.
bool forwardRequestHeader(std::string_view name, bool api, bool upload_pack) {
  static constexpr std::string_view kCommon[] = {"user-agent", "accept", "accept-language",
                                                 "content-type"};
  const std::string lower = asciiLower(name);
  for (std::string_view n : kCommon) {
    if (lower == n) return true;
  }
  if (api) {
    return lower == "x-github-api-version" || lower == "if-none-match" ||
           lower == "if-modified-since";
  }
  // Git compresses upload-pack requests (never push bodies: those are refused with 415).
  if (upload_pack) {
    return lower == "git-protocol" || lower == "content-encoding" || lower == "accept-encoding";
  }
  return lower == "accept-encoding";
}

// Upstream response headers relayed to the client; framing and connection headers are
// regenerated, cookies and token metadata (X-OAuth-Scopes) dropped.
bool relayResponseHeader(std::string_view name, bool api) {
  static constexpr std::string_view kAlways[] = {"content-type",  "content-encoding",
                                                 "cache-control", "expires",
                                                 "pragma",        "vary",
                                                 "etag",          "last-modified",
                                                 "retry-after",   "x-github-request-id"};
  const std::string lower = asciiLower(name);
  for (std::string_view n : kAlways) {
    if (lower == n) return true;
  }
  if (!api) return false;
  return lower == "link" || lower == "location" || lower == "x-github-media-type" ||
         lower.rfind("x-ratelimit-", 0) == 0;
}

class GitRequest final : public conn::LocalHandler, public tls::TlsClientStream::Callbacks {
 public:
  GitRequest(GitEndpoints::Deps deps, std::shared_ptr<const GitSettings> settings,
             const http::RequestHead& head, conn::LocalExchange& exchange)
      : deps_(deps),
        settings_(std::move(settings)),
        head_(head),
        ex_(exchange),
        response_parser_(sink_) {}

  ~GitRequest() override {
    if (tls_) tls_->close();
  }

  void start() override;
  void onBody(const char* data, size_t len) override;
  void onBodyComplete() override;
  void onClientWritable() override;

 private:
  enum class Phase : uint8_t {
    kAnswered,    // the response was given (a refusal, or the relayed one): the rest is drained
    kInspecting,  // receive-pack: reading the command section
    kBuffering,   // API: reading a body the allowlist checks
    kConnecting,  // dialing and TLS; the body waits
    kStreaming,   // request to the upstream, response back
  };

  // tls::TlsClientStream::Callbacks
  void onTlsConnected(tls::TlsClientStream& stream) override;
  void onTlsData(tls::TlsClientStream& stream, const char* data, size_t len) override;
  void onTlsEndOfStream(tls::TlsClientStream& stream) override;
  void onTlsError(tls::TlsClientStream& stream, std::string_view reason) override;
  void onTlsWritable(tls::TlsClientStream& stream) override;
  // The upstream's response (ResponseParser callbacks, through sink_).
  void onResponseHead(http::ResponseHead&& head);
  void onBodyBytes(const char* data, size_t len);
  void onMessageComplete();

  // ResponseParser::Callbacks::onBody has the same signature as LocalHandler::onBody, so the
  // response side reaches this request through an adapter.
  class ResponseSink final : public http::ResponseParser::Callbacks {
   public:
    explicit ResponseSink(GitRequest& owner) : owner_(owner) {}
    void onResponseHead(http::ResponseHead&& head) override {
      owner_.onResponseHead(std::move(head));
    }
    void onBody(const char* data, size_t len) override { owner_.onBodyBytes(data, len); }
    void onMessageComplete() override { owner_.onMessageComplete(); }

   private:
    GitRequest& owner_;
  };

  GitOperation operation() const {
    if (route_.kind == RouteKind::kApi) return GitOperation::kApi;
    return route_.service == GitService::kReceivePack ? GitOperation::kPush : GitOperation::kFetch;
  }
  const UpstreamBase& base() const {
    return route_.kind == RouteKind::kApi ? settings_->api : settings_->git;
  }
  bool isPushRpc() const {
    return route_.kind == RouteKind::kRpc && route_.service == GitService::kReceivePack;
  }

  void refuseText(int status, GitResult result, std::string reason, std::string message,
                  std::string extra_headers = "");
  void refuseJson(int status, GitResult result, std::string reason, std::string message);
  void answer(int status, std::string_view content_type, std::string body,
              std::string extra_headers, std::string decision, std::string reason,
              GitResult result);
  void unauthorized(const GrantResult& grant);
  void decidePush();
  void connectUpstream();
  void onConnected(upstream::ConnectOutcome outcome);
  std::string upstreamHead() const;
  void writeUp(const char* data, size_t len);
  void upstreamFailed(int status, std::string reason, std::string message);
  void log(std::string decision, std::string reason, int status);
  void touch();

  GitEndpoints::Deps deps_;
  std::shared_ptr<const GitSettings> settings_;
  const http::RequestHead head_;  // a copy: the connection forgets its own once answered
  conn::LocalExchange& ex_;
  Phase phase_ = Phase::kAnswered;
  GitRoute route_;
  std::shared_ptr<const GitGrant> grant_;
  std::string session_id_;
  std::optional<ReceivePackParser> push_parser_;
  std::vector<std::string> ref_updates_;
  ApiBody api_body_check_ = ApiBody::kNone;
  std::string held_;  // body bytes read before the upstream connection exists
  bool body_complete_ = false;
  bool body_paused_ = false;  // by us, for the upstream's backpressure
  net::CancelHandlePtr connecting_;
  std::unique_ptr<tls::TlsClientStream> tls_;
  ResponseSink sink_{*this};
  http::ResponseParser response_parser_;
  bool response_started_ = false;
  bool response_chunked_ = false;  // to the client
  bool response_keep_alive_ = true;
  int response_status_ = 0;
  event::TimerPtr idle_timer_;
};

// ---- answering locally ----------------------------------------------------------------------

void GitRequest::answer(int status, std::string_view content_type, std::string body,
                        std::string extra_headers, std::string decision, std::string reason,
                        GitResult result) {
  if (phase_ == Phase::kAnswered && response_started_) return;
  connecting_.reset();
  if (tls_) tls_->close();
  if (idle_timer_) idle_timer_->disable();
  phase_ = Phase::kAnswered;
  response_started_ = true;
  response_status_ = status;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + http::statusText(status) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-cache, max-age=0, must-revalidate\r\n";
  out += "X-Gatehouse-Reason: " + reason + "\r\n";
  out += extra_headers;
  const bool keep_alive = head_.keep_alive;
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  deps_.stats.gitRequest(operation(), result);
  ex_.send(std::move(out));
  log(std::move(decision), std::move(reason), status);
  // The rest of the request body (a refused push's pack) is drained by the connection.
  ex_.complete(keep_alive);
}

void GitRequest::refuseText(int status, GitResult result, std::string reason, std::string message,
                            std::string extra_headers) {
  // git prints a text/plain body line by line as "remote: ...".
  const std::string decision = status == 403 || status == 401 || status == 429 ? "deny" : "error";
  answer(status, "text/plain; charset=utf-8", message + "\n", std::move(extra_headers), decision,
         std::move(reason), result);
}

void GitRequest::refuseJson(int status, GitResult result, std::string reason, std::string message) {
  std::string body =
      "{\"message\":" + jsonString(message) + ",\"gatehouse_reason\":" + jsonString(reason) + "}\n";
  answer(status, "application/json; charset=utf-8", std::move(body), "",
         status == 403 || status == 401 ? "deny" : "error", std::move(reason), result);
}

void GitRequest::unauthorized(const GrantResult& grant) {
  session_id_ = grant.session_id;
  std::string reason;
  switch (grant.status) {
    case GrantStatus::kMissing:
      reason = "git-credential-required";
      break;
    case GrantStatus::kMalformed:
      reason = "git-credential-malformed";
      break;
    case GrantStatus::kExpired:
      reason = "git-session-expired";
      break;
    case GrantStatus::kThrottled:
      refuseText(429, GitResult::kUnauthorized, "auth-throttled",
                 "gatehouse: too many failed authentications from this address; retry later",
                 "Retry-After: 1\r\n");
      return;
    default:
      reason = "git-credential-denied";
      break;
  }
  std::string message = "gatehouse: " + grant.reason;
  if (grant.status == GrantStatus::kMissing) {
    message += " (present the session's git credential as the HTTP Basic password)";
  }
  if (route_.kind == RouteKind::kApi) {
    answer(401, "application/json; charset=utf-8",
           "{\"message\":" + jsonString(message) + ",\"gatehouse_reason\":" + jsonString(reason) +
               "}\n",
           std::string(kGitRealm), "deny", reason, GitResult::kUnauthorized);
    return;
  }
  refuseText(401, GitResult::kUnauthorized, reason, message, std::string(kGitRealm));
}

void GitRequest::log(std::string decision, std::string reason, int status) {
  common::DecisionRecord rec;
  rec.session = session_id_;
  if (grant_) rec.labels = grant_->labels;
  if (settings_) {
    rec.host = base().host;
    rec.port = base().port;
  }
  rec.decision = std::move(decision);
  rec.reason = std::move(reason);
  rec.rule = "git";
  rec.status = status;
  if (!route_.owner.empty()) rec.repo = route_.owner + "/" + route_.repo;
  if (route_.kind == RouteKind::kApi) {
    rec.git_service = "api";
    rec.path = route_.api_path;
  } else if (!route_.owner.empty()) {
    rec.git_service = route_.service == GitService::kReceivePack ? "receive-pack" : "upload-pack";
  }
  rec.ref_updates = ref_updates_;
  ex_.log(std::move(rec));
}

// ---- the request ------------------------------------------------------------------------------

void GitRequest::start() {
  std::variant<GitRoute, RouteError> routed = routeGitRequest(head_.method, head_.target);
  if (const RouteError* e = std::get_if<RouteError>(&routed)) {
    if (head_.target.rfind("/github/api/", 0) == 0) {
      route_.kind = RouteKind::kApi;
      refuseJson(e->status, GitResult::kInvalid, e->reason, "gatehouse: " + e->message);
    } else {
      refuseText(e->status, GitResult::kInvalid, e->reason, "gatehouse: " + e->message);
    }
    return;
  }
  route_ = std::get<GitRoute>(std::move(routed));
  if (!settings_) {
    refuseText(503, GitResult::kFailed, "git-not-configured",
               "gatehouse: the git path is not configured");
    return;
  }

  // The scoped credential: the session and what it may do.
  const http::Header* auth = head_.find("authorization");
  GrantResult granted = deps_.credentials.grantFor(
      auth != nullptr ? auth->value : "", ex_.clientAddress(), std::chrono::system_clock::now());
  if (granted.status != GrantStatus::kGranted || !granted.grant) {
    unauthorized(granted);
    return;
  }
  grant_ = std::move(granted.grant);
  session_id_ = grant_->session_id;

  if (route_.kind == RouteKind::kApi) {
    ApiVerdict verdict =
        checkApiRequest(ApiRequest{head_.method, route_.api_path, route_.api_query}, *grant_);
    route_.owner = verdict.owner;
    route_.repo = verdict.repo;
    if (!verdict.allowed) {
      refuseJson(403, GitResult::kRefused, verdict.reason, "gatehouse: " + verdict.message);
      return;
    }
    api_body_check_ = verdict.body_check;
  } else {
    const RepoScope* scope = grant_->find(route_.owner, route_.repo);
    if (scope == nullptr) {
      refuseText(403, GitResult::kRefused, "repo-not-in-scope",
                 "gatehouse: this repository is not in the session's scope");
      return;
    }
    if (route_.service == GitService::kReceivePack &&
        (!scope->push || grant_->push_branch.empty())) {
      refuseText(403, GitResult::kRefused, "push-not-allowed",
                 "gatehouse: this session may not push to this repository (read-only access)");
      return;
    }
  }
  if (!grant_->token || grant_->token->empty()) {
    refuseText(503, GitResult::kFailed, "no-upstream-token",
               "gatehouse: the session has no upstream token; ask the operator to set one");
    return;
  }

  if (isPushRpc()) {
    // git never compresses push bodies; a backend would inflate what was not inspected.
    if (head_.find("content-encoding") != nullptr) {
      refuseText(415, GitResult::kInvalid, "push-content-encoding",
                 "gatehouse: compressed push bodies are not accepted");
      return;
    }
    const http::Header* type = head_.find("content-type");
    if (type == nullptr ||
        !equalsIgnoreCase(type->value, "application/x-git-receive-pack-request")) {
      refuseText(415, GitResult::kInvalid, "push-content-type",
                 "gatehouse: a push body must be application/x-git-receive-pack-request");
      return;
    }
    push_parser_.emplace();
    phase_ = Phase::kInspecting;
    return;
  }
  if (route_.kind == RouteKind::kApi && api_body_check_ != ApiBody::kNone) {
    if (head_.content_length && *head_.content_length > settings_->max_api_body) {
      refuseJson(413, GitResult::kInvalid, "api-body-too-large",
                 "gatehouse: the request body is larger than the checked limit");
      return;
    }
    phase_ = Phase::kBuffering;
    return;
  }
  connectUpstream();
}

void GitRequest::onBody(const char* data, size_t len) {
  switch (phase_) {
    case Phase::kAnswered:
      return;  // drained
    case Phase::kInspecting: {
      held_.append(data, len);
      const ReceivePackStatus status = push_parser_->feed(std::string_view(data, len));
      if (status == ReceivePackStatus::kError) {
        refuseText(400, GitResult::kInvalid, pushParseErrorCode(push_parser_->error()),
                   std::string("gatehouse: malformed push: ") +
                       pushParseErrorMessage(push_parser_->error()));
      } else if (status == ReceivePackStatus::kOk) {
        decidePush();
      }
      return;
    }
    case Phase::kBuffering:
      held_.append(data, len);
      if (held_.size() > settings_->max_api_body) {
        refuseJson(413, GitResult::kInvalid, "api-body-too-large",
                   "gatehouse: the request body is larger than the checked limit");
      }
      return;
    case Phase::kConnecting:
      held_.append(data, len);
      return;
    case Phase::kStreaming:
      touch();
      writeUp(data, len);
      if (tls_ && tls_->aboveHighWatermark() && !body_paused_) {
        body_paused_ = true;
        ex_.pauseBody();
      }
      return;
  }
}

void GitRequest::onBodyComplete() {
  body_complete_ = true;
  switch (phase_) {
    case Phase::kAnswered:
      return;
    case Phase::kInspecting: {
      const ReceivePackStatus status = push_parser_->finish();
      if (status != ReceivePackStatus::kOk) {
        refuseText(400, GitResult::kInvalid, pushParseErrorCode(push_parser_->error()),
                   std::string("gatehouse: malformed push: ") +
                       pushParseErrorMessage(push_parser_->error()));
        return;
      }
      decidePush();
      return;
    }
    case Phase::kBuffering: {
      BodyVerdict verdict =
          checkApiBody(api_body_check_, held_, *grant_, route_.owner, route_.repo);
      if (!verdict.allowed) {
        refuseJson(403, GitResult::kRefused, verdict.reason, "gatehouse: " + verdict.message);
        return;
      }
      connectUpstream();
      return;
    }
    case Phase::kConnecting:
      return;  // the end is written after the held bytes
    case Phase::kStreaming:
      if (head_.chunked) writeUp(nullptr, 0);
      return;
  }
}

void GitRequest::decidePush() {
  const ParsedPush& push = push_parser_->push();
  for (const RefCommand& c : push.commands) {
    ref_updates_.push_back(c.ref + " " + c.old_oid + ".." + c.new_oid);
  }
  std::vector<std::string> branches;
  branches.push_back(grant_->push_branch);
  branches.insert(branches.end(), grant_->extra_branches.begin(), grant_->extra_branches.end());
  const PushVerdict verdict = PushPolicy(std::move(branches)).evaluate(push);
  if (!push.commands.empty()) deps_.stats.gitPush(verdict.allowed);
  if (!verdict.allowed) {
    held_.clear();
    if (std::optional<std::string> report = buildRefusalReport(push, verdict)) {
      answer(200, kReceivePackResultContentType, std::move(*report), "", "deny", "push-refused",
             GitResult::kRefused);
    } else {
      refuseText(403, GitResult::kRefused, "push-refused", "gatehouse: " + verdict.summary);
    }
    return;
  }
  connectUpstream();
}

// ---- upstream ---------------------------------------------------------------------------------

void GitRequest::touch() {
  if (idle_timer_) idle_timer_->enable(settings_->idle_timeout);
}

void GitRequest::connectUpstream() {
  phase_ = Phase::kConnecting;
  if (!body_complete_) {
    body_paused_ = true;
    ex_.pauseBody();
  }
  idle_timer_ = ex_.dispatcher().createTimer([this] {
    if (response_started_) {
      log("allow", "git-upstream-idle", response_status_);
      ex_.abort();
      return;
    }
    upstreamFailed(504, "git-upstream-timeout",
                   "gatehouse: the git upstream did not answer in time");
  });
  touch();
  const UpstreamBase& b = base();
  upstream::ConnectRequest request;
  request.operator_destination = true;
  request.port = b.port;
  std::string dial = b.host;
  for (const auto& [host, address] : settings_->connect_to) {
    if (host == b.host) {
      dial = address.ip.toString();
      request.port = address.port;
      break;
    }
  }
  policy::HostParse parsed = policy::canonicalizeHost(dial);
  if (!parsed.ok()) {
    upstreamFailed(502, "git-upstream-invalid", "gatehouse: the git upstream is misconfigured");
    return;
  }
  request.host = *parsed.host;
  connecting_ = deps_.connector().connect(
      std::move(request),
      [this](upstream::ConnectOutcome&& outcome) { onConnected(std::move(outcome)); });
}

void GitRequest::onConnected(upstream::ConnectOutcome outcome) {
  connecting_.reset();
  if (!outcome.ok()) {
    upstreamFailed(outcome.status == 504 ? 504 : 502, "git-upstream-unreachable",
                   "gatehouse: the git upstream could not be reached (" + outcome.reason + ")");
    return;
  }
  tls_ = std::make_unique<tls::TlsClientStream>(ex_.dispatcher(), settings_->tls,
                                                std::move(outcome.connection), base().host, this);
}

std::string GitRequest::upstreamHead() const {
  const UpstreamBase& b = base();
  const bool api = route_.kind == RouteKind::kApi;
  std::string target = b.path_prefix;
  if (api) {
    target += route_.api_path;
    if (!route_.api_query.empty()) target += "?" + route_.api_query;
  } else {
    target += "/" + route_.owner + "/" + route_.repo + ".git/";
    if (route_.kind == RouteKind::kInfoRefs) {
      target += route_.service == GitService::kReceivePack ? "info/refs?service=git-receive-pack"
                                                           : "info/refs?service=git-upload-pack";
    } else {
      target += route_.service == GitService::kReceivePack ? "git-receive-pack" : "git-upload-pack";
    }
  }
  std::string out = head_.method + " " + target + " HTTP/1.1\r\nHost: " + b.authority + "\r\n";
  const bool upload_pack = !api && route_.service == GitService::kUploadPack;
  for (const http::Header& h : head_.headers) {
    if (forwardRequestHeader(h.name, api, upload_pack)) out += h.name + ": " + h.value + "\r\n";
  }
  if (head_.chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (route_.kind == RouteKind::kApi && api_body_check_ != ApiBody::kNone) {
    out += "Content-Length: " + std::to_string(held_.size()) + "\r\n";
  } else if (head_.content_length) {
    out += "Content-Length: " + std::to_string(*head_.content_length) + "\r\n";
  }
  out += "Connection: close\r\n";
  return out;
}

void GitRequest::onTlsConnected(tls::TlsClientStream& stream) {
  touch();
  phase_ = Phase::kStreaming;
  response_parser_.expectResponse(http::ResponseExpectation{head_.method == "HEAD", false});
  // The only place the real token is written: a TLS connection verified for base().host.
  std::string head = upstreamHead();
  std::string credential;
  if (route_.kind == RouteKind::kApi) {
    credential = "Authorization: Bearer ";
    credential += grant_->token->view();
  } else {
    std::string user_pass = "x-access-token:";
    user_pass += grant_->token->view();
    credential = "Authorization: Basic " + base64(user_pass);
    wipe(user_pass);
  }
  credential += "\r\n\r\n";
  head += credential;
  wipe(credential);
  stream.write(head);
  wipe(head);
  if (!held_.empty()) {
    std::string held = std::move(held_);
    held_.clear();
    writeUp(held.data(), held.size());
  }
  if (body_complete_) {
    if (head_.chunked) writeUp(nullptr, 0);
  } else if (body_paused_ && !stream.aboveHighWatermark()) {
    body_paused_ = false;
    ex_.resumeBody();
  }
}

void GitRequest::writeUp(const char* data, size_t len) {
  if (!tls_ || (data != nullptr && len == 0)) return;
  if (!head_.chunked) {
    tls_->write(std::string_view(data, len));
  } else if (len == 0) {
    tls_->write(std::string_view("0\r\n\r\n"));
  } else {
    tls_->write(chunk(data, len));
  }
}

void GitRequest::onTlsWritable(tls::TlsClientStream&) {
  if (phase_ == Phase::kStreaming && body_paused_ && !body_complete_) {
    body_paused_ = false;
    ex_.resumeBody();
  }
}

void GitRequest::onTlsData(tls::TlsClientStream&, const char* data, size_t len) {
  if (phase_ != Phase::kStreaming) return;
  touch();
  http::ParseResult r = response_parser_.feed(data, len);
  if (phase_ != Phase::kStreaming) return;
  if (r.failed()) {
    upstreamFailed(502, "git-upstream-protocol",
                   "gatehouse: the git upstream sent a malformed response");
  }
}

void GitRequest::onTlsEndOfStream(tls::TlsClientStream&) {
  if (phase_ != Phase::kStreaming) return;
  http::ParseResult r = response_parser_.finish();
  if (phase_ != Phase::kStreaming) return;
  if (r.failed()) {
    upstreamFailed(502, "git-upstream-closed",
                   "gatehouse: the git upstream closed the connection early");
  }
}

void GitRequest::onTlsError(tls::TlsClientStream&, std::string_view reason) {
  if (phase_ != Phase::kConnecting && phase_ != Phase::kStreaming) return;
  upstreamFailed(
      502, "git-upstream-tls",
      "gatehouse: the connection to the git upstream failed (" + std::string(reason) + ")");
}

void GitRequest::upstreamFailed(int status, std::string reason, std::string message) {
  if (response_started_) {
    // Part of the relayed response is out: the client learns of the failure by the close.
    log("allow", std::move(reason), response_status_);
    deps_.stats.gitRequest(operation(), GitResult::kFailed);
    phase_ = Phase::kAnswered;
    ex_.abort();
    return;
  }
  if (route_.kind == RouteKind::kApi) {
    refuseJson(status, GitResult::kFailed, std::move(reason), message);
  } else {
    refuseText(status, GitResult::kFailed, std::move(reason), std::move(message));
  }
}

void GitRequest::onResponseHead(http::ResponseHead&& head) {
  const bool api = route_.kind == RouteKind::kApi;
  if (head.status >= 300 && head.status < 400 && head.status != 304) {
    upstreamFailed(502, "git-upstream-redirect",
                   "gatehouse: the git upstream answered with a redirect, which is not followed");
    return;
  }
  if (head.status == 401 || head.status == 407) {
    upstreamFailed(502, "git-upstream-unauthorized",
                   "gatehouse: the upstream refused the session's token; ask the operator to "
                   "renew it");
    return;
  }
  if (head.status == 403 && !api) {
    refuseText(403, GitResult::kFailed, "git-upstream-forbidden",
               "gatehouse: the upstream refused access to this repository with the session's "
               "token");
    return;
  }
  response_started_ = true;
  response_status_ = head.status;
  const bool http10 = head_.version_minor == 0;
  response_keep_alive_ = head_.keep_alive && !http10;
  std::string out = "HTTP/1.1 " + std::to_string(head.status) + " " + head.reason + "\r\n";
  for (const http::Header& h : head.headers) {
    if (relayResponseHeader(h.name, api)) out += h.name + ": " + h.value + "\r\n";
  }
  const bool no_body = head_.method == "HEAD" || head.status == 204 || head.status == 304;
  if (head.content_length) {
    out += "Content-Length: " + std::to_string(*head.content_length) + "\r\n";
  } else if (no_body) {
    // nothing
  } else if (http10) {
    response_keep_alive_ = false;
  } else {
    response_chunked_ = true;
    out += "Transfer-Encoding: chunked\r\n";
  }
  if (!response_keep_alive_) out += "Connection: close\r\n";
  out += "\r\n";
  ex_.send(std::move(out));
}

void GitRequest::onBodyBytes(const char* data, size_t len) {
  if (phase_ != Phase::kStreaming || !response_started_) return;
  if (response_chunked_) {
    ex_.send(chunk(data, len));
  } else {
    ex_.send(std::string(data, len));
  }
  if (ex_.clientBlocked() && tls_) tls_->stopReading();
}

void GitRequest::onClientWritable() {
  if (phase_ == Phase::kStreaming && tls_) tls_->startReading();
}

void GitRequest::onMessageComplete() {
  if (phase_ != Phase::kStreaming || !response_started_) return;
  if (response_chunked_) ex_.send(std::string("0\r\n\r\n"));
  phase_ = Phase::kAnswered;
  if (idle_timer_) idle_timer_->disable();
  if (tls_) tls_->close();
  const bool ok = response_status_ < 400;
  deps_.stats.gitRequest(operation(), ok ? GitResult::kOk : GitResult::kFailed);
  log("allow", ok ? "allowed" : "upstream-error", response_status_);
  ex_.complete(response_keep_alive_);
}

}  // namespace

std::unique_ptr<conn::LocalHandler> GitEndpoints::open(const http::RequestHead& head,
                                                       conn::LocalExchange& exchange) {
  return std::make_unique<GitRequest>(deps_, deps_.settings.current(), head, exchange);
}

}  // namespace gatehouse::gitproxy
