// The GitHub REST allowlist (gitproxy/api_policy.h): one row per API request a session may or
// may not make, then one row per request body the pull-request, edit and review checks see.
#include "gitproxy/api_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gitproxy/grant.h"
#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using testing_text::paramName;
using testing_text::printable;

// octo-org/hello-world with push access, octo-org/docs read-only; branch agent-branch plus
// the extra branch "extra".
GitGrant testGrant() {
  GitGrant g;
  g.session_id = "s1";
  g.repos = {{"octo-org", "hello-world", true}, {"octo-org", "docs", false}};
  g.push_branch = "agent-branch";
  g.extra_branches = {"extra"};
  return g;
}

// A message is one line that is safe inside a JSON string as it stands.
void expectSafeMessage(const std::string& message, const char* id) {
  EXPECT_FALSE(message.empty()) << id;
  for (char c : message) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\\') << id << ": " << message;
  }
}

// ---- requests ----------------------------------------------------------------------------------

struct RequestRow {
  const char* id;
  std::string method;
  std::string path;
  // "allowed", "allowed pull-create", "allowed pull-edit", "allowed review-create", or the
  // refusal reason.
  std::string want;
};

const char* bodyName(ApiBody b) {
  switch (b) {
    case ApiBody::kNone:
      return "";
    case ApiBody::kPullCreate:
      return " pull-create";
    case ApiBody::kPullEdit:
      return " pull-edit";
    case ApiBody::kReviewCreate:
      return " review-create";
  }
  return " ?";
}

class RequestRows : public ::testing::TestWithParam<RequestRow> {};

TEST_P(RequestRows, Decides) {
  const RequestRow& row = GetParam();
  const GitGrant grant = testGrant();
  const ApiVerdict v = checkApiRequest(ApiRequest{row.method, row.path, ""}, grant);
  const std::string got = v.allowed ? std::string("allowed") + bodyName(v.body_check) : v.reason;
  EXPECT_EQ(got, row.want) << row.id << ": " << row.method << " " << printable(row.path);
  if (v.allowed) {
    EXPECT_TRUE(v.reason.empty()) << row.id;
    EXPECT_TRUE(v.message.empty()) << row.id;
    // The repo as written in the path.
    const std::string prefix = "/repos/" + v.owner + "/" + v.repo;
    EXPECT_EQ(row.path.compare(0, prefix.size(), prefix), 0) << row.id;
  } else {
    EXPECT_EQ(v.body_check, ApiBody::kNone) << row.id;
    expectSafeMessage(v.message, row.id);
  }
}

std::vector<RequestRow> requestRows() {
  const std::string r = "/repos/octo-org/hello-world";
  const std::string ro = "/repos/octo-org/docs";
  return {
      // Reads.
      {"get_repo", "GET", r, "allowed"},
      {"get_pulls", "GET", r + "/pulls", "allowed"},
      {"get_pull", "GET", r + "/pulls/42", "allowed"},
      {"get_pull_commits", "GET", r + "/pulls/42/commits", "allowed"},
      {"get_pull_files", "GET", r + "/pulls/42/files", "allowed"},
      {"get_pull_comments", "GET", r + "/pulls/42/comments", "allowed"},
      {"get_pull_reviews", "GET", r + "/pulls/42/reviews", "allowed"},
      {"get_review_comments", "GET", r + "/pulls/42/reviews/7/comments", "allowed"},
      {"get_issues", "GET", r + "/issues", "allowed"},
      {"get_issue", "GET", r + "/issues/3", "allowed"},
      {"get_issue_comments", "GET", r + "/issues/3/comments", "allowed"},
      {"get_issue_comment", "GET", r + "/issues/comments/99", "allowed"},
      {"get_check_runs", "GET", r + "/commits/abc123/check-runs", "allowed"},
      {"get_check_suites", "GET", r + "/commits/agent-branch/check-suites", "allowed"},
      {"get_status", "GET", r + "/commits/HEAD/status", "allowed"},
      {"get_statuses", "GET", r + "/commits/abc123/statuses", "allowed"},
      {"get_check_run", "GET", r + "/check-runs/5", "allowed"},
      {"get_check_suite", "GET", r + "/check-suites/5", "allowed"},
      {"get_statuses_ref", "GET", r + "/statuses/abc123", "allowed"},
      {"get_branches", "GET", r + "/branches", "allowed"},
      {"get_branch", "GET", r + "/branches/main", "allowed"},
      {"get_commits_ref_named_merge", "GET", r + "/commits/merge/status", "allowed"},
      // Writes.
      {"create_pull", "POST", r + "/pulls", "allowed pull-create"},
      {"edit_pull", "PATCH", r + "/pulls/42", "allowed pull-edit"},
      {"comment_issue", "POST", r + "/issues/42/comments", "allowed"},
      {"edit_issue_comment", "PATCH", r + "/issues/comments/99", "allowed"},
      {"comment_pull", "POST", r + "/pulls/42/comments", "allowed"},
      {"create_review", "POST", r + "/pulls/42/reviews", "allowed review-create"},
      {"reply_comment", "POST", r + "/pulls/42/comments/9/replies", "allowed"},
      // Owner and repo compare case-insensitively; the verdict keeps them as written.
      {"case_owner", "GET", "/repos/Octo-Org/hello-world/pulls", "allowed"},
      {"case_both", "POST", "/repos/OCTO-ORG/Hello-World/pulls", "allowed pull-create"},
      {"case_literal", "GET", r + "/Pulls", "api-not-allowed"},
      {"case_repos", "GET", "/Repos/octo-org/hello-world", "api-not-allowed"},
      // Read-only scope.
      {"ro_get_pulls", "GET", ro + "/pulls", "allowed"},
      {"ro_get_repo", "GET", "/repos/octo-org/DOCS", "allowed"},
      {"ro_create_pull", "POST", ro + "/pulls", "api-read-only"},
      {"ro_edit_pull", "PATCH", ro + "/pulls/1", "api-read-only"},
      {"ro_comment", "POST", ro + "/issues/1/comments", "api-read-only"},
      {"ro_review", "POST", ro + "/pulls/1/reviews", "api-read-only"},
      {"ro_merge", "PUT", ro + "/pulls/1/merge", "api-merge-refused"},
      // Other repos.
      {"other_repo", "GET", "/repos/octo-org/secret/pulls", "api-other-repo"},
      {"other_owner", "GET", "/repos/evil/hello-world/pulls", "api-other-repo"},
      {"other_repo_write", "POST", "/repos/octo-org/secret/pulls", "api-other-repo"},
      {"other_repo_merge", "PUT", "/repos/octo-org/secret/pulls/1/merge", "api-other-repo"},
      {"repo_dot_git", "GET", "/repos/octo-org/hello-world.git/pulls", "api-other-repo"},
      {"bad_owner_name", "GET", "/repos/octo_org/hello-world", "api-not-allowed"},
      {"repos_only", "GET", "/repos/octo-org", "api-not-allowed"},
      // Merges.
      {"merge_pull", "PUT", r + "/pulls/42/merge", "api-merge-refused"},
      {"merge_check", "GET", r + "/pulls/42/merge", "api-merge-refused"},
      {"merges", "POST", r + "/merges", "api-merge-refused"},
      {"merge_upstream", "POST", r + "/merge-upstream", "api-merge-refused"},
      // Contents and git database writes.
      {"contents_put", "PUT", r + "/contents/README.md", "api-contents-write-refused"},
      {"contents_delete", "DELETE", r + "/contents/src/a.cc", "api-contents-write-refused"},
      {"contents_get", "GET", r + "/contents/README.md", "api-not-allowed"},
      {"git_refs_post", "POST", r + "/git/refs", "api-git-write-refused"},
      {"git_ref_patch", "PATCH", r + "/git/refs/heads/main", "api-git-write-refused"},
      {"git_ref_delete", "DELETE", r + "/git/refs/heads/agent-branch", "api-git-write-refused"},
      {"git_blobs", "POST", r + "/git/blobs", "api-git-write-refused"},
      {"git_commits", "POST", r + "/git/commits", "api-git-write-refused"},
      {"git_refs_get", "GET", r + "/git/refs", "api-not-allowed"},
      // Admin and everything else.
      {"releases", "POST", r + "/releases", "api-not-allowed"},
      {"releases_get", "GET", r + "/releases", "api-not-allowed"},
      {"dispatches", "POST", r + "/dispatches", "api-not-allowed"},
      {"workflow_dispatch", "POST", r + "/actions/workflows/ci.yml/dispatches", "api-not-allowed"},
      {"actions_runs", "GET", r + "/actions/runs", "api-not-allowed"},
      {"rerun", "POST", r + "/actions/runs/1/rerun", "api-not-allowed"},
      {"secrets", "GET", r + "/actions/secrets", "api-not-allowed"},
      {"hooks", "POST", r + "/hooks", "api-not-allowed"},
      {"keys", "POST", r + "/keys", "api-not-allowed"},
      {"collaborators", "PUT", r + "/collaborators/evil", "api-not-allowed"},
      {"protection", "DELETE", r + "/branches/main/protection", "api-not-allowed"},
      {"protection_get", "GET", r + "/branches/main/protection", "api-not-allowed"},
      {"branch_rename", "POST", r + "/branches/main/rename", "api-not-allowed"},
      {"branch_with_slash", "GET", r + "/branches/claude/task-1", "api-not-allowed"},
      {"forks", "POST", r + "/forks", "api-not-allowed"},
      {"deployments", "POST", r + "/deployments", "api-not-allowed"},
      {"repo_patch", "PATCH", r, "api-not-allowed"},
      {"repo_delete", "DELETE", r, "api-not-allowed"},
      {"pull_update_branch", "PUT", r + "/pulls/42/update-branch", "api-not-allowed"},
      {"review_submit", "POST", r + "/pulls/42/reviews/7/events", "api-not-allowed"},
      {"review_dismiss", "PUT", r + "/pulls/42/reviews/7/dismissals", "api-not-allowed"},
      {"requested_reviewers", "POST", r + "/pulls/42/requested_reviewers", "api-not-allowed"},
      {"issue_create", "POST", r + "/issues", "api-not-allowed"},
      {"issue_edit", "PATCH", r + "/issues/3", "api-not-allowed"},
      {"issue_comment_delete", "DELETE", r + "/issues/comments/99", "api-not-allowed"},
      {"labels", "POST", r + "/issues/3/labels", "api-not-allowed"},
      {"pull_number_not_digits", "GET", r + "/pulls/abc", "api-not-allowed"},
      {"pull_number_negative", "GET", r + "/pulls/-1", "api-not-allowed"},
      {"pull_extra_segment", "GET", r + "/pulls/1/files/x", "api-not-allowed"},
      {"get_pull_create_path_with_put", "PUT", r + "/pulls", "api-not-allowed"},
      // Methods.
      {"head", "HEAD", r + "/pulls", "api-not-allowed"},
      {"options", "OPTIONS", r + "/pulls", "api-not-allowed"},
      {"lower_get", "get", r + "/pulls", "api-not-allowed"},
      {"custom", "PURGE", r, "api-not-allowed"},
      // Outside /repos/.
      {"graphql", "POST", "/graphql", "graphql-not-allowed"},
      {"graphql_get", "GET", "/graphql", "graphql-not-allowed"},
      {"user", "GET", "/user", "api-not-allowed"},
      {"user_repos", "POST", "/user/repos", "api-not-allowed"},
      {"orgs", "GET", "/orgs/octo-org/repos", "api-not-allowed"},
      {"search", "GET", "/search/issues", "api-not-allowed"},
      {"gists", "POST", "/gists", "api-not-allowed"},
      {"repositories_id", "GET", "/repositories/1", "api-not-allowed"},
      // Paths the router already refuses, refused here too.
      {"dotdot", "GET", r + "/../secret/pulls", "api-not-allowed"},
      {"dot", "GET", r + "/./pulls", "api-not-allowed"},
      {"pct_slash", "GET", "/repos/octo-org%2Fhello-world/pulls", "api-not-allowed"},
      {"double_slash", "GET", r + "//pulls", "api-not-allowed"},
      {"trailing_slash", "GET", r + "/pulls/", "api-not-allowed"},
      {"query_in_path", "GET", r + "/pulls?x", "api-not-allowed"},
      {"no_leading_slash", "GET", "repos/octo-org/hello-world", "api-not-allowed"},
      {"empty", "GET", "", "api-not-allowed"},
      {"root", "GET", "/", "api-not-allowed"},
  };
}

INSTANTIATE_TEST_SUITE_P(Rows, RequestRows, ::testing::ValuesIn(requestRows()),
                         [](const ::testing::TestParamInfo<RequestRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(ApiPolicy, VerdictNamesTheRepoAsWritten) {
  const ApiVerdict v =
      checkApiRequest(ApiRequest{"GET", "/repos/Octo-Org/Hello-World/pulls", ""}, testGrant());
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.owner, "Octo-Org");
  EXPECT_EQ(v.repo, "Hello-World");
  const ApiVerdict other =
      checkApiRequest(ApiRequest{"GET", "/repos/evil/x/pulls", ""}, testGrant());
  EXPECT_EQ(other.owner, "evil") << "refusals name the repo for the log";
  EXPECT_EQ(checkApiRequest(ApiRequest{"GET", "/user", ""}, testGrant()).owner, "");
}

TEST(ApiPolicy, NoRepoNoAccess) {
  GitGrant g = testGrant();
  g.repos.clear();
  EXPECT_EQ(checkApiRequest(ApiRequest{"GET", "/repos/octo-org/hello-world", ""}, g).reason,
            "api-other-repo");
}

// ---- bodies ------------------------------------------------------------------------------------

struct BodyRow {
  const char* id;
  ApiBody kind;
  std::string body;
  std::string want;  // "allowed" or the refusal reason
  std::string owner = "octo-org";
  std::string repo = "hello-world";
};

class BodyRows : public ::testing::TestWithParam<BodyRow> {};

TEST_P(BodyRows, Decides) {
  const BodyRow& row = GetParam();
  const BodyVerdict v = checkApiBody(row.kind, row.body, testGrant(), row.owner, row.repo);
  EXPECT_EQ(v.allowed ? "allowed" : v.reason, row.want) << row.id << ": " << printable(row.body);
  if (v.allowed) {
    EXPECT_TRUE(v.reason.empty() && v.message.empty()) << row.id;
  } else {
    expectSafeMessage(v.message, row.id);
  }
}

std::vector<BodyRow> bodyRows() {
  const ApiBody create = ApiBody::kPullCreate;
  const ApiBody edit = ApiBody::kPullEdit;
  const ApiBody review = ApiBody::kReviewCreate;
  return {
      {"none_ignores_body", ApiBody::kNone, "not json", "allowed"},
      // Pull request creation.
      {"create_branch", create, R"({"title":"t","head":"agent-branch","base":"main"})", "allowed"},
      {"create_owner_branch", create, R"({"head":"octo-org:agent-branch","base":"main"})",
       "allowed"},
      {"create_owner_case", create, R"({"head":"OCTO-ORG:agent-branch","base":"main"})", "allowed"},
      {"create_owner_case_path", create, R"({"head":"octo-org:agent-branch"})", "allowed",
       "Octo-Org", "Hello-World"},
      {"create_extra_branch", create, R"({"head":"extra","base":"agent-branch"})", "allowed"},
      {"create_head_repo", create, R"({"head":"agent-branch","head_repo":"hello-world"})",
       "allowed"},
      {"create_head_repo_full", create,
       R"({"head":"agent-branch","head_repo":"Octo-Org/Hello-World"})", "allowed"},
      {"create_from_issue", create, R"({"head":"agent-branch","base":"main","issue":3})",
       "allowed"},
      {"create_draft", create, R"({"head":"agent-branch","base":"main","draft":true})", "allowed"},
      {"create_whitespace", create, " \n{ \"head\" : \"agent-branch\" }\n", "allowed"},
      {"create_other_branch", create, R"({"head":"main","base":"agent-branch"})",
       "api-pull-head-not-allowed"},
      {"create_branch_case", create, R"({"head":"Agent-Branch"})", "api-pull-head-not-allowed"},
      {"create_branch_prefix", create, R"({"head":"agent-branch2"})", "api-pull-head-not-allowed"},
      {"create_refs_heads", create, R"({"head":"refs/heads/agent-branch"})",
       "api-pull-head-not-allowed"},
      {"create_other_owner", create, R"({"head":"evil:agent-branch"})",
       "api-pull-head-not-allowed"},
      {"create_empty_owner", create, R"({"head":":agent-branch"})", "api-pull-head-not-allowed"},
      {"create_two_colons", create, R"({"head":"octo-org:x:agent-branch"})",
       "api-pull-head-not-allowed"},
      {"create_no_head", create, R"({"base":"main"})", "api-pull-head-not-allowed"},
      {"create_head_number", create, R"({"head":1})", "api-pull-head-not-allowed"},
      {"create_head_null", create, R"({"head":null})", "api-pull-head-not-allowed"},
      {"create_head_empty", create, R"({"head":""})", "api-pull-head-not-allowed"},
      {"create_head_repo_other", create, R"({"head":"agent-branch","head_repo":"other"})",
       "api-pull-head-repo-not-allowed"},
      {"create_head_repo_other_owner", create,
       R"({"head":"agent-branch","head_repo":"evil/hello-world"})",
       "api-pull-head-repo-not-allowed"},
      {"create_head_repo_object", create, R"({"head":"agent-branch","head_repo":{"name":"x"}})",
       "api-pull-head-repo-not-allowed"},
      {"create_duplicate_head", create, R"({"head":"agent-branch","head":"main"})",
       "api-body-invalid"},
      {"create_duplicate_head_reversed", create, R"({"head":"main","head":"agent-branch"})",
       "api-body-invalid"},
      {"create_nested_duplicates_ok", create, R"({"head":"agent-branch","x":{"a":1,"a":2}})",
       "allowed"},
      {"create_invalid_json", create, R"({"head":"agent-branch")", "api-body-invalid"},
      {"create_empty_body", create, "", "api-body-invalid"},
      {"create_array", create, R"([{"head":"agent-branch"}])", "api-body-invalid"},
      {"create_string", create, R"("agent-branch")", "api-body-invalid"},
      {"create_trailing_garbage", create, R"({"head":"agent-branch"} {})", "api-body-invalid"},
      {"create_bad_utf8", create, "{\"head\":\"agent-branch\",\"title\":\"\xff\"}",
       "api-body-invalid"},
      {"create_comment", create, "{\"head\":\"agent-branch\"} // x", "api-body-invalid"},
      {"create_deep", create,
       R"({"head":"agent-branch","x":)" + std::string(40, '[') + std::string(40, ']') + "}",
       "api-body-invalid"},
      {"create_deep_in_string_ok", create,
       R"({"head":"agent-branch","x":")" + std::string(100, '[') + "\"}", "allowed"},
      {"create_escaped_quote", create, R"({"title":"a\"{[","head":"agent-branch"})", "allowed"},
      {"create_unicode_escape_head", create, R"({"head":"agent\u002dbranch"})", "allowed"},
      {"create_too_large", create,
       R"({"head":"agent-branch","body":")" + std::string(kMaxApiBody, 'a') + "\"}",
       "api-body-too-large"},
      // Pull request edits.
      {"edit_title_body", edit, R"({"title":"t","body":"b"})", "allowed"},
      {"edit_close", edit, R"({"state":"closed"})", "allowed"},
      {"edit_reopen", edit, R"({"state":"open"})", "allowed"},
      {"edit_maintainer", edit, R"({"maintainer_can_modify":false})", "allowed"},
      {"edit_empty", edit, "{}", "allowed"},
      {"edit_base", edit, R"({"title":"t","base":"release"})", "api-pull-base-refused"},
      {"edit_base_same", edit, R"({"base":"main"})", "api-pull-base-refused"},
      {"edit_state_merged", edit, R"({"state":"merged"})", "api-pull-state-not-allowed"},
      {"edit_state_case", edit, R"({"state":"Closed"})", "api-pull-state-not-allowed"},
      {"edit_state_bool", edit, R"({"state":true})", "api-pull-state-not-allowed"},
      {"edit_unknown_key", edit, R"({"title":"t","head":"main"})", "api-pull-field-not-allowed"},
      {"edit_invalid", edit, "{title:1}", "api-body-invalid"},
      {"edit_duplicate_key", edit, R"({"state":"open","state":"closed"})", "api-body-invalid"},
      // Reviews.
      {"review_comment", review, R"({"body":"looks fine","event":"COMMENT"})", "allowed"},
      {"review_pending", review, R"({"body":"x","comments":[{"path":"a","body":"b"}]})", "allowed"},
      {"review_approve", review, R"({"event":"APPROVE"})", "api-review-event-refused"},
      {"review_request_changes", review, R"({"event":"REQUEST_CHANGES"})",
       "api-review-event-refused"},
      {"review_comment_lower", review, R"({"event":"comment"})", "api-review-event-refused"},
      {"review_null_event", review, R"({"event":null})", "api-review-event-refused"},
      {"review_event_array", review, R"({"event":["COMMENT"]})", "api-review-event-refused"},
      {"review_duplicate_event", review, R"({"event":"COMMENT","event":"APPROVE"})",
       "api-body-invalid"},
      {"review_not_object", review, "[]", "api-body-invalid"},
  };
}

INSTANTIATE_TEST_SUITE_P(Rows, BodyRows, ::testing::ValuesIn(bodyRows()),
                         [](const ::testing::TestParamInfo<BodyRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(ApiPolicy, HeadMessageNamesTheBranches) {
  const BodyVerdict v = checkApiBody(ApiBody::kPullCreate, R"({"head":"main"})", testGrant(),
                                     "octo-org", "hello-world");
  EXPECT_NE(v.message.find("agent-branch, extra"), std::string::npos) << v.message;
  EXPECT_EQ(v.message.find("main"), std::string::npos) << "never echoes the request";
}

TEST(ApiPolicy, NoPushBranchNoPullRequest) {
  GitGrant g = testGrant();
  g.push_branch.clear();
  g.extra_branches.clear();
  const BodyVerdict v =
      checkApiBody(ApiBody::kPullCreate, R"({"head":""})", g, "octo-org", "hello-world");
  EXPECT_EQ(v.reason, "api-pull-head-not-allowed");
  EXPECT_EQ(v.message, "this session has no branch to open a pull request from");
}

TEST(ApiPolicy, BaseRefusalSaysWhy) {
  const BodyVerdict v =
      checkApiBody(ApiBody::kPullEdit, R"({"base":"x"})", testGrant(), "octo-org", "hello-world");
  EXPECT_NE(v.message.find("base"), std::string::npos) << v.message;
}

}  // namespace
}  // namespace gatehouse::gitproxy
