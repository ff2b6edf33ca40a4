#include "tests/fakes/origin.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>

namespace gatehouse::testing {

namespace {

constexpr size_t kMaxHead = 1 << 20;
constexpr size_t kMaxLine = size_t{64} * 1024;
constexpr size_t kWriteChunk = size_t{64} * 1024;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value holds `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (equalsIgnoreCase(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Buffered reads from a blocking socket; every byte read is reported to `count`.
class Reader {
 public:
  Reader(int fd, std::function<void(size_t)> count) : fd_(fd), count_(std::move(count)) {}

  bool fill() {
    char tmp[64 * 1024];
    ssize_t n;
    do {
      n = ::recv(fd_, tmp, sizeof tmp, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    count_(static_cast<size_t>(n));
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  // The head up to and including the blank line; false on EOF, error or an oversized head.
  bool readHead(std::string& head) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > kMaxHead || !fill()) return false;
    }
    head = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    return true;
  }

  bool readLine(std::string& line) {
    size_t end;
    while ((end = buf_.find("\r\n")) == std::string::npos) {
      if (buf_.size() > kMaxLine || !fill()) return false;
    }
    line = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    return true;
  }

  bool readBytes(uint64_t n, const std::function<void(const char*, size_t)>& sink) {
    while (n > 0) {
      if (buf_.empty() && !fill()) return false;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, buf_.size()));
      sink(buf_.data(), take);
      buf_.erase(0, take);
      n -= take;
    }
    return true;
  }

 private:
  int fd_;
  std::function<void(size_t)> count_;
  std::string buf_;
};

bool parseHead(OriginRequest& r) {
  std::string_view rest = r.head;
  size_t eol = rest.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::string_view line = rest.substr(0, eol);
  rest.remove_prefix(eol + 2);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  r.version = std::string(line.substr(sp2 + 1));
  while ((eol = rest.find("\r\n")) != std::string_view::npos && eol > 0) {
    std::string_view field = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) return false;
    r.headers.emplace_back(std::string(field.substr(0, colon)),
                           std::string(trim(field.substr(colon + 1))));
  }
  return true;
}

// "/big?n=5" -> path "/big", params {n: 5}. An absolute-form target is routed by its path.
std::string routePath(std::string_view target, std::map<std::string, std::string>& params) {
  if (target.rfind("http://", 0) == 0) {
    target.remove_prefix(7);
    const size_t slash = target.find('/');
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  const size_t q = target.find('?');
  std::string path(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      const size_t eq = kv.find('=');
      if (eq != std::string_view::npos) {
        params[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return path;
}

uint64_t param(const std::map<std::string, std::string>& params, const std::string& name,
               uint64_t fallback) {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  return std::strtoull(it->second.c_str(), nullptr, 10);
}

std::string responseHead(int status, const char* reason, const std::string& framing, bool close,
                         const std::string& extra = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  out += "Content-Type: text/plain\r\n";
  out += framing;
  out += extra;
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string contentLength(uint64_t n) { return "Content-Length: " + std::to_string(n) + "\r\n"; }

std::string pattern(uint64_t from, size_t len) {
  std::string out(len, '\0');
  for (size_t i = 0; i < len; ++i) out[i] = bigBodyByte(from + i);
  return out;
}

}  // namespace

uint64_t fnv1a64(std::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string OriginRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) return v;
  }
  return "";
}

bool OriginRequest::has(std::string_view name) const { return count(name) > 0; }

size_t OriginRequest::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += equalsIgnoreCase(h.first, name) ? 1 : 0;
  return n;
}

std::unique_ptr<FakeOrigin> FakeOrigin::start(const std::string& ip, uint16_t port, Mode mode,
                                              std::string* error) {
  auto fail = [error](const std::string& what) -> std::unique_ptr<FakeOrigin> {
    if (error != nullptr) *error = what + ": " + std::strerror(errno);
    return nullptr;
  };
  std::unique_ptr<FakeOrigin> o(new FakeOrigin());
  o->ip_ = ip;
  o->mode_ = mode;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    errno = EINVAL;
    return fail("bad address " + ip);
  }
  o->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (o->listen_fd_ < 0) return fail("socket");
  if (::bind(o->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail("bind " + ip + ":" + std::to_string(port));
  }
  if (::listen(o->listen_fd_, 128) != 0) return fail("listen");
  socklen_t len = sizeof addr;
  ::getsockname(o->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  o->port_ = ntohs(addr.sin_port);
  if (::pipe2(o->wake_pipe_, O_CLOEXEC) != 0) return fail("pipe");
  o->acceptor_ = std::thread([p = o.get()] { p->acceptLoop(); });
  return o;
}

FakeOrigin::~FakeOrigin() {
  stopping_ = true;
  if (wake_pipe_[1] >= 0) {
    const char c = 'x';
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &c, 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void FakeOrigin::acceptLoop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0 || stopping_) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t number = ++accepts_;
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, number] {
      if (mode_ == Mode::kSink) {
        serveSink(fd);
      } else {
        serveHttp(fd, number);
      }
      std::lock_guard<std::mutex> l(mutex_);
      open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
      ::close(fd);
    });
    changed_.notify_all();
  }
}

void FakeOrigin::addBytes(size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  bytes_ += n;
  changed_.notify_all();
}

void FakeOrigin::record(OriginRequest request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.push_back(std::move(request));
  changed_.notify_all();
}

void FakeOrigin::serveSink(int fd) {
  char buf[64 * 1024];
  while (!stopping_) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    addBytes(static_cast<size_t>(n));
  }
}

void FakeOrigin::serveHttp(int fd, size_t connection) {
  Reader in(fd, [this](size_t n) { addBytes(n); });
  while (!stopping_) {
    OriginRequest req;
    req.connection = connection;
    if (!in.readHead(req.head)) return;
    if (!parseHead(req)) {
      sendAll(fd, responseHead(400, "Bad Request", contentLength(0), true));
      return;
    }
    const bool http10 = req.version == "HTTP/1.0";
    const std::string conn = req.header("Connection");
    const bool close = hasToken(conn, "close") || (http10 && !hasToken(conn, "keep-alive"));
    const bool head_only = req.method == "HEAD";
    std::map<std::string, std::string> params;
    const std::string path = routePath(req.target, params);

    if (hasToken(req.header("Expect"), "100-continue")) {
      if (!sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return;
    }
    uint64_t body_hash = fnv1a64("");
    auto sink = [&req, &body_hash](const char* data, size_t len) {
      req.body_bytes += len;
      body_hash = fnv1a64(std::string_view(data, len), body_hash);
      if (req.body.size() < kMaxRecordedBody) {
        req.body.append(data, std::min(len, kMaxRecordedBody - req.body.size()));
      }
    };
    if (hasToken(req.header("Transfer-Encoding"), "chunked")) {
      for (;;) {
        std::string line;
        if (!in.readLine(line)) return;
        const uint64_t size = std::strtoull(line.c_str(), nullptr, 16);
        if (size == 0) {
          do {
            if (!in.readLine(line)) return;
          } while (!line.empty());
          break;
        }
        if (!in.readBytes(size, sink) || !in.readLine(line)) return;
      }
    } else if (req.has("Content-Length")) {
      if (!in.readBytes(std::strtoull(req.header("Content-Length").c_str(), nullptr, 10), sink)) {
        return;
      }
    }
    const std::string head_copy = req.head;
    const std::string body_copy = req.body;
    const uint64_t body_bytes = req.body_bytes;
    record(std::move(req));

    bool ok = true;
    bool close_after = close;
    if (path == "/small") {
      ok = sendAll(fd, responseHead(200, "OK", contentLength(kSmallBody.size()), close)) &&
           (head_only || sendAll(fd, kSmallBody));
    } else if (path == "/big" || path == "/slow") {
      const uint64_t n = param(params, "n", 1 << 20);
      const bool slow = path == "/slow";
      const size_t step = slow ? std::max<uint64_t>(1, param(params, "chunk", 4096)) : kWriteChunk;
      const auto pause = std::chrono::milliseconds(slow ? param(params, "ms", 10) : 0);
      ok = sendAll(fd, responseHead(200, "OK", contentLength(n), close));
      for (uint64_t sent = 0; ok && !head_only && sent < n && !stopping_;) {
        const size_t len = static_cast<size_t>(std::min<uint64_t>(step, n - sent));
        ok = sendAll(fd, pattern(sent, len));
        sent += len;
        if (slow && sent < n) std::this_thread::sleep_for(pause);
      }
    } else if (path == "/chunked") {
      ok = sendAll(fd, responseHead(200, "OK", "Transfer-Encoding: chunked\r\n", close));
      if (ok && !head_only) {
        std::string body;
        for (std::string_view part :
             {std::string_view("chunk-one\n"), std::string_view("chunk-two\n"),
              std::string_view("chunk-three\n")}) {
          char size[16];
          std::snprintf(size, sizeof size, "%zx\r\n", part.size());
          body += size;
          body += part;
          body += "\r\n";
        }
        body += "0\r\n\r\n";
        ok = sendAll(fd, body);
      }
    } else if (path == "/close") {
      ok = sendAll(fd, responseHead(200, "OK", "", true)) &&
           (head_only || sendAll(fd, kUntilCloseBody));
      close_after = true;
    } else if (path == "/echo") {
      const std::string body = head_copy + body_copy;
      ok = sendAll(fd,
                   responseHead(200, "OK", contentLength(body.size()), close,
                                "X-Head-Length: " + std::to_string(head_copy.size()) + "\r\n")) &&
           (head_only || sendAll(fd, body));
    } else if (path == "/sink") {
      char text[64];
      std::snprintf(text, sizeof text, "%llu %016llx\n",
                    static_cast<unsigned long long>(body_bytes),
                    static_cast<unsigned long long>(body_hash));
      ok = sendAll(fd, responseHead(200, "OK", contentLength(std::strlen(text)), close)) &&
           (head_only || sendAll(fd, text));
    } else {
      static constexpr std::string_view kNotFound = "not found\n";
      ok = sendAll(fd, responseHead(404, "Not Found", contentLength(kNotFound.size()), close)) &&
           (head_only || sendAll(fd, kNotFound));
    }
    if (!ok || close_after) {
      ::shutdown(fd, SHUT_WR);
      return;
    }
  }
}

size_t FakeOrigin::accepts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepts_;
}

uint64_t FakeOrigin::bytesReceived() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

std::vector<OriginRequest> FakeOrigin::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

size_t FakeOrigin::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

bool FakeOrigin::waitForAccepts(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return accepts_ >= count; });
}

bool FakeOrigin::waitForRequests(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

bool FakeOrigin::waitForBytes(uint64_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return bytes_ >= count; });
}

}  // namespace gatehouse::testing
