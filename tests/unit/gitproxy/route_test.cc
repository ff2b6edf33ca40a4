// Routing of the git path's local endpoints (gitproxy/route.h): one row per request target,
// with the route it becomes or the status and reason it is refused with
// (../shared/BAD-INPUTS.md I1, I2, I14).
#include "gitproxy/route.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using testing_text::paramName;
using testing_text::printable;

struct RouteRow {
  const char* id;
  std::string method;
  std::string target;
  // Allowed: "info-refs upload-pack owner/repo", "rpc receive-pack owner/repo",
  // "api <path> ?<query>". Refused: "<status> <reason>".
  std::string want;
};

std::string describe(const std::variant<GitRoute, RouteError>& routed) {
  if (const RouteError* e = std::get_if<RouteError>(&routed)) {
    return std::to_string(e->status) + " " + e->reason;
  }
  const auto& r = std::get<GitRoute>(routed);
  if (r.kind == RouteKind::kApi) return "api " + r.api_path + " ?" + r.api_query;
  std::string s = r.kind == RouteKind::kInfoRefs ? "info-refs " : "rpc ";
  s += r.service == GitService::kReceivePack ? "receive-pack " : "upload-pack ";
  return s + r.owner + "/" + r.repo;
}

class RouteRows : public ::testing::TestWithParam<RouteRow> {};

TEST_P(RouteRows, Routes) {
  const RouteRow& row = GetParam();
  const std::variant<GitRoute, RouteError> routed = routeGitRequest(row.method, row.target);
  EXPECT_EQ(describe(routed), row.want)
      << row.id << ": " << row.method << " " << printable(row.target);
  if (const RouteError* e = std::get_if<RouteError>(&routed)) {
    EXPECT_FALSE(e->message.empty()) << row.id;
    for (char c : e->message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << row.id;
    // The message is fixed text: it never echoes what the client sent.
    EXPECT_EQ(e->message.find("ORG"), std::string::npos) << row.id;
    EXPECT_EQ(e->message.find("%2"), std::string::npos) << row.id;
    EXPECT_EQ(e->message.find("evil"), std::string::npos) << row.id;
  }
}

constexpr const char* kUp = "?service=git-upload-pack";
constexpr const char* kRecv = "?service=git-receive-pack";

std::string refs(const std::string& repo_path, const char* query = kUp) {
  return "/git/" + repo_path + "/info/refs" + query;
}

std::vector<RouteRow> routeRows() {
  return {
      // I1: the four smart-HTTP requests.
      {"I1_refs_upload", "GET", refs("org/repo.git"), "info-refs upload-pack org/repo"},
      {"I1_refs_receive", "GET", refs("org/repo.git", kRecv), "info-refs receive-pack org/repo"},
      {"I1_rpc_upload", "POST", "/git/org/repo.git/git-upload-pack", "rpc upload-pack org/repo"},
      {"I1_rpc_receive", "POST", "/git/org/repo.git/git-receive-pack", "rpc receive-pack org/repo"},
      // I2: path variants.
      {"I2_case_kept", "GET", refs("ORG/REPO.git"), "info-refs upload-pack ORG/REPO"},
      {"I2_no_dot_git", "GET", refs("org/repo"), "info-refs upload-pack org/repo"},
      {"I2_no_dot_git_rpc", "POST", "/git/org/repo/git-receive-pack", "rpc receive-pack org/repo"},
      {"dot_git_upper_case", "GET", refs("org/repo.GIT"), "info-refs upload-pack org/repo"},
      {"dot_git_twice", "GET", refs("org/repo.git.git"), "400 bad-git-path"},
      {"dot_git_only", "GET", refs("org/.git"), "400 bad-git-path"},
      {"repo_with_dots", "GET", refs("org/my.repo.js.git"), "info-refs upload-pack org/my.repo.js"},
      {"repo_underscore", "GET", refs("org/my_repo-1"), "info-refs upload-pack org/my_repo-1"},
      {"I2_trailing_slash", "GET", "/git/org/repo.git/info/refs/?service=git-upload-pack",
       "404 not-smart-http"},
      {"I2_trailing_slash_rpc", "POST", "/git/org/repo.git/git-upload-pack/", "404 not-smart-http"},
      {"I2_double_slash_no_prefix", "GET", "//org/repo.git/info/refs?service=git-upload-pack",
       "404 unknown-endpoint"},
      {"I2_double_slash_after_prefix", "GET", refs("/org/repo.git"), "404 not-smart-http"},
      {"I2_double_slash_inside", "GET", refs("org//repo.git"), "404 not-smart-http"},
      {"I2_double_slash_suffix", "GET", "/git/org/repo.git/info//refs?service=git-upload-pack",
       "404 not-smart-http"},
      {"I2_dotdot_other_repo", "GET", refs("org/repo.git/../other.git"), "404 not-smart-http"},
      {"I2_dotdot_rpc", "POST", "/git/org/repo.git/../other.git/git-receive-pack",
       "404 not-smart-http"},
      {"I2_dot_segment", "GET", refs("org/./repo.git"), "404 not-smart-http"},
      {"dotdot_owner", "GET", refs("../repo.git"), "404 not-smart-http"},
      {"dotdot_repo", "POST", "/git/org/../git-upload-pack", "404 not-smart-http"},
      {"I2_pct_dotdot", "GET", refs("org/repo.git/%2e%2e/other.git"), "404 not-smart-http"},
      {"I2_pct_slash", "GET", refs("org%2Frepo.git"), "404 not-smart-http"},
      {"I2_pct_slash_lower", "GET", refs("org/repo.git%2fx"), "404 not-smart-http"},
      {"I2_pct_letter", "GET", refs("org/r%65po.git"), "404 not-smart-http"},
      {"I2_semicolon", "GET", refs("org/repo.git;x"), "404 not-smart-http"},
      {"I2_semicolon_suffix", "POST", "/git/org/repo.git/git-upload-pack;x", "404 not-smart-http"},
      {"backslash", "GET", refs("org\\repo.git"), "400 bad-target"},
      {"backslash_dotdot", "GET", refs("org/repo.git\\..\\other.git"), "400 bad-target"},
      // I2: the query of info/refs.
      {"I2_repeated_service", "GET",
       refs("org/repo.git", "?service=git-upload-pack&service=git-upload-pack"),
       "400 bad-git-query"},
      {"I2_service_then_receive", "GET",
       refs("org/repo.git", "?service=git-upload-pack&service=git-receive-pack"),
       "400 bad-git-query"},
      {"extra_param", "GET", refs("org/repo.git", "?service=git-upload-pack&x=1"),
       "400 bad-git-query"},
      {"extra_param_first", "GET", refs("org/repo.git", "?x=1&service=git-upload-pack"),
       "400 bad-git-query"},
      {"empty_service", "GET", refs("org/repo.git", "?service="), "400 bad-git-query"},
      {"service_no_value", "GET", refs("org/repo.git", "?service"), "400 bad-git-query"},
      {"service_unknown", "GET", refs("org/repo.git", "?service=git-foo"), "400 bad-git-query"},
      {"service_upper", "GET", refs("org/repo.git", "?service=GIT-UPLOAD-PACK"),
       "400 bad-git-query"},
      {"service_name_upper", "GET", refs("org/repo.git", "?SERVICE=git-upload-pack"),
       "400 bad-git-query"},
      {"service_pct", "GET", refs("org/repo.git", "?service=git%2Dupload-pack"),
       "400 bad-git-query"},
      {"service_trailing_amp", "GET", refs("org/repo.git", "?service=git-upload-pack&"),
       "400 bad-git-query"},
      {"empty_query", "GET", refs("org/repo.git", "?"), "400 bad-git-query"},
      {"second_question_mark", "GET", refs("org/repo.git", "?service=git-upload-pack?x"),
       "400 bad-git-query"},
      {"dumb_info_refs", "GET", refs("org/repo.git", ""), "404 not-smart-http"},
      {"rpc_with_query", "POST", "/git/org/repo.git/git-upload-pack?x=1", "400 bad-git-query"},
      {"rpc_with_empty_query", "POST", "/git/org/repo.git/git-receive-pack?", "400 bad-git-query"},
      // Methods.
      {"POST_info_refs", "POST", refs("org/repo.git"), "405 method-not-allowed"},
      {"GET_receive_pack", "GET", "/git/org/repo.git/git-receive-pack", "405 method-not-allowed"},
      {"GET_upload_pack", "GET", "/git/org/repo.git/git-upload-pack", "405 method-not-allowed"},
      {"HEAD_info_refs", "HEAD", refs("org/repo.git"), "405 method-not-allowed"},
      {"HEAD_rpc", "HEAD", "/git/org/repo.git/git-upload-pack", "405 method-not-allowed"},
      {"PUT_rpc", "PUT", "/git/org/repo.git/git-receive-pack", "405 method-not-allowed"},
      {"lower_case_get", "get", refs("org/repo.git"), "405 method-not-allowed"},
      {"OPTIONS_info_refs", "OPTIONS", refs("org/repo.git"), "405 method-not-allowed"},
      // Dumb HTTP and other suffixes.
      {"dumb_HEAD", "GET", "/git/org/repo.git/HEAD", "404 not-smart-http"},
      {"dumb_objects", "GET", "/git/org/repo.git/objects/info/packs", "404 not-smart-http"},
      {"dumb_loose_object", "GET", "/git/org/repo.git/objects/ab/cdef0123", "404 not-smart-http"},
      {"dumb_info_packs", "GET", "/git/org/repo.git/info/packs", "404 not-smart-http"},
      {"info_alternates", "GET", "/git/org/repo.git/info/http-alternates", "404 not-smart-http"},
      {"repo_only", "GET", "/git/org/repo.git", "404 not-smart-http"},
      {"repo_only_slash", "GET", "/git/org/repo.git/", "404 not-smart-http"},
      {"owner_only", "GET", "/git/org", "404 not-smart-http"},
      {"git_root", "GET", "/git/", "404 not-smart-http"},
      {"suffix_case", "POST", "/git/org/repo.git/GIT-UPLOAD-PACK", "404 not-smart-http"},
      {"info_refs_case", "GET", "/git/org/repo.git/info/REFS?service=git-upload-pack",
       "404 not-smart-http"},
      {"extra_segment", "POST", "/git/org/repo.git/x/git-upload-pack", "404 not-smart-http"},
      {"web_tree", "GET", "/git/org/repo/tree/main", "404 not-smart-http"},
      // Names.
      {"owner_underscore", "GET", refs("o_rg/repo.git"), "400 bad-git-path"},
      {"owner_too_long", "GET", refs(std::string(40, 'a') + "/repo.git"), "400 bad-git-path"},
      {"owner_39", "GET", refs(std::string(39, 'a') + "/r.git"),
       "info-refs upload-pack " + std::string(39, 'a') + "/r"},
      {"repo_bad_char", "GET", refs("org/re+po.git"), "400 bad-git-path"},
      {"repo_too_long", "GET", refs("org/" + std::string(101, 'r')), "400 bad-git-path"},
      {"repo_dotdot_git", "GET", refs("org/...git"), "400 bad-git-path"},
      // I14: LFS.
      {"I14_lfs_batch", "POST", "/git/org/repo.git/info/lfs/objects/batch",
       "403 lfs-not-supported"},
      {"I14_lfs_locks", "GET", "/git/org/repo.git/info/lfs/locks", "403 lfs-not-supported"},
      {"I14_lfs_root", "GET", "/git/org/repo.git/info/lfs", "403 lfs-not-supported"},
      {"I14_lfs_bad_owner", "POST", "/git/o_x/repo.git/info/lfs/objects/batch", "400 bad-git-path"},
      // Bytes and prefixes.
      {"space", "GET", refs("org/re po.git"), "400 bad-target"},
      {"control", "GET", refs("org/re\x01po.git"), "400 bad-target"},
      {"non_ascii", "GET", refs("org/r\xc3\xa9po.git"), "400 bad-target"},
      {"fragment", "GET", refs("org/repo.git") + "#x", "400 bad-target"},
      {"empty_target", "GET", "", "400 bad-target"},
      {"absolute_form", "GET", "http://github.com/org/repo.git/info/refs", "400 bad-target"},
      {"asterisk", "OPTIONS", "*", "400 bad-target"},
      {"no_prefix", "GET", "/org/repo.git/info/refs?service=git-upload-pack",
       "404 unknown-endpoint"},
      {"git_no_slash", "GET", "/git", "404 unknown-endpoint"},
      {"git_prefix_case", "GET", "/GIT/org/repo.git/info/refs?service=git-upload-pack",
       "404 unknown-endpoint"},
      {"gitx_prefix", "GET", "/gitx/org/repo.git/info/refs?service=git-upload-pack",
       "404 unknown-endpoint"},
      {"root", "GET", "/", "404 unknown-endpoint"},
      // The API path.
      {"api_repo", "GET", "/github/api/repos/o/r", "api /repos/o/r ?"},
      {"api_pulls_query", "GET", "/github/api/repos/o/r/pulls?state=open&per_page=100",
       "api /repos/o/r/pulls ?state=open&per_page=100"},
      {"api_post", "POST", "/github/api/repos/o/r/pulls", "api /repos/o/r/pulls ?"},
      {"api_any_method_routes", "DELETE", "/github/api/repos/o/r", "api /repos/o/r ?"},
      {"api_graphql_routes", "POST", "/github/api/graphql", "api /graphql ?"},
      {"api_query_escape", "GET", "/github/api/repos/o/r/issues?labels=a%2Cb",
       "api /repos/o/r/issues ?labels=a%2Cb"},
      {"api_query_bad_escape", "GET", "/github/api/repos/o/r/issues?x=%zz", "400 bad-api-path"},
      {"api_query_short_escape", "GET", "/github/api/repos/o/r/issues?x=%2", "400 bad-api-path"},
      {"api_empty_query", "GET", "/github/api/repos/o/r/issues?", "400 bad-api-path"},
      {"api_pct_slash", "GET", "/github/api/repos/o%2Fr/pulls", "400 bad-api-path"},
      {"api_pct_slash_lower", "GET", "/github/api/repos/o/r%2fx/pulls", "400 bad-api-path"},
      {"api_pct_backslash", "GET", "/github/api/repos/o/r%5Cx", "400 bad-api-path"},
      {"api_pct_dotdot", "GET", "/github/api/repos/o/r/%2e%2e/x", "400 bad-api-path"},
      {"api_pct_other", "GET", "/github/api/repos/o/r/branches/a%20b", "400 bad-api-path"},
      {"api_dotdot", "GET", "/github/api/repos/o/r/../../user", "400 bad-api-path"},
      {"api_dot", "GET", "/github/api/repos/o/./r", "400 bad-api-path"},
      {"api_double_slash", "GET", "/github/api//repos/o/r", "400 bad-api-path"},
      {"api_trailing_slash", "GET", "/github/api/repos/o/r/", "400 bad-api-path"},
      {"api_root", "GET", "/github/api/", "400 bad-api-path"},
      {"api_semicolon", "GET", "/github/api/repos/o/r;x/pulls", "400 bad-api-path"},
      {"api_backslash", "GET", "/github/api/repos/o/r\\..\\x", "400 bad-target"},
      {"api_no_slash", "GET", "/github/api", "404 unknown-endpoint"},
      {"api_no_slash_query", "GET", "/github/api?x=1", "404 unknown-endpoint"},
      {"api_prefix_glued", "GET", "/github/apirepos/o/r", "404 unknown-endpoint"},
      {"github_other", "GET", "/github/x/repos/o/r", "404 unknown-endpoint"},
  };
}

INSTANTIATE_TEST_SUITE_P(Rows, RouteRows, ::testing::ValuesIn(routeRows()),
                         [](const ::testing::TestParamInfo<RouteRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(Route, MessagesSayWhatIsServed) {
  const auto routed = routeGitRequest("GET", "/git/org/repo.git/objects/info/packs");
  const RouteError* e = std::get_if<RouteError>(&routed);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("smart-HTTP"), std::string::npos) << e->message;
  const auto lfs = routeGitRequest("POST", "/git/org/repo.git/info/lfs/objects/batch");
  ASSERT_TRUE(std::holds_alternative<RouteError>(lfs));
  EXPECT_NE(std::get<RouteError>(lfs).message.find("Git LFS is not supported"), std::string::npos);
}

TEST(Route, ApiRouteHasNoRepo) {
  const auto routed = routeGitRequest("GET", "/github/api/repos/o/r/pulls/1");
  ASSERT_TRUE(std::holds_alternative<GitRoute>(routed));
  const auto& r = std::get<GitRoute>(routed);
  EXPECT_EQ(r.kind, RouteKind::kApi);
  EXPECT_EQ(r.owner, "");
  EXPECT_EQ(r.repo, "");
  EXPECT_EQ(r.api_path, "/repos/o/r/pulls/1");
  EXPECT_EQ(r.api_query, "");
}

}  // namespace
}  // namespace gatehouse::gitproxy
