// A whole client connection: the fuzz input is what clients send to a real
// conn::ClientConnection, on a real libuv loop, through the real upstream::Connector and the git
// path's local endpoints, to an in-process origin on loopback. Nothing is mocked between the
// client socket and the origin socket except DNS (a fake resolver) and the session manager.
//
// Input layout:
//   byte 0   flags: bits 0-2 the origin's behaviour (kOrigin* below), bit 3 the session resolver
//            answers asynchronously, bit 4 requests count against session limits, bit 5 the
//            client does NOT half-close after its last byte, bit 6 allow_non_tls, bit 7
//            allow_missing_sni + allow_ech
//   byte 1   flags: bit 0 sessions required (no Proxy-Authorization: 407), bit 1 small listener
//            limits (head 512 bytes, 8 fields, URI 128, one tunnel), bit 2 the origin echoes
//            tunnelled (TLS) bytes instead of draining them, bit 3 a later client connects
//            while the previous one is still open (else after it closed), bit 4 the origin
//            answers only the first request of each connection (later ones time out)
//   byte 2   n-1 (low 4 bits): the number of segment bytes that follow
//   n bytes  segments: length (low 6 bits) + 1, and 0-3 loop turns to wait before it (top bits);
//            each client's bytes are written in these segments (the last one takes the rest)
//   rest     the clients' bytes; "@@NEXT@@" separates up to kMaxClients client connections
//
// What must hold (any violation aborts):
//   - every libuv handle is closed at the end (uv_loop_close() == 0), and every client
//     connection has ended within kDeadline (every timeout is kTimeoutMs);
//   - unless allow_non_tls: every plain-text connection reaching the origin carries well-formed
//     requests (re-parsed strictly), never more of them than the proxy allowed (no smuggled or
//     repeated request), and a connection the proxy keeps for reuse is at a message boundary (no
//     half-sent body left for the next request to be read as);
//   - sanitizers (ASan, UBSan) find nothing.
//
// Names (the fake resolver answers by the first label): origin.test and *.allowed.test resolve
// to the origin's address; fallback.* to a refused loopback address first; private.* to
// 10.0.0.1; mixed.* to both; v6.* to ::1; nx./nodata./servfail./timeout.* fail that way.
// deny.allowed.test is denied by the policy. Proxy-Authorization "Basic ZnV6ejpmdXp6"
// (fuzz:fuzz) is a session in a report-mode environment, "Basic c3RyaWN0Ong=" (strict:x) one in
// the shadow environment, "Basic ZXhwaXJlZDp4" (expired:x) an expired one, "Basic dGhyb3R0bGU="
// throttled, "Basic bm9lbnY6eA==" (noenv:x) a session whose environment does not exist; any
// other value is refused. The git path accepts Authorization: Basic eDpnYXRlaG91c2VfZ2NfZnV6ei...
// (x:gatehouse_gc_fuzz...; see kScopedCredential).
//
// The origin listens on ports 80 and 443 of a loopback address of its own when it may (root),
// else on two free ports of 127.0.0.1 that the policy then allows; seeds name ports 80 and 443.
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.h"
#include "control/session_store.h"
#include "gitproxy/git_handler.h"
#include "policy/policy.h"
#include "proxy/common/decision_log.h"
#include "proxy/common/stats.h"
#include "proxy/conn/client_connection.h"
#include "proxy/conn/context.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/request_parser.h"
#include "proxy/net/dns_resolver.h"
#include "proxy/net/listener.h"
#include "proxy/upstream/connector.h"
#include "proxy/upstream/pool.h"

namespace {

using namespace gatehouse;  // NOLINT(google-build-using-namespace): a test driver
using std::chrono::milliseconds;

constexpr std::string_view kNextClient = "@@NEXT@@";
constexpr size_t kMaxClients = 3;
constexpr milliseconds kDeadline{5000};
constexpr int kTimeoutMs = 10;  // every listener timeout; keeps stalled inputs cheap
constexpr char kScopedCredential[] = "gatehouse_gc_fuzzAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// What the origin does with a plain-text request.
enum OriginMode : uint8_t {
  kOriginLength = 0,      // 200 with Content-Length after the request
  kOriginChunked = 1,     // 200 chunked after the request
  kOriginEarly = 2,       // 200 with Content-Length as soon as the head arrived (keep-alive)
  kOriginContinue = 3,    // 100 Continue on the head, 204 after the request
  kOriginUntilClose = 4,  // HTTP/1.0 body delimited by close, then close
  kOriginSilent = 5,      // never answers (response timeout)
  kOriginInvalid = 6,     // both Content-Length and Transfer-Encoding (502)
  kOriginReset = 7,       // closes on the first byte, without an answer
};

void printBytes(const char* label, std::string_view bytes) {
  std::fprintf(stderr, "  %s: ", label);
  for (unsigned char c : bytes.substr(0, 2048)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fputc('\n', stderr);
}

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "connection_fuzz: %s\n", what);
  if (!detail.empty()) printBytes("bytes", detail);
  std::abort();
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 15];
  }
  return out;
}

// A bound, not listening socket that keeps an address for this process; the per-input
// listeners bind it again (SO_REUSEPORT) and get every connection, since only listening
// sockets receive any.
int reserve(const net::SocketAddress& address, uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_storage storage;
  socklen_t len = net::toSockaddr(address, storage);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0) {
    ::close(fd);
    return -1;
  }
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) == 0) {
    if (auto bound = net::fromSockaddr(reinterpret_cast<sockaddr*>(&storage))) *port = bound->port;
  }
  return fd;
}

// Built once per process: the addresses, the compiled configuration, the git credentials.
struct World {
  net::SocketAddress origin_http;
  net::SocketAddress origin_tls;
  policy::IpAddress refused_ip;  // a loopback address nothing listens on
  server::ListenerConfig listener;
  std::shared_ptr<const policy::PolicySnapshot> policy;
  std::unique_ptr<common::DecisionLog> log;
  std::unique_ptr<control::SessionStore> git_credentials;
  gitproxy::GitSettingsHolder git_settings;

  World() {
    std::signal(SIGPIPE, SIG_IGN);
    pickAddresses();
    std::string token_file = "/tmp/gatehouse-connection-fuzz-XXXXXX";
    int token_fd = ::mkstemp(token_file.data());
    if (token_fd < 0) fail("cannot create the git token file");
    static constexpr std::string_view kToken = "fuzz-upstream-token-0123456789";
    if (::write(token_fd, kToken.data(), kToken.size()) != static_cast<ssize_t>(kToken.size())) {
      fail("cannot write the git token file");
    }
    ::close(token_fd);
    control::ConfigLoad load = control::loadConfigString(configText(token_file), "fuzz.toml");
    if (!load.ok()) {
      for (const auto& issue : load.issues) std::fprintf(stderr, "%s\n", issue.toString().c_str());
      fail("the fuzzer's configuration does not load");
    }
    policy::PolicyCompile compiled = policy::compilePolicy(load.config.policy);
    if (compiled.snapshot == nullptr) {
      for (const auto& issue : compiled.issues) {
        std::fprintf(stderr, "%s\n", issue.toString().c_str());
      }
      fail("the fuzzer's policy does not compile");
    }
    policy = std::move(compiled.snapshot);
    // Below what the loader accepts (100 ms): stalled inputs must stay cheap.
    listener = load.config.listener;
    listener.header_timeout_ms = kTimeoutMs;
    listener.idle_timeout_ms = kTimeoutMs;
    listener.connect_timeout_ms = kTimeoutMs;
    listener.response_timeout_ms = kTimeoutMs;
    listener.tunnel_idle_timeout_ms = kTimeoutMs;
    log = std::make_unique<common::DecisionLog>(std::fopen("/dev/null", "w"), true);
    control::SessionStore::Options options;
    options.failure_burst = 1e12;  // no throttling state carried from one input to the next
    git_credentials = std::make_unique<control::SessionStore>(load.config.sessions, false, options);
    ::unlink(token_file.c_str());  // the session store holds the token now
    std::string error;
    std::shared_ptr<const gitproxy::GitSettings> built =
        gitproxy::buildGitSettings(load.config.git, &error);
    if (built == nullptr) fail("git settings", error);
    auto git = std::make_shared<gitproxy::GitSettings>(*built);
    git->idle_timeout = milliseconds(kTimeoutMs);
    git_settings.publish(std::move(git));
  }

  void pickAddresses() {
    // Ports 80 and 443 of a loopback address of our own (root), else free ports of 127.0.0.1.
    std::random_device rd;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const uint32_t base =
          (127u << 24) | ((rd() % 200 + 20) << 16) | ((rd() % 250 + 1) << 8) | (rd() % 120 * 2 + 2);
      origin_http = {policy::IpAddress::v4(base), 80};
      origin_tls = {policy::IpAddress::v4(base), 443};
      refused_ip = policy::IpAddress::v4(base + 1);
      uint16_t port = 0;
      int http = reserve(origin_http, &port);
      int tls = http >= 0 ? reserve(origin_tls, &port) : -1;
      if (http >= 0 && tls >= 0) return;  // kept open for the life of the process
      if (http >= 0) ::close(http);
    }
    const policy::IpAddress localhost = *policy::IpAddress::parse("127.0.0.1");
    origin_http = {localhost, 0};
    origin_tls = {localhost, 0};
    refused_ip = *policy::IpAddress::parse("127.0.0.2");
    if (reserve(origin_http, &origin_http.port) < 0 || reserve(origin_tls, &origin_tls.port) < 0) {
      fail("cannot reserve the origin's ports");
    }
  }

  std::string configText(const std::string& token_file) const {
    const std::string tls = origin_tls.toString();
    std::string ports = "[80, 443";
    if (origin_http.port != 80) {
      ports += ", " + std::to_string(origin_http.port) + ", " + std::to_string(origin_tls.port);
    }
    ports += "]";
    std::string c;
    c += "[listener]\naddress = \"127.0.0.1:0\"\n";
    c += "[log]\ndecisions = \"\"\nrecent_decisions = 0\n";
    c += "[environment]\nlevel = \"custom\"\n";
    c += "domains = [\"origin.test\", \"**.allowed.test\"]\n";
    c += "deny = [\"deny.allowed.test\"]\nports = " + ports + "\nshadow = \"strict\"\n";
    // Limits only apply when the input asks for a limiter (byte 0, bit 4). Rates and budgets are
    // high enough that shaping never pauses for more than a few milliseconds.
    c += "[environment.limits]\nrequests_per_second = 1000\nrequest_burst = 5\n";
    c += "destination_requests_per_second = 1000\ndestination_burst = 3\n";
    c += "tunnels_per_second = 1000\ntunnel_burst = 2\nmax_tunnels = 1\nmax_connections = 2\n";
    c += "upload_bytes_per_second = 4000000\ndownload_bytes_per_second = 4000000\n";
    c += "upload_budget_bytes = 20000\ndownload_budget_bytes = 20000\n";
    c += "trickle_bytes_per_second = 1000000\n";
    c += "[environments.strict]\nlevel = \"none\"\nalways_allow = [\"origin.test\"]\n";
    c += "ports = " + ports + "\n";
    c += "[environments.reporting]\nlevel = \"none\"\nmode = \"report\"\nports = " + ports + "\n";
    c += "[addresses]\nallow = [\"127.0.0.0/8\"]\n";
    c += "[git]\nupstream = \"https://github.com\"\napi_upstream = \"https://api.github.com\"\n";
    c +=
        "connect_to = { \"github.com\" = \"" + tls + "\", \"api.github.com\" = \"" + tls + "\" }\n";
    c += "[[sessions]]\nid = \"git1\"\ncredential_sha256 = \"" + sha256Hex("proxy-git1") + "\"\n";
    c += "[sessions.git]\nrepos = [\"org/repo\", \"org/ro:read\"]\n";
    c += "push_branch = \"agent-branch\"\ntoken_file = \"" + token_file + "\"\n";
    c += "scoped_credential_sha256 = \"" + sha256Hex(kScopedCredential) + "\"\n";
    return c;
  }
};

World& world() {
  static World* w = new World();  // never destroyed: outlives every input
  return *w;
}

// ---- fakes ------------------------------------------------------------------------------------

// A cancellable callback on the next loop turn (never inline).
class Deferred final : public net::CancelHandle {
 public:
  Deferred(event::Dispatcher& dispatcher, std::function<void()> fn)
      : timer_(dispatcher.createTimer(std::move(fn))) {
    timer_->enable(milliseconds(0));
  }

 private:
  event::TimerPtr timer_;
};

class FakeResolver final : public net::DnsResolver {
 public:
  explicit FakeResolver(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  net::CancelHandlePtr resolve(const std::string& name,
                               std::function<void(const net::DnsAnswer&)> callback) override {
    net::DnsAnswer answer = answerFor(name);
    return std::make_unique<Deferred>(
        dispatcher_, [callback = std::move(callback), answer] { callback(answer); });
  }

 private:
  static net::DnsAnswer answerFor(std::string_view name) {
    const World& w = world();
    const std::string_view label = name.substr(0, name.find('.'));
    net::DnsAnswer a;
    a.status = net::DnsStatus::kOk;
    a.ttl = std::chrono::seconds(60);
    const policy::IpAddress origin = w.origin_http.ip;
    const policy::IpAddress private_ip = *policy::IpAddress::parse("10.0.0.1");
    if (label == "fallback") {
      a.addresses = {w.refused_ip, origin};
    } else if (label == "private") {
      a.addresses = {private_ip};
    } else if (label == "mixed") {
      a.addresses = {private_ip, origin};
    } else if (label == "v6") {
      a.addresses = {*policy::IpAddress::parse("::1")};
    } else if (label == "nx") {
      a.status = net::DnsStatus::kNxDomain;
    } else if (label == "nodata") {
      a.status = net::DnsStatus::kNoData;
    } else if (label == "servfail") {
      a.status = net::DnsStatus::kServFail;
    } else if (label == "timeout") {
      a.status = net::DnsStatus::kTimeout;
    } else {
      a.addresses = {origin};
    }
    return a;
  }

  event::Dispatcher& dispatcher_;
};

class FuzzSessions final : public conn::SessionResolver {
 public:
  FuzzSessions(event::Dispatcher& dispatcher, bool async, bool required,
               std::shared_ptr<conn::SessionLimits> limits)
      : dispatcher_(dispatcher), async_(async), required_(required), limits_(std::move(limits)) {}

  std::optional<conn::SessionResult> resolveNow(const conn::SessionQuery& query) override {
    if (async_) return std::nullopt;
    return answer(query);
  }
  net::CancelHandlePtr resolve(const conn::SessionQuery& query,
                               std::function<void(conn::SessionResult)> done) override {
    conn::SessionResult result = answer(query);
    return std::make_unique<Deferred>(dispatcher_,
                                      [done = std::move(done), result] { done(result); });
  }

 private:
  conn::SessionResult answer(const conn::SessionQuery& query) const {
    conn::SessionResult r;
    r.limits = limits_;
    r.reason = "fuzz";
    const std::string_view auth = query.proxy_authorization;
    auto session = [&](const char* id, const char* environment) {
      auto s = std::make_shared<conn::SessionInfo>();
      s->id = id;
      s->environment = environment;
      s->labels = {"fuzz=1"};
      s->state = limits_;
      return s;
    };
    if (auth.empty()) {
      r.status = required_ ? conn::SessionStatus::kChallenge : conn::SessionStatus::kAnonymous;
    } else if (auth == "Basic ZnV6ejpmdXp6") {
      r.status = conn::SessionStatus::kIdentified;
      r.session = session("fuzz", "reporting");
    } else if (auth == "Basic c3RyaWN0Ong=") {
      r.status = conn::SessionStatus::kIdentified;
      r.session = session("strict", "strict");
    } else if (auth == "Basic bm9lbnY6eA==") {
      r.status = conn::SessionStatus::kIdentified;
      r.session = session("noenv", "no-such-environment");
    } else if (auth == "Basic ZXhwaXJlZDp4") {
      r.status = conn::SessionStatus::kExpired;
      r.session = session("expired", "default");
    } else if (auth == "Basic dGhyb3R0bGU=") {
      r.status = conn::SessionStatus::kThrottled;
    } else {
      r.status = conn::SessionStatus::kDenied;
    }
    if (r.status != conn::SessionStatus::kIdentified &&
        r.status != conn::SessionStatus::kAnonymous) {
      r.limits.reset();
    }
    return r;
  }

  event::Dispatcher& dispatcher_;
  bool async_;
  bool required_;
  std::shared_ptr<conn::SessionLimits> limits_;
};

// Counts what the smuggling check needs: requests the proxy decided to forward.
class FuzzStats final : public common::ProxyStats {
 public:
  void connectionOpened() override {}
  void connectionClosed() override {}
  void tunnelOpened() override {}
  void tunnelClosed() override {}
  void decided(common::RequestKind kind, policy::AccessLevel, policy::Verdict verdict,
               policy::Reason) override {
    if (kind == common::RequestKind::kHttp && verdict == policy::Verdict::kAllow) ++forwardable;
  }
  void reportAllowed(policy::Reason) override { ++forwardable; }
  void shadowDecided(common::ShadowOutcome, policy::Reason) override {}
  void refused(int) override {}
  void authFailed(common::AuthFailure) override {}
  void limited(common::LimitHit) override {}
  void bytes(common::RequestKind, common::Direction, uint64_t) override {}
  void dnsLookup(net::DnsStatus, std::chrono::steady_clock::duration) override {}
  void upstreamConnected(std::chrono::steady_clock::duration) override {}

  size_t forwardable = 0;  // HTTP requests allowed (or let through by report mode)
};

class NullGitStats final : public gitproxy::GitStats {
 public:
  void gitRequest(gitproxy::GitOperation, gitproxy::GitResult) override {}
  void gitPush(bool) override {}
};

// ---- the origin -------------------------------------------------------------------------------

struct Options {
  OriginMode origin = kOriginLength;
  bool async_sessions = false;
  bool limits = false;
  bool half_close = true;
  bool allow_non_tls = false;
  bool lax_tls = false;
  bool sessions_required = false;
  bool small_limits = false;
  bool echo_tunnels = false;
  bool overlap = false;
  bool first_only = false;
};

// One connection accepted by the origin. Kept (closed) until the input ends, so that nothing is
// destroyed inside its own callback.
class OriginConnection final : public net::TcpConnection::Callbacks,
                               public http::RequestParser::Callbacks {
 public:
  OriginConnection(std::unique_ptr<net::TcpConnection> connection, const Options& options,
                   bool checked)
      : connection_(std::move(connection)),
        options_(options),
        checked_(checked),
        parser_(*this, parserOptions()) {
    connection_->setCallbacks(this);
    connection_->startReading();
  }

  bool open() const { return !closed_; }
  bool plainText() const { return kind_ == Kind::kHttp; }
  // A request whose head arrived and whose body did not end.
  bool midMessage() const { return heads_ != completed_; }
  size_t heads() const { return heads_; }
  const std::string& received() const { return received_; }
  void close() {
    closed_ = true;
    connection_->close();
  }

  void onData(net::TcpConnection&, const char* data, size_t len) override {
    if (closed_) return;
    if (kind_ == Kind::kUnknown) {
      kind_ = static_cast<uint8_t>(data[0]) == 0x16 ? Kind::kRaw : Kind::kHttp;
    }
    if (received_.size() < 65536) received_.append(data, std::min<size_t>(len, 65536));
    if (options_.origin == kOriginReset && kind_ == Kind::kHttp) {
      close();
      return;
    }
    if (kind_ == Kind::kRaw) {
      if (options_.echo_tunnels) connection_->write(std::string_view(data, len));
      return;
    }
    http::ParseResult r = parser_.feed(data, len);
    if (r.status == http::ParseStatus::kError) {
      if (checked_) fail("the origin received a malformed request", received_);
      kind_ = Kind::kRaw;  // allow_non_tls: a tunnel may carry anything
    }
  }
  void onEndOfStream(net::TcpConnection&) override { close(); }
  void onError(net::TcpConnection&, int) override { close(); }
  void onWritable(net::TcpConnection&) override {}

  void onRequestHead(http::RequestHead&& head) override {
    ++heads_;
    head_request_ = head.method == "HEAD";
    if (options_.origin == kOriginEarly) respond();
    if (options_.origin == kOriginContinue) {
      connection_->write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
    }
  }
  void onBody(const char*, size_t) override {}
  void onMessageComplete() override {
    ++completed_;
    if (options_.origin != kOriginEarly) respond();
  }

 private:
  enum class Kind : uint8_t { kUnknown, kHttp, kRaw };

  static http::RequestParserOptions parserOptions() {
    http::RequestParserOptions o;
    o.max_target = size_t{1} << 20;
    o.max_header_bytes = size_t{1} << 20;
    o.max_headers = 10000;
    o.allow_underscore_headers = true;
    o.allow_origin_form_paths = {"/"};
    return o;
  }

  void respond() {
    if (options_.first_only && responded_++ > 0) return;
    const std::string_view body = head_request_ ? "" : "hello";
    switch (options_.origin) {
      case kOriginLength:
      case kOriginEarly:
        connection_->write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + std::string(body));
        return;
      case kOriginChunked:
        connection_->write(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") +
                           (head_request_ ? "" : "5\r\nhello\r\n0\r\n\r\n"));
        return;
      case kOriginContinue:
        connection_->write(std::string_view("HTTP/1.1 204 No Content\r\n\r\n"));
        return;
      case kOriginUntilClose:
        connection_->write("HTTP/1.0 200 OK\r\n\r\n" + std::string(body));
        connection_->shutdownWrite();
        return;
      case kOriginInvalid:
        connection_->write(std::string_view(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n"));
        return;
      case kOriginSilent:
      case kOriginReset:
        return;
    }
  }

  std::unique_ptr<net::TcpConnection> connection_;
  const Options& options_;
  bool checked_;
  http::RequestParser parser_;
  Kind kind_ = Kind::kUnknown;
  bool closed_ = false;
  bool head_request_ = false;
  size_t responded_ = 0;
  size_t heads_ = 0;
  size_t completed_ = 0;
  std::string received_;  // the first 64 KiB, for the report
};

// ---- the client -------------------------------------------------------------------------------

struct Segment {
  size_t length;  // 1..64; the last segment takes whatever is left
  int wait_turns;
};

class Client final : public net::TcpConnection::Callbacks {
 public:
  Client(std::string_view bytes, const std::vector<Segment>& plan) {
    size_t offset = 0;
    for (size_t i = 0; i < plan.size() && offset < bytes.size(); ++i) {
      const size_t left = bytes.size() - offset;
      const size_t n = i + 1 == plan.size() ? left : std::min(plan[i].length, left);
      pieces_.push_back({bytes.substr(offset, n), plan[i].wait_turns});
      offset += n;
    }
  }

  void connect(uv_loop_t* loop, const net::SocketAddress& proxy) {
    connection_ = net::TcpConnection::connect(loop, proxy, [this](int status) {
      if (status != 0) fail("the client could not connect to the proxy");
      connected_ = true;
      connection_->startReading();
    });
    if (connection_ == nullptr) fail("no client socket");
    connection_->setCallbacks(this);
  }
  bool started() const { return connection_ != nullptr; }
  bool doneWriting() const { return done_writing_; }
  bool peerClosed() const { return peer_closed_; }
  const std::string& received() const { return received_; }

  // One loop turn: writes the next segment when its wait is over.
  void turn(bool half_close) {
    if (!connected_ || done_writing_) return;
    if (next_ < pieces_.size()) {
      if (pieces_[next_].second > 0) {
        --pieces_[next_].second;
        return;
      }
      connection_->write(pieces_[next_].first);
      ++next_;
      return;
    }
    done_writing_ = true;
    if (half_close && !peer_closed_) connection_->shutdownWrite();
  }

  void close() {
    if (connection_) connection_->close();
  }

  void onData(net::TcpConnection&, const char* data, size_t len) override {
    if (received_.size() < 4096) received_.append(data, std::min<size_t>(len, 4096));
  }
  void onEndOfStream(net::TcpConnection&) override { peer_closed_ = true; }
  void onError(net::TcpConnection&, int) override { peer_closed_ = true; }
  void onWritable(net::TcpConnection&) override {}

 private:
  std::vector<std::pair<std::string_view, int>> pieces_;
  std::string received_;  // the first 4 KiB, for CONNECTION_FUZZ_VERBOSE
  std::unique_ptr<net::TcpConnection> connection_;
  size_t next_ = 0;
  bool connected_ = false;
  bool done_writing_ = false;
  bool peer_closed_ = false;
};

// ---- the worker stand-in ----------------------------------------------------------------------

class Harness final : public conn::ConnectionContext {
 public:
  Harness(const Options& options, std::vector<std::string_view> streams,
          const std::vector<Segment>& plan)
      : options_(options),
        resolver_(dispatcher_),
        connector_(dispatcher_, resolver_, connectorOptions()),
        pool_(std::make_unique<upstream::ConnectionPool>(dispatcher_, upstream::PoolOptions{})),
        sessions_(dispatcher_, options.async_sessions, options.sessions_required,
                  options.limits ? std::make_shared<conn::SessionLimits>() : nullptr),
        git_(std::make_unique<gitproxy::GitEndpoints>(gitproxy::GitEndpoints::Deps{
            world().git_settings, *world().git_credentials,
            [this]() -> upstream::Connector& { return connector_; }, git_stats_})) {
    auto snap = std::make_shared<conn::ProxySnapshot>();
    snap->listener = world().listener;
    snap->listener.allow_non_tls = options.allow_non_tls;
    snap->listener.allow_missing_sni = options.lax_tls;
    snap->listener.allow_ech = options.lax_tls;
    if (options.small_limits) {
      snap->listener.max_header_bytes = 512;
      snap->listener.max_headers = 8;
      snap->listener.max_uri_bytes = 128;
      snap->listener.max_tunnels = 1;
    }
    snap->policy = world().policy;
    snap->generation = 1;
    snapshot_ = std::move(snap);
    for (std::string_view s : streams) clients_.push_back(std::make_unique<Client>(s, plan));
  }

  ~Harness() override {
    // Everything holding a handle goes before the loop is closed; the loop must then be empty.
    for (conn::ClientConnection* c : liveConnections()) c->close();
    for (auto& c : clients_) c->close();
    for (auto& o : origin_connections_) o->close();
    proxy_listener_.reset();
    origin_http_.reset();
    origin_tls_.reset();
    deadline_.reset();
    feeder_.close();
    done_check_.close();
    pool_.reset();
    // Runs the deferred deletes (connections, their local handlers, which use git_) and every
    // close callback.
    if (dispatcher_.shutdown() != 0) fail("a libuv handle outlived the connection");
  }

  void run() {
    const World& w = world();
    std::string error;
    const net::SocketAddress any{*policy::IpAddress::parse("127.0.0.1"), 0};
    proxy_listener_ = net::Listener::listen(
        dispatcher_.loop(), any, 16,
        [this](std::unique_ptr<net::TcpConnection> c) { accept(std::move(c)); }, error);
    auto origin = [this](bool tls) {
      return [this, tls](std::unique_ptr<net::TcpConnection> c) {
        origin_connections_.push_back(
            std::make_unique<OriginConnection>(std::move(c), options_, checked() && !tls));
      };
    };
    origin_http_ =
        net::Listener::listen(dispatcher_.loop(), w.origin_http, 64, origin(false), error);
    if (origin_http_ != nullptr) {
      origin_tls_ =
          net::Listener::listen(dispatcher_.loop(), w.origin_tls, 64, origin(true), error);
    }
    if (proxy_listener_ == nullptr || origin_http_ == nullptr || origin_tls_ == nullptr) {
      fail("cannot listen", error);
    }
    if (uv_idle_init(dispatcher_.loop(), feeder_.get()) != 0) fail("uv_idle_init");
    feeder_.markInitialised();
    feeder_->data = this;
    uv_idle_start(feeder_.get(), [](uv_idle_t* h) noexcept {
      if (auto* self = static_cast<Harness*>(h->data)) self->feed();
    });
    if (uv_check_init(dispatcher_.loop(), done_check_.get()) != 0) fail("uv_check_init");
    done_check_.markInitialised();
    done_check_->data = this;
    uv_check_start(done_check_.get(), [](uv_check_t* h) noexcept {
      if (auto* self = static_cast<Harness*>(h->data)) self->checkDone();
    });
    deadline_ = dispatcher_.createTimer([this] {
      timed_out_ = true;
      uv_stop(dispatcher_.loop());
    });
    deadline_->enable(kDeadline);
    const auto started = std::chrono::steady_clock::now();
    uv_run(dispatcher_.loop(), UV_RUN_DEFAULT);
    static const bool verbose = std::getenv("CONNECTION_FUZZ_VERBOSE") != nullptr;
    if (verbose) {
      const auto took = std::chrono::steady_clock::now() - started;
      std::fprintf(stderr, "input took %lld ms\n",
                   static_cast<long long>(std::chrono::duration_cast<milliseconds>(took).count()));
      for (const auto& c : clients_) printBytes("client received", c->received());
      for (const auto& o : origin_connections_) printBytes("origin received", o->received());
      std::fprintf(stderr, "  forwardable %zu, pooled %zu\n", stats_.forwardable,
                   pool_->idleCount());
    }
    if (timed_out_) fail("a client connection did not end in time");
    if (!finished_) fail("the loop ran out of work before every connection ended");
    verify();
  }

  // conn::ConnectionContext.
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  upstream::Connector& connector() override { return connector_; }
  upstream::ConnectionPool& pool() override { return *pool_; }
  std::shared_ptr<const conn::ProxySnapshot> snapshot() override { return snapshot_; }
  common::DecisionLog& decisionLog() override { return *world().log; }
  conn::SessionResolver& sessions() override { return sessions_; }
  common::ProxyStats& stats() override { return stats_; }
  conn::LocalEndpoints* localEndpoints() override { return git_.get(); }
  bool acquireTunnelSlot() override {
    if (tunnels_ >= snapshot_->listener.max_tunnels) return false;
    ++tunnels_;
    return true;
  }
  void releaseTunnelSlot() override {
    if (tunnels_ <= 0) fail("a tunnel slot was released twice");
    --tunnels_;
  }
  void release(conn::ClientConnection* connection) override {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->get() == connection) {
        dispatcher_.deferredDelete(std::move(*it));
        connections_.erase(it);
        ++released_;
        return;
      }
    }
    fail("release() of a connection that is not live");
  }

 private:
  static upstream::ConnectorOptions connectorOptions() {
    upstream::ConnectorOptions o;
    o.connect_timeout = milliseconds(kTimeoutMs);
    return o;
  }

  // The origin can tell a forwarded request from a tunnel only when tunnels must be TLS.
  bool checked() const { return !options_.allow_non_tls; }

  std::vector<conn::ClientConnection*> liveConnections() const {
    std::vector<conn::ClientConnection*> all;
    for (const auto& c : connections_) all.push_back(c.get());
    return all;
  }

  void accept(std::unique_ptr<net::TcpConnection> connection) {
    ++accepted_;
    auto c = std::make_unique<conn::ClientConnection>(*this, std::move(connection));
    conn::ClientConnection* raw = c.get();
    connections_.push_back(std::move(c));
    raw->start();
  }

  void feed() {
    // Start the next client once the previous one closed (or, overlapping, finished writing).
    if (started_ < clients_.size()) {
      const bool previous_done =
          started_ == 0 ||
          (options_.overlap ? clients_[started_ - 1]->doneWriting() : released_ >= started_);
      if (previous_done)
        clients_[started_++]->connect(dispatcher_.loop(), proxy_listener_->address());
    }
    bool writing = started_ < clients_.size();
    for (size_t i = 0; i < started_; ++i) {
      clients_[i]->turn(options_.half_close);
      writing = writing || !clients_[i]->doneWriting();
    }
    if (!writing) {
      uv_idle_stop(feeder_.get());
      // Nothing may happen on the loop any more: decide now, poll would block.
      checkDone();
    }
  }

  void checkDone() {
    if (finished_ || started_ < clients_.size() || accepted_ < clients_.size()) return;
    for (const auto& c : clients_) {
      if (!c->doneWriting() || !c->peerClosed()) return;
    }
    if (!connections_.empty()) return;
    // Every upstream connection the proxy did not keep for reuse is closed by now, or about to
    // be: wait until the origin saw that (a kept one stays open).
    size_t open = 0;
    for (const auto& o : origin_connections_) open += o->open() ? 1 : 0;
    if (open > pool_->idleCount()) return;
    finished_ = true;
    uv_stop(dispatcher_.loop());
  }

  void verify() const {
    if (!checked()) return;
    size_t heads = 0;
    for (const auto& o : origin_connections_) {
      if (!o->plainText()) continue;
      heads += o->heads();
      // Only the pool keeps upstream connections after the clients are gone: it must have taken
      // them between two messages.
      if (o->open() && o->midMessage()) {
        fail("an upstream connection kept for reuse is in the middle of a request", o->received());
      }
    }
    if (options_.origin != kOriginReset && heads > stats_.forwardable) {
      std::fprintf(stderr, "origin saw %zu requests, the proxy forwarded %zu\n", heads,
                   stats_.forwardable);
      fail("the origin received more requests than the proxy allowed");
    }
  }

  // Declared first: destroyed last (handles of every member below live on its loop).
  event::UvDispatcher dispatcher_;
  const Options& options_;
  FakeResolver resolver_;
  upstream::Connector connector_;
  std::unique_ptr<upstream::ConnectionPool> pool_;
  FuzzSessions sessions_;
  FuzzStats stats_;
  NullGitStats git_stats_;
  std::unique_ptr<gitproxy::GitEndpoints> git_;
  std::shared_ptr<const conn::ProxySnapshot> snapshot_;
  int tunnels_ = 0;

  std::unique_ptr<net::Listener> proxy_listener_;
  std::unique_ptr<net::Listener> origin_http_;
  std::unique_ptr<net::Listener> origin_tls_;
  std::list<std::unique_ptr<conn::ClientConnection>> connections_;
  std::vector<std::unique_ptr<OriginConnection>> origin_connections_;
  std::vector<std::unique_ptr<Client>> clients_;
  size_t started_ = 0;
  size_t accepted_ = 0;
  size_t released_ = 0;
  event::UvHandle<uv_idle_t> feeder_;
  event::UvHandle<uv_check_t> done_check_;
  event::TimerPtr deadline_;
  bool timed_out_ = false;
  bool finished_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  world();
  Options options;
  options.origin = static_cast<OriginMode>(data[0] & 7);
  options.async_sessions = (data[0] & 0x08) != 0;
  options.limits = (data[0] & 0x10) != 0;
  options.half_close = (data[0] & 0x20) == 0;
  options.allow_non_tls = (data[0] & 0x40) != 0;
  options.lax_tls = (data[0] & 0x80) != 0;
  options.sessions_required = (data[1] & 0x01) != 0;
  options.small_limits = (data[1] & 0x02) != 0;
  options.echo_tunnels = (data[1] & 0x04) != 0;
  options.overlap = (data[1] & 0x08) != 0;
  options.first_only = (data[1] & 0x10) != 0;
  const size_t segments = (data[2] & 0x0f) + 1u;
  if (size < 3 + segments) return 0;
  std::vector<Segment> plan;
  for (size_t i = 0; i < segments; ++i) {
    plan.push_back({static_cast<size_t>(data[3 + i] & 0x3f) + 1u, data[3 + i] >> 6});
  }
  std::string_view rest(reinterpret_cast<const char*>(data) + 3 + segments, size - 3 - segments);
  std::vector<std::string_view> streams;
  while (streams.size() + 1 < kMaxClients) {
    const size_t at = rest.find(kNextClient);
    if (at == std::string_view::npos) break;
    streams.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kNextClient.size());
  }
  streams.push_back(rest);

  Harness harness(options, std::move(streams), plan);
  harness.run();
  return 0;
}
