// gatehouse-load: load for what wrk cannot do well — CONNECT tunnels with TLS inside, bulk
// transfers through tunnels, and many idle tunnels held open. Loopback only, bounded by count
// and time.
//
//   gatehouse-load tls  --proxy 127.0.0.1:3128 --target tls.test:8443 --connect 127.0.0.2:8443
//                       [--path /small] [--threads 2] [--seconds 5] [--cafile ca.pem]
//       CONNECT + TLS handshake + one GET per tunnel: tunnels/s and latency percentiles.
//       Without --proxy: the same directly to --connect (the baseline).
//   gatehouse-load bulk ... --path /big  (same options): MB/s of bodies through tunnels.
//   gatehouse-load hold --proxy ... --target name:port --count 10000 --seconds 10
//       opens `count` tunnels (CONNECT + a TLS ClientHello with the right SNI), holds them for
//       `seconds`, prints how many were established, then closes them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  int port = 0;
};

Endpoint parseEndpoint(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return {s, 0};
  return {s.substr(0, colon), std::atoi(s.c_str() + colon + 1)};
}

int dial(const Endpoint& e) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(e.port));
  if (inet_pton(AF_INET, e.host.c_str(), &sa.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool writeAll(int fd, const std::string& s) {
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
  return head.rfind("HTTP/1.1 200", 0) == 0;
}

struct Options {
  std::string mode;
  std::string proxy;
  std::string target;   // name:port for CONNECT and SNI
  std::string connect;  // ip:port dialed directly when there is no proxy
  std::string path = "/small";
  std::string cafile;
  int threads = 2;
  double seconds = 5;
  int count = 1000;
};

struct Stats {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t body_bytes = 0;
};

// One CONNECT (or direct connection) + TLS + GET; returns body bytes or -1.
long oneTlsRequest(SSL_CTX* ctx, const Options& o) {
  const Endpoint target = parseEndpoint(o.target);
  int fd = o.proxy.empty() ? dial(parseEndpoint(o.connect)) : dial(parseEndpoint(o.proxy));
  if (fd < 0) return -1;
  if (!o.proxy.empty() && !connectThrough(fd, o.target)) {
    ::close(fd);
    return -1;
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, target.host.c_str());
  SSL_set1_host(ssl, target.host.c_str());
  long body = -1;
  if (SSL_connect(ssl) == 1) {
    std::string req =
        "GET " + o.path + " HTTP/1.1\r\nHost: " + o.target + "\r\nConnection: close\r\n\r\n";
    if (SSL_write(ssl, req.data(), static_cast<int>(req.size())) > 0) {
      char buf[65536];
      long total = 0;
      int n;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) total += n;
      body = total;
    }
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  ::close(fd);
  return body;
}

int runTls(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!o.cafile.empty()) {
    SSL_CTX_load_verify_locations(ctx, o.cafile.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  Stats stats;
  const auto end = Clock::now() + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&] {
      std::vector<double> local;
      uint64_t ok = 0, errors = 0, bytes = 0;
      while (Clock::now() < end) {
        auto start = Clock::now();
        long body = oneTlsRequest(ctx, o);
        if (body < 0) {
          ++errors;
          continue;
        }
        ++ok;
        bytes += static_cast<uint64_t>(body);
        local.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      std::lock_guard<std::mutex> lock(stats.mutex);
      stats.latencies_ms.insert(stats.latencies_ms.end(), local.begin(), local.end());
      stats.ok += ok;
      stats.errors += errors;
      stats.body_bytes += bytes;
    });
  }
  for (auto& t : threads) t.join();
  SSL_CTX_free(ctx);
  std::sort(stats.latencies_ms.begin(), stats.latencies_ms.end());
  auto pct = [&](double p) {
    if (stats.latencies_ms.empty()) return 0.0;
    return stats.latencies_ms[std::min(stats.latencies_ms.size() - 1,
                                       static_cast<size_t>(p * stats.latencies_ms.size()))];
  };
  std::printf("mode=%s via=%s ok=%llu errors=%llu rate=%.1f/s p50=%.3fms p99=%.3fms MB/s=%.1f\n",
              o.mode.c_str(), o.proxy.empty() ? "direct" : "proxy",
              static_cast<unsigned long long>(stats.ok),
              static_cast<unsigned long long>(stats.errors), stats.ok / o.seconds, pct(0.5),
              pct(0.99), stats.body_bytes / o.seconds / 1e6);
  return stats.errors == 0 ? 0 : 1;
}

// A minimal TLS 1.2/1.3-style ClientHello carrying `sni` (enough for the proxy's SNI check).
std::string clientHello(const std::string& sni) {
  std::string ext;
  auto u16 = [](std::string& s, size_t v) {
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xff);
  };
  std::string name;
  name += '\0';
  u16(name, sni.size());
  name += sni;
  std::string list;
  u16(list, name.size());
  list += name;
  u16(ext, 0);  // server_name
  u16(ext, list.size());
  ext += list;
  std::string body;
  u16(body, 0x0303);
  body += std::string(32, '\x11');  // random
  body += '\0';                     // session id
  u16(body, 2);
  u16(body, 0x1301);  // TLS_AES_128_GCM_SHA256
  body += '\x01';
  body += '\0';  // compression: null
  u16(body, ext.size());
  body += ext;
  std::string hs;
  hs += '\x01';
  hs += '\0';
  u16(hs, body.size());
  hs += body;
  std::string rec = "\x16\x03\x01";
  u16(rec, hs.size());
  return rec + hs;
}

int runHold(const Options& o) {
  const std::string hello = clientHello(parseEndpoint(o.target).host);
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(o.count));
  int failed = 0;
  const auto start = Clock::now();
  for (int i = 0; i < o.count; ++i) {
    int fd = dial(parseEndpoint(o.proxy));
    if (fd < 0 || !connectThrough(fd, o.target) || !writeAll(fd, hello)) {
      if (fd >= 0) ::close(fd);
      ++failed;
      continue;
    }
    fds.push_back(fd);
  }
  std::printf("mode=hold established=%zu failed=%d open_time=%.2fs\n", fds.size(), failed,
              std::chrono::duration<double>(Clock::now() - start).count());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  for (int fd : fds) ::close(fd);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: gatehouse-load tls|bulk|hold [--proxy ip:port] --target name:port "
                 "[--connect ip:port] [--path P] [--threads N] [--seconds S] [--count N] "
                 "[--cafile F]\n");
    return 2;
  }
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--proxy")
      o.proxy = v;
    else if (k == "--target")
      o.target = v;
    else if (k == "--connect")
      o.connect = v;
    else if (k == "--path")
      o.path = v;
    else if (k == "--threads")
      o.threads = std::atoi(v.c_str());
    else if (k == "--seconds")
      o.seconds = std::atof(v.c_str());
    else if (k == "--count")
      o.count = std::atoi(v.c_str());
    else if (k == "--cafile")
      o.cafile = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.seconds <= 0 || o.seconds > 600 || o.count <= 0 || o.count > 100000) {
    std::fprintf(stderr, "bounds: 0 < seconds <= 600, 0 < count <= 100000\n");
    return 2;
  }
  if (o.mode == "tls" || o.mode == "bulk") return runTls(o);
  if (o.mode == "hold") return runHold(o);
  std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str());
  return 2;
}
