// The GitHub REST API allowlist for pull-request work (SPEC §7): what a session may ask
// api.github.com through `/github/api/...` with the real token swapped in. Default deny.
//
// Allowed, on the session's repos only (GitGrant::find, owner and repo case-insensitive):
//   reads (read-only scope suffices): the repo itself; pulls and their commits, files,
//   comments, reviews and review comments; issues and issue comments; check runs, check
//   suites and statuses of a commit; branches.
//   writes (push scope): open a pull request (its head must be the session's branch), edit
//   one (title, body, state, maintainer_can_modify; never its base), comment on issues and
//   pulls, reply to review comments, create a review that only comments.
// Refused, each with its own reason: merges ("api-merge-refused"), file writes through
// /contents/ ("api-contents-write-refused"), ref and object writes through /git/
// ("api-git-write-refused"), GraphQL ("graphql-not-allowed"), repos outside the session
// ("api-other-repo"), writes to read-only repos ("api-read-only") and everything else, admin
// endpoints included ("api-not-allowed"). Those writes would publish or destroy work without
// the push policy (gitproxy/push_policy.h) ever seeing it.
//
// Paths are matched as written, segment by segment: {n} and {id} are decimal digits, {ref} and
// {branch} one segment. gitproxy/route.h already refused percent-encoding and dot segments in
// the path; checkApiRequest refuses them again so it is safe on any input.
//
// Decisions: an unlisted path with a "merge", "merges" or "merge-upstream" segment is
// "api-merge-refused", reads included (GET pulls/{n}/merge), so one rule covers every merge
// endpoint; a branch name with '/' cannot be read through branches/{branch} (the segment would
// be ambiguous with branches/{branch}/protection); a review with "event" other than "COMMENT"
// (APPROVE, REQUEST_CHANGES, null) is refused, as an agent must not approve its own work;
// changing a pull request's base is refused, as retargeting can publish the head into another
// branch; unknown keys in a pull request edit are refused.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gitproxy/grant.h"

namespace gatehouse::gitproxy {

struct ApiRequest {
  std::string_view method;
  std::string_view path;   // GitRoute::api_path: "/repos/o/r/pulls"
  std::string_view query;  // GitRoute::api_query (not used for the decision today)
};

// Which check the request body must pass before it is forwarded.
enum class ApiBody : uint8_t { kNone, kPullCreate, kPullEdit, kReviewCreate };

struct ApiVerdict {
  bool allowed = false;
  // The repo the request is on, as written in the path; "" when the path names none.
  std::string owner;
  std::string repo;
  ApiBody body_check = ApiBody::kNone;  // allowed requests only
  // "" when allowed; else a stable code ("api-not-allowed", "api-other-repo", ...).
  std::string reason;
  // "" when allowed; else one line of printable ASCII without quotes or backslashes (safe in a
  // JSON string and a log line) saying what is allowed. Never echoes the request.
  std::string message;
};

ApiVerdict checkApiRequest(const ApiRequest& req, const GitGrant& grant);

// The largest body checkApiBody accepts; the handler bounds what it buffers by its own limit.
inline constexpr size_t kMaxApiBody = size_t{1024} * 1024;

struct BodyVerdict {
  bool allowed = false;
  std::string reason;   // "" when allowed: "api-body-invalid", "api-pull-head-not-allowed", ...
  std::string message;  // "" when allowed; like ApiVerdict::message
};

// The whole request body for an allowed request with `kind` != kNone; `owner`/`repo` from its
// ApiVerdict. The body must be one JSON object (valid UTF-8, nesting at most 32 deep, no
// duplicate top-level keys, since GitHub and this check could pick different duplicates).
//   kPullCreate: "head" is the session's push branch or an extra branch, written "branch" or
//     "<owner>:branch" with the repo's owner (case-insensitive); "head_repo", if present, is
//     this repo ("repo" or "owner/repo", case-insensitive); "base" is not checked.
//   kPullEdit: only title, body, state ("open" or "closed") and maintainer_can_modify.
//   kReviewCreate: "event" absent or exactly "COMMENT".
BodyVerdict checkApiBody(ApiBody kind, std::string_view body, const GitGrant& grant,
                         std::string_view owner, std::string_view repo);

}  // namespace gatehouse::gitproxy
