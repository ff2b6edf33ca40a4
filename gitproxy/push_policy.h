// Which ref updates a session may push (SPEC §7, BAD-INPUTS I3-I6): creating or updating
// refs/heads/<branch> for the session's branch and its configured extra branches, nothing else.
// Deletes, tags, other branches, refs/pull/*, refs/notes/*, anything outside refs/heads/,
// signed pushes, push options outside an allowlist and duplicate refs are refused, each with
// its own short reason saying what is allowed. One refused command refuses the whole push: the
// allowed commands then carry "push refused: another ref in this push is not allowed".
//
// Force pushes cannot be told apart from fast-forwards without the object graph (I7): that is
// left to the upstream's branch protection.
//
// Immutable after construction; evaluate() is pure and may run on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gitproxy/receive_pack.h"

namespace gatehouse::gitproxy {

enum class RefDecision : uint8_t {
  kAllowed = 0,
  kDelete,          // new oid all zeros (destructive; I5)
  kTag,             // refs/tags/*
  kOtherBranch,     // refs/heads/<not an allowed branch>
  kPullRef,         // refs/pull/* (GitHub's own)
  kNotesRef,        // refs/notes/*
  kNotBranch,       // anything else outside refs/heads/ (refs/remotes/, refs/for/, ...)
  kDuplicateRef,    // the same ref twice in one push
  kSignedPush,      // push certificate
  kPushOption,      // a push option outside the allowlist
  kOtherRefRefused  // allowed by itself; refused because another command is
};

// A stable kebab-case code ("delete", "other-branch", ...), usable as a metric label.
const char* refDecisionCode(RefDecision decision);

struct CommandVerdict {
  RefDecision decision = RefDecision::kAllowed;
  std::string reason;  // "" when allowed; one line of printable ASCII otherwise
};

struct PushVerdict {
  bool allowed = true;                   // every command allowed (an empty push is allowed)
  std::vector<CommandVerdict> commands;  // one per ParsedPush::commands entry, same order
  // One line for the client ("remote: ...") and the logs, "" when allowed.
  std::string summary;
};

struct PushPolicyOptions {
  // Push options that may be sent: an entry matches an option equal to it, and an entry
  // "name" without '=' also matches "name=<anything>". Empty: no push option is allowed.
  std::vector<std::string> allowed_push_options;
};

class PushPolicy final {
 public:
  // `branches`: the session's push branch first, then the extra branches, as branch names
  // ("agent-branch"; a "refs/heads/" prefix is accepted and removed). Names that are not valid
  // refnames under refs/heads/ are ignored (they could never match a parsed command).
  explicit PushPolicy(std::vector<std::string> branches, PushPolicyOptions options = {});

  PushVerdict evaluate(const ParsedPush& push) const;

  const std::vector<std::string>& branches() const { return branches_; }
  // "refs/heads/a" or "refs/heads/a, refs/heads/b" or "no branch", for reasons and docs.
  const std::string& allowedText() const { return allowed_text_; }

 private:
  RefDecision classify(const RefCommand& command) const;
  bool pushOptionAllowed(std::string_view option) const;
  std::string reasonFor(RefDecision decision) const;

  std::vector<std::string> branches_;  // full refnames, "refs/heads/agent-branch"
  PushPolicyOptions options_;
  std::string allowed_text_;
};

}  // namespace gatehouse::gitproxy
