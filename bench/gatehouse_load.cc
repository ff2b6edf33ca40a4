// gatehouse-load: the load bench/run needs beside wrk — CONNECT tunnels with TLS inside, idle
// connections held open, denied requests on a new connection each, a fixed request rate with a
// latency histogram, and exact operation counts (for callgrind and strace). Loopback only; every
// mode is bounded by --seconds (<= 600) and most also by --count.
//
// Addresses: --proxy ip:port sends through a proxy (absolute-form requests, CONNECT for TLS);
// without it, --connect ip:port is dialed directly with origin-form requests (the baseline).
// --target name:port is the origin as the client names it (Host, CONNECT authority, SNI).
//
//   tls    CONNECT + TLS handshake + one GET (Connection: close) per tunnel, --threads blocking
//          clients, until --seconds or --count tunnels: tunnels/s, latency percentiles
//   bulk   the same with --path /big: MB/s of response bodies
//   hold   --count tunnels, each CONNECT + a complete TLS handshake, then left idle (no request,
//          no close_notify) for --seconds; prints "established=" once all are open (opening
//          stops at the first failure)
//   khold  --count keep-alive connections, each one GET of --path, then left idle for
//          --seconds; prints "established=" and how many the other side kept "open="
//   get    closed loop: --connections keep-alive connections each sending the next GET when the
//          last response ends, until --count responses or --seconds (--close 1: a new
//          connection per request, "Connection: close")
//   denied closed loop, a new connection per request: --method GET (absolute-form, to a host the
//          proxy refuses) or CONNECT; reads the refusal, waits for the proxy's close if it said
//          "Connection: close", closes, reconnects
//   rate   open loop: requests are due at --rate per second (evenly spaced) whether or not
//          earlier ones were answered, sent on the first idle of --connections keep-alive
//          connections; latency counts from when a request was due (no coordinated omission),
//          in a log-linear histogram (128 sub-buckets per power of two, < 0.8 % error)
//
// Output: one line of key=value pairs (bench/run parses it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMaxSeconds = 600;
constexpr int64_t kMaxCount = 10'000'000;
constexpr int kMaxConnections = 20'000;
constexpr double kMaxRate = 1'000'000;

struct Endpoint {
  std::string host;
  int port = 0;
};

Endpoint parseEndpoint(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return {s, 0};
  return {s.substr(0, colon), std::atoi(s.c_str() + colon + 1)};
}

bool toSockaddr(const Endpoint& e, sockaddr_in* sa) {
  *sa = sockaddr_in{};
  sa->sin_family = AF_INET;
  sa->sin_port = htons(static_cast<uint16_t>(e.port));
  return inet_pton(AF_INET, e.host.c_str(), &sa->sin_addr) == 1;
}

// A blocking connection with TCP_NODELAY and a 10 s receive timeout.
int dial(const Endpoint& e) {
  sockaddr_in sa;
  if (!toSockaddr(e, &sa)) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool writeAll(int fd, std::string_view s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Sends CONNECT and reads the response head; true on 200.
bool connectThrough(int fd, const std::string& target) {
  if (!writeAll(fd, "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"))
    return false;
  std::string head;
  char c;
  while (head.size() < 4096 && ::read(fd, &c, 1) == 1) {
    head += c;
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) break;
  }
  return head.rfind("HTTP/1.1 200", 0) == 0 || head.rfind("HTTP/1.0 200", 0) == 0;
}

struct Options {
  std::string mode;
  std::string proxy;
  std::string target;   // name:port for Host, CONNECT and SNI
  std::string connect;  // ip:port dialed directly when there is no proxy
  std::string path = "/small";
  std::string method = "GET";  // denied: GET or CONNECT
  std::string cafile;
  int threads = 2;
  double seconds = 5;
  int64_t count = 1000;
  bool count_given = false;
  int connections = 50;
  double rate = 1000;
  bool close = false;

  bool viaProxy() const { return !proxy.empty(); }
  Endpoint dialed() const { return parseEndpoint(viaProxy() ? proxy : connect); }
  // One GET of `path`: absolute-form through a proxy, origin-form directly.
  std::string getRequest() const {
    std::string line = viaProxy() ? "http://" + target + path : path;
    return "GET " + line + " HTTP/1.1\r\nHost: " + target + "\r\n" +
           (close ? "Connection: close\r\n" : "") + "\r\n";
  }
};

// ---------------------------------------------------------------------------------------------
// Latency histogram: values in nanoseconds; exact below 128 ns, then 128 sub-buckets per power
// of two. A percentile is the highest value of its bucket (as HdrHistogram reports it).

class Histogram {
 public:
  void record(int64_t ns) {
    uint64_t v = ns < 0 ? 0 : static_cast<uint64_t>(ns);
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t total() const { return total_; }
  double percentileUs(double p) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return static_cast<double>(std::min(highest(i), max_)) / 1000.0;
    }
    return static_cast<double>(max_) / 1000.0;
  }
  double maxUs() const { return static_cast<double>(max_) / 1000.0; }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int e = 63 - __builtin_clzll(v);  // >= kSubBits
    uint64_t sub = (v >> (e - kSubBits)) & (kSub - 1);
    return static_cast<size_t>((e - kSubBits + 1) * kSub + sub);
  }
  static uint64_t highest(size_t i) {
    if (i < kSub) return i;
    int e = static_cast<int>(i / kSub) + kSubBits - 1;
    uint64_t sub = i % kSub;
    uint64_t low = (kSub + sub) << (e - kSubBits);
    return low + (uint64_t{1} << (e - kSubBits)) - 1;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

int64_t nsSince(Clock::time_point start, Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count();
}

// ---------------------------------------------------------------------------------------------
// An HTTP/1 response reader for the load: status, Content-Length, chunked or until-close bodies,
// and whether the connection stays open. Enough for nginx, the proxies and their refusals.

class ResponseReader {
 public:
  enum class Result : uint8_t { kNeedMore, kDone, kError };

  // For a response to CONNECT: a 2xx has no body.
  void reset(bool connect_request) {
    state_ = State::kHead;
    connect_ = connect_request;
    status_ = 0;
    keep_alive_ = true;
    remaining_ = 0;
    body_bytes_ = 0;
  }

  // Consumes from the front of `in` what belongs to this response.
  Result feed(std::string& in) {
    for (;;) {
      switch (state_) {
        case State::kHead: {
          size_t end = in.find("\r\n\r\n");
          if (end == std::string::npos)
            return in.size() > 65536 ? Result::kError : Result::kNeedMore;
          if (!parseHead(std::string_view(in).substr(0, end + 2))) return Result::kError;
          in.erase(0, end + 4);
          break;
        }
        case State::kLength: {
          size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
          in.erase(0, n);
          remaining_ -= n;
          body_bytes_ += n;
          if (remaining_ > 0) return Result::kNeedMore;
          state_ = State::kDone;
          break;
        }
        case State::kChunkSize: {
          size_t eol = in.find("\r\n");
          if (eol == std::string::npos)
            return in.size() > 4096 ? Result::kError : Result::kNeedMore;
          char* endp = nullptr;
          remaining_ = std::strtoull(in.c_str(), &endp, 16);
          in.erase(0, eol + 2);
          state_ = remaining_ == 0 ? State::kTrailers : State::kChunkData;
          break;
        }
        case State::kChunkData: {
          size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
          in.erase(0, n);
          remaining_ -= n;
          body_bytes_ += n;
          if (remaining_ > 0) return Result::kNeedMore;
          state_ = State::kChunkEnd;
          break;
        }
        case State::kChunkEnd:
          if (in.size() < 2) return Result::kNeedMore;
          in.erase(0, 2);
          state_ = State::kChunkSize;
          break;
        case State::kTrailers: {
          size_t eol = in.find("\r\n");
          if (eol == std::string::npos) return Result::kNeedMore;
          in.erase(0, eol + 2);
          if (eol == 0) state_ = State::kDone;
          break;
        }
        case State::kUntilClose:
          body_bytes_ += in.size();
          in.clear();
          return Result::kNeedMore;
        case State::kDone:
          return Result::kDone;
      }
    }
  }

  // The other side closed: completes a body that runs until close.
  bool finishAtEof() {
    if (state_ != State::kUntilClose) return false;
    state_ = State::kDone;
    keep_alive_ = false;
    return true;
  }

  int status() const { return status_; }
  bool keepAlive() const { return keep_alive_; }
  uint64_t bodyBytes() const { return body_bytes_; }
  bool inHead() const { return state_ == State::kHead; }

 private:
  enum class State : uint8_t {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkEnd,
    kTrailers,
    kUntilClose,
    kDone
  };

  static bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
  static bool icontains(std::string_view hay, std::string_view needle) {
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
      if (iequals(hay.substr(i, needle.size()), needle)) return true;
    }
    return false;
  }

  bool parseHead(std::string_view head) {
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1.") return false;
    const bool http10 = head[7] == '0';
    status_ = std::atoi(std::string(head.substr(9, 3)).c_str());
    bool has_length = false;
    bool chunked = false;
    bool conn_close = false;
    bool conn_keep_alive = false;
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      if (iequals(name, "content-length")) {
        has_length = true;
        remaining_ = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (iequals(name, "transfer-encoding")) {
        chunked = icontains(value, "chunked");
      } else if (iequals(name, "connection") || iequals(name, "proxy-connection")) {
        conn_close = conn_close || icontains(value, "close");
        conn_keep_alive = conn_keep_alive || icontains(value, "keep-alive");
      }
    }
    keep_alive_ = !conn_close && (!http10 || conn_keep_alive);
    if (status_ < 200 || status_ == 204 || status_ == 304 ||
        (connect_ && status_ >= 200 && status_ < 300)) {
      state_ = State::kDone;
    } else if (chunked) {
      state_ = State::kChunkSize;
    } else if (has_length) {
      state_ = State::kLength;
    } else {
      state_ = State::kUntilClose;
      keep_alive_ = false;
    }
    return true;
  }

  State state_ = State::kHead;
  bool connect_ = false;
  int status_ = 0;
  bool keep_alive_ = true;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
};

// Blocking: sends `request`, reads one response; its status, or -1.
int blockingExchange(int fd, const std::string& request, bool* keep_alive) {
  if (!writeAll(fd, request)) return -1;
  ResponseReader reader;
  reader.reset(false);
  std::string in;
  char buf[16384];
  for (;;) {
    ResponseReader::Result r = reader.feed(in);
    if (r == ResponseReader::Result::kDone) break;
    if (r == ResponseReader::Result::kError) return -1;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 && reader.finishAtEof()) break;
      return -1;
    }
    in.append(buf, static_cast<size_t>(n));
  }
  *keep_alive = reader.keepAlive();
  return reader.status();
}

// ---------------------------------------------------------------------------------------------
// tls / bulk / hold: blocking clients on threads.

SSL_CTX* clientContext(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!o.cafile.empty()) {
    SSL_CTX_load_verify_locations(ctx, o.cafile.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

// A TCP connection to the origin: through a CONNECT tunnel, or directly. -1 on failure.
int openToOrigin(const Options& o) {
  int fd = dial(o.dialed());
  if (fd < 0) return -1;
  if (o.viaProxy() && !connectThrough(fd, o.target)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

SSL* handshake(SSL_CTX* ctx, const Options& o, int fd) {
  const Endpoint target = parseEndpoint(o.target);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, target.host.c_str());
  SSL_set1_host(ssl, target.host.c_str());
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

// One tunnel (or direct connection) + TLS + GET; returns body bytes or -1.
long oneTlsRequest(SSL_CTX* ctx, const Options& o) {
  int fd = openToOrigin(o);
  if (fd < 0) return -1;
  SSL* ssl = handshake(ctx, o, fd);
  long body = -1;
  if (ssl != nullptr) {
    std::string req =
        "GET " + o.path + " HTTP/1.1\r\nHost: " + o.target + "\r\nConnection: close\r\n\r\n";
    if (SSL_write(ssl, req.data(), static_cast<int>(req.size())) > 0) {
      char buf[65536];
      long total = 0;
      int n;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) total += n;
      body = total;
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  ::close(fd);
  return body;
}

void printLatency(const Histogram& h) {
  std::printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", h.percentileUs(0.5),
              h.percentileUs(0.9), h.percentileUs(0.99), h.percentileUs(0.999), h.maxUs());
}

int runTls(const Options& o) {
  SSL_CTX* ctx = clientContext(o);
  std::mutex mutex;
  Histogram latencies;
  uint64_t ok = 0, errors = 0, body_bytes = 0;
  std::atomic<int64_t> issued{0};
  const int64_t limit = o.count_given ? o.count : kMaxCount;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&] {
      Histogram local;
      uint64_t my_ok = 0, my_errors = 0, bytes = 0;
      while (Clock::now() < end && issued.fetch_add(1) < limit) {
        auto begin = Clock::now();
        long body = oneTlsRequest(ctx, o);
        if (body < 0) {
          ++my_errors;
          if (my_errors > 1000 && my_ok == 0) break;  // nothing works: stop early
          continue;
        }
        ++my_ok;
        bytes += static_cast<uint64_t>(body);
        local.record(nsSince(begin, Clock::now()));
      }
      std::lock_guard<std::mutex> lock(mutex);
      latencies.merge(local);
      ok += my_ok;
      errors += my_errors;
      body_bytes += bytes;
    });
  }
  for (auto& t : threads) t.join();
  SSL_CTX_free(ctx);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("mode=%s via=%s ok=%llu errors=%llu seconds=%.3f rate=%.1f MBps=%.1f", o.mode.c_str(),
              o.viaProxy() ? "proxy" : "direct", static_cast<unsigned long long>(ok),
              static_cast<unsigned long long>(errors), elapsed, static_cast<double>(ok) / elapsed,
              static_cast<double>(body_bytes) / elapsed / 1e6);
  printLatency(latencies);
  std::printf("\n");
  return errors == 0 ? 0 : 1;
}

void holdFor(double seconds) {
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// Tunnels with a finished TLS handshake and nothing else: the SSL object is freed without a
// close_notify, so both ends just hold an idle connection. The first failure (a limit reached)
// stops the opening: what is held is what was established.
int runHold(const Options& o) {
  SSL_CTX* ctx = clientContext(o);
  std::mutex mutex;
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(o.count));
  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> failed{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&] {
      while (Clock::now() < end && failed == 0 && issued.fetch_add(1) < o.count) {
        int fd = openToOrigin(o);
        SSL* ssl = fd < 0 ? nullptr : handshake(ctx, o, fd);
        if (ssl == nullptr) {
          if (fd >= 0) ::close(fd);
          ++failed;
          continue;
        }
        SSL_free(ssl);
        std::lock_guard<std::mutex> lock(mutex);
        fds.push_back(fd);
      }
    });
  }
  for (auto& t : threads) t.join();
  SSL_CTX_free(ctx);
  std::printf("mode=hold established=%zu failed=%lld open_time=%.2fs\n", fds.size(),
              static_cast<long long>(failed.load()),
              std::chrono::duration<double>(Clock::now() - start).count());
  holdFor(o.seconds);
  for (int fd : fds) ::close(fd);
  return failed == 0 ? 0 : 1;
}

// Keep-alive connections that made one GET and now wait for the next. Stops opening at the first
// failure, as hold does.
int runKeepAliveHold(const Options& o) {
  const std::string request = o.getRequest();
  std::mutex mutex;
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(o.count));
  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> failed{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&] {
      while (Clock::now() < end && failed == 0 && issued.fetch_add(1) < o.count) {
        int fd = dial(o.dialed());
        bool keep_alive = false;
        if (fd < 0 || blockingExchange(fd, request, &keep_alive) != 200) {
          if (fd >= 0) ::close(fd);
          ++failed;
          continue;
        }
        std::lock_guard<std::mutex> lock(mutex);
        fds.push_back(fd);
      }
    });
  }
  for (auto& t : threads) t.join();
  // A proxy that closes after each response (tinyproxy) leaves nothing idle: count what is open.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  size_t open = 0;
  for (int fd : fds) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
  }
  std::printf("mode=khold established=%zu open=%zu failed=%lld open_time=%.2fs\n", fds.size(), open,
              static_cast<long long>(failed.load()),
              std::chrono::duration<double>(Clock::now() - start).count());
  holdFor(o.seconds);
  for (int fd : fds) ::close(fd);
  return failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// get / denied / rate: one thread, non-blocking sockets on epoll.

class EventLoad {
 public:
  explicit EventLoad(const Options& o) : o_(o), conns_(static_cast<size_t>(o.connections)) {
    if (o.mode == "denied") {
      connect_request_ = o.method == "CONNECT";
      request_ = connect_request_
                     ? "CONNECT " + o.target + " HTTP/1.1\r\nHost: " + o.target + "\r\n\r\n"
                     : o.getRequest();
      new_connection_each_ = true;
    } else {
      request_ = o.getRequest();
      new_connection_each_ = o.close;
    }
    open_loop_ = o.mode == "rate";
    limit_ = o.count_given ? o.count : kMaxCount;
    toSockaddr(o.dialed(), &addr_);
  }

  int run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return 2;
    start_ = Clock::now();
    end_ = start_ +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.seconds));
    if (open_loop_) {
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake on time: requests are due every few µs
      timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kTimerTag;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &ev);
      interval_ns_ = static_cast<int64_t>(1e9 / o_.rate);
      next_due_ = start_;
      for (size_t i = 0; i < conns_.size(); ++i) {
        conns_[i].listed_idle = true;
        idle_.push_back(i);
      }
      onTimer();
    } else {
      for (size_t i = 0; i < conns_.size() && issued_ < limit_; ++i) issue(i, Clock::now());
    }
    // After the deadline: no new requests; those in flight get a grace period.
    const auto grace = end_ + std::chrono::seconds(2);
    std::array<epoll_event, 256> events;
    for (;;) {
      const auto now = Clock::now();
      if (now >= end_) stopIssuing();
      if (inFlight() == 0 && (issuing_stopped_ || issued_ >= limit_)) break;
      if (now >= grace) break;
      if (!open_loop_ && errors_ > 1000 && ok_ == 0) break;  // nothing works
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 50);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == kTimerTag) {
          uint64_t expirations;
          (void)!::read(timer_, &expirations, sizeof expirations);
          onTimer();
        } else {
          onEvent(static_cast<size_t>(events[i].data.u64), events[i].events);
        }
      }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const uint64_t unanswered = inFlight() + pending_.size() + dropped_;
    std::printf(
        "mode=%s via=%s ok=%llu errors=%llu unanswered=%llu seconds=%.3f rate=%.1f s2xx=%llu "
        "s4xx=%llu s5xx=%llu other=%llu connects=%llu retries=%llu MBps=%.1f",
        o_.mode.c_str(), o_.viaProxy() ? "proxy" : "direct", static_cast<unsigned long long>(ok_),
        static_cast<unsigned long long>(errors_), static_cast<unsigned long long>(unanswered),
        elapsed, static_cast<double>(ok_) / elapsed, static_cast<unsigned long long>(s2xx_),
        static_cast<unsigned long long>(s4xx_), static_cast<unsigned long long>(s5xx_),
        static_cast<unsigned long long>(other_), static_cast<unsigned long long>(connects_),
        static_cast<unsigned long long>(retries_),
        static_cast<double>(body_bytes_) / elapsed / 1e6);
    if (open_loop_) std::printf(" target_rate=%.1f", o_.rate);
    printLatency(latencies_);
    std::printf("\n");
    for (size_t i = 0; i < conns_.size(); ++i) closeConn(i);
    if (timer_ >= 0) ::close(timer_);
    ::close(epoll_);
    return errors_ == 0 && unanswered == 0 ? 0 : 1;
  }

 private:
  static constexpr uint64_t kTimerTag = ~uint64_t{0};

  struct Conn {
    int fd = -1;
    bool connected = false;
    bool busy = false;         // a request is outstanding
    bool await_close = false;  // response read; waiting for the other side's FIN
    bool listed_idle = false;  // in idle_ (open loop)
    bool reused = false;       // the request went on a connection that had answered before
    bool retried = false;      // the request is a retry (see retryFresh)
    uint64_t generation = 0;   // bumped per socket, so a callback can tell it was replaced
    std::string out;
    size_t out_off = 0;
    std::string in;
    ResponseReader reader;
    Clock::time_point origin;  // latency counts from here (sent, or due in the open loop)
  };

  uint64_t inFlight() const {
    uint64_t n = 0;
    for (const Conn& c : conns_) n += c.busy ? 1 : 0;
    return n;
  }

  void stopIssuing() {
    if (issuing_stopped_) return;
    issuing_stopped_ = true;
    dropped_ += pending_.size();
    pending_.clear();
    if (timer_ >= 0) {
      itimerspec off{};
      timerfd_settime(timer_, 0, &off, nullptr);
    }
  }

  bool openConn(size_t i) {
    Conn& c = conns_[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++connects_;
    int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    if (rc != 0 && errno != EINPROGRESS) {
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    c.connected = rc == 0;
    ++c.generation;
    c.in.clear();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void closeConn(size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) ::close(c.fd);  // closing removes it from the epoll set
    c.fd = -1;
    c.connected = false;
    c.busy = false;
    c.await_close = false;
    c.in.clear();
  }

  void setWriteInterest(size_t i, bool on) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? uint32_t{EPOLLOUT} : 0U);
    ev.data.u64 = i;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, conns_[i].fd, &ev);
  }

  // Starts a request on connection i (opening it first if needed).
  void issue(size_t i, Clock::time_point origin, bool retry = false) {
    Conn& c = conns_[i];
    if (!retry) ++issued_;
    c.reused = c.fd >= 0;
    c.retried = retry;
    if (c.fd < 0 && !openConn(i)) {
      ++errors_;
      return;
    }
    c.busy = true;
    c.origin = origin;
    c.out = request_;
    c.out_off = 0;
    c.reader.reset(connect_request_);
    if (c.connected) flush(i);
  }

  void flush(size_t i) {
    Conn& c = conns_[i];
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          setWriteInterest(i, true);
          return;
        }
        fail(i);
        return;
      }
      c.out_off += static_cast<size_t>(n);
    }
    setWriteInterest(i, false);
  }

  // The other side closed a kept-alive connection before any byte of the response (a proxy that
  // closes after each response without saying so, or an idle timeout racing the request): the
  // request is sent again once on a new connection, as curl and browsers do. Its latency still
  // counts from the first attempt.
  bool retryFresh(size_t i) {
    Conn& c = conns_[i];
    if (!c.busy || !c.reused || c.retried || !c.in.empty() || !c.reader.inHead()) return false;
    const Clock::time_point origin = c.origin;
    closeConn(i);
    ++retries_;
    issue(i, origin, true);
    return true;
  }

  void fail(size_t i) {
    if (retryFresh(i)) return;
    const bool was_busy = conns_[i].busy;
    closeConn(i);
    if (was_busy) ++errors_;
    next(i);
  }

  void onEvent(size_t i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    const uint64_t generation = c.generation;
    if (!c.connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        fail(i);
        return;
      }
      c.connected = true;
      if (c.busy) flush(i);
    } else if (events & EPOLLOUT) {
      flush(i);
    }
    if (c.fd >= 0 && c.generation == generation &&
        (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      readable(i);
    }
  }

  // Reads until EAGAIN. complete() and fail() may replace the socket (a new connection for the
  // next request): then the generation changed and this socket's events are over.
  void readable(size_t i) {
    Conn& c = conns_[i];
    const uint64_t generation = c.generation;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (c.await_close || !c.busy) continue;  // nothing expected: ignore
        c.in.append(buf, static_cast<size_t>(n));
        ResponseReader::Result r = c.reader.feed(c.in);
        if (r == ResponseReader::Result::kError) {
          fail(i);
          return;
        }
        if (r == ResponseReader::Result::kDone) {
          complete(i);
          if (c.fd < 0 || c.generation != generation) return;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EOF or error.
      if (retryFresh(i)) return;
      if (c.busy && n == 0 && c.reader.finishAtEof()) {
        complete(i);
        if (c.fd < 0 || c.generation != generation) return;
      }
      const bool was_busy = c.busy;
      closeConn(i);
      if (was_busy) ++errors_;
      next(i);
      return;
    }
  }

  void complete(size_t i) {
    Conn& c = conns_[i];
    const auto now = Clock::now();
    latencies_.record(nsSince(c.origin, now));
    ++ok_;
    const int s = c.reader.status();
    if (s >= 200 && s < 300) {
      ++s2xx_;
    } else if (s >= 400 && s < 500) {
      ++s4xx_;
    } else if (s >= 500 && s < 600) {
      ++s5xx_;
    } else {
      ++other_;
    }
    body_bytes_ += c.reader.bodyBytes();
    c.busy = false;
    if (!c.reader.keepAlive() && !new_connection_each_) {
      closeConn(i);
    } else if (new_connection_each_) {
      if (!c.reader.keepAlive()) {
        // The other side said it closes: let it, so TIME_WAIT stays on its side.
        c.await_close = true;
        return;
      }
      closeConn(i);
    }
    next(i);
  }

  // Connection i can take the next request.
  void next(size_t i) {
    if (conns_[i].await_close) return;
    if (open_loop_) {
      if (!pending_.empty()) {
        Clock::time_point due = pending_.front();
        pending_.pop_front();
        issue(i, due);
      } else if (!conns_[i].listed_idle) {
        conns_[i].listed_idle = true;
        idle_.push_back(i);
      }
      return;
    }
    if (!issuing_stopped_ && issued_ < limit_ && Clock::now() < end_) issue(i, Clock::now());
  }

  // Open loop: every request due by now is sent (or queued when every connection is busy).
  void onTimer() {
    if (issuing_stopped_) return;
    const auto now = Clock::now();
    while (next_due_ <= now && next_due_ < end_ &&
           issued_ + static_cast<int64_t>(pending_.size()) < limit_) {
      pending_.push_back(next_due_);
      next_due_ += std::chrono::nanoseconds(interval_ns_);
    }
    while (!pending_.empty() && !idle_.empty()) {
      size_t i = idle_.back();
      idle_.pop_back();
      conns_[i].listed_idle = false;
      Clock::time_point due = pending_.front();
      pending_.pop_front();
      issue(i, due);
    }
    if (next_due_ >= end_ || issued_ + static_cast<int64_t>(pending_.size()) >= limit_) return;
    itimerspec at{};
    const int64_t ns = next_due_.time_since_epoch().count();
    at.it_value.tv_sec = ns / 1'000'000'000;
    at.it_value.tv_nsec = ns % 1'000'000'000;
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &at, nullptr);
  }

  const Options& o_;
  std::string request_;
  bool connect_request_ = false;
  bool new_connection_each_ = false;
  bool open_loop_ = false;
  int64_t limit_ = 0;
  sockaddr_in addr_{};
  std::vector<Conn> conns_;
  int epoll_ = -1;
  int timer_ = -1;
  Clock::time_point start_;
  Clock::time_point end_;
  bool issuing_stopped_ = false;
  int64_t issued_ = 0;
  int64_t interval_ns_ = 0;
  Clock::time_point next_due_;
  std::deque<Clock::time_point> pending_;  // due requests waiting for an idle connection
  std::vector<size_t> idle_;
  Histogram latencies_;
  uint64_t ok_ = 0, errors_ = 0, s2xx_ = 0, s4xx_ = 0, s5xx_ = 0, other_ = 0, connects_ = 0;
  uint64_t retries_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t dropped_ = 0;  // due but never sent before the deadline (every connection busy)
};

void usage() {
  std::fprintf(stderr,
               "usage: gatehouse-load tls|bulk|hold|khold|get|denied|rate [--proxy ip:port] "
               "--target name:port [--connect ip:port] [--path P] [--threads N] [--seconds S] "
               "[--count N] [--connections N] [--rate R] [--method GET|CONNECT] [--close 0|1] "
               "[--cafile F]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    usage();
    return 2;
  }
  o.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      return 2;
    }
    std::string v = argv[i + 1];
    if (k == "--proxy") {
      o.proxy = v;
    } else if (k == "--target") {
      o.target = v;
    } else if (k == "--connect") {
      o.connect = v;
    } else if (k == "--path") {
      o.path = v;
    } else if (k == "--method") {
      o.method = v;
    } else if (k == "--threads") {
      o.threads = std::atoi(v.c_str());
    } else if (k == "--seconds") {
      o.seconds = std::atof(v.c_str());
    } else if (k == "--count") {
      o.count = std::atoll(v.c_str());
      o.count_given = true;
    } else if (k == "--connections") {
      o.connections = std::atoi(v.c_str());
    } else if (k == "--rate") {
      o.rate = std::atof(v.c_str());
    } else if (k == "--close") {
      o.close = v == "1" || v == "yes" || v == "true";
    } else if (k == "--cafile") {
      o.cafile = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      usage();
      return 2;
    }
  }
  if (!(o.seconds > 0 && o.seconds <= kMaxSeconds) || o.count <= 0 || o.count > kMaxCount ||
      o.threads <= 0 || o.threads > 256 || o.connections <= 0 || o.connections > kMaxConnections ||
      !(o.rate > 0 && o.rate <= kMaxRate)) {
    std::fprintf(stderr,
                 "bounds: 0 < seconds <= 600, 0 < count <= 10000000, 0 < threads <= 256, "
                 "0 < connections <= 20000, 0 < rate <= 1000000\n");
    return 2;
  }
  if (o.target.empty() || (o.proxy.empty() && o.connect.empty())) {
    std::fprintf(stderr, "--target and one of --proxy / --connect are required\n");
    return 2;
  }
  if (o.method != "GET" && o.method != "CONNECT") {
    std::fprintf(stderr, "--method is GET or CONNECT\n");
    return 2;
  }
  if (o.mode == "tls" || o.mode == "bulk") return runTls(o);
  if (o.mode == "hold") return runHold(o);
  if (o.mode == "khold") return runKeepAliveHold(o);
  if (o.mode == "get" || o.mode == "denied" || o.mode == "rate") return EventLoad(o).run();
  std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str());
  usage();
  return 2;
}
