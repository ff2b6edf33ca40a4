#include "policy/host.h"

namespace gatehouse::policy {

namespace {

constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxName = 253;

bool isNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// WHATWG "ends in a number": the last label is all digits, or "0x" followed by hex digits.
// Resolvers (inet_aton) read such names as IPv4 addresses in decimal, octal or hex.
bool endsInNumber(std::string_view name) {
  size_t dot = name.rfind('.');
  std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (last.empty()) return false;
  bool all_digits = true;
  for (char c : last) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (char c : last.substr(2)) {
      if (!isHexDigit(c)) return false;
    }
    return true;
  }
  return false;
}

HostParse fail(HostError e) {
  HostParse p;
  p.error = e;
  return p;
}

HostParse parseBracketed(std::string_view raw) {
  if (raw.size() < 2 || raw.back() != ']') return fail(HostError::kBadBrackets);
  std::string_view inner = raw.substr(1, raw.size() - 2);
  for (unsigned char c : inner) {
    if (c >= 0x80) return fail(HostError::kNonAscii);
  }
  if (inner.find('%') != std::string_view::npos) return fail(HostError::kZoneId);
  if (inner.find(':') == std::string_view::npos) return fail(HostError::kBadBrackets);
  auto ip = IpAddress::parseV6(inner);
  if (!ip) return fail(HostError::kBadIpv6);
  HostParse p;
  p.host = Host{Host::Kind::kIpv6, ip->toString(), *ip};
  return p;
}

}  // namespace

const char* hostErrorCode(HostError error) {
  switch (error) {
    case HostError::kNone:
      return "ok";
    case HostError::kEmpty:
      return "empty-host";
    case HostError::kNonAscii:
      return "non-ascii-host";
    case HostError::kPercentEncoded:
      return "percent-encoded-host";
    case HostError::kInvalidChar:
      return "invalid-host-character";
    case HostError::kEmptyLabel:
      return "empty-label";
    case HostError::kLabelTooLong:
      return "label-too-long";
    case HostError::kNameTooLong:
      return "name-too-long";
    case HostError::kNumericName:
    case HostError::kTrailingDotIp:
      return "ambiguous-ip-literal";
    case HostError::kBadBrackets:
      return "bad-brackets";
    case HostError::kBadIpv6:
      return "bad-ipv6-literal";
    case HostError::kZoneId:
      return "ipv6-zone-id";
  }
  return "malformed-host";
}

const char* hostErrorMessage(HostError error) {
  switch (error) {
    case HostError::kNone:
      return "valid host";
    case HostError::kEmpty:
      return "the host is empty";
    case HostError::kNonAscii:
      return "the host contains non-ASCII bytes; internationalised names must be written in "
             "punycode (xn--...)";
    case HostError::kPercentEncoded:
      return "the host is percent-encoded; host names are never decoded";
    case HostError::kInvalidChar:
      return "the host contains a character outside [a-z0-9-_.]";
    case HostError::kEmptyLabel:
      return "the host has an empty label (leading dot, two dots in a row, or two trailing dots)";
    case HostError::kLabelTooLong:
      return "a label of the host is longer than 63 octets";
    case HostError::kNameTooLong:
      return "the host is longer than 253 octets";
    case HostError::kNumericName:
      return "the host ends in a number but is not a dotted-quad IPv4 address (decimal, octal, "
             "hex and short forms are refused because resolvers read them as addresses)";
    case HostError::kTrailingDotIp:
      return "an IPv4 address with a trailing dot is refused (resolvers treat it as a name)";
    case HostError::kBadBrackets:
      return "brackets may only enclose an IPv6 address";
    case HostError::kBadIpv6:
      return "the bracketed IPv6 address is not valid RFC 4291 text";
    case HostError::kZoneId:
      return "IPv6 zone identifiers are refused";
  }
  return "malformed host";
}

std::optional<uint16_t> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5 || text[0] == '0') return std::nullopt;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string Host::authorityForm() const {
  if (kind == Kind::kIpv6) return "[" + text + "]";
  return text;
}

HostParse canonicalizeHost(std::string_view raw) {
  if (raw.empty()) return fail(HostError::kEmpty);
  if (raw.front() == '[') return parseBracketed(raw);

  std::string_view name = raw;
  const bool trailing_dot = name.back() == '.';
  if (trailing_dot) name.remove_suffix(1);

  // One pass: classify every byte (the most telling error wins: non-ASCII, then '%', then any
  // other byte outside [A-Za-z0-9-_.]), lowercase into the result and check label lengths.
  HostParse p;
  p.host.emplace();
  std::string& out = p.host->text;
  out.resize(name.size());
  bool percent = false;
  bool invalid = false;
  size_t label_start = 0;
  HostError label_error = HostError::kNone;
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x80) return fail(HostError::kNonAscii);
    if (c >= 'A' && c <= 'Z') {
      out[i] = static_cast<char>(c - 'A' + 'a');
      continue;
    }
    out[i] = static_cast<char>(c);
    if (c == '.') {
      if (i == label_start && label_error == HostError::kNone) label_error = HostError::kEmptyLabel;
      if (i - label_start > kMaxLabel && label_error == HostError::kNone) {
        label_error = HostError::kLabelTooLong;
      }
      label_start = i + 1;
    } else if (c == '%') {
      percent = true;
    } else if (!isNameChar(c)) {
      invalid = true;
    }
  }
  for (unsigned char c : raw.substr(name.size())) {  // the removed trailing dot, if any
    if (c >= 0x80) return fail(HostError::kNonAscii);
  }
  if (percent) return fail(HostError::kPercentEncoded);
  if (invalid) return fail(HostError::kInvalidChar);
  if (name.empty()) return fail(HostError::kEmptyLabel);

  if (endsInNumber(name)) {
    auto v4 = IpAddress::parseV4(name);
    if (!v4) return fail(HostError::kNumericName);
    if (trailing_dot) return fail(HostError::kTrailingDotIp);
    p.host->kind = Host::Kind::kIpv4;
    p.host->ip = *v4;
    return p;
  }
  if (name.size() > kMaxName) return fail(HostError::kNameTooLong);
  if (label_error == HostError::kNone) {
    const size_t last = name.size() - label_start;
    if (last == 0) label_error = HostError::kEmptyLabel;
    if (last > kMaxLabel) label_error = HostError::kLabelTooLong;
  }
  if (label_error != HostError::kNone) return fail(label_error);
  p.host->kind = Host::Kind::kName;
  return p;
}

}  // namespace gatehouse::policy
