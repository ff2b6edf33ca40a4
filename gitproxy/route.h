// Strict routing of the git path's local endpoints (SPEC §7, BAD-INPUTS I1, I2, I14): which
// request targets may ever reach the credential swap.
//
//   GET  /git/<owner>/<repo>[.git]/info/refs?service=git-upload-pack|git-receive-pack
//   POST /git/<owner>/<repo>[.git]/git-upload-pack
//   POST /git/<owner>/<repo>[.git]/git-receive-pack
//   ANY  /github/api/<path>[?query]   (the REST allowlist is gitproxy/api_policy.h)
//
// Everything else is refused here, before any credential is looked at. The target is taken as
// written and never decoded or normalised: a '%', '\', ';', "." or ".." segment, an empty
// segment or a trailing '/' in a git path is refused instead of being interpreted, so the repo
// the scope check sees is exactly the repo the upstream will serve (I2: no path trick may
// inject the token for another repo). Owner and repo keep their case as written; GitHub
// compares them case-insensitively and so does GitGrant::find.
//
// Decisions: one ".git" suffix (any case) is removed from the repo; a name still ending in
// ".git" after that ("r.git.git") is refused, as the upstream might strip it again. The old
// "dumb HTTP" paths (HEAD, objects/, info/packs) and info/refs without a service are not
// smart-HTTP: 404. Git LFS (<repo>/info/lfs/...) is refused with 403 and says so: its batch
// API hands out storage URLs on other hosts, which this proxy does not serve (I14).
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace gatehouse::gitproxy {

enum class GitService : uint8_t { kUploadPack, kReceivePack };

enum class RouteKind : uint8_t {
  kInfoRefs,  // GET <repo>/info/refs?service=...
  kRpc,       // POST <repo>/git-upload-pack or <repo>/git-receive-pack
  kApi,       // /github/api/...
};

struct GitRoute {
  RouteKind kind = RouteKind::kInfoRefs;
  GitService service = GitService::kUploadPack;  // kInfoRefs and kRpc
  std::string owner;                             // as written ("Octo-Org"); "" for kApi
  std::string repo;                              // as written, without ".git"; "" for kApi
  // kApi: the path after /github/api, starting with '/' ("/repos/o/r/pulls"); never decoded.
  std::string api_path;
  std::string api_query;  // kApi: the raw query without '?', "" if none
};

struct RouteError {
  int status = 404;  // 400, 403, 404 or 405
  // A stable kebab-case code for logs and metrics: "bad-target", "unknown-endpoint",
  // "not-smart-http", "bad-git-path", "bad-git-query", "lfs-not-supported",
  // "method-not-allowed", "bad-api-path".
  std::string reason;
  // One line of printable ASCII for the client (git prints it as "remote: ..."); fixed text
  // that never echoes the request.
  std::string message;
};

// `method`: the request method as received (case-sensitive, as HTTP methods are);
// `target`: the raw origin-form request target ("/git/o/r.git/info/refs?service=...").
std::variant<GitRoute, RouteError> routeGitRequest(std::string_view method,
                                                   std::string_view target);

}  // namespace gatehouse::gitproxy
