// The catalogue's upstream side (BAD-INPUTS "Test rig"): a strict HTTP/1.1 request parser and the
// servers built on it.
//
//   parseStrictRequest  RFC 9112 without any leniency: CRLF only, no obs-fold, no whitespace
//                       before a colon, token names, one Host, one Content-Length of plain
//                       digits, Transfer-Encoding exactly "chunked" and never with a length,
//                       strict chunk sizes. Used on both sides: as the sink's parser (origin-form)
//                       and as the reference for what a client's bytes mean (absolute-form).
//   StrictSink kHttp    the "internet" on 127.0.0.2: parses what the proxy forwards with
//                       parseStrictRequest, records every request exactly as received together
//                       with what is wrong with it for a request the proxy meant to send
//                       (violations: hop-by-hop headers, a second framing header, absolute-form,
//                       trailers, ...) and answers it. Requests are attributed to catalogue cases
//                       by their path "/cat/<tag>[/suffix]".
//   StrictSink kEcho    a tunnel endpoint: records the bytes of every connection and echoes them
//                       (a case's TLS ClientHello carries "CATTAG<tag>;" in its random field).
//   StrictSink kCanary  accepts, records and never answers (INV-NOCONN on 127.0.0.1/.3/.4).
//
// Sink paths under /cat/<tag>: "" and any unknown suffix answer 200 "ok\n"; "/silent" never
// answers; "/close" answers and closes; "/big/<n>" streams n bytes; "/r/<kind>" sends a broken
// response (see strict_sink.cc). "Expect: 100-continue" gets "100 Continue" before the body.
//
// Threading: every method may be called from any thread. Connections are served on detached
// threads; the destructor closes every socket and waits for them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace gatehouse::catalogue {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct StrictRequest {
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.1"
  Fields headers;       // in order, values without surrounding OWS
  Fields trailers;
  std::string body;  // de-chunked
  bool chunked = false;
  size_t head_bytes = 0;
  std::string head;  // raw, request line to the blank line

  std::string header(std::string_view name) const;  // first value; "" when absent
  size_t count(std::string_view name) const;
  // The origin-form path of the target ("http://h/p?q" -> "/p?q").
  std::string path() const;
};

enum class StrictStatus { kOk, kNeedMore, kInvalid };

struct StrictOptions {
  // Client side of a proxy: absolute-form (and CONNECT authority-form) targets, Host must match
  // the target. Otherwise origin-form only.
  bool proxy_form = false;
};

StrictStatus parseStrictRequest(std::string_view data, const StrictOptions& options,
                                StrictRequest* out, size_t* consumed, std::string* why);

// What is wrong with a request a proxy forwarded (empty: canonical).
std::vector<std::string> forwardViolations(const StrictRequest& r);

bool equalsNoCase(std::string_view a, std::string_view b);
// Printable form of raw bytes (\r, \n, \xNN), truncated to `max` input bytes.
std::string escapeBytes(std::string_view s, size_t max = 400);

struct SinkRecord {
  int tag = -1;        // N of /cat/N (or CATTAG<N>;); -1 when none
  std::string suffix;  // after /cat/N: "", "/after", "/early", ...
  size_t connection = 0;
  StrictRequest request;
  std::vector<std::string> violations;
  std::string raw;  // kEcho/kCanary: the bytes of the connection; kHttp: bytes of a bad request
};

class StrictSink final {
 public:
  enum class Mode { kHttp, kEcho, kCanary };

  static std::unique_ptr<StrictSink> start(const std::string& ip, uint16_t port, Mode mode,
                                           std::string* error);
  ~StrictSink();
  StrictSink(const StrictSink&) = delete;
  StrictSink& operator=(const StrictSink&) = delete;

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  size_t accepts() const;
  // kHttp: one record per request (or per unparsable input). kEcho/kCanary: one per connection,
  // updated as bytes arrive.
  std::vector<SinkRecord> records() const;
  std::vector<SinkRecord> recordsFor(int tag) const;
  uint64_t bytesSent() const { return bytes_sent_.load(); }
  // Closes every connection that waits for its next request (kHttp) or is idle (others).
  void closeIdle();
  // Number of connections being served now.
  size_t active() const;

 private:
  StrictSink() = default;
  void acceptLoop();
  void serve(int fd, size_t connection);
  void serveHttp(int fd, size_t connection);
  void serveRaw(int fd, size_t connection);
  void setIdle(int fd, bool idle);
  size_t addRecord(SinkRecord r);
  void updateRecord(size_t index, std::string_view more);

  std::string ip_;
  uint16_t port_ = 0;
  Mode mode_ = Mode::kHttp;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::atomic<uint64_t> bytes_sent_{0};

  mutable std::mutex mutex_;
  std::condition_variable done_;
  size_t accepts_ = 0;
  size_t active_ = 0;
  std::vector<SinkRecord> records_;
  std::set<int> open_fds_;
  std::set<int> idle_fds_;
};

// The tag in raw bytes: "/cat/<N>" or "CATTAG<N>;"; -1 when absent.
int findTag(std::string_view bytes, std::string* suffix = nullptr);

}  // namespace gatehouse::catalogue
