// Request-target parsing never crashes, and an accepted target's host is canonical and never
// carries bytes the policy does not expect.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/http/target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool absolute : {true, false}) {
    gatehouse::http::TargetParse p = absolute ? gatehouse::http::parseAbsoluteForm(text)
                                              : gatehouse::http::parseAuthorityForm(text);
    if (!p.ok()) {
      if (p.message().empty()) std::abort();
      continue;
    }
    if (p.target->port == 0) std::abort();
    for (char c : p.target->host.text) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                c == '.' || c == ':';
      if (!ok) std::abort();
    }
    for (char c : p.target->path) {
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
          c == '#') {
        std::abort();
      }
    }
  }
  return 0;
}
