#include "proxy/common/secrets.h"

#include <string>

namespace gatehouse::common {
namespace {

bool containsPrefix(std::string_view text) {
  for (std::string_view prefix : kIssuedCredentialPrefixes) {
    if (text.find(prefix) != std::string_view::npos) return true;
  }
  return false;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Lenient: any base64 or base64url, padding optional, other bytes skipped. What a server might
// accept is what must be searched.
std::string decodeLenient(std::string_view in) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = base64Value(c);
    if (v < 0) continue;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

}  // namespace

bool carriesIssuedCredential(std::string_view authorization) {
  if (containsPrefix(authorization)) return true;
  // Every token of the value, decoded: "Basic <b64>" and schemes nobody should use alike.
  size_t start = 0;
  while (start < authorization.size()) {
    size_t end = authorization.find_first_of(" \t,", start);
    if (end == std::string_view::npos) end = authorization.size();
    if (end > start && containsPrefix(decodeLenient(authorization.substr(start, end - start)))) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace gatehouse::common
