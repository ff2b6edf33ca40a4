#include "policy/pattern.h"

#include <cctype>

namespace gatehouse::policy {

namespace {

PatternParse fail(std::string error, std::string hint, size_t offset = 0) {
  PatternParse p;
  p.error = std::move(error);
  p.hint = std::move(hint);
  p.offset = static_cast<int>(offset);
  return p;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bracketed IPv6 entries: "[2001:db8::7]" or "[2001:db8::7]:443" (optionally with "/len" inside).
PatternParse parseBracketed(std::string_view text) {
  size_t close = text.find(']');
  if (close == std::string_view::npos) {
    return fail("unbalanced '[' in " + quote(text), "write IPv6 entries as '[2001:db8::7]:443'", 0);
  }
  std::string_view inner = text.substr(1, close - 1);
  std::string_view rest = text.substr(close + 1);
  auto cidr = Cidr::parse(inner);
  if (!cidr || !cidr->base().isV6()) {
    return fail(quote(inner) + " is not an IPv6 address or CIDR",
                "brackets hold IPv6 text only, e.g. '[2001:db8::7]:443'", 1);
  }
  Pattern p;
  p.kind = Pattern::Kind::kCidr;
  p.cidr = *cidr;
  p.text = std::string(text);
  if (!rest.empty()) {
    auto port = rest[0] == ':' ? parsePort(rest.substr(1)) : std::nullopt;
    if (!port) {
      return fail("bad port " + quote(rest) + " after the IPv6 address",
                  "ports are 1-65535 after a colon: '[2001:db8::7]:443'", close + 1);
    }
    p.port = *port;
  }
  PatternParse out;
  out.pattern = std::move(p);
  return out;
}

bool looksNumeric(std::string_view s) {
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '/')) return false;
  }
  return !s.empty();
}

}  // namespace

PatternParse parsePattern(std::string_view text) {
  if (text.empty()) {
    return fail("empty entry", "remove it, or write a host such as 'example.com'");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      return fail("non-ASCII character in " + quote(text),
                  "write internationalised names as punycode (xn--...), e.g. with `idn2`", i);
    }
    if (c <= 0x20 || c == 0x7f) {
      return fail("whitespace or control character in " + quote(text),
                  "entries are single host patterns without spaces", i);
    }
  }
  if (size_t scheme = text.find("://"); scheme != std::string_view::npos) {
    return fail(quote(text) + " looks like a URL",
                "write only the host (and optionally :port), e.g. 'example.com'", scheme);
  }
  if (text[0] == '[') return parseBracketed(text);

  // IPv6 without brackets: two or more colons. No port possible in this form.
  size_t colons = 0;
  for (char c : text) colons += c == ':';
  if (colons >= 2) {
    auto cidr = Cidr::parse(text);
    if (!cidr) {
      return fail(quote(text) + " is not a valid IPv6 address or CIDR",
                  "IPv6 entries look like '2001:db8::/32'; with a port: '[2001:db8::7]:443'");
    }
    Pattern p;
    p.kind = Pattern::Kind::kCidr;
    p.cidr = *cidr;
    p.text = std::string(text);
    PatternParse out;
    out.pattern = std::move(p);
    return out;
  }

  std::string_view host = text;
  uint16_t port = 0;
  if (colons == 1) {
    size_t colon = text.find(':');
    auto parsed = parsePort(text.substr(colon + 1));
    if (!parsed) {
      return fail("bad port " + quote(text.substr(colon + 1)) + " in " + quote(text),
                  "ports are 1-65535 written in decimal, e.g. 'example.com:8443'", colon + 1);
    }
    port = *parsed;
    host = text.substr(0, colon);
  }
  if (host.find('/') != std::string_view::npos && !looksNumeric(host)) {
    return fail(quote(text) + " contains a path",
                "entries name hosts only; rules on paths are not host patterns", host.find('/'));
  }

  // IPv4 address or CIDR.
  if (looksNumeric(host)) {
    auto cidr = Cidr::parse(host);
    if (!cidr) {
      std::string why = " is not a valid IPv4 address or CIDR";
      std::string hint = "write dotted-quad decimal without leading zeros, e.g. '10.0.0.0/8'";
      size_t slash = host.find('/');
      if (slash != std::string_view::npos) {
        auto base = IpAddress::parseV4(host.substr(0, slash));
        std::string_view len_text = host.substr(slash + 1);
        if (base && !len_text.empty() && len_text.size() <= 2 &&
            len_text.find('/') == std::string_view::npos) {
          int len = 0;
          for (char c : len_text) len = len * 10 + (c - '0');
          if (len <= 32) {
            why = " has host bits set below the prefix";
            hint = "did you mean '" + Cidr(*base, len).toString() + "'?";
          }
        }
      }
      return fail(quote(text) + why, hint);
    }
    Pattern p;
    p.kind = Pattern::Kind::kCidr;
    p.cidr = *cidr;
    p.port = port;
    p.text = std::string(text);
    PatternParse out;
    out.pattern = std::move(p);
    return out;
  }

  // Host names, optionally with a leading "*." or "**.".
  Pattern p;
  p.port = port;
  p.text = std::string(text);
  std::string_view base = host;
  size_t base_offset = 0;
  if (base.substr(0, 3) == "**.") {
    p.kind = Pattern::Kind::kApexAndSubdomains;
    base.remove_prefix(3);
    base_offset = 3;
  } else if (base.substr(0, 2) == "*.") {
    p.kind = Pattern::Kind::kSubdomains;
    base.remove_prefix(2);
    base_offset = 2;
  }
  if (host == "*" || host == "**") {
    return fail("'*' would match every host", "use level = \"full\" to allow any domain");
  }
  if (size_t star = base.find('*'); star != std::string_view::npos) {
    return fail("'*' may only start an entry, as '*.' or '**.'",
                "write '*.example.com' (subdomains) or '**.example.com' (apex and subdomains)",
                base_offset + star);
  }
  if (base.empty()) {
    return fail(quote(text) + " has nothing after the wildcard",
                "write the domain after it, e.g. '*.example.com'", base_offset);
  }
  for (size_t i = 0; i < base.size(); ++i) {
    char c = base[i];
    if (c >= 'A' && c <= 'Z') {
      return fail(quote(text) + " is not lowercase",
                  "host names are case-insensitive; write '" + lowercase(text) + "'",
                  base_offset + i);
    }
  }
  if (base.back() == '.') {
    std::string fixed(text.substr(0, base_offset + base.size() - 1));
    if (port) fixed += ":" + std::to_string(port);
    return fail(quote(text) + " ends with a dot", "write '" + fixed + "' (the same name)",
                base_offset + base.size() - 1);
  }
  HostParse hp = canonicalizeHost(base);
  if (!hp.ok()) {
    return fail(quote(text) + ": " + hostErrorMessage(hp.error),
                "host names are labels of [a-z0-9-_] separated by single dots", base_offset);
  }
  if (hp.host->isIp()) {
    if (p.kind != Pattern::Kind::kExact) {
      return fail("wildcards do not apply to IP addresses", "use a CIDR such as '192.0.2.0/24'", 0);
    }
  }
  if (p.kind != Pattern::Kind::kExact && base.find('.') == std::string_view::npos) {
    return fail(quote(text) + " is a wildcard over a top-level domain",
                "name a registrable domain, e.g. '*.example." + std::string(base) + "'", 0);
  }
  p.name = hp.host->text;
  PatternParse out;
  out.pattern = std::move(p);
  return out;
}

bool Pattern::matches(const Host& host, uint16_t req_port) const {
  if (port != 0 && req_port != 0 && port != req_port) return false;
  if (kind == Kind::kCidr) return host.isIp() && cidr.contains(host.ip);
  if (host.isIp()) return false;
  const std::string& h = host.text;
  bool is_apex = h == name;
  bool is_sub = h.size() > name.size() + 1 &&
                h.compare(h.size() - name.size(), name.size(), name) == 0 &&
                h[h.size() - name.size() - 1] == '.';
  switch (kind) {
    case Kind::kExact:
      return is_apex;
    case Kind::kSubdomains:
      return is_sub;
    case Kind::kApexAndSubdomains:
      return is_apex || is_sub;
    case Kind::kCidr:
      break;
  }
  return false;
}

bool Pattern::coveredBy(const Pattern& other) const {
  if (other.port != 0 && other.port != port) return false;
  if (kind == Kind::kCidr || other.kind == Kind::kCidr) {
    if (kind != Kind::kCidr || other.kind != Kind::kCidr) return false;
    return other.cidr.base().family() == cidr.base().family() &&
           other.cidr.prefixLength() <= cidr.prefixLength() && other.cidr.contains(cidr.base());
  }
  Host apex{Host::Kind::kName, name, {}};
  Host sub{Host::Kind::kName, "x." + name, {}};
  switch (kind) {
    case Kind::kExact:
      return other.matches(apex, 0);
    case Kind::kSubdomains:
      return other.matches(sub, 0) && other.kind != Kind::kExact;
    case Kind::kApexAndSubdomains:
      return other.matches(apex, 0) && other.matches(sub, 0) && other.kind != Kind::kExact;
    case Kind::kCidr:
      break;
  }
  return false;
}

ConfigIssue patternIssue(const PatternEntry& entry, const PatternParse& parse,
                         std::string_view list_name) {
  ConfigIssue issue;
  issue.severity = ConfigIssue::Severity::kError;
  issue.pos = entry.pos.shifted(1 + parse.offset);  // 1: the opening quote
  issue.message = "invalid entry in " + std::string(list_name) + ": " + parse.error;
  issue.hint = parse.hint;
  return issue;
}

}  // namespace gatehouse::policy
