#include "gitproxy/route.h"

#include <utility>
#include <vector>

#include "gitproxy/git_names.h"

namespace gatehouse::gitproxy {
namespace {

constexpr std::string_view kGitPrefix = "/git/";
constexpr std::string_view kApiPrefix = "/github/api";  // followed by '/'

constexpr std::string_view kNotSmartHttp =
    "only git smart-HTTP is served here: /git/<owner>/<repo>.git/info/refs, git-upload-pack "
    "and git-receive-pack";

RouteError error(int status, std::string_view reason, std::string_view message) {
  return RouteError{status, std::string(reason), std::string(message)};
}

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Printable ASCII without space; no fragment ('#' is never part of a request target) and no
// backslash (some servers read it as '/').
bool validTargetBytes(std::string_view target) {
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#' || c == '\\') return false;
  }
  return true;
}

// Every '%' starts a complete %XX escape.
bool wellFormedEscapes(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !isHex(s[i + 1]) || !isHex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// Splits "a/b/c" on '/'; "" gives one empty segment.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// No empty, "." or ".." segment (so no "//" and no trailing '/').
bool plainSegments(const std::vector<std::string_view>& segs) {
  for (std::string_view s : segs) {
    if (s.empty() || s == "." || s == "..") return false;
  }
  return true;
}

bool endsWithGitSuffix(std::string_view name) {
  return name.size() >= 4 && asciiLower(name.substr(name.size() - 4)) == ".git";
}

std::variant<GitRoute, RouteError> routeApi(std::string_view path, std::string_view query,
                                            bool has_query) {
  constexpr std::string_view kBadApiPath =
      "the API path must be /github/api/<path> with plain segments: no '.', '..' or empty "
      "segments, no ';' and no percent-encoding outside the query";
  // Percent-encoding in the path could hide a '/', '\' or "..": the allowlist matches the path
  // as written, so it must mean what it says.
  if (path.find('%') != std::string_view::npos || path.find(';') != std::string_view::npos ||
      !plainSegments(segments(path.substr(1)))) {
    return error(400, "bad-api-path", kBadApiPath);
  }
  if (has_query && (query.empty() || !wellFormedEscapes(query))) {
    return error(400, "bad-api-path", "the API query must be non-empty and correctly escaped");
  }
  GitRoute route;
  route.kind = RouteKind::kApi;
  route.api_path = std::string(path);
  route.api_query = std::string(query);
  return route;
}

std::variant<GitRoute, RouteError> routeGit(std::string_view method, std::string_view path,
                                            std::string_view query, bool has_query) {
  // Nothing is decoded or normalised: anything that would need it is not a path git sends.
  if (path.find_first_of("%;") != std::string_view::npos) {
    return error(404, "not-smart-http", kNotSmartHttp);
  }
  const std::vector<std::string_view> segs = segments(path.substr(kGitPrefix.size()));
  if (segs.size() < 3 || !plainSegments(segs)) return error(404, "not-smart-http", kNotSmartHttp);

  std::string_view owner = segs[0];
  std::string_view repo = segs[1];
  if (endsWithGitSuffix(repo)) repo.remove_suffix(4);
  if (!validOwner(owner) || !validRepoName(repo) || endsWithGitSuffix(repo)) {
    return error(400, "bad-git-path",
                 "the git path must be /git/<owner>/<repo>.git/ with a valid GitHub owner and "
                 "repository name");
  }

  const std::vector<std::string_view> suffix(segs.begin() + 2, segs.end());
  if (suffix.size() >= 2 && suffix[0] == "info" && suffix[1] == "lfs") {
    return error(403, "lfs-not-supported",
                 "Git LFS is not supported by this proxy version; fetch and push without LFS "
                 "objects");
  }

  GitRoute route;
  route.owner = std::string(owner);
  route.repo = std::string(repo);
  if (suffix.size() == 2 && suffix[0] == "info" && suffix[1] == "refs") {
    if (method != "GET") {
      return error(405, "method-not-allowed", "info/refs is served only for GET");
    }
    // Without a service this is the "dumb HTTP" ref listing.
    if (!has_query) return error(404, "not-smart-http", kNotSmartHttp);
    if (query == "service=git-upload-pack") {
      route.service = GitService::kUploadPack;
    } else if (query == "service=git-receive-pack") {
      route.service = GitService::kReceivePack;
    } else {
      return error(400, "bad-git-query",
                   "info/refs takes exactly one query parameter: service=git-upload-pack or "
                   "service=git-receive-pack");
    }
    route.kind = RouteKind::kInfoRefs;
    return route;
  }
  if (suffix.size() == 1 && (suffix[0] == "git-upload-pack" || suffix[0] == "git-receive-pack")) {
    if (method != "POST") {
      return error(405, "method-not-allowed",
                   "git-upload-pack and git-receive-pack are served only for POST");
    }
    if (has_query) {
      return error(400, "bad-git-query", "git-upload-pack and git-receive-pack take no query");
    }
    route.kind = RouteKind::kRpc;
    route.service =
        suffix[0] == "git-receive-pack" ? GitService::kReceivePack : GitService::kUploadPack;
    return route;
  }
  return error(404, "not-smart-http", kNotSmartHttp);
}

}  // namespace

std::variant<GitRoute, RouteError> routeGitRequest(std::string_view method,
                                                   std::string_view target) {
  if (target.empty() || target[0] != '/' || !validTargetBytes(target)) {
    return error(400, "bad-target", "the request target is not a valid origin-form path");
  }
  const size_t q = target.find('?');
  const bool has_query = q != std::string_view::npos;
  const std::string_view path = target.substr(0, q);
  const std::string_view query = has_query ? target.substr(q + 1) : std::string_view();

  if (path.substr(0, kGitPrefix.size()) == kGitPrefix) {
    return routeGit(method, path, query, has_query);
  }
  if (path.size() > kApiPrefix.size() && path.substr(0, kApiPrefix.size()) == kApiPrefix &&
      path[kApiPrefix.size()] == '/') {
    return routeApi(path.substr(kApiPrefix.size()), query, has_query);
  }
  return error(404, "unknown-endpoint",
               "this proxy serves git at /git/<owner>/<repo>.git/ and the GitHub API at "
               "/github/api/");
}

}  // namespace gatehouse::gitproxy
