// Text helpers shared by table-driven tests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gatehouse::testing_text {

// The input with CR and LF as \r and \n and every other byte outside printable ASCII as \xNN,
// for failure messages about raw request bytes.
inline std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// A gtest parameter name from a row id: letters, digits and '_' only, made unique by the index.
inline std::string paramName(const char* id, size_t index) {
  std::string name;
  for (const char* c = id; *c != '\0'; ++c) {
    name += ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
                ? *c
                : '_';
  }
  return name + "_" + std::to_string(index);
}

}  // namespace gatehouse::testing_text
