#include "policy/policy_config.h"

namespace gatehouse::policy {

const char* accessLevelName(AccessLevel level) {
  switch (level) {
    case AccessLevel::kNone:
      return "none";
    case AccessLevel::kTrusted:
      return "trusted";
    case AccessLevel::kFull:
      return "full";
    case AccessLevel::kCustom:
      return "custom";
  }
  return "none";
}

}  // namespace gatehouse::policy
