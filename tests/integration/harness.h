// The integration-test harness: runs the real `gatehouse` binary and real clients (raw sockets,
// curl, openssl) on loopback, with a deadline on every wait (STYLE.md "Tests").
//
//   TempDir           a private directory under /tmp, removed with everything in it
//   Subprocess        fork/exec with captured stdout/stderr (and optionally a stdin pipe); the
//                     child dies with the test (PR_SET_PDEATHSIG) and never sees proxy variables
//   runCommand        a Subprocess run to completion within a timeout (curl, openssl req, ...)
//   GatehouseConfig   the TOML a test needs, built from fields
//   Gatehouse         `gatehouse serve --config FILE`: waits for the listening line (and for
//                     the signal handlers), collects the JSON decision lines (stdout) and
//                     stderr, reloads (SIGHUP), stops (SIGTERM, exit status), reads VmRSS and
//                     the fd count
//   RawClient         a TCP client that sends exact bytes and parses what comes back
//   HttpResponse      a parsed response (status, headers, body)
//   parseJsonObject   a strict parser for one decision line (one JSON object per line)
//   TlsCert/TlsServer a self-signed certificate (openssl req) and `openssl s_server` on loopback
//   ProxyTest         the fixture: an origin on 127.0.0.2, canaries on 127.0.0.1/.3/.4 (same
//                     port), a fake DNS server, a base config; TearDown asserts INV-ALIVE (a probe
//                     is answered, SIGTERM exits 0), INV-NOCONN for the canaries and that every
//                     decision line is one JSON object
//
// Threading: a Subprocess collects output on its own thread; every method may be called from the
// test thread while it runs. RawClient is used by one thread at a time.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/fakes/fake_dns_server.h"
#include "tests/fakes/origin.h"

namespace gatehouse::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Built with AddressSanitizer (GATEHOUSE_SANITIZE): memory figures are not meaningful there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
#else
inline constexpr bool kSanitizerBuild = false;
#endif

long elapsedMs(Clock::time_point since);

// ---- files -----------------------------------------------------------------------------------

class TempDir final {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, std::string_view content) const;

 private:
  std::string path_;
};

std::string readFile(const std::string& path);

// ---- processes ---------------------------------------------------------------------------------

class Subprocess final {
 public:
  enum class Stream { kStdout, kStderr };

  // Starts argv[0] (searched in PATH) with stdout and stderr captured. nullptr (and *error) when
  // the program cannot be started.
  static std::unique_ptr<Subprocess> spawn(const std::vector<std::string>& argv,
                                           bool pipe_stdin = false, std::string* error = nullptr);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool writeStdin(std::string_view data);
  void closeStdin();
  void signal(int signum) const;

  std::string output(Stream which) const;
  std::string stdoutText() const { return output(Stream::kStdout); }
  std::string stderrText() const { return output(Stream::kStderr); }
  // Waits until the stream holds `needle` at or after byte `from`; returns its position.
  std::optional<size_t> waitForOutput(Stream which, std::string_view needle, milliseconds timeout,
                                      size_t from = 0) const;
  // Waits until the stream has at least `lines` complete lines.
  bool waitForLines(Stream which, size_t lines, milliseconds timeout) const;
  // Waits until both output streams reached end of file (the child and its children exited).
  bool waitForOutputEnd(milliseconds timeout) const;

  // Not yet exited (reaps it when it has).
  bool running();
  // Waits for the exit: the exit code, 128 + signal for a killed child, nullopt on timeout.
  // After an exit the output collected so far is complete.
  std::optional<int> wait(milliseconds timeout);
  void kill();

 private:
  Subprocess() = default;
  void collect();

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> status_;
  std::thread collector_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::string out_;
  std::string err_;
  bool out_done_ = false;
  bool err_done_ = false;
};

struct CommandResult {
  bool started = false;
  bool finished = false;  // false: killed at the timeout
  int exit_code = -1;
  std::string out;
  std::string err;
  long elapsed_ms = 0;
};

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         std::string_view stdin_data = {});

// ---- gatehouse ---------------------------------------------------------------------------------

struct GatehouseConfig {
  int workers = 2;
  // Extra [listener] keys with their TOML values, e.g. {"header_timeout_ms", "300"}.
  std::map<std::string, std::string> listener;
  std::string level = "custom";
  std::vector<std::string> domains;
  std::vector<std::string> deny;
  std::vector<int> ports = {80, 443};
  std::vector<std::string> address_allow;
  std::vector<std::string> dns_servers;
  int dns_timeout_ms = 0;  // 0: the default
  std::vector<std::pair<std::string, std::vector<std::string>>> static_hosts;
  // [log] denied_sample_per_second: tests count every line, so no sampling unless asked for.
  int denied_sample_per_second = 0;
  std::string admin_address;     // [admin] address; "" = no control API
  std::string admin_token_file;  // [admin] token_file
  // Raw TOML appended at the end: [environments.X], [[sessions]], ... (no table above).
  std::string extra;

  std::string toToml() const;
};

class Gatehouse final {
 public:
  // Writes the config into its own TempDir and starts `GATEHOUSE_BINARY serve --config FILE`;
  // returns once the listening line is on stderr. nullptr and *error otherwise.
  static std::unique_ptr<Gatehouse> start(const std::string& config_text, std::string* error,
                                          milliseconds timeout = milliseconds(10000));
  ~Gatehouse();

  uint16_t port() const { return port_; }
  // The control API's port (0 when the listening line names none).
  uint16_t adminPort() const { return admin_port_; }
  pid_t pid() const { return process_->pid(); }
  const std::string& configPath() const { return config_path_; }
  Subprocess& process() { return *process_; }

  enum class ReloadResult { kReloaded, kFailed, kTimeout };
  // Rewrites the config file, sends SIGHUP and waits for the proxy's verdict on stderr.
  ReloadResult reload(const std::string& config_text, milliseconds timeout = milliseconds(5000));

  bool alive() { return process_->running(); }
  // SIGTERM, then waits for the exit; the exit status (see Subprocess::wait).
  std::optional<int> stop(milliseconds timeout = milliseconds(10000));

  std::vector<std::string> decisionLines() const;
  std::string stderrText() const { return process_->stderrText(); }
  bool waitForDecisions(size_t count, milliseconds timeout) const;
  // VmRSS of the process in KiB; -1 if unreadable.
  long rssKiB() const;
  // Open file descriptors of the process; -1 if /proc/PID/fd is unreadable.
  int fdCount() const;
  // Whether SIGHUP and SIGTERM have handlers (SigCgt in /proc/PID/status).
  bool catchesSignals() const;

 private:
  Gatehouse() = default;

  std::unique_ptr<TempDir> dir_;
  std::string config_path_;
  std::unique_ptr<Subprocess> process_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

// ---- JSON ------------------------------------------------------------------------------------

// One decision line: a JSON object whose values are kept as text (strings unescaped, numbers and
// literals as written, nested values as their raw JSON). nullopt unless `text` is exactly one
// valid JSON object (surrounding whitespace allowed).
std::optional<std::map<std::string, std::string>> parseJsonObject(std::string_view text);

// ---- HTTP clients ------------------------------------------------------------------------------

struct HttpResponse {
  std::string version;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string head;  // raw, up to and including the blank line
  std::string body;  // de-chunked

  std::string header(std::string_view name) const;  // first value; "" when absent
  bool has(std::string_view name) const;
  size_t count(std::string_view name) const;
};

enum class ParseOutcome { kComplete, kNeedMore, kInvalid };
// Parses one response from the start of `data`. `eof`: no more bytes will come (a body
// delimited by the close ends here). `no_body`: the response has no body whatever its headers
// say (it answers HEAD, or it is a CONNECT's 2xx).
ParseOutcome parseResponse(std::string_view data, bool eof, bool no_body, HttpResponse* out,
                           size_t* consumed);

class RawClient final {
 public:
  // Connects to ip:port; nullptr (and *error) when the connection fails within the timeout.
  static std::unique_ptr<RawClient> connect(const std::string& ip, uint16_t port,
                                            std::string* error = nullptr,
                                            milliseconds timeout = milliseconds(3000));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int fd() const { return fd_; }
  bool send(std::string_view bytes);
  void shutdownWrite();
  // Sets SO_RCVBUF before the connection carries data (a small window for slow-reader tests).
  void setReceiveBuffer(int bytes);

  // Reads one response (`no_body`: see parseResponse). nullopt when none arrived complete in
  // time (see closed()).
  std::optional<HttpResponse> readResponse(milliseconds timeout, bool no_body = false);
  // Reads everything until the peer closes or the timeout passes; includes bytes buffered by
  // an earlier readResponse().
  std::string readUntilClose(milliseconds timeout);
  // Waits for at least one more byte (buffered for later reads); false on timeout or close.
  bool waitForData(milliseconds timeout);
  // Reads into `buf` at most `len` bytes; 0 on close or timeout (see closed()).
  size_t readSome(char* buf, size_t len, milliseconds timeout);
  // True once the peer closed (FIN or RST) the connection.
  bool closed() const { return closed_; }
  // Waits until the peer closes, discarding data; true if it closed in time.
  bool waitForClose(milliseconds timeout);
  // Bytes read but not yet returned by readResponse().
  const std::string& buffered() const { return buf_; }

 private:
  RawClient() = default;
  // One recv() into buf_ within the deadline; false on timeout or close.
  bool fill(Clock::time_point deadline);

  int fd_ = -1;
  bool closed_ = false;
  std::string buf_;
};

// One request on a new connection to the proxy: `request` is sent as is, one response is read.
std::optional<HttpResponse> proxyExchange(uint16_t proxy_port, std::string_view request,
                                          milliseconds timeout = milliseconds(5000));

// A minimal absolute-form GET for `authority` (host:port) and `path`.
std::string getRequest(std::string_view authority, std::string_view path = "/small",
                       std::string_view extra_headers = "");

// "CONNECT authority HTTP/1.1" with a matching Host header.
std::string connectRequest(std::string_view authority, std::string_view extra_headers = "");

// A free TCP port on `ip` right now (bound and released: racy, callers retry on collision).
uint16_t pickFreePort(const std::string& ip);

// ---- TLS -------------------------------------------------------------------------------------

struct TlsCert {
  std::string cert;  // PEM file paths
  std::string key;
};

// A self-signed P-256 certificate for `name` (CN and subjectAltName) in `dir`.
bool makeSelfSignedCert(const TempDir& dir, const std::string& name, TlsCert* out,
                        std::string* error);

class TlsServer final {
 public:
  // `openssl s_server` on ip with a port found by binding port 0 and releasing it (s_server
  // needs a number), retried on collision. `www`: answer each connection with a status page
  // (-www); otherwise print what arrives on stdout and send what is written to stdin.
  static std::unique_ptr<TlsServer> start(const std::string& ip, const TlsCert& cert, bool www,
                                          std::string* error);
  uint16_t port() const { return port_; }
  Subprocess& process() { return *process_; }

 private:
  TlsServer() = default;
  uint16_t port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// ---- the fixture -------------------------------------------------------------------------------

inline constexpr const char* kOriginIp = "127.0.0.2";  // "the internet", exempted
inline constexpr const char* kProxyIp = "127.0.0.1";

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The config every test starts from: level custom, origin.test / *.api.test / ... allowed,
  // bad.api.test denied, ports 80, 443 and the origin's port, 127.0.0.2/32 exempted, the fake
  // DNS server as the only resolver, static answers for the test names.
  GatehouseConfig baseConfig() const;
  // Starts the proxy with config_; use ASSERT_NO_FATAL_FAILURE(startProxy()).
  void startProxy();
  // SIGTERM now: the test ends the process itself (TearDown only checks the exit status).
  std::optional<int> stopProxy();

  // "name:origin-port".
  std::string at(std::string_view host) const;
  // One request on a new connection to the proxy.
  std::optional<HttpResponse> exchange(std::string_view request,
                                       milliseconds timeout = milliseconds(5000)) const;
  std::unique_ptr<RawClient> connectToProxy() const;
  // Asserts a refusal: status, X-Gatehouse-Reason, a Proxy-Status naming `proxy_error`, the
  // environment tag, a text/plain body and Connection: close.
  void expectRefusal(const std::optional<HttpResponse>& r, int status, std::string_view reason,
                     std::string_view proxy_error = "") const;
  // A curl command line that goes through the proxy.
  std::vector<std::string> curl(std::vector<std::string> args) const;
  // Decision lines parsed; a line that is not one JSON object fails the test.
  std::vector<std::map<std::string, std::string>> decisions() const;

  std::unique_ptr<FakeOrigin> origin_;           // kOriginIp:port
  std::unique_ptr<FakeOrigin> canary_loopback_;  // 127.0.0.1:port (the proxy's address)
  std::unique_ptr<FakeOrigin> canary_private_;   // 127.0.0.3:port (private / rebinding)
  std::unique_ptr<FakeOrigin> canary_other_;     // 127.0.0.4:port
  std::unique_ptr<FakeDnsServer> dns_;
  GatehouseConfig config_;
  std::unique_ptr<Gatehouse> proxy_;
  bool stopped_ = false;
  // Tests that contact a canary on purpose clear this.
  bool expect_canaries_untouched_ = true;
  // Extra header lines of the INV-ALIVE probe (e.g. a session's Proxy-Authorization).
  std::string probe_headers_;
};

}  // namespace gatehouse::testing
