// The push policy (gitproxy/push_policy.h): one row per ref update a session may or may not
// make (../shared/BAD-INPUTS.md I3-I6), with the decision for every command and the reason
// git will print.
#include "gitproxy/push_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gitproxy/receive_pack.h"
#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using testing_text::paramName;

const std::string kZero(40, '0');
const std::string kOld(40, '1');
const std::string kNew(40, '2');

// "U:refs/heads/x" update, "C:" create, "D:" delete.
RefCommand command(const std::string& spec) {
  RefCommand c;
  c.ref = spec.substr(2);
  c.is_create = spec[0] == 'C';
  c.is_delete = spec[0] == 'D';
  c.old_oid = c.is_create ? kZero : kOld;
  c.new_oid = c.is_delete ? kZero : kNew;
  return c;
}

struct PolicyRow {
  const char* id;
  std::vector<std::string> commands;  // command() specs
  std::string want;                   // decision codes, space separated; "allowed" per command
  std::vector<std::string> push_options = {};
  bool signed_push = false;
  std::vector<std::string> allowed_options = {};
  std::vector<std::string> branches = {"agent-branch"};
};

std::string decisions(const PushVerdict& v) {
  std::string s;
  for (const CommandVerdict& c : v.commands) {
    if (!s.empty()) s += ' ';
    s += refDecisionCode(c.decision);
  }
  return s;
}

class PolicyRows : public ::testing::TestWithParam<PolicyRow> {};

TEST_P(PolicyRows, Decides) {
  const PolicyRow& row = GetParam();
  ParsedPush push;
  for (const std::string& spec : row.commands) push.commands.push_back(command(spec));
  push.push_options = row.push_options;
  push.signed_push = row.signed_push;
  const PushPolicy policy(row.branches, PushPolicyOptions{row.allowed_options});
  const PushVerdict v = policy.evaluate(push);
  EXPECT_EQ(decisions(v), row.want) << row.id;
  const bool all_allowed = row.want.find_first_not_of("alowed ") == std::string::npos;
  EXPECT_EQ(v.allowed, all_allowed) << row.id;
  ASSERT_EQ(v.commands.size(), row.commands.size());
  for (const CommandVerdict& c : v.commands) {
    EXPECT_EQ(c.reason.empty(), v.allowed) << row.id << ": every refused command has a reason";
    for (char ch : c.reason) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << row.id;
  }
  EXPECT_EQ(v.summary.empty(), v.allowed) << row.id;
}

std::vector<PolicyRow> policyRows() {
  return {
      {"I3_update", {"U:refs/heads/agent-branch"}, "allowed"},
      {"I3_create", {"C:refs/heads/agent-branch"}, "allowed"},
      {"empty_push", {}, ""},
      {"I5_delete", {"D:refs/heads/agent-branch"}, "delete"},
      {"I5_delete_other", {"D:refs/heads/main"}, "delete"},
      {"I4_main", {"U:refs/heads/main"}, "other-branch"},
      {"I4_tag", {"C:refs/tags/v1"}, "tag"},
      {"I4_notes", {"U:refs/notes/commits"}, "notes-ref"},
      {"I4_pull", {"U:refs/pull/1/head"}, "pull-ref"},
      {"I4_pull_merge", {"C:refs/pull/1/merge"}, "pull-ref"},
      {"I4_agent_branch2", {"U:refs/heads/agent-branch2"}, "other-branch"},
      {"I4_agent_branch_x", {"U:refs/heads/agent-branch/x"}, "other-branch"},
      {"I4_prefix", {"U:refs/heads/agent-bra"}, "other-branch"},
      {"I4_case", {"U:refs/heads/Agent-Branch"}, "other-branch"},
      {"remotes", {"U:refs/remotes/origin/agent-branch"}, "not-branch"},
      {"for_gerrit", {"U:refs/for/agent-branch"}, "not-branch"},
      {"refs_heads_in_other", {"U:refs/x/refs/heads/agent-branch"}, "not-branch"},
      {"I6_one_bad",
       {"U:refs/heads/agent-branch", "U:refs/heads/main"},
       "other-ref-refused other-branch"},
      {"I6_bad_first", {"C:refs/tags/v1", "U:refs/heads/agent-branch"}, "tag other-ref-refused"},
      {"I6_mixed",
       {"U:refs/heads/agent-branch", "D:refs/heads/agent-branch2", "C:refs/tags/v2"},
       "other-ref-refused delete tag"},
      {"duplicate",
       {"U:refs/heads/agent-branch", "U:refs/heads/agent-branch"},
       "other-ref-refused duplicate-ref"},
      {"extra_branch",
       {"U:refs/heads/agent-branch", "C:refs/heads/extra"},
       "allowed allowed",
       {},
       false,
       {},
       {"agent-branch", "refs/heads/extra"}},
      {"no_branches", {"U:refs/heads/agent-branch"}, "other-branch", {}, false, {}, {}},
      {"invalid_branch_ignored", {"U:refs/heads/a..b"}, "other-branch", {}, false, {}, {"a..b"}},
      {"signed", {"U:refs/heads/agent-branch"}, "signed-push", {}, true},
      {"signed_other", {"U:refs/heads/main"}, "other-branch", {}, true},
      {"push_option_default", {"U:refs/heads/agent-branch"}, "push-option", {"ci.skip"}},
      {"push_option_allowed",
       {"U:refs/heads/agent-branch"},
       "allowed",
       {"ci.skip"},
       false,
       {"ci.skip"}},
      {"push_option_name_matches_value",
       {"U:refs/heads/agent-branch"},
       "allowed",
       {"ci.variable=A=1"},
       false,
       {"ci.variable"}},
      {"push_option_exact_only",
       {"U:refs/heads/agent-branch"},
       "push-option",
       {"ci.variable=B"},
       false,
       {"ci.variable=A"}},
      {"push_option_one_unlisted",
       {"U:refs/heads/agent-branch"},
       "push-option",
       {"ci.skip", "merge_request.create"},
       false,
       {"ci.skip"}},
      {"push_option_prefix_not_name",
       {"U:refs/heads/agent-branch"},
       "push-option",
       {"ci.skipper"},
       false,
       {"ci.skip"}},
  };
}

INSTANTIATE_TEST_SUITE_P(Rows, PolicyRows, ::testing::ValuesIn(policyRows()),
                         [](const ::testing::TestParamInfo<PolicyRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(PushPolicy, ReasonsSayWhatIsAllowed) {
  const PushPolicy policy({"agent-branch"});
  const struct {
    std::string spec;
    std::string reason;
  } rows[] = {
      {"U:refs/heads/main", "only refs/heads/agent-branch may be pushed in this session"},
      {"C:refs/tags/v1",
       "tags may not be pushed; only refs/heads/agent-branch may be pushed in this session"},
      {"D:refs/heads/agent-branch",
       "deleting refs is not allowed; only refs/heads/agent-branch may be created or updated in "
       "this session"},
      {"U:refs/pull/1/head",
       "refs/pull/ is managed by GitHub; only refs/heads/agent-branch may be pushed in this "
       "session"},
      {"U:refs/notes/commits",
       "notes may not be pushed; only refs/heads/agent-branch may be pushed in this session"},
      {"U:refs/remotes/x",
       "only branches may be pushed; only refs/heads/agent-branch may be pushed in this session"},
  };
  for (const auto& row : rows) {
    ParsedPush push;
    push.commands.push_back(command(row.spec));
    const PushVerdict v = policy.evaluate(push);
    ASSERT_EQ(v.commands.size(), 1u);
    EXPECT_EQ(v.commands[0].reason, row.reason) << row.spec;
    EXPECT_EQ(v.summary, "push refused by gatehouse: " + row.reason) << row.spec;
  }
}

TEST(PushPolicy, OtherCommandsShareTheRefusal) {
  const PushPolicy policy({"agent-branch"});
  ParsedPush push;
  push.commands.push_back(command("U:refs/heads/agent-branch"));
  push.commands.push_back(command("U:refs/heads/main"));
  const PushVerdict v = policy.evaluate(push);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.commands[0].reason, "push refused: another ref in this push is not allowed");
  EXPECT_EQ(v.commands[1].reason, "only refs/heads/agent-branch may be pushed in this session");
  EXPECT_EQ(
      v.summary,
      "push refused by gatehouse: only refs/heads/agent-branch may be pushed in this session");
}

TEST(PushPolicy, SignedPushAndOptionReasons) {
  const PushPolicy policy({"agent-branch"});
  ParsedPush push;
  push.commands.push_back(command("U:refs/heads/agent-branch"));
  push.signed_push = true;
  EXPECT_EQ(policy.evaluate(push).commands[0].reason,
            "signed pushes are not supported; push without --signed");
  push.signed_push = false;
  push.capabilities.push_cert = true;
  EXPECT_EQ(policy.evaluate(push).commands[0].decision, RefDecision::kSignedPush)
      << "a push-cert capability alone counts";
  push.capabilities.push_cert = false;
  push.push_options = {"ci.skip"};
  EXPECT_EQ(policy.evaluate(push).commands[0].reason,
            "push options are not allowed in this session; push without -o");
  const PushPolicy with_options({"agent-branch"}, PushPolicyOptions{{"other"}});
  EXPECT_EQ(with_options.evaluate(push).commands[0].reason,
            "a push option is not allowed in this session");
}

TEST(PushPolicy, AllowedTextListsEveryBranch) {
  EXPECT_EQ(PushPolicy({"a", "refs/heads/b", "a", ""}).allowedText(), "refs/heads/a, refs/heads/b")
      << "prefix removed, duplicates and empty names dropped";
  EXPECT_EQ(PushPolicy({}).allowedText(), "no branch");
  ParsedPush push;
  push.commands.push_back(command("U:refs/heads/x"));
  EXPECT_EQ(PushPolicy({}).evaluate(push).commands[0].reason,
            "no branch may be pushed in this session");
  EXPECT_EQ(PushPolicy({"a\nb"}).branches().size(), 0u) << "control characters never in reasons";
}

}  // namespace
}  // namespace gatehouse::gitproxy
