// The hermetic GitHub (git_peer.h, tests/e2e/git_upstream.py) proven with real clients and no
// proxy: git clones, pushes (small and chunked), fetches over protocol v2 and is refused with a
// wrong token; curl sees the redirect and status paths and the REST stub; certificates from the
// test CA verify and the untrusted / wrong-name leaves do not. Loopback only, ports 0, every
// command under a deadline.
#include "tests/integration/git_peer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace gatehouse::testing {
namespace {

using Json = nlohmann::json;

constexpr char kToken[] = "upstream-real-token-7f3c9a12e4b6d8f0";
constexpr char kRepo[] = "owner/repo";
constexpr milliseconds kGitTimeout(60000);

std::string str(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

long num(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<long>() : -1;
}

std::string gitOutput(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.finished ? "" : " (timed out)") +
         "\nstdout: " + r.out + "\nstderr: " + r.err;
}

void writeBinary(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string randomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

class GitPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ca_ = TestCa::create(&error);
    ASSERT_NE(ca_, nullptr) << error;
    peer_ = GitPeer::start(*ca_, kToken, &error);
    ASSERT_NE(peer_, nullptr) << error;
    ASSERT_TRUE(peer_->createRepo(kRepo, &error)) << error;
    ASSERT_TRUE(client_.ok());
    ASSERT_TRUE(client_.config("http.sslCAInfo", ca_->caCert()));
    ASSERT_TRUE(client_.addConfig("http.curloptResolve", peer_->resolveEntry("github.com")));
  }

  void TearDown() override {
    if (peer_ == nullptr) return;
    // Whatever happened, the peer never printed the token (or the header carrying it).
    const std::string printed = peer_->stdoutText() + peer_->stderrText();
    if (std::getenv("GIT_PEER_DEBUG") != nullptr) std::cerr << printed;
    EXPECT_EQ(printed.find(kToken), std::string::npos);
    EXPECT_EQ(printed.find(base64Encode(std::string("x-access-token:") + kToken)),
              std::string::npos);
  }

  // The credential as git would send it: one Authorization header on every request.
  void useToken(const std::string& token) {
    ASSERT_TRUE(client_.config("http.extraHeader", "Authorization: " + gitBasicAuth(token)));
  }

  CommandResult git(const std::vector<std::string>& args, const std::string& cwd = "") {
    return client_.run(args, cwd, kGitTimeout);
  }

  // Clones kRepo into client_.path(dir) with the right token.
  void cloneRepo(const std::string& dir) {
    useToken(kToken);
    const CommandResult r = git({"clone", "--quiet", peer_->repoUrl(kRepo), client_.path(dir)});
    ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  }

  std::string head(const std::string& dir) {
    const CommandResult r = git({"rev-parse", "HEAD"}, client_.path(dir));
    EXPECT_EQ(r.exit_code, 0) << gitOutput(r);
    std::string oid = r.out;
    while (!oid.empty() && oid.back() == '\n') oid.pop_back();
    return oid;
  }

  // curl, isolated like the git client (no curlrc, no proxy, no CA variables), `-i`.
  HttpResponse curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl",       "-q",
                                     "-sS",        "-i",
                                     "--max-time", "20",
                                     "--cacert",   ca_->caCert(),
                                     "--resolve",  peer_->resolveEntry("github.com"),
                                     "--resolve",  peer_->resolveEntry("api.github.com")};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r =
        runCommand(withExactEnv({"PATH=/usr/bin:/bin", "HOME=" + client_.home(), "LANG=C"}, argv),
                   milliseconds(30000));
    HttpResponse response;
    size_t consumed = 0;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(parseResponse(r.out, true, false, &response, &consumed), ParseOutcome::kComplete)
        << r.out;
    return response;
  }

  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<GitPeer> peer_;
  GitClient client_;
};

TEST_F(GitPeerTest, CloneOverTlsServesTheInitialCommit) {
  ASSERT_NO_FATAL_FAILURE(cloneRepo("work"));
  const auto refs = peer_->refs(kRepo);
  ASSERT_EQ(refs.count("refs/heads/main"), 1u);
  EXPECT_EQ(head("work"), refs.at("refs/heads/main"));
  EXPECT_TRUE(std::ifstream(client_.path("work") + "/README.md").good());

  const auto requests = peer_->requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(str(requests[0], "method"), "GET");
  EXPECT_EQ(str(requests[0], "path"), "/owner/repo.git/info/refs");
  EXPECT_EQ(str(requests[0], "query"), "service=git-upload-pack");
  std::map<long, int> per_connection;
  for (const auto& r : requests) {
    EXPECT_EQ(str(r, "kind"), "git");
    EXPECT_EQ(str(r, "auth"), "ok");
    EXPECT_EQ(num(r, "status"), 200);
    EXPECT_EQ(str(r, "sni"), "github.com");
    EXPECT_EQ(str(r, "alpn"), "http/1.1");
    EXPECT_EQ(GitPeer::header(r, "Authorization"), peer_->basicAuth());
    EXPECT_EQ(GitPeer::headerCount(r, "Authorization"), 1u);
    ++per_connection[num(r, "conn")];
  }
  EXPECT_EQ(str(requests[1], "path"), "/owner/repo.git/git-upload-pack");
  // Keep-alive: the discovery and the upload-pack share a connection.
  EXPECT_LT(per_connection.size(), requests.size());
}

TEST_F(GitPeerTest, OwnerAndRepoAreMatchedCaseInsensitively) {
  useToken(kToken);
  const CommandResult r =
      git({"clone", "--quiet", peer_->repoUrl("OWNER/Repo"), client_.path("work")});
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  EXPECT_EQ(head("work"), peer_->refs(kRepo).at("refs/heads/main"));
  // Without the .git suffix too (as GitHub).
  const CommandResult bare = git({"ls-remote", peer_->baseUrl() + "/owner/repo"});
  EXPECT_EQ(bare.exit_code, 0) << gitOutput(bare);
  EXPECT_NE(bare.out.find("refs/heads/main"), std::string::npos);
}

TEST_F(GitPeerTest, PushOfANewBranchLandsInTheBareRepo) {
  ASSERT_NO_FATAL_FAILURE(cloneRepo("work"));
  writeBinary(client_.path("work") + "/change.txt", "a change\n");
  ASSERT_EQ(git({"add", "change.txt"}, client_.path("work")).exit_code, 0);
  ASSERT_EQ(git({"commit", "--quiet", "-m", "change"}, client_.path("work")).exit_code, 0);
  const size_t before = peer_->requests().size();
  const CommandResult r =
      git({"push", "origin", "HEAD:refs/heads/claude/task-1"}, client_.path("work"));
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  EXPECT_NE(r.err.find("[new branch]"), std::string::npos) << r.err;

  const auto refs = peer_->refs(kRepo);
  ASSERT_EQ(refs.count("refs/heads/claude/task-1"), 1u);
  EXPECT_EQ(refs.at("refs/heads/claude/task-1"), head("work"));
  EXPECT_NE(refs.at("refs/heads/main"), head("work"));

  const auto requests = peer_->requests();
  ASSERT_EQ(requests.size(), before + 2);
  EXPECT_EQ(str(requests[before], "query"), "service=git-receive-pack");
  EXPECT_EQ(str(requests[before + 1], "method"), "POST");
  EXPECT_EQ(str(requests[before + 1], "path"), "/owner/repo.git/git-receive-pack");
  EXPECT_EQ(GitPeer::header(requests[before + 1], "Content-Type"),
            "application/x-git-receive-pack-request");
  EXPECT_GT(num(requests[before + 1], "body_len"), 0);
  EXPECT_EQ(num(requests[before + 1], "status"), 200);
}

TEST_F(GitPeerTest, FetchSendsGitProtocolVersion2WhenAsked) {
  ASSERT_NO_FATAL_FAILURE(cloneRepo("work"));
  size_t before = peer_->requests().size();
  CommandResult r = git({"-c", "protocol.version=2", "fetch", "origin"}, client_.path("work"));
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  auto requests = peer_->requests();
  ASSERT_GE(requests.size(), before + 1);
  EXPECT_EQ(str(requests[before], "path"), "/owner/repo.git/info/refs");
  for (size_t i = before; i < requests.size(); ++i) {
    EXPECT_EQ(GitPeer::header(requests[i], "Git-Protocol"), "version=2") << i;
    EXPECT_EQ(num(requests[i], "status"), 200);
  }
  // A v2 fetch that is up to date still posts ls-refs to git-upload-pack.
  EXPECT_EQ(str(requests.back(), "path"), "/owner/repo.git/git-upload-pack");

  // Protocol v0: no Git-Protocol header at all.
  before = requests.size();
  r = git({"-c", "protocol.version=0", "fetch", "origin"}, client_.path("work"));
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  requests = peer_->requests();
  ASSERT_GE(requests.size(), before + 1);
  for (size_t i = before; i < requests.size(); ++i) {
    EXPECT_EQ(GitPeer::headerCount(requests[i], "Git-Protocol"), 0u) << i;
  }
}

TEST_F(GitPeerTest, LargePushIsChunkedAfterAFourByteProbe) {
  ASSERT_NO_FATAL_FAILURE(cloneRepo("work"));
  constexpr size_t kSize = size_t{3} * 1024 * 1024;  // > http.postBuffer (1 MiB), incompressible
  writeBinary(client_.path("work") + "/blob.bin", randomBytes(kSize, 42));
  ASSERT_EQ(git({"add", "blob.bin"}, client_.path("work")).exit_code, 0);
  ASSERT_EQ(git({"commit", "--quiet", "-m", "big"}, client_.path("work")).exit_code, 0);
  const size_t before = peer_->requests().size();
  const CommandResult r = git({"push", "origin", "HEAD:refs/heads/big"}, client_.path("work"));
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  EXPECT_EQ(peer_->refs(kRepo).at("refs/heads/big"), head("work"));

  const auto requests = peer_->requests();
  const Json* probe = nullptr;
  const Json* chunked = nullptr;
  for (size_t i = before; i < requests.size(); ++i) {
    const Json& q = requests[i];
    if (str(q, "path") != "/owner/repo.git/git-receive-pack") continue;
    if (GitPeer::header(q, "Transfer-Encoding") == "chunked") {
      chunked = &q;
    } else if (num(q, "body_len") == 4) {
      probe = &q;
    }
  }
  // git first POSTs the 4-byte flush "0000" (Content-Length: 4) to check the credentials, then
  // the real request without a length.
  ASSERT_NE(probe, nullptr) << peer_->logText();
  EXPECT_EQ(GitPeer::header(*probe, "Content-Length"), "4");
  EXPECT_EQ(num(*probe, "status"), 200);
  ASSERT_NE(chunked, nullptr) << peer_->logText();
  EXPECT_EQ(GitPeer::headerCount(*chunked, "Content-Length"), 0u);
  EXPECT_GT(num(*chunked, "body_len"), 2L * 1024 * 1024);
  EXPECT_EQ(num(*chunked, "status"), 200);
}

TEST_F(GitPeerTest, AnUploadPackRequestOver1KiBIsGzipped) {
  // 60 branches on 60 distinct commits: the clone's want list is well over 1 KiB, which git
  // sends with Content-Encoding: gzip (http-backend inflates it: HTTP_CONTENT_ENCODING).
  std::string stream;
  for (int i = 0; i < 60; ++i) {
    const std::string message = "branch " + std::to_string(i) + "\n";
    stream += "commit refs/heads/topic-" + std::to_string(i) +
              "\ncommitter T <t@example.test> 1700000000 +0000\ndata " +
              std::to_string(message.size()) + "\n" + message + "\n";
  }
  const CommandResult imported = peer_->git(kRepo, {"fast-import", "--quiet"}, stream);
  ASSERT_EQ(imported.exit_code, 0) << gitOutput(imported);
  ASSERT_EQ(peer_->refs(kRepo).size(), 61u);

  ASSERT_NO_FATAL_FAILURE(cloneRepo("work"));
  const CommandResult branches = git({"branch", "-r"}, client_.path("work"));
  EXPECT_NE(branches.out.find("origin/topic-59"), std::string::npos) << branches.out;
  bool gzipped = false;
  for (const auto& q : peer_->requests()) {
    EXPECT_EQ(num(q, "status"), 200);
    if (str(q, "path") == "/owner/repo.git/git-upload-pack" &&
        GitPeer::header(q, "Content-Encoding") == "gzip") {
      gzipped = true;
    }
  }
  EXPECT_TRUE(gzipped) << peer_->logText();
}

TEST_F(GitPeerTest, AWrongTokenIsRefusedWith401) {
  useToken("not-the-token");
  CommandResult r = git({"clone", "--quiet", peer_->repoUrl(kRepo), client_.path("work")});
  EXPECT_NE(r.exit_code, 0) << gitOutput(r);
  EXPECT_TRUE(r.finished);
  auto requests = peer_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(num(requests[0], "status"), 401);
  EXPECT_EQ(str(requests[0], "auth"), "bad");

  // Without any credential: missing, and git does not hang on a prompt.
  ASSERT_TRUE(client_.config("http.extraHeader", ""));
  r = git({"ls-remote", peer_->repoUrl(kRepo)});
  EXPECT_NE(r.exit_code, 0) << gitOutput(r);
  EXPECT_TRUE(r.finished);
  requests = peer_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(num(requests[1], "status"), 401);
  EXPECT_EQ(str(requests[1], "auth"), "missing");
  EXPECT_EQ(GitPeer::headerCount(requests[1], "Authorization"), 0u);
}

TEST_F(GitPeerTest, ACredentialHelperAnswersTheChallenge) {
  ASSERT_TRUE(client_.setCredential("x-access-token", kToken));
  const CommandResult r = git({"ls-remote", peer_->repoUrl(kRepo)});
  ASSERT_EQ(r.exit_code, 0) << gitOutput(r);
  // The discovery without a credential (401), again with it, then ls-refs (protocol v2).
  const auto requests = peer_->requests();
  ASSERT_EQ(requests.size(), 3u) << peer_->logText();
  EXPECT_EQ(num(requests[0], "status"), 401);
  EXPECT_EQ(str(requests[0], "auth"), "missing");
  for (size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(num(requests[i], "status"), 200);
    EXPECT_EQ(GitPeer::header(requests[i], "Authorization"), peer_->basicAuth());
  }
}

TEST_F(GitPeerTest, RedirectAndStatusPathsAnswerWithoutFollowing) {
  const std::string auth = "Authorization: " + peer_->basicAuth();
  HttpResponse r =
      curl({"-H", auth, peer_->baseUrl() + "/redirect/repo.git/info/refs?service=git-upload-pack"});
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("Location"), "https://elsewhere.test/x");

  r = curl({"-H", auth, peer_->baseUrl() + "/status/503.git/info/refs?service=git-upload-pack"});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_FALSE(r.body.empty());

  // git itself, told not to follow: fails on the 302 and sends nothing to elsewhere.test.
  useToken(kToken);
  const CommandResult g =
      git({"-c", "http.followRedirects=false", "ls-remote", peer_->repoUrl("redirect/repo")});
  EXPECT_NE(g.exit_code, 0) << gitOutput(g);

  const auto requests = peer_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(str(requests[0], "kind"), "redirect");
  EXPECT_EQ(num(requests[0], "status"), 302);
  EXPECT_EQ(str(requests[1], "kind"), "status");
  EXPECT_EQ(num(requests[1], "status"), 503);
  EXPECT_EQ(num(requests[2], "status"), 302);
}

TEST_F(GitPeerTest, ApiRequestsAreStubbedAndRecordedWithTheirBody) {
  const std::string body = R"({"title":"t","head":"claude/task-1","base":"main"})";
  HttpResponse r = curl({"-X", "POST", "-H", std::string("Authorization: Bearer ") + kToken, "-H",
                         "Content-Type: application/json", "--data-binary", body,
                         peer_->baseUrl() + "/api/v3/repos/owner/repo/pulls"});
  EXPECT_EQ(r.status, 201);
  Json created = Json::parse(r.body, nullptr, false);
  ASSERT_TRUE(created.is_object()) << r.body;
  EXPECT_EQ(created["number"], 1);
  EXPECT_EQ(created["html_url"], "https://github.test/o/r/pull/1");

  // api.github.com style: the API at the root, "token" scheme.
  r = curl({"-H", std::string("Authorization: token ") + kToken,
            peer_->baseUrl("api.github.com") + "/repos/owner/repo/pulls?state=open"});
  EXPECT_EQ(r.status, 200);
  Json listed = Json::parse(r.body, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << r.body;
  EXPECT_EQ(listed["ok"], true);
  EXPECT_EQ(listed["method"], "GET");
  EXPECT_EQ(listed["path"], "/repos/owner/repo/pulls");

  r = curl({"-X", "PATCH", "-H", "Authorization: Bearer wrong", "--data-binary", "{}",
            peer_->baseUrl() + "/api/v3/repos/owner/repo/pulls/1"});
  EXPECT_EQ(r.status, 401);

  const auto requests = peer_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(str(requests[0], "kind"), "api");
  EXPECT_EQ(str(requests[0], "method"), "POST");
  EXPECT_EQ(str(requests[0], "path"), "/api/v3/repos/owner/repo/pulls");
  EXPECT_EQ(str(requests[0], "body"), body);
  EXPECT_EQ(num(requests[0], "body_len"), static_cast<long>(body.size()));
  EXPECT_EQ(num(requests[0], "status"), 201);
  EXPECT_EQ(str(requests[1], "query"), "state=open");
  EXPECT_EQ(str(requests[1], "sni"), "api.github.com");
  EXPECT_EQ(str(requests[2], "auth"), "bad");
  EXPECT_EQ(num(requests[2], "status"), 401);
  EXPECT_EQ(str(requests[2], "body"), "{}");
}

TEST_F(GitPeerTest, UntrustedAndWrongNameCertificatesFailVerification) {
  useToken(kToken);
  struct Row {
    const char* reason;
    std::string cert;
    std::string key;
  };
  const Row rows[] = {
      {"signed by a CA the client does not trust", ca_->untrustedCert(), ca_->untrustedKey()},
      {"trusted CA, but the name does not match", ca_->wrongNameCert(), ca_->wrongNameKey()},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.reason);
    std::string error;
    auto bad = GitPeer::start(*ca_, kToken, row.cert, row.key, &error);
    ASSERT_NE(bad, nullptr) << error;
    ASSERT_TRUE(bad->createRepo(kRepo, &error)) << error;
    GitClient client;
    ASSERT_TRUE(client.config("http.sslCAInfo", ca_->caCert()));
    ASSERT_TRUE(client.addConfig("http.curloptResolve", bad->resolveEntry("github.com")));
    ASSERT_TRUE(client.config("http.extraHeader", "Authorization: " + bad->basicAuth()));
    const CommandResult r = client.run({"ls-remote", bad->repoUrl(kRepo)}, "", kGitTimeout);
    EXPECT_NE(r.exit_code, 0) << gitOutput(r);
    EXPECT_TRUE(r.finished);
    // Debian's git uses libcurl-gnutls: "server certificate verification failed" and
    // "certificate subject name (...) does not match target host name".
    EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
    EXPECT_TRUE(bad->requests().empty()) << bad->logText();
  }
  // The good leaf, same client setup: verifies.
  const CommandResult ok = git({"ls-remote", peer_->repoUrl(kRepo)});
  EXPECT_EQ(ok.exit_code, 0) << gitOutput(ok);
}

}  // namespace
}  // namespace gatehouse::testing
