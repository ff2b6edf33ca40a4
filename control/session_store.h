// The built-in session manager's store (SPEC §6): static sessions from [[sessions]] and dynamic
// ones added by the control plane, and identification of a client against them.
//
// Identification (identify()):
//   0. When sessions are not required and none exists, every client is kAnonymous (the sidecar
//      case): a Proxy-Authorization header is then ignored (the proxy strips it).
//   1. A Proxy-Authorization header, if present, decides alone: `Basic base64(id:secret)` with the
//      scheme compared case-insensitively and strict base64. Anything wrong with it is kDenied
//      (never a fall-back to the client address or to the default environment). A session that
//      lists `clients` accepts its credential only from those addresses.
//   2. Else the client address: the session whose `clients` CIDR contains it, the longest prefix
//      winning; two sessions with the same longest prefix are kDenied (ambiguous, fail closed).
//   3. Else kChallenge when sessions are required, kAnonymous when not.
//   A session past its expiry is kExpired. Failed credential attempts are counted per client
//   address (IPv6 per /64) in a token bucket; an empty bucket answers kThrottled before the
//   credential is even checked, so a guesser learns nothing while throttled.
//
// Git bindings (SPEC §6, §7): a session may carry a git binding (repos, push branch, the real
// upstream token) published as an immutable gitproxy::GitGrant, and a scoped git credential.
// The store is the built-in gitproxy::CredentialProvider: grantFor() maps the credential the
// sandbox's git presents to the grant. The upstream token lives in a gitproxy::Secret shared by
// the grants of its session only: when the session is deleted, its git binding replaced or
// removed, or (for static sessions) the configuration reloaded, the store drops its references
// and the bytes are wiped as soon as the last request using them ends.
//
// Credentials: only their SHA-256 is kept, compared with CRYPTO_memcmp. Dynamic credentials are
// "gatehouse_pc_" + base64url(256 random bits from RAND_bytes), returned once by add() and never
// again; dynamic git credentials are gitproxy::kGitCredentialPrefix + base64url(256 random bits),
// returned once by add() or update() (when issued or rotated). Git credentials are looked up by
// comparing the presented hash with every session's, without stopping at a match (no secret-keyed
// map, no early exit). Nothing here logs, stores or returns a secret or an upstream token.
//
// Threading: identify(), get(), list() and required() are called from every worker thread;
// add() and remove() from the control plane. The sessions live in an immutable snapshot, replaced
// whole on every write (copy on write; writes are rare and the table is small). A reader holds
// the snapshot mutex only to copy the shared_ptr (one reference count increment), then works
// lock-free on one consistent version: no lock is held while hashing, and a writer never makes a
// worker wait for more than a pointer copy. A plain mutex rather than
// std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock bit as well, and
// ThreadSanitizer cannot see it (false data-race reports). The throttle buckets are the only
// mutable shared state; a separate mutex guards them, and it is taken only for requests that
// carry a credential.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/session_config.h"
#include "gitproxy/grant.h"
#include "policy/ip.h"
#include "proxy/conn/session.h"

namespace gatehouse::control {

inline constexpr std::string_view kProxyCredentialPrefix = "gatehouse_pc_";

using Sha256 = std::array<uint8_t, 32>;

// Longest upstream token accepted (from a file or the control API); GitHub tokens are < 300.
inline constexpr size_t kMaxGitTokenBytes = 4096;

// The upstream token from a token file ([sessions.git] token_file, the control API's
// "token_file"): the whole file without one trailing newline ("\n" or "\r\n").
struct GitTokenFile {
  std::shared_ptr<const gitproxy::Secret> token;  // null when refused
  std::string problem;  // why it was refused ("is empty"); never the file's content
  std::string hint;     // how to fix it ("chmod 600 /run/secrets/github-token")
};
// Refuses (null token) a file that cannot be opened, is not a regular file, is readable or
// writable by group or others (mode & 077), is empty, is longer than kMaxGitTokenBytes, or holds
// anything but printable ASCII. Blocking file I/O: control plane only (startup, reload, API).
GitTokenFile readGitTokenFile(const std::string& path);
// The same rules for a token given inline: "" when acceptable, else why not (never the token).
std::string gitTokenProblem(std::string_view token);

// A session's git binding as given (the control API's "git" object, or [sessions.git]).
struct GitBinding {
  std::vector<std::string> repos;  // "owner/repo" (push) or "owner/repo:read"
  std::string push_branch;         // "" = the session pushes nothing
  std::vector<std::string> extra_branches;
  std::shared_ptr<const gitproxy::Secret> token;  // the real upstream token; null = none
};

// What list() and get() show of a session's git binding: never the token or the credential.
struct GitBindingView {
  std::vector<std::string> repos;  // "owner/repo" or "owner/repo:read", lower case
  std::string push_branch;
  std::vector<std::string> extra_branches;
  bool token_set = false;  // false: requests fail with "no upstream token"
};

// What list() and get() show of a session: never the credential.
struct SessionView {
  std::shared_ptr<const conn::SessionInfo> info;
  std::vector<policy::Cidr> clients;
  bool dynamic = false;
  std::string base_environment;      // the environment asked for; info->environment is effective
  std::vector<std::string> domains;  // inline entries on top of base_environment
  std::chrono::system_clock::time_point created;
  // Hex SHA-256 of the proxy credential ("" = none). A one-way hash, but still no business of
  // a sandbox: the control API should not serve it.
  std::string credential_sha256;
  std::optional<GitBindingView> git;  // unset = no git binding
};

// A dynamic session to add (the control API's POST /v1/sessions).
struct NewSession {
  std::string id;                       // "" = generated; else from newId() or the caller
  std::string environment = "default";  // the effective environment the policy decides in
  std::string base_environment;         // as asked ("" = environment)
  std::vector<std::string> domains;     // inline entries (compiled into `environment` by caller)
  std::vector<std::string> labels;
  std::vector<std::string> clients;  // CIDR texts
  std::chrono::system_clock::time_point expires = std::chrono::system_clock::time_point::max();
  policy::LimitsConfig limits;  // overrides of the environment's limits
  // A git binding: a scoped git credential is generated and returned once (AddedSession).
  std::optional<GitBinding> git;
};

// A change to a dynamic session (PATCH); unset fields stay.
struct SessionPatch {
  std::optional<std::string> environment;
  std::optional<std::string> base_environment;
  std::optional<std::vector<std::string>> domains;
  std::optional<std::vector<std::string>> labels;
  std::optional<std::vector<std::string>> clients;
  std::optional<std::chrono::system_clock::time_point> expires;
  std::optional<policy::LimitsConfig> limits;  // replaces every override
  // Set: replaces the git binding (repos, branches and token together); set to nullopt: removes
  // it with its credential. A session that had no git credential gets one.
  std::optional<std::optional<GitBinding>> git;
  // Issue a new git credential (the old one stops working at once); needs a git binding.
  bool rotate_git_credential = false;
};

struct AddedSession {
  bool ok = false;
  std::string error;             // when !ok
  std::string id;                // generated
  std::string proxy_credential;  // the only copy of the secret: hand it to the caller, keep none
  std::string git_credential;    // likewise; "" when the session has no git binding
};

class SessionStore final : public gitproxy::CredentialProvider {
 public:
  struct Options {
    // Failed credential attempts allowed in a burst per client address, and the refill rate.
    double failure_burst = 10;
    double failure_refill_per_second = 1;
    // Bound on tracked client addresses; when full (after dropping refilled buckets) unknown
    // addresses are throttled on their first failure (fail closed).
    size_t max_tracked_clients = 65536;
    // Monotonic clock of the throttle; injectable for tests.
    std::function<std::chrono::steady_clock::time_point()> clock = [] {
      return std::chrono::steady_clock::now();
    };
  };

  // `required` = whether a client must be identified; unset = required once any session (static
  // or dynamic) exists, and from then on, even after the last one is removed. Invalid entries in
  // `sessions` (the loader validates them) are dropped, fail closed: a bad hash is no credential, a
  // bad CIDR matches nothing.
  explicit SessionStore(const std::vector<SessionConfig>& sessions,
                        std::optional<bool> required = std::nullopt);
  SessionStore(const std::vector<SessionConfig>& sessions, std::optional<bool> required,
               Options options);
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Any thread. `now` decides expiry.
  conn::SessionResult identify(const conn::SessionQuery& query,
                               std::chrono::system_clock::time_point now) const;

  // gitproxy::CredentialProvider. Any thread; answers at once. `authorization`: "Basic
  // base64(any-user:credential)", "Bearer credential" or "token credential" (schemes compared
  // case-insensitively). kThrottled when the client's failure bucket is empty (checked first),
  // kMalformed for any other shape, kDenied for a credential without the gatehouse prefix, one no
  // session holds, or one used from an address outside the session's `clients` (counted as
  // failures, like malformed headers); kExpired for an expired session.
  gitproxy::GrantResult grantFor(std::string_view authorization,
                                 const std::optional<net::SocketAddress>& client,
                                 std::chrono::system_clock::time_point now) const override;

  // Control plane. Adds a dynamic session. The credential is generated; the store keeps only its
  // hash. Fails on a bad CIDR or an id already in use.
  AddedSession add(NewSession session);
  // The same, with the id generated and the environment of `info` (kept for callers that need
  // nothing else).
  AddedSession add(conn::SessionInfo info, const std::vector<std::string>& clients = {});
  // A fresh id ("dyn-" + 96 random bits) not in use now; "" if no randomness is available.
  std::string newId() const;
  // Control plane. Changes a dynamic session; live from the next identify(). "" on success,
  // else why not (no such session, a static one, a bad CIDR, a bad git binding). A git credential
  // issued by the change (a first binding, or a rotation) goes to `git_credential`, the only copy.
  std::string update(std::string_view id, const SessionPatch& patch,
                     std::string* git_credential = nullptr);
  // Control plane. Removes a dynamic session (static ones come from the config and stay); it is
  // refused from the next identify() on. False if there is no such dynamic session.
  bool remove(std::string_view id);
  // Control plane, on reload: replaces every static session with `sessions` and the requirement
  // with `required`; dynamic sessions stay (a static session with the same id replaces one).
  void replaceStatic(const std::vector<SessionConfig>& sessions, std::optional<bool> required);
  // Control plane. Removes dynamic sessions that expired before `before`; returns their ids.
  std::vector<std::string> purgeExpired(std::chrono::system_clock::time_point before);
  // Sessions not expired at `now`.
  size_t activeCount(std::chrono::system_clock::time_point now) const;
  // The limiter state shared by every anonymous client.
  const std::shared_ptr<conn::SessionLimits>& anonymousLimits() const { return anonymous_limits_; }

  // Any thread.
  std::vector<SessionView> list() const;
  std::optional<SessionView> get(std::string_view id) const;
  bool required() const;

  static Sha256 sha256(std::string_view data);

 private:
  struct Entry {
    std::shared_ptr<const conn::SessionInfo> info;
    std::vector<policy::Cidr> clients;
    std::optional<Sha256> credential;
    bool dynamic = false;
    std::string base_environment;
    std::vector<std::string> domains;
    std::chrono::system_clock::time_point created;
    // The git binding; null = none. Its session fields (id, labels, expiry) follow `info`.
    std::shared_ptr<const gitproxy::GitGrant> git;
    std::optional<Sha256> git_credential;  // SHA-256 of the scoped git credential
  };
  struct Snapshot {
    std::map<std::string, Entry, std::less<>> sessions;
    std::optional<bool> required;
    // A session existed at some point: in the automatic mode, deleting the last one must not
    // turn its clients into anonymous ones.
    bool had_sessions = false;
  };
  static bool requiredIn(const Snapshot& snapshot);
  // `previous`: the state of the session with the same id before a reload (kept), or null.
  static Entry staticEntry(const SessionConfig& config,
                           std::shared_ptr<conn::SessionLimits> previous = nullptr);
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
  };
  using ClientKey = std::array<uint8_t, 17>;  // family byte + address (IPv6 cut to /64)

  conn::SessionResult identifyByCredential(const Snapshot& snapshot,
                                           const conn::SessionQuery& query,
                                           std::chrono::system_clock::time_point now) const;
  conn::SessionResult identifyByAddress(const Snapshot& snapshot, const policy::IpAddress& ip,
                                        std::chrono::system_clock::time_point now) const;
  bool throttled(const ClientKey& key) const;
  void recordFailure(const ClientKey& key) const;
  void refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const;
  static ClientKey clientKey(const policy::IpAddress& ip);
  static SessionView view(const Entry& entry);
  // The grant of `binding` for the session `info`; null with `error` on an invalid repo entry.
  static std::shared_ptr<const gitproxy::GitGrant> makeGrant(const conn::SessionInfo& info,
                                                             const GitBinding& binding,
                                                             std::string* error);
  // `grant` with the session fields of `info` (labels, expiry changed by a PATCH).
  static std::shared_ptr<const gitproxy::GitGrant> rebind(const gitproxy::GitGrant& grant,
                                                          const conn::SessionInfo& info);

  Options options_;
  std::shared_ptr<conn::SessionLimits> anonymous_limits_ = std::make_shared<conn::SessionLimits>();
  std::shared_ptr<const Snapshot> current() const;
  void publish(std::shared_ptr<const Snapshot> next);

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by snapshot_mutex_; never null
  std::mutex write_mutex_;                    // serialises add()/remove() (copy, edit, publish)
  mutable std::mutex throttle_mutex_;
  mutable std::map<ClientKey, Bucket> buckets_;  // guarded by throttle_mutex_
};

}  // namespace gatehouse::control
