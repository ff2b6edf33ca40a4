// BAD-INPUTS I (the git credential path), J1/J5 (the token) and the session rows (407). The git
// upstream is tests/e2e/git_upstream.py behind TLS with the real `git http-backend`; the session
// sbx-1 holds org/repo (push branch agent-branch) and org/readonly:read. Every row runs serially
// so the upstream's request log tells exactly what each row caused; INV-NOTOKEN is checked once
// for the whole run (J1.token in the runner).
//
// Not applicable:
//   I7 force-push detection needs the object graph: gatehouse cannot see it (residual risk,
//      rely on branch protection).
//   I14's storage redirects: LFS is refused outright, so no redirect is ever followed.
#include <nlohmann/json.hpp>

#include "tests/catalogue/catalogue.h"
#include "tests/integration/git_peer.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::catalogue {

namespace {

using Json = nlohmann::json;

constexpr char kZero[] = "0000000000000000000000000000000000000000";
// Stands for the object id of main in command lines (same length, so pkt-line lengths hold).
const std::string kMark = "MAINMAINMAINMAINMAINMAINMAINMAINMAINMAIN";

std::vector<Json> peerSince(const World& w, size_t from) {
  std::vector<Json> out;
  const auto all = w.peerRequests();
  for (size_t i = from; i < all.size(); ++i) out.push_back(Json::parse(all[i], nullptr, false));
  return out;
}

std::string peerHeader(const Json& r, std::string_view name) {
  if (!r.contains("headers")) return "";
  for (const auto& h : r["headers"]) {
    if (h.is_array() && h.size() == 2 && equalsNoCase(h[0].get<std::string>(), name)) {
      return h[1].get<std::string>();
    }
  }
  return "";
}

struct GitReply {
  std::optional<HttpResponse> response;
  std::vector<Json> upstream;  // what the git upstream received because of it
};

// One request to the proxy's local git endpoint (a new connection; the reply read whole).
GitReply gitCall(Ctx& ctx, const std::string& request) {
  GitReply out;
  const size_t before = ctx.world.peerRequests().size();
  auto client = ctx.connect();
  if (client == nullptr) return out;
  if (ctx.sent.empty()) ctx.sent = request;
  client->send(request);
  out.response = client->readResponse(milliseconds(15000), request.rfind("HEAD ", 0) == 0);
  if (out.response) ctx.saw(out.response->head + out.response->body);
  out.upstream = peerSince(ctx.world, before);
  return out;
}

std::string infoRefs(const std::string& path, const std::string& credential,
                     const std::string& extra = "") {
  return "GET /git/" + path + " HTTP/1.1\r\nHost: x\r\n" +
         (credential.empty()
              ? std::string()
              : "Authorization: Basic " + testing_credentials::base64("x:" + credential) + "\r\n") +
         extra + "Connection: close\r\n\r\n";
}

std::string post(const std::string& path, const std::string& body, const std::string& extra = "",
                 bool chunked = false) {
  std::string r = "POST /git/" + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " +
                  testing_credentials::base64(std::string("x:") + kScoped) + "\r\n" + extra +
                  "Connection: close\r\n";
  if (chunked) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    return r + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + body + "\r\n0\r\n\r\n";
  }
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kPushType = "Content-Type: application/x-git-receive-pack-request\r\n";

// The request reaches the upstream exactly `count` times, always with the swapped credential.
void expectUpstream(Ctx& ctx, const GitReply& reply, size_t count, const std::string& path_part) {
  ctx.expect(reply.upstream.size() == count, "git upstream: expected " + std::to_string(count) +
                                                 " request(s), got " +
                                                 std::to_string(reply.upstream.size()));
  for (const Json& r : reply.upstream) {
    const std::string auth = peerHeader(r, "authorization");
    ctx.expect(
        auth == testing::gitBasicAuth(ctx.world.token()) || auth == "Bearer " + ctx.world.token(),
        "the upstream request did not carry the swapped token");
    ctx.expect(r.value("path", "").find(path_part) != std::string::npos,
               "upstream path " + r.value("path", "") + " (expected " + path_part + ")");
    ctx.expect(r.dump().find(kScoped) == std::string::npos, "the scoped credential went upstream");
  }
}

Case git(std::string id, std::string why, std::function<void(Ctx&)> fn) {
  return custom(std::move(id), std::move(why), std::move(fn)).on(Profile::kGit).serialRun();
}

// A discovery request: `status`, and `upstream` requests reached GitHub.
Case discovery(std::string id, std::string why, std::string path, int status, size_t upstream,
               std::string credential = kScoped) {
  return git(std::move(id), std::move(why), [path, status, upstream, credential](Ctx& ctx) {
    GitReply r = gitCall(ctx, infoRefs(path, credential));
    if (!ctx.expect(r.response.has_value(), "no response")) return;
    ctx.expect(r.response->status == status, "expected " + std::to_string(status) + ", actual " +
                                                 std::to_string(r.response->status) + " " +
                                                 r.response->header("X-Gatehouse-Reason"));
    if (status >= 400) {
      ctx.expect(r.response->header("Content-Type").find("text/plain") != std::string::npos,
                 "a git refusal is text/plain (git prints it)");
    }
    expectUpstream(ctx, r, upstream, upstream > 0 ? "info/refs" : "");
  });
}

// A push whose commands are refused: 200 with a report-status naming every ref "ng", nothing
// upstream.
Case refusedPush(std::string id, std::string why, std::vector<std::string> commands,
                 std::vector<std::string> ng_refs, bool with_pack = true) {
  return git(std::move(id), std::move(why), [commands, ng_refs, with_pack](Ctx& ctx) {
    std::vector<std::string> expanded;
    for (const std::string& c : commands) {
      std::string e = c;
      for (size_t at; (at = e.find(kMark)) != std::string::npos;)
        e.replace(at, 40, ctx.world.mainOid());
      expanded.push_back(e);
    }
    GitReply r =
        gitCall(ctx, post("org/repo.git/git-receive-pack",
                          receivePackBody(expanded, with_pack ? emptyPack() : ""), kPushType));
    if (!ctx.expect(r.response.has_value(), "no response")) return;
    ctx.expect(r.response->status == 200,
               "expected 200 with a report-status, actual " + std::to_string(r.response->status));
    for (const std::string& ref : ng_refs) {
      ctx.expect(r.response->body.find("ng " + ref) != std::string::npos,
                 "report-status lacks \"ng " + ref + "\": " + escapeBytes(r.response->body, 300));
    }
    ctx.expect(r.response->body.find("ok refs/") == std::string::npos, "a ref was reported ok");
    expectUpstream(ctx, r, 0, "");
  });
}

// A malformed receive-pack body: refused (status in `statuses`), nothing upstream.
Case malformedPush(std::string id, std::string why, std::string body, std::vector<int> statuses) {
  return git(std::move(id), std::move(why), [body, statuses](Ctx& ctx) {
    std::string b = body;
    for (size_t at; (at = b.find(kMark)) != std::string::npos;)
      b.replace(at, 40, ctx.world.mainOid());
    GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack", b, kPushType));
    if (!ctx.expect(r.response.has_value(), "no response")) return;
    ctx.expect(std::find(statuses.begin(), statuses.end(), r.response->status) != statuses.end(),
               "unexpected status " + std::to_string(r.response->status) + " " +
                   r.response->header("X-Gatehouse-Reason") + " " +
                   escapeBytes(r.response->body, 200));
    expectUpstream(ctx, r, 0, "");
  });
}

}  // namespace

std::vector<Case> gitCases() {
  const std::string cmd_branch = std::string(kZero) + " " + kMark + " refs/heads/agent-branch";
  std::vector<Case> c;
  // ---- I1: which requests get the token ----
  c.push_back(discovery("I1", "upload-pack discovery gets the real token",
                        "org/repo.git/info/refs?service=git-upload-pack", 200, 1));
  c.push_back(discovery("I1.b", "receive-pack discovery gets the real token",
                        "org/repo.git/info/refs?service=git-receive-pack", 200, 1));
  c.push_back(git("I1.c", "POST git-upload-pack gets the real token", [](Ctx& ctx) {
    const std::string body = pktLine("command=ls-refs\n") + "0000";
    GitReply r = gitCall(ctx, post("org/repo.git/git-upload-pack", body,
                                   "Content-Type: application/x-git-upload-pack-request\r\n"
                                   "Git-Protocol: version=2\r\n"));
    ctx.expect(r.response && r.response->status == 200, "expected 200");
    expectUpstream(ctx, r, 1, "git-upload-pack");
  }));
  c.push_back(discovery("I1.d", "any other path of the repo: no token, nothing upstream",
                        "org/repo.git/HEAD", 404, 0));
  c.push_back(
      discovery("I1.e", "dumb-HTTP objects path", "org/repo.git/objects/info/packs", 404, 0));
  c.push_back(discovery("I1.f", "info/refs without a service", "org/repo.git/info/refs", 404, 0));
  c.push_back(discovery("I1.g", "an unknown service", "org/repo.git/info/refs?service=git-archive",
                        400, 0));
  c.push_back(discovery("I1.h", "a repository outside the session",
                        "org/other.git/info/refs?service=git-upload-pack", 403, 0));
  c.push_back(discovery("I1.i", "no credential: 401 challenge, nothing upstream",
                        "org/repo.git/info/refs?service=git-upload-pack", 401, 0, ""));
  c.push_back(discovery("I1.j", "a wrong scoped credential",
                        "org/repo.git/info/refs?service=git-upload-pack", 401, 0,
                        "gatehouse_gc_wrongDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"));
  c.push_back(discovery("I1.k", "the real token presented as the credential is not a credential",
                        "org/repo.git/info/refs?service=git-upload-pack", 401, 0, "REALTOKEN"));
  c.push_back(git("I1.l",
                  "absolute-form request to github.com through the forward proxy: "
                  "refused, no token",
                  [](Ctx& ctx) {
                    GitReply r = gitCall(
                        ctx,
                        "GET http://github.com/org/repo.git/info/refs?service=git-upload-pack "
                        "HTTP/1.1\r\nHost: github.com\r\n" +
                            proxyAuth("sbx-1") + "Authorization: Basic " +
                            testing_credentials::base64(std::string("x:") + kScoped) + "\r\n\r\n");
                    ctx.expect(r.response && r.response->status == 403, "expected 403");
                    expectUpstream(ctx, r, 0, "");
                    ctx.noDns("github.com");
                  }));
  c.push_back(
      git("I1.m", "CONNECT github.com:443 through the forward proxy: refused", [](Ctx& ctx) {
        GitReply r = gitCall(ctx, "CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n" +
                                      proxyAuth("sbx-1") + "\r\n");
        ctx.expect(r.response && r.response->status == 403, "expected 403");
        ctx.noDns("github.com");
      }));
  c.push_back(git("I1.n", "PUT on the repository path", [](Ctx& ctx) {
    GitReply r =
        gitCall(ctx,
                "PUT /git/org/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\n"
                "Host: x\r\n" +
                    ctx.world.gitBasic(kScoped) + "Content-Length: 0\r\nConnection: close\r\n\r\n");
    ctx.expect(r.response && r.response->status == 405, "expected 405");
    expectUpstream(ctx, r, 0, "");
  }));
  // ---- I2: path variants ----
  c.push_back(discovery("I2", "owner/repo in uppercase: GitHub names are case-insensitive",
                        "ORG/REPO.git/info/refs?service=git-upload-pack", 200, 1));
  c.push_back(
      discovery("I2.b", "without .git", "org/repo/info/refs?service=git-upload-pack", 200, 1));
  c.push_back(discovery("I2.c", "a trailing slash after the repo",
                        "org/repo.git//info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.d", "a double slash before the owner",
                        "/org/repo.git/info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.e", "dot-dot to another repo",
                        "org/repo.git/../other.git/info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.f", "percent-encoded dot-dot",
                        "org/repo.git/%2e%2e/other.git/info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.g", "percent-encoded slash",
                        "org%2Frepo.git/info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.h", "a ;parameter", "org/repo.git;x/info/refs?service=git-upload-pack",
                        404, 0));
  c.push_back(discovery("I2.i", "two service parameters",
                        "org/repo.git/info/refs?service=git-upload-pack&service=git-receive-pack",
                        400, 0));
  c.push_back(discovery("I2.j", "percent-encoded repo letter",
                        "org/%72epo.git/info/refs?service=git-upload-pack", 404, 0));
  c.push_back(discovery("I2.k", "backslash in the path",
                        "org/re\\po.git/info/refs?service=git-upload-pack", 400, 0));
  c.push_back(discovery("I2.l", "read-only repo: receive-pack discovery refused",
                        "org/readonly.git/info/refs?service=git-receive-pack", 403, 0));
  c.push_back(discovery("I2.m", "read-only repo: fetch allowed",
                        "org/readonly.git/info/refs?service=git-upload-pack", 200, 1));
  // ---- I3-I6, I10: pushes ----
  c.push_back(git("I3", "push creating refs/heads/agent-branch is forwarded with the token",
                  [cmd_branch](Ctx& ctx) {
                    std::string cmd = cmd_branch;
                    cmd.replace(cmd.find(kMark), 40, ctx.world.mainOid());
                    GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack",
                                                   receivePackBody({cmd}, emptyPack()), kPushType));
                    ctx.expect(r.response && r.response->status == 200, "expected 200");
                    if (r.response) {
                      ctx.expect(
                          r.response->body.find("ok refs/heads/agent-branch") != std::string::npos,
                          "upstream report: " + escapeBytes(r.response->body, 200));
                    }
                    expectUpstream(ctx, r, 1, "git-receive-pack");
                  }));
  c.push_back(
      git("I10", "a chunked push (large-push framing) is streamed with the token", [](Ctx& ctx) {
        const std::string cmd =
            ctx.world.mainOid() + " " + ctx.world.mainOid() + " refs/heads/agent-branch";
        GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack",
                                       receivePackBody({cmd}, emptyPack()), kPushType, true));
        ctx.expect(r.response && r.response->status == 200, "expected 200");
        expectUpstream(ctx, r, 1, "git-receive-pack");
      }));
  c.push_back(git("I10.b", "the 4-byte 0000 probe of large pushes is allowed", [](Ctx& ctx) {
    GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack", "0000", kPushType));
    ctx.expect(r.response && r.response->status == 200,
               "expected 200, got " + (r.response ? std::to_string(r.response->status) : "none"));
    expectUpstream(ctx, r, 1, "git-receive-pack");
  }));
  const std::pair<const char*, const char*> refused[] = {
      {"refs/heads/main", "main"},
      {"refs/tags/v1", "a tag"},
      {"refs/notes/commits", "notes"},
      {"refs/pull/1/head", "a pull ref"},
      {"refs/heads/agent-branch2", "a branch with the session branch as prefix"},
      {"refs/heads/agent-branch/x", "a branch under the session branch"},
      {"refs/heads/Agent-Branch", "the session branch in another case"},
  };
  char letter = 'a';
  for (const auto& [ref, what] : refused) {
    c.push_back(refusedPush(letter == 'a' ? std::string("I4") : std::string("I4.") + letter,
                            std::string("push to ") + what + " is refused before the token",
                            {std::string(kZero) + " " + kMark + " " + ref}, {ref}));
    ++letter;
  }
  c.push_back(refusedPush("I5",
                          "deleting the session branch is refused (a delete-only push "
                          "carries no pack)",
                          {kMark + " " + kZero + " refs/heads/agent-branch"},
                          {"refs/heads/agent-branch"}, false));
  c.push_back(malformedPush(
      "I4.h", "push to HEAD (not under refs/): malformed, refused",
      receivePackBody({std::string(kZero) + " " + kMark + " HEAD"}, emptyPack()), {400}));
  c.push_back(malformedPush(
      "I4.i", "a refname with dot-dot: malformed, refused",
      receivePackBody({std::string(kZero) + " " + kMark + " refs/heads/../heads/agent-branch"},
                      emptyPack()),
      {400}));
  c.push_back(refusedPush("I6", "two commands, one disallowed: the whole push is refused",
                          {kMark + " " + kMark + " refs/heads/agent-branch",
                           std::string(kZero) + " " + kMark + " refs/heads/main"},
                          {"refs/heads/agent-branch", "refs/heads/main"}));
  c.push_back(refusedPush("I6.b", "the disallowed command first",
                          {std::string(kZero) + " " + kMark + " refs/tags/v2",
                           kMark + " " + kMark + " refs/heads/agent-branch"},
                          {"refs/tags/v2", "refs/heads/agent-branch"}));
  // ---- I8: malformed pkt-lines ----
  const std::string caps = std::string("\0report-status\n", 15);
  c.push_back(malformedPush("I8", "bad hex length", "zzzz" + cmd_branch + "\n0000", {400}));
  c.push_back(
      malformedPush("I8.b", "length 1", "0001" + pktLine(cmd_branch + caps) + "0000", {400}));
  c.push_back(
      malformedPush("I8.c", "length 2", "0002" + pktLine(cmd_branch + caps) + "0000", {400}));
  c.push_back(
      malformedPush("I8.d", "length 3", "0003" + pktLine(cmd_branch + caps) + "0000", {400}));
  c.push_back(malformedPush("I8.e", "length over 65520", "fff5" + cmd_branch + caps, {400}));
  c.push_back(malformedPush("I8.f", "truncated pkt-line", "00a0" + cmd_branch, {400}));
  c.push_back(malformedPush("I8.g", "missing flush", pktLine(cmd_branch + caps), {400}));
  c.push_back(malformedPush("I8.h", "missing NUL before the capabilities",
                            pktLine(cmd_branch + " report-status\n") + "0000" + emptyPack(),
                            {400}));
  c.push_back(
      malformedPush("I8.i", "a huge capability list",
                    pktLine(cmd_branch + std::string(1, '\0') + std::string(60000, 'c') + "\n") +
                        "0000" + emptyPack(),
                    {400}));
  c.push_back(
      malformedPush("I8.j", "push options are refused (report-status ng, nothing upstream)",
                    pktLine(cmd_branch + std::string("\0report-status push-options\n", 28)) +
                        "0000" + pktLine("ci.skip") + "0000" + emptyPack(),
                    {200}));
  // A well-formed shallow line is what git sends when pushing from a shallow clone (`git clone
  // --depth 1`, common in sandboxes): it is parsed, and the push decided by its commands. Only
  // malformed or misplaced shallow lines fail closed (I8.k2, I8.k3).
  c.push_back(git("I8.k", "a well-formed shallow line before an allowed command is forwarded",
                  [cmd_branch, caps](Ctx& ctx) {
                    std::string cmd = cmd_branch;
                    cmd.replace(cmd.find(kMark), 40, ctx.world.mainOid());
                    GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack",
                                                   pktLine("shallow " + ctx.world.mainOid()) +
                                                       pktLine(cmd + caps) + "0000" + emptyPack(),
                                                   kPushType));
                    ctx.expect(r.response && r.response->status == 200, "expected 200");
                    expectUpstream(ctx, r, 1, "git-receive-pack");
                  }));
  c.push_back(malformedPush("I8.k2", "a shallow line whose id is not hex fails closed",
                            pktLine("shallow " + std::string(40, 'z')) +
                                pktLine(cmd_branch + caps) + "0000" + emptyPack(),
                            {400}));
  c.push_back(malformedPush("I8.k3", "a shallow line after the first command fails closed",
                            pktLine(cmd_branch + caps) +
                                pktLine("shallow " + std::string(40, 'a')) + "0000" + emptyPack(),
                            {400}));
  c.push_back(malformedPush("I8.l", "a signed push (push-cert)",
                            pktLine(std::string("push-cert\0report-status\n", 24)) +
                                pktLine("certificate version 0.1\n") + pktLine("push-cert-end\n") +
                                "0000" + emptyPack(),
                            {400}));
  c.push_back(malformedPush(
      "I8.m", "an old id that is not hex",
      pktLine(std::string(40, 'g') + " " + kMark + " refs/heads/agent-branch" + caps) + "0000" +
          emptyPack(),
      {400}));
  c.push_back(malformedPush("I8.n", "an empty body", "", {400}));
  // ---- I9: compressed bodies ----
  for (const char* enc : {"gzip", "deflate", "br", "identity", "x-gzip"}) {
    c.push_back(git(
        std::string("I9.") + enc,
        std::string("Content-Encoding: ") + enc + " on receive-pack is 415", [enc](Ctx& ctx) {
          GitReply r = gitCall(ctx, post("org/repo.git/git-receive-pack", "0000",
                                         kPushType + "Content-Encoding: " + enc + "\r\n"));
          ctx.expect(
              r.response && r.response->status == 415,
              "expected 415, got " + (r.response ? std::to_string(r.response->status) : "none"));
          expectUpstream(ctx, r, 0, "");
        }));
  }
  c.back().id = "I9";
  // ---- I11-I15 ----
  c.push_back(
      git("I11", "an upstream redirect becomes 502; the token never follows it", [](Ctx& ctx) {
        GitReply r =
            gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-upload-pack", kScoped));
        ctx.expect(r.response && r.response->status == 502, "expected 502");
        if (r.response) {
          ctx.expect(r.response->header("Location").empty(), "the Location was relayed");
          ctx.expect(r.response->header("X-Gatehouse-Reason") == "git-upstream-redirect",
                     "reason " + r.response->header("X-Gatehouse-Reason"));
        }
        expectUpstream(ctx, r, 1, "/redirect/");
      }).on(Profile::kGitRedirect));
  c.push_back(git("I13",
                  "the scoped credential sent to a non-GitHub host is never swapped for "
                  "the token",
                  [](Ctx& ctx) {
                    auto ex = ctx.exchangeUntilClose(ctx.expand(
                        "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n" +
                        proxyAuth("sbx-1") + ctx.world.gitBasic(kScoped) + "\r\n"));
                    // Decision: forwarded with the scoped credential stripped.
                    ctx.expect(!ex.responses.empty() && ex.responses[0].status == 200,
                               "expected 200 (forwarded, credential stripped)");
                    const auto recs = ctx.sinkRecords("");
                    ctx.expect(recs.size() == 1, "expected the request at the sink");
                    for (const SinkRecord& r : recs) {
                      ctx.expect(r.request.count("Authorization") == 0,
                                 "Authorization reached a non-GitHub host: " +
                                     r.request.header("Authorization"));
                    }
                  }));
  c.push_back(git(
      "I12",
      "an upstream certificate with a wrong name, or from an untrusted CA: "
      "502, and no request (so no token) ever completes on that connection",
      [](Ctx& ctx) {
        const testing::TestCa& ca = ctx.world.ca();
        const std::pair<std::string, std::string> leaves[] = {
            {ca.wrongNameCert(), ca.wrongNameKey()}, {ca.untrustedCert(), ca.untrustedKey()}};
        for (const auto& [cert, key] : leaves) {
          std::string error;
          auto peer = testing::GitPeer::start(ca, ctx.world.token(), cert, key, &error, "");
          if (!ctx.expect(peer != nullptr, "git upstream: " + error)) return;
          auto proxy = ctx.world.startProxy(ctx.world.gitToml("", peer.get()), &error);
          if (!ctx.expect(proxy != nullptr, "proxy: " + error)) return;
          auto r = testing::proxyExchange(
              proxy->port(), infoRefs("org/repo.git/info/refs?service=git-upload-pack", kScoped),
              milliseconds(10000));
          ctx.expect(r && r->status == 502 && r->header("X-Gatehouse-Reason") == "git-upstream-tls",
                     "expected 502 git-upstream-tls, actual " +
                         (r ? std::to_string(r->status) + " " + r->header("X-Gatehouse-Reason")
                            : std::string("none")));
          if (r) ctx.saw(r->head + r->body);
          ctx.expect(peer->requests().empty(), "a request completed on an unverified upstream");
          ctx.expect(proxy->stderrText().find(ctx.world.token()) == std::string::npos &&
                         proxy->process().stdoutText().find(ctx.world.token()) == std::string::npos,
                     "the token in the proxy's output");
          ctx.expect(proxy->stop() == std::optional<int>(0), "the proxy did not stop cleanly");
        }
      }));
  c.push_back(discovery("I14", "LFS batch API is refused (no token outside git smart-HTTP)",
                        "org/repo.git/info/lfs/objects/batch", 403, 0));
  c.push_back(git("I15", "protocol v2 fetch: Git-Protocol reaches upload-pack", [](Ctx& ctx) {
    GitReply r = gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-upload-pack", kScoped,
                                       "Git-Protocol: version=2\r\n"));
    ctx.expect(r.response && r.response->status == 200, "expected 200");
    expectUpstream(ctx, r, 1, "info/refs");
    if (r.upstream.size() == 1) {
      ctx.expect(peerHeader(r.upstream[0], "git-protocol") == "version=2", "Git-Protocol dropped");
    }
  }));
  c.push_back(
      git("I15.b", "protocol v2 on receive-pack: Git-Protocol is not forwarded", [](Ctx& ctx) {
        GitReply r = gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-receive-pack",
                                           kScoped, "Git-Protocol: version=2\r\n"));
        ctx.expect(r.response && r.response->status == 200, "expected 200");
        if (r.upstream.size() == 1) {
          ctx.expect(peerHeader(r.upstream[0], "git-protocol").empty(),
                     "Git-Protocol reached receive-pack");
        }
      }));
  c.push_back(git("G1.git",
                  "Connection: Authorization on the git path: the token is still "
                  "injected (proxy-added headers come after stripping)",
                  [](Ctx& ctx) {
                    GitReply r =
                        gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-upload-pack",
                                              kScoped, "Connection: Authorization\r\n"));
                    ctx.expect(r.response && r.response->status == 200, "expected 200");
                    expectUpstream(ctx, r, 1, "info/refs");
                  }));
  c.push_back(git("G3.git", "Upgrade is never relayed on the git path", [](Ctx& ctx) {
    GitReply r = gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-upload-pack", kScoped,
                                       "Upgrade: websocket\r\n"));
    ctx.expect(r.response && r.response->status != 101, "a 101 on the git path");
    for (const Json& u : r.upstream) {
      ctx.expect(peerHeader(u, "upgrade").empty(), "Upgrade reached the git upstream");
    }
  }));
  c.push_back(
      git("G2.git", "a client Cookie and Proxy-Authorization never reach GitHub", [](Ctx& ctx) {
        GitReply r = gitCall(ctx, infoRefs("org/repo.git/info/refs?service=git-upload-pack",
                                           kScoped, "Cookie: s=1\r\n" + proxyAuth("sbx-1")));
        ctx.expect(r.response && r.response->status == 200, "expected 200");
        for (const Json& u : r.upstream) {
          ctx.expect(peerHeader(u, "cookie").empty(), "Cookie reached the git upstream");
          ctx.expect(peerHeader(u, "proxy-authorization").empty(),
                     "Proxy-Authorization reached the git upstream");
        }
      }));
  c.push_back(git("J5", "the token is not in the proxy's argv or environment", [](Ctx& ctx) {
    const std::string pid = std::to_string(ctx.world.rig(Profile::kGit).proxy->pid());
    for (const char* f : {"cmdline", "environ"}) {
      const std::string text = testing::readFile("/proc/" + pid + "/" + f);
      ctx.expect(text.find(ctx.world.token()) == std::string::npos,
                 std::string("the token is in /proc/PID/") + f);
    }
  }));
  // ---- session authentication (407 only there) ----
  const std::pair<const char*, std::string> auth_rows[] = {
      {"no Proxy-Authorization when sessions are required", ""},
      {"a wrong proxy password",
       "Proxy-Authorization: Basic " + testing_credentials::base64("sbx-1:wrong") + "\r\n"},
      {"an unknown session",
       "Proxy-Authorization: Basic " + testing_credentials::base64("nobody:proxy-nobody") + "\r\n"},
      {"a Bearer scheme", "Proxy-Authorization: Bearer proxy-sbx-1\r\n"},
      {"Basic without a colon",
       "Proxy-Authorization: Basic " + testing_credentials::base64("sbx-1") + "\r\n"},
  };
  letter = 'a';
  for (const auto& [what, header] : auth_rows) {
    c.push_back(refuse(letter == 'a' ? std::string("L2.auth") : std::string("L2.auth.") + letter,
                       std::string("session auth failure: ") + what + " -> 407",
                       "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n" + header + "\r\n", 407)
                    .on(Profile::kGit));
    ++letter;
  }
  c.push_back(refuse("L2",
                     "a session whose environment is level none denies everything (fail "
                     "closed)",
                     "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n" + proxyAuth("sbx-none") + "\r\n",
                     403)
                  .on(Profile::kGit));
  c.push_back(forward("L2.b", "the same request with a session allowed to reach the host",
                      "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n" + proxyAuth("sbx-1") + "\r\n",
                      lacksHeader("Proxy-Authorization"))
                  .on(Profile::kGit)
                  .noFollow());
  c.back().statuses = {200};
  c.back().upstream_after = 0;
  return c;
}

}  // namespace gatehouse::catalogue
