#include "policy/lint.h"

#include <string_view>
#include <unordered_map>
#include <vector>

namespace gatehouse::policy {

namespace {

// Index of rules by base name (host-name patterns) plus the CIDR rules, to find the entries
// that cover a given one by walking its name's suffixes.
class CoverIndex final {
 public:
  void add(const Rule& r) {
    if (r.pattern.kind == Pattern::Kind::kCidr) {
      cidrs_.push_back(&r);
    } else {
      by_name_[r.pattern.name].push_back(&r);
    }
  }

  // The first indexed rule other than `r` that covers r (every host r matches, it matches too).
  const Rule* coverOf(const Rule& r) const {
    if (r.pattern.kind == Pattern::Kind::kCidr) {
      for (const Rule* o : cidrs_) {
        if (o != &r && r.pattern.coveredBy(o->pattern)) return o;
      }
      return nullptr;
    }
    std::string_view name = r.pattern.name;
    while (true) {
      auto it = by_name_.find(std::string(name));
      if (it != by_name_.end()) {
        for (const Rule* o : it->second) {
          if (o != &r && r.pattern.coveredBy(o->pattern)) return o;
        }
      }
      size_t dot = name.find('.');
      if (dot == std::string_view::npos) return nullptr;
      name.remove_prefix(dot + 1);
    }
  }

  bool hasExactOrApex(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    for (const Rule* o : it->second) {
      if (o->pattern.kind == Pattern::Kind::kExact ||
          o->pattern.kind == Pattern::Kind::kApexAndSubdomains) {
        return true;
      }
    }
    return false;
  }

 private:
  std::unordered_map<std::string, std::vector<const Rule*>> by_name_;
  std::vector<const Rule*> cidrs_;
};

ConfigIssue warning(const Rule& r, std::string message, std::string hint) {
  return ConfigIssue{ConfigIssue::Severity::kWarning, r.pos, std::move(message), std::move(hint)};
}

std::string where(const Rule& r) {
  std::string s = "'" + r.pattern.text + "' (" + r.origin;
  if (r.pos.line > 0) s += ", " + r.pos.toString();
  return s + ")";
}

bool isTrusted(const Rule& r) { return r.id.rfind("trusted:", 0) == 0; }

void lintEnvironment(const Environment& env, bool lint_trusted, ConfigIssues& out) {
  CoverIndex deny;
  CoverIndex allow;  // always_allow and domains/Trusted together: one effective allow list
  for (const Rule& r : env.rules()) {
    (r.list == ListTag::kDeny ? deny : allow).add(r);
  }
  for (const Rule& r : env.rules()) {
    if (isTrusted(r) && !lint_trusted) continue;  // the Trusted list is linted once
    const CoverIndex& own = r.list == ListTag::kDeny ? deny : allow;
    if (const Rule* cover = own.coverOf(r)) {
      // Report duplicates and shadowing on the later entry only.
      bool same = cover->pattern.text == r.pattern.text;
      bool mutual = cover->pattern.coveredBy(r.pattern);
      if (!mutual || &r > cover) {
        if (same) {
          out.push_back(warning(r, "duplicate entry " + where(r),
                                "remove one of them; the first is " + where(*cover)));
        } else if (!(isTrusted(r) && isTrusted(*cover) && !lint_trusted)) {
          out.push_back(warning(r, "entry " + where(r) + " is shadowed by " + where(*cover),
                                "remove it: the broader entry already matches every host it does"));
        }
      }
    }
    if (r.list != ListTag::kDeny) {
      if (const Rule* d = deny.coverOf(r)) {
        out.push_back(warning(
            r,
            "entry " + where(r) + " can never match: every host it names is denied by " + where(*d),
            "remove it, or narrow the deny entry"));
      }
    }
    if (r.pattern.kind == Pattern::Kind::kSubdomains && !own.hasExactOrApex(r.pattern.name)) {
      std::string what = r.list == ListTag::kDeny ? "denies" : "allows";
      out.push_back(warning(r,
                            "entry " + where(r) + " " + what + " subdomains of " + r.pattern.name +
                                " but not " + r.pattern.name + " itself",
                            "if the apex is meant too, write '**." + r.pattern.name + "' or add '" +
                                r.pattern.name + "'"));
    }
  }
}

}  // namespace

ConfigIssues lintPolicy(const PolicySnapshot& snapshot) {
  ConfigIssues out;
  // The embedded Trusted list is curated with the binary; a replacement file is linted once.
  bool trusted_done = snapshot.trustedList().source == "<embedded>";
  for (const auto& env : snapshot.environments()) {
    bool uses_trusted = false;
    for (const Rule& r : env->rules()) uses_trusted = uses_trusted || isTrusted(r);
    lintEnvironment(*env, uses_trusted && !trusted_done, out);
    trusted_done = trusted_done || uses_trusted;
  }
  return out;
}

}  // namespace gatehouse::policy
