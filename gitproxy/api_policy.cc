#include "gitproxy/api_policy.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "gitproxy/git_names.h"

namespace gatehouse::gitproxy {
namespace {

constexpr std::string_view kAllowedText =
    "allowed are reading the repository, pulls, issues, checks and branches, and opening or "
    "editing pull requests, commenting and comment-only reviews, on the session's repositories";

// One allowlisted endpoint below /repos/{owner}/{repo}. Pattern segments: literals, {n} and
// {id} (decimal digits), {ref} and {branch} (any one segment).
struct Endpoint {
  std::string_view method;
  std::string_view pattern;  // "" = the repository itself
  ApiBody body = ApiBody::kNone;
};

constexpr std::array kEndpoints = {
    Endpoint{"GET", ""},
    Endpoint{"GET", "pulls"},
    Endpoint{"GET", "pulls/{n}"},
    Endpoint{"GET", "pulls/{n}/commits"},
    Endpoint{"GET", "pulls/{n}/files"},
    Endpoint{"GET", "pulls/{n}/comments"},
    Endpoint{"GET", "pulls/{n}/reviews"},
    Endpoint{"GET", "pulls/{n}/reviews/{id}/comments"},
    Endpoint{"GET", "issues"},
    Endpoint{"GET", "issues/{n}"},
    Endpoint{"GET", "issues/{n}/comments"},
    Endpoint{"GET", "issues/comments/{id}"},
    Endpoint{"GET", "commits/{ref}/check-runs"},
    Endpoint{"GET", "commits/{ref}/check-suites"},
    Endpoint{"GET", "commits/{ref}/status"},
    Endpoint{"GET", "commits/{ref}/statuses"},
    Endpoint{"GET", "check-runs/{id}"},
    Endpoint{"GET", "check-suites/{id}"},
    Endpoint{"GET", "statuses/{ref}"},
    Endpoint{"GET", "branches"},
    Endpoint{"GET", "branches/{branch}"},
    Endpoint{"POST", "pulls", ApiBody::kPullCreate},
    Endpoint{"PATCH", "pulls/{n}", ApiBody::kPullEdit},
    Endpoint{"POST", "issues/{n}/comments"},
    Endpoint{"PATCH", "issues/comments/{id}"},
    Endpoint{"POST", "pulls/{n}/comments"},
    Endpoint{"POST", "pulls/{n}/reviews", ApiBody::kReviewCreate},
    Endpoint{"POST", "pulls/{n}/comments/{id}/replies"},
};

// Splits on '/'; "" gives no segments.
std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

bool isNumber(std::string_view s) {
  return !s.empty() && s.size() <= 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool matches(std::string_view pattern, const std::vector<std::string_view>& rest) {
  const std::vector<std::string_view> want = split(pattern);
  if (want.size() != rest.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{n}" || want[i] == "{id}") {
      if (!isNumber(rest[i])) return false;
    } else if (want[i] == "{ref}" || want[i] == "{branch}") {
      // Any one segment; the path was checked for empty and dot segments already.
    } else if (want[i] != rest[i]) {
      return false;
    }
  }
  return true;
}

// Printable ASCII only, no '%' or '\', no empty, "." or ".." segment: the path means what it
// says (gitproxy/route.h refuses these first; this keeps the function safe on any input).
bool plainPath(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '%' || c == '\\' || c == ';' || c == '?' || c == '#') {
      return false;
    }
  }
  for (std::string_view seg : split(path.substr(1))) {
    if (seg.empty() || seg == "." || seg == "..") return false;
  }
  return path.size() > 1;
}

bool knownMethod(std::string_view m) {
  return m == "GET" || m == "POST" || m == "PATCH" || m == "PUT" || m == "DELETE";
}

ApiVerdict refuse(ApiVerdict v, std::string_view reason, std::string message) {
  v.allowed = false;
  v.body_check = ApiBody::kNone;
  v.reason = std::string(reason);
  v.message = std::move(message);
  return v;
}

std::string notAllowed() {
  return "this GitHub API request is not allowed; " + std::string(kAllowedText);
}

// Why an unlisted request on an in-scope repo is refused.
ApiVerdict refuseUnlisted(ApiVerdict v, std::string_view method,
                          const std::vector<std::string_view>& rest) {
  for (std::string_view seg : rest) {
    if (seg == "merge" || seg == "merges" || seg == "merge-upstream") {
      return refuse(std::move(v), "api-merge-refused",
                    "merging through the API is not allowed; a person merges the pull request");
    }
  }
  const bool write = method != "GET";
  if (write && !rest.empty() && rest[0] == "contents") {
    return refuse(std::move(v), "api-contents-write-refused",
                  "writing files through the API is not allowed; push commits to the session's "
                  "branch with git");
  }
  if (write && !rest.empty() && rest[0] == "git") {
    return refuse(std::move(v), "api-git-write-refused",
                  "writing git refs or objects through the API is not allowed; push to the "
                  "session's branch with git");
  }
  return refuse(std::move(v), "api-not-allowed", notAllowed());
}

// ---- bodies ------------------------------------------------------------------------------------

constexpr int kMaxJsonDepth = 32;

BodyVerdict bodyOk() { return BodyVerdict{true, "", ""}; }

BodyVerdict bodyRefused(std::string_view reason, std::string message) {
  return BodyVerdict{false, std::string(reason), std::move(message)};
}

bool iequals(std::string_view a, std::string_view b) { return asciiLower(a) == asciiLower(b); }

// Nesting depth of arrays and objects, outside strings; stops counting once over the limit.
bool depthWithin(std::string_view body, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// The body as one JSON object into *out; false when it is not one (or too deep, or has a
// duplicate top-level key).
bool parseObject(std::string_view body, nlohmann::json* out) {
  if (!depthWithin(body, kMaxJsonDepth)) return false;
  std::set<std::string> top_keys;
  bool duplicate = false;
  nlohmann::json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t event,
                                                   nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!top_keys.insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  nlohmann::json value =
      nlohmann::json::parse(body.begin(), body.end(), on_event, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object() || duplicate) return false;
  *out = std::move(value);
  return true;
}

// Branch names come from config; keep messages printable and JSON-safe whatever they hold.
std::string safeText(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') ? '?' : c;
  }
  return out;
}

std::vector<std::string_view> sessionBranches(const GitGrant& grant) {
  std::vector<std::string_view> out;
  if (!grant.push_branch.empty()) out.push_back(grant.push_branch);
  for (const std::string& b : grant.extra_branches) {
    if (!b.empty()) out.push_back(b);
  }
  return out;
}

std::string headMessage(const GitGrant& grant) {
  const std::vector<std::string_view> branches = sessionBranches(grant);
  if (branches.empty()) return "this session has no branch to open a pull request from";
  std::string list;
  for (std::string_view b : branches) {
    if (!list.empty()) list += ", ";
    list += safeText(b);
  }
  return "a pull request's head must be the session's branch (" + list +
         "), written 'branch' or 'owner:branch' on this repository";
}

BodyVerdict checkPullCreate(const nlohmann::json& body, const GitGrant& grant,
                            std::string_view owner, std::string_view repo) {
  const auto head = body.find("head");
  if (head == body.end() || !head->is_string()) {
    return bodyRefused("api-pull-head-not-allowed", headMessage(grant));
  }
  std::string_view branch = head->get_ref<const std::string&>();
  const size_t colon = branch.find(':');
  if (colon != std::string_view::npos) {
    // "<owner>:<branch>": a head in a fork or another owner's repository is not this session's.
    if (!iequals(branch.substr(0, colon), owner)) {
      return bodyRefused("api-pull-head-not-allowed", headMessage(grant));
    }
    branch = branch.substr(colon + 1);
  }
  const std::vector<std::string_view> branches = sessionBranches(grant);
  if (std::find(branches.begin(), branches.end(), branch) == branches.end()) {
    return bodyRefused("api-pull-head-not-allowed", headMessage(grant));
  }
  const auto head_repo = body.find("head_repo");
  if (head_repo != body.end()) {
    const bool same =
        head_repo->is_string() && (iequals(head_repo->get_ref<const std::string&>(), repo) ||
                                   iequals(head_repo->get_ref<const std::string&>(),
                                           std::string(owner) + "/" + std::string(repo)));
    if (!same) {
      return bodyRefused("api-pull-head-repo-not-allowed",
                         "a pull request's head_repo, when given, must be this repository");
    }
  }
  return bodyOk();
}

BodyVerdict checkPullEdit(const nlohmann::json& body) {
  for (const auto& [key, value] : body.items()) {
    if (key == "title" || key == "body" || key == "maintainer_can_modify") continue;
    if (key == "state") {
      if (value.is_string() && (value == "open" || value == "closed")) continue;
      return bodyRefused("api-pull-state-not-allowed",
                         "a pull request's state may be set to 'open' or 'closed' only");
    }
    if (key == "base") {
      return bodyRefused("api-pull-base-refused",
                         "changing a pull request's base branch is not allowed (it could publish "
                         "the head into another branch); edit title, body or state only");
    }
    return bodyRefused("api-pull-field-not-allowed",
                       "a pull request edit may change title, body, state and "
                       "maintainer_can_modify only");
  }
  return bodyOk();
}

BodyVerdict checkReviewCreate(const nlohmann::json& body) {
  const auto event = body.find("event");
  if (event == body.end() || (event->is_string() && *event == "COMMENT")) return bodyOk();
  return bodyRefused("api-review-event-refused",
                     "a review may only comment (event COMMENT or none); approving or requesting "
                     "changes is not allowed");
}

}  // namespace

ApiVerdict checkApiRequest(const ApiRequest& req, const GitGrant& grant) {
  ApiVerdict v;
  if (!plainPath(req.path)) return refuse(std::move(v), "api-not-allowed", notAllowed());
  if (req.path == "/graphql") {
    return refuse(std::move(v), "graphql-not-allowed",
                  "the GraphQL API is not allowed; use the REST endpoints for pulls, issues and "
                  "checks");
  }
  const std::vector<std::string_view> segs = split(req.path.substr(1));
  if (segs.size() < 3 || segs[0] != "repos" || !validOwner(segs[1]) || !validRepoName(segs[2])) {
    return refuse(std::move(v), "api-not-allowed", notAllowed());
  }
  v.owner = std::string(segs[1]);
  v.repo = std::string(segs[2]);
  const RepoScope* scope = grant.find(v.owner, v.repo);
  if (scope == nullptr) {
    return refuse(std::move(v), "api-other-repo",
                  "this repository is not in the session's scope; " + std::string(kAllowedText));
  }
  if (!knownMethod(req.method)) return refuse(std::move(v), "api-not-allowed", notAllowed());

  const std::vector<std::string_view> rest(segs.begin() + 3, segs.end());
  for (const Endpoint& e : kEndpoints) {
    if (e.method != req.method || !matches(e.pattern, rest)) continue;
    if (e.method != "GET" && !scope->push) {
      return refuse(std::move(v), "api-read-only",
                    "the session has read-only access to this repository; only reads are "
                    "allowed");
    }
    v.allowed = true;
    v.body_check = e.body;
    return v;
  }
  return refuseUnlisted(std::move(v), req.method, rest);
}

BodyVerdict checkApiBody(ApiBody kind, std::string_view body, const GitGrant& grant,
                         std::string_view owner, std::string_view repo) {
  if (kind == ApiBody::kNone) return bodyOk();
  if (body.size() > kMaxApiBody) {
    return bodyRefused("api-body-too-large", "the request body is larger than the checked limit");
  }
  nlohmann::json json;
  if (!parseObject(body, &json)) {
    return bodyRefused("api-body-invalid",
                       "the request body must be one JSON object (valid UTF-8, no duplicate "
                       "keys, nested at most 32 deep)");
  }
  switch (kind) {
    case ApiBody::kPullCreate:
      return checkPullCreate(json, grant, owner, repo);
    case ApiBody::kPullEdit:
      return checkPullEdit(json);
    case ApiBody::kReviewCreate:
      return checkReviewCreate(json);
    case ApiBody::kNone:
      break;
  }
  return bodyRefused("api-body-invalid", "the request body cannot be checked");
}

}  // namespace gatehouse::gitproxy
