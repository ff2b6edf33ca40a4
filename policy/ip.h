// IP addresses and CIDR ranges, parsed strictly.
//
// Only two textual forms are addresses: dotted-quad decimal IPv4 without leading zeros
// ("192.0.2.7") and RFC 4291 IPv6 text (with an optional trailing dotted quad, no zone id).
// Every other numeric spelling that resolvers accept ("2130706433", "0x7f.1", "0177.0.0.1",
// "127.1") is rejected: the proxy never lets a resolver reinterpret a literal.
//
// Pure value types; safe to use from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::policy {

class IpAddress final {
 public:
  enum class Family : uint8_t { kV4, kV6 };

  IpAddress() = default;
  static IpAddress v4(uint32_t host_order);
  static IpAddress v6(const std::array<uint8_t, 16>& bytes);

  // Strict parsers; nullopt for anything that is not exactly the canonical form described above.
  static std::optional<IpAddress> parseV4(std::string_view text);
  static std::optional<IpAddress> parseV6(std::string_view s);
  // Either family (IPv6 without brackets).
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::kV4; }
  bool isV6() const { return family_ == Family::kV6; }
  // IPv4 value in host byte order; only meaningful when isV4().
  uint32_t v4Value() const;
  // 4 bytes (IPv4) or 16 bytes (IPv6), network order.
  const uint8_t* bytes() const { return bytes_.data(); }
  int byteLength() const { return isV4() ? 4 : 16; }
  int bitLength() const { return isV4() ? 32 : 128; }
  // Bit i counted from the most significant bit of the first byte.
  bool bit(int i) const { return (bytes_[i / 8] >> (7 - i % 8)) & 1; }

  // RFC 5952 text for IPv6, dotted quad for IPv4.
  std::string toString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first 4 bytes
};

class Cidr final {
 public:
  Cidr() = default;
  Cidr(const IpAddress& base, int prefix_len);  // host bits of base are cleared

  // "10.0.0.0/8", "2001:db8::/32", or a single address ("192.0.2.7" = /32).
  // Host bits set below the prefix ("10.0.0.1/8") are rejected: they usually mean a typo.
  static std::optional<Cidr> parse(std::string_view text);

  bool contains(const IpAddress& addr) const;
  const IpAddress& base() const { return base_; }
  int prefixLength() const { return prefix_len_; }
  std::string toString() const;

  friend bool operator==(const Cidr& a, const Cidr& b) {
    return a.base_ == b.base_ && a.prefix_len_ == b.prefix_len_;
  }

 private:
  IpAddress base_;
  int prefix_len_ = 0;
};

// Clears every bit at or after prefix_len.
IpAddress maskAddress(const IpAddress& addr, int prefix_len);

}  // namespace gatehouse::policy
