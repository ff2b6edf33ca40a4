#include "tests/fakes/fake_dns_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

namespace gatehouse::testing {

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kPlainUdpLimit = 512;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kClassIn = 1;

std::string canonical(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

void putName(std::vector<uint8_t>& out, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    size_t len = std::min<size_t>(dot - start, 63);
    out.push_back(static_cast<uint8_t>(len));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(start + len));
    start = dot + 1;
  }
  out.push_back(0);
}

// Parses an address literal or aborts: a bad literal is a bug in the test, not an input.
std::vector<uint8_t> addressBytes(const std::string& literal) {
  std::vector<uint8_t> bytes(16);
  if (inet_pton(AF_INET, literal.c_str(), bytes.data()) == 1) {
    bytes.resize(4);
    return bytes;
  }
  if (inet_pton(AF_INET6, literal.c_str(), bytes.data()) == 1) return bytes;
  std::fprintf(stderr, "FakeDnsServer: '%s' is not an IP address literal\n", literal.c_str());
  std::abort();
}

void validate(const FakeDnsAnswer& answer) {
  for (const auto& r : answer.records) addressBytes(r.address);
}

struct ParsedQuery {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string name;
  uint16_t type = 0;
  size_t question_end = 0;
  size_t udp_limit = kPlainUdpLimit;
  bool edns = false;
};

// Skips a name in a query (no compression is expected there). Returns the offset after it.
bool skipName(const uint8_t* d, size_t len, size_t* pos, std::string* text) {
  size_t total = 0;
  while (true) {
    if (*pos >= len) return false;
    uint8_t label = d[*pos];
    ++*pos;
    if (label == 0) return true;
    if ((label & 0xC0) != 0 || *pos + label > len) return false;
    total += label + 1U;
    if (total > 255) return false;
    if (text != nullptr) {
      if (!text->empty()) text->push_back('.');
      text->append(reinterpret_cast<const char*>(d + *pos), label);
    }
    *pos += label;
  }
}

bool parseQuery(const uint8_t* d, size_t len, ParsedQuery* q) {
  if (len < kHeaderSize) return false;
  q->id = get16(d);
  q->flags = get16(d + 2);
  if ((q->flags & 0x8000) != 0 || get16(d + 4) != 1) return false;
  size_t pos = kHeaderSize;
  std::string name;
  if (!skipName(d, len, &pos, &name) || pos + 4 > len) return false;
  q->name = canonical(name);
  q->type = get16(d + pos);
  pos += 4;
  q->question_end = pos;
  // EDNS: an OPT record in the additional section announces a larger UDP payload.
  uint16_t additional = get16(d + 10);
  for (uint16_t i = 0; i < additional; ++i) {
    if (!skipName(d, len, &pos, nullptr) || pos + 10 > len) break;
    uint16_t type = get16(d + pos);
    uint16_t klass = get16(d + pos + 2);
    uint16_t rdlen = get16(d + pos + 8);
    pos += 10 + rdlen;
    if (type == kTypeOpt) {
      q->edns = true;
      q->udp_limit = std::max<size_t>(kPlainUdpLimit, klass);
    }
  }
  return true;
}

struct Rr {
  std::string owner;  // empty: the query name (written as a pointer to the question)
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
};

std::vector<uint8_t> header(const ParsedQuery& q, DnsRcode rcode, bool tc, uint16_t ancount) {
  std::vector<uint8_t> out;
  put16(out, q.id);
  uint16_t flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 |
                   static_cast<uint16_t>(rcode);
  if (tc) flags |= 0x0200;
  put16(out, flags);
  put16(out, 1);
  put16(out, ancount);
  put16(out, 0);
  put16(out, q.edns ? 1 : 0);
  return out;
}

void appendOpt(std::vector<uint8_t>& out, const ParsedQuery& q) {
  if (!q.edns) return;
  out.push_back(0);
  put16(out, kTypeOpt);
  put16(out, 4096);
  put32(out, 0);
  put16(out, 0);
}

}  // namespace

FakeDnsAnswer FakeDnsAnswer::addresses(const std::vector<std::string>& literals, uint32_t ttl) {
  FakeDnsAnswer a;
  for (const auto& l : literals) a.records.push_back({l, ttl});
  return a;
}

FakeDnsAnswer FakeDnsAnswer::manyV4(int count, uint32_t ttl) {
  FakeDnsAnswer a;
  for (int i = 0; i < count; ++i) {
    a.records.push_back(
        {"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), ttl});
  }
  return a;
}

FakeDnsAnswer FakeDnsAnswer::error(DnsRcode rcode) {
  FakeDnsAnswer a;
  a.rcode = rcode;
  return a;
}

FakeDnsAnswer FakeDnsAnswer::alias(std::string target, uint32_t ttl) {
  FakeDnsAnswer a;
  a.cname = std::move(target);
  a.cname_ttl = ttl;
  return a;
}

FakeDnsAnswer FakeDnsAnswer::silence() {
  FakeDnsAnswer a;
  a.silent = true;
  return a;
}

FakeDnsAnswer FakeDnsAnswer::withDelay(std::chrono::milliseconds d) const {
  FakeDnsAnswer a = *this;
  a.delay = d;
  return a;
}

FakeDnsAnswer FakeDnsAnswer::withTruncation() const {
  FakeDnsAnswer a = *this;
  a.truncated = true;
  return a;
}

FakeDnsAnswer FakeDnsAnswer::withMalformed(Malformed kind) const {
  FakeDnsAnswer a = *this;
  a.malformed = kind;
  return a;
}

std::unique_ptr<FakeDnsServer> FakeDnsServer::start(std::string* error) {
  auto fail = [error](const char* what) -> std::unique_ptr<FakeDnsServer> {
    if (error != nullptr) *error = std::string(what) + ": " + std::strerror(errno);
    return nullptr;
  };
  std::unique_ptr<FakeDnsServer> server(new FakeDnsServer());
  if (pipe2(server->wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return fail("pipe2");
  // UDP on an ephemeral port, then TCP on the same port (retried if that port is taken for TCP).
  for (int attempt = 0; attempt < 50; ++attempt) {
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (udp < 0) return fail("socket(udp)");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t addr_len = sizeof(addr);
    if (bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
      close(udp);
      return fail("bind(udp)");
    }
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (tcp < 0) {
      close(udp);
      return fail("socket(tcp)");
    }
    int one = 1;
    setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && listen(tcp, 64) == 0) {
      server->udp_fd_ = udp;
      server->tcp_fd_ = tcp;
      server->port_ = ntohs(addr.sin_port);
      break;
    }
    close(tcp);
    close(udp);
  }
  if (server->udp_fd_ < 0) return fail("no port free for both UDP and TCP");
  server->thread_ = std::thread([s = server.get()] { s->run(); });
  return server;
}

FakeDnsServer::~FakeDnsServer() {
  if (thread_.joinable()) {
    char byte = 1;
    while (write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  for (auto& c : conns_) close(c.fd);
  for (int fd : {udp_fd_, tcp_fd_, wake_pipe_[0], wake_pipe_[1]}) {
    if (fd >= 0) close(fd);
  }
}

std::string FakeDnsServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

void FakeDnsServer::set(std::string_view name, FakeDnsAnswer answer) {
  setSequence(name, {std::move(answer)});
}

void FakeDnsServer::setSequence(std::string_view name, std::vector<FakeDnsAnswer> answers) {
  for (const auto& a : answers) validate(a);
  std::lock_guard<std::mutex> lock(mutex_);
  if (answers.empty()) {
    zone_.erase(canonical(name));
    return;
  }
  zone_[canonical(name)] = Entry{std::move(answers), {}};
}

void FakeDnsServer::setForType(std::string_view name, uint16_t type, FakeDnsAnswer answer) {
  validate(answer);
  std::lock_guard<std::mutex> lock(mutex_);
  typed_zone_[{canonical(name), type}] = std::move(answer);
}

void FakeDnsServer::remove(std::string_view name) {
  std::string key = canonical(name);
  std::lock_guard<std::mutex> lock(mutex_);
  zone_.erase(key);
  for (auto it = typed_zone_.begin(); it != typed_zone_.end();) {
    it = it->first.first == key ? typed_zone_.erase(it) : std::next(it);
  }
}

void FakeDnsServer::setDefault(FakeDnsAnswer answer) {
  validate(answer);
  std::lock_guard<std::mutex> lock(mutex_);
  default_answer_ = std::move(answer);
}

std::vector<FakeDnsServer::Query> FakeDnsServer::queries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_;
}

size_t FakeDnsServer::queryCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_.size();
}

size_t FakeDnsServer::queryCount(std::string_view name) const {
  std::string key = canonical(name);
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<size_t>(
      std::count_if(log_.begin(), log_.end(), [&](const Query& q) { return q.name == key; }));
}

size_t FakeDnsServer::queryCount(std::string_view name, uint16_t type) const {
  std::string key = canonical(name);
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<size_t>(std::count_if(
      log_.begin(), log_.end(), [&](const Query& q) { return q.name == key && q.type == type; }));
}

void FakeDnsServer::clearQueries() {
  std::lock_guard<std::mutex> lock(mutex_);
  log_.clear();
}

bool FakeDnsServer::waitForQueries(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return logged_.wait_for(lock, timeout, [&] { return log_.size() >= count; });
}

// Caller holds mutex_.
FakeDnsAnswer FakeDnsServer::answerFor(const std::string& name, uint16_t type, bool advance) {
  if (auto typed = typed_zone_.find({name, type}); typed != typed_zone_.end()) {
    return typed->second;
  }
  auto it = zone_.find(name);
  if (it == zone_.end()) return default_answer_;
  Entry& e = it->second;
  size_t& next = e.next[type];
  FakeDnsAnswer answer = e.answers[next % e.answers.size()];
  if (advance) ++next;
  return answer;
}

void FakeDnsServer::run() {
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({udp_fd_, POLLIN, 0});
    fds.push_back({tcp_fd_, POLLIN, 0});
    for (const auto& c : conns_) fds.push_back({c.fd, POLLIN, 0});
    int timeout_ms = -1;
    auto now = std::chrono::steady_clock::now();
    for (const auto& p : pending_) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(p.due - now).count();
      int w = static_cast<int>(std::max<int64_t>(0, wait));
      if (timeout_ms < 0 || w < timeout_ms) timeout_ms = w;
    }
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (n > 0) {
      if (fds[0].revents != 0) return;
      if (fds[1].revents != 0) handleUdp();
      if (fds[2].revents != 0) acceptTcp();
      std::set<int> closed;
      for (size_t i = 3; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = std::find_if(conns_.begin(), conns_.end(),
                               [&](const TcpConn& c) { return c.fd == fds[i].fd; });
        if (it == conns_.end()) continue;
        int id = it->id;  // readTcp may erase connections
        if (!readTcp(*it)) closed.insert(id);
      }
      for (int id : closed) {
        auto it = std::find_if(conns_.begin(), conns_.end(),
                               [&](const TcpConn& c) { return c.id == id; });
        if (it == conns_.end()) continue;
        close(it->fd);
        conns_.erase(it);
      }
    }
    now = std::chrono::steady_clock::now();
    std::vector<Pending> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->due <= now) {
        due.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& p : due) sendReply(p);
  }
}

void FakeDnsServer::handleUdp() {
  uint8_t buf[4096];
  while (true) {
    sockaddr_in peer{};
    socklen_t peer_len = sizeof(peer);
    ssize_t n =
        recvfrom(udp_fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (n <= 0) return;
    std::vector<uint8_t> peer_bytes(reinterpret_cast<uint8_t*>(&peer),
                                    reinterpret_cast<uint8_t*>(&peer) + sizeof(peer));
    handleQuery(buf, static_cast<size_t>(n), false, peer_bytes, 0);
  }
}

void FakeDnsServer::acceptTcp() {
  while (true) {
    int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    conns_.push_back(TcpConn{next_conn_id_++, fd, {}});
  }
}

bool FakeDnsServer::readTcp(TcpConn& conn) {
  uint8_t buf[4096];
  while (true) {
    ssize_t n = read(conn.fd, buf, sizeof(buf));
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return false;
    }
    conn.in.insert(conn.in.end(), buf, buf + n);
  }
  int id = conn.id;
  // Handling a query may close the connection (truncated answers): work on a copy of the input.
  std::vector<uint8_t> in = std::move(conn.in);
  conn.in.clear();
  size_t pos = 0;
  while (in.size() - pos >= 2) {
    size_t len = get16(in.data() + pos);
    if (in.size() - pos - 2 < len) break;
    handleQuery(in.data() + pos + 2, len, true, {}, id);
    pos += 2 + len;
    auto it =
        std::find_if(conns_.begin(), conns_.end(), [&](const TcpConn& c) { return c.id == id; });
    if (it == conns_.end() || it->fd < 0) return false;
  }
  auto it =
      std::find_if(conns_.begin(), conns_.end(), [&](const TcpConn& c) { return c.id == id; });
  if (it == conns_.end()) return false;
  it->in.assign(in.begin() + static_cast<std::ptrdiff_t>(pos), in.end());
  return true;
}

void FakeDnsServer::handleQuery(const uint8_t* data, size_t len, bool tcp,
                                const std::vector<uint8_t>& peer, int conn_id) {
  ParsedQuery q;
  if (!parseQuery(data, len, &q)) return;

  // Decide under the lock, build the bytes outside it. `links` is the queried name followed by
  // each CNAME target in turn; a loop ends the chain where a name would repeat.
  struct Link {
    std::string name;
    FakeDnsAnswer answer;
  };
  std::vector<Link> links;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    log_.push_back(Query{q.name, q.type, tcp});
    logged_.notify_all();
    links.push_back(Link{q.name, answerFor(q.name, q.type, true)});
    std::set<std::string> seen{q.name};
    while (!links.back().answer.cname.empty() && links.size() < 32) {
      std::string target = canonical(links.back().answer.cname);
      if (!seen.insert(target).second) break;
      FakeDnsAnswer next = answerFor(target, q.type, false);
      links.push_back(Link{std::move(target), std::move(next)});
    }
  }
  const FakeDnsAnswer& answer = links.front().answer;
  if (answer.silent) return;

  std::vector<uint8_t> reply;
  if (answer.truncated) {
    if (tcp) {
      auto it = std::find_if(conns_.begin(), conns_.end(),
                             [&](const TcpConn& c) { return c.id == conn_id; });
      if (it != conns_.end()) {
        close(it->fd);
        conns_.erase(it);
      }
      return;
    }
    reply = header(q, answer.rcode, true, 0);
    reply.insert(reply.end(), data + kHeaderSize, data + q.question_end);
    appendOpt(reply, q);
  } else if (answer.malformed != FakeDnsAnswer::Malformed::kNone) {
    reply = header(q, DnsRcode::kNoError, false, 2);
    reply.insert(reply.end(), data + kHeaderSize, data + q.question_end);
    switch (answer.malformed) {
      case FakeDnsAnswer::Malformed::kShortAnswer:
        // One complete A record, then half of a second one.
        put16(reply, 0xC00C);
        put16(reply, kDnsTypeA);
        put16(reply, kClassIn);
        put32(reply, 60);
        put16(reply, 4);
        reply.insert(reply.end(), {192, 0, 2, 1});
        put16(reply, 0xC00C);
        put16(reply, kDnsTypeA);
        put16(reply, kClassIn);
        break;
      case FakeDnsAnswer::Malformed::kPointerLoop: {
        reply[7] = 1;  // ancount = 1
        auto self = static_cast<uint16_t>(reply.size());
        put16(reply, static_cast<uint16_t>(0xC000 | self));
        put16(reply, kDnsTypeA);
        put16(reply, kClassIn);
        put32(reply, 60);
        put16(reply, 4);
        reply.insert(reply.end(), {192, 0, 2, 1});
        break;
      }
      case FakeDnsAnswer::Malformed::kOversizedName:
        reply[7] = 1;
        for (int i = 0; i < 5; ++i) {
          reply.push_back(63);
          reply.insert(reply.end(), 63, 'a');
        }
        reply.push_back(0);
        put16(reply, kDnsTypeA);
        put16(reply, kClassIn);
        put32(reply, 60);
        put16(reply, 4);
        reply.insert(reply.end(), {192, 0, 2, 1});
        break;
      case FakeDnsAnswer::Malformed::kNone:
        break;
    }
  } else {
    std::vector<Rr> rrs;
    if (answer.rcode == DnsRcode::kNoError) {
      for (size_t i = 0; i < links.size(); ++i) {
        const Link& link = links[i];
        std::string owner = i == 0 ? std::string() : link.name;
        if (!link.answer.cname.empty()) {
          Rr rr{owner, kDnsTypeCname, link.answer.cname_ttl, {}};
          putName(rr.rdata, canonical(link.answer.cname));
          rrs.push_back(std::move(rr));
          continue;
        }
        for (const auto& rec : link.answer.records) {
          std::vector<uint8_t> bytes = addressBytes(rec.address);
          uint16_t type = bytes.size() == 4 ? kDnsTypeA : kDnsTypeAaaa;
          if (type == q.type) rrs.push_back(Rr{owner, type, rec.ttl, std::move(bytes)});
        }
        break;
      }
    }
    reply = header(q, answer.rcode, false, static_cast<uint16_t>(rrs.size()));
    reply.insert(reply.end(), data + kHeaderSize, data + q.question_end);
    for (const auto& rr : rrs) {
      if (rr.owner.empty()) {
        put16(reply, 0xC00C);
      } else {
        putName(reply, rr.owner);
      }
      put16(reply, rr.type);
      put16(reply, kClassIn);
      put32(reply, rr.ttl);
      put16(reply, static_cast<uint16_t>(rr.rdata.size()));
      reply.insert(reply.end(), rr.rdata.begin(), rr.rdata.end());
    }
    appendOpt(reply, q);
    if (!tcp && reply.size() > q.udp_limit) {
      // Too big for UDP: what a real server does, TC and no records, so the client retries
      // over TCP.
      reply = header(q, answer.rcode, true, 0);
      reply.insert(reply.end(), data + kHeaderSize, data + q.question_end);
      appendOpt(reply, q);
    }
  }

  Pending p;
  p.due = std::chrono::steady_clock::now() + answer.delay;
  p.reply = std::move(reply);
  p.tcp = tcp;
  p.peer = peer;
  p.conn_id = conn_id;
  if (answer.delay.count() > 0) {
    pending_.push_back(std::move(p));
  } else {
    sendReply(p);
  }
}

void FakeDnsServer::sendReply(const Pending& reply) {
  if (!reply.tcp) {
    sendto(udp_fd_, reply.reply.data(), reply.reply.size(), 0,
           reinterpret_cast<const sockaddr*>(reply.peer.data()),
           static_cast<socklen_t>(reply.peer.size()));
    return;
  }
  auto it = std::find_if(conns_.begin(), conns_.end(),
                         [&](const TcpConn& c) { return c.id == reply.conn_id; });
  if (it == conns_.end()) return;
  std::vector<uint8_t> framed;
  put16(framed, static_cast<uint16_t>(reply.reply.size()));
  framed.insert(framed.end(), reply.reply.begin(), reply.reply.end());
  // Small replies on loopback: a short blocking-style loop is enough.
  size_t off = 0;
  for (int spins = 0; off < framed.size() && spins < 1000; ++spins) {
    ssize_t n = send(it->fd, framed.data() + off, framed.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return;
    }
  }
}

}  // namespace gatehouse::testing
