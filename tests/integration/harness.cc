#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gatehouse::testing {

long elapsedMs(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

namespace {

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

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

// Variables that would make a client bypass or redirect the proxy it is told to use.
constexpr const char* kProxyVariables[] = {"http_proxy", "https_proxy", "all_proxy", "no_proxy",
                                           "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"};

bool isProxyVariable(const char* entry) {
  for (const char* name : kProxyVariables) {
    const size_t n = std::strlen(name);
    if (std::strncmp(entry, name, n) == 0 && entry[n] == '=') return true;
  }
  return false;
}

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

// ---- files -----------------------------------------------------------------------------------

TempDir::TempDir() {
  char tmpl[] = "/tmp/gatehouse-it-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, std::string_view content) const {
  std::string full = path_ + "/" + name;
  const std::string tmp = full + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  // Atomic replacement: a reader never sees half a file.
  std::filesystem::rename(tmp, full);
  return full;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- processes ---------------------------------------------------------------------------------

std::unique_ptr<Subprocess> Subprocess::spawn(const std::vector<std::string>& argv, bool pipe_stdin,
                                              std::string* error) {
  auto fail = [error](const std::string& what) -> std::unique_ptr<Subprocess> {
    if (error != nullptr) *error = what;
    return nullptr;
  };
  if (argv.empty()) return fail("empty argv");
  int in_pipe[2] = {-1, -1};
  int out_pipe[2];
  int err_pipe[2];
  int exec_pipe[2];
  if ((pipe_stdin && ::pipe2(in_pipe, O_CLOEXEC) != 0) || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    return fail(std::string("pipe: ") + std::strerror(errno));
  }
  // Everything the child needs is built before fork(): after it only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!isProxyVariable(*e)) env.push_back(*e);
  }
  env.push_back(nullptr);
  const int null_fd = pipe_stdin ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(pipe_stdin ? in_pipe[0] : null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGCHLD}) ::signal(s, SIG_DFL);
    // Only 0-2 and the exec-error pipe (close-on-exec) survive into the child.
    for (int fd = 3; fd < 4096; ++fd) {
      if (fd != exec_pipe[1]) ::close(fd);
    }
    ::execvpe(args[0], args.data(), env.data());
    const int e = errno;
    [[maybe_unused]] ssize_t n = ::write(exec_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  if (null_fd >= 0) ::close(null_fd);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(exec_pipe[1]);
  if (pipe_stdin) ::close(in_pipe[0]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(exec_pipe[0]);

  std::unique_ptr<Subprocess> p(new Subprocess());
  p->pid_ = pid;
  p->stdin_fd_ = pipe_stdin ? in_pipe[1] : -1;
  p->out_fd_ = out_pipe[0];
  p->err_fd_ = err_pipe[0];
  p->collector_ = std::thread([q = p.get()] { q->collect(); });
  if (n > 0) {
    p->wait(milliseconds(5000));
    return fail("cannot run " + argv[0] + ": " + std::strerror(child_errno));
  }
  return p;
}

Subprocess::~Subprocess() {
  if (running()) {
    kill();
    wait(milliseconds(5000));
  }
  closeFd(stdin_fd_);
  if (collector_.joinable()) collector_.join();
  closeFd(out_fd_);
  closeFd(err_fd_);
}

void Subprocess::collect() {
  char buf[64 * 1024];
  for (;;) {
    pollfd fds[2];
    int count = 0;
    bool out_open;
    bool err_open;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      out_open = !out_done_;
      err_open = !err_done_;
    }
    if (out_open) fds[count++] = {out_fd_, POLLIN, 0};
    if (err_open) fds[count++] = {err_fd_, POLLIN, 0};
    if (count == 0) return;
    if (::poll(fds, static_cast<nfds_t>(count), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      const bool is_out = fds[i].fd == out_fd_;
      if (r <= 0) {
        (is_out ? out_done_ : err_done_) = true;
      } else {
        (is_out ? out_ : err_).append(buf, static_cast<size_t>(r));
      }
      changed_.notify_all();
    }
  }
}

bool Subprocess::writeStdin(std::string_view data) {
  while (!data.empty() && stdin_fd_ >= 0) {
    const ssize_t n = ::write(stdin_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return data.empty();
}

void Subprocess::closeStdin() { closeFd(stdin_fd_); }

void Subprocess::signal(int signum) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signum);
}

std::string Subprocess::output(Stream which) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return which == Stream::kStdout ? out_ : err_;
}

std::optional<size_t> Subprocess::waitForOutput(Stream which, std::string_view needle,
                                                milliseconds timeout, size_t from) const {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<size_t> found;
  changed_.wait_for(lock, timeout, [&] {
    const std::string& s = which == Stream::kStdout ? out_ : err_;
    const size_t at = from > s.size() ? std::string::npos : s.find(needle, from);
    if (at != std::string::npos) found = at;
    return found.has_value() || (which == Stream::kStdout ? out_done_ : err_done_);
  });
  return found;
}

bool Subprocess::waitForLines(Stream which, size_t lines, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    const std::string& s = which == Stream::kStdout ? out_ : err_;
    size_t n = 0;
    for (char c : s) n += c == '\n' ? 1 : 0;
    return n >= lines;
  });
}

bool Subprocess::waitForOutputEnd(milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return out_done_ && err_done_; });
}

bool Subprocess::running() {
  if (status_ || pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

std::optional<int> Subprocess::wait(milliseconds timeout) {
  if (!status_) {
    const auto deadline = Clock::now() + timeout;
    // A pidfd becomes readable when the child exits; without one (old kernels) poll in 5 ms
    // steps.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    while (running()) {
      const int left = remainingMs(deadline);
      if (left == 0) break;
      if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        ::poll(&p, 1, left);
      } else {
        std::this_thread::sleep_for(milliseconds(std::min(left, 5)));
      }
    }
    if (pidfd >= 0) ::close(pidfd);
  }
  // What the child wrote last may still be in the pipes: collect it before the caller looks.
  if (status_) waitForOutputEnd(milliseconds(2000));
  return status_;
}

void Subprocess::kill() { signal(SIGKILL); }

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         std::string_view stdin_data) {
  CommandResult result;
  const auto started = Clock::now();
  std::string error;
  auto p = Subprocess::spawn(argv, true, &error);
  if (p == nullptr) {
    result.err = error;
    return result;
  }
  result.started = true;
  p->writeStdin(stdin_data);
  p->closeStdin();
  auto status = p->wait(timeout);
  if (!status) {
    p->kill();
    status = p->wait(milliseconds(5000));
  } else {
    result.finished = true;
  }
  p->waitForOutputEnd(milliseconds(2000));
  result.exit_code = status.value_or(-1);
  result.out = p->stdoutText();
  result.err = p->stderrText();
  result.elapsed_ms = elapsedMs(started);
  return result;
}

// ---- gatehouse ---------------------------------------------------------------------------------

namespace {

std::string tomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string tomlList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + tomlString(items[i]);
  return out + "]";
}

}  // namespace

std::string GatehouseConfig::toToml() const {
  std::string t;
  t += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = " + std::to_string(workers) + "\n";
  for (const auto& [key, value] : listener) {
    t.append(key).append(" = ").append(value).append("\n");
  }
  t += "\n[log]\ndecisions = \"stdout\"\ndenied_sample_per_second = " +
       std::to_string(denied_sample_per_second) + "\n";
  t += "\n[admin]\naddress = " + tomlString(admin_address) + "\n";
  if (!admin_token_file.empty()) t += "token_file = " + tomlString(admin_token_file) + "\n";
  t += "\n[environment]\nlevel = " + tomlString(level) + "\n";
  t += "domains = " + tomlList(domains) + "\n";
  t += "deny = " + tomlList(deny) + "\n";
  t += "ports = [";
  for (size_t i = 0; i < ports.size(); ++i) t += (i ? ", " : "") + std::to_string(ports[i]);
  t += "]\n";
  t += "\n[addresses]\nallow = " + tomlList(address_allow) + "\n";
  t += "\n[resolver]\nservers = " + tomlList(dns_servers) + "\n";
  if (dns_timeout_ms > 0) t += "timeout_ms = " + std::to_string(dns_timeout_ms) + "\n";
  t += "static = {";
  for (size_t i = 0; i < static_hosts.size(); ++i) {
    t += (i ? ", " : " ") + tomlString(static_hosts[i].first) + " = " +
         tomlList(static_hosts[i].second);
  }
  t += " }\n";
  if (!extra.empty()) t += "\n" + extra + "\n";
  return t;
}

std::unique_ptr<Gatehouse> Gatehouse::start(const std::string& config_text, std::string* error,
                                            milliseconds timeout) {
  std::unique_ptr<Gatehouse> g(new Gatehouse());
  g->dir_ = std::make_unique<TempDir>();
  if (g->dir_->path().empty()) {
    *error = "cannot create a temporary directory";
    return nullptr;
  }
  g->config_path_ = g->dir_->write("gatehouse.toml", config_text);
  g->process_ =
      Subprocess::spawn({GATEHOUSE_BINARY, "serve", "--config", g->config_path_}, false, error);
  if (g->process_ == nullptr) return nullptr;
  static constexpr std::string_view kListening = "gatehouse: listening on 127.0.0.1:";
  auto at = g->process_->waitForOutput(Subprocess::Stream::kStderr, kListening, timeout);
  if (at) at = g->process_->waitForOutput(Subprocess::Stream::kStderr, "\n", timeout, *at);
  if (!at) {
    *error = "no listening line; stderr:\n" + g->process_->stderrText();
    return nullptr;
  }
  // The listening line is printed before the SIGHUP/SIGTERM handlers are installed: a signal
  // sent right after it would kill the process. Wait until the kernel shows both caught.
  const auto deadline = Clock::now() + timeout;
  while (!g->catchesSignals()) {
    if (Clock::now() >= deadline || !g->process_->running()) {
      *error =
          "the proxy never installed its signal handlers; stderr:\n" + g->process_->stderrText();
      return nullptr;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  const std::string err = g->process_->stderrText();
  const size_t p = err.find(kListening) + kListening.size();
  g->port_ = static_cast<uint16_t>(std::strtoul(err.c_str() + p, nullptr, 10));
  if (g->port_ == 0) {
    *error = "cannot read the port; stderr:\n" + err;
    return nullptr;
  }
  static constexpr std::string_view kAdmin = "; control API on 127.0.0.1:";
  if (size_t a = err.find(kAdmin, p); a != std::string::npos) {
    g->admin_port_ =
        static_cast<uint16_t>(std::strtoul(err.c_str() + a + kAdmin.size(), nullptr, 10));
  }
  return g;
}

Gatehouse::~Gatehouse() = default;

Gatehouse::ReloadResult Gatehouse::reload(const std::string& config_text, milliseconds timeout) {
  const size_t from = process_->stderrText().size();
  dir_->write("gatehouse.toml", config_text);
  process_->signal(SIGHUP);
  const auto deadline = Clock::now() + timeout;
  while (remainingMs(deadline) > 0) {
    const std::string err = process_->stderrText();
    // A verdict counts once its line is complete.
    for (auto [needle, result] :
         {std::pair{std::string_view("gatehouse: reloaded "), ReloadResult::kReloaded},
          std::pair{std::string_view("gatehouse: reload failed"), ReloadResult::kFailed}}) {
      const size_t at = err.find(needle, from);
      if (at != std::string::npos && err.find('\n', at) != std::string::npos) return result;
    }
    process_->waitForOutput(Subprocess::Stream::kStderr, "\n", milliseconds(remainingMs(deadline)),
                            err.size());
  }
  return ReloadResult::kTimeout;
}

std::optional<int> Gatehouse::stop(milliseconds timeout) {
  process_->signal(SIGTERM);
  return process_->wait(timeout);
}

std::vector<std::string> Gatehouse::decisionLines() const {
  std::vector<std::string> lines;
  const std::string out = process_->stdoutText();
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(out.substr(start, nl - start));
  }
  return lines;
}

bool Gatehouse::waitForDecisions(size_t count, milliseconds timeout) const {
  return process_->waitForLines(Subprocess::Stream::kStdout, count, timeout);
}

int Gatehouse::fdCount() const {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(process_->pid()) + "/fd", ec);
  if (ec) return -1;
  int n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

bool Gatehouse::catchesSignals() const {
  std::ifstream in("/proc/" + std::to_string(process_->pid()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigCgt:", 0) == 0) {
      const unsigned long long mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      const unsigned long long want = (1ULL << (SIGHUP - 1)) | (1ULL << (SIGTERM - 1));
      return (mask & want) == want;
    }
  }
  return false;
}

long Gatehouse::rssKiB() const {
  std::ifstream in("/proc/" + std::to_string(process_->pid()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// ---- JSON ------------------------------------------------------------------------------------

namespace {

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  std::optional<std::map<std::string, std::string>> object() {
    std::map<std::string, std::string> out;
    ws();
    if (!eat('{')) return std::nullopt;
    ws();
    if (!eat('}')) {
      for (;;) {
        ws();
        std::string key;
        if (!string(&key)) return std::nullopt;
        ws();
        if (!eat(':')) return std::nullopt;
        ws();
        std::string value;
        if (!this->value(&value)) return std::nullopt;
        out[key] = value;
        ws();
        if (eat('}')) break;
        if (!eat(',')) return std::nullopt;
      }
    }
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return out;
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n'))
      ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static void appendUtf8(std::string* out, unsigned cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        *out += static_cast<char>(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            const int h = hex(s_[i_++]);
            if (h < 0) return false;
            cp = cp * 16 + static_cast<unsigned>(h);
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool number() {
    const size_t start = i_;
    eat('-');
    if (eat('0')) {
    } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    } else {
      return false;
    }
    if (eat('.')) {
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) return false;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (!eat('+')) eat('-');
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) return false;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    return i_ > start;
  }
  // Any value; *out gets strings unescaped and everything else as raw text.
  bool value(std::string* out, int depth = 0) {
    if (depth > 32) return false;
    ws();
    const size_t start = i_;
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    bool ok;
    if (c == '"') {
      return string(out);
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      ok = true;
      if (!eat(close)) {
        for (;;) {
          std::string ignored;
          if (c == '{') {
            ws();
            if (!string(&ignored)) return false;
            ws();
            if (!eat(':')) return false;
          }
          if (!value(&ignored, depth + 1)) return false;
          ws();
          if (eat(close)) break;
          if (!eat(',')) return false;
        }
      }
    } else if (c == 't') {
      ok = literal("true");
    } else if (c == 'f') {
      ok = literal("false");
    } else if (c == 'n') {
      ok = literal("null");
    } else {
      ok = number();
    }
    if (ok) *out = std::string(s_.substr(start, i_ - start));
    return ok;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::optional<std::map<std::string, std::string>> parseJsonObject(std::string_view text) {
  return JsonParser(text).object();
}

// ---- HTTP clients ------------------------------------------------------------------------------

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) return v;
  }
  return "";
}

bool HttpResponse::has(std::string_view name) const { return count(name) > 0; }

size_t HttpResponse::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += equalsIgnoreCase(h.first, name) ? 1 : 0;
  return n;
}

ParseOutcome parseResponse(std::string_view data, bool eof, bool no_body, HttpResponse* out,
                           size_t* consumed) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return eof ? ParseOutcome::kInvalid : ParseOutcome::kNeedMore;
  HttpResponse r;
  r.head = std::string(data.substr(0, end + 4));
  std::string_view rest = data.substr(0, end + 2);
  size_t eol = rest.find("\r\n");
  const std::string_view line = rest.substr(0, eol);
  rest.remove_prefix(eol + 2);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') {
    return ParseOutcome::kInvalid;
  }
  r.version = std::string(line.substr(0, 8));
  r.status = std::atoi(std::string(line.substr(9, 3)).c_str());
  r.reason = line.size() > 13 ? std::string(line.substr(13)) : "";
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    const std::string_view field = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) return ParseOutcome::kInvalid;
    r.headers.emplace_back(std::string(field.substr(0, colon)),
                           std::string(trim(field.substr(colon + 1))));
  }
  size_t pos = end + 4;
  const bool bodyless =
      no_body || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (bodyless) {
  } else if (equalsIgnoreCase(r.header("Transfer-Encoding"), "chunked")) {
    for (;;) {
      const size_t le = data.find("\r\n", pos);
      if (le == std::string_view::npos)
        return eof ? ParseOutcome::kInvalid : ParseOutcome::kNeedMore;
      const std::string size_line(data.substr(pos, le - pos));
      char* stop = nullptr;
      const unsigned long long size = std::strtoull(size_line.c_str(), &stop, 16);
      if (stop == size_line.c_str()) return ParseOutcome::kInvalid;
      pos = le + 2;
      if (size == 0) {
        // Trailer lines up to the blank line.
        for (;;) {
          const size_t te = data.find("\r\n", pos);
          if (te == std::string_view::npos) {
            return eof ? ParseOutcome::kInvalid : ParseOutcome::kNeedMore;
          }
          const bool blank = te == pos;
          pos = te + 2;
          if (blank) break;
        }
        break;
      }
      if (data.size() < pos + size + 2)
        return eof ? ParseOutcome::kInvalid : ParseOutcome::kNeedMore;
      r.body.append(data.substr(pos, size));
      if (data.substr(pos + size, 2) != "\r\n") return ParseOutcome::kInvalid;
      pos += size + 2;
    }
  } else if (r.has("Content-Length")) {
    const uint64_t n = std::strtoull(r.header("Content-Length").c_str(), nullptr, 10);
    if (data.size() - pos < n) return eof ? ParseOutcome::kInvalid : ParseOutcome::kNeedMore;
    r.body = std::string(data.substr(pos, n));
    pos += n;
  } else {
    if (!eof) return ParseOutcome::kNeedMore;
    r.body = std::string(data.substr(pos));
    pos = data.size();
  }
  *out = std::move(r);
  *consumed = pos;
  return ParseOutcome::kComplete;
}

std::unique_ptr<RawClient> RawClient::connect(const std::string& ip, uint16_t port,
                                              std::string* error, milliseconds timeout) {
  auto fail = [error](const std::string& what) -> std::unique_ptr<RawClient> {
    if (error != nullptr) *error = what;
    return nullptr;
  };
  std::unique_ptr<RawClient> c(new RawClient());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return fail("bad address " + ip);
  c->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c->fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    pollfd p{c->fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return fail("connect timeout");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  }
  return c;
}

RawClient::~RawClient() { closeFd(fd_); }

void RawClient::setReceiveBuffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

bool RawClient::send(std::string_view bytes) {
  const auto deadline = Clock::now() + milliseconds(5000);
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, remainingMs(deadline)) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

void RawClient::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

bool RawClient::fill(Clock::time_point deadline) {
  if (closed_) return false;
  for (;;) {
    char tmp[64 * 1024];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      closed_ = true;
      return false;
    }
    const int left = remainingMs(deadline);
    if (left == 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) == 0) return false;
  }
}

std::optional<HttpResponse> RawClient::readResponse(milliseconds timeout, bool no_body) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    HttpResponse r;
    size_t used = 0;
    const ParseOutcome o = parseResponse(buf_, closed_, no_body, &r, &used);
    if (o == ParseOutcome::kComplete) {
      buf_.erase(0, used);
      return r;
    }
    if (o == ParseOutcome::kInvalid || closed_) return std::nullopt;
    if (!fill(deadline) && !closed_) return std::nullopt;
  }
}

std::string RawClient::readUntilClose(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (fill(deadline)) {
  }
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

bool RawClient::waitForData(milliseconds timeout) {
  const size_t before = buf_.size();
  const auto deadline = Clock::now() + timeout;
  while (buf_.size() == before) {
    if (!fill(deadline)) return false;
  }
  return true;
}

size_t RawClient::readSome(char* buf, size_t len, milliseconds timeout) {
  if (buf_.empty() && !fill(Clock::now() + timeout)) return 0;
  const size_t n = std::min(len, buf_.size());
  std::memcpy(buf, buf_.data(), n);
  buf_.erase(0, n);
  return n;
}

bool RawClient::waitForClose(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (fill(deadline)) buf_.clear();
  return closed_;
}

std::optional<HttpResponse> proxyExchange(uint16_t proxy_port, std::string_view request,
                                          milliseconds timeout) {
  auto c = RawClient::connect("127.0.0.1", proxy_port);
  if (c == nullptr || !c->send(request)) return std::nullopt;
  return c->readResponse(timeout, request.rfind("HEAD ", 0) == 0);
}

std::string getRequest(std::string_view authority, std::string_view path,
                       std::string_view extra_headers) {
  std::string r = "GET http://";
  r += authority;
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += authority;
  r += "\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

std::string connectRequest(std::string_view authority, std::string_view extra_headers) {
  std::string r = "CONNECT ";
  r += authority;
  r += " HTTP/1.1\r\nHost: ";
  r += authority;
  r += "\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

uint16_t pickFreePort(const std::string& ip) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  uint16_t port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// ---- TLS -------------------------------------------------------------------------------------

bool makeSelfSignedCert(const TempDir& dir, const std::string& name, TlsCert* out,
                        std::string* error) {
  out->cert = dir.path() + "/" + name + ".crt";
  out->key = dir.path() + "/" + name + ".key";
  CommandResult r =
      runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=" + name,
                  "-addext", "subjectAltName=DNS:" + name, "-keyout", out->key, "-out", out->cert},
                 milliseconds(20000));
  if (!r.finished || r.exit_code != 0) {
    *error = "openssl req failed: " + r.err;
    return false;
  }
  return true;
}

std::unique_ptr<TlsServer> TlsServer::start(const std::string& ip, const TlsCert& cert, bool www,
                                            std::string* error) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const uint16_t port = pickFreePort(ip);
    if (port == 0) continue;
    std::vector<std::string> argv = {
        "openssl", "s_server", "-accept", ip + ":" + std::to_string(port),
        "-cert",   cert.cert,  "-key",    cert.key};
    if (www) argv.emplace_back("-www");
    auto p = Subprocess::spawn(argv, true, error);
    if (p == nullptr) return nullptr;
    // s_server prints ACCEPT once it listens; it exits at once when the port is taken.
    if (p->waitForOutput(Subprocess::Stream::kStdout, "ACCEPT", milliseconds(10000))) {
      std::unique_ptr<TlsServer> s(new TlsServer());
      s->port_ = port;
      s->process_ = std::move(p);
      return s;
    }
    *error = "s_server did not start: " + p->stderrText();
  }
  return nullptr;
}

// ---- the fixture -------------------------------------------------------------------------------

void ProxyTest::SetUp() {
  std::string error;
  dns_ = FakeDnsServer::start(&error);
  ASSERT_NE(dns_, nullptr) << error;
  // The canaries listen on the origin's port number on the other loopback addresses, so a dial
  // to the wrong address would reach them instead of failing with ECONNREFUSED.
  for (int attempt = 0; attempt < 20 && canary_other_ == nullptr; ++attempt) {
    canary_loopback_.reset();
    canary_private_.reset();
    origin_ = FakeOrigin::start(kOriginIp, 0, FakeOrigin::Mode::kHttp, &error);
    ASSERT_NE(origin_, nullptr) << error;
    canary_loopback_ = FakeOrigin::start("127.0.0.1", origin_->port());
    if (canary_loopback_ == nullptr) continue;
    canary_private_ = FakeOrigin::start("127.0.0.3", origin_->port());
    if (canary_private_ == nullptr) continue;
    canary_other_ = FakeOrigin::start("127.0.0.4", origin_->port());
  }
  ASSERT_NE(canary_other_, nullptr) << "no port free on 127.0.0.1-4";
  config_ = baseConfig();
}

void ProxyTest::TearDown() {
  if (proxy_ != nullptr) {
    if (!stopped_) {
      const bool alive = proxy_->alive();
      EXPECT_TRUE(alive) << "INV-ALIVE: the proxy exited; stderr:\n" << proxy_->stderrText();
      if (alive) {
        auto probe = exchange(getRequest(at("origin.test"), "/small", probe_headers_));
        EXPECT_TRUE(probe.has_value() && probe->status == 200 && probe->body == kSmallBody)
            << "INV-ALIVE: the probe request was not answered";
        const auto status = proxy_->stop();
        EXPECT_EQ(status, std::optional<int>(0))
            << "SIGTERM did not end the proxy cleanly; stderr:\n"
            << proxy_->stderrText();
      }
    }
    decisions();
  }
  if (expect_canaries_untouched_ && canary_other_ != nullptr) {
    EXPECT_EQ(canary_loopback_->accepts(), 0u) << "INV-NOCONN: 127.0.0.1 was dialed";
    EXPECT_EQ(canary_private_->accepts(), 0u) << "INV-NOCONN: 127.0.0.3 was dialed";
    EXPECT_EQ(canary_other_->accepts(), 0u) << "INV-NOCONN: 127.0.0.4 was dialed";
  }
}

GatehouseConfig ProxyTest::baseConfig() const {
  GatehouseConfig c;
  // A stuck connection must not hold a test's SIGTERM for the default 10 s.
  c.listener["drain_timeout_ms"] = "3000";
  c.domains = {"origin.test",   "*.api.test", "private.test", "loopback.test",
               "metadata.test", "mixed.test", "tls.test",     "sink.test"};
  c.deny = {"bad.api.test"};
  c.ports = {80, 443, origin_->port()};
  c.address_allow = {"127.0.0.2/32"};
  c.dns_servers = {dns_->address()};
  c.static_hosts = {
      {"origin.test", {kOriginIp}},
      {"a.api.test", {kOriginIp}},
      {"x.y.z.api.test", {kOriginIp}},
      {"api.test", {kOriginIp}},
      {"badapi.test", {kOriginIp}},
      {"bad.api.test", {kOriginIp}},
      {"other.test", {kOriginIp}},
      {"private.test", {"10.0.0.5"}},
      {"loopback.test", {"127.0.0.3"}},
      {"metadata.test", {"169.254.169.254"}},
      {"mixed.test", {"127.0.0.3", kOriginIp}},
      {"tls.test", {kOriginIp}},
      {"sink.test", {kOriginIp}},
  };
  return c;
}

void ProxyTest::startProxy() {
  std::string error;
  proxy_ = Gatehouse::start(config_.toToml(), &error);
  ASSERT_NE(proxy_, nullptr) << error << "\nconfig:\n" << config_.toToml();
}

std::optional<int> ProxyTest::stopProxy() {
  stopped_ = true;
  return proxy_->stop();
}

std::string ProxyTest::at(std::string_view host) const {
  return std::string(host) + ":" + std::to_string(origin_->port());
}

std::optional<HttpResponse> ProxyTest::exchange(std::string_view request,
                                                milliseconds timeout) const {
  return proxyExchange(proxy_->port(), request, timeout);
}

std::unique_ptr<RawClient> ProxyTest::connectToProxy() const {
  std::string error;
  auto c = RawClient::connect(kProxyIp, proxy_->port(), &error);
  EXPECT_NE(c, nullptr) << error;
  return c;
}

void ProxyTest::expectRefusal(const std::optional<HttpResponse>& r, int status,
                              std::string_view reason, std::string_view proxy_error) const {
  ASSERT_TRUE(r.has_value()) << "no response";
  EXPECT_EQ(r->status, status) << r->head << r->body;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), reason) << r->head;
  const std::string ps = r->header("Proxy-Status");
  EXPECT_EQ(ps.rfind("gatehouse; error=", 0), 0u) << ps;
  if (!proxy_error.empty()) {
    EXPECT_NE(ps.find("error=" + std::string(proxy_error)), std::string::npos) << ps;
  }
  EXPECT_EQ(r->header("X-Gatehouse-Environment").rfind("default@", 0), 0u) << r->head;
  EXPECT_EQ(r->header("Content-Type").rfind("text/plain", 0), 0u) << r->head;
  EXPECT_EQ(r->body.rfind("gatehouse refused ", 0), 0u) << r->body;
  EXPECT_TRUE(equalsIgnoreCase(r->header("Connection"), "close")) << r->head;
}

std::vector<std::string> ProxyTest::curl(std::vector<std::string> args) const {
  std::vector<std::string> argv = {"curl",
                                   "-q",
                                   "-sS",
                                   "--max-time",
                                   "15",
                                   "-x",
                                   "http://127.0.0.1:" + std::to_string(proxy_->port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::map<std::string, std::string>> ProxyTest::decisions() const {
  std::vector<std::map<std::string, std::string>> out;
  for (const std::string& line : proxy_->decisionLines()) {
    auto obj = parseJsonObject(line);
    EXPECT_TRUE(obj.has_value()) << "decision line is not one JSON object: " << line;
    if (obj) out.push_back(std::move(*obj));
  }
  return out;
}

}  // namespace gatehouse::testing
