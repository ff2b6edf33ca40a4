// Credential helpers shared by the session and control-plane tests: Basic credentials, SHA-256
// in hex (what [[sessions]] credential_sha256 holds).
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::testing_credentials {

inline std::string hex(const uint8_t* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

template <size_t N>
std::string hex(const std::array<uint8_t, N>& digest) {
  return hex(digest.data(), N);
}

inline std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return hex(digest, len);
}

inline std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// "Basic base64(user:password)".
inline std::string basic(std::string_view user_and_password) {
  return "Basic " + base64(user_and_password);
}

}  // namespace gatehouse::testing_credentials
