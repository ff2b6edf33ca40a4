// The git credential seam (SPEC §6, §7): "which session does this scoped credential belong to,
// and what may it do?".
//
// The sandbox's git presents a scoped credential (HTTP Basic password with any user name, or a
// Bearer token). A CredentialProvider maps it to the session's GitGrant: the repos in scope, the
// branches it may push, and the real upstream token that replaces the credential upstream. The
// built-in provider is the control plane's session store (control/session_store.h); the git
// handler (gitproxy/git_handler.h) only sees this interface.
//
// Secrets: the real token lives in a Secret (wiped when the last reference goes); a GitGrant
// never holds the scoped credential itself, only the provider keeps its SHA-256.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net/tcp_connection.h"

namespace gatehouse::gitproxy {

// Prefix of every scoped git credential gatehouse issues: recognisable in leaked-secret scans,
// and unlike any GitHub token prefix (ghp_, gho_, ghs_, github_pat_), so it is never mistaken
// for one.
inline constexpr std::string_view kGitCredentialPrefix = "gatehouse_gc_";

// A secret held only in memory. The bytes are wiped (OPENSSL_cleanse) when it is destroyed.
// Never logged, never copied into a std::string that outlives a request.
class Secret final {
 public:
  explicit Secret(std::string value) : value_(std::move(value)) {}
  ~Secret();
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  std::string_view view() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

struct RepoScope {
  std::string owner;  // lower case ("octo-org")
  std::string repo;   // lower case, without ".git" ("hello-world")
  bool push = false;  // false: read only ("owner/repo:read")
};

// What one session may do on the git path. Immutable once published; shared between threads.
struct GitGrant {
  std::string session_id;
  std::vector<std::string> labels;
  std::vector<RepoScope> repos;
  std::string push_branch;                  // "" = the session pushes nothing
  std::vector<std::string> extra_branches;  // further pushable branch names
  std::chrono::system_clock::time_point expires = std::chrono::system_clock::time_point::max();
  std::shared_ptr<const Secret> token;  // the real upstream token; null = none configured

  // The scope entry for owner/repo (compared case-insensitively); nullptr when out of scope.
  const RepoScope* find(std::string_view owner, std::string_view repo) const;
};

enum class GrantStatus : uint8_t {
  kGranted,    // `grant` is set
  kMissing,    // no Authorization header: 401 with WWW-Authenticate so git asks its helper
  kMalformed,  // an Authorization header that is neither Basic nor Bearer, or bad base64: 401
  kDenied,     // no session has this credential (or it is not a git credential): 401
  kExpired,    // the session expired: 401
  kThrottled,  // too many failed attempts from this client address: 429
};

struct GrantResult {
  GrantStatus status = GrantStatus::kDenied;
  std::shared_ptr<const GitGrant> grant;  // kGranted only
  // One line for the client (git prints it as "remote: ...") and the log; fixed text, never what
  // the client sent, never a secret.
  std::string reason;
  std::string session_id;  // kExpired: which session, for the log; else the grant's id or ""
};

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // Any thread (each worker's loop thread); answers at once, never blocks on I/O.
  // `authorization` = the Authorization header value ("" = absent). The credential is hashed and
  // compared in constant time; failures count against `client` like proxy credential failures.
  virtual GrantResult grantFor(std::string_view authorization,
                               const std::optional<net::SocketAddress>& client,
                               std::chrono::system_clock::time_point now) const = 0;
};

}  // namespace gatehouse::gitproxy
