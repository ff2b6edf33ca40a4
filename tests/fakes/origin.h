// FakeOrigin: a small HTTP/1.1 origin server (or a silent canary) on a loopback address, for the
// integration tests that run the real proxy (BAD-INPUTS INV-NOCONN, G1-G3, E5, D2, H3).
//
// It listens on ip:port (port 0 = a kernel-chosen port) and serves every accepted connection on
// its own thread with plain blocking sockets, so a slow reader on the other side holds back the
// origin's writes by TCP flow control alone. Every accept is counted and every request head is
// recorded byte for byte before it is answered, so a test can assert what the proxy forwarded
// and that a denied request never reached an origin.
//
// Modes:
//   kHttp   answers HTTP/1.1 requests, keep-alive unless the request asks for close:
//             /small               200, "hello, world\n" (13 bytes)
//             /big?n=BYTES         200, BYTES of bigBodyByte(i), streamed in 64 KiB writes
//             /slow?n=B&chunk=C&ms=M  200, B bytes (same pattern) in C-byte writes every M ms
//             /chunked             200, chunked: kChunkedBody in three chunks
//             /close               200, no length: "until close\n", then the connection closes
//             /echo                200, body = the request head as received (request line to the
//                                  blank line included) followed by the request body;
//                                  X-Head-Length says where the head ends
//             /sink                200, body "<body bytes> <fnv1a64 hex>\n" (large uploads)
//             anything else        404
//           "Expect: 100-continue" is answered with "100 Continue" before the body is read.
//   kSink   accepts, reads and counts bytes, never writes (a canary, or a TLS "origin" that must
//           not see a single ClientHello byte).
//
// Threading: every method may be called from any thread. Destroying the origin closes every
// socket and joins every thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace gatehouse::testing {

inline constexpr std::string_view kSmallBody = "hello, world\n";
inline constexpr std::string_view kChunkedBody = "chunk-one\nchunk-two\nchunk-three\n";
inline constexpr std::string_view kUntilCloseBody = "until close\n";

// Byte i of the /big and /slow bodies.
inline char bigBodyByte(uint64_t i) { return static_cast<char>('a' + i % 26); }

// FNV-1a, 64 bit, as /sink reports it.
uint64_t fnv1a64(std::string_view data, uint64_t h = 0xcbf29ce484222325ULL);

struct OriginRequest {
  std::string head;  // exactly as received, request line to the blank line (CRLFCRLF) included
  std::string method;
  std::string target;
  std::string version;                                       // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed
  std::string body;  // de-chunked; at most kMaxRecordedBody bytes kept
  uint64_t body_bytes = 0;
  size_t connection = 0;  // 1-based accept number of the connection it came on

  // The first value of a header (case-insensitive name); "" when absent.
  std::string header(std::string_view name) const;
  bool has(std::string_view name) const;
  size_t count(std::string_view name) const;
};

class FakeOrigin final {
 public:
  enum class Mode { kHttp, kSink };
  static constexpr size_t kMaxRecordedBody = 1 << 20;

  // Binds ip:port and starts accepting. nullptr (and *error) when the address cannot be bound.
  static std::unique_ptr<FakeOrigin> start(const std::string& ip, uint16_t port = 0,
                                           Mode mode = Mode::kHttp, std::string* error = nullptr);
  ~FakeOrigin();
  FakeOrigin(const FakeOrigin&) = delete;
  FakeOrigin& operator=(const FakeOrigin&) = delete;

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }

  size_t accepts() const;
  uint64_t bytesReceived() const;
  std::vector<OriginRequest> requests() const;
  size_t requestCount() const;
  bool waitForAccepts(size_t count, std::chrono::milliseconds timeout) const;
  bool waitForRequests(size_t count, std::chrono::milliseconds timeout) const;
  bool waitForBytes(uint64_t count, std::chrono::milliseconds timeout) const;

 private:
  FakeOrigin() = default;
  void acceptLoop();
  void serveHttp(int fd, size_t connection);
  void serveSink(int fd);
  void addBytes(size_t n);
  void record(OriginRequest request);

  std::string ip_;
  uint16_t port_ = 0;
  Mode mode_ = Mode::kHttp;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  size_t accepts_ = 0;
  uint64_t bytes_ = 0;
  std::vector<OriginRequest> requests_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
};

}  // namespace gatehouse::testing
