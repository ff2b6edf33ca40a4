// Any bytes as a configuration: the loader and the policy compiler report problems, never
// crash, hang or throw.
#include <cstdint>
#include <string_view>

#include "control/config.h"
#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gatehouse::control::ConfigLoad load = gatehouse::control::loadConfigString(text, "fuzz.toml");
  if (load.ok()) {
    gatehouse::policy::PolicyCompile compiled =
        gatehouse::policy::compilePolicy(load.config.policy);
    (void)compiled;
  }
  return 0;
}
