// The control API as one request -> response function: authorization, routing, sessions,
// explain, decisions, reload, metrics and environments, over a fake ControlPlane that holds a
// real SessionStore, Metrics and DecisionLog and compiles a real policy from TOML.
#include "control/control_api.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "control/config.h"
#include "control/session_environments.h"
#include "policy/policy.h"
#include "tests/unit/test_credentials.h"
#include "tests/unit/test_text.h"

namespace gatehouse::control {
namespace {

using testing_credentials::base64;
using testing_credentials::hex;

using Json = nlohmann::json;
using std::chrono::system_clock;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "test-admin-token-0123456789abcdef";

// default: custom origin.test; alpha, beta: custom; trial: report mode; shadowed: beta beside it.
// One static session. origin.test resolves statically to loopback (the address guard denies it).
constexpr char kConfig[] = R"toml(
[environment]
level = "custom"
domains = ["origin.test"]

[environments.alpha]
level = "custom"
domains = ["a.api.test"]

[environments.beta]
level = "custom"
domains = ["other.test"]

[environments.trial]
level = "custom"
domains = ["t.test"]
mode = "report"

[environments.shadowed]
level = "custom"
domains = ["s.test"]
shadow = "beta"

[resolver]
static = { "origin.test" = ["127.0.0.1"] }

[[sessions]]
id = "static-1"
environment = "alpha"
clients = ["10.1.0.0/16"]
)toml";

std::string describe(const policy::ConfigIssues& issues) {
  std::string out;
  for (const policy::ConfigIssue& i : issues) out += "\n  " + i.toString();
  return out.empty() ? " (none)" : out;
}

Config loadConfig(const std::string& text) {
  ConfigLoad l = loadConfigString(text, "test.toml");
  EXPECT_TRUE(l.ok()) << describe(l.issues);
  return l.config;
}

class FakePlane final : public ControlPlane {
 public:
  FakePlane()
      : config_(loadConfig(kConfig)),
        sessions_(config_.sessions, config_.listener.require_session),
        log_(nullptr, /*owned=*/false, /*recent=*/50) {
    policy::ConfigIssues issues;
    std::shared_ptr<policy::PolicySnapshot> p = compileServingPolicy(config_, {}, issues);
    EXPECT_NE(p, nullptr) << describe(issues);
    publish(std::move(p));
  }

  std::shared_ptr<const conn::ProxySnapshot> snapshot() const override { return snapshot_; }
  const net::ResolverConfig& resolver() const override { return config_.resolver; }
  SessionStore& sessions() override { return sessions_; }
  Metrics& metrics() override { return metrics_; }
  const common::DecisionLog& decisions() const override { return log_; }
  bool ready() const override { return ready_; }
  bool dynamicSessions() const override { return dynamic_sessions_; }

  Outcome reload() override {
    ++reload_calls_;
    Outcome out;
    out.generation = generation_;
    ConfigLoad l = loadConfigString(config_text_, "test.toml");
    out.issues = l.issues;
    if (!l.ok()) return out;
    std::shared_ptr<policy::PolicySnapshot> p =
        compileServingPolicy(l.config, dynamicSessionEnvironments(sessions_), out.issues);
    if (p == nullptr) return out;
    config_ = l.config;
    publish(std::move(p));
    sessions_.replaceStatic(config_.sessions, config_.listener.require_session);
    out.ok = true;
    out.generation = generation_;
    return out;
  }

  Outcome publishSessionEnvironments(const std::vector<SessionEnvironmentSpec>& dynamic) override {
    ++publish_calls_;
    published_ = dynamic;
    Outcome out;
    out.generation = generation_;
    std::shared_ptr<policy::PolicySnapshot> p = compileServingPolicy(config_, dynamic, out.issues);
    if (p == nullptr) return out;
    publish(std::move(p));
    out.ok = true;
    out.generation = generation_;
    return out;
  }

  void setReady(bool ready) { ready_ = ready; }
  void setDynamicSessions(bool accepted) { dynamic_sessions_ = accepted; }
  // What the next reload() reads as the configuration file.
  void setConfigText(std::string text) { config_text_ = std::move(text); }
  common::DecisionLog& log() { return log_; }
  uint64_t generation() const { return generation_; }
  int reloadCalls() const { return reload_calls_; }
  int publishCalls() const { return publish_calls_; }
  // The dynamic specs of the last publishSessionEnvironments() call.
  const std::vector<SessionEnvironmentSpec>& published() const { return published_; }

 private:
  void publish(std::shared_ptr<policy::PolicySnapshot> policy) {
    auto snap = std::make_shared<conn::ProxySnapshot>();
    snap->listener = config_.listener;
    snap->policy = std::move(policy);
    snap->generation = ++generation_;
    snapshot_ = std::move(snap);
  }

  std::string config_text_ = kConfig;
  Config config_;
  SessionStore sessions_;
  Metrics metrics_;
  common::DecisionLog log_;
  std::shared_ptr<const conn::ProxySnapshot> snapshot_;
  uint64_t generation_ = 0;
  bool ready_ = true;
  bool dynamic_sessions_ = true;
  int reload_calls_ = 0;
  int publish_calls_ = 0;
  std::vector<SessionEnvironmentSpec> published_;
};

std::optional<std::string> header(const AdminResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Json parse(const AdminResponse& r) {
  Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
  return j;
}

// The parse of an RFC 3339 UTC time as the API writes it ("2026-01-02T03:04:05Z").
std::optional<system_clock::time_point> parseTime(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return system_clock::from_time_t(timegm(&tm));
}

std::string bearer() { return std::string("Bearer ") + kToken; }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gh-token-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to `name` with `mode` (exactly: fchmod, whatever the umask).
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    std::string path = path_ + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << path;
    if (fd < 0) return path;
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    EXPECT_EQ(::fchmod(fd, mode), 0);
    ::close(fd);
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The real upstream token of the git tests: it must never appear in any response body.
constexpr char kCanaryToken[] = "gh-canary-api-token-9d2f61ab";
constexpr char kOtherToken[] = "gh-canary-api-token-other-03c7";

// Token files for the rows and tests below, created once and removed at exit.
TempDir& tokenDir() {
  static TempDir dir;
  return dir;
}
const std::string& goodTokenFile() {
  static const std::string path =
      tokenDir().write("git-token", std::string(kCanaryToken) + "\n", 0600);
  return path;
}
const std::string& openTokenFile() {
  static const std::string path =
      tokenDir().write("git-token-open", std::string(kCanaryToken) + "\n", 0644);
  return path;
}

class ControlApiTest : public ::testing::Test {
 protected:
  // `target` is the path with an optional query.
  AdminResponse call(const std::string& method, const std::string& target,
                     const std::string& body = "", std::optional<std::string> authorization = {}) {
    AdminRequest r;
    r.method = method;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.authorization = authorization.value_or(api_.hasToken() ? bearer() : "");
    r.body = body;
    if (!body.empty()) r.content_type = "application/json";
    return api_.handle(r);
  }

  // Creates a dynamic session (asserting 201); the response body.
  Json create(const std::string& body) {
    AdminResponse r = call("POST", "/v1/sessions", body);
    EXPECT_EQ(r.status, 201) << body << " -> " << r.body;
    return parse(r);
  }

  conn::SessionResult identifyBy(const std::string& id, const std::string& credential,
                                 const char* client = nullptr) {
    const std::string authorization = "Basic " + base64(id + ":" + credential);
    conn::SessionQuery q;
    q.proxy_authorization = authorization;
    if (client != nullptr) q.client = net::SocketAddress{*policy::IpAddress::parse(client), 40000};
    return plane_.sessions().identify(q, system_clock::now());
  }

  // The environment a client presenting the credential gets, or why it gets none.
  std::string environmentFor(const std::string& id, const std::string& credential,
                             const char* client = nullptr) {
    conn::SessionResult r = identifyBy(id, credential, client);
    if (r.status != conn::SessionStatus::kIdentified) {
      return std::string("(") + conn::sessionStatusName(r.status) + ")";
    }
    return r.session->environment;
  }

  conn::SessionResult identifyFrom(const char* address) {
    conn::SessionQuery q;
    q.client = net::SocketAddress{*policy::IpAddress::parse(address), 40000};
    return plane_.sessions().identify(q, system_clock::now());
  }

  Json explain(const Json& body, int expect_status = 200) {
    AdminResponse r = call("POST", "/v1/explain", body.dump());
    EXPECT_EQ(r.status, expect_status) << body.dump() << " -> " << r.body;
    return parse(r);
  }

  std::string environmentOf(const std::string& id) {
    AdminResponse r = call("GET", "/v1/sessions/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r).value("effective_environment", "");
  }

  size_t sessionCount() { return plane_.sessions().list().size(); }

  FakePlane plane_;
  ControlApi api_{plane_};
};

// ---- authorization ------------------------------------------------------------------------

struct AuthRow {
  const char* reason;
  bool token_configured;
  const char* method;
  const char* target;
  const char* body;
  const char* authorization;  // nullptr: none sent
  int status;
  // 401: the WWW-Authenticate value; 403: a substring of the error.
  const char* detail;
};
void PrintTo(const AuthRow& row, std::ostream* os) { *os << row.reason; }

constexpr char kChallenge[] = "Bearer realm=\"gatehouse-admin\"";
constexpr char kInvalid[] = "Bearer realm=\"gatehouse-admin\", error=\"invalid_token\"";
constexpr char kExplainBody[] = R"({"url": "https://origin.test/"})";
const std::string kRight = bearer();
const std::string kRightLower = std::string("bearer ") + kToken;
const std::string kRightUpper = std::string("BEARER ") + kToken;
const std::string kRightSpaces = std::string("Bearer   ") + kToken;
const std::string kLonger = bearer() + "x";
const std::string kShorter = bearer().substr(0, bearer().size() - 1);

class ControlApiAuthTest : public ControlApiTest, public ::testing::WithParamInterface<AuthRow> {};

TEST_P(ControlApiAuthTest, Decides) {
  const AuthRow& row = GetParam();
  if (row.token_configured) api_.setToken(kToken);
  const size_t sessions_before = sessionCount();
  AdminRequest req;
  req.method = row.method;
  std::string target = row.target;
  size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string::npos ? "" : target.substr(q + 1);
  req.authorization = row.authorization != nullptr ? row.authorization : "";
  req.body = row.body;
  AdminResponse r = api_.handle(req);
  EXPECT_EQ(r.status, row.status) << r.body;
  if (row.status == 401) {
    EXPECT_EQ(header(r, "WWW-Authenticate").value_or("(none)"), row.detail);
  } else {
    EXPECT_EQ(header(r, "WWW-Authenticate"), std::nullopt);
  }
  if (row.status >= 400) {
    Json j = parse(r);
    ASSERT_TRUE(j.contains("error")) << r.body;
    if (row.status == 403) {
      EXPECT_THAT(j["error"].get<std::string>(), HasSubstr(row.detail));
    }
    // A refused call changes nothing.
    EXPECT_EQ(plane_.reloadCalls(), 0);
    EXPECT_EQ(plane_.publishCalls(), 0);
    EXPECT_EQ(sessionCount(), sessions_before);
  }
  // A token is never echoed.
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kToken)));
}

const AuthRow kAuthRows[] = {
    // No token configured: reads are open, changes are refused (naming the setting).
    {"no token: environments readable", false, "GET", "/v1/environments", "", nullptr, 200,
     nullptr},
    {"no token: one environment readable", false, "GET", "/v1/environments/alpha", "", nullptr, 200,
     nullptr},
    {"no token: sessions readable", false, "GET", "/v1/sessions", "", nullptr, 200, nullptr},
    {"no token: decisions readable", false, "GET", "/v1/decisions", "", nullptr, 200, nullptr},
    {"no token: HEAD is a read", false, "HEAD", "/v1/sessions", "", nullptr, 200, nullptr},
    {"no token: explain changes nothing, so it is open", false, "POST", "/v1/explain", kExplainBody,
     nullptr, 200, nullptr},
    {"no token: a bearer sent anyway is ignored", false, "GET", "/v1/environments", "",
     "Bearer whatever-it-is-0123456789", 200, nullptr},
    {"no token: POST session refused", false, "POST", "/v1/sessions", "{}", nullptr, 403,
     "token_file"},
    {"no token: PATCH session refused", false, "PATCH", "/v1/sessions/static-1", "{}", nullptr, 403,
     "token_file"},
    {"no token: DELETE session refused", false, "DELETE", "/v1/sessions/static-1", "", nullptr, 403,
     "token_file"},
    {"no token: reload refused", false, "POST", "/v1/reload", "", nullptr, 403, "token_file"},
    {"no token: a bearer does not unlock changes", false, "POST", "/v1/reload", "",
     "Bearer whatever-it-is-0123456789", 403, "token_file"},
    {"no token: open endpoints", false, "GET", "/healthz", "", nullptr, 200, nullptr},

    // Token configured.
    {"token: missing", true, "GET", "/v1/environments", "", nullptr, 401, kChallenge},
    {"token: missing on sessions", true, "GET", "/v1/sessions", "", nullptr, 401, kChallenge},
    {"token: missing on decisions", true, "GET", "/v1/decisions", "", nullptr, 401, kChallenge},
    {"token: missing on reload", true, "POST", "/v1/reload", "", nullptr, 401, kChallenge},
    {"token: missing on POST session", true, "POST", "/v1/sessions", "{}", nullptr, 401,
     kChallenge},
    {"token: missing on DELETE", true, "DELETE", "/v1/sessions/static-1", "", nullptr, 401,
     kChallenge},
    {"token: explain needs it too", true, "POST", "/v1/explain", kExplainBody, nullptr, 401,
     kChallenge},
    {"token: unknown /v1/ path reveals nothing without it", true, "GET", "/v1/nope", "", nullptr,
     401, kChallenge},
    {"token: Basic scheme is no bearer", true, "GET", "/v1/environments", "", "Basic dXNlcjpwYXNz",
     401, kChallenge},
    {"token: scheme alone", true, "GET", "/v1/environments", "", "Bearer", 401, kChallenge},
    {"token: scheme and a space", true, "GET", "/v1/environments", "", "Bearer ", 401, kChallenge},
    {"token: the token without a scheme", true, "GET", "/v1/environments", "", kToken, 401,
     kChallenge},
    {"token: wrong", true, "GET", "/v1/environments", "", "Bearer wrong-token-0123456789abcdef",
     401, kInvalid},
    {"token: right one plus a byte", true, "GET", "/v1/environments", "", kLonger.c_str(), 401,
     kInvalid},
    {"token: right one minus a byte", true, "GET", "/v1/environments", "", kShorter.c_str(), 401,
     kInvalid},
    {"token: wrong on reload", true, "POST", "/v1/reload", "", "Bearer nope-nope-nope-nope", 401,
     kInvalid},
    {"token: right", true, "GET", "/v1/environments", "", kRight.c_str(), 200, nullptr},
    {"token: scheme lower case", true, "GET", "/v1/environments", "", kRightLower.c_str(), 200,
     nullptr},
    {"token: scheme upper case", true, "GET", "/v1/environments", "", kRightUpper.c_str(), 200,
     nullptr},
    {"token: spaces after the scheme", true, "GET", "/v1/environments", "", kRightSpaces.c_str(),
     200, nullptr},
    {"token: right on explain", true, "POST", "/v1/explain", kExplainBody, kRight.c_str(), 200,
     nullptr},
    {"token: right on POST session", true, "POST", "/v1/sessions", "{}", kRight.c_str(), 201,
     nullptr},
    {"token: right on reload", true, "POST", "/v1/reload", "", kRight.c_str(), 200, nullptr},
    {"token: /healthz is open", true, "GET", "/healthz", "", nullptr, 200, nullptr},
    {"token: /readyz is open", true, "GET", "/readyz", "", nullptr, 200, nullptr},
    {"token: /metrics is open", true, "GET", "/metrics", "", nullptr, 200, nullptr},
    {"token: /metrics ignores a wrong token", true, "GET", "/metrics", "", "Bearer wrong", 200,
     nullptr},
};

INSTANTIATE_TEST_SUITE_P(Rows, ControlApiAuthTest, ::testing::ValuesIn(kAuthRows),
                         [](const ::testing::TestParamInfo<AuthRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST_F(ControlApiTest, ClearingTheTokenRefusesChangesAgain) {
  api_.setToken(kToken);
  EXPECT_TRUE(api_.hasToken());
  EXPECT_EQ(call("POST", "/v1/reload").status, 200);
  api_.setToken("");
  EXPECT_FALSE(api_.hasToken());
  EXPECT_EQ(call("POST", "/v1/reload", "", bearer()).status, 403);
  EXPECT_EQ(plane_.reloadCalls(), 1);
}

// ---- routing ------------------------------------------------------------------------------

struct RouteRow {
  const char* reason;
  const char* method;
  const char* target;
  int status;
  const char* allow;  // the Allow header of a 405
};
void PrintTo(const RouteRow& row, std::ostream* os) { *os << row.reason; }

class ControlApiRouteTest : public ControlApiTest,
                            public ::testing::WithParamInterface<RouteRow> {};

TEST_P(ControlApiRouteTest, Routes) {
  const RouteRow& row = GetParam();
  api_.setToken(kToken);  // authorised: only the routing decides
  AdminResponse r = call(row.method, row.target, "{}");
  EXPECT_EQ(r.status, row.status) << r.body;
  if (row.allow != nullptr) {
    EXPECT_EQ(header(r, "Allow").value_or("(none)"), row.allow);
  } else {
    EXPECT_EQ(header(r, "Allow"), std::nullopt);
  }
  if (row.status >= 400) {
    Json j = parse(r);
    EXPECT_TRUE(j.contains("error")) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
  }
  EXPECT_EQ(plane_.reloadCalls(), 0);
  EXPECT_EQ(sessionCount(), 1u);
}

const RouteRow kRouteRows[] = {
    {"root", "GET", "/", 404, nullptr},
    {"unknown top-level path", "GET", "/nope", 404, nullptr},
    {"healthz with a suffix", "GET", "/healthz/x", 404, nullptr},
    {"v1 without a slash", "GET", "/v1", 404, nullptr},
    {"v1 alone", "GET", "/v1/", 404, nullptr},
    {"unknown v1 path", "GET", "/v1/nope", 404, nullptr},
    {"environments with a suffix", "GET", "/v1/environmentsx", 404, nullptr},
    {"sessions with a suffix", "GET", "/v1/sessionsx", 404, nullptr},
    {"reload with a suffix", "POST", "/v1/reload/now", 404, nullptr},
    {"unknown environment", "GET", "/v1/environments/nope", 404, nullptr},
    {"empty environment name", "GET", "/v1/environments/", 404, nullptr},
    {"unknown session", "GET", "/v1/sessions/nope", 404, nullptr},
    {"empty session id", "GET", "/v1/sessions/", 404, nullptr},
    {"version 2", "GET", "/v2/environments", 404, nullptr},
    {"POST /healthz", "POST", "/healthz", 405, "GET, HEAD"},
    {"DELETE /readyz", "DELETE", "/readyz", 405, "GET, HEAD"},
    {"PUT /metrics", "PUT", "/metrics", 405, "GET, HEAD"},
    {"POST /v1/environments", "POST", "/v1/environments", 405, "GET, HEAD"},
    {"DELETE /v1/environments/alpha", "DELETE", "/v1/environments/alpha", 405, "GET, HEAD"},
    {"GET /v1/explain", "GET", "/v1/explain", 405, "POST"},
    {"PUT /v1/explain", "PUT", "/v1/explain", 405, "POST"},
    {"POST /v1/decisions", "POST", "/v1/decisions", 405, "GET, HEAD"},
    {"GET /v1/reload", "GET", "/v1/reload", 405, "POST"},
    {"PUT /v1/sessions", "PUT", "/v1/sessions", 405, "GET, HEAD, POST"},
    {"PATCH /v1/sessions", "PATCH", "/v1/sessions", 405, "GET, HEAD, POST"},
    {"DELETE /v1/sessions", "DELETE", "/v1/sessions", 405, "GET, HEAD, POST"},
    {"POST /v1/sessions/{id}", "POST", "/v1/sessions/static-1", 405, "GET, HEAD, PATCH, DELETE"},
    {"PUT /v1/sessions/{id}", "PUT", "/v1/sessions/static-1", 405, "GET, HEAD, PATCH, DELETE"},
    {"GET /healthz", "GET", "/healthz", 200, nullptr},
    {"HEAD /healthz", "HEAD", "/healthz", 200, nullptr},
    {"GET /readyz", "GET", "/readyz", 200, nullptr},
    {"HEAD /metrics", "HEAD", "/metrics", 200, nullptr},
    {"HEAD /v1/environments", "HEAD", "/v1/environments", 200, nullptr},
    {"GET /v1/sessions/{static}", "GET", "/v1/sessions/static-1", 200, nullptr},
};

INSTANTIATE_TEST_SUITE_P(Rows, ControlApiRouteTest, ::testing::ValuesIn(kRouteRows),
                         [](const ::testing::TestParamInfo<RouteRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST_F(ControlApiTest, ReadyzFollowsThePlane) {
  AdminResponse r = call("GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  Json j = parse(r);
  EXPECT_EQ(j["status"], "ready");
  EXPECT_EQ(j["generation"], plane_.generation());
  plane_.setReady(false);
  r = call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(parse(r)["status"], "not ready");
  // Liveness does not depend on readiness.
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  EXPECT_EQ(parse(call("GET", "/healthz"))["status"], "ok");
}

// ---- sessions -----------------------------------------------------------------------------

TEST_F(ControlApiTest, CreateReturnsTheCredentialOnceAndTheStoreIdentifiesIt) {
  api_.setToken(kToken);
  AdminResponse r =
      call("POST", "/v1/sessions", R"({"environment": "beta", "labels": ["team=web"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  Json j = parse(r);
  const std::string id = j["id"];
  const std::string credential = j["proxy_credential"];
  EXPECT_THAT(id, StartsWith("dyn-"));
  EXPECT_THAT(credential, StartsWith(std::string(kProxyCredentialPrefix)));
  EXPECT_GT(credential.size(), kProxyCredentialPrefix.size() + 32);
  EXPECT_EQ(header(r, "Location").value_or(""), "/v1/sessions/" + id);
  EXPECT_EQ(j["environment"], "beta");
  EXPECT_EQ(j["effective_environment"], "beta");
  EXPECT_TRUE(j["expires"].is_null());
  EXPECT_EQ(j["generation"], plane_.generation());
  EXPECT_EQ(plane_.publishCalls(), 0);  // no inline domains: nothing to compile

  conn::SessionResult found = identifyBy(id, credential);
  ASSERT_EQ(found.status, conn::SessionStatus::kIdentified) << found.reason;
  EXPECT_EQ(found.session->id, id);
  EXPECT_EQ(found.session->environment, "beta");
  EXPECT_EQ(found.session->labels, std::vector<std::string>{"team=web"});
  EXPECT_EQ(identifyBy(id, credential + "x").status, conn::SessionStatus::kDenied);

  // Never again: neither the list nor the session shows the credential or its hash.
  const std::string digest = hex(SessionStore::sha256(credential));
  for (const std::string& target : {std::string("/v1/sessions"), "/v1/sessions/" + id}) {
    AdminResponse read = call("GET", target);
    ASSERT_EQ(read.status, 200);
    EXPECT_THAT(read.body, ::testing::Not(HasSubstr(credential))) << target;
    EXPECT_THAT(read.body, ::testing::Not(HasSubstr(digest))) << target;
    EXPECT_THAT(read.body, ::testing::Not(HasSubstr("credential"))) << target;
    EXPECT_THAT(read.body, ::testing::Not(HasSubstr("sha256"))) << target;
  }
}

TEST_F(ControlApiTest, CreateWithDefaultsAndTtl) {
  api_.setToken(kToken);
  const auto before = system_clock::now();
  Json j = create(R"({"ttl_s": 3600, "clients": ["10.3.0.0/16"]})");
  EXPECT_EQ(j["environment"], "default");
  EXPECT_EQ(j["effective_environment"], "default");
  ASSERT_TRUE(j["expires"].is_string()) << j.dump();
  std::optional<system_clock::time_point> expires = parseTime(j["expires"]);
  ASSERT_TRUE(expires.has_value()) << j["expires"];
  EXPECT_GE(*expires, before + std::chrono::seconds(3599));
  EXPECT_LE(*expires, system_clock::now() + std::chrono::seconds(3601));
  conn::SessionResult by_address = identifyFrom("10.3.7.7");
  ASSERT_EQ(by_address.status, conn::SessionStatus::kIdentified);
  EXPECT_EQ(by_address.session->id, j["id"]);
  // A second session gets another id and another credential.
  Json other = create("{}");
  EXPECT_NE(other["id"], j["id"]);
  EXPECT_NE(other["proxy_credential"], j["proxy_credential"]);
}

TEST_F(ControlApiTest, ListShowsEverySessionWithoutSecrets) {
  api_.setToken(kToken);
  Json created = create(R"({"environment": "alpha", "labels": ["a", "b=c"], "ttl_s": 60})");
  AdminResponse r = call("GET", "/v1/sessions");
  ASSERT_EQ(r.status, 200);
  Json j = parse(r);
  EXPECT_EQ(j["required"], true);
  ASSERT_EQ(j["sessions"].size(), 2u) << r.body;
  for (const Json& s : j["sessions"]) {
    EXPECT_FALSE(s.contains("proxy_credential")) << s.dump();
    EXPECT_FALSE(s.contains("credential_sha256")) << s.dump();
    if (s["id"] == "static-1") {
      EXPECT_EQ(s["dynamic"], false);
      EXPECT_EQ(s["environment"], "alpha");
      EXPECT_EQ(s["clients"], Json::array({"10.1.0.0/16"}));
      EXPECT_EQ(s["authenticates_by"], Json::array({"client-address"}));
      EXPECT_TRUE(s["expires"].is_null());
      EXPECT_FALSE(s.contains("created"));
    } else {
      EXPECT_EQ(s["id"], created["id"]);
      EXPECT_EQ(s["dynamic"], true);
      EXPECT_EQ(s["environment"], "alpha");
      EXPECT_EQ(s["effective_environment"], "alpha");
      EXPECT_THAT(s["environment_tag"].get<std::string>(), StartsWith("alpha@"));
      EXPECT_EQ(s["labels"], Json::array({"a", "b=c"}));
      EXPECT_EQ(s["domains"], Json::array());
      EXPECT_EQ(s["authenticates_by"], Json::array({"proxy-authorization"}));
      EXPECT_TRUE(s["created"].is_string());
      EXPECT_EQ(s["expires"], created["expires"]);
      EXPECT_EQ(s["expired"], false);
    }
  }
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(created["proxy_credential"].get<std::string>())));
}

TEST_F(ControlApiTest, CreateWithDomainsPublishesTheSessionEnvironment) {
  api_.setToken(kToken);
  const uint64_t generation = plane_.generation();
  Json j = create(R"({"environment": "alpha", "domains": ["extra.test", "*.more.test"]})");
  const std::string id = j["id"];
  EXPECT_EQ(j["environment"], "alpha");
  EXPECT_EQ(j["effective_environment"], "session:" + id);
  EXPECT_EQ(j["generation"], generation + 1);

  ASSERT_EQ(plane_.publishCalls(), 1);
  ASSERT_EQ(plane_.published().size(), 1u);
  const SessionEnvironmentSpec& spec = plane_.published()[0];
  EXPECT_EQ(spec.session_id, id);
  EXPECT_EQ(spec.base, "alpha");
  ASSERT_EQ(spec.domains.size(), 2u);
  EXPECT_EQ(spec.domains[0].text, "extra.test");
  EXPECT_EQ(spec.domains[1].text, "*.more.test");

  AdminResponse env = call("GET", "/v1/environments/session:" + id);
  ASSERT_EQ(env.status, 200) << env.body;
  conn::SessionResult found = identifyBy(id, j["proxy_credential"].get<std::string>());
  ASSERT_EQ(found.status, conn::SessionStatus::kIdentified);
  EXPECT_EQ(found.session->environment, "session:" + id);
  Json view = parse(call("GET", "/v1/sessions/" + id));
  EXPECT_EQ(view["domains"], Json::array({"extra.test", "*.more.test"}));

  // The session's environment: its base's entries and its own.
  EXPECT_EQ(explain({{"session", id}, {"url", "https://extra.test/"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "https://x.more.test/"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "https://a.api.test/"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "https://other.test/"}})["decision"], "deny");

  // A second session with domains: both are published.
  Json second = create(R"({"domains": ["second.test"]})");
  ASSERT_EQ(plane_.published().size(), 2u);
  EXPECT_EQ(call("GET", "/v1/environments/session:" + id).status, 200);
  EXPECT_EQ(call("GET", "/v1/environments/session:" + second["id"].get<std::string>()).status, 200);
}

TEST_F(ControlApiTest, CreateWithABadDomainCreatesNothing) {
  api_.setToken(kToken);
  const uint64_t generation = plane_.generation();
  AdminResponse r =
      call("POST", "/v1/sessions", R"({"environment": "alpha", "domains": ["https://x/"]})");
  EXPECT_EQ(r.status, 400) << r.body;
  Json j = parse(r);
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("do not compile"));
  ASSERT_TRUE(j["issues"].is_array());
  ASSERT_FALSE(j["issues"].empty());
  EXPECT_EQ(j["issues"][0]["severity"], "error");
  EXPECT_FALSE(j["issues"][0]["message"].get<std::string>().empty());
  EXPECT_EQ(sessionCount(), 1u);
  EXPECT_EQ(plane_.generation(), generation);
  EXPECT_EQ(plane_.snapshot()->policy->environments().size(), 5u);
}

TEST_F(ControlApiTest, PatchSwitchesEnvironmentLabelsTtlClientsAndDomains) {
  api_.setToken(kToken);
  Json created = create(R"({"environment": "alpha"})");
  const std::string id = created["id"];
  const std::string credential = created["proxy_credential"];
  const std::string own = "session:" + id;

  // Environment only: no compile.
  AdminResponse r = call("PATCH", "/v1/sessions/" + id, R"({"environment": "beta"})");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = parse(r);
  EXPECT_EQ(j["environment"], "beta");
  EXPECT_EQ(j["effective_environment"], "beta");
  EXPECT_EQ(plane_.publishCalls(), 0);
  EXPECT_EQ(environmentFor(id, credential), "beta");

  // Domains added: the session moves to its own environment on top of beta.
  r = call("PATCH", "/v1/sessions/" + id, R"({"domains": ["x.test"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = parse(r);
  EXPECT_EQ(j["environment"], "beta");
  EXPECT_EQ(j["effective_environment"], own);
  EXPECT_EQ(j["domains"], Json::array({"x.test"}));
  ASSERT_EQ(plane_.published().size(), 1u);
  EXPECT_EQ(plane_.published()[0].session_id, id);
  EXPECT_EQ(plane_.published()[0].base, "beta");
  EXPECT_EQ(environmentFor(id, credential), own);
  EXPECT_EQ(explain({{"session", id}, {"url", "x.test"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "other.test"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "a.api.test"}})["decision"], "deny");

  // Base switched while the domains stay: republished on top of alpha.
  r = call("PATCH", "/v1/sessions/" + id, R"({"environment": "alpha"})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = parse(r);
  EXPECT_EQ(j["environment"], "alpha");
  EXPECT_EQ(j["effective_environment"], own);
  ASSERT_EQ(plane_.published().size(), 1u);
  EXPECT_EQ(plane_.published()[0].base, "alpha");
  EXPECT_EQ(explain({{"session", id}, {"url", "a.api.test"}})["decision"], "allow");
  EXPECT_EQ(explain({{"session", id}, {"url", "other.test"}})["decision"], "deny");

  // A bad domain changes nothing.
  const int publishes = plane_.publishCalls();
  r = call("PATCH", "/v1/sessions/" + id, R"({"domains": ["https://x/"]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_FALSE(parse(r)["issues"].empty());
  EXPECT_EQ(plane_.publishCalls(), publishes + 1);
  EXPECT_EQ(environmentOf(id), own);
  EXPECT_EQ(explain({{"session", id}, {"url", "x.test"}})["decision"], "allow");

  // Labels, ttl and clients: no compile.
  r = call("PATCH", "/v1/sessions/" + id,
           R"({"labels": ["ticket:42", "team=web"], "ttl_s": 60, "clients": ["10.2.0.0/16"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = parse(r);
  EXPECT_EQ(plane_.publishCalls(), publishes + 1);
  EXPECT_EQ(j["labels"], Json::array({"ticket:42", "team=web"}));
  EXPECT_EQ(j["clients"], Json::array({"10.2.0.0/16"}));
  EXPECT_EQ(j["authenticates_by"], Json::array({"proxy-authorization", "client-address"}));
  EXPECT_EQ(j["effective_environment"], own);
  std::optional<system_clock::time_point> expires = parseTime(j["expires"]);
  ASSERT_TRUE(expires.has_value()) << j.dump();
  EXPECT_LE(*expires, system_clock::now() + std::chrono::seconds(61));
  EXPECT_GE(*expires, system_clock::now() + std::chrono::seconds(58));
  conn::SessionResult found = identifyFrom("10.2.3.4");
  ASSERT_EQ(found.status, conn::SessionStatus::kIdentified);
  EXPECT_EQ(found.session->labels, (std::vector<std::string>{"ticket:42", "team=web"}));

  // Domains removed: back to the base, and the own environment goes away.
  r = call("PATCH", "/v1/sessions/" + id, R"({"domains": []})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = parse(r);
  EXPECT_EQ(j["environment"], "alpha");
  EXPECT_EQ(j["effective_environment"], "alpha");
  EXPECT_EQ(j["domains"], Json::array());
  EXPECT_TRUE(plane_.published().empty());
  EXPECT_EQ(call("GET", "/v1/environments/" + own).status, 404);
  // The credential now counts only from the session's clients.
  EXPECT_EQ(environmentFor(id, credential), "(denied)");
  EXPECT_EQ(environmentFor(id, credential, "10.2.0.9"), "alpha");

  // An empty patch changes nothing.
  r = call("PATCH", "/v1/sessions/" + id, "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["labels"], Json::array({"ticket:42", "team=web"}));
}

TEST_F(ControlApiTest, CreateRefusedWhenTheSessionManagerTakesNoDynamicSessions) {
  api_.setToken(kToken);
  plane_.setDynamicSessions(false);
  AdminResponse r = call("POST", "/v1/sessions", R"({"domains": ["x.test"]})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_THAT(parse(r)["error"].get<std::string>(), HasSubstr("session_manager"));
  EXPECT_EQ(sessionCount(), 1u);
  EXPECT_EQ(plane_.publishCalls(), 0);
  // Reads still work.
  EXPECT_EQ(call("GET", "/v1/sessions").status, 200);
}

TEST_F(ControlApiTest, StaticSessionsAreReadOnlyAndUnknownOnesAreNotFound) {
  api_.setToken(kToken);
  AdminResponse r = call("PATCH", "/v1/sessions/static-1", R"({"labels": ["x"]})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_THAT(parse(r)["error"].get<std::string>(), HasSubstr("configuration file"));
  r = call("DELETE", "/v1/sessions/static-1");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(sessionCount(), 1u);
  EXPECT_EQ(call("DELETE", "/v1/sessions/dyn-unknown").status, 404);
  EXPECT_EQ(call("PATCH", "/v1/sessions/dyn-unknown", "{}").status, 404);
  EXPECT_EQ(call("GET", "/v1/sessions/dyn-unknown").status, 404);
}

TEST_F(ControlApiTest, DeleteRemovesTheSessionAndItsEnvironment) {
  api_.setToken(kToken);
  Json keep = create(R"({"domains": ["keep.test"]})");
  Json gone = create(R"({"domains": ["gone.test"]})");
  const std::string id = gone["id"];
  ASSERT_EQ(plane_.published().size(), 2u);
  AdminResponse r = call("DELETE", "/v1/sessions/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["deleted"], id);
  ASSERT_EQ(plane_.published().size(), 1u);
  EXPECT_EQ(plane_.published()[0].session_id, keep["id"]);
  EXPECT_EQ(call("GET", "/v1/sessions/" + id).status, 404);
  EXPECT_EQ(call("GET", "/v1/environments/session:" + id).status, 404);
  EXPECT_EQ(call("GET", "/v1/environments/session:" + keep["id"].get<std::string>()).status, 200);
  EXPECT_EQ(identifyBy(id, gone["proxy_credential"].get<std::string>()).status,
            conn::SessionStatus::kDenied);
  EXPECT_EQ(call("DELETE", "/v1/sessions/" + id).status, 404);

  // Without domains, a delete compiles nothing.
  Json plain = create("{}");
  const int publishes = plane_.publishCalls();
  EXPECT_EQ(call("DELETE", "/v1/sessions/" + plain["id"].get<std::string>()).status, 200);
  EXPECT_EQ(plane_.publishCalls(), publishes);
}

// ---- git bindings ------------------------------------------------------------------------

// A POST/PATCH "git" object with the canary token inline.
std::string gitBody(const std::string& repos, const std::string& extra = "",
                    const char* token = kCanaryToken) {
  return R"({"git": {"repos": )" + repos + R"(, "push_branch": "claude/task-1")" + extra +
         R"(, "token": ")" + token + R"("}})";
}

class ControlApiGitTest : public ControlApiTest {
 protected:
  gitproxy::GrantResult grant(const std::string& credential) {
    return plane_.sessions().grantFor("Bearer " + credential, std::nullopt, system_clock::now());
  }
  // Every read the API offers, none of which may show a secret.
  void expectNoSecretIn(const std::string& id, const std::vector<std::string>& secrets) {
    for (const std::string& target :
         {std::string("/v1/sessions"), "/v1/sessions/" + id, std::string("/metrics"),
          std::string("/v1/decisions"), std::string("/v1/environments")}) {
      AdminResponse r = call("GET", target);
      EXPECT_EQ(r.status, 200) << target;
      EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kCanaryToken))) << target;
      EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kOtherToken))) << target;
      EXPECT_THAT(r.body, ::testing::Not(HasSubstr(gitproxy::kGitCredentialPrefix))) << target;
      if (target.starts_with("/v1/sessions")) {
        EXPECT_THAT(r.body, ::testing::Not(HasSubstr("credential"))) << target;
      }
      for (const std::string& secret : secrets) {
        EXPECT_THAT(r.body, ::testing::Not(HasSubstr(secret))) << target;
        EXPECT_THAT(r.body, ::testing::Not(HasSubstr(hex(SessionStore::sha256(secret))))) << target;
      }
    }
  }
};

TEST_F(ControlApiGitTest, CreateReturnsTheGitCredentialOnce) {
  api_.setToken(kToken);
  AdminResponse r = call("POST", "/v1/sessions",
                         gitBody(R"(["Octo/Hello", "octo/docs:read"])",
                                 R"(, "extra_branches": ["claude/task-1-fixup"])"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kCanaryToken)));
  Json j = parse(r);
  const std::string id = j["id"];
  const std::string credential = j["git_credential"];
  EXPECT_THAT(credential, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
  EXPECT_NE(credential, j["proxy_credential"]);

  gitproxy::GrantResult g = grant(credential);
  ASSERT_EQ(g.status, gitproxy::GrantStatus::kGranted) << g.reason;
  EXPECT_EQ(g.grant->session_id, id);
  ASSERT_NE(g.grant->token, nullptr);
  EXPECT_EQ(g.grant->token->view(), kCanaryToken);
  EXPECT_NE(g.grant->find("octo", "hello"), nullptr);
  EXPECT_EQ(g.grant->extra_branches, std::vector<std::string>{"claude/task-1-fixup"});

  // GET shows the binding, never the token or the credential.
  Json shown = parse(call("GET", "/v1/sessions/" + id));
  EXPECT_EQ(shown["git"], (Json{{"repos", {"octo/hello", "octo/docs:read"}},
                                {"push_branch", "claude/task-1"},
                                {"extra_branches", {"claude/task-1-fixup"}},
                                {"token", "set"}}))
      << shown.dump();
  expectNoSecretIn(id, {credential, j["proxy_credential"]});
  // Sessions without a binding show git: null.
  Json plain = create("{}");
  EXPECT_TRUE(
      parse(call("GET", "/v1/sessions/" + plain["id"].get<std::string>()))["git"].is_null());
  EXPECT_FALSE(plain.contains("git_credential"));
}

TEST_F(ControlApiGitTest, CreateWithATokenFile) {
  api_.setToken(kToken);
  Json j =
      create(R"({"git": {"repos": ["o/r:read"], "token_file": ")" + goodTokenFile() + R"("}})");
  gitproxy::GrantResult g = grant(j["git_credential"]);
  ASSERT_EQ(g.status, gitproxy::GrantStatus::kGranted) << g.reason;
  EXPECT_EQ(g.grant->token->view(), kCanaryToken);  // the trailing newline removed
  EXPECT_EQ(g.grant->push_branch, "");
  Json shown = parse(call("GET", "/v1/sessions/" + j["id"].get<std::string>()));
  EXPECT_TRUE(shown["git"]["push_branch"].is_null());
  EXPECT_EQ(shown["git"]["token"], "set");
  expectNoSecretIn(j["id"], {j["git_credential"]});
}

TEST_F(ControlApiGitTest, PatchReplacesRotatesAndRemovesTheBinding) {
  api_.setToken(kToken);
  Json j = create(gitBody(R"(["o/old"])"));
  const std::string id = j["id"];
  const std::string first = j["git_credential"];

  // New scope and token: the credential stays, and is not shown again.
  AdminResponse r =
      call("PATCH", "/v1/sessions/" + id,
           R"({"git": {"repos": ["o/new:read"], "token": ")" + std::string(kOtherToken) + R"("}})");
  ASSERT_EQ(r.status, 200) << r.body;
  Json patched = parse(r);
  EXPECT_FALSE(patched.contains("git_credential"));
  EXPECT_EQ(patched["git"]["repos"], Json::array({"o/new:read"}));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kOtherToken)));
  gitproxy::GrantResult g = grant(first);
  ASSERT_EQ(g.status, gitproxy::GrantStatus::kGranted);
  EXPECT_EQ(g.grant->find("o", "old"), nullptr);
  EXPECT_NE(g.grant->find("o", "new"), nullptr);
  EXPECT_EQ(g.grant->token->view(), kOtherToken);

  // Rotation: the new credential once, the old one refused at once.
  r = call("PATCH", "/v1/sessions/" + id,
           R"({"git": {"repos": ["o/new:read"], "rotate_credential": true, "token": ")" +
               std::string(kOtherToken) + R"("}})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string second = parse(r)["git_credential"];
  EXPECT_THAT(second, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
  EXPECT_NE(second, first);
  EXPECT_EQ(grant(first).status, gitproxy::GrantStatus::kDenied);
  EXPECT_EQ(grant(second).status, gitproxy::GrantStatus::kGranted);
  expectNoSecretIn(id, {first, second});

  // A PATCH without git keeps the binding; the grant follows the session's labels.
  ASSERT_EQ(call("PATCH", "/v1/sessions/" + id, R"({"labels": ["ticket:9"]})").status, 200);
  g = grant(second);
  ASSERT_EQ(g.status, gitproxy::GrantStatus::kGranted);
  EXPECT_EQ(g.grant->labels, std::vector<std::string>{"ticket:9"});

  // "git": null removes the binding and its credential.
  std::weak_ptr<const gitproxy::Secret> token = g.grant->token;
  g = {};
  r = call("PATCH", "/v1/sessions/" + id, R"({"git": null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(parse(r)["git"].is_null());
  EXPECT_EQ(grant(second).status, gitproxy::GrantStatus::kDenied);
  EXPECT_TRUE(token.expired());

  // Binding git to a session without one issues a credential, shown in that answer.
  r = call("PATCH", "/v1/sessions/" + id, gitBody(R"(["o/again"])"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string third = parse(r)["git_credential"];
  EXPECT_THAT(third, StartsWith(std::string(gitproxy::kGitCredentialPrefix)));
  EXPECT_EQ(grant(third).status, gitproxy::GrantStatus::kGranted);
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kCanaryToken)));
  expectNoSecretIn(id, {first, second, third});
}

TEST_F(ControlApiGitTest, DeleteDropsTheTokenAndTheCredential) {
  api_.setToken(kToken);
  Json j = create(gitBody(R"(["o/r"])"));
  const std::string id = j["id"];
  std::weak_ptr<const gitproxy::Secret> token = grant(j["git_credential"]).grant->token;
  ASSERT_FALSE(token.expired());
  ASSERT_EQ(call("DELETE", "/v1/sessions/" + id).status, 200);
  EXPECT_TRUE(token.expired());  // wiped by the Secret's destructor
  EXPECT_EQ(grant(j["git_credential"]).status, gitproxy::GrantStatus::kDenied);
}

TEST_F(ControlApiGitTest, StaticSessionsShowTheirBinding) {
  api_.setToken(kToken);
  const std::string credential = std::string(gitproxy::kGitCredentialPrefix) + "static";
  plane_.setConfigText(std::string(kConfig) +
                       "\n[[sessions]]\nid = \"static-git\"\nclients = [\"10.9.0.0/16\"]\n"
                       "[sessions.git]\nrepos = [\"org/repo\"]\npush_branch = \"main-work\"\n"
                       "token_file = \"" +
                       goodTokenFile() + "\"\nscoped_credential_sha256 = \"" +
                       hex(SessionStore::sha256(credential)) + "\"\n");
  AdminResponse r = call("POST", "/v1/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  Json shown = parse(call("GET", "/v1/sessions/static-git"));
  EXPECT_EQ(shown["dynamic"], false);
  EXPECT_EQ(shown["git"], (Json{{"repos", {"org/repo"}},
                                {"push_branch", "main-work"},
                                {"extra_branches", Json::array()},
                                {"token", "set"}}))
      << shown.dump();
  expectNoSecretIn("static-git", {credential});
  EXPECT_EQ(plane_.sessions()
                .grantFor("Bearer " + credential,
                          net::SocketAddress{*policy::IpAddress::parse("10.9.0.1"), 1},
                          system_clock::now())
                .grant->token->view(),
            kCanaryToken);
  // A static session's binding is changed in the file, not through the API.
  EXPECT_EQ(call("PATCH", "/v1/sessions/static-git", R"({"git": null})").status, 409);
}

struct BadBodyRow {
  const char* reason;
  std::string body;
  const char* error;  // a substring of the error
};
void PrintTo(const BadBodyRow& row, std::ostream* os) { *os << row.reason; }

std::string labelsOf(size_t count) {
  std::string out = R"({"labels": [)";
  for (size_t i = 0; i < count; ++i) out += (i == 0 ? "\"l" : ", \"l") + std::to_string(i) + "\"";
  return out + "]}";
}

const BadBodyRow kBadBodies[] = {
    {"invalid JSON", "{", "not valid JSON"},
    {"empty body", "", "not valid JSON"},
    {"trailing garbage", "{} x", "not valid JSON"},
    {"invalid UTF-8", "{\"labels\": [\"\xff\"]}", "not valid JSON"},
    {"an array", "[]", "JSON object"},
    {"a string", "\"environment\"", "JSON object"},
    {"null", "null", "JSON object"},
    {"a number", "1", "JSON object"},
    {"unknown field", R"({"envirnoment": "alpha"})", "unknown field"},
    {"unknown field with control bytes", "{\"a\\u0000\\n\": 1}", "unknown field"},
    {"credential is not settable", R"({"proxy_credential": "gatehouse_pc_x"})", "unknown field"},
    {"id is not settable", R"({"id": "mine"})", "unknown field"},
    // git bindings (the repo and branch words are the config loader's)
    {"git a string", R"({"git": "o/r"})", "'git' must be an object"},
    {"git an array", R"({"git": [1]})", "'git' must be an object"},
    {"git unknown key", R"({"git": {"repos": [], "token": "t", "tokn": "x"}})",
     "unknown field 'git.tokn'"},
    {"git both token and token_file", R"({"git": {"repos": [], "token": "t", "token_file": "/x"}})",
     "exactly one of 'token'"},
    {"git neither token nor token_file", R"({"git": {"repos": ["o/r:read"]}})",
     "exactly one of 'token'"},
    {"git without repos", R"({"git": {"token": "t"}})", "'git.repos' is required"},
    {"git repos not an array", R"({"git": {"repos": "o/r", "token": "t"}})",
     "'repos' must be an array of strings"},
    {"git repos with a number", R"({"git": {"repos": [1], "token": "t"}})",
     "'repos' must be an array of strings"},
    {"git repo without slash", R"({"git": {"repos": ["org"], "token": "t"}})",
     "git repo 'org' is not of the form owner/repo"},
    {"git repo with an unknown mode", R"({"git": {"repos": ["o/r:write"], "token": "t"}})",
     "has an unknown access mode 'write'"},
    {"git repo with a bad owner", R"({"git": {"repos": ["my_org/r:read"], "token": "t"}})",
     "has an invalid owner 'my_org'"},
    {"git duplicate repos, case-insensitive",
     R"({"git": {"repos": ["Org/Repo:read", "org/repo:read"], "token": "t"}})",
     "git repo 'org/repo:read' is listed twice"},
    {"git too many repos",
     [] {
       std::string repos;
       for (int i = 0; i <= 256; ++i)
         repos += (i ? ",\"o/r" : "\"o/r") + std::to_string(i) + ":read\"";
       return R"({"git": {"token": "t", "repos": [)" + repos + "]}}";
     }(),
     "more than 256"},
    {"git pushable repo without push_branch", R"({"git": {"repos": ["o/r"], "token": "t"}})",
     "has pushable repos but no push_branch"},
    {"git bad push_branch", R"({"git": {"repos": ["o/r"], "push_branch": "a..b", "token": "t"}})",
     "git push_branch 'a..b' contains '..'"},
    {"git push_branch a number", R"({"git": {"repos": ["o/r"], "push_branch": 1, "token": "t"}})",
     "'git.push_branch' must be a string"},
    {"git bad extra branch",
     R"({"git": {"repos": [], "push_branch": "b", "extra_branches": ["x", "refs/heads/y"], "token": "t"}})",
     "git extra branch 'refs/heads/y'"},
    {"git extra branch equal to push_branch",
     R"({"git": {"repos": [], "push_branch": "b", "extra_branches": ["b"], "token": "t"}})",
     "git branch 'b' is listed twice"},
    {"git rotate_credential a string",
     R"({"git": {"repos": [], "token": "t", "rotate_credential": "yes"}})",
     "'git.rotate_credential' must be true or false"},
    {"git token a number", R"({"git": {"repos": [], "token": 12345}})",
     "'git.token' must be a string"},
    {"git token null", R"({"git": {"repos": [], "token": null}})", "'git.token' must be a string"},
    {"git token empty", R"({"git": {"repos": [], "token": ""}})", "'git.token' is empty"},
    {"git token with a newline",
     std::string(R"({"git": {"repos": [], "token": ")") + kCanaryToken + R"(\n"}})",
     "'git.token' holds spaces, control characters"},
    {"git token with a space",
     std::string(R"({"git": {"repos": [], "token": "a )") + kCanaryToken + R"("}})",
     "'git.token' holds spaces"},
    {"git token too long",
     R"({"git": {"repos": [], "token": ")" + std::string(4097, 't') + R"("}})",
     "'git.token' is longer than 4096 bytes"},
    {"git token_file empty", R"({"git": {"repos": [], "token_file": ""}})",
     "'git.token_file' must be a non-empty string"},
    {"git token_file a number", R"({"git": {"repos": [], "token_file": 3}})",
     "'git.token_file' must be a non-empty string"},
    {"git token_file missing",
     R"({"git": {"repos": [], "token_file": "/nonexistent/gatehouse/token"}})",
     "git token_file '/nonexistent/gatehouse/token' cannot be read"},
    {"git token_file readable by others",
     R"({"git": {"repos": [], "token_file": ")" + openTokenFile() + R"("}})",
     "is readable or writable by group or others (mode 0644); chmod 600"},
    {"environment a number", R"({"environment": 1})", "'environment' must be a string"},
    {"environment null", R"({"environment": null})", "'environment' must be a string"},
    {"unknown environment", R"({"environment": "gamma"})", "no environment 'gamma'"},
    {"empty environment", R"({"environment": ""})", "no environment"},
    {"a session environment", R"({"environment": "session:x"})", "no environment"},
    {"a session environment that exists", R"({"environment": "session:static-1"})",
     "no environment"},
    {"domains a string", R"({"domains": "a.test"})", "'domains' must be an array of strings"},
    {"domains with a number", R"({"domains": [1]})", "'domains' must be an array of strings"},
    {"labels a string", R"({"labels": "team=web"})", "'labels' must be an array of strings"},
    {"labels with null", R"({"labels": [null]})", "'labels' must be an array of strings"},
    {"label with a space", R"({"labels": ["team web"]})", "a label must be"},
    {"empty label", R"({"labels": [""]})", "a label must be"},
    {"label with a quote", R"({"labels": ["a\"b"]})", "a label must be"},
    {"label with a newline", R"({"labels": ["a\nb"]})", "a label must be"},
    {"label non-ASCII", R"({"labels": ["caf\u00e9"]})", "a label must be"},
    {"label of 65 characters", R"({"labels": [")" + std::string(65, 'x') + "\"]}",
     "a label must be"},
    {"17 labels", labelsOf(17), "more than 16"},
    {"clients a string", R"({"clients": "10.0.0.0/8"})", "'clients' must be an array of strings"},
    {"client prefix too long", R"({"clients": ["10.0.0.0/33"]})", "not an address or CIDR"},
    {"client a host name", R"({"clients": ["example.com"]})", "not an address or CIDR"},
    {"client empty", R"({"clients": [""]})", "not an address or CIDR"},
    {"ttl zero", R"({"ttl_s": 0})", "'ttl_s' must be an integer from 1"},
    {"ttl negative", R"({"ttl_s": -5})", "'ttl_s' must be an integer from 1"},
    {"ttl over a year", R"({"ttl_s": )" + std::to_string(ControlApi::kMaxTtlSeconds + 1) + "}",
     "'ttl_s' must be an integer from 1"},
    {"ttl huge", R"({"ttl_s": 18446744073709551615})", "'ttl_s' must be an integer from 1"},
    {"ttl fractional", R"({"ttl_s": 1.5})", "'ttl_s' must be an integer from 1"},
    {"ttl a string", R"({"ttl_s": "60"})", "'ttl_s' must be an integer from 1"},
    {"ttl null", R"({"ttl_s": null})", "'ttl_s' must be an integer from 1"},
    {"ttl a boolean", R"({"ttl_s": true})", "'ttl_s' must be an integer from 1"},
};

class ControlApiBadBodyTest : public ControlApiTest,
                              public ::testing::WithParamInterface<BadBodyRow> {};

TEST_P(ControlApiBadBodyTest, PostIsRefusedAndCreatesNothing) {
  const BadBodyRow& row = GetParam();
  api_.setToken(kToken);
  AdminResponse r = call("POST", "/v1/sessions", row.body);
  EXPECT_EQ(r.status, 400) << testing_text::printable(r.body);
  Json j = parse(r);
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr(row.error));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kCanaryToken)));
  EXPECT_EQ(sessionCount(), 1u);
  EXPECT_EQ(plane_.publishCalls(), 0);
}

TEST_P(ControlApiBadBodyTest, PatchIsRefusedAndChangesNothing) {
  const BadBodyRow& row = GetParam();
  api_.setToken(kToken);
  Json created = create(R"({"environment": "alpha", "labels": ["keep"], "domains": ["k.test"]})");
  const std::string id = created["id"];
  const std::string before = call("GET", "/v1/sessions/" + id).body;
  const int publishes = plane_.publishCalls();
  AdminResponse r = call("PATCH", "/v1/sessions/" + id, row.body);
  EXPECT_EQ(r.status, 400) << testing_text::printable(r.body);
  Json j = parse(r);
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr(row.error));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr(kCanaryToken)));
  EXPECT_EQ(call("GET", "/v1/sessions/" + id).body, before);
  EXPECT_EQ(plane_.publishCalls(), publishes);
}

INSTANTIATE_TEST_SUITE_P(Rows, ControlApiBadBodyTest, ::testing::ValuesIn(kBadBodies),
                         [](const ::testing::TestParamInfo<BadBodyRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST_F(ControlApiTest, BoundsAreAccepted) {
  api_.setToken(kToken);
  Json j = create(R"({"ttl_s": )" + std::to_string(ControlApi::kMaxTtlSeconds) +
                  R"(, "labels": [")" + std::string(64, 'x') + R"("]})");
  EXPECT_TRUE(j["expires"].is_string());
  create(labelsOf(16));
  create(R"({"ttl_s": 1, "environment": "default", "clients": ["2001:db8::/32", "10.9.9.9"]})");
  EXPECT_EQ(sessionCount(), 4u);
}

// ---- explain ------------------------------------------------------------------------------

struct ExplainRow {
  const char* reason;
  const char* body;
  int status;
  const char* decision;         // "" when the call fails
  const char* reason_code;      // the "reason" field ("" when the call fails)
  const char* policy_decision;  // nullptr: not checked
};
void PrintTo(const ExplainRow& row, std::ostream* os) { *os << row.reason; }

class ControlApiExplainTest : public ControlApiTest,
                              public ::testing::WithParamInterface<ExplainRow> {};

TEST_P(ControlApiExplainTest, Explains) {
  const ExplainRow& row = GetParam();
  AdminResponse r = call("POST", "/v1/explain", row.body);
  EXPECT_EQ(r.status, row.status) << r.body;
  Json j = parse(r);
  if (row.status != 200) {
    EXPECT_TRUE(j.contains("error")) << r.body;
    EXPECT_FALSE(j.contains("decision")) << r.body;
    return;
  }
  EXPECT_EQ(j.value("decision", ""), row.decision) << r.body;
  EXPECT_EQ(j.value("reason", ""), row.reason_code) << r.body;
  if (row.policy_decision != nullptr) {
    EXPECT_EQ(j.value("policy_decision", ""), row.policy_decision) << r.body;
  }
  EXPECT_TRUE(j["why"].is_string()) << r.body;
}

const ExplainRow kExplainRows[] = {
    {"default environment when none is named", R"({"url": "https://origin.test/"})", 200, "deny",
     "address-denied", "deny"},
    {"allowed by alpha", R"({"environment": "alpha", "url": "https://a.api.test/x"})", 200, "allow",
     "allow-listed", "allow"},
    {"HOST:PORT form", R"({"environment": "alpha", "url": "a.api.test:443"})", 200, "allow",
     "allow-listed", "allow"},
    {"HOST form defaults to 443", R"({"environment": "alpha", "url": "a.api.test"})", 200, "allow",
     "allow-listed", "allow"},
    {"port not allowed", R"({"environment": "alpha", "url": "a.api.test:8443"})", 200, "deny",
     "port-not-allowed", "deny"},
    {"not on alpha's list", R"({"environment": "alpha", "url": "https://other.test/"})", 200,
     "deny", "host-not-allowed", "deny"},
    {"method given", R"({"environment": "beta", "method": "CONNECT", "url": "other.test:443"})",
     200, "allow", "allow-listed", "allow"},
    {"report mode lets a denial through",
     R"({"environment": "trial", "url": "https://blocked.test/"})", 200, "allow",
     "host-not-allowed", "deny"},
    {"report mode, allowed", R"({"environment": "trial", "url": "https://t.test/"})", 200, "allow",
     "allow-listed", "allow"},
    {"shadowed environment", R"({"environment": "shadowed", "url": "https://s.test/"})", 200,
     "allow", "allow-listed", "allow"},
    {"static session", R"({"session": "static-1", "url": "https://a.api.test/"})", 200, "allow",
     "allow-listed", "allow"},
    {"static session, denied", R"({"session": "static-1", "url": "https://other.test/"})", 200,
     "deny", "host-not-allowed", "deny"},
    {"malformed URL", R"({"environment": "alpha", "url": "http://exa mple.test/"})", 200, "deny",
     "malformed-target", nullptr},
    {"empty URL", R"({"url": ""})", 200, "deny", "malformed-target", nullptr},
    {"unsupported scheme", R"({"url": "ftp://a.api.test/"})", 200, "deny", "malformed-target",
     nullptr},
    {"unknown session", R"({"session": "nope", "url": "a.api.test"})", 404, "", "", nullptr},
    {"unknown environment", R"({"environment": "gamma", "url": "a.api.test"})", 404, "", "",
     nullptr},
    {"both session and environment",
     R"({"session": "static-1", "environment": "alpha", "url": "a.api.test"})", 400, "", "",
     nullptr},
    {"missing url", R"({"environment": "alpha"})", 400, "", "", nullptr},
    {"url not a string", R"({"url": 1})", 400, "", "", nullptr},
    {"environment not a string", R"({"environment": ["alpha"], "url": "a.api.test"})", 400, "", "",
     nullptr},
    {"unknown field", R"({"url": "a.api.test", "verbose": "yes"})", 400, "", "", nullptr},
    {"not an object", R"(["a.api.test"])", 400, "", "", nullptr},
    {"invalid JSON", R"({"url": )", 400, "", "", nullptr},
    {"empty body", "", 400, "", "", nullptr},
};

INSTANTIATE_TEST_SUITE_P(Rows, ControlApiExplainTest, ::testing::ValuesIn(kExplainRows),
                         [](const ::testing::TestParamInfo<ExplainRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST_F(ControlApiTest, ExplainDetails) {
  // An allow names its rule and the environment with its version.
  Json j = explain({{"environment", "alpha"}, {"url", "https://a.api.test/"}});
  EXPECT_THAT(j["environment"].get<std::string>(), StartsWith("alpha@"));
  EXPECT_EQ(j["level"], "custom");
  EXPECT_EQ(j["mode"], "enforce");
  EXPECT_EQ(j["generation"], plane_.generation());
  EXPECT_EQ(j["destination"], "a.api.test:443");
  EXPECT_THAT(j["rule"].get<std::string>(), HasSubstr("a.api.test"));
  EXPECT_FALSE(j.contains("how_to_allow"));
  EXPECT_FALSE(j.contains("shadow"));
  EXPECT_FALSE(j.contains("report_mode"));
  EXPECT_FALSE(j.contains("session"));
  EXPECT_EQ(j["addresses"], Json::array());

  // A denial says how to allow it.
  j = explain({{"environment", "alpha"}, {"url", "https://other.test/"}});
  EXPECT_TRUE(j["how_to_allow"].is_string()) << j.dump();

  // Static answers go through the address guard.
  j = explain({{"url", "https://origin.test/"}});
  ASSERT_EQ(j["addresses"].size(), 1u) << j.dump();
  EXPECT_EQ(j["addresses"][0]["address"], "127.0.0.1");
  EXPECT_EQ(j["addresses"][0]["decision"], "deny");

  // Report mode: allowed by the proxy, denied by the policy, and said so.
  j = explain({{"environment", "trial"}, {"url", "https://blocked.test/"}});
  EXPECT_EQ(j["mode"], "report");
  EXPECT_EQ(j["decision"], "allow");
  EXPECT_EQ(j["policy_decision"], "deny");
  EXPECT_TRUE(j["report_mode"].is_string()) << j.dump();

  // The shadow's decision beside the enforced one, both ways.
  j = explain({{"environment", "shadowed"}, {"url", "https://s.test/"}});
  ASSERT_TRUE(j.contains("shadow")) << j.dump();
  EXPECT_THAT(j["shadow"]["environment"].get<std::string>(), StartsWith("beta@"));
  EXPECT_EQ(j["shadow"]["decision"], "deny");
  EXPECT_EQ(j["shadow"]["reason"], "host-not-allowed");
  j = explain({{"environment", "shadowed"}, {"url", "https://other.test/"}});
  EXPECT_EQ(j["decision"], "deny");
  EXPECT_EQ(j["shadow"]["decision"], "allow");
  EXPECT_EQ(j["shadow"]["reason"], "allow-listed");

  // A session names itself and decides in its environment.
  j = explain({{"session", "static-1"}, {"url", "a.api.test"}});
  EXPECT_EQ(j["session"], "static-1");
  EXPECT_THAT(j["environment"].get<std::string>(), StartsWith("alpha@"));
}

TEST_F(ControlApiTest, ExplainAnExpiredSession) {
  NewSession old;
  old.id = "old";
  old.environment = "alpha";
  old.expires = system_clock::now() - std::chrono::seconds(1);
  ASSERT_TRUE(plane_.sessions().add(old).ok);
  Json j = explain({{"session", "old"}, {"url", "https://a.api.test/"}});
  EXPECT_EQ(j["session"], "old");
  EXPECT_EQ(j["decision"], "deny");
  EXPECT_EQ(j["reason"], "session-expired");
  EXPECT_THAT(j["why"].get<std::string>(), HasSubstr("407"));
  // The list says so too.
  Json view = parse(call("GET", "/v1/sessions/old"));
  EXPECT_EQ(view["expired"], true);
}

// ---- decisions ----------------------------------------------------------------------------

common::DecisionRecord record(const std::string& session, const std::string& host) {
  common::DecisionRecord r;
  r.time = system_clock::now();
  r.kind = "connect";
  r.client = "10.0.0.1:40000";
  r.session = session;
  r.environment = "alpha@v1";
  r.method = "CONNECT";
  r.host = host;
  r.port = 443;
  r.decision = "allow";
  r.reason = "allow-listed";
  r.rule = "domains:" + host;
  r.status = 200;
  return r;
}

TEST_F(ControlApiTest, DecisionsNewestFirstBySession) {
  plane_.log().write(record("a", "1.test"));
  plane_.log().write(record("b", "2.test"));
  plane_.log().write(record("a", "3.test"));
  plane_.log().write(record("a b/c", "4.test"));

  AdminResponse r = call("GET", "/v1/decisions?session=a&limit=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  Json j = parse(r);
  EXPECT_EQ(j["capacity"], 50);
  ASSERT_EQ(j["decisions"].size(), 1u) << r.body;
  EXPECT_EQ(j["decisions"][0]["session"], "a");
  EXPECT_EQ(j["decisions"][0]["host"], "3.test");

  j = parse(call("GET", "/v1/decisions?session=a"));
  ASSERT_EQ(j["decisions"].size(), 2u);
  EXPECT_EQ(j["decisions"][0]["host"], "3.test");
  EXPECT_EQ(j["decisions"][1]["host"], "1.test");

  j = parse(call("GET", "/v1/decisions?limit=2&session=b"));
  ASSERT_EQ(j["decisions"].size(), 1u);
  EXPECT_EQ(j["decisions"][0]["host"], "2.test");

  j = parse(call("GET", "/v1/decisions"));
  ASSERT_EQ(j["decisions"].size(), 4u);
  EXPECT_EQ(j["decisions"][0]["host"], "4.test");
  EXPECT_EQ(j["decisions"][3]["host"], "1.test");

  // Percent-encoded and form-encoded values are decoded.
  for (const char* query : {"session=a%20b%2Fc", "session=a+b%2fc", "session=a%20b/c"}) {
    j = parse(call("GET", std::string("/v1/decisions?") + query));
    ASSERT_EQ(j["decisions"].size(), 1u) << query;
    EXPECT_EQ(j["decisions"][0]["host"], "4.test") << query;
  }

  // No match, and a limit above the capacity.
  r = call("GET", "/v1/decisions?session=zzz");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(parse(r)["decisions"], Json::array());
  EXPECT_EQ(parse(call("GET", "/v1/decisions?limit=1000000"))["decisions"].size(), 4u);
  // Other parameters are ignored; an empty limit is the default.
  EXPECT_EQ(parse(call("GET", "/v1/decisions?x=1&limit=&session=b"))["decisions"].size(), 1u);
}

TEST_F(ControlApiTest, DecisionsWhenEmpty) {
  AdminResponse r = call("GET", "/v1/decisions");
  ASSERT_EQ(r.status, 200);
  Json j = parse(r);
  EXPECT_EQ(j["capacity"], 50);
  EXPECT_EQ(j["decisions"], Json::array());
}

struct QueryRow {
  const char* reason;
  const char* query;
};
void PrintTo(const QueryRow& row, std::ostream* os) { *os << row.reason; }

class ControlApiDecisionQueryTest : public ControlApiTest,
                                    public ::testing::WithParamInterface<QueryRow> {};

TEST_P(ControlApiDecisionQueryTest, Refused) {
  plane_.log().write(record("a", "1.test"));
  AdminResponse r = call("GET", std::string("/v1/decisions?") + GetParam().query);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(parse(r).contains("error")) << r.body;
}

const QueryRow kBadQueries[] = {
    {"limit zero", "limit=0"},
    {"limit a word", "limit=x"},
    {"limit negative", "limit=-1"},
    {"limit with a sign", "limit=+1"},
    {"limit fractional", "limit=1.5"},
    {"limit with trailing junk", "limit=1x"},
    {"limit with a space", "limit=%201"},
    {"limit overflowing", "limit=99999999999999999999999"},
    {"session with a bad escape", "session=%G1"},
    {"session with a cut escape", "session=a%2"},
    {"session with a lone percent", "session=%"},
    {"limit with a bad escape", "limit=%zz"},
};

INSTANTIATE_TEST_SUITE_P(Rows, ControlApiDecisionQueryTest, ::testing::ValuesIn(kBadQueries),
                         [](const ::testing::TestParamInfo<QueryRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

// ---- reload -------------------------------------------------------------------------------

TEST_F(ControlApiTest, ReloadOkAndFailed) {
  api_.setToken(kToken);
  const uint64_t first = plane_.generation();
  plane_.setConfigText(std::string(kConfig) + "\n[environments.gamma]\nlevel = \"none\"\n");
  AdminResponse r = call("POST", "/v1/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = parse(r);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["generation"], first + 1);
  EXPECT_EQ(j["issues"], Json::array());
  EXPECT_EQ(plane_.reloadCalls(), 1);
  EXPECT_EQ(call("GET", "/v1/environments/gamma").status, 200);
  EXPECT_EQ(parse(call("GET", "/v1/environments"))["generation"], first + 1);

  // A broken file: 422 with positioned issues; the running generation stays.
  plane_.setConfigText(std::string(kConfig) + "\n[environments.delta]\nlevle = \"none\"\n");
  r = call("POST", "/v1/reload");
  EXPECT_EQ(r.status, 422) << r.body;
  j = parse(r);
  EXPECT_EQ(j["generation"], first + 1);
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("stays in force"));
  ASSERT_FALSE(j["issues"].empty()) << r.body;
  EXPECT_EQ(j["issues"][0]["severity"], "error");
  EXPECT_THAT(j["issues"][0]["message"].get<std::string>(), HasSubstr("levle"));
  EXPECT_THAT(j["issues"][0]["at"].get<std::string>(), StartsWith("test.toml:"));
  EXPECT_EQ(plane_.reloadCalls(), 2);
  EXPECT_EQ(plane_.generation(), first + 1);
  EXPECT_EQ(call("GET", "/v1/environments/gamma").status, 200);
  EXPECT_EQ(call("GET", "/v1/environments/delta").status, 404);

  // A policy error (not a shape error) fails the same way.
  plane_.setConfigText(std::string(kConfig) + "\n[environments.delta]\nshadow = \"nowhere\"\n");
  r = call("POST", "/v1/reload");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(parse(r)["generation"], first + 1);
  EXPECT_EQ(plane_.generation(), first + 1);
}

TEST_F(ControlApiTest, ReloadKeepsDynamicSessionEnvironments) {
  api_.setToken(kToken);
  Json j = create(R"({"domains": ["kept.test"]})");
  ASSERT_EQ(call("POST", "/v1/reload").status, 200);
  EXPECT_EQ(call("GET", "/v1/environments/session:" + j["id"].get<std::string>()).status, 200);
  EXPECT_EQ(explain({{"session", j["id"]}, {"url", "kept.test"}})["decision"], "allow");
}

// ---- metrics ------------------------------------------------------------------------------

TEST_F(ControlApiTest, MetricsArePrometheusTextWithLiveSessions) {
  AdminResponse r = call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("# TYPE gatehouse_sessions_active gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("\ngatehouse_sessions_active 1\n"));  // static-1
  EXPECT_THAT(r.body, HasSubstr("# TYPE gatehouse_requests_total counter\n"));
  EXPECT_EQ(r.body.front(), '#');

  api_.setToken(kToken);
  create("{}");
  create(R"({"ttl_s": 60})");
  NewSession old;
  old.id = "old";
  old.expires = system_clock::now() - std::chrono::seconds(1);
  ASSERT_TRUE(plane_.sessions().add(old).ok);  // expired: not active
  r = call("GET", "/metrics", "", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("\ngatehouse_sessions_active 3\n"));
}

// ---- environments -------------------------------------------------------------------------

TEST_F(ControlApiTest, EnvironmentsListEveryEnvironment) {
  AdminResponse r = call("GET", "/v1/environments");
  ASSERT_EQ(r.status, 200);
  Json j = parse(r);
  EXPECT_EQ(j["generation"], plane_.generation());
  EXPECT_TRUE(j["trusted_list_version"].is_string());
  struct Want {
    const char* name;
    const char* mode;
    const char* shadow;
  };
  const Want want[] = {{"default", "enforce", nullptr},
                       {"alpha", "enforce", nullptr},
                       {"beta", "enforce", nullptr},
                       {"trial", "report", nullptr},
                       {"shadowed", "enforce", "beta"}};
  ASSERT_EQ(j["environments"].size(), std::size(want)) << r.body;
  for (size_t i = 0; i < std::size(want); ++i) {
    const Json& e = j["environments"][i];
    EXPECT_EQ(e["name"], want[i].name);
    EXPECT_TRUE(e["version"].is_string() && !e["version"].get<std::string>().empty()) << e.dump();
    EXPECT_EQ(e["tag"], std::string(want[i].name) + "@" + e["version"].get<std::string>());
    EXPECT_EQ(e["level"], "custom");
    EXPECT_EQ(e["mode"], want[i].mode) << want[i].name;
    if (want[i].shadow != nullptr) {
      EXPECT_EQ(e["shadow"], want[i].shadow);
    } else {
      EXPECT_TRUE(e["shadow"].is_null()) << e.dump();
    }
    EXPECT_EQ(e["entries"], 1);
  }
  // Versions differ where the policies do.
  EXPECT_NE(j["environments"][1]["version"], j["environments"][2]["version"]);
}

TEST_F(ControlApiTest, OneEnvironmentWithItsLists) {
  AdminResponse r = call("GET", "/v1/environments/alpha");
  ASSERT_EQ(r.status, 200);
  Json j = parse(r);
  EXPECT_EQ(j["name"], "alpha");
  EXPECT_EQ(j["level"], "custom");
  EXPECT_EQ(j["include_trusted"], false);
  EXPECT_EQ(j["ports"], Json::array({80, 443}));
  EXPECT_EQ(j["generation"], plane_.generation());
  EXPECT_EQ(j["lists"]["deny"], Json::array());
  EXPECT_EQ(j["lists"]["always_allow"], Json::array());
  ASSERT_EQ(j["lists"]["allow"].size(), 1u) << r.body;
  const Json& entry = j["lists"]["allow"][0];
  EXPECT_EQ(entry["entry"], "a.api.test");
  EXPECT_THAT(entry["rule"].get<std::string>(), HasSubstr("a.api.test"));
  EXPECT_THAT(entry["origin"].get<std::string>(), HasSubstr("alpha"));
  EXPECT_THAT(entry["at"].get<std::string>(), StartsWith("test.toml:"));

  EXPECT_EQ(parse(call("GET", "/v1/environments/shadowed"))["shadow"], "beta");
  EXPECT_EQ(parse(call("GET", "/v1/environments/trial"))["mode"], "report");
  r = call("GET", "/v1/environments/gamma");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(parse(r)["error"], "no such environment");
}

// ---- loadAdminToken -----------------------------------------------------------------------

struct TokenRow {
  const char* reason;
  std::string content;
  mode_t mode;
  bool ok;
  std::string token;    // when ok
  const char* warning;  // substring; nullptr: none
};
void PrintTo(const TokenRow& row, std::ostream* os) { *os << row.reason; }

const std::string kSixteen = "0123456789abcdef";

const TokenRow kTokenRows[] = {
    {"trailing newline trimmed", kSixteen + "xyz\n", 0600, true, kSixteen + "xyz", nullptr},
    {"surrounding whitespace trimmed", " \t" + kSixteen + " \r\n\n", 0600, true, kSixteen, nullptr},
    {"exactly 16", kSixteen, 0600, true, kSixteen, nullptr},
    {"exactly 4096", std::string(4096, 'k'), 0600, true, std::string(4096, 'k'), nullptr},
    {"4096 and a newline (as echo writes it)", std::string(4096, 'k') + "\n", 0600, true,
     std::string(4096, 'k'), nullptr},
    {"punctuation is printable", "~!@#$%^&*()_+{}|:<>?-=[];',./`\"\\", 0600, true,
     "~!@#$%^&*()_+{}|:<>?-=[];',./`\"\\", nullptr},
    {"group-readable: a warning", kSixteen + "\n", 0640, true, kSixteen, "chmod 600"},
    {"world-readable: a warning", kSixteen + "\n", 0604, true, kSixteen, "chmod 600"},
    {"owner read-only: no warning", kSixteen + "\n", 0400, true, kSixteen, nullptr},
    {"too short", "0123456789abcde\n", 0600, false, "", nullptr},
    {"empty", "", 0600, false, "", nullptr},
    {"whitespace only", " \n\t\n", 0600, false, "", nullptr},
    {"4096 inside whitespace", "\n\n  " + std::string(4096, 'k') + " \r\n", 0600, true,
     std::string(4096, 'k'), nullptr},
    {"a short token and much trailing whitespace", kSixteen + std::string(5000, '\n'), 0600, true,
     kSixteen, nullptr},
    {"too long", std::string(4097, 'k'), 0600, false, "", nullptr},
    {"too long, with a newline", std::string(4097, 'k') + "\n", 0600, false, "", nullptr},
    {"far too long", std::string(100000, 'k'), 0600, false, "", nullptr},
    {"inner space", "01234567 89abcdef", 0600, false, "", nullptr},
    {"inner newline (two lines)", kSixteen + "\n" + kSixteen + "\n", 0600, false, "", nullptr},
    {"control byte", kSixteen + "\x01" + kSixteen, 0600, false, "", nullptr},
    {"NUL byte", kSixteen + std::string(1, '\0') + kSixteen, 0600, false, "", nullptr},
    {"DEL byte", kSixteen + "\x7f", 0600, false, "", nullptr},
    {"non-ASCII", kSixteen + "\xc3\xa9", 0600, false, "", nullptr},
};

class LoadAdminTokenTest : public ::testing::TestWithParam<TokenRow> {};

TEST_P(LoadAdminTokenTest, Reads) {
  const TokenRow& row = GetParam();
  TempDir dir;
  const std::string path = dir.write("token", row.content, row.mode);
  std::string token = "stale", error, warning = "stale";
  const bool ok = loadAdminToken(path, token, error, warning);
  ASSERT_EQ(ok, row.ok) << error;
  if (row.ok) {
    EXPECT_EQ(token, row.token);
    EXPECT_EQ(error, "");
  } else {
    EXPECT_EQ(token, "");
    EXPECT_THAT(error, HasSubstr(path));
    EXPECT_THAT(error, HasSubstr("16 to 4096 printable characters"));
    // The error never repeats the file's content.
    if (row.content.size() >= 8) {
      EXPECT_THAT(error, ::testing::Not(HasSubstr(row.content.substr(0, 8))));
    }
  }
  if (row.warning != nullptr) {
    EXPECT_THAT(warning, HasSubstr(row.warning));
    EXPECT_THAT(warning, HasSubstr(path));
  } else if (row.ok) {
    EXPECT_EQ(warning, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, LoadAdminTokenTest, ::testing::ValuesIn(kTokenRows),
                         [](const ::testing::TestParamInfo<TokenRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST(LoadAdminToken, MissingFileAndDirectory) {
  TempDir dir;
  std::string token = "stale", error, warning = "stale";
  const std::string missing = dir.path() + "/missing";
  EXPECT_FALSE(loadAdminToken(missing, token, error, warning));
  EXPECT_EQ(token, "");
  EXPECT_EQ(warning, "");
  EXPECT_THAT(error, HasSubstr(missing));
  EXPECT_THAT(error, HasSubstr("cannot be read"));

  error.clear();
  EXPECT_FALSE(loadAdminToken(dir.path(), token, error, warning));
  EXPECT_THAT(error, HasSubstr(dir.path()));
}

TEST(LoadAdminToken, TheLoadedTokenAuthorizes) {
  TempDir dir;
  const std::string path = dir.write("token", std::string(kToken) + "\n");
  std::string token, error, warning;
  ASSERT_TRUE(loadAdminToken(path, token, error, warning)) << error;
  FakePlane plane;
  ControlApi api(plane);
  api.setToken(token);
  AdminRequest r;
  r.method = "GET";
  r.path = "/v1/environments";
  r.authorization = "Bearer " + token;
  EXPECT_EQ(api.handle(r).status, 200);
}

// ---- dynamicSessionEnvironments -----------------------------------------------------------

TEST(DynamicSessionEnvironments, OnlyDynamicSessionsWithDomains) {
  SessionConfig with_domains;
  with_domains.id = "static-domains";
  with_domains.environment = "alpha";
  with_domains.clients = {"10.0.0.0/8"};
  with_domains.domains = {policy::PatternEntry{"static.test", {}}};
  SessionStore store({with_domains});
  EXPECT_TRUE(dynamicSessionEnvironments(store).empty());

  NewSession plain;
  plain.environment = "beta";
  ASSERT_TRUE(store.add(plain).ok);
  NewSession inline_domains;
  inline_domains.id = "dyn-with";
  inline_domains.base_environment = "beta";
  inline_domains.environment = "session:dyn-with";
  inline_domains.domains = {"one.test", "**.two.test"};
  ASSERT_TRUE(store.add(inline_domains).ok);

  std::vector<SessionEnvironmentSpec> specs = dynamicSessionEnvironments(store);
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].session_id, "dyn-with");
  EXPECT_EQ(specs[0].base, "beta");
  ASSERT_EQ(specs[0].domains.size(), 2u);
  EXPECT_EQ(specs[0].domains[0].text, "one.test");
  EXPECT_EQ(specs[0].domains[1].text, "**.two.test");

  store.remove("dyn-with");
  EXPECT_TRUE(dynamicSessionEnvironments(store).empty());
}

}  // namespace
}  // namespace gatehouse::control

namespace gatehouse::control {
namespace {

// Limits: a session's overrides, what is in force with its environment's, and live usage.
TEST_F(ControlApiTest, SessionLimitsAreSetShownAndReplaced) {
  api_.setToken(kToken);
  Json j = create(R"({"environment": "alpha", "limits": {"requests_per_second": 5,
                      "download_budget_bytes": 1000}})");
  const std::string id = j["id"];
  const std::string credential = j["proxy_credential"];
  Json view = parse(call("GET", "/v1/sessions/" + id));
  const Json& limits = view["limits"];
  EXPECT_EQ(limits["overrides"],
            Json({{"requests_per_second", 5}, {"download_budget_bytes", 1000}}));
  EXPECT_EQ(limits["effective"]["requests_per_second"], 5);
  EXPECT_EQ(limits["effective"]["max_tunnels"], 0);         // no limit
  EXPECT_EQ(limits["effective"]["budget_window_s"], 3600);  // the default
  EXPECT_EQ(limits["usage"]["download_remaining"], 1000);
  EXPECT_TRUE(limits["usage"]["upload_remaining"].is_null());  // no upload budget
  EXPECT_EQ(limits["usage"]["hits"]["request-rate"], 0);

  // The store hands the same limiter to the proxy; its usage shows in the API.
  conn::SessionResult found = identifyBy(id, credential);
  ASSERT_EQ(found.status, conn::SessionStatus::kIdentified);
  ASSERT_NE(found.limits, nullptr);
  EXPECT_EQ(found.session->limits[policy::LimitKey::kRequestsPerSecond], 5u);
  const policy::Limits resolved = policy::resolveLimits({}, &found.session->limits);
  found.limits->limiter().onDownload(common::monotonicNanos(), resolved, 600);
  view = parse(call("GET", "/v1/sessions/" + id));
  EXPECT_EQ(view["limits"]["usage"]["download_bytes"], 600);
  EXPECT_EQ(view["limits"]["usage"]["download_remaining"], 400);

  // PATCH replaces the overrides; the limiter state (the bytes counted) stays.
  AdminResponse r = call("PATCH", "/v1/sessions/" + id, R"({"limits": {"max_connections": 2}})");
  ASSERT_EQ(r.status, 200) << r.body;
  view = parse(r);
  EXPECT_EQ(view["limits"]["overrides"], Json({{"max_connections", 2}}));
  EXPECT_EQ(view["limits"]["usage"]["download_bytes"], 600);
  EXPECT_EQ(identifyBy(id, credential).limits, found.limits);
  EXPECT_EQ(found.limits->overrides()[policy::LimitKey::kMaxConnections], 2u);
  // {} clears them.
  r = call("PATCH", "/v1/sessions/" + id, R"({"limits": {}})");
  EXPECT_EQ(parse(r)["limits"]["overrides"], Json::object());
}

TEST_F(ControlApiTest, BadLimitsAreRefused) {
  api_.setToken(kToken);
  for (const char* body : {
           R"({"limits": {"requests_per_sec": 5}})",       // unknown key
           R"({"limits": {"requests_per_second": -1}})",   // negative
           R"({"limits": {"requests_per_second": 1.5}})",  // not an integer
           R"({"limits": {"requests_per_second": "5"}})",  // a string
           R"({"limits": {"budget_window_s": 0}})",        // no window
           R"({"limits": [1]})",                           // not an object
       }) {
    SCOPED_TRACE(body);
    AdminResponse r = call("POST", "/v1/sessions", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(parse(r).contains("error"));
  }
  EXPECT_EQ(sessionCount(), 1u);  // only the static one
}

}  // namespace
}  // namespace gatehouse::control
