// The pattern parser never crashes; an accepted pattern matches its own base name or address
// exactly as the reference semantics say, and a rejected one always explains itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/matcher.h"
#include "policy/pattern.h"

using gatehouse::policy::Pattern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gatehouse::policy::PatternParse p = gatehouse::policy::parsePattern(text);
  if (!p.ok()) {
    if (p.error.empty() || p.hint.empty() || p.offset < 0 || static_cast<size_t>(p.offset) > size) {
      std::abort();
    }
    return 0;
  }
  const Pattern& pat = *p.pattern;
  gatehouse::policy::HostMatcher m;
  m.add(pat, gatehouse::policy::ListTag::kAllow, 0);
  m.finalize();
  std::string probe = pat.kind == Pattern::Kind::kCidr
                          ? (pat.cidr.base().isV6() ? "[" + pat.cidr.base().toString() + "]"
                                                    : pat.cidr.base().toString())
                          : pat.name;
  gatehouse::policy::HostParse h = gatehouse::policy::canonicalizeHost(probe);
  if (!h.ok()) std::abort();  // every accepted entry names a valid host
  for (uint16_t port : {uint16_t{80}, uint16_t{443}, pat.port}) {
    if (port == 0) continue;
    bool fast = m.match(*h.host, port)[gatehouse::policy::ListTag::kAllow].entry == 0;
    if (fast != pat.matches(*h.host, port)) std::abort();
  }
  return 0;
}
