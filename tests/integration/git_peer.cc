#include "tests/integration/git_peer.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace gatehouse::testing {

namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kEnv = "/usr/bin/env";
constexpr const char* kPath = "/usr/local/bin:/usr/bin:/bin";

bool commandOk(const CommandResult& r) { return r.started && r.finished && r.exit_code == 0; }

std::string describe(const std::string& what, const CommandResult& r) {
  std::string s = what + ": ";
  if (!r.started) return s + "not started: " + r.err;
  if (!r.finished) return s + "timed out";
  return s + "exit " + std::to_string(r.exit_code) + ": " + r.err;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The environment of git commands run on the peer's side (createRepo, refs).
std::vector<std::string> peerGitEnv(const std::string& home) {
  return {"PATH=" + std::string(kPath),
          "HOME=" + home,
          "LANG=C",
          "LC_ALL=C",
          "GIT_CONFIG_NOSYSTEM=1",
          "GIT_CONFIG_GLOBAL=/dev/null",
          "GIT_TERMINAL_PROMPT=0",
          "GIT_AUTHOR_NAME=Test Upstream",
          "GIT_AUTHOR_EMAIL=upstream@example.test",
          "GIT_COMMITTER_NAME=Test Upstream",
          "GIT_COMMITTER_EMAIL=upstream@example.test"};
}

bool openssl(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = runCommand(argv, milliseconds(30000));
  if (commandOk(r)) return true;
  *error = describe("openssl " + args.front(), r);
  return false;
}

// A self-signed P-256 CA: dir/stem.crt, dir/stem.key.
bool makeCa(const std::string& dir, const std::string& stem, const std::string& cn,
            std::string* cert, std::string* key, std::string* error) {
  *cert = dir + "/" + stem + ".crt";
  *key = dir + "/" + stem + ".key";
  return openssl(
      {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-days", "3", "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", *key, "-out", *cert},
      error);
}

// A P-256 server leaf dir/stem.{crt,key} for `san` signed by ca_cert/ca_key.
bool makeLeaf(const TempDir& dir, const std::string& stem, const std::string& cn,
              const std::string& san, const std::string& ca_cert, const std::string& ca_key,
              TlsCert* out, std::string* error) {
  out->cert = dir.path() + "/" + stem + ".crt";
  out->key = dir.path() + "/" + stem + ".key";
  const std::string csr = dir.path() + "/" + stem + ".csr";
  const std::string ext = dir.write(stem + ".ext",
                                    "[leaf]\n"
                                    "basicConstraints = critical,CA:FALSE\n"
                                    "keyUsage = critical,digitalSignature\n"
                                    "extendedKeyUsage = serverAuth\n"
                                    "subjectAltName = " +
                                        san + "\n");
  return openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-subj", "/CN=" + cn, "-keyout", out->key, "-out", csr},
                 error) &&
         openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                  "-CAserial", dir.path() + "/serial.srl", "-days", "2", "-extfile", ext,
                  "-extensions", "leaf", "-out", out->cert},
                 error);
}

}  // namespace

std::string base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::string gitBasicAuth(std::string_view token) {
  return "Basic " + base64Encode("x-access-token:" + std::string(token));
}

std::vector<std::string> withExactEnv(const std::vector<std::string>& env,
                                      const std::vector<std::string>& argv) {
  std::vector<std::string> out = {kEnv, "-i"};
  out.insert(out.end(), env.begin(), env.end());
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// ---- TestCa ----------------------------------------------------------------------------------

std::unique_ptr<TestCa> TestCa::create(std::string* error,
                                       const std::vector<std::string>& dns_names) {
  std::unique_ptr<TestCa> ca(new TestCa());
  if (ca->dir_.path().empty()) {
    *error = "cannot create a temporary directory";
    return nullptr;
  }
  if (dns_names.empty()) {
    *error = "no DNS names";
    return nullptr;
  }
  ca->names_ = dns_names;
  std::string san;
  for (const auto& name : dns_names) san += "DNS:" + name + ",";
  san += "IP:127.0.0.1";
  const std::string& d = ca->dir_.path();
  if (!makeCa(d, "ca", "gatehouse test CA", &ca->ca_cert_, &ca->ca_key_, error) ||
      !makeCa(d, "untrusted-ca", "gatehouse untrusted test CA", &ca->untrusted_ca_cert_,
              &ca->untrusted_ca_key_, error) ||
      !makeLeaf(ca->dir_, "leaf", dns_names.front(), san, ca->ca_cert_, ca->ca_key_, &ca->leaf_,
                error) ||
      !makeLeaf(ca->dir_, "wrong-name", "wrong-name.test", "DNS:wrong-name.test", ca->ca_cert_,
                ca->ca_key_, &ca->wrong_name_, error) ||
      !makeLeaf(ca->dir_, "untrusted", dns_names.front(), san, ca->untrusted_ca_cert_,
                ca->untrusted_ca_key_, &ca->untrusted_, error)) {
    return nullptr;
  }
  return ca;
}

// ---- GitPeer ---------------------------------------------------------------------------------

std::unique_ptr<GitPeer> GitPeer::start(const TestCa& ca, const std::string& token,
                                        const std::string& leaf_cert, const std::string& leaf_key,
                                        std::string* error, const std::string& api_prefix,
                                        milliseconds timeout) {
  std::unique_ptr<GitPeer> peer(new GitPeer());
  peer->dir_ = std::make_unique<TempDir>();
  if (peer->dir_->path().empty()) {
    *error = "cannot create a temporary directory";
    return nullptr;
  }
  const std::string& d = peer->dir_->path();
  peer->token_ = token;
  peer->repos_dir_ = d + "/repos";
  peer->log_path_ = d + "/requests.jsonl";
  std::error_code ec;
  std::filesystem::create_directories(peer->repos_dir_, ec);
  if (ec) {
    *error = "cannot create " + peer->repos_dir_ + ": " + ec.message();
    return nullptr;
  }
  // The token goes in a file: never on a command line another process could read.
  const std::string token_file = peer->dir_->write("token", token);
  ::chmod(token_file.c_str(), 0600);
  const std::string port_file = d + "/port";
  const std::string script = std::string(GATEHOUSE_SOURCE_DIR) + "/tests/e2e/git_upstream.py";
  peer->process_ = Subprocess::spawn(
      {kPython, "-u", script, "--cert", leaf_cert.empty() ? ca.leafCert() : leaf_cert, "--key",
       leaf_key.empty() ? ca.leafKey() : leaf_key, "--repos", peer->repos_dir_, "--token-file",
       token_file, "--log", peer->log_path_, "--port-file", port_file, "--api-prefix", api_prefix},
      false, error);
  if (peer->process_ == nullptr) return nullptr;
  static constexpr std::string_view kListening = "git_upstream: listening on 127.0.0.1:";
  const auto at = peer->process_->waitForOutput(Subprocess::Stream::kStdout, kListening, timeout);
  if (!at) {
    *error = "git_upstream.py did not start: " + peer->process_->stderrText();
    return nullptr;
  }
  const std::string out = peer->process_->stdoutText();
  const unsigned long port = std::strtoul(out.c_str() + *at + kListening.size(), nullptr, 10);
  if (port == 0 || port > 65535) {
    *error = "git_upstream.py printed no port";
    return nullptr;
  }
  peer->port_ = static_cast<uint16_t>(port);
  return peer;
}

GitPeer::~GitPeer() { stop(); }

void GitPeer::stop() {
  if (process_ == nullptr || !process_->running()) return;
  process_->signal(SIGTERM);
  if (!process_->wait(milliseconds(5000))) {
    process_->kill();
    process_->wait(milliseconds(5000));
  }
}

std::string GitPeer::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string GitPeer::resolveEntry(const std::string& host) const {
  return host + ":" + std::to_string(port_) + ":127.0.0.1";
}

std::string GitPeer::baseUrl(const std::string& host) const {
  return "https://" + host + ":" + std::to_string(port_);
}

std::string GitPeer::repoUrl(const std::string& owner_repo, const std::string& host) const {
  return baseUrl(host) + "/" + owner_repo + ".git";
}

CommandResult GitPeer::git(const std::string& owner_repo, const std::vector<std::string>& args,
                           std::string_view stdin_data, milliseconds timeout) const {
  std::vector<std::string> argv = {"git", "--git-dir=" + repos_dir_ + "/" + owner_repo + ".git"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(withExactEnv(peerGitEnv(dir_->path()), argv), timeout, stdin_data);
}

bool GitPeer::createRepo(const std::string& owner_repo, std::string* error) {
  std::string ignored;
  std::string& err = error != nullptr ? *error : ignored;
  const size_t slash = owner_repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == owner_repo.size() ||
      owner_repo.find('/', slash + 1) != std::string::npos) {
    err = "not owner/repo: " + owner_repo;
    return false;
  }
  const std::string repo_dir = repos_dir_ + "/" + owner_repo + ".git";
  const auto env = peerGitEnv(dir_->path());
  const auto run = [&](const std::vector<std::string>& argv, std::string_view input,
                       std::string* out) {
    const CommandResult r = runCommand(withExactEnv(env, argv), milliseconds(30000), input);
    if (!commandOk(r)) {
      err = describe(argv.size() > 3 ? "git " + argv[3] : "git", r);
      return false;
    }
    if (out != nullptr) {
      *out = r.out;
      while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
    }
    return true;
  };
  const std::string git_dir = "--git-dir=" + repo_dir;
  std::string blob;
  std::string tree;
  std::string commit;
  return run({"git", "init", "--quiet", "--bare", "--initial-branch=main", repo_dir}, {},
             nullptr) &&
         run({"git", git_dir, "config", "http.receivepack", "true"}, {}, nullptr) &&
         run({"git", git_dir, "hash-object", "-w", "--stdin"},
             "# " + owner_repo + "\n\nThe test upstream's initial commit.\n", &blob) &&
         run({"git", git_dir, "mktree"}, "100644 blob " + blob + "\tREADME.md\n", &tree) &&
         run({"git", git_dir, "commit-tree", tree, "-m", "Initial commit"}, {}, &commit) &&
         run({"git", git_dir, "update-ref", "refs/heads/main", commit}, {}, nullptr) &&
         run({"git", git_dir, "symbolic-ref", "HEAD", "refs/heads/main"}, {}, nullptr);
}

std::map<std::string, std::string> GitPeer::refs(const std::string& owner_repo) const {
  std::map<std::string, std::string> out;
  const CommandResult r = git(owner_repo, {"for-each-ref", "--format=%(refname) %(objectname)"});
  if (!commandOk(r)) {
    ADD_FAILURE() << describe("git for-each-ref on " + owner_repo, r);
    return out;
  }
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t space = line.find(' ');
    if (space != std::string::npos) out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

std::string GitPeer::logText() const { return readFile(log_path_); }

std::vector<nlohmann::json> GitPeer::requests() const {
  std::vector<nlohmann::json> out;
  std::istringstream lines(logText());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ADD_FAILURE() << "git_upstream.py log line is not one JSON object: " << line;
      continue;
    }
    out.push_back(std::move(j));
  }
  return out;
}

bool GitPeer::waitForRequests(size_t count, milliseconds timeout) const {
  // One stdout line per request, after the listening line.
  return process_->waitForLines(Subprocess::Stream::kStdout, count + 1, timeout);
}

std::string GitPeer::stdoutText() const { return process_->stdoutText(); }
std::string GitPeer::stderrText() const { return process_->stderrText(); }

std::string GitPeer::header(const nlohmann::json& request, std::string_view name) {
  if (!request.contains("headers")) return "";
  for (const auto& h : request["headers"]) {
    if (h.size() == 2 && equalsIgnoreCase(h[0].get<std::string>(), name)) {
      return h[1].get<std::string>();
    }
  }
  return "";
}

size_t GitPeer::headerCount(const nlohmann::json& request, std::string_view name) {
  size_t n = 0;
  if (!request.contains("headers")) return n;
  for (const auto& h : request["headers"]) {
    if (h.size() == 2 && equalsIgnoreCase(h[0].get<std::string>(), name)) ++n;
  }
  return n;
}

// ---- GitClient -------------------------------------------------------------------------------

GitClient::GitClient() {
  if (home_.path().empty()) return;
  config_path_ = home_.write("gitconfig",
                             "[user]\n"
                             "\tname = Sandbox Agent\n"
                             "\temail = agent@sandbox.test\n"
                             "[init]\n"
                             "\tdefaultBranch = main\n"
                             "[credential]\n"
                             "\thelper =\n"
                             "[advice]\n"
                             "\tdetachedHead = false\n");
}

std::vector<std::string> GitClient::env() const {
  return {"PATH=" + std::string(kPath),
          "HOME=" + home_.path(),
          "XDG_CONFIG_HOME=" + home_.path() + "/.config",
          "LANG=C",
          "LC_ALL=C",
          "GIT_CONFIG_NOSYSTEM=1",
          "GIT_CONFIG_GLOBAL=" + config_path_,
          "GIT_TERMINAL_PROMPT=0"};
}

CommandResult GitClient::run(
    const std::vector<std::string>& args, const std::string& cwd, milliseconds timeout,
    const std::vector<std::pair<std::string, std::string>>& extra_env) const {
  std::vector<std::string> e = env();
  for (const auto& [name, value] : extra_env) e.emplace_back(name).append("=").append(value);
  std::vector<std::string> argv = {"git"};
  if (!cwd.empty()) {
    argv.emplace_back("-C");
    argv.push_back(cwd);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(withExactEnv(e, argv), timeout);
}

bool GitClient::config(const std::string& key, const std::string& value) {
  return commandOk(runCommand(
      withExactEnv(env(), {"git", "config", "--file", config_path_, "--replace-all", key, value}),
      milliseconds(10000)));
}

bool GitClient::addConfig(const std::string& key, const std::string& value) {
  return commandOk(runCommand(
      withExactEnv(env(), {"git", "config", "--file", config_path_, "--add", key, value}),
      milliseconds(10000)));
}

bool GitClient::setCredential(const std::string& username, const std::string& password) {
  const auto safe = [](const std::string& s) {
    for (char c : s) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("._~+/=-").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
    return !s.empty();
  };
  if (!safe(username) || !safe(password)) return false;
  // Replaces the empty helper that resets the list; only `get` is answered.
  return config("credential.helper",
                "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' " + username +
                    " " + password + "; }; f");
}

}  // namespace gatehouse::testing
