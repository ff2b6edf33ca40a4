// The git path end to end (SPEC §7, BAD-INPUTS I and J1): the real git client, through the real
// gatehouse binary, to a local "GitHub" running the real `git http-backend` behind TLS with a
// test CA (tests/integration/git_peer.h). Each test asserts what git printed, what the upstream
// received and which refs the upstream holds afterwards; every test ends by checking that the
// canary token appears nowhere but in what the upstream received.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/git_peer.h"
#include "tests/integration/harness.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::testing {
namespace {

using Json = nlohmann::json;
using testing_credentials::sha256Hex;

constexpr char kScoped1[] = "gatehouse_gc_session1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr char kScoped2[] = "gatehouse_gc_session2BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
constexpr char kScopedExpired[] = "gatehouse_gc_expiredCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
constexpr char kScopedRevoked[] = "gatehouse_gc_revokedEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE";
constexpr char kRevokedToken[] = "revoked-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kBranch[] = "agent-branch";
constexpr char kOnly[] = "only refs/heads/agent-branch may be pushed in this session";

std::string randomHex(size_t bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    auto c = static_cast<unsigned char>(in.get());
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

class GitPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A unique canary: any occurrence outside the upstream's received bytes is a leak.
    token_ = "canary-token-" + randomHex(16);
    std::string error;
    ca_ = TestCa::create(&error);
    ASSERT_NE(ca_, nullptr) << error;
    startPeer(ca_->leafCert(), ca_->leafKey());
    ASSERT_TRUE(peer_->createRepo("org/repo", &error)) << error;
    ASSERT_TRUE(peer_->createRepo("org/readonly", &error)) << error;
    ASSERT_TRUE(peer_->createRepo("org/other", &error)) << error;
    token_file_ = secrets_.path() + "/token";
    {
      std::ofstream out(token_file_);
      out << token_ << "\n";
    }
    ASSERT_EQ(::chmod(token_file_.c_str(), 0600), 0);
    bad_token_file_ = secrets_.path() + "/bad-token";
    {
      std::ofstream out(bad_token_file_);
      out << kRevokedToken << "\n";
    }
    ASSERT_EQ(::chmod(bad_token_file_.c_str(), 0600), 0);
    admin_token_file_ = secrets_.path() + "/admin-token";
    {
      std::ofstream out(admin_token_file_);
      out << kAdminToken << "\n";
    }
    ASSERT_EQ(::chmod(admin_token_file_.c_str(), 0600), 0);
    ASSERT_TRUE(startProxy());
    ASSERT_TRUE(client_.ok());
    useProxy(client_, kScoped1);
  }

  void TearDown() override {
    if (proxy_ == nullptr || peer_ == nullptr) return;
    if (HasFailure()) {
      for (const std::string& line : proxy_->decisionLines()) std::cerr << line << "\n";
      std::cerr << proxy_->stderrText() << peer_->stderrText();
      for (const Json& r : peer_->requests()) {
        std::cerr << r.value("method", "") << " " << r.value("path", "") << " "
                  << r.value("body_len", 0) << " " << r.value("status", 0) << "\n";
      }
    }
    // J1 / INV-NOTOKEN: the token only in what the upstream received.
    const std::string metrics = curlAdmin("/metrics");
    EXPECT_NE(metrics.find("gatehouse_git_requests_total"), std::string::npos);
    EXPECT_EQ(metrics.find(token_), std::string::npos) << "token in /metrics";
    EXPECT_EQ(proxy_->stderrText().find(token_), std::string::npos) << "token in stderr";
    for (const std::string& line : proxy_->decisionLines()) {
      EXPECT_EQ(line.find(token_), std::string::npos) << "token in a decision line";
      EXPECT_EQ(line.find(kScoped1), std::string::npos) << "credential in a decision line";
    }
    EXPECT_EQ(seen_by_client_.find(token_), std::string::npos) << "token in client output";
    EXPECT_EQ(peer_->stdoutText().find(token_), std::string::npos);
    EXPECT_EQ(peer_->stderrText().find(token_), std::string::npos);
    // Whatever reached the upstream carried exactly the swapped credential.
    for (const Json& r : peer_->requests()) {
      const std::string auth = GitPeer::header(r, "authorization");
      EXPECT_TRUE(auth == peer_->basicAuth() || auth == "Bearer " + token_ ||
                  auth == gitBasicAuth(kRevokedToken))
          << r.dump();
      EXPECT_EQ(GitPeer::headerCount(r, "authorization"), 1u);
      EXPECT_EQ(GitPeer::header(r, "cookie"), "");
      EXPECT_EQ(r.dump().find(kScoped1), std::string::npos) << "scoped credential upstream";
    }
    EXPECT_TRUE(proxy_->alive());
    EXPECT_EQ(proxy_->stop(), 0);
  }

  void startPeer(const std::string& cert, const std::string& key) {
    std::string error;
    peer_ = GitPeer::start(*ca_, token_, cert, key, &error, "");
    ASSERT_NE(peer_, nullptr) << error;
  }

  std::string config(const std::string& upstream_path = "",
                     const std::string& listener_extra = "") const {
    std::string c;
    c += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = 2\n" + listener_extra;
    c += "[admin]\naddress = \"127.0.0.1:0\"\ntoken_file = \"" + admin_token_file_ + "\"\n";
    c += "[environment]\nlevel = \"none\"\n";
    c += "[git]\nupstream = \"https://github.com" + upstream_path + "\"\n";
    c += "api_upstream = \"https://api.github.com\"\n";
    c += "ca_file = \"" + ca_->caCert() + "\"\n";
    c += "connect_to = { \"github.com\" = \"" + peer_->address() + "\", \"api.github.com\" = \"" +
         peer_->address() + "\" }\n";
    auto session = [&](const std::string& id, const std::string& repos, const std::string& branch,
                       const std::string& scoped, const std::string& extra,
                       const std::string& token_file) {
      std::string s = "[[sessions]]\nid = \"" + id + "\"\ncredential_sha256 = \"" +
                      sha256Hex("proxy-" + id) + "\"\n" + extra;
      s += "[sessions.git]\nrepos = " + repos + "\npush_branch = \"" + branch + "\"\n";
      s += "token_file = \"" + token_file + "\"\nscoped_credential_sha256 = \"" +
           sha256Hex(scoped) + "\"\n";
      return s;
    };
    c += session("sbx-1", "[\"org/repo\", \"org/readonly:read\"]", kBranch, kScoped1,
                 "labels = [\"team=git\"]\n", token_file_);
    c += session("sbx-2", "[\"org/other\"]", "other-branch", kScoped2, "", token_file_);
    c += session("sbx-old", "[\"org/repo\"]", kBranch, kScopedExpired,
                 "expires = 2020-01-01T00:00:00Z\n", token_file_);
    c += session("sbx-revoked", "[\"org/repo\"]", kBranch, kScopedRevoked, "", bad_token_file_);
    return c;
  }

  bool startProxy(const std::string& upstream_path = "", const std::string& listener_extra = "") {
    std::string error;
    proxy_ = Gatehouse::start(config(upstream_path, listener_extra), &error);
    EXPECT_NE(proxy_, nullptr) << error;
    return proxy_ != nullptr;
  }

  std::string proxyBase() const {
    return "http://127.0.0.1:" + std::to_string(proxy_->port()) + "/git/";
  }

  void useProxy(GitClient& client, const std::string& credential) {
    ASSERT_TRUE(client.config("url." + proxyBase() + ".insteadOf", "https://github.com/"));
    if (!credential.empty()) {
      ASSERT_TRUE(client.setCredential("x", credential));
    }
  }

  CommandResult git(const std::vector<std::string>& args, const std::string& cwd = "",
                    const GitClient* client = nullptr) {
    CommandResult r = (client != nullptr ? *client : client_).run(args, cwd);
    seen_by_client_ += r.out + r.err;
    return r;
  }

  // Clones org/repo into `name` and commits a file there.
  std::string cloneAndCommit(const std::string& name, const std::string& file = "a.txt") {
    const std::string dir = client_.path(name);
    CommandResult r = git({"clone", "https://github.com/org/repo.git", dir});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    commit(dir, file);
    return dir;
  }

  void commit(const std::string& dir, const std::string& file, size_t random_bytes = 0) {
    {
      std::ofstream out(dir + "/" + file, std::ios::binary | std::ios::app);
      out << "change " << randomHex(8) << "\n";
      if (random_bytes > 0) {
        std::ifstream in("/dev/urandom", std::ios::binary);
        std::string data(random_bytes, '\0');
        in.read(data.data(), static_cast<std::streamsize>(data.size()));
        out << data;
      }
    }
    CommandResult add = git({"add", file}, dir);
    EXPECT_EQ(add.exit_code, 0) << add.err;
    CommandResult c = git({"commit", "-q", "-m", "change " + file}, dir);
    EXPECT_EQ(c.exit_code, 0) << c.err;
  }

  std::string head(const std::string& dir) {
    CommandResult r = git({"rev-parse", "HEAD"}, dir);
    std::string oid = r.out;
    while (!oid.empty() && (oid.back() == '\n' || oid.back() == '\r')) oid.pop_back();
    return oid;
  }

  std::string curlAdmin(const std::string& path, const std::string& method = "GET",
                        const std::string& body = "") {
    std::vector<std::string> argv = {
        "curl",       "-q", "-sS",
        "--max-time", "10", "-X",
        method,       "-H", std::string("Authorization: Bearer ") + kAdminToken};
    if (!body.empty()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    argv.push_back("http://127.0.0.1:" + std::to_string(proxy_->adminPort()) + path);
    CommandResult r = runCommand(argv, milliseconds(15000));
    return r.out;
  }

  // Peak resident set of the proxy (VmHWM), KiB.
  long peakRssKiB() const {
    std::ifstream in("/proc/" + std::to_string(proxy_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

  // A raw request to the proxy listener; the response (status 0 when none came).
  HttpResponse raw(const std::string& request) {
    std::optional<HttpResponse> r = proxyExchange(proxy_->port(), request, milliseconds(20000));
    if (!r) return HttpResponse{};
    seen_by_client_ += r->head + r->body;
    return *r;
  }

  std::string basic(const std::string& credential) {
    return "Authorization: Basic " + base64Encode("x:" + credential) + "\r\n";
  }

  // The decision lines of the git path ("kind":"local").
  std::vector<Json> gitDecisions() {
    std::vector<Json> out;
    for (const std::string& line : proxy_->decisionLines()) {
      Json j = Json::parse(line, nullptr, false);
      if (j.is_object() && j.value("kind", "") == "local") out.push_back(j);
    }
    return out;
  }

  size_t peerRequests(const std::string& path_part) {
    size_t n = 0;
    for (const Json& r : peer_->requests()) {
      if (r.value("path", "").find(path_part) != std::string::npos) ++n;
    }
    return n;
  }

  std::string token_;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<GitPeer> peer_;
  TempDir secrets_;
  std::string token_file_;
  std::string bad_token_file_;
  std::string admin_token_file_;
  std::unique_ptr<Gatehouse> proxy_;
  GitClient client_;
  std::string seen_by_client_;
};

// ---- what works ---------------------------------------------------------------------------------

TEST_F(GitPathTest, CloneFetchV2PushNewBranchAndUpdate) {
  const std::string dir = cloneAndCommit("work");
  EXPECT_TRUE(std::filesystem::exists(dir + "/README.md"));

  // A new session branch.
  CommandResult push = git({"push", "origin", std::string("HEAD:") + kBranch}, dir);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_NE(push.err.find("[new branch]      HEAD -> agent-branch"), std::string::npos) << push.err;
  EXPECT_EQ(peer_->refs("org/repo")["refs/heads/agent-branch"], head(dir));

  // An update of it.
  commit(dir, "b.txt");
  push = git({"push", "origin", std::string("HEAD:") + kBranch}, dir);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(peer_->refs("org/repo")["refs/heads/agent-branch"], head(dir));
  EXPECT_NE(peer_->refs("org/repo")["refs/heads/main"], head(dir));

  // Fetch with protocol v2: Git-Protocol reaches the upstream on upload-pack.
  CommandResult fetch = git({"-c", "protocol.version=2", "fetch", "origin"}, dir);
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  bool v2 = false;
  for (const Json& r : peer_->requests()) {
    if (r.value("path", "").find("git-upload-pack") != std::string::npos &&
        GitPeer::header(r, "git-protocol") == "version=2") {
      v2 = true;
    }
    if (r.value("path", "").find("receive-pack") != std::string::npos) {
      EXPECT_EQ(GitPeer::header(r, "git-protocol"), "") << "Git-Protocol only for upload-pack";
    }
  }
  EXPECT_TRUE(v2);

  // The decision lines name the session, the repo and the ref updates.
  bool logged_push = false;
  for (const Json& d : gitDecisions()) {
    // (git's first request of each command carries no credential: 401, no session.)
    if (d.value("status", 0) != 401) {
      EXPECT_EQ(d.value("session", ""), "sbx-1");
    }
    if (d.value("git_service", "") == "receive-pack" && d.contains("ref_updates") &&
        d.value("decision", "") == "allow") {
      logged_push = true;
      EXPECT_EQ(d.value("repo", ""), "org/repo");
      EXPECT_EQ(d.value("status", 0), 200);
      EXPECT_NE(d["ref_updates"][0].get<std::string>().find("refs/heads/agent-branch "),
                std::string::npos);
    }
  }
  EXPECT_TRUE(logged_push);
  const std::string metrics = curlAdmin("/metrics");
  EXPECT_NE(metrics.find("gatehouse_git_pushes_total{result=\"accepted\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(GitPathTest, LargePushStreamsChunkedAfterTheProbe) {
  const std::string dir = cloneAndCommit("big");
  commit(dir, "big.bin", 3 << 20);  // incompressible: the pack is > 2 MiB
  CommandResult push = git({"push", "origin", std::string("HEAD:") + kBranch}, dir);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(peer_->refs("org/repo")["refs/heads/agent-branch"], head(dir));
  bool chunked = false;
  bool probe = false;
  for (const Json& r : peer_->requests()) {
    if (r.value("path", "").find("/git-receive-pack") == std::string::npos) continue;
    if (GitPeer::header(r, "transfer-encoding") == "chunked" &&
        r.value("body_len", 0) > (2 << 20)) {
      chunked = true;
    }
    if (r.value("body_len", 0) == 4) probe = true;
  }
  EXPECT_TRUE(chunked) << peer_->logText();
  EXPECT_TRUE(probe) << "git probes with 0000 before a large chunked push";
}

// ---- refused pushes -------------------------------------------------------------------------

TEST_F(GitPathTest, PushToMainIsRejectedWithTheReason) {
  const std::string dir = cloneAndCommit("main");
  const auto before = peer_->refs("org/repo");
  CommandResult push = git({"push", "origin", "HEAD:main"}, dir);
  EXPECT_NE(push.exit_code, 0);
  EXPECT_NE(push.err.find(std::string(" ! [remote rejected] HEAD -> main (") + kOnly + ")"),
            std::string::npos)
      << push.err;
  EXPECT_NE(push.err.find(std::string("remote: push refused by gatehouse: ") + kOnly),
            std::string::npos)
      << push.err;
  EXPECT_EQ(peer_->refs("org/repo"), before);
  EXPECT_EQ(peerRequests("/git-receive-pack"), 0u) << "a refused push never reaches upstream";
}

TEST_F(GitPathTest, TagDeleteAndMultiRefPushesAreRejected) {
  const std::string dir = cloneAndCommit("refs");
  ASSERT_EQ(git({"push", "origin", std::string("HEAD:") + kBranch}, dir).exit_code, 0);
  const auto before = peer_->refs("org/repo");

  ASSERT_EQ(git({"tag", "v1"}, dir).exit_code, 0);
  CommandResult tag = git({"push", "origin", "v1"}, dir);
  EXPECT_NE(tag.exit_code, 0);
  EXPECT_NE(tag.err.find(std::string(" ! [remote rejected] v1 -> v1 (tags may not be pushed; ") +
                         kOnly + ")"),
            std::string::npos)
      << tag.err;

  CommandResult del = git({"push", "origin", std::string(":") + kBranch}, dir);
  EXPECT_NE(del.exit_code, 0);
  EXPECT_NE(del.err.find(" ! [remote rejected] agent-branch (deleting refs is not allowed; only "
                         "refs/heads/agent-branch may be created or updated in this session)"),
            std::string::npos)
      << del.err;

  commit(dir, "c.txt");
  CommandResult multi = git({"push", "origin", std::string("HEAD:") + kBranch, "HEAD:main"}, dir);
  EXPECT_NE(multi.exit_code, 0);
  EXPECT_NE(multi.err.find(" ! [remote rejected] HEAD -> agent-branch (push refused: another ref "
                           "in this push is not allowed)"),
            std::string::npos)
      << multi.err;
  EXPECT_NE(multi.err.find(std::string(" ! [remote rejected] HEAD -> main (") + kOnly + ")"),
            std::string::npos)
      << multi.err;
  EXPECT_EQ(peer_->refs("org/repo"), before) << "no ref changed upstream";
}

TEST_F(GitPathTest, CompressedPushBodyIs415) {
  const std::string body = "0000";
  HttpResponse r =
      raw("POST /git/org/repo.git/git-receive-pack HTTP/1.1\r\nHost: x\r\n" + basic(kScoped1) +
          "Content-Type: application/x-git-receive-pack-request\r\n"
          "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n" +
          body);
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.header("x-gatehouse-reason"), "push-content-encoding");
  EXPECT_NE(r.body.find("compressed push bodies are not accepted"), std::string::npos);
  EXPECT_EQ(peerRequests("/git-receive-pack"), 0u);
}

// ---- scope and credentials ------------------------------------------------------------------

TEST_F(GitPathTest, RepoOutOfScopeIsRefusedAtDiscovery) {
  CommandResult r = git({"clone", "https://github.com/org/other.git", client_.path("other")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("remote: gatehouse: this repository is not in the session's scope"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(peerRequests("org/other"), 0u);
}

TEST_F(GitPathTest, ReadOnlyRepoClonesButCannotPush) {
  const std::string dir = client_.path("ro");
  CommandResult clone = git({"clone", "https://github.com/org/readonly.git", dir});
  ASSERT_EQ(clone.exit_code, 0) << clone.err;
  commit(dir, "x.txt");
  CommandResult push = git({"push", "origin", std::string("HEAD:") + kBranch}, dir);
  EXPECT_NE(push.exit_code, 0);
  EXPECT_NE(push.err.find("remote: gatehouse: this session may not push to this repository "
                          "(read-only access)"),
            std::string::npos)
      << push.err;
  EXPECT_EQ(peerRequests("service=git-receive-pack"), 0u);
}

TEST_F(GitPathTest, MissingCredentialGets401Challenge) {
  HttpResponse r =
      raw("GET /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Basic realm=\"gatehouse-git\"");
  GitClient bare;
  useProxy(bare, "");
  CommandResult clone =
      git({"clone", "https://github.com/org/repo.git", bare.path("c")}, "", &bare);
  EXPECT_NE(clone.exit_code, 0);
  EXPECT_NE(clone.err.find("terminal prompts disabled"), std::string::npos) << clone.err;
  EXPECT_EQ(peer_->requests().size(), 0u);
}

TEST_F(GitPathTest, WrongExpiredAndOtherSessionCredentialsAreRefused) {
  struct Case {
    const char* credential;
    const char* message;
  };
  const Case cases[] = {
      {"gatehouse_gc_wrongDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
       "remote: gatehouse: unknown or revoked git credential"},
      {"not-a-gatehouse-credential", "remote: gatehouse: not a gatehouse git credential"},
      {kScopedExpired, "remote: gatehouse: "},
      {kScoped2, "remote: gatehouse: this repository is not in the session's scope"},
  };
  int n = 0;
  for (const Case& c : cases) {
    GitClient other;
    useProxy(other, c.credential);
    CommandResult clone =
        git({"clone", "https://github.com/org/repo.git", other.path("c" + std::to_string(n++))}, "",
            &other);
    EXPECT_NE(clone.exit_code, 0) << c.credential;
    EXPECT_NE(clone.err.find(c.message), std::string::npos) << clone.err;
  }
  // The expired session's refusal says so.
  HttpResponse r =
      raw("GET /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n" +
          basic(kScopedExpired) + "\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("x-gatehouse-reason"), "git-session-expired");
  EXPECT_EQ(peer_->requests().size(), 0u);
}

TEST_F(GitPathTest, OddPathsAndLfsAreRefused) {
  struct Case {
    std::string target;
    int status;
  };
  const Case cases[] = {
      {"/git/org/repo.git/info/lfs/objects/batch", 403},
      {"/git/org/repo.git/../other.git/info/refs?service=git-upload-pack", 404},
      {"/git//org/repo.git/info/refs?service=git-upload-pack", 404},
      {"/git/org/%72epo.git/info/refs?service=git-upload-pack", 404},
      {"/git/org/repo.git/info/refs", 404},
      {"/git/org/re\\po.git/info/refs?service=git-upload-pack", 400},
      {"/git/org/repo.git/objects/info/packs", 404},
      {"/git/org/repo.git/info/refs?service=git-upload-pack&service=git-receive-pack", 400},
  };
  for (const Case& c : cases) {
    HttpResponse r = raw("GET " + c.target + " HTTP/1.1\r\nHost: x\r\n" + basic(kScoped1) + "\r\n");
    EXPECT_EQ(r.status, c.status) << c.target;
    EXPECT_NE(r.header("content-type").find("text/plain"), std::string::npos) << c.target;
  }
  EXPECT_EQ(peer_->requests().size(), 0u);
}

// A client that stops in the middle of a push body does not hold the connection: no byte either
// way for twice idle_timeout_ms closes it.
TEST_F(GitPathTest, AStalledPushBodyIsClosed) {
  ASSERT_EQ(proxy_->stop(), 0);
  ASSERT_TRUE(startProxy("", "idle_timeout_ms = 300\n"));
  auto c = RawClient::connect("127.0.0.1", proxy_->port());
  ASSERT_NE(c, nullptr);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->send("POST /git/org/repo.git/git-receive-pack HTTP/1.1\r\nHost: x\r\n" +
                      basic(kScoped1) +
                      "Content-Type: application/x-git-receive-pack-request\r\n"
                      "Content-Length: 1000\r\n\r\n0094000000"));
  EXPECT_TRUE(c->waitForClose(milliseconds(5000)));
  const auto ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(ms, 500);
  EXPECT_LE(ms, 2500);
  EXPECT_EQ(peerRequests("/git-receive-pack"), 0u);
}

// ---- the upstream -------------------------------------------------------------------------------

TEST_F(GitPathTest, UpstreamRedirectBecomes502) {
  ASSERT_EQ(proxy_->stop(), 0);
  ASSERT_TRUE(startProxy("/redirect"));
  HttpResponse r =
      raw("GET /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n" +
          basic(kScoped1) + "\r\n");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("x-gatehouse-reason"), "git-upstream-redirect");
  EXPECT_EQ(r.header("location"), "");
  ASSERT_EQ(peer_->requests().size(), 1u);
}

TEST_F(GitPathTest, UnverifiedUpstreamCertificateNeverSeesTheToken) {
  for (int variant = 0; variant < 2; ++variant) {
    peer_->stop();
    if (variant == 0) {
      startPeer(ca_->wrongNameCert(), ca_->wrongNameKey());
    } else {
      startPeer(ca_->untrustedCert(), ca_->untrustedKey());
    }
    ASSERT_EQ(proxy_->stop(), 0);
    ASSERT_TRUE(startProxy());
    HttpResponse r =
        raw("GET /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n" +
            basic(kScoped1) + "\r\n");
    EXPECT_EQ(r.status, 502) << variant;
    EXPECT_EQ(r.header("x-gatehouse-reason"), "git-upstream-tls") << variant;
    EXPECT_EQ(peer_->requests().size(), 0u) << "no request completed on an unverified peer";
  }
}

TEST_F(GitPathTest, UpstreamRefusingTheTokenIs502NotA401) {
  GitClient revoked;
  useProxy(revoked, kScopedRevoked);
  CommandResult clone =
      git({"clone", "https://github.com/org/repo.git", revoked.path("c")}, "", &revoked);
  EXPECT_NE(clone.exit_code, 0);
  EXPECT_NE(clone.err.find("remote: gatehouse: the upstream refused the session's token; ask the "
                           "operator to renew it"),
            std::string::npos)
      << clone.err;
  EXPECT_NE(clone.err.find("The requested URL returned error: 502"), std::string::npos)
      << clone.err;
}

// A multi-megabyte pack streams through: the proxy's peak memory grows by far less than the pack.
TEST_F(GitPathTest, LargePackIsNeverHeldWhole) {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine keeps freed memory resident: measure the proxy without it.
  const char* options = std::getenv("ASAN_OPTIONS");
  const std::string asan = std::string(options != nullptr ? options : "") +
                           ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
  const std::string saved = options != nullptr ? options : "";
  ASSERT_EQ(client_.run({"config", "--global", "--remove-section", "url." + proxyBase()}).exit_code,
            0);
  ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
  ASSERT_EQ(proxy_->stop(), 0);
  const bool started = startProxy();
  ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  ASSERT_TRUE(started);
  ASSERT_TRUE(client_.config("url." + proxyBase() + ".insteadOf", "https://github.com/"));
#endif
  const std::string dir = cloneAndCommit("huge");
  const long before = peakRssKiB();
  ASSERT_GT(before, 0);
  commit(dir, "huge.bin", 48 << 20);
  CommandResult push = git({"push", "origin", std::string("HEAD:") + kBranch}, dir);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(peer_->refs("org/repo")["refs/heads/agent-branch"], head(dir));
  const long after = peakRssKiB();
  std::cerr << "peak RSS " << before << " KiB -> " << after << " KiB for a 48 MiB pack\n";
  EXPECT_LT(after - before, 16 * 1024) << "the pack was buffered";
}

// Sessions made through the control API get their git credential once; deleting the session
// revokes it at once.
TEST_F(GitPathTest, DynamicSessionGitBindingThroughTheControlApi) {
  const std::string body =
      R"({"git":{"repos":["org/repo"],"push_branch":"dyn-branch","token":")" + token_ + R"("}})";
  const Json created = Json::parse(curlAdmin("/v1/sessions", "POST", body), nullptr, false);
  ASSERT_TRUE(created.contains("git_credential")) << created.dump();
  const std::string credential = created["git_credential"].get<std::string>();
  const std::string id = created["id"].get<std::string>();
  EXPECT_EQ(credential.rfind("gatehouse_gc_", 0), 0u);
  const std::string shown = curlAdmin("/v1/sessions/" + id);
  EXPECT_EQ(shown.find(credential), std::string::npos);
  EXPECT_EQ(shown.find(token_), std::string::npos);

  GitClient dyn;
  useProxy(dyn, credential);
  const std::string dir = dyn.path("d");
  CommandResult clone = git({"clone", "https://github.com/org/repo.git", dir}, "", &dyn);
  ASSERT_EQ(clone.exit_code, 0) << clone.err;
  commit(dir, "d.txt");
  CommandResult push = git({"push", "origin", "HEAD:dyn-branch"}, dir, &dyn);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(peer_->refs("org/repo")["refs/heads/dyn-branch"], head(dir));

  curlAdmin("/v1/sessions/" + id, "DELETE");
  CommandResult after = git({"fetch", "origin"}, dir, &dyn);
  EXPECT_NE(after.exit_code, 0);
  EXPECT_NE(after.err.find("remote: gatehouse: unknown or revoked git credential"),
            std::string::npos)
      << after.err;
}

// ---- the GitHub API -------------------------------------------------------------------------

TEST_F(GitPathTest, ApiAllowsPrWorkOnTheSessionBranchOnly) {
  auto api = [&](const std::string& method, const std::string& path, const std::string& body) {
    std::string req = method + " /github/api" + path + " HTTP/1.1\r\nHost: x\r\n" +
                      "Authorization: Bearer " + kScoped1 + "\r\n" +
                      "Content-Type: application/json\r\nCookie: session=abc\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return raw(req);
  };
  HttpResponse pr =
      api("POST", "/repos/org/repo/pulls", R"({"title":"t","head":"agent-branch","base":"main"})");
  EXPECT_EQ(pr.status, 201) << pr.body;
  ASSERT_EQ(peer_->requests().size(), 1u);
  const Json sent = peer_->requests()[0];
  EXPECT_EQ(GitPeer::header(sent, "authorization"), "Bearer " + token_);
  EXPECT_EQ(sent.value("path", ""), "/repos/org/repo/pulls");
  EXPECT_NE(sent.value("body", "").find("agent-branch"), std::string::npos);

  struct Refused {
    std::string method, path, body;
  };
  const Refused refused[] = {
      {"POST", "/repos/org/repo/pulls", R"({"title":"t","head":"main","base":"agent-branch"})"},
      {"PUT", "/repos/org/repo/pulls/1/merge", "{}"},
      {"PUT", "/repos/org/repo/contents/README.md", R"({"message":"m","content":"eA=="})"},
      {"POST", "/graphql", R"({"query":"{viewer{login}}"})"},
      {"GET", "/repos/org/other/pulls", ""},
      {"POST", "/repos/org/repo/git/refs", R"({"ref":"refs/heads/main","sha":"0"})"},
  };
  for (const Refused& r : refused) {
    HttpResponse resp = api(r.method, r.path, r.body);
    EXPECT_EQ(resp.status, 403) << r.method << " " << r.path;
    EXPECT_NE(resp.header("content-type").find("application/json"), std::string::npos);
    EXPECT_TRUE(Json::parse(resp.body, nullptr, false).contains("message")) << resp.body;
  }
  EXPECT_EQ(peer_->requests().size(), 1u) << "refused API calls never reach the upstream";
}

}  // namespace
}  // namespace gatehouse::testing
