// A hermetic "GitHub" for the end-to-end tests of the git path (SPEC.md §7), on loopback only.
//
//   TestCa      a test CA (openssl CLI) and leaf certificates signed by it: a good leaf for the
//               given DNS names + IP 127.0.0.1, a leaf with a wrong name (same CA) and a leaf for
//               the right names signed by a second, untrusted CA (certificate-failure tests)
//   GitPeer     tests/e2e/git_upstream.py: TLS on 127.0.0.1 (port 0) serving git smart-HTTP
//               through the real `git http-backend` over its own repos directory, a stub of the
//               GitHub REST API under /api/v3 (or at the root for a Host named api.*), and a JSONL
//               record of every request (method, path, headers, body size, status, SNI, ...)
//   GitClient   the real git client isolated from the machine: a private HOME and global config,
//               an environment built from scratch (no proxy variables, no CA overrides)
//
// Names are resolved by the client, never by DNS: git gets `http.curloptResolve` entries
// ("github.com:PORT:127.0.0.1", see GitPeer::resolveEntry) and curl `--resolve`.
//
// The peer's log line for a request is written before the last byte of its response, so once a
// client has seen a response complete, requests() holds it. Requests the peer never answered
// (the client gave up first) may still be in flight: waitForRequests().
//
// Threading: GitPeer and GitClient may be used from the test thread while the peer serves
// (its output is collected by Subprocess's own thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace gatehouse::testing {

// base64(`data`), standard alphabet with padding.
std::string base64Encode(std::string_view data);

// "Basic base64("x-access-token:" + token)": what the proxy must send upstream.
std::string gitBasicAuth(std::string_view token);

// ---- certificates --------------------------------------------------------------------------

class TestCa final {
 public:
  // A CA and its leaves in a private TempDir; `dns_names` go into every leaf's subjectAltName
  // (with IP:127.0.0.1), the first one is also the CN. nullptr and *error when openssl fails.
  static std::unique_ptr<TestCa> create(std::string* error,
                                        const std::vector<std::string>& dns_names = {
                                            "github.com", "api.github.com"});
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& dir() const { return dir_.path(); }
  const std::vector<std::string>& names() const { return names_; }

  // The trusted CA (what the proxy's [git] ca_file or git's http.sslCAInfo points at).
  const std::string& caCert() const { return ca_cert_; }
  // A leaf for names() + IP 127.0.0.1, signed by caCert().
  const std::string& leafCert() const { return leaf_.cert; }
  const std::string& leafKey() const { return leaf_.key; }
  // A leaf for "wrong-name.test" only (no IP), signed by caCert(): a name mismatch.
  const std::string& wrongNameCert() const { return wrong_name_.cert; }
  const std::string& wrongNameKey() const { return wrong_name_.key; }
  // A leaf for names() + IP 127.0.0.1 signed by a second CA nobody trusts.
  const std::string& untrustedCert() const { return untrusted_.cert; }
  const std::string& untrustedKey() const { return untrusted_.key; }
  const std::string& untrustedCaCert() const { return untrusted_ca_cert_; }

 private:
  TestCa() = default;

  TempDir dir_;
  std::vector<std::string> names_;
  std::string ca_cert_;
  std::string ca_key_;
  std::string untrusted_ca_cert_;
  std::string untrusted_ca_key_;
  TlsCert leaf_;
  TlsCert wrong_name_;
  TlsCert untrusted_;
};

// ---- the upstream ----------------------------------------------------------------------------

class GitPeer final {
 public:
  // Starts git_upstream.py with `leaf_cert`/`leaf_key` ("" = ca.leafCert()/leafKey()) and the
  // real `token` (passed in a file, never on the command line); returns once it listens.
  // `api_prefix`: the REST stub's path prefix ("" = only Host api.* is the API).
  static std::unique_ptr<GitPeer> start(const TestCa& ca, const std::string& token,
                                        const std::string& leaf_cert, const std::string& leaf_key,
                                        std::string* error,
                                        const std::string& api_prefix = "/api/v3",
                                        milliseconds timeout = milliseconds(15000));
  static std::unique_ptr<GitPeer> start(const TestCa& ca, const std::string& token,
                                        std::string* error) {
    return start(ca, token, "", "", error);
  }
  ~GitPeer();
  GitPeer(const GitPeer&) = delete;
  GitPeer& operator=(const GitPeer&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT" (the [git] connect_to value).
  std::string address() const;
  // "HOST:PORT:127.0.0.1", for git's http.curloptResolve and curl's --resolve.
  std::string resolveEntry(const std::string& host = "github.com") const;
  // "https://HOST:PORT" (the [git] upstream / api_upstream value when the port is not 443).
  std::string baseUrl(const std::string& host = "github.com") const;
  // "https://HOST:PORT/owner/repo.git".
  std::string repoUrl(const std::string& owner_repo, const std::string& host = "github.com") const;
  const std::string& token() const { return token_; }
  // gitBasicAuth(token()).
  std::string basicAuth() const { return gitBasicAuth(token_); }

  const std::string& reposDir() const { return repos_dir_; }
  // A bare repo reposDir()/owner/repo.git with one commit (README.md) on `main`, HEAD -> main,
  // http.receivepack true. False and *error when git fails.
  bool createRepo(const std::string& owner_repo, std::string* error = nullptr);
  // The bare repo's refs: refname -> object id (`git for-each-ref`); empty if it has none.
  std::map<std::string, std::string> refs(const std::string& owner_repo) const;
  // Runs git on the bare repo (e.g. {"cat-file", "-p", oid}, {"fast-import"} with a stream);
  // isolated like GitClient.
  CommandResult git(const std::string& owner_repo, const std::vector<std::string>& args,
                    std::string_view stdin_data = {},
                    milliseconds timeout = milliseconds(30000)) const;

  // Every request recorded so far, one JSON object each (see git_upstream.py for the fields);
  // a line that is not one JSON object fails the test.
  std::vector<nlohmann::json> requests() const;
  std::string logText() const;
  // Waits until at least `count` requests were recorded.
  bool waitForRequests(size_t count, milliseconds timeout) const;
  std::string stdoutText() const;
  std::string stderrText() const;
  Subprocess& process() { return *process_; }

  // SIGTERM and wait; idempotent. The log stays readable until destruction.
  void stop();

  // The first value of header `name` (case-insensitive) in a recorded request; "" if absent.
  static std::string header(const nlohmann::json& request, std::string_view name);
  static size_t headerCount(const nlohmann::json& request, std::string_view name);

 private:
  GitPeer() = default;

  std::unique_ptr<TempDir> dir_;
  std::string repos_dir_;
  std::string log_path_;
  std::string token_;
  uint16_t port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// ---- the client ------------------------------------------------------------------------------

class GitClient final {
 public:
  // A private HOME holding `gitconfig` (the global config: user.name/email, init.defaultBranch,
  // credential.helper empty). Check ok().
  GitClient();
  GitClient(const GitClient&) = delete;
  GitClient& operator=(const GitClient&) = delete;

  bool ok() const { return !home_.path().empty(); }
  const std::string& home() const { return home_.path(); }
  const std::string& configPath() const { return config_path_; }
  // home()/name: a place for clones and work trees.
  std::string path(const std::string& name) const { return home_.path() + "/" + name; }

  // Sets `key` in the global config, replacing every earlier value.
  bool config(const std::string& key, const std::string& value);
  // Adds one more value for a multi-valued key (http.extraHeader, http.curloptResolve).
  bool addConfig(const std::string& key, const std::string& value);
  // A credential helper answering `get` with username/password (both [A-Za-z0-9._~+/=-]).
  bool setCredential(const std::string& username, const std::string& password);

  // `git [-C cwd] args...` with env() + extra_env, killed at the timeout.
  CommandResult run(const std::vector<std::string>& args, const std::string& cwd = "",
                    milliseconds timeout = milliseconds(60000),
                    const std::vector<std::pair<std::string, std::string>>& extra_env = {}) const;

  // The whole environment git runs with ("NAME=value"): PATH, HOME, LANG/LC_ALL=C,
  // GIT_CONFIG_NOSYSTEM=1, GIT_CONFIG_GLOBAL, XDG_CONFIG_HOME, GIT_TERMINAL_PROMPT=0 and nothing
  // else: no GIT_ASKPASS/SSH_ASKPASS (a credential prompt fails at once), no proxy variables,
  // no GIT_SSL_CAINFO / SSL_CERT_FILE / SSL_CERT_DIR / CURL_CA_BUNDLE.
  std::vector<std::string> env() const;

 private:
  TempDir home_;
  std::string config_path_;
};

// `/usr/bin/env -i VAR=... argv...`: runs argv with exactly `env`, nothing inherited.
std::vector<std::string> withExactEnv(const std::vector<std::string>& env,
                                      const std::vector<std::string>& argv);

}  // namespace gatehouse::testing
