// The git path's local endpoints (SPEC §7): `/git/<owner>/<repo>[.git]/…` (git smart-HTTP) and
// `/github/api/…` (the GitHub REST API for PR work) on the proxy listener.
//
//   route strictly (gitproxy/route.h) ─► scoped credential → session grant (CredentialProvider;
//   401 + WWW-Authenticate so git asks its helper) ─► repo in the session's scope (push scope for
//   receive-pack) or the API allowlist (gitproxy/api_policy.h) ─► receive-pack: the command
//   section parsed as it streams in, the push policy decides (a refused push gets a 200
//   report-status git prints as "[remote rejected]", the rest of the body is drained) ─► only
//   then: dial the configured upstream, TLS with verification, the credential swapped for
//   `Authorization: Basic x-access-token:<token>` (git) or `Bearer <token>` (API), the body
//   streamed with backpressure ─► the response relayed (3xx → 502: the token never follows a
//   redirect; 401 → 502: never a 401 the client would retry with the same credential).
//
// Request headers sent upstream come from an allowlist (User-Agent, Accept*, Content-Type,
// Git-Protocol for upload-pack, ...): the client's Authorization, Cookie and Proxy-* headers
// never reach the upstream. The real token is written only to a TLS connection whose
// certificate was verified for the configured host, and never appears in a log line, a metric
// or a response body.
//
// Threading: one GitEndpoints per worker; its requests run on that worker's loop thread.
// GitSettingsHolder is shared by every worker (current() from any thread, publish() from the
// main thread on start and reload).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gitproxy/git_config.h"
#include "gitproxy/grant.h"
#include "proxy/conn/local_endpoint.h"
#include "proxy/net/tcp_connection.h"
#include "proxy/tls/tls_client.h"
#include "proxy/upstream/connector.h"

namespace gatehouse::gitproxy {

// A base URL of [git]: "https://host[:port][/prefix]".
struct UpstreamBase {
  std::string host;  // canonical host name or IP literal (TLS name check, dialing)
  uint16_t port = 443;
  std::string authority;    // the Host header: "github.com", "ghe.example:8443"
  std::string path_prefix;  // "" or "/api/v3" (no trailing '/')
};

// nullopt unless `url` is an https:// URL with a valid host (the config loader checked it).
std::optional<UpstreamBase> parseUpstreamBase(std::string_view url);

// [git], compiled: immutable, shared by every worker.
struct GitSettings {
  UpstreamBase git;
  UpstreamBase api;
  std::shared_ptr<tls::TlsClientContext> tls;  // system CAs plus [git] ca_file
  // Host name (canonical) -> the address dialed instead of resolving it.
  std::vector<std::pair<std::string, net::SocketAddress>> connect_to;
  // No byte in either direction for this long: 504 before the response, else the client
  // connection closes.
  std::chrono::milliseconds idle_timeout{120000};
  size_t max_api_body = size_t{1} << 20;  // API request bodies that are checked (413 above)
};

// nullptr and *error (one line) when a base URL or the CA file is unusable.
std::shared_ptr<const GitSettings> buildGitSettings(const GitConfig& config, std::string* error);

class GitSettingsHolder final {
 public:
  std::shared_ptr<const GitSettings> current() const {
    return current_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const GitSettings> settings) {
    current_.store(std::move(settings), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const GitSettings>> current_;
};

// What the git path counts (bounded labels only; the control plane's metrics implement it).
enum class GitOperation : uint8_t { kFetch, kPush, kApi };
inline constexpr size_t kGitOperationCount = 3;
// kOk: relayed from the upstream (any non-error status); kRefused: the session's scope or the
// push / API policy refused it; kUnauthorized: no, a wrong or an expired credential; kInvalid:
// malformed (path, pkt-lines, encoding); kFailed: the upstream could not be reached or failed.
enum class GitResult : uint8_t { kOk, kRefused, kUnauthorized, kInvalid, kFailed };
inline constexpr size_t kGitResultCount = 5;
const char* gitOperationName(GitOperation operation);
const char* gitResultName(GitResult result);

class GitStats {
 public:
  virtual ~GitStats() = default;
  // Any worker thread; cheap and thread-safe. One call per request on the git path (a push's
  // discovery, info/refs?service=git-receive-pack, counts as kPush).
  virtual void gitRequest(GitOperation operation, GitResult result) = 0;
  // One call per receive-pack body decided: relayed upstream (accepted) or refused by the push
  // policy.
  virtual void gitPush(bool accepted) = 0;
};

class GitEndpoints final : public conn::LocalEndpoints {
 public:
  struct Deps {
    const GitSettingsHolder& settings;
    const CredentialProvider& credentials;
    std::function<upstream::Connector&()> connector;  // this worker's current one
    GitStats& stats;
  };
  explicit GitEndpoints(Deps deps) : deps_(deps) {}

  std::vector<std::string> prefixes() const override { return {"/git/", "/github/api/"}; }
  std::unique_ptr<conn::LocalHandler> open(const http::RequestHead& head,
                                           conn::LocalExchange& exchange) override;

 private:
  Deps deps_;
};

}  // namespace gatehouse::gitproxy
