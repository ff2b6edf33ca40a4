#include "policy/ip.h"

#include <algorithm>
#include <cstdio>

namespace gatehouse::policy {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses exactly four decimal octets 0..255 without leading zeros into out[0..3].
bool parseDottedQuad(std::string_view s, uint8_t* out) {
  int octet = 0;
  size_t pos = 0;
  for (; octet < 4; ++octet) {
    if (octet > 0) {
      if (pos >= s.size() || s[pos] != '.') return false;
      ++pos;
    }
    size_t start = pos;
    unsigned value = 0;
    while (pos < s.size() && isDigit(s[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[pos] - '0');
      ++pos;
    }
    size_t len = pos - start;
    if (len == 0 || value > 255) return false;
    if (len > 1 && s[start] == '0') return false;  // leading zero: octal to some parsers
    out[octet] = static_cast<uint8_t>(value);
  }
  return pos == s.size();
}

}  // namespace

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family_ = Family::kV4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& bytes) {
  IpAddress a;
  a.family_ = Family::kV6;
  a.bytes_ = bytes;
  return a;
}

uint32_t IpAddress::v4Value() const {
  return (static_cast<uint32_t>(bytes_[0]) << 24) | (static_cast<uint32_t>(bytes_[1]) << 16) |
         (static_cast<uint32_t>(bytes_[2]) << 8) | static_cast<uint32_t>(bytes_[3]);
}

std::optional<IpAddress> IpAddress::parseV4(std::string_view text) {
  IpAddress a;
  a.family_ = Family::kV4;
  if (!parseDottedQuad(text, a.bytes_.data())) return std::nullopt;
  return a;
}

std::optional<IpAddress> IpAddress::parseV6(std::string_view s) {
  // RFC 4291 §2.2: up to 8 groups of 1-4 hex digits, at most one "::", optionally ending in a
  // dotted quad that stands for the last two groups.
  if (s.size() < 2 || s.size() > 45) return std::nullopt;
  uint16_t groups[8] = {};
  int count = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t pos = 0;
  if (s[0] == ':') {
    if (s[1] != ':') return std::nullopt;
    gap = 0;
    pos = 2;
    if (pos == s.size()) {
      return IpAddress::v6({});
    }
  }
  while (pos < s.size()) {
    if (count == 8) return std::nullopt;
    // A dotted quad may end the address.
    size_t end = s.find(':', pos);
    std::string_view token =
        s.substr(pos, end == std::string_view::npos ? s.size() - pos : end - pos);
    if (end == std::string_view::npos && token.find('.') != std::string_view::npos) {
      if (count > 6) return std::nullopt;
      uint8_t quad[4];
      if (!parseDottedQuad(token, quad)) return std::nullopt;
      groups[count++] = static_cast<uint16_t>(quad[0] << 8 | quad[1]);
      groups[count++] = static_cast<uint16_t>(quad[2] << 8 | quad[3]);
      pos = s.size();
      break;
    }
    if (token.empty() || token.size() > 4) return std::nullopt;
    unsigned value = 0;
    for (char c : token) {
      int h = hexValue(c);
      if (h < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<uint16_t>(value);
    pos += token.size();
    if (pos == s.size()) break;
    // pos is at ':'
    if (pos + 1 < s.size() && s[pos + 1] == ':') {
      if (gap >= 0) return std::nullopt;  // two "::"
      gap = count;
      pos += 2;
      if (pos == s.size()) break;
    } else {
      ++pos;
      if (pos == s.size()) return std::nullopt;  // trailing single ':'
    }
  }
  if (gap < 0 && count != 8) return std::nullopt;
  if (gap >= 0 && count > 7) return std::nullopt;  // "::" must stand for at least one group
  std::array<uint8_t, 16> bytes{};
  int zeros = 8 - count;
  int out = 0;
  for (int i = 0; i < count; ++i) {
    if (i == gap) out += zeros;
    const auto at = static_cast<size_t>(out) * 2;
    bytes[at] = static_cast<uint8_t>(groups[i] >> 8);
    bytes[at + 1] = static_cast<uint8_t>(groups[i]);
    ++out;
  }
  return IpAddress::v6(bytes);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parseV6(text);
  return parseV4(text);
}

std::string IpAddress::toString() const {
  char buf[64];
  if (isV4()) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes_[0], bytes_[1], bytes_[2], bytes_[3]);
    return buf;
  }
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, bytes_.begin())) {
    std::snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", bytes_[12], bytes_[13], bytes_[14],
                  bytes_[15]);
    return buf;
  }
  uint16_t g[8];
  for (size_t i = 0; i < 8; ++i) {
    g[i] = static_cast<uint16_t>(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
  }
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

IpAddress maskAddress(const IpAddress& addr, int prefix_len) {
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < addr.byteLength(); ++i) {
    int bits = prefix_len - 8 * i;
    uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    b[i] = addr.bytes()[i] & mask;
  }
  if (addr.isV4()) {
    return IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
                         static_cast<uint32_t>(b[2]) << 8 | b[3]);
  }
  return IpAddress::v6(b);
}

Cidr::Cidr(const IpAddress& base, int prefix_len)
    : base_(maskAddress(base, prefix_len)), prefix_len_(prefix_len) {}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  auto addr = IpAddress::parse(addr_text);
  if (!addr) return std::nullopt;
  int len = addr->bitLength();
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3) return std::nullopt;
    if (len_text.size() > 1 && len_text[0] == '0') return std::nullopt;
    len = 0;
    for (char c : len_text) {
      if (!isDigit(c)) return std::nullopt;
      len = len * 10 + (c - '0');
    }
    if (len > addr->bitLength()) return std::nullopt;
  }
  Cidr cidr(*addr, len);
  if (!(cidr.base_ == *addr)) return std::nullopt;  // host bits set
  return cidr;
}

bool Cidr::contains(const IpAddress& addr) const {
  if (addr.family() != base_.family()) return false;
  return maskAddress(addr, prefix_len_) == base_;
}

std::string Cidr::toString() const { return base_.toString() + "/" + std::to_string(prefix_len_); }

}  // namespace gatehouse::policy
