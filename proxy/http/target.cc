#include "proxy/http/target.h"

namespace gatehouse::http {

namespace {

TargetParse fail(TargetError e, policy::HostError host_error = policy::HostError::kNone) {
  TargetParse p;
  p.error = e;
  p.host_error = host_error;
  return p;
}

// Checks the bytes every request-target form refuses.
TargetError scanBytes(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return TargetError::kBadByte;
    if (c == '#') return TargetError::kFragment;
    if (c == '\\') return TargetError::kBackslash;
  }
  return TargetError::kNone;
}

// Splits "host[:port]" / "[v6][:port]" and canonicalises the host. `require_port` for CONNECT.
TargetParse parseAuthority(std::string_view authority, bool require_port, uint16_t default_port) {
  if (authority.find('@') != std::string_view::npos) return fail(TargetError::kUserinfo);
  std::string_view host_text = authority;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(TargetError::kBadHost, policy::HostError::kBadBrackets);
    }
    host_text = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fail(TargetError::kBadHost, policy::HostError::kBadBrackets);
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host_text = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
    }
  }
  if (host_text.empty()) return fail(TargetError::kEmptyHost);

  Target t;
  if (port_text) {
    auto port = policy::parsePort(*port_text);
    if (!port) return fail(TargetError::kBadPort);
    t.port = *port;
    t.port_explicit = true;
  } else if (require_port) {
    return fail(TargetError::kMissingPort);
  } else {
    t.port = default_port;
  }
  policy::HostParse hp = policy::canonicalizeHost(host_text);
  if (!hp.ok()) return fail(TargetError::kBadHost, hp.error);
  t.host = std::move(*hp.host);
  TargetParse out;
  out.target = std::move(t);
  return out;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

const char* targetErrorMessage(TargetError error) {
  switch (error) {
    case TargetError::kNone:
      return "valid target";
    case TargetError::kEmpty:
      return "the request target is empty";
    case TargetError::kBadByte:
      return "the request target contains a control byte, space or non-ASCII byte";
    case TargetError::kFragment:
      return "the request target contains '#'";
    case TargetError::kBackslash:
      return "the request target contains a backslash";
    case TargetError::kNotAbsolute:
      return "a forward proxy needs an absolute URL (http://host/path) or CONNECT host:port";
    case TargetError::kUnsupportedScheme:
      return "only http:// URLs are forwarded; use CONNECT for https";
    case TargetError::kUserinfo:
      return "user information (user@host) in the URL is refused";
    case TargetError::kEmptyHost:
      return "the URL has no host";
    case TargetError::kBadHost:
      return "the host is malformed";
    case TargetError::kBadPort:
      return "the port is not a number from 1 to 65535";
    case TargetError::kMissingPort:
      return "CONNECT needs host:port";
    case TargetError::kAuthorityHasPath:
      return "CONNECT takes host:port only, without scheme or path";
  }
  return "malformed request target";
}

std::string TargetParse::message() const {
  std::string m = targetErrorMessage(error);
  if (error == TargetError::kBadHost) {
    m += ": ";
    m += policy::hostErrorMessage(host_error);
  }
  return m;
}

TargetParse parseAbsoluteForm(std::string_view target, AbsoluteFormOptions options) {
  if (target.empty()) return fail(TargetError::kEmpty);
  if (TargetError e = scanBytes(target); e != TargetError::kNone) return fail(e);
  if (target[0] == '/' || target == "*") return fail(TargetError::kNotAbsolute);

  size_t sep = target.find("://");
  if (sep == std::string_view::npos) {
    return fail(target.find(':') == std::string_view::npos ? TargetError::kNotAbsolute
                                                           : TargetError::kUnsupportedScheme);
  }
  std::string scheme;
  uint16_t default_port = 0;
  if (sep == 4 && startsWithNoCase(target, "http")) {
    scheme = "http";
    default_port = 80;
  } else if (sep == 5 && options.allow_https && startsWithNoCase(target, "https")) {
    scheme = "https";
    default_port = 443;
  } else {
    return fail(TargetError::kUnsupportedScheme);
  }
  std::string_view rest = target.substr(sep + 3);
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);

  // "http://evil.test?@allowed.test/": a query right after the authority holding '@' reads as
  // userinfo to some parsers; nothing legitimate needs it.
  if (!path.empty() && path[0] == '?' && path.find('@') != std::string_view::npos) {
    return fail(TargetError::kUserinfo);
  }
  TargetParse p = parseAuthority(authority, false, default_port);
  if (!p.ok()) return p;
  p.target->scheme = std::move(scheme);
  if (path.empty()) {
    p.target->path = "/";
  } else if (path[0] == '?') {
    p.target->path = "/" + std::string(path);
  } else {
    p.target->path = std::string(path);
  }
  return p;
}

TargetParse parseAuthorityForm(std::string_view target) {
  if (target.empty()) return fail(TargetError::kEmpty);
  if (TargetError e = scanBytes(target); e != TargetError::kNone) return fail(e);
  if (target.find('/') != std::string_view::npos) return fail(TargetError::kAuthorityHasPath);
  return parseAuthority(target, true, 0);
}

}  // namespace gatehouse::http
