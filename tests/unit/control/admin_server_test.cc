// The admin listener's HTTP server over real loopback sockets: a UvDispatcher runs on its own
// thread and each test talks raw bytes through blocking client sockets whose receive timeout
// (5 s) keeps any test from hanging. Covered: request fields (path/query split, body by
// Content-Length and chunked, Authorization), keep-alive and pipelining, closing (HTTP/1.0,
// Connection: close), the server's own JSON errors (400, 408, 413, 503, 500 for a throwing
// handler), HEAD, header injection from a handler, timeouts, and that closing or destroying the
// server with connections open leaves no libuv handle behind.
#include "control/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::control {
namespace {

using testing_text::printable;

constexpr int kReceiveTimeoutSeconds = 5;

// A blocking loopback client. Every read gives up after the receive timeout.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    timeval tv{};
    tv.tv_sec = kReceiveTimeoutSeconds;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (!connected_) connect_error_ = errno;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int connectError() const { return connect_error_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // One response: its head, then Content-Length body bytes (none for a HEAD request). Returns
  // what arrived if the connection ends or the timeout passes first.
  std::string readResponse(bool head_request = false) {
    size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return take(buffer_.size());
    }
    const size_t head_size = end + 4;
    const size_t total = head_size + (head_request ? 0 : contentLength(buffer_.substr(0, end)));
    while (buffer_.size() < total) {
      if (!fill()) break;
    }
    return take(std::min(total, buffer_.size()));
  }

  // Everything until the server closes (or the timeout passes).
  std::string readUntilClosed() {
    while (fill()) {
    }
    return take(buffer_.size());
  }

  // Waits up to `timeout` for bytes or the end of the connection.
  bool readable(std::chrono::milliseconds timeout) {
    if (!buffer_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  // The server closed the connection: FIN (clean) or, when the server closed with bytes of ours
  // unread, RST.
  bool eof() const { return eof_; }
  bool ended() const { return eof_ || error_ == ECONNRESET; }

 private:
  static size_t contentLength(std::string head) {
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const size_t at = head.find("\r\ncontent-length: ");
    if (at == std::string::npos) return 0;
    return static_cast<size_t>(std::stoul(head.substr(at + 18)));
  }

  bool fill() {
    char chunk[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno == EINTR) continue;
      error_ = errno;  // EAGAIN: the receive timeout passed
      return false;
    }
  }

  std::string take(size_t n) {
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  int fd_ = -1;
  bool connected_ = false;
  int connect_error_ = 0;
  std::string buffer_;
  bool eof_ = false;
  int error_ = 0;
};

// The exact bytes of a response the server writes.
std::string expected(std::string_view status_line, std::string_view content_type,
                     std::string_view body, std::string_view extra_headers = "", bool close = false,
                     bool head_request = false) {
  std::string out(status_line);
  out += "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  out += extra_headers;
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_request) out += body;
  return out;
}

// An error the server answers itself: JSON, and the connection closes.
std::string expectedError(std::string_view status_line, std::string_view message,
                          std::string_view extra_headers = "") {
  std::string body = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body += '\\';
    body += c;
  }
  body += "\"}";
  return expected(status_line, "application/json", body, extra_headers, true);
}

// The default handler's answer: "<method> <path>".
std::string expectedOk(std::string_view method, std::string_view path, bool close = false) {
  return expected("HTTP/1.1 200 OK", "text/plain", std::string(method) + " " + std::string(path),
                  "", close);
}

std::string get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         std::string(extra_headers) + "\r\n";
}

// The server on a UvDispatcher running on its own thread.
class Rig {
 public:
  // Answers "<method> <path>" as text/plain unless a test sets its own.
  AdminHandler respond = [](const AdminRequest& request) {
    AdminResponse r;
    r.content_type = "text/plain";
    r.body = request.method + " " + request.path;
    return r;
  };
  std::unique_ptr<AdminServer> server;

  ~Rig() {
    stopLoop();
    server.reset();
    EXPECT_EQ(dispatcher_.shutdown(), 0) << "a libuv handle leaked";
  }

  // Listens on 127.0.0.1 port 0 and starts the loop thread.
  ::testing::AssertionResult start(AdminServerOptions options = {}) {
    std::string error;
    net::SocketAddress any{*policy::IpAddress::parse("127.0.0.1"), 0};
    server = AdminServer::listen(
        dispatcher_, any,
        [this](const AdminRequest& request) {
          {
            std::lock_guard<std::mutex> lock(mutex_);
            requests_.push_back(request);
          }
          return respond(request);
        },
        options, error);
    if (server == nullptr) return ::testing::AssertionFailure() << error;
    port_ = server->address().port;
    if (port_ == 0) return ::testing::AssertionFailure() << "no port bound";
    thread_ = std::thread([this] { dispatcher_.run(); });
    return ::testing::AssertionSuccess();
  }

  uint16_t port() const { return port_; }

  // Runs `fn` on the loop thread and waits for it.
  void onLoop(const std::function<void()>& fn) {
    std::promise<void> done;
    dispatcher_.post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Stops the loop thread (the server is left as it is).
  void stopLoop() {
    if (!thread_.joinable()) return;
    dispatcher_.post([this] { dispatcher_.exit(); });
    thread_.join();
  }

  // Destroys the server on the loop thread, stops the loop and closes it; uv_loop_close()'s
  // result.
  int destroyAndCloseLoop() {
    onLoop([this] { server.reset(); });
    stopLoop();
    return dispatcher_.shutdown();
  }

  event::UvDispatcher& dispatcher() { return dispatcher_; }

  std::vector<AdminRequest> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  event::UvDispatcher dispatcher_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<AdminRequest> requests_;
};

// ---- request fields ---------------------------------------------------------------------------

TEST(AdminServer, GetSplitsPathAndQuery) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/v1/status?verbose=1&x=%20y")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/v1/status"));
  ASSERT_TRUE(c.send(get("/v1/a%2Fb?")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/v1/a%2Fb"));
  ASSERT_TRUE(c.send(get("/plain")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/plain"));

  std::vector<AdminRequest> seen = rig.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/v1/status");
  EXPECT_EQ(seen[0].query, "verbose=1&x=%20y");
  EXPECT_EQ(seen[0].authorization, "");
  EXPECT_EQ(seen[0].content_type, "");
  EXPECT_EQ(seen[0].body, "");
  ASSERT_TRUE(seen[0].peer.has_value());
  EXPECT_EQ(seen[0].peer->ip.toString(), "127.0.0.1");
  EXPECT_NE(seen[0].peer->port, 0);
  EXPECT_EQ(seen[1].path, "/v1/a%2Fb") << "no percent-decoding";
  EXPECT_EQ(seen[1].query, "");
  EXPECT_EQ(seen[2].path, "/plain");
  EXPECT_EQ(seen[2].query, "");
}

TEST(AdminServer, PostBodyByContentLengthArrivesWhole) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  const std::string body = R"({"name":"sbx-1","ttl":60})";
  ASSERT_TRUE(
      c.send("POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 5)));
  // The rest in a second segment: the handler still sees the body whole, once.
  ASSERT_FALSE(c.readable(std::chrono::milliseconds(50))) << "answered before the body ended";
  ASSERT_TRUE(c.send(body.substr(5)));
  EXPECT_EQ(c.readResponse(), expectedOk("POST", "/v1/sessions"));
  std::vector<AdminRequest> seen = rig.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_EQ(seen[0].body, body);
}

TEST(AdminServer, PostChunkedBodyArrivesDechunked) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(
      c.send("POST /v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n"));
  ASSERT_TRUE(c.send("6;ext=1\r\n world\r\n0\r\n\r\n"));
  EXPECT_EQ(c.readResponse(), expectedOk("POST", "/v1/reload"));
  std::vector<AdminRequest> seen = rig.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "hello world");
}

TEST(AdminServer, ExpectContinueGets100BeforeTheBody) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(
      c.send("PUT /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: "
             "3\r\n\r\n"));
  EXPECT_EQ(c.readResponse(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("abc"));
  EXPECT_EQ(c.readResponse(), expectedOk("PUT", "/v1/x"));
  ASSERT_EQ(rig.requests().size(), 1u);
  EXPECT_EQ(rig.requests()[0].body, "abc");
}

TEST(AdminServer, AuthorizationHeaderIsPassedThrough) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/v1/sessions", "authorization:   Bearer s3cr3t-token \r\n")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/v1/sessions"));
  std::vector<AdminRequest> seen = rig.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].authorization, "Bearer s3cr3t-token");
}

// ---- connection reuse and closing -------------------------------------------------------------

TEST(AdminServer, KeepAliveServesTwoRequestsOnOneConnection) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/first")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/first"));
  ASSERT_TRUE(c.send(get("/second")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/second"));
  EXPECT_EQ(rig.requests().size(), 2u);
}

TEST(AdminServer, PipelinedRequestsAreAnsweredInOrder) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/one") +
                     "POST /two HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi" +
                     get("/three", "Connection: close\r\n") + get("/never")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/one"));
  EXPECT_EQ(c.readResponse(), expectedOk("POST", "/two"));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/three", /*close=*/true));
  // Nothing after the Connection: close request is parsed or answered.
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
  std::vector<AdminRequest> seen = rig.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].body, "hi");
}

TEST(AdminServer, Http10RequestGetsTheConnectionClosed) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  // Even with keep-alive asked for: an HTTP/1.0 client is answered once.
  ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/old", /*close=*/true));
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
}

TEST(AdminServer, ConnectionCloseRequestGetsTheConnectionClosed) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/bye", "Connection: close\r\n")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/bye", /*close=*/true));
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
}

TEST(AdminServer, ClientHalfCloseAfterRequestStillGetsTheResponse) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/last")));
  c.shutdownWrite();
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/last"));
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
}

TEST(AdminServer, ClientHalfCloseInsideARequestIs400) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc"));
  c.shutdownWrite();
  EXPECT_EQ(c.readResponse(), expectedError("HTTP/1.1 400 Bad Request",
                                            "the connection closed in the middle of a request"));
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
  EXPECT_TRUE(rig.requests().empty());
}

// Large responses to many pipelined requests from a client that reads nothing yet: the server
// stops parsing while its write queue is full, and every answer comes in order once the client
// reads.
TEST(AdminServer, PipelinedRequestsWaitWhileTheClientDoesNotRead) {
  Rig rig;
  constexpr size_t kBodySize = size_t{100} * 1024;
  rig.respond = [](const AdminRequest& request) {
    AdminResponse r;
    r.content_type = "text/plain";
    r.body = std::string(kBodySize, request.path.back());
    return r;
  };
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  constexpr int kRequests = 30;
  std::string pipelined;
  for (int i = 0; i < kRequests; ++i) {
    pipelined += get("/r" + std::string(1, static_cast<char>('a' + i % 26)));
  }
  ASSERT_TRUE(c.send(pipelined));
  // Give the server time to fill its queue before anything is read.
  ASSERT_TRUE(c.readable(std::chrono::seconds(2)));
  for (int i = 0; i < kRequests; ++i) {
    const char tag = static_cast<char>('a' + i % 26);
    ASSERT_EQ(c.readResponse(),
              expected("HTTP/1.1 200 OK", "text/plain", std::string(kBodySize, tag)))
        << "response " << i;
  }
  EXPECT_EQ(rig.requests().size(), static_cast<size_t>(kRequests));
}

TEST(AdminServer, IdleKeepAliveConnectionClosesSilently) {
  Rig rig;
  AdminServerOptions options;
  options.idle_timeout_ms = 100;
  ASSERT_TRUE(rig.start(options));
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/a")));
  EXPECT_EQ(c.readResponse(), expectedOk("GET", "/a"));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

// ---- errors the server answers itself ---------------------------------------------------------

TEST(AdminServer, BodyOverTheLimitIs413AndCloses) {
  Rig rig;
  AdminServerOptions options;
  options.max_body_bytes = 16;
  ASSERT_TRUE(rig.start(options));
  const std::string error =
      expectedError("HTTP/1.1 413 Content Too Large", "the request body is larger than 16 bytes");
  {
    Client c(rig.port());
    ASSERT_TRUE(c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 17\r\n\r\n" +
                       std::string(17, 'a')));
    EXPECT_EQ(c.readResponse(), error);
    EXPECT_EQ(c.readUntilClosed(), "");
    EXPECT_TRUE(c.ended());
  }
  {
    // Chunked: refused at the chunk that crosses the limit.
    Client c(rig.port());
    ASSERT_TRUE(
        c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"));
    EXPECT_EQ(c.readResponse(), error);
    EXPECT_EQ(c.readUntilClosed(), "");
    EXPECT_TRUE(c.ended());
  }
  {
    // Exactly the limit is fine.
    Client c(rig.port());
    ASSERT_TRUE(c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 16\r\n\r\n" +
                       std::string(16, 'a')));
    EXPECT_EQ(c.readResponse(), expectedOk("POST", "/v1/x"));
  }
  ASSERT_EQ(rig.requests().size(), 1u) << "the handler saw a refused request";
  EXPECT_EQ(rig.requests()[0].body, std::string(16, 'a'));
}

TEST(AdminServer, ZeroBodyLimitRefusesAnyBody) {
  Rig rig;
  AdminServerOptions options;
  options.max_body_bytes = 0;
  ASSERT_TRUE(rig.start(options));
  const std::string error =
      expectedError("HTTP/1.1 413 Content Too Large", "the request body is larger than 0 bytes");
  {
    Client c(rig.port());
    ASSERT_TRUE(c.send(
        "POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"));
    EXPECT_EQ(c.readResponse(), error);
  }
  {
    Client c(rig.port());
    ASSERT_TRUE(c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\na"));
    EXPECT_EQ(c.readResponse(), error);
  }
  {
    Client c(rig.port());
    ASSERT_TRUE(c.send(get("/v1/x")));
    EXPECT_EQ(c.readResponse(), expectedOk("GET", "/v1/x"));
  }
  EXPECT_EQ(rig.requests().size(), 1u);
}

// Requests the server refuses itself: one row per case, with the exact answer. None reaches the
// handler, and no body echoes the request.
struct RefusalRow {
  const char* id;
  const char* why;
  std::string request;
  std::string status_line;
  std::string message;
};

// gtest prints a row by its id (PrintTo is gtest's name for the hook).
// NOLINTNEXTLINE(readability-identifier-naming)
void PrintTo(const RefusalRow& row, std::ostream* os) { *os << row.id; }

class AdminServerRefusals : public ::testing::TestWithParam<RefusalRow> {};

TEST_P(AdminServerRefusals, AnswersJsonErrorAndCloses) {
  const RefusalRow& row = GetParam();
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(row.request));
  const std::string response = c.readResponse();
  EXPECT_EQ(response, expectedError(row.status_line, row.message))
      << row.why << "\nrequest: " << printable(row.request) << "\ngot: " << printable(response);
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.ended());
  EXPECT_TRUE(rig.requests().empty()) << "the handler saw a refused request";
}

INSTANTIATE_TEST_SUITE_P(
    AdminServer, AdminServerRefusals,
    ::testing::Values(
        RefusalRow{"garbage", "bytes that are not HTTP", "\x16\x03\x01\x02\x05\x01\r\n\r\n",
                   "HTTP/1.1 400 Bad Request", "the request method is not a valid HTTP method"},
        RefusalRow{"garbage_line", "a request line without a version", "HELLO world\r\n\r\n",
                   "HTTP/1.1 400 Bad Request", "the request method is not a valid HTTP method"},
        RefusalRow{"absolute_form", "the admin listener is not a proxy",
                   "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request",
                   "the request target must be a path: the admin listener is not a proxy"},
        RefusalRow{"connect", "the admin listener is not a proxy",
                   "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                   "HTTP/1.1 400 Bad Request",
                   "CONNECT is not served: the admin listener is not a proxy"},
        RefusalRow{"asterisk_form", "OPTIONS * is not served",
                   "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request",
                   "asterisk-form (\"*\") requests are not forwarded"},
        RefusalRow{"missing_host", "HTTP/1.1 needs Host", "GET / HTTP/1.1\r\n\r\n",
                   "HTTP/1.1 400 Bad Request", "HTTP/1.1 requests need a Host header"},
        RefusalRow{"duplicate_authorization", "which one would the handler check?",
                   get("/", "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"),
                   "HTTP/1.1 400 Bad Request", "the Authorization header appears more than once"},
        RefusalRow{"te_and_cl", "ambiguous framing (smuggling)",
                   "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   "HTTP/1.1 400 Bad Request",
                   "Content-Length and Transfer-Encoding together are refused"},
        RefusalRow{"http2_preface", "no h2 with prior knowledge",
                   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 405 Method Not Allowed",
                   "HTTP/2 with prior knowledge is not supported; use HTTP/1.1"},
        RefusalRow{"http_1_2", "unknown version", "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
                   "HTTP/1.1 505 HTTP Version Not Supported",
                   "only HTTP/1.0 and HTTP/1.1 are supported"}),
    [](const ::testing::TestParamInfo<RefusalRow>& param) {
      return testing_text::paramName(param.param.id, param.index);
    });

TEST(AdminServer, StalledHeadIs408) {
  Rig rig;
  AdminServerOptions options;
  options.header_timeout_ms = 200;
  ASSERT_TRUE(rig.start(options));
  Client c(rig.port());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("GET /v1/status HTTP/1.1\r\nHo"));
  EXPECT_EQ(c.readResponse(),
            expectedError("HTTP/1.1 408 Request Timeout", "the request did not arrive in time"));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.ended());
  EXPECT_TRUE(rig.requests().empty());
}

TEST(AdminServer, TricklingBytesDoNotPushTheDeadlineBack) {
  Rig rig;
  AdminServerOptions options;
  options.header_timeout_ms = 300;
  ASSERT_TRUE(rig.start(options));
  Client c(rig.port());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("G"));
  // One byte every 50 ms, never finishing the head, until the server answers.
  const std::string rest = "ET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
  for (char byte : rest) {
    if (c.readable(std::chrono::milliseconds(50))) break;
    ASSERT_TRUE(c.send(std::string(1, byte)));
  }
  EXPECT_EQ(c.readResponse(),
            expectedError("HTTP/1.1 408 Request Timeout", "the request did not arrive in time"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1500));
}

TEST(AdminServer, StalledBodyIs408) {
  Rig rig;
  AdminServerOptions options;
  options.header_timeout_ms = 200;
  ASSERT_TRUE(rig.start(options));
  Client c(rig.port());
  ASSERT_TRUE(c.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(c.readResponse(),
            expectedError("HTTP/1.1 408 Request Timeout", "the request did not arrive in time"));
  EXPECT_TRUE(rig.requests().empty());
}

TEST(AdminServer, ConnectionsBeyondTheLimitGet503WithoutBeingRead) {
  Rig rig;
  AdminServerOptions options;
  options.max_connections = 2;
  ASSERT_TRUE(rig.start(options));
  Client first(rig.port());
  Client second(rig.port());
  // A full exchange on each: both are being served when the third arrives.
  ASSERT_TRUE(first.send(get("/1")));
  EXPECT_EQ(first.readResponse(), expectedOk("GET", "/1"));
  ASSERT_TRUE(second.send(get("/2")));
  EXPECT_EQ(second.readResponse(), expectedOk("GET", "/2"));

  Client third(rig.port());
  ASSERT_TRUE(third.connected());
  EXPECT_EQ(third.readResponse(),
            expectedError("HTTP/1.1 503 Service Unavailable", "too many admin connections",
                          "Retry-After: 1\r\n"));
  EXPECT_EQ(third.readUntilClosed(), "");
  EXPECT_TRUE(third.eof());

  // The accepted ones keep being served.
  ASSERT_TRUE(first.send(get("/1b")));
  EXPECT_EQ(first.readResponse(), expectedOk("GET", "/1b"));

  // Once one of them has gone, a new connection is served again.
  ASSERT_TRUE(second.send(get("/2b", "Connection: close\r\n")));
  EXPECT_EQ(second.readResponse(), expectedOk("GET", "/2b", /*close=*/true));
  EXPECT_EQ(second.readUntilClosed(), "");
  ASSERT_TRUE(second.eof());
  second.close();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::string answer;
  while (std::chrono::steady_clock::now() < deadline) {
    Client next(rig.port());
    ASSERT_TRUE(next.send(get("/3")));
    answer = next.readResponse();
    if (answer.rfind("HTTP/1.1 503", 0) != 0) break;
    // The server had not yet seen the second client's FIN: ask again a moment later.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(answer, expectedOk("GET", "/3"));
}

// ---- the handler's responses ------------------------------------------------------------------

TEST(AdminServer, ThrowingHandlerIs500AndTheServerGoesOn) {
  Rig rig;
  rig.respond = [](const AdminRequest& request) -> AdminResponse {
    if (request.path == "/std") throw std::runtime_error("secret detail /std");
    if (request.path == "/other") throw 42;
    AdminResponse r;
    r.content_type = "text/plain";
    r.body = request.method + " " + request.path;
    return r;
  };
  ASSERT_TRUE(rig.start());
  const std::string internal = expected("HTTP/1.1 500 Internal Server Error", "application/json",
                                        R"({"error":"internal error"})");
  {
    Client c(rig.port());
    ASSERT_TRUE(c.send(get("/std")));
    EXPECT_EQ(c.readResponse(), internal);
    // The same connection goes on too.
    ASSERT_TRUE(c.send(get("/other")));
    EXPECT_EQ(c.readResponse(), internal);
    ASSERT_TRUE(c.send(get("/fine")));
    EXPECT_EQ(c.readResponse(), expectedOk("GET", "/fine"));
  }
  Client next(rig.port());
  ASSERT_TRUE(next.send(get("/next")));
  EXPECT_EQ(next.readResponse(), expectedOk("GET", "/next"));
}

TEST(AdminServer, HeadGetsTheLengthButNoBody) {
  Rig rig;
  rig.respond = [](const AdminRequest&) {
    AdminResponse r;
    r.body = R"({"status":"ok"})";
    return r;
  };
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send("HEAD /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(c.readResponse(/*head_request=*/true),
            expected("HTTP/1.1 200 OK", "application/json", R"({"status":"ok"})", "", false,
                     /*head_request=*/true));
  // No stray body bytes: the next response starts right there.
  ASSERT_TRUE(c.send(get("/v1/status")));
  EXPECT_EQ(c.readResponse(),
            expected("HTTP/1.1 200 OK", "application/json", R"({"status":"ok"})"));
  ASSERT_EQ(rig.requests().size(), 2u);
  EXPECT_EQ(rig.requests()[0].method, "HEAD");
}

TEST(AdminServer, BadHeadersFromTheHandlerAreNotSent) {
  Rig rig;
  rig.respond = [](const AdminRequest&) {
    AdminResponse r;
    r.status = 401;
    r.body = R"({"error":"unauthorized"})";
    r.headers = {
        {"WWW-Authenticate", "Bearer realm=\"gatehouse\""},
        {"X-Split", "a\r\nSet-Cookie: injected=1"},
        {"X-Bare-Lf", "a\nb"},
        {"X-Nul", std::string("a\0b", 3)},
        {"X-Bad\r\nName", "v"},
        {"Bad Name", "v"},
        {"Bad:Name", "v"},
        {"", "v"},
        {"Content-Length", "999"},
        {"transfer-encoding", "chunked"},
        {"Connection", "keep-alive"},
        {"Allow", "GET, POST"},
        {"X-Tab", "a\tb"},
    };
    return r;
  };
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/v1/sessions")));
  EXPECT_EQ(c.readResponse(),
            expected("HTTP/1.1 401 Unauthorized", "application/json", R"({"error":"unauthorized"})",
                     "WWW-Authenticate: Bearer realm=\"gatehouse\"\r\nAllow: GET, POST\r\n"
                     "X-Tab: a\tb\r\n"));
  // The connection is intact.
  ASSERT_TRUE(c.send(get("/again")));
  EXPECT_EQ(c.readResponse().rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u);
}

TEST(AdminServer, NoContentAndInvalidStatuses) {
  Rig rig;
  rig.respond = [](const AdminRequest& request) {
    AdminResponse r;
    r.body = "ignored";
    if (request.path == "/204") r.status = 204;
    if (request.path == "/99") r.status = 99;
    if (request.path == "/600") r.status = 600;
    if (request.path == "/bad-type") {
      r.status = 202;
      r.content_type = "text/plain\r\nX-Injected: 1";
    }
    return r;
  };
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  ASSERT_TRUE(c.send(get("/204")));
  EXPECT_EQ(c.readResponse(),
            "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n");
  const std::string internal = expected("HTTP/1.1 500 Internal Server Error", "application/json",
                                        R"({"error":"internal error"})");
  ASSERT_TRUE(c.send(get("/99")));
  EXPECT_EQ(c.readResponse(), internal);
  ASSERT_TRUE(c.send(get("/600")));
  EXPECT_EQ(c.readResponse(), internal);
  ASSERT_TRUE(c.send(get("/bad-type")));
  EXPECT_EQ(c.readResponse(), expected("HTTP/1.1 202 Accepted", "", "ignored"));
}

// ---- lifetime ---------------------------------------------------------------------------------

TEST(AdminServer, DestroyingTheServerWithOpenConnectionsIsClean) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client idle(rig.port());
  Client mid_head(rig.port());
  Client mid_body(rig.port());
  // A full exchange on each first, so all three are accepted and being served.
  for (Client* c : {&idle, &mid_head, &mid_body}) {
    ASSERT_TRUE(c->send(get("/warm")));
    ASSERT_EQ(c->readResponse(), expectedOk("GET", "/warm"));
  }
  ASSERT_TRUE(mid_head.send("GET /v1/x HTTP/1.1\r\nHost: 12"));
  ASSERT_TRUE(
      mid_body.send("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nab"));
  // The partial requests reach the server before it goes.
  ASSERT_FALSE(mid_body.readable(std::chrono::milliseconds(50)));

  EXPECT_EQ(rig.destroyAndCloseLoop(), 0) << "a libuv handle leaked";
  for (Client* c : {&idle, &mid_head, &mid_body}) {
    EXPECT_EQ(c->readUntilClosed(), "");
    EXPECT_TRUE(c->ended());
  }
  Client late(rig.port());
  EXPECT_FALSE(late.connected());
  EXPECT_EQ(late.connectError(), ECONNREFUSED);
}

TEST(AdminServer, CloseThenLoopCloseBeforeTheServerIsDestroyed) {
  Rig rig;
  ASSERT_TRUE(rig.start());
  Client open(rig.port());
  ASSERT_TRUE(open.send(get("/warm")));
  ASSERT_EQ(open.readResponse(), expectedOk("GET", "/warm"));
  rig.onLoop([&] {
    rig.server->close();
    rig.server->close();  // idempotent
  });
  EXPECT_EQ(open.readUntilClosed(), "");
  EXPECT_TRUE(open.eof());
  rig.stopLoop();
  // The server still exists and holds no handle: the loop closes cleanly before it goes.
  EXPECT_EQ(rig.dispatcher().shutdown(), 0) << "a libuv handle leaked";
  rig.server.reset();
}

TEST(AdminServer, HandlerMayDestroyTheServer) {
  Rig rig;
  rig.respond = [&rig](const AdminRequest&) {
    rig.server.reset();  // e.g. a shutdown endpoint
    return AdminResponse{};
  };
  ASSERT_TRUE(rig.start());
  Client c(rig.port());
  Client other(rig.port());
  ASSERT_TRUE(other.send(get("/v1/x", "Connection: keep-alive\r\n").substr(0, 10)));
  ASSERT_TRUE(c.send(get("/v1/shutdown")));
  // The server went inside the handler: its connections close, the answer is lost.
  EXPECT_EQ(c.readUntilClosed(), "");
  EXPECT_TRUE(c.ended());
  EXPECT_EQ(other.readUntilClosed(), "");
  EXPECT_TRUE(other.ended());
  EXPECT_EQ(rig.destroyAndCloseLoop(), 0) << "a libuv handle leaked";
}

TEST(AdminServer, ListenFailureNamesTheAddress) {
  event::UvDispatcher dispatcher;
  std::string error;
  // TEST-NET-1: not an address of this host, so bind fails.
  net::SocketAddress foreign{*policy::IpAddress::parse("192.0.2.1"), 0};
  auto server = AdminServer::listen(
      dispatcher, foreign, [](const AdminRequest&) { return AdminResponse{}; }, {}, error);
  EXPECT_EQ(server, nullptr);
  EXPECT_NE(error.find("192.0.2.1:0"), std::string::npos) << error;

  error.clear();
  net::SocketAddress local{*policy::IpAddress::parse("127.0.0.1"), 0};
  server = AdminServer::listen(dispatcher, local, AdminHandler{}, {}, error);
  EXPECT_EQ(server, nullptr);
  EXPECT_EQ(error, "cannot listen on 127.0.0.1:0: no request handler");
  EXPECT_EQ(dispatcher.shutdown(), 0);
}

}  // namespace
}  // namespace gatehouse::control
