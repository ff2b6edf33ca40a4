#include "control/session_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "control/session_environments.h"
#include "gitproxy/git_names.h"

namespace gatehouse::control {
namespace {

using conn::SessionInfo;
using conn::SessionQuery;
using conn::SessionResult;
using conn::SessionStatus;
using std::chrono::system_clock;

// Longest base64 token accepted: far above any id (64) + ':' + credential, far below header limits.
constexpr size_t kMaxToken = 1024;
constexpr int kSecretBytes = 32;  // 256 bits
constexpr int kIdBytes = 12;      // 96 bits

SessionResult denied(std::string reason) {
  return SessionResult{SessionStatus::kDenied, nullptr, std::move(reason), nullptr};
}

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict RFC 4648 §4 base64: the standard alphabet, padded to a multiple of 4, '=' only at the
// end, and zero bits in the unused part of the last symbol (one canonical spelling per value).
std::optional<std::string> decodeBase64Strict(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (in.back() == '=') pad = (in[in.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    uint32_t bits = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      int v = 0;
      if (last && j >= 4 - pad) {
        if (c != '=') return std::nullopt;
      } else {
        v = base64Value(c);
        if (v < 0) return std::nullopt;
      }
      bits = (bits << 6) | static_cast<uint32_t>(v);
    }
    if (last && pad == 2 && (bits & 0xffff) != 0) return std::nullopt;
    if (last && pad == 1 && (bits & 0xff) != 0) return std::nullopt;
    out.push_back(static_cast<char>(bits >> 16));
    if (!last || pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (!last || pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

std::string encodeBase64Url(const uint8_t* data, size_t len) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (len - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (len - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string toHex(const uint8_t* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<Sha256> parseSha256Hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Sha256 out{};
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hexValue(hex[2 * i]);
    int lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::vector<policy::Cidr> parseClients(const std::vector<std::string>& texts) {
  std::vector<policy::Cidr> out;
  for (const std::string& text : texts) {
    if (std::optional<policy::Cidr> cidr = policy::Cidr::parse(text)) out.push_back(*cidr);
  }
  return out;
}

bool expired(const SessionInfo& info, system_clock::time_point now) { return now >= info.expires; }

SessionResult identified(const std::shared_ptr<const SessionInfo>& info,
                         system_clock::time_point now, std::string how) {
  if (expired(*info, now))
    return SessionResult{SessionStatus::kExpired, info, "session expired", nullptr};
  return SessionResult{SessionStatus::kIdentified, info, std::move(how), info->state};
}

// Overwrites a buffer that held a secret when the scope ends.
struct WipeOnExit {
  std::string& buffer;
  ~WipeOnExit() { OPENSSL_cleanse(buffer.data(), buffer.size()); }
};

bool randomBytes(uint8_t* out, int len) { return RAND_bytes(out, len) == 1; }

// A fresh credential: `prefix` + base64url(256 random bits); "" without randomness.
std::string newCredential(std::string_view prefix) {
  uint8_t secret[kSecretBytes];
  if (!randomBytes(secret, kSecretBytes)) return "";
  std::string credential = std::string(prefix) + encodeBase64Url(secret, kSecretBytes);
  OPENSSL_cleanse(secret, sizeof(secret));
  return credential;
}

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

gitproxy::GrantResult grantResult(gitproxy::GrantStatus status, std::string reason,
                                  std::shared_ptr<const gitproxy::GitGrant> grant = nullptr,
                                  std::string session_id = "") {
  gitproxy::GrantResult r;
  r.status = status;
  r.grant = std::move(grant);
  r.reason = std::move(reason);
  r.session_id = std::move(session_id);
  return r;
}

// The credential part of a git Authorization header, written into `out`; "" on success, else
// why the header is malformed.
std::string gitCredentialOf(std::string_view authorization, std::string& out) {
  std::string_view value = trimOws(authorization);
  size_t space = value.find_first_of(" \t");
  std::string_view scheme = value.substr(0, space);
  const bool is_basic = equalsIgnoreCase(scheme, "basic");
  if (!is_basic && !equalsIgnoreCase(scheme, "bearer") && !equalsIgnoreCase(scheme, "token")) {
    return "unsupported Authorization scheme: send the git credential with Basic or Bearer";
  }
  if (space == std::string_view::npos) return "malformed Authorization header: no credentials";
  std::string_view token = trimOws(value.substr(space));
  if (token.size() > kMaxToken) return "malformed Authorization header: too long";
  if (!is_basic) {
    if (token.find_first_of(" \t") != std::string_view::npos) {
      return "malformed Authorization header: more than one token";
    }
    out.assign(token);
    return "";
  }
  std::optional<std::string> decoded = decodeBase64Strict(token);
  if (!decoded) return "malformed Basic credentials: not strict base64";
  WipeOnExit wipe_decoded{*decoded};
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return "malformed Basic credentials: no password";
  // Any user name: git's credential helpers send whatever they were given.
  out.assign(std::string_view(*decoded).substr(colon + 1));
  return "";
}

bool printableToken(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

}  // namespace

std::string gitTokenProblem(std::string_view token) {
  if (token.empty()) return "is empty";
  if (token.size() > kMaxGitTokenBytes) {
    return "is longer than " + std::to_string(kMaxGitTokenBytes) + " bytes";
  }
  if (!printableToken(token)) {
    return "holds spaces, control characters or non-ASCII bytes (one trailing newline is allowed)";
  }
  return "";
}

GitTokenFile readGitTokenFile(const std::string& path) {
  GitTokenFile out;
  const std::string write_it = "write the token alone into the file, e.g. printf %s \"$TOKEN\" > " +
                               path + "; chmod 600 " + path;
  // Symbolic links are followed (Kubernetes mounts secrets through them); the checks below are on
  // the file itself.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    out.problem = std::string("cannot be read: ") + std::strerror(errno);
    out.hint = "check the path and that gatehouse's user can read the file (mode 600 or 400)";
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    out.problem = "is not a regular file";
    out.hint = "point token_file at a file holding the token";
    return out;
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out.problem = std::string("is readable or writable by group or others (mode ") + mode + ")";
    out.hint = "chmod 600 " + path;
    return out;
  }
  // Room for the longest token, its newline, and one byte more to notice a longer file.
  std::string buffer(kMaxGitTokenBytes + 3, '\0');
  size_t n = 0;
  bool failed = false;
  while (n < buffer.size()) {
    ssize_t got = ::read(fd, buffer.data() + n, buffer.size() - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) failed = true;
    if (got <= 0) break;
    n += static_cast<size_t>(got);
  }
  ::close(fd);
  std::string_view text(buffer.data(), n);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r' && text.size() + 1 == n) text.remove_suffix(1);
  if (failed) {
    out.problem = "cannot be read: read error";
    out.hint = "check the file";
  } else if (std::string problem = gitTokenProblem(text); !problem.empty()) {
    out.problem = std::move(problem);
    out.hint = write_it;
  } else {
    out.token = std::make_shared<const gitproxy::Secret>(std::string(text));
  }
  wipe(buffer);
  return out;
}

Sha256 SessionStore::sha256(std::string_view data) {
  Sha256 out{};
  unsigned int len = 0;
  // EVP_Digest only fails on allocation failure; the all-zero result then matches no stored hash
  // of a real credential, so a failure denies.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    out.fill(0);
  }
  return out;
}

SessionStore::SessionStore(const std::vector<SessionConfig>& sessions, std::optional<bool> required)
    : SessionStore(sessions, required, Options{}) {}

SessionStore::SessionStore(const std::vector<SessionConfig>& sessions, std::optional<bool> required,
                           Options options)
    : options_(std::move(options)) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->required = required;
  for (const SessionConfig& config : sessions) {
    snapshot->sessions.emplace(config.id, staticEntry(config));
  }
  snapshot->had_sessions = !snapshot->sessions.empty();
  publish(std::move(snapshot));
}

SessionStore::Entry SessionStore::staticEntry(const SessionConfig& config,
                                              std::shared_ptr<conn::SessionLimits> previous) {
  Entry entry;
  auto info = std::make_shared<SessionInfo>();
  info->limits = config.limits;
  info->state = previous ? std::move(previous) : std::make_shared<conn::SessionLimits>();
  info->state->setOverrides(config.limits);
  info->id = config.id;
  info->environment =
      config.domains.empty() ? config.environment : sessionEnvironmentName(config.id);
  info->labels = config.labels;
  if (config.expires) info->expires = *config.expires;
  entry.info = std::move(info);
  entry.clients = parseClients(config.clients);
  if (!config.credential_sha256.empty()) {
    entry.credential = parseSha256Hex(config.credential_sha256);
  }
  entry.base_environment = config.environment;
  for (const policy::PatternEntry& d : config.domains) entry.domains.push_back(d.text);
  if (config.git) {
    // Read on every build of the entry (startup and each reload), so a reload picks up a rotated
    // token. A file the loader would refuse gives no token (git requests fail), never a fallback.
    GitBinding binding{config.git->repos, config.git->push_branch, config.git->extra_branches,
                       readGitTokenFile(config.git->token_file).token};
    // The loader reports bad repo entries; here they are dropped (fail closed).
    entry.git = makeGrant(*entry.info, binding, nullptr);
    entry.git_credential = parseSha256Hex(config.git->scoped_credential_sha256);
  }
  return entry;
}

std::shared_ptr<const gitproxy::GitGrant> SessionStore::makeGrant(const SessionInfo& info,
                                                                  const GitBinding& binding,
                                                                  std::string* error) {
  auto grant = std::make_shared<gitproxy::GitGrant>();
  grant->session_id = info.id;
  grant->labels = info.labels;
  grant->expires = info.expires;
  grant->push_branch = binding.push_branch;
  grant->extra_branches = binding.extra_branches;
  grant->token = binding.token;
  for (const std::string& entry : binding.repos) {
    bool pushable = false;
    if (std::optional<gitproxy::NameProblem> problem = gitproxy::checkRepoEntry(entry, &pushable)) {
      if (error != nullptr) {
        *error = "git repo '" + entry + "' " + problem->what;
        return nullptr;
      }
      continue;
    }
    std::string_view spec = std::string_view(entry).substr(0, entry.find(':'));
    size_t slash = spec.find('/');
    gitproxy::RepoScope scope;
    scope.owner = gitproxy::asciiLower(spec.substr(0, slash));
    scope.repo = gitproxy::asciiLower(spec.substr(slash + 1));
    // URLs may add ".git"; the scope names the repository without it.
    if (scope.repo.size() > 4 && scope.repo.ends_with(".git"))
      scope.repo.resize(scope.repo.size() - 4);
    scope.push = pushable;
    grant->repos.push_back(std::move(scope));
  }
  return grant;
}

std::shared_ptr<const gitproxy::GitGrant> SessionStore::rebind(const gitproxy::GitGrant& grant,
                                                               const SessionInfo& info) {
  auto next = std::make_shared<gitproxy::GitGrant>(grant);
  next->session_id = info.id;
  next->labels = info.labels;
  next->expires = info.expires;
  return next;
}

std::shared_ptr<const SessionStore::Snapshot> SessionStore::current() const {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return snapshot_;
}

void SessionStore::publish(std::shared_ptr<const Snapshot> next) {
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    old = std::exchange(snapshot_, std::move(next));
  }
  // `old` (possibly the last reference) is released outside the lock.
}

bool SessionStore::requiredIn(const Snapshot& snapshot) {
  if (snapshot.required) return *snapshot.required;
  return snapshot.had_sessions;
}

bool SessionStore::required() const { return requiredIn(*current()); }

SessionResult SessionStore::identify(const SessionQuery& query,
                                     system_clock::time_point now) const {
  std::shared_ptr<const Snapshot> snapshot = current();
  const bool is_required = requiredIn(*snapshot);
  if (snapshot->sessions.empty() && !is_required) {
    // No session manager in use (a single-sandbox sidecar): every client is anonymous, whatever
    // credentials its HTTP_PROXY URL carries (they are stripped, never forwarded).
    return SessionResult{SessionStatus::kAnonymous, nullptr, "no session; default environment",
                         anonymous_limits_};
  }
  if (!query.proxy_authorization.empty()) {
    std::optional<ClientKey> key;
    if (query.client) key = clientKey(query.client->ip);
    if (key && throttled(*key)) {
      return SessionResult{SessionStatus::kThrottled, nullptr,
                           "too many failed Proxy-Authorization attempts from this address",
                           nullptr};
    }
    SessionResult result = identifyByCredential(*snapshot, query, now);
    if (result.status == SessionStatus::kDenied && key) recordFailure(*key);
    return result;
  }
  if (query.client) {
    SessionResult result = identifyByAddress(*snapshot, query.client->ip, now);
    if (result.status != SessionStatus::kAnonymous) return result;
  }
  if (is_required) {
    return SessionResult{SessionStatus::kChallenge, nullptr,
                         "a session is required: send Proxy-Authorization: Basic", nullptr};
  }
  return SessionResult{SessionStatus::kAnonymous, nullptr, "no session; default environment",
                       anonymous_limits_};
}

SessionResult SessionStore::identifyByCredential(const Snapshot& snapshot,
                                                 const SessionQuery& query,
                                                 system_clock::time_point now) const {
  std::string_view value = trimOws(query.proxy_authorization);
  size_t space = value.find_first_of(" \t");
  std::string_view scheme = value.substr(0, space);
  if (!equalsIgnoreCase(scheme, "basic")) {
    return denied("unsupported Proxy-Authorization scheme: only Basic is accepted");
  }
  if (space == std::string_view::npos) return denied("malformed Basic credentials: no token");
  std::string_view token = trimOws(value.substr(space));
  if (token.size() > kMaxToken) return denied("malformed Basic credentials: too long");
  std::optional<std::string> decoded = decodeBase64Strict(token);
  if (!decoded) return denied("malformed Basic credentials: not strict base64");
  WipeOnExit wipe{*decoded};  // the decoded text holds the secret
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return denied("malformed Basic credentials: no password");
  std::string_view user = std::string_view(*decoded).substr(0, colon);
  std::string_view password = std::string_view(*decoded).substr(colon + 1);
  if (password.empty()) return denied("malformed Basic credentials: empty password");
  // Hash before the lookup so an unknown id costs the same as a wrong secret.
  Sha256 presented = sha256(password);
  auto it = snapshot.sessions.find(user);
  if (it == snapshot.sessions.end()) return denied("unknown session or wrong credential");
  const Entry& entry = it->second;
  if (!entry.credential ||
      CRYPTO_memcmp(presented.data(), entry.credential->data(), presented.size()) != 0) {
    return denied("unknown session or wrong credential");
  }
  if (!entry.clients.empty()) {
    bool inside = query.client &&
                  std::any_of(entry.clients.begin(), entry.clients.end(),
                              [&](const policy::Cidr& c) { return c.contains(query.client->ip); });
    if (!inside) return denied("credential used from an address not bound to the session");
  }
  return identified(entry.info, now, "identified by Proxy-Authorization");
}

SessionResult SessionStore::identifyByAddress(const Snapshot& snapshot, const policy::IpAddress& ip,
                                              system_clock::time_point now) const {
  const Entry* best = nullptr;
  int best_prefix = -1;
  bool tie = false;
  const Entry* expired_match = nullptr;
  for (const auto& [id, entry] : snapshot.sessions) {
    int prefix = -1;
    for (const policy::Cidr& cidr : entry.clients) {
      if (cidr.contains(ip)) prefix = std::max(prefix, cidr.prefixLength());
    }
    if (prefix < 0) continue;
    // An expired session does not shadow a live one that reuses its address.
    if (expired(*entry.info, now)) {
      expired_match = &entry;
      continue;
    }
    if (prefix > best_prefix) {
      best = &entry;
      best_prefix = prefix;
      tie = false;
    } else if (prefix == best_prefix) {
      tie = true;
    }
  }
  if (best != nullptr) {
    if (tie) return denied("client address is bound to more than one session");
    return identified(best->info, now, "identified by client address");
  }
  if (expired_match != nullptr) return identified(expired_match->info, now, "");
  return SessionResult{SessionStatus::kAnonymous, nullptr, "", nullptr};
}

gitproxy::GrantResult SessionStore::grantFor(std::string_view authorization,
                                             const std::optional<net::SocketAddress>& client,
                                             system_clock::time_point now) const {
  using gitproxy::GrantStatus;
  if (trimOws(authorization).empty()) {
    return grantResult(GrantStatus::kMissing, "authentication required");
  }
  std::optional<ClientKey> key;
  if (client) key = clientKey(client->ip);
  if (key && throttled(*key)) {
    return grantResult(GrantStatus::kThrottled,
                       "too many failed git credential attempts from this address");
  }
  auto fail = [&](GrantStatus status, std::string reason) {
    if (key) recordFailure(*key);
    return grantResult(status, std::move(reason));
  };
  std::string credential;
  WipeOnExit wipe_credential{credential};
  if (std::string problem = gitCredentialOf(authorization, credential); !problem.empty()) {
    return fail(GrantStatus::kMalformed, std::move(problem));
  }
  if (!std::string_view(credential).starts_with(gitproxy::kGitCredentialPrefix)) {
    return fail(GrantStatus::kDenied, "not a gatehouse git credential");
  }
  const Sha256 presented = sha256(credential);
  std::shared_ptr<const Snapshot> snapshot = current();
  // Every session is compared, and the first match kept without leaving the loop, so the time
  // taken does not depend on where (or whether) the credential matches.
  const Entry* match = nullptr;
  for (const auto& [id, entry] : snapshot->sessions) {
    if (!entry.git_credential) continue;
    const bool equal =
        CRYPTO_memcmp(presented.data(), entry.git_credential->data(), presented.size()) == 0;
    if (equal && match == nullptr) match = &entry;
  }
  if (match == nullptr || match->git == nullptr) {
    return fail(GrantStatus::kDenied, "unknown or revoked git credential");
  }
  if (!match->clients.empty()) {
    const bool inside =
        client && std::any_of(match->clients.begin(), match->clients.end(),
                              [&](const policy::Cidr& c) { return c.contains(client->ip); });
    if (!inside) {
      return fail(GrantStatus::kDenied,
                  "git credential used from an address not bound to its session");
    }
  }
  if (expired(*match->info, now)) {
    return grantResult(GrantStatus::kExpired, "session expired", nullptr, match->info->id);
  }
  return grantResult(GrantStatus::kGranted, "granted", match->git, match->info->id);
}

SessionStore::ClientKey SessionStore::clientKey(const policy::IpAddress& ip) {
  ClientKey key{};
  key[0] = ip.isV4() ? 4 : 6;
  // IPv6 clients usually hold a whole /64: count failures per /64, not per address.
  int len = ip.isV4() ? 4 : 8;
  std::copy(ip.bytes(), ip.bytes() + len, key.begin() + 1);
  return key;
}

void SessionStore::refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const {
  if (now > bucket.updated) {
    double seconds = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(options_.failure_burst,
                             bucket.tokens + seconds * options_.failure_refill_per_second);
  }
  bucket.updated = now;
}

bool SessionStore::throttled(const ClientKey& key) const {
  std::lock_guard<std::mutex> lock(throttle_mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return false;
  refill(it->second, options_.clock());
  return it->second.tokens < 1;
}

void SessionStore::recordFailure(const ClientKey& key) const {
  std::chrono::steady_clock::time_point now = options_.clock();
  std::lock_guard<std::mutex> lock(throttle_mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_tracked_clients) {
      // Forget clients whose budget has refilled completely; they are as good as new.
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        refill(b->second, now);
        b = b->second.tokens >= options_.failure_burst ? buckets_.erase(b) : std::next(b);
      }
    }
    // Still full: make room, and start the newcomer with one attempt instead of a full burst, so
    // flooding the table from many addresses buys no extra guesses (fail closed).
    double tokens = options_.failure_burst;
    if (!buckets_.empty() && buckets_.size() >= options_.max_tracked_clients) {
      buckets_.erase(buckets_.begin());
      tokens = std::min(tokens, 1.0);
    }
    it = buckets_.emplace(key, Bucket{tokens, now}).first;
  } else {
    refill(it->second, now);
  }
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
}

std::string SessionStore::newId() const {
  std::shared_ptr<const Snapshot> snapshot = current();
  for (int attempt = 0; attempt < 4; ++attempt) {
    uint8_t raw[kIdBytes];
    if (!randomBytes(raw, kIdBytes)) break;
    std::string candidate = "dyn-" + toHex(raw, kIdBytes);
    if (!snapshot->sessions.contains(candidate)) return candidate;
  }
  return "";
}

AddedSession SessionStore::add(SessionInfo info, const std::vector<std::string>& clients) {
  NewSession session;
  session.environment = std::move(info.environment);
  session.labels = std::move(info.labels);
  session.expires = info.expires;
  session.limits = info.limits;
  session.clients = clients;
  return add(std::move(session));
}

AddedSession SessionStore::add(NewSession session) {
  AddedSession out;
  Entry entry;
  for (const std::string& text : session.clients) {
    std::optional<policy::Cidr> cidr = policy::Cidr::parse(text);
    if (!cidr) {
      out.error = "client is not an address or CIDR";
      return out;
    }
    entry.clients.push_back(*cidr);
  }
  if (session.id.empty()) session.id = newId();
  if (session.id.empty()) {
    out.error = "could not generate a session id";
    return out;
  }
  std::string credential = newCredential(kProxyCredentialPrefix);
  if (credential.empty()) {
    out.error = "no randomness for the credential";
    return out;
  }
  entry.credential = sha256(credential);
  entry.dynamic = true;
  entry.base_environment =
      session.base_environment.empty() ? session.environment : session.base_environment;
  entry.domains = std::move(session.domains);
  entry.created = system_clock::now();
  auto info = std::make_shared<SessionInfo>();
  info->id = session.id;
  info->environment = std::move(session.environment);
  info->labels = std::move(session.labels);
  info->expires = session.expires;
  info->limits = session.limits;
  info->state = std::make_shared<conn::SessionLimits>();
  info->state->setOverrides(session.limits);
  entry.info = std::move(info);
  // The scoped git credential: generated here, only its hash kept, returned once.
  std::string git_credential;
  if (session.git) {
    entry.git = makeGrant(*entry.info, *session.git, &out.error);
    if (entry.git != nullptr) git_credential = newCredential(gitproxy::kGitCredentialPrefix);
    if (entry.git != nullptr && git_credential.empty())
      out.error = "no randomness for the credential";
    if (!out.error.empty()) {
      wipe(credential);
      return out;
    }
    entry.git_credential = sha256(git_credential);
  }

  std::lock_guard<std::mutex> lock(write_mutex_);
  std::shared_ptr<const Snapshot> base = current();
  if (base->sessions.contains(session.id)) {
    wipe(credential);
    wipe(git_credential);
    out.error = "a session with this id exists";
    return out;
  }
  auto next = std::make_shared<Snapshot>(*base);
  next->sessions.emplace(session.id, std::move(entry));
  next->had_sessions = true;
  publish(std::move(next));
  out.ok = true;
  out.id = std::move(session.id);
  out.proxy_credential = std::move(credential);
  out.git_credential = std::move(git_credential);
  return out;
}

std::string SessionStore::update(std::string_view id, const SessionPatch& patch,
                                 std::string* git_credential) {
  std::vector<policy::Cidr> clients;
  if (patch.clients) {
    for (const std::string& text : *patch.clients) {
      std::optional<policy::Cidr> cidr = policy::Cidr::parse(text);
      if (!cidr) return "client is not an address or CIDR";
      clients.push_back(*cidr);
    }
  }
  std::lock_guard<std::mutex> lock(write_mutex_);
  std::shared_ptr<const Snapshot> base = current();
  auto it = base->sessions.find(id);
  if (it == base->sessions.end()) return "no such session";
  if (!it->second.dynamic) return "a static session: change it in the configuration file";
  auto next = std::make_shared<Snapshot>(*base);
  Entry& entry = next->sessions.find(id)->second;
  auto info = std::make_shared<SessionInfo>(*entry.info);
  if (patch.environment) info->environment = *patch.environment;
  if (patch.labels) info->labels = *patch.labels;
  if (patch.expires) info->expires = *patch.expires;
  if (patch.limits) {
    info->limits = *patch.limits;
    info->state->setOverrides(*patch.limits);  // the same state: running tunnels see it too
  }
  entry.info = std::move(info);
  if (patch.base_environment) entry.base_environment = *patch.base_environment;
  if (patch.domains) entry.domains = *patch.domains;
  if (patch.clients) entry.clients = std::move(clients);
  // The git binding: replaced, removed, or kept with the session's new labels and expiry.
  std::string issued;
  if (patch.git && !*patch.git) {
    entry.git = nullptr;
    entry.git_credential.reset();
  } else if (patch.git) {
    std::string error;
    entry.git = makeGrant(*entry.info, **patch.git, &error);
    if (entry.git == nullptr) return error;
  } else if (entry.git != nullptr) {
    entry.git = rebind(*entry.git, *entry.info);
  }
  if (patch.rotate_git_credential && entry.git == nullptr) {
    return "the session has no git binding to rotate a credential of";
  }
  if (entry.git != nullptr && (!entry.git_credential || patch.rotate_git_credential)) {
    issued = newCredential(gitproxy::kGitCredentialPrefix);
    if (issued.empty()) return "no randomness for the credential";
    entry.git_credential = sha256(issued);
  }
  publish(std::move(next));
  if (git_credential != nullptr) {
    *git_credential = std::move(issued);
  } else {
    wipe(issued);
  }
  return "";
}

void SessionStore::replaceStatic(const std::vector<SessionConfig>& sessions,
                                 std::optional<bool> required) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  std::shared_ptr<const Snapshot> base = current();
  auto next = std::make_shared<Snapshot>();
  next->required = required;
  next->had_sessions = base->had_sessions || !sessions.empty();
  for (const auto& [id, entry] : base->sessions) {
    if (entry.dynamic) next->sessions.emplace(id, entry);
  }
  for (const SessionConfig& config : sessions) {
    // A session that stays keeps its limiter state (its rates, budgets, open connections).
    std::shared_ptr<conn::SessionLimits> previous;
    if (auto it = base->sessions.find(config.id); it != base->sessions.end()) {
      previous = it->second.info->state;
    }
    next->sessions.insert_or_assign(config.id, staticEntry(config, std::move(previous)));
  }
  publish(std::move(next));
}

std::vector<std::string> SessionStore::purgeExpired(system_clock::time_point before) {
  std::vector<std::string> purged;
  std::lock_guard<std::mutex> lock(write_mutex_);
  std::shared_ptr<const Snapshot> base = current();
  for (const auto& [id, entry] : base->sessions) {
    if (entry.dynamic && entry.info->expires < before) purged.push_back(id);
  }
  if (purged.empty()) return purged;
  auto next = std::make_shared<Snapshot>(*base);
  for (const std::string& id : purged) next->sessions.erase(id);
  publish(std::move(next));
  return purged;
}

size_t SessionStore::activeCount(system_clock::time_point now) const {
  std::shared_ptr<const Snapshot> snapshot = current();
  size_t n = 0;
  for (const auto& [id, entry] : snapshot->sessions) n += expired(*entry.info, now) ? 0 : 1;
  return n;
}

bool SessionStore::remove(std::string_view id) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  std::shared_ptr<const Snapshot> base = current();
  auto it = base->sessions.find(id);
  if (it == base->sessions.end() || !it->second.dynamic) return false;
  auto next = std::make_shared<Snapshot>(*base);
  next->sessions.erase(std::string(id));
  publish(std::move(next));
  return true;
}

SessionView SessionStore::view(const Entry& entry) {
  SessionView v;
  v.info = entry.info;
  v.clients = entry.clients;
  v.dynamic = entry.dynamic;
  v.base_environment = entry.base_environment;
  v.domains = entry.domains;
  v.created = entry.created;
  if (entry.credential)
    v.credential_sha256 = toHex(entry.credential->data(), entry.credential->size());
  if (entry.git) {
    GitBindingView g;
    for (const gitproxy::RepoScope& r : entry.git->repos) {
      g.repos.push_back(r.owner + "/" + r.repo + (r.push ? "" : ":read"));
    }
    g.push_branch = entry.git->push_branch;
    g.extra_branches = entry.git->extra_branches;
    g.token_set = entry.git->token != nullptr && !entry.git->token->empty();
    v.git = std::move(g);
  }
  return v;
}

std::vector<SessionView> SessionStore::list() const {
  std::shared_ptr<const Snapshot> snapshot = current();
  std::vector<SessionView> out;
  out.reserve(snapshot->sessions.size());
  for (const auto& [id, entry] : snapshot->sessions) out.push_back(view(entry));
  return out;
}

std::optional<SessionView> SessionStore::get(std::string_view id) const {
  std::shared_ptr<const Snapshot> snapshot = current();
  auto it = snapshot->sessions.find(id);
  if (it == snapshot->sessions.end()) return std::nullopt;
  return view(it->second);
}

}  // namespace gatehouse::control
