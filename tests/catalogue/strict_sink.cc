#include "tests/catalogue/strict_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "tests/unit/test_text.h"

namespace gatehouse::catalogue {

namespace {

constexpr size_t kMaxHead = size_t{1} << 20;
constexpr size_t kMaxBuffered = size_t{96} << 20;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool isTchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One CRLF-terminated line from data[pos]: a bare CR or a bare LF is invalid.
StrictStatus readLine(std::string_view data, size_t& pos, std::string_view* line,
                      std::string* why) {
  for (size_t i = pos; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\n') {
      *why = "bare LF";
      return StrictStatus::kInvalid;
    }
    if (c == '\r') {
      if (i + 1 >= data.size()) return StrictStatus::kNeedMore;
      if (data[i + 1] != '\n') {
        *why = "bare CR";
        return StrictStatus::kInvalid;
      }
      *line = data.substr(pos, i - pos);
      pos = i + 2;
      return StrictStatus::kOk;
    }
  }
  return StrictStatus::kNeedMore;
}

bool validFieldValue(std::string_view v) {
  for (unsigned char c : v) {
    if (c == ' ' || c == '\t' || c >= 0x80) continue;
    if (c < 0x21 || c == 0x7f) return false;
  }
  return true;
}

// Header lines up to the blank line.
StrictStatus readFields(std::string_view data, size_t& pos, Fields* fields, std::string* why) {
  for (;;) {
    std::string_view line;
    const StrictStatus s = readLine(data, pos, &line, why);
    if (s != StrictStatus::kOk) return s;
    if (line.empty()) return StrictStatus::kOk;
    if (line[0] == ' ' || line[0] == '\t') {
      *why = "obs-fold or whitespace at the start of a field line";
      return StrictStatus::kInvalid;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *why = "field line without a name and colon";
      return StrictStatus::kInvalid;
    }
    for (unsigned char c : line.substr(0, colon)) {
      if (!isTchar(c)) {
        *why = "non-token byte in a field name";
        return StrictStatus::kInvalid;
      }
    }
    const std::string_view value = trimOws(line.substr(colon + 1));
    if (!validFieldValue(value)) {
      *why = "control byte in a field value";
      return StrictStatus::kInvalid;
    }
    fields->emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
}

bool knownMethod(std::string_view m) {
  static constexpr std::string_view kMethods[] = {"GET",   "HEAD",    "POST",  "PUT",    "DELETE",
                                                  "PATCH", "OPTIONS", "TRACE", "CONNECT"};
  return std::find(std::begin(kMethods), std::end(kMethods), m) != std::end(kMethods);
}

std::optional<unsigned> strictPort(std::string_view p) {
  if (p.empty() || p.size() > 5 || p[0] == '0') return std::nullopt;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return v;
}

// host[:port] -> (lowercased host without one trailing dot, port); nullopt when malformed.
std::optional<std::pair<std::string, unsigned>> splitAuthority(std::string_view a,
                                                               unsigned default_port) {
  std::string_view host = a;
  unsigned port = default_port;
  size_t colon = std::string_view::npos;
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = a.substr(0, close + 1);
    if (close + 1 < a.size()) {
      if (a[close + 1] != ':') return std::nullopt;
      colon = close + 1;
    }
  } else {
    colon = a.find(':');
    if (colon != std::string_view::npos) host = a.substr(0, colon);
  }
  if (colon != std::string_view::npos) {
    auto p = strictPort(a.substr(colon + 1));
    if (!p) return std::nullopt;
    port = *p;
  } else if (default_port == 0) {
    return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  std::string h = lowered(host);
  if (h.size() > 1 && h.back() == '.') h.pop_back();
  return std::make_pair(h, port);
}

bool parseContentLength(std::string_view v, uint64_t* out) {
  if (v.empty() || v.size() > 15 || (v.size() > 1 && v[0] == '0')) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

bool sendAll(int fd, std::string_view data, std::atomic<uint64_t>* counter = nullptr) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (counter != nullptr) *counter += static_cast<uint64_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Broken upstream responses for BAD-INPUTS F23, by name. `close`: the sink closes after it.
std::string brokenResponse(std::string_view kind, bool* close) {
  *close = true;
  if (kind == "cl-te") {
    return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  }
  if (kind == "dup-cl")
    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!";
  if (kind == "obs-fold") return "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok";
  if (kind == "bare-cr") return "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok";
  if (kind == "100-twice") {
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  }
  if (kind == "101") {
    return std::string(
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n\r\n") +
           std::string("\x81\x05hello", 7);
  }
  if (kind == "204-body") {
    *close = false;
    return "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello";
  }
  if (kind == "304-body") {
    *close = false;
    return "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello";
  }
  if (kind == "head-body") {
    *close = false;
    return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  }
  if (kind == "smuggle") {
    *close = false;
    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
           "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!";
  }
  if (kind == "truncated") return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
  if (kind == "bad-cl") return "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok";
  if (kind == "lf-only") return "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
  if (kind == "bad-status") return "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok";
  if (kind == "bad-chunk") {
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n";
  }
  if (kind == "no-response") return "";
  return "HTTP/1.1 500 Unknown Kind\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string escapeBytes(std::string_view s, size_t max) {
  std::string out = testing_text::printable(s.substr(0, std::min(s.size(), max)));
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string StrictRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsNoCase(n, name)) return v;
  }
  return "";
}

size_t StrictRequest::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += equalsNoCase(h.first, name) ? 1 : 0;
  return n;
}

std::string StrictRequest::path() const {
  std::string_view t = target;
  const size_t sep = t.find("://");
  if (sep == std::string_view::npos) return std::string(t);
  t.remove_prefix(sep + 3);
  const size_t slash = t.find_first_of("/?");
  if (slash == std::string_view::npos) return "/";
  if (t[slash] == '?') return "/" + std::string(t.substr(slash));
  return std::string(t.substr(slash));
}

StrictStatus parseStrictRequest(std::string_view data, const StrictOptions& options,
                                StrictRequest* out, size_t* consumed, std::string* why) {
  StrictRequest r;
  size_t pos = 0;
  // Empty lines before a request line are ignored (RFC 9112 §2.2); like llhttp, any run of CR
  // and LF bytes there (nothing precedes them, so nothing can be smuggled with them).
  while (options.proxy_form && pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) {
    ++pos;
  }
  std::string_view line;
  StrictStatus s = readLine(data, pos, &line, why);
  if (s != StrictStatus::kOk) return s;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) {
    *why = "request line is not METHOD SP target SP version";
    return StrictStatus::kInvalid;
  }
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  r.version = std::string(line.substr(sp2 + 1));
  if (!knownMethod(r.method)) {
    *why = "unknown method";
    return StrictStatus::kInvalid;
  }
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") {
    *why = "version is not HTTP/1.0 or HTTP/1.1";
    return StrictStatus::kInvalid;
  }
  for (unsigned char c : r.target) {
    if (c < 0x21 || c > 0x7e || c == '#' || c == '\\') {
      *why = "byte not allowed in the request target";
      return StrictStatus::kInvalid;
    }
  }
  const bool connect = r.method == "CONNECT";
  std::optional<std::pair<std::string, unsigned>> authority;
  if (options.proxy_form) {
    if (connect) {
      if (r.target.find_first_of("/@") != std::string::npos) {
        *why = "CONNECT target is not host:port";
        return StrictStatus::kInvalid;
      }
      authority = splitAuthority(r.target, 0);
    } else {
      if (r.target.size() < 8 || !equalsNoCase(r.target.substr(0, 7), "http://")) {
        *why = "not an absolute http:// target";
        return StrictStatus::kInvalid;
      }
      std::string_view rest = std::string_view(r.target).substr(7);
      const std::string_view auth = rest.substr(0, rest.find_first_of("/?"));
      if (auth.find('@') != std::string_view::npos) {
        *why = "userinfo in the target";
        return StrictStatus::kInvalid;
      }
      authority = splitAuthority(auth, 80);
    }
    if (!authority) {
      *why = "malformed authority in the target";
      return StrictStatus::kInvalid;
    }
  } else if (r.target[0] != '/') {
    *why = "not an origin-form target";
    return StrictStatus::kInvalid;
  }
  s = readFields(data, pos, &r.headers, why);
  if (s != StrictStatus::kOk) return s;
  r.head_bytes = pos;
  r.head = std::string(data.substr(0, pos));

  const bool http10 = r.version == "HTTP/1.0";
  const size_t hosts = r.count("host");
  if (hosts > 1 || (hosts == 0 && !http10 && !(options.proxy_form && connect))) {
    *why = "not exactly one Host";
    return StrictStatus::kInvalid;
  }
  if (options.proxy_form && hosts == 1) {
    auto h = splitAuthority(r.header("host"), connect ? authority->second : 80);
    if (!h || *h != *authority) {
      *why = "Host differs from the target";
      return StrictStatus::kInvalid;
    }
  }
  const size_t cls = r.count("content-length");
  const size_t tes = r.count("transfer-encoding");
  if (cls > 1 || tes > 1 || (cls == 1 && tes == 1)) {
    *why = "ambiguous framing headers";
    return StrictStatus::kInvalid;
  }
  if (connect && (cls + tes) > 0) {
    *why = "CONNECT with a body";
    return StrictStatus::kInvalid;
  }
  for (const auto& [n, v] : r.headers) {
    if (equalsNoCase(n, "expect") && !equalsNoCase(v, "100-continue")) {
      *why = "unsupported expectation";
      return StrictStatus::kInvalid;
    }
  }
  if (r.count("expect") > 1) {
    *why = "two Expect fields";
    return StrictStatus::kInvalid;
  }
  uint64_t length = 0;
  if (cls == 1 && !parseContentLength(r.header("content-length"), &length)) {
    *why = "Content-Length is not plain digits";
    return StrictStatus::kInvalid;
  }
  if (tes == 1) {
    if (http10 || !equalsNoCase(r.header("transfer-encoding"), "chunked")) {
      *why = "Transfer-Encoding is not exactly chunked in HTTP/1.1";
      return StrictStatus::kInvalid;
    }
    r.chunked = true;
    for (;;) {
      std::string_view size_line;
      s = readLine(data, pos, &size_line, why);
      if (s != StrictStatus::kOk) return s;
      size_t digits = 0;
      while (digits < size_line.size() && isHex(size_line[digits])) ++digits;
      if (digits == 0 || digits > 12) {
        *why = "malformed chunk size";
        return StrictStatus::kInvalid;
      }
      const std::string_view ext = size_line.substr(digits);
      if (!ext.empty() && (ext[0] != ';' || !validFieldValue(ext))) {
        *why = "malformed chunk extension";
        return StrictStatus::kInvalid;
      }
      const uint64_t size =
          std::strtoull(std::string(size_line.substr(0, digits)).c_str(), nullptr, 16);
      if (size == 0) {
        s = readFields(data, pos, &r.trailers, why);
        if (s != StrictStatus::kOk) return s;
        break;
      }
      if (data.size() < pos + size + 2) return StrictStatus::kNeedMore;
      r.body.append(data.substr(pos, size));
      if (data.substr(pos + size, 2) != "\r\n") {
        *why = "chunk data not followed by CRLF";
        return StrictStatus::kInvalid;
      }
      pos += size + 2;
    }
  } else if (cls == 1) {
    if (data.size() - pos < length) return StrictStatus::kNeedMore;
    r.body = std::string(data.substr(pos, length));
    pos += length;
  }
  *out = std::move(r);
  *consumed = pos;
  return StrictStatus::kOk;
}

std::vector<std::string> forwardViolations(const StrictRequest& r) {
  std::vector<std::string> v;
  if (r.target.empty() || r.target[0] != '/') v.push_back("target not in origin-form");
  if (r.version != "HTTP/1.1") v.push_back("version " + r.version);
  if (r.count("host") != 1) v.push_back("Host count " + std::to_string(r.count("host")));
  static constexpr std::string_view kHopByHop[] = {
      "proxy-connection", "keep-alive",        "te", "trailer", "upgrade", "proxy-authorization",
      "http2-settings",   "proxy-authenticate"};
  for (std::string_view h : kHopByHop) {
    if (r.count(h) > 0) v.push_back("hop-by-hop header forwarded: " + std::string(h));
  }
  for (const auto& [n, value] : r.headers) {
    if (n.find('_') != std::string::npos) v.push_back("underscore header forwarded: " + n);
    if (equalsNoCase(n, "connection")) {
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view token = trimOws(rest.substr(0, comma));
        if (!token.empty() && !equalsNoCase(token, "close") && !equalsNoCase(token, "keep-alive")) {
          v.push_back("Connection names " + std::string(token));
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
  }
  if (!r.trailers.empty()) v.push_back("trailer fields forwarded");
  return v;
}

int findTag(std::string_view bytes, std::string* suffix) {
  for (std::string_view marker : {std::string_view("/cat/"), std::string_view("CATTAG")}) {
    const size_t at = bytes.find(marker);
    if (at == std::string_view::npos) continue;
    size_t i = at + marker.size();
    int tag = 0;
    size_t digits = 0;
    while (i < bytes.size() && bytes[i] >= '0' && bytes[i] <= '9' && digits < 8) {
      tag = tag * 10 + (bytes[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0) continue;
    if (suffix != nullptr) {
      size_t end = i;
      while (end < bytes.size() && bytes[end] != ' ' && bytes[end] != '?' && bytes[end] != '\r' &&
             bytes[end] != ';') {
        ++end;
      }
      *suffix = marker == "/cat/" ? std::string(bytes.substr(i, end - i)) : "";
    }
    return tag;
  }
  return -1;
}

// ---- the servers ---------------------------------------------------------------------------

std::unique_ptr<StrictSink> StrictSink::start(const std::string& ip, uint16_t port, Mode mode,
                                              std::string* error) {
  std::unique_ptr<StrictSink> s(new StrictSink());
  s->ip_ = ip;
  s->mode_ = mode;
  s->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s->listen_fd_, 512) != 0) {
    if (error != nullptr) *error = ip + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(s->listen_fd_);
    s->listen_fd_ = -1;
    return nullptr;
  }
  socklen_t len = sizeof addr;
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s->port_ = ntohs(addr.sin_port);
  if (::pipe2(s->wake_pipe_, O_CLOEXEC) != 0) return nullptr;
  s->acceptor_ = std::thread([p = s.get()] { p->acceptLoop(); });
  return s;
}

StrictSink::~StrictSink() {
  stopping_ = true;
  if (wake_pipe_[1] >= 0) {
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], "x", 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock<std::mutex> lock(mutex_);
  for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  done_.wait(lock, [this] { return active_ == 0; });
  lock.unlock();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void StrictSink::acceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (stopping_ || fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t connection;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connection = ++accepts_;
      ++active_;
      open_fds_.insert(fd);
    }
    std::thread([this, fd, connection] { serve(fd, connection); }).detach();
  }
}

void StrictSink::serve(int fd, size_t connection) {
  if (mode_ == Mode::kHttp) {
    serveHttp(fd, connection);
  } else {
    serveRaw(fd, connection);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  open_fds_.erase(fd);
  idle_fds_.erase(fd);
  ::close(fd);
  --active_;
  done_.notify_all();
}

void StrictSink::setIdle(int fd, bool idle) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle) {
    idle_fds_.insert(fd);
  } else {
    idle_fds_.erase(fd);
  }
}

size_t StrictSink::addRecord(SinkRecord r) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.push_back(std::move(r));
  return records_.size() - 1;
}

void StrictSink::updateRecord(size_t index, std::string_view more) {
  std::lock_guard<std::mutex> lock(mutex_);
  SinkRecord& r = records_[index];
  if (r.raw.size() < (size_t{1} << 20)) r.raw.append(more);
  if (r.tag < 0) r.tag = findTag(r.raw, &r.suffix);
}

void StrictSink::serveHttp(int fd, size_t connection) {
  std::string buf;
  bool continued = false;
  size_t last_attempt = 0;
  char tmp[64 * 1024];
  for (;;) {
    // Parse what is buffered (a request may be complete already: pipelining).
    while (!buf.empty()) {
      const size_t head_end = buf.find("\r\n\r\n");
      if (head_end == std::string::npos && buf.size() < kMaxHead) break;
      const std::string head_lc =
          head_end == std::string::npos ? std::string() : lowered(buf.substr(0, head_end + 4));
      const bool wants_continue = head_lc.find("\r\nexpect: 100-continue") != std::string::npos;
      // Big bodies: parse again only once enough arrived (linear, not quadratic).
      const bool chunked = head_lc.find("\r\ntransfer-encoding") != std::string::npos;
      const size_t cl = head_lc.find("\r\ncontent-length:");
      if (head_end != std::string::npos && buf.size() < kMaxBuffered) {
        bool wait = false;
        if (cl != std::string::npos && !chunked) {
          const uint64_t n = std::strtoull(head_lc.c_str() + cl + 17, nullptr, 10);
          wait = buf.size() < head_end + 4 + n;
        } else if (chunked) {
          const bool ends_blank =
              buf.size() >= 4 && buf.compare(buf.size() - 4, 4, "\r\n\r\n") == 0;
          wait = !ends_blank && last_attempt > 0 && buf.size() < 2 * last_attempt;
        }
        if (wait) {
          if (!continued && wants_continue) {
            continued = true;
            sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
          }
          break;
        }
      }
      last_attempt = buf.size();
      StrictRequest req;
      size_t used = 0;
      std::string why;
      const StrictStatus st = parseStrictRequest(buf, StrictOptions{}, &req, &used, &why);
      if (st == StrictStatus::kNeedMore && buf.size() < kMaxBuffered) {
        if (!continued && wants_continue) {
          continued = true;
          sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
        }
        break;
      }
      if (st != StrictStatus::kOk) {
        SinkRecord r;
        r.connection = connection;
        r.raw = buf.substr(0, 4096);
        r.tag = findTag(r.raw, &r.suffix);
        r.violations.push_back("unparsable request: " +
                               (st == StrictStatus::kNeedMore ? "too large" : why));
        addRecord(std::move(r));
        sendAll(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      buf.erase(0, used);
      continued = false;
      last_attempt = 0;
      SinkRecord r;
      r.connection = connection;
      r.tag = findTag(req.target, &r.suffix);
      r.violations = forwardViolations(req);
      const std::string suffix = r.suffix;
      const bool head = req.method == "HEAD";
      const bool close = equalsNoCase(req.header("connection"), "close");
      const std::string path = req.target;
      r.request = std::move(req);
      addRecord(std::move(r));

      if (suffix == "/silent") {
        setIdle(fd, false);
        while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
        }
        return;
      }
      if (suffix.rfind("/r/", 0) == 0) {
        bool close_after = true;
        const std::string resp = brokenResponse(suffix.substr(3), &close_after);
        if (!sendAll(fd, resp)) return;
        if (close_after) return;
        continue;
      }
      if (suffix.rfind("/big/", 0) == 0) {
        const uint64_t n = std::strtoull(suffix.c_str() + 5, nullptr, 10);
        if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n")) {
          return;
        }
        const std::string block(64 * 1024, 'x');
        for (uint64_t left = n; left > 0;) {
          const size_t take = static_cast<size_t>(std::min<uint64_t>(left, block.size()));
          if (!sendAll(fd, std::string_view(block).substr(0, take), &bytes_sent_)) return;
          left -= take;
        }
        continue;
      }
      const std::string body = "ok " + path + "\n";
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n";
      if (close || suffix == "/close") resp += "Connection: close\r\n";
      resp += "\r\n";
      if (!head) resp += body;
      if (!sendAll(fd, resp) || close || suffix == "/close") return;
    }
    setIdle(fd, buf.empty());
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      setIdle(fd, false);
      if (!buf.empty()) {
        // The proxy gave up in the middle of a request (an aborted body): recorded, not a
        // violation by itself.
        SinkRecord r;
        r.connection = connection;
        r.raw = buf.substr(0, 4096);
        r.tag = findTag(r.raw, &r.suffix);
        r.suffix = "(incomplete)" + r.suffix;
        addRecord(std::move(r));
      }
      return;
    }
    setIdle(fd, false);
    buf.append(tmp, static_cast<size_t>(n));
  }
}

void StrictSink::serveRaw(int fd, size_t connection) {
  SinkRecord rec;
  rec.connection = connection;
  const size_t index = addRecord(std::move(rec));
  std::string seen;
  bool half_closed = false;
  char tmp[64 * 1024];
  for (;;) {
    setIdle(fd, true);
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    setIdle(fd, false);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (mode_ == Mode::kEcho && !half_closed) ::shutdown(fd, SHUT_WR);
      // Until the peer closes too, keep the socket (a half-closed tunnel).
      if (n == 0 && mode_ == Mode::kEcho) {
        while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
        }
      }
      return;
    }
    updateRecord(index, std::string_view(tmp, static_cast<size_t>(n)));
    if (mode_ != Mode::kEcho) continue;
    if (seen.size() < 65536) seen.append(tmp, static_cast<size_t>(n));
    if (!half_closed && !sendAll(fd, std::string_view(tmp, static_cast<size_t>(n)), &bytes_sent_)) {
      return;
    }
    if (seen.find("RSTNOW") != std::string::npos) {
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      return;
    }
    if (!half_closed && seen.find("HALFCLOSE") != std::string::npos) {
      half_closed = true;
      ::shutdown(fd, SHUT_WR);
    }
  }
}

size_t StrictSink::accepts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepts_;
}

size_t StrictSink::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

std::vector<SinkRecord> StrictSink::records() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_;
}

std::vector<SinkRecord> StrictSink::recordsFor(int tag) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<SinkRecord> out;
  for (const SinkRecord& r : records_) {
    if (r.tag == tag) out.push_back(r);
  }
  return out;
}

void StrictSink::closeIdle() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int fd : idle_fds_) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace gatehouse::catalogue
