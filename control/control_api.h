// The control API (SPEC §8): the admin listener's routes, as one pure request -> response
// function over the server's state (ControlPlane).
//
//   GET  /healthz /readyz /metrics                      open (no token)
//   GET  /v1/environments[/{name}]                      effective lists, version, generation
//   POST /v1/explain                                    {session|environment, method, url}
//   GET  /v1/decisions?session=ID&limit=N               recent decisions, newest first
//   GET  /v1/sessions[/{id}]                            sessions, never a credential
//   POST /v1/sessions   PATCH/DELETE /v1/sessions/{id}  dynamic sessions
//
// Git bindings: POST and PATCH take "git": {"repos": [...], "push_branch": "...",
// "extra_branches": [...], "token": "..." | "token_file": "/path"} (PATCH: also
// "rotate_credential": true; "git": null removes the binding). The scoped git credential is in
// the answer that issued it (POST, or a PATCH that binds git first or rotates) and never again;
// GET shows the binding with "token": "set" | "missing", never the token.
//   POST /v1/reload                                     re-read the configuration file
//
// Authorization: with a token configured ([admin] token_file), every /v1/ call needs
// `Authorization: Bearer <token>` (compared as SHA-256 digests in constant time). Without one,
// /v1/ reads are open (the listener is loopback-only then: the loader refuses anything else)
// and every state-changing call is refused, so a forgotten token never leaves sessions open to
// whoever reaches the port. Errors are JSON: {"error": "..."}; they may name the field or value
// at fault, never a credential or the token. Authorization is checked before the route, so an
// unauthorised caller learns nothing about which /v1/ paths exist.
//
// Threading: everything runs on the server's main loop thread (the admin listener's), which is
// also where SIGHUP reloads run, so API calls and reloads never interleave.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/admin_server.h"
#include "control/metrics.h"
#include "control/session_environments.h"
#include "control/session_store.h"
#include "policy/source.h"
#include "proxy/common/decision_log.h"
#include "proxy/conn/context.h"
#include "proxy/net/resolver_config.h"

namespace gatehouse::control {

// What the control API reads and changes; the server implements it. Main thread only.
class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  virtual std::shared_ptr<const conn::ProxySnapshot> snapshot() const = 0;
  virtual const net::ResolverConfig& resolver() const = 0;
  virtual SessionStore& sessions() = 0;
  virtual Metrics& metrics() = 0;
  virtual const common::DecisionLog& decisions() const = 0;
  // False while starting or draining (GET /readyz answers 503).
  virtual bool ready() const = 0;
  // Whether the session manager accepts sessions created through the API.
  virtual bool dynamicSessions() const = 0;

  struct Outcome {
    bool ok = false;
    uint64_t generation = 0;      // the generation in force afterwards
    policy::ConfigIssues issues;  // errors (when !ok) and warnings
  };
  // Re-reads the configuration file; on errors the running snapshot stays.
  virtual Outcome reload() = 0;
  // Compiles the configuration's policy with the environments of `dynamic` (the dynamic
  // sessions' inline domains; static sessions' come from the file) and publishes it to every
  // worker; on errors nothing changes.
  virtual Outcome publishSessionEnvironments(
      const std::vector<SessionEnvironmentSpec>& dynamic) = 0;
};

// The environment specs of the store's dynamic sessions that carry inline domains.
std::vector<SessionEnvironmentSpec> dynamicSessionEnvironments(const SessionStore& store);

// Reads the bearer token from [admin] token_file: the file's content without surrounding
// whitespace; it must be 16 to 4096 printable ASCII characters. False with `error` otherwise.
// `warning` is set when the file is readable by group or others.
bool loadAdminToken(const std::string& path, std::string& token, std::string& error,
                    std::string& warning);

class ControlApi final {
 public:
  // Bounds of what a client may ask for.
  static constexpr int64_t kMaxTtlSeconds = int64_t{366} * 24 * 3600;
  static constexpr size_t kMaxLabels = 16;
  static constexpr size_t kMaxDomains = 10000;
  static constexpr size_t kMaxClients = 256;
  static constexpr size_t kMaxGitRepos = 256;
  static constexpr size_t kMaxGitBranches = 64;

  explicit ControlApi(ControlPlane& plane) : plane_(plane) {}

  // `token` "" = none. Main thread.
  void setToken(const std::string& token);
  bool hasToken() const { return token_.has_value(); }

  AdminResponse handle(const AdminRequest& request);

 private:
  enum class Auth : uint8_t { kOk, kMissing, kWrong, kNoTokenConfigured };
  Auth authorize(const AdminRequest& request, bool changes_state) const;

  AdminResponse environments();
  AdminResponse environment(const std::string& name);
  AdminResponse explain(const AdminRequest& request);
  AdminResponse decisions(const AdminRequest& request);
  AdminResponse listSessions();
  AdminResponse getSession(const std::string& id);
  AdminResponse createSession(const AdminRequest& request);
  AdminResponse patchSession(const std::string& id, const AdminRequest& request);
  AdminResponse deleteSession(const std::string& id);
  AdminResponse reload();
  AdminResponse metrics();

  // The dynamic sessions' environment specs as stored, with `id` replaced by `replacement`
  // (or removed when it is null).
  std::vector<SessionEnvironmentSpec> dynamicSpecs(const std::string& id,
                                                   const SessionEnvironmentSpec* replacement);

  ControlPlane& plane_;
  std::optional<Sha256> token_;
};

}  // namespace gatehouse::control
