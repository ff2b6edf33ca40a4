#include "gitproxy/push_policy.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace gatehouse::gitproxy {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kHeads = "refs/heads/"sv;
constexpr size_t kMaxBranchRefname = 1024;

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Reasons are printed by git inside "(...)" on one line: printable ASCII only.
bool printableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

const char* refDecisionCode(RefDecision decision) {
  switch (decision) {
    case RefDecision::kAllowed:
      return "allowed";
    case RefDecision::kDelete:
      return "delete";
    case RefDecision::kTag:
      return "tag";
    case RefDecision::kOtherBranch:
      return "other-branch";
    case RefDecision::kPullRef:
      return "pull-ref";
    case RefDecision::kNotesRef:
      return "notes-ref";
    case RefDecision::kNotBranch:
      return "not-branch";
    case RefDecision::kDuplicateRef:
      return "duplicate-ref";
    case RefDecision::kSignedPush:
      return "signed-push";
    case RefDecision::kPushOption:
      return "push-option";
    case RefDecision::kOtherRefRefused:
      return "other-ref-refused";
  }
  return "refused";
}

PushPolicy::PushPolicy(std::vector<std::string> branches, PushPolicyOptions options)
    : options_(std::move(options)) {
  for (std::string& name : branches) {
    std::string ref = startsWith(name, kHeads) ? std::move(name) : std::string(kHeads) + name;
    if (ref.size() == kHeads.size()) continue;
    if (checkRefname(ref, kMaxBranchRefname) != PushParseError::kNone) continue;
    if (!printableAscii(ref)) continue;  // it goes into reason texts
    if (std::find(branches_.begin(), branches_.end(), ref) != branches_.end()) continue;
    branches_.push_back(std::move(ref));
  }
  if (branches_.empty()) {
    allowed_text_ = "no branch";
  } else {
    for (const std::string& ref : branches_) {
      if (!allowed_text_.empty()) allowed_text_ += ", ";
      allowed_text_ += ref;
    }
  }
}

RefDecision PushPolicy::classify(const RefCommand& command) const {
  const std::string_view ref = command.ref;
  if (command.is_delete) return RefDecision::kDelete;
  if (startsWith(ref, "refs/tags/")) return RefDecision::kTag;
  if (startsWith(ref, "refs/pull/")) return RefDecision::kPullRef;
  if (startsWith(ref, "refs/notes/")) return RefDecision::kNotesRef;
  if (!startsWith(ref, kHeads)) return RefDecision::kNotBranch;
  if (std::find(branches_.begin(), branches_.end(), ref) == branches_.end()) {
    return RefDecision::kOtherBranch;
  }
  return RefDecision::kAllowed;
}

bool PushPolicy::pushOptionAllowed(std::string_view option) const {
  const std::string_view name = option.substr(0, option.find('='));
  return std::any_of(options_.allowed_push_options.begin(), options_.allowed_push_options.end(),
                     [&](const std::string& entry) {
                       if (entry == option) return true;
                       return entry.find('=') == std::string::npos && entry == name;
                     });
}

std::string PushPolicy::reasonFor(RefDecision decision) const {
  const std::string only = "only " + allowed_text_ + " may be pushed in this session";
  const std::string may = branches_.empty() ? "no branch may be pushed in this session" : only;
  switch (decision) {
    case RefDecision::kAllowed:
      return {};
    case RefDecision::kDelete:
      return branches_.empty() ? "deleting refs is not allowed; " + may
                               : "deleting refs is not allowed; only " + allowed_text_ +
                                     " may be created or updated in this session";
    case RefDecision::kTag:
      return "tags may not be pushed; " + may;
    case RefDecision::kOtherBranch:
      return may;
    case RefDecision::kPullRef:
      return "refs/pull/ is managed by GitHub; " + may;
    case RefDecision::kNotesRef:
      return "notes may not be pushed; " + may;
    case RefDecision::kNotBranch:
      return "only branches may be pushed; " + may;
    case RefDecision::kDuplicateRef:
      return "the same ref appears twice in this push";
    case RefDecision::kSignedPush:
      return "signed pushes are not supported; push without --signed";
    case RefDecision::kPushOption:
      return options_.allowed_push_options.empty()
                 ? "push options are not allowed in this session; push without -o"
                 : "a push option is not allowed in this session";
    case RefDecision::kOtherRefRefused:
      return "push refused: another ref in this push is not allowed";
  }
  return "push refused";
}

PushVerdict PushPolicy::evaluate(const ParsedPush& push) const {
  PushVerdict verdict;
  verdict.commands.resize(push.commands.size());

  // Push-wide refusals apply to every command that its ref alone would allow.
  RefDecision push_wide = RefDecision::kAllowed;
  if (push.signed_push || push.capabilities.push_cert) {
    push_wide = RefDecision::kSignedPush;
  } else if (!std::all_of(push.push_options.begin(), push.push_options.end(),
                          [this](const std::string& o) { return pushOptionAllowed(o); })) {
    push_wide = RefDecision::kPushOption;
  }

  std::unordered_set<std::string_view> seen;
  RefDecision first_refusal = RefDecision::kAllowed;
  for (size_t i = 0; i < push.commands.size(); ++i) {
    const RefCommand& command = push.commands[i];
    RefDecision decision = classify(command);
    if (!seen.insert(command.ref).second) decision = RefDecision::kDuplicateRef;
    if (decision == RefDecision::kAllowed) decision = push_wide;
    verdict.commands[i].decision = decision;
    if (decision != RefDecision::kAllowed && first_refusal == RefDecision::kAllowed) {
      first_refusal = decision;
    }
  }
  if (first_refusal == RefDecision::kAllowed && push.commands.empty() &&
      push_wide != RefDecision::kAllowed) {
    first_refusal = push_wide;  // no command to carry it, but the push is still refused
  }
  if (first_refusal == RefDecision::kAllowed) return verdict;

  verdict.allowed = false;
  for (CommandVerdict& c : verdict.commands) {
    if (c.decision == RefDecision::kAllowed) c.decision = RefDecision::kOtherRefRefused;
    c.reason = reasonFor(c.decision);
  }
  verdict.summary = "push refused by gatehouse: " + reasonFor(first_refusal);
  return verdict;
}

}  // namespace gatehouse::gitproxy
