// Sessions, the control API and metrics through the real binary (SPEC §6, §8): curl against the
// admin listener, clients identified by Proxy-Authorization and by source address
// (127.0.0.2 / 127.0.0.3), report and shadow modes, /metrics moving by exactly what was sent,
// explain agreeing with the proxy, and reloads under load.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::testing {
namespace {

using testing_credentials::base64;
using testing_credentials::sha256Hex;

using Json = nlohmann::json;

constexpr char kToken[] = "test-admin-token-0123456789abcdef";

std::string proxyAuth(const std::string& id, const std::string& secret) {
  return "Proxy-Authorization: Basic " + base64(id + ":" + secret) + "\r\n";
}

struct ApiResponse {
  int status = 0;
  std::string head;
  std::string body;
  Json json;  // null unless the body is JSON
};

class ControlTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    token_file_ = dir_.write("admin.token", std::string(kToken) + "\n");
    chmod(token_file_.c_str(), 0600);
    config_ = baseConfig();
    config_.admin_address = "127.0.0.1:0";
    config_.admin_token_file = token_file_;
  }

  // Environments "alpha" (a.api.test) and "beta" (other.test) on the origin's port.
  std::string environments(std::string_view alpha_extra = "",
                           std::string_view beta_extra = "") const {
    const std::string ports = "ports = [80, 443, " + std::to_string(origin_->port()) + "]\n";
    return "[environments.alpha]\nlevel = \"custom\"\ndomains = [\"a.api.test\"]\n" + ports +
           std::string(alpha_extra) +
           "\n[environments.beta]\nlevel = \"custom\"\ndomains = [\"other.test\"]\n" + ports +
           std::string(beta_extra) + "\n";
  }

  ApiResponse api(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& token = kToken) const {
    std::vector<std::string> argv = {"curl", "-q",        "-sS", "-i", "--max-time",
                                     "10",   "--noproxy", "*",   "-X", method};
    if (!token.empty()) {
      argv.push_back("-H");
      argv.push_back("Authorization: Bearer " + token);
    }
    if (!body.empty()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    argv.push_back("http://127.0.0.1:" + std::to_string(proxy_->adminPort()) + path);
    CommandResult r = runCommand(argv, milliseconds(15000));
    ApiResponse out;
    HttpResponse h;
    size_t consumed = 0;
    if (!r.finished ||
        parseResponse(r.out, true, method == "HEAD", &h, &consumed) != ParseOutcome::kComplete) {
      ADD_FAILURE() << "no API response for " << method << " " << path << ": " << r.err;
      return out;
    }
    out.status = h.status;
    out.head = h.head;
    out.body = h.body;
    out.json = Json::parse(h.body, nullptr, false);
    if (out.json.is_discarded()) out.json = nullptr;
    return out;
  }

  // One GET of `host` through the proxy from `source` with optional extra headers.
  std::optional<HttpResponse> get(const std::string& host, const std::string& headers = "") const {
    return exchange(getRequest(at(host), "/small", headers));
  }

  // curl through the proxy from a chosen source address; the HTTP status (0: none).
  int curlFrom(const std::string& source, const std::string& host) const {
    CommandResult r = runCommand(curl({"--interface", source, "-o", "/dev/null", "-w",
                                       "%{http_code}", "http://" + at(host) + "/small"}),
                                 milliseconds(20000));
    return r.finished ? std::atoi(r.out.c_str()) : 0;
  }

  // The value of one sample of the text exposition ("name{labels}" exactly as printed).
  static double sample(const std::string& exposition, const std::string& series) {
    size_t at = 0;
    while ((at = exposition.find(series + " ", at)) != std::string::npos) {
      if (at == 0 || exposition[at - 1] == '\n') {
        return std::strtod(exposition.c_str() + at + series.size() + 1, nullptr);
      }
      at += series.size();
    }
    ADD_FAILURE() << "no sample " << series;
    return -1;
  }

  // A static session for the fixture's INV-ALIVE probe (sessions make anonymous clients 407).
  std::string probeSession() {
    probe_headers_ = proxyAuth("probe", "probe-secret-0123456789");
    return "\n[[sessions]]\nid = \"probe\"\ncredential_sha256 = \"" +
           sha256Hex("probe-secret-0123456789") + "\"\n";
  }

  TempDir dir_;
  std::string token_file_;
};

// ---- the admin listener and its authorization ----------------------------------------------

TEST_F(ControlTest, HealthReadinessAndMetricsNeedNoToken) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_NE(proxy_->adminPort(), 0) << proxy_->stderrText();
  ApiResponse r = api("GET", "/healthz", "", "");
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.json["status"], "ok");
  r = api("GET", "/readyz", "", "");
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.json["status"], "ready");
  r = api("GET", "/metrics", "", "");
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
  EXPECT_NE(r.body.find("# TYPE gatehouse_requests_total counter"), std::string::npos);
  r = api("GET", "/nope", "", "");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.json.contains("error")) << r.body;
  r = api("POST", "/healthz", "{}", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
}

TEST_F(ControlTest, EveryV1CallNeedsTheBearerToken) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/sessions"},
                                                        {"GET", "/v1/environments"},
                                                        {"GET", "/v1/decisions"},
                                                        {"POST", "/v1/sessions"},
                                                        {"POST", "/v1/reload"},
                                                        {"POST", "/v1/explain"},
                                                        {"DELETE", "/v1/sessions/x"}}) {
    SCOPED_TRACE(method + " " + path);
    ApiResponse missing = api(method, path, method == "GET" ? "" : "{}", "");
    EXPECT_EQ(missing.status, 401) << missing.body;
    EXPECT_NE(missing.head.find("WWW-Authenticate: Bearer"), std::string::npos) << missing.head;
    EXPECT_TRUE(missing.json.contains("error")) << missing.body;
    ApiResponse wrong = api(method, path, method == "GET" ? "" : "{}", "wrong-token-0123456789");
    EXPECT_EQ(wrong.status, 401) << wrong.body;
    EXPECT_NE(wrong.head.find("invalid_token"), std::string::npos) << wrong.head;
  }
  // Nothing was created by the refused calls.
  ApiResponse list = api("GET", "/v1/sessions");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(list.json["sessions"].empty()) << list.body;
  // The token never appears in what the proxy says.
  EXPECT_EQ(proxy_->stderrText().find(kToken), std::string::npos);
}

TEST_F(ControlTest, WithoutATokenReadsWorkAndChangesAreRefused) {
  config_.admin_token_file.clear();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ApiResponse r = api("GET", "/v1/environments", "", "");
  EXPECT_EQ(r.status, 200) << r.body;
  r = api("POST", "/v1/sessions", "{}", "");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.json["error"].get<std::string>().find("token_file"), std::string::npos);
  r = api("POST", "/v1/reload", "", "");
  EXPECT_EQ(r.status, 403) << r.body;
}

TEST_F(ControlTest, NonLoopbackAdminWithoutTokenIsRefused) {
  config_.admin_address = "0.0.0.0:0";
  config_.admin_token_file.clear();
  TempDir dir;
  const std::string file = dir.write("open.toml", config_.toToml());
  CommandResult check = runCommand({GATEHOUSE_BINARY, "check-config", file}, milliseconds(10000));
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  EXPECT_NE((check.out + check.err).find("token_file"), std::string::npos) << check.out;
  CommandResult serve =
      runCommand({GATEHOUSE_BINARY, "serve", "--config", file}, milliseconds(10000));
  EXPECT_TRUE(serve.finished);
  EXPECT_EQ(serve.exit_code, 2) << serve.err;
  EXPECT_EQ(serve.err.find("listening"), std::string::npos) << serve.err;
}

TEST_F(ControlTest, AnUnreadableTokenFileStopsTheStart) {
  config_.admin_token_file = dir_.path() + "/missing.token";
  std::string error;
  auto g = Gatehouse::start(config_.toToml(), &error, milliseconds(5000));
  EXPECT_EQ(g, nullptr);
  EXPECT_NE(error.find("token_file"), std::string::npos) << error;
}

// ---- sessions --------------------------------------------------------------------------------

TEST_F(ControlTest, DynamicSessionCrudIsLiveForTheNextRequest) {
  config_.extra = environments() + probeSession();
  ASSERT_NO_FATAL_FAILURE(startProxy());

  ApiResponse created =
      api("POST", "/v1/sessions", R"({"environment":"alpha","labels":["team=web"]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json["id"];
  const std::string credential = created.json["proxy_credential"];
  EXPECT_EQ(credential.rfind("gatehouse_pc_", 0), 0u);
  EXPECT_NE(created.head.find("Location: /v1/sessions/" + id), std::string::npos);

  // Sessions now exist: an anonymous client is challenged.
  auto r = get("a.api.test");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 407) << r->head;
  EXPECT_EQ(r->header("Proxy-Authenticate"), "Basic realm=\"gatehouse\"");
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "session-required");
  EXPECT_EQ(origin_->accepts(), 0u);

  // With the credential: alpha's policy.
  r = get("a.api.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head;
  r = get("other.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403) << r->head;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "host-not-allowed");
  EXPECT_EQ(r->header("X-Gatehouse-Environment").rfind("alpha@", 0), 0u) << r->head;
  // A wrong secret is refused with the challenge, and never forwarded.
  r = get("a.api.test", proxyAuth(id, credential + "x"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 407);
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "session-denied");

  // GET shows the session, never its credential.
  ApiResponse shown = api("GET", "/v1/sessions/" + id);
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(shown.json["environment"], "alpha");
  EXPECT_EQ(shown.json["labels"], Json::array({"team=web"}));
  EXPECT_EQ(shown.body.find(credential), std::string::npos);
  EXPECT_EQ(shown.body.find("sha256"), std::string::npos);
  ApiResponse listed = api("GET", "/v1/sessions");
  EXPECT_EQ(listed.body.find(credential), std::string::npos);
  ASSERT_EQ(listed.json["sessions"].size(), 2u);  // with the probe's static session

  // PATCH to beta: the next request is decided by beta.
  ApiResponse patched = api("PATCH", "/v1/sessions/" + id, R"({"environment":"beta"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  r = get("other.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head;
  r = get("a.api.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403) << r->head;
  EXPECT_EQ(r->header("X-Gatehouse-Environment").rfind("beta@", 0), 0u) << r->head;

  // DELETE: refused from the next request on.
  ApiResponse deleted = api("DELETE", "/v1/sessions/" + id);
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  r = get("other.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 407) << r->head;
  EXPECT_EQ(api("GET", "/v1/sessions/" + id).status, 404);
  EXPECT_EQ(api("DELETE", "/v1/sessions/" + id).status, 404);

  // The decision log names the session and its labels; the credential is nowhere.
  ASSERT_TRUE(proxy_->waitForDecisions(7, milliseconds(3000)));
  bool named = false;
  for (const std::string& line : proxy_->decisionLines()) {
    EXPECT_EQ(line.find(credential), std::string::npos) << line;
    if (line.find("\"session\":\"" + id + "\"") != std::string::npos &&
        line.find("\"labels\":[\"team=web\"]") != std::string::npos) {
      named = true;
    }
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(proxy_->stderrText().find(credential), std::string::npos);
}

TEST_F(ControlTest, BadSessionRequestsAreRefusedWithReasons) {
  config_.extra = environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (const char* body : {
           R"({"environment":"nope"})",
           R"({"environment":"session:x"})",
           R"({"environment":7})",
           R"({"colour":"red"})",
           R"({"labels":["has space"]})",
           R"({"clients":["10.0.0.1/33"]})",
           R"({"ttl_s":0})",
           R"({"ttl_s":"60"})",
           R"({"domains":["https://x.test/"]})",
           R"({"git":{"repos":["o/r"]}})",
           R"([1,2])",
           R"({not json)",
       }) {
    SCOPED_TRACE(body);
    ApiResponse r = api("POST", "/v1/sessions", body);
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_TRUE(r.json.contains("error")) << r.body;
    EXPECT_FALSE(r.json["error"].get<std::string>().empty());
  }
  EXPECT_TRUE(api("GET", "/v1/sessions").json["sessions"].empty());
}

TEST_F(ControlTest, InlineDomainsOnTopOfAnEnvironment) {
  config_.extra = probeSession() + environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ApiResponse created =
      api("POST", "/v1/sessions", R"({"environment":"alpha","domains":["other.test"]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json["id"];
  const std::string credential = created.json["proxy_credential"];
  EXPECT_EQ(created.json["effective_environment"], "session:" + id);
  // alpha's own entry and the inline one are both allowed; others are not.
  EXPECT_EQ(get("a.api.test", proxyAuth(id, credential))->status, 200);
  EXPECT_EQ(get("other.test", proxyAuth(id, credential))->status, 200);
  EXPECT_EQ(get("origin.test", proxyAuth(id, credential))->status, 403);
  // The session's environment is listed with its lists.
  ApiResponse env = api("GET", "/v1/environments/session:" + id);
  ASSERT_EQ(env.status, 200) << env.body;
  EXPECT_NE(env.body.find("other.test"), std::string::npos);
  EXPECT_NE(env.body.find("a.api.test"), std::string::npos);
  // Deleting the session removes its environment.
  ASSERT_EQ(api("DELETE", "/v1/sessions/" + id).status, 200);
  EXPECT_EQ(api("GET", "/v1/environments/session:" + id).status, 404);
}

TEST_F(ControlTest, ExpiredSessionIsRefusedFromTheNextRequest) {
  config_.extra = probeSession() + environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ApiResponse created = api("POST", "/v1/sessions", R"({"environment":"alpha","ttl_s":1})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json["id"];
  const std::string credential = created.json["proxy_credential"];
  EXPECT_FALSE(created.json["expires"].is_null());
  EXPECT_EQ(get("a.api.test", proxyAuth(id, credential))->status, 200);
  // Wait for the expiry (bounded), then the same credential is refused.
  const auto deadline = Clock::now() + milliseconds(5000);
  int status = 200;
  while (status == 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    status = get("a.api.test", proxyAuth(id, credential))->status;
  }
  auto r = get("a.api.test", proxyAuth(id, credential));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 407) << r->head;
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "session-expired");
  EXPECT_EQ(api("GET", "/v1/sessions/" + id).json["expired"], true);
}

// Two sessions with different environments through one proxy, by credential and by source
// address.
TEST_F(ControlTest, TwoSessionsAreIsolatedByCredentialAndBySourceAddress) {
  const std::string secret_a = "secret-a-0123456789";
  const std::string secret_b = "secret-b-0123456789";
  config_.extra = probeSession() + environments() +
                  "[[sessions]]\nid = \"cred-a\"\nenvironment = \"alpha\"\ncredential_sha256 = \"" +
                  sha256Hex(secret_a) +
                  "\"\n\n[[sessions]]\nid = \"cred-b\"\nenvironment = \"beta\"\n"
                  "credential_sha256 = \"" +
                  sha256Hex(secret_b) +
                  "\"\n\n[[sessions]]\nid = \"addr-a\"\nenvironment = \"alpha\"\n"
                  "clients = [\"127.0.0.2/32\"]\n\n[[sessions]]\nid = \"addr-b\"\n"
                  "environment = \"beta\"\nclients = [\"127.0.0.3/32\"]\n";
  ASSERT_NO_FATAL_FAILURE(startProxy());

  struct Row {
    const char* who;
    std::string headers;
    const char* host;
    int status;
  };
  const std::vector<Row> rows = {
      {"cred-a allowed", proxyAuth("cred-a", secret_a), "a.api.test", 200},
      {"cred-a denied", proxyAuth("cred-a", secret_a), "other.test", 403},
      {"cred-b allowed", proxyAuth("cred-b", secret_b), "other.test", 200},
      {"cred-b denied", proxyAuth("cred-b", secret_b), "a.api.test", 403},
      {"a's id with b's secret", proxyAuth("cred-a", secret_b), "a.api.test", 407},
      {"anonymous from 127.0.0.1", "", "a.api.test", 407},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.who);
    auto r = get(row.host, row.headers);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, row.status) << r->head;
  }
  // By source address (curl binds the client side).
  EXPECT_EQ(curlFrom("127.0.0.2", "a.api.test"), 200);
  EXPECT_EQ(curlFrom("127.0.0.2", "other.test"), 403);
  EXPECT_EQ(curlFrom("127.0.0.3", "other.test"), 200);
  EXPECT_EQ(curlFrom("127.0.0.3", "a.api.test"), 403);

  // Each decision line names the session that made it, with its environment.
  ASSERT_TRUE(proxy_->waitForDecisions(rows.size() + 4, milliseconds(3000)));
  std::map<std::string, std::set<std::string>> environments_by_session;
  for (const auto& d : decisions()) {
    if (!d.at("session").empty()) {
      environments_by_session[d.at("session")].insert(
          d.at("environment").substr(0, d.at("environment").find('@')));
    }
  }
  EXPECT_EQ(environments_by_session["cred-a"], std::set<std::string>{"alpha"});
  EXPECT_EQ(environments_by_session["cred-b"], std::set<std::string>{"beta"});
  EXPECT_EQ(environments_by_session["addr-a"], std::set<std::string>{"alpha"});
  EXPECT_EQ(environments_by_session["addr-b"], std::set<std::string>{"beta"});
  // Static sessions cannot be deleted through the API.
  EXPECT_EQ(api("DELETE", "/v1/sessions/cred-a").status, 409);
}

TEST_F(ControlTest, SessionManagerNoneServesEveryClientTheDefaultEnvironment) {
  config_.listener["session_manager"] = "\"none\"";
  config_.extra = environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  // Credentials or not, the default environment decides.
  EXPECT_EQ(get("origin.test", proxyAuth("someone", "anything-at-all"))->status, 200);
  EXPECT_EQ(get("origin.test")->status, 200);
  EXPECT_EQ(get("other.test", proxyAuth("someone", "anything-at-all"))->status, 403);
  ApiResponse r = api("POST", "/v1/sessions", R"({"environment":"alpha"})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.json["error"].get<std::string>().find("session_manager"), std::string::npos);
}

TEST_F(ControlTest, FailedCredentialsAreThrottledPerClientAddress) {
  config_.extra = probeSession() + environments() +
                  "[[sessions]]\nid = \"s\"\nenvironment = \"alpha\"\n" + "credential_sha256 = \"" +
                  sha256Hex("right-secret-0123") + "\"\n";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  int denied = 0;
  int throttled = 0;
  for (int i = 0; i < 15; ++i) {
    auto r = get("a.api.test", proxyAuth("s", "guess-" + std::to_string(i)));
    ASSERT_TRUE(r.has_value());
    if (r->status == 407) ++denied;
    if (r->status == 429) {
      ++throttled;
      EXPECT_EQ(r->header("X-Gatehouse-Reason"), "auth-throttled");
      EXPECT_FALSE(r->header("Retry-After").empty());
    }
  }
  EXPECT_GE(denied, 9);
  EXPECT_LE(denied, 11);
  EXPECT_EQ(denied + throttled, 15);
  // Throttled: even the right secret waits (a guesser learns nothing while throttled).
  EXPECT_EQ(get("a.api.test", proxyAuth("s", "right-secret-0123"))->status, 429);
  const std::string m = api("GET", "/metrics").body;
  EXPECT_EQ(sample(m, "gatehouse_auth_failures_total{result=\"denied\"}"), denied);
  EXPECT_EQ(sample(m, "gatehouse_auth_failures_total{result=\"throttled\"}"), throttled + 1);
  // The budget refills (one attempt per second): the right secret gets through again.
  const auto deadline = Clock::now() + milliseconds(4000);
  int status = 429;
  while (status == 429 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    status = get("a.api.test", proxyAuth("s", "right-secret-0123"))->status;
  }
  EXPECT_EQ(status, 200);
}

// ---- report and shadow modes -----------------------------------------------------------------

TEST_F(ControlTest, ReportModeAllowsLogsAndCounts) {
  config_.extra = "";
  // The default environment in report mode: written into the base config's [environment].
  std::string toml = config_.toToml();
  const size_t env = toml.find("[environment]\n");
  ASSERT_NE(env, std::string::npos);
  toml.insert(env + 14, "mode = \"report\"\n");
  std::string error;
  proxy_ = Gatehouse::start(toml, &error);
  ASSERT_NE(proxy_, nullptr) << error;

  auto r = get("other.test");  // not in the default domains
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head;
  EXPECT_EQ(origin_->requestCount(), 1u);
  // The address guard is enforced in every mode.
  r = get("loopback.test");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("X-Gatehouse-Reason"), "address-denied");

  ASSERT_TRUE(proxy_->waitForDecisions(2, milliseconds(3000)));
  // Two workers: the lines may come in either order.
  const auto lines = decisions();
  auto other = std::find_if(lines.begin(), lines.end(),
                            [](const auto& d) { return d.at("host") == "other.test"; });
  ASSERT_NE(other, lines.end());
  EXPECT_EQ(other->at("decision"), "allow");
  EXPECT_EQ(other->at("reason"), "host-not-allowed");
  EXPECT_EQ(other->at("mode"), "report");
  const std::string m = api("GET", "/metrics").body;
  EXPECT_EQ(sample(m, "gatehouse_report_allowed_total{reason=\"host-not-allowed\"}"), 1);
  EXPECT_EQ(sample(m,
                   "gatehouse_requests_total{decision=\"deny\",kind=\"http\",reason=\"host-not-"
                   "allowed\"}"),
            1);
  // Explain says the same.
  ApiResponse e = api("POST", "/v1/explain", R"({"url":"http://other.test/"})");
  EXPECT_EQ(e.json["decision"], "allow") << e.body;
  EXPECT_EQ(e.json["policy_decision"], "deny") << e.body;
  EXPECT_EQ(e.json["mode"], "report");
}

TEST_F(ControlTest, ShadowCountersMatchTheCasesSent) {
  // alpha allows a.api.test; its shadow beta allows other.test.
  config_.extra =
      probeSession() + environments("shadow = \"beta\"\n") +
      "[[sessions]]\nid = \"s\"\nenvironment = \"alpha\"\nclients = [\"127.0.0.1/32\"]\n";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const int agree_deny = 2;   // origin.test: both deny
  const int would_deny = 3;   // a.api.test: alpha allows, beta would deny
  const int would_allow = 4;  // other.test: alpha denies, beta would allow
  for (int i = 0; i < agree_deny; ++i) EXPECT_EQ(get("origin.test")->status, 403);
  for (int i = 0; i < would_deny; ++i) EXPECT_EQ(get("a.api.test")->status, 200);
  for (int i = 0; i < would_allow; ++i) EXPECT_EQ(get("other.test")->status, 403);

  const std::string m = api("GET", "/metrics").body;
  auto shadow = [&](const char* outcome, const char* reason) {
    return sample(m, std::string("gatehouse_shadow_decisions_total{outcome=\"") + outcome +
                         "\",reason=\"" + reason + "\"}");
  };
  EXPECT_EQ(shadow("agree", "host-not-allowed"), agree_deny);
  EXPECT_EQ(shadow("would-deny", "host-not-allowed"), would_deny);
  EXPECT_EQ(shadow("would-allow", "allow-listed"), would_allow);
  EXPECT_EQ(shadow("agree", "allow-listed"), 0);

  ASSERT_TRUE(proxy_->waitForDecisions(9, milliseconds(3000)));
  int with_shadow = 0;
  for (const std::string& line : proxy_->decisionLines()) {
    if (line.find("\"shadow\":{\"environment\":\"beta@") != std::string::npos) ++with_shadow;
  }
  EXPECT_EQ(with_shadow, 9);
}

// ---- explain, decisions, environments ----------------------------------------------------------

TEST_F(ControlTest, ExplainAgreesWithWhatTheProxyDoes) {
  config_.extra =
      probeSession() + environments() +
      "[[sessions]]\nid = \"s\"\nenvironment = \"alpha\"\nclients = [\"127.0.0.1/32\"]\n";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  for (const char* host : {"a.api.test", "other.test", "origin.test", "bad.api.test",
                           "loopback.test", "metadata.test", "private.test"}) {
    SCOPED_TRACE(host);
    auto r = get(host);
    ASSERT_TRUE(r.has_value());
    const std::string url = "http://" + at(host) + "/small";
    ApiResponse e = api("POST", "/v1/explain", R"({"session":"s","url":")" + url + "\"}");
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(e.json["decision"], r->status == 200 ? "allow" : "deny") << e.body << r->head;
    if (r->status == 403) {
      EXPECT_EQ(e.json["reason"], r->header("X-Gatehouse-Reason")) << e.body;
      EXPECT_EQ(e.json["rule"], r->header("X-Gatehouse-Rule")) << e.body;
      EXPECT_EQ(e.json["environment"], r->header("X-Gatehouse-Environment")) << e.body;
    }
  }
  // The CLI gives the same answer for the same environment.
  CommandResult cli = runCommand({GATEHOUSE_BINARY, "explain", "--config", proxy_->configPath(),
                                  "--session", "s", "http://" + at("other.test") + "/"},
                                 milliseconds(10000));
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_EQ(cli.out.rfind("deny host-not-allowed", 0), 0u) << cli.out;
  ApiResponse bad = api("POST", "/v1/explain", R"({"session":"nope","url":"x.test"})");
  EXPECT_EQ(bad.status, 404);
  bad = api("POST", "/v1/explain", R"({"environment":"alpha"})");
  EXPECT_EQ(bad.status, 400);
  ApiResponse malformed = api("POST", "/v1/explain", R"({"url":"http://exa mple/"})");
  EXPECT_EQ(malformed.json["decision"], "deny");
  EXPECT_EQ(malformed.json["reason"], "malformed-target");
}

TEST_F(ControlTest, RecentDecisionsAreListedAndFilteredBySession) {
  config_.extra = probeSession() + environments() +
                  "[[sessions]]\nid = \"one\"\nenvironment = \"alpha\"\nclients = "
                  "[\"127.0.0.2/32\"]\n\n[[sessions]]\nid = \"two\"\nenvironment = \"beta\"\n"
                  "clients = [\"127.0.0.3/32\"]\n";
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(curlFrom("127.0.0.2", "a.api.test"), 200);
  EXPECT_EQ(curlFrom("127.0.0.3", "other.test"), 200);
  EXPECT_EQ(curlFrom("127.0.0.2", "other.test"), 403);
  ASSERT_TRUE(proxy_->waitForDecisions(3, milliseconds(3000)));

  ApiResponse all = api("GET", "/v1/decisions");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.json["decisions"].size(), 3u) << all.body;
  // Newest first.
  EXPECT_EQ(all.json["decisions"][0]["host"], "other.test");
  EXPECT_EQ(all.json["decisions"][0]["session"], "one");
  EXPECT_EQ(all.json["decisions"][0]["decision"], "deny");

  ApiResponse one = api("GET", "/v1/decisions?session=one&limit=10");
  ASSERT_EQ(one.json["decisions"].size(), 2u) << one.body;
  for (const Json& d : one.json["decisions"]) EXPECT_EQ(d["session"], "one");
  ApiResponse limited = api("GET", "/v1/decisions?session=one&limit=1");
  ASSERT_EQ(limited.json["decisions"].size(), 1u);
  EXPECT_EQ(limited.json["decisions"][0]["decision"], "deny");
  EXPECT_EQ(api("GET", "/v1/decisions?limit=zero").status, 400);
}

TEST_F(ControlTest, EnvironmentsShowTheEffectiveListsAndVersion) {
  config_.extra = environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ApiResponse list = api("GET", "/v1/environments");
  ASSERT_EQ(list.status, 200) << list.body;
  std::set<std::string> names;
  for (const Json& e : list.json["environments"]) names.insert(e["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"default", "alpha", "beta"}));
  ApiResponse def = api("GET", "/v1/environments/default");
  ASSERT_EQ(def.status, 200) << def.body;
  EXPECT_EQ(def.json["level"], "custom");
  EXPECT_EQ(def.json["mode"], "enforce");
  EXPECT_FALSE(def.json["version"].get<std::string>().empty());
  bool has_deny = false;
  for (const Json& d : def.json["lists"]["deny"]) has_deny |= d["entry"] == "bad.api.test";
  EXPECT_TRUE(has_deny) << def.body;
  EXPECT_EQ(api("GET", "/v1/environments/nope").status, 404);
}

// ---- reloads and metrics -----------------------------------------------------------------------

TEST_F(ControlTest, ReloadThroughTheApiAndSighupChangesWhatIsLive) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(get("other.test")->status, 403);
  ApiResponse before = api("GET", "/v1/environments/default");
  const uint64_t generation = before.json["generation"];

  config_.domains.push_back("other.test");
  // The API reloads the file the proxy was started with.
  {
    std::FILE* f = std::fopen(proxy_->configPath().c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string toml = config_.toToml();
    std::fwrite(toml.data(), 1, toml.size(), f);
    std::fclose(f);
  }
  ApiResponse reloaded = api("POST", "/v1/reload");
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;
  EXPECT_EQ(reloaded.json["generation"], generation + 1);
  ApiResponse after = api("GET", "/v1/environments/default");
  EXPECT_EQ(after.json["generation"], generation + 1);
  EXPECT_NE(after.json["version"], before.json["version"]);
  EXPECT_EQ(get("other.test")->status, 200);

  // A broken file: 422 with the issues, and the running version stays.
  {
    std::FILE* f = std::fopen(proxy_->configPath().c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("[environment]\nlevel = \"sometimes\"\n", f);
    std::fclose(f);
  }
  ApiResponse failed = api("POST", "/v1/reload");
  EXPECT_EQ(failed.status, 422) << failed.body;
  EXPECT_FALSE(failed.json["issues"].empty()) << failed.body;
  EXPECT_EQ(api("GET", "/v1/environments/default").json["version"], after.json["version"]);
  EXPECT_EQ(get("other.test")->status, 200);

  // SIGHUP does the same; the generation shows it.
  config_.domains.pop_back();
  EXPECT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded);
  EXPECT_EQ(api("GET", "/v1/environments/default").json["generation"], generation + 2);
  EXPECT_EQ(get("other.test")->status, 403);

  const std::string m = api("GET", "/metrics").body;
  EXPECT_EQ(sample(m, "gatehouse_config_reloads_total{result=\"ok\"}"), 2);
  EXPECT_EQ(sample(m, "gatehouse_config_reloads_total{result=\"failed\"}"), 1);
  EXPECT_EQ(sample(m, "gatehouse_config_generation"), static_cast<double>(generation + 2));
}

TEST_F(ControlTest, DynamicSessionsSurviveReloads) {
  config_.extra = probeSession() + environments();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ApiResponse created = api("POST", "/v1/sessions", R"({"environment":"alpha"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json["id"];
  const std::string credential = created.json["proxy_credential"];
  EXPECT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kReloaded);
  EXPECT_EQ(get("a.api.test", proxyAuth(id, credential))->status, 200);
  // A reload that removes an environment a dynamic session uses is refused.
  config_.extra = "";
  EXPECT_EQ(proxy_->reload(config_.toToml()), Gatehouse::ReloadResult::kFailed);
  EXPECT_NE(proxy_->stderrText().find("used by the dynamic session " + id), std::string::npos);
  EXPECT_EQ(get("a.api.test", proxyAuth(id, credential))->status, 200);
}

TEST_F(ControlTest, MetricsMoveByExactlyTheRequestsSent) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string before = api("GET", "/metrics").body;
  const std::string allowed =
      "gatehouse_requests_total{decision=\"allow\",kind=\"http\",reason="
      "\"allow-listed\"}";
  const std::string denied =
      "gatehouse_requests_total{decision=\"deny\",kind=\"http\",reason="
      "\"host-not-allowed\"}";
  const std::string connect_denied =
      "gatehouse_requests_total{decision=\"deny\",kind=\"connect\","
      "reason=\"host-not-allowed\"}";
  const std::string level_allow = "gatehouse_decisions_total{decision=\"allow\",level=\"custom\"}";
  const std::string refusals = "gatehouse_refusals_total{status_class=\"4xx\"}";
  const std::string bytes_down = "gatehouse_bytes_total{direction=\"down\",kind=\"http\"}";
  for (int i = 0; i < 5; ++i) ASSERT_EQ(get("origin.test")->status, 200);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(get("evil.test")->status, 403);
  for (int i = 0; i < 2; ++i) {
    auto r = exchange(connectRequest(at("evil.test")));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, 403);
  }
  ASSERT_TRUE(proxy_->waitForDecisions(10, milliseconds(3000)));
  const std::string after = api("GET", "/metrics").body;
  EXPECT_EQ(sample(after, allowed) - sample(before, allowed), 5);
  EXPECT_EQ(sample(after, denied) - sample(before, denied), 3);
  EXPECT_EQ(sample(after, connect_denied) - sample(before, connect_denied), 2);
  EXPECT_EQ(sample(after, level_allow) - sample(before, level_allow), 5);
  EXPECT_EQ(sample(after, refusals) - sample(before, refusals), 5);
  // The origin's /small body, five times.
  const std::string small = get("origin.test")->body;
  const std::string last = api("GET", "/metrics").body;
  EXPECT_EQ(sample(last, bytes_down) - sample(before, bytes_down),
            6.0 * static_cast<double>(small.size()));
  // Pooled upstream connections skip DNS and the dial: between 1 and 6 of each.
  const double lookups = sample(last, "gatehouse_dns_lookup_duration_seconds_count") -
                         sample(before, "gatehouse_dns_lookup_duration_seconds_count");
  const double dials = sample(last, "gatehouse_upstream_connect_duration_seconds_count") -
                       sample(before, "gatehouse_upstream_connect_duration_seconds_count");
  EXPECT_GE(lookups, 1);
  EXPECT_LE(lookups, 6);
  EXPECT_EQ(dials, lookups);
  EXPECT_EQ(sample(last, "gatehouse_dns_results_total{status=\"ok\"}") -
                sample(before, "gatehouse_dns_results_total{status=\"ok\"}"),
            lookups);
  EXPECT_EQ(sample(last, "gatehouse_client_connections_active"), 0);
  EXPECT_EQ(sample(last, "gatehouse_sessions_active"), 0);
  // Labels never carry hosts.
  EXPECT_EQ(last.find("evil.test"), std::string::npos);
  EXPECT_EQ(last.find("origin.test"), std::string::npos);
}

// 100 environment changes while a client loop runs: no request fails, and every decision
// matches the version it names, never a mix.
TEST_F(ControlTest, ReloadUnderLoadNeverMixesVersions) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  // Version A allows origin.test and denies other.test; version B the other way round.
  GatehouseConfig a = config_;
  GatehouseConfig b = config_;
  b.domains.erase(b.domains.begin());  // origin.test
  b.domains.push_back("other.test");
  const std::string version_a = api("GET", "/v1/environments/default").json["version"];

  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};
  std::thread client([&] {
    int i = 0;
    while (!stop.load()) {
      const char* host = (i++ % 2 == 0) ? "origin.test" : "other.test";
      auto r = exchange(getRequest(at(host)), milliseconds(5000));
      ++sent;
      if (!r.has_value() || (r->status != 200 && r->status != 403)) ++failed;
    }
  });
  std::string version_b;
  for (int change = 0; change < 100; ++change) {
    const GatehouseConfig& next = change % 2 == 0 ? b : a;
    {
      std::FILE* f = std::fopen(proxy_->configPath().c_str(), "w");
      ASSERT_NE(f, nullptr);
      const std::string toml = next.toToml();
      std::fwrite(toml.data(), 1, toml.size(), f);
      std::fclose(f);
    }
    ApiResponse r = api("POST", "/v1/reload");
    ASSERT_EQ(r.status, 200) << r.body;
    if (change == 0) version_b = api("GET", "/v1/environments/default").json["version"];
  }
  stop = true;
  client.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(sent.load(), 100);
  ASSERT_NE(version_a, version_b);

  ASSERT_TRUE(proxy_->waitForDecisions(static_cast<size_t>(sent.load()), milliseconds(5000)));
  std::map<std::string, int> seen;
  for (const auto& d : decisions()) {
    const std::string& tag = d.at("environment");
    const std::string version = tag.substr(tag.find('@') + 1);
    const bool is_a = version == version_a;
    ASSERT_TRUE(is_a || version == version_b) << tag;
    const bool origin = d.at("host") == "origin.test";
    const std::string want = (origin == is_a) ? "allow" : "deny";
    EXPECT_EQ(d.at("decision"), want) << d.at("host") << " under " << tag;
    ++seen[is_a ? "a" : "b"];
  }
  EXPECT_GT(seen["a"], 0);
  EXPECT_GT(seen["b"], 0);
}

}  // namespace
}  // namespace gatehouse::testing
