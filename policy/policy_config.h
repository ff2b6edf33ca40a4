// Plain configuration structs of the policy module, as read from TOML by the config loader
// (control/config_loader). Defaults live in the member initialisers; nothing here is validated:
// compilePolicy() (policy/policy.h) validates and builds the immutable snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/limits_config.h"
#include "policy/source.h"

namespace gatehouse::policy {

enum class AccessLevel : uint8_t { kNone, kTrusted, kFull, kCustom };

const char* accessLevelName(AccessLevel level);  // "none" | "trusted" | "full" | "custom"

// What the proxy does with an environment's name-policy decisions (SPEC §3 step 3): kEnforce
// applies them; kReport logs a refusal but lets the request through, so a policy can be tried
// out before it is enforced. The address guard applies in both modes.
enum class EnvironmentMode : uint8_t { kEnforce, kReport };

const char* environmentModeName(EnvironmentMode mode);  // "enforce" | "report"

// One list entry as written in the config (host pattern grammar, SPEC §2), with the position
// of its string so errors point inside it.
struct PatternEntry {
  std::string text;
  SourcePos pos;  // position of the opening quote
};

struct EnvironmentConfig {
  std::string name = "default";
  SourcePos pos;  // the table header
  AccessLevel level = AccessLevel::kTrusted;
  std::vector<PatternEntry> domains;  // used by level "custom"
  bool include_trusted = false;       // custom: also allow the Trusted list
  std::vector<PatternEntry> deny;     // always wins
  std::vector<PatternEntry> always_allow;
  std::vector<uint16_t> ports = {80, 443};
  SourcePos ports_pos;
  EnvironmentMode mode = EnvironmentMode::kEnforce;
  SourcePos mode_pos;
  // Another environment evaluated beside this one on every request, its decision only logged
  // ("" = none). Resolved by compilePolicy(); the shadow's own shadow is not followed.
  std::string shadow;
  SourcePos shadow_pos;
  // [environment.limits] / [environments.NAME.limits]: the defaults of every session in this
  // environment (a session's own limits override them key by key: resolveLimits()).
  LimitsConfig limits;
};

// The address guard (SPEC §3.6).
struct AddressesConfig {
  bool deny_private = true;         // false: only unspecified/multicast/broadcast stay denied
  std::vector<PatternEntry> allow;  // CIDR exemptions, e.g. "127.0.0.0/8" for loopback tests
};

struct TrustedGroup {
  std::string id;     // table name, e.g. "version_control"
  std::string title;  // "Version control"
  std::vector<PatternEntry> domains;
};

// The Trusted list (conf/trusted.toml, compiled into the binary; [trusted] file overrides it).
struct TrustedList {
  std::string version;  // e.g. "2026.11.21"
  std::string source;   // file name, or "<embedded>"
  std::vector<TrustedGroup> groups;
};

struct PolicyConfig {
  EnvironmentConfig default_environment;        // [environment], named "default"
  std::vector<EnvironmentConfig> environments;  // [environments.NAME], in file order
  AddressesConfig addresses;
  TrustedList trusted;
};

}  // namespace gatehouse::policy
