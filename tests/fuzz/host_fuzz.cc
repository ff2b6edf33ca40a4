// Host canonicalisation never crashes, and its output is a fixed point: canonicalising the
// canonical text gives the same host (matcher, resolver and logs agree on one form).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/host.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  gatehouse::policy::HostParse p = gatehouse::policy::canonicalizeHost(raw);
  if (!p.ok()) return 0;
  gatehouse::policy::HostParse again = gatehouse::policy::canonicalizeHost(p.host->authorityForm());
  if (!again.ok() || again.host->text != p.host->text || again.host->kind != p.host->kind) {
    std::abort();
  }
  return 0;
}
