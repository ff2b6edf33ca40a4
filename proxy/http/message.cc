#include "proxy/http/message.h"

#include <string>

namespace gatehouse::http {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

const Header* findIn(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

// Calls fn(token) for every non-empty element of a comma-separated list.
template <typename Fn>
void forEachToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view token = trimOws(value.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The header names the sender's Connection headers declare hop-by-hop (RFC 9110 §7.6.1).
std::vector<std::string_view> connectionNamed(const std::vector<Header>& headers) {
  std::vector<std::string_view> named;
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, "connection")) {
      forEachToken(h.value, [&](std::string_view token) { named.push_back(token); });
    }
  }
  return named;
}

bool isNamed(const std::vector<std::string_view>& named, std::string_view name) {
  for (std::string_view n : named) {
    if (equalsIgnoreCase(n, name)) return true;
  }
  return false;
}

// Headers never copied from a received head: hop-by-hop ones (RFC 9110 §7.6.1, RFC 9112 §9.6)
// and the ones the serialisers regenerate (Host, framing).
bool isAlwaysStripped(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "connection",     "proxy-connection",    "keep-alive",         "te",
      "trailer",        "proxy-authorization", "proxy-authenticate", "transfer-encoding",
      "content-length",
  };
  for (std::string_view n : kNames) {
    if (equalsIgnoreCase(name, n)) return true;
  }
  return false;
}

bool isValidFieldText(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  if (name.empty() || !isValidFieldText(name) || !isValidFieldText(value) ||
      name.find(':') != std::string_view::npos) {
    return;
  }
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

uint16_t defaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

// "host" or "host:port" as written in a Host header for the parsed target.
std::string hostHeaderValue(const RequestHead& head) {
  std::string value = head.parsed.host.authorityForm();
  if (head.is_connect || head.parsed.port != defaultPort(head.parsed.scheme)) {
    value += ':';
    value += std::to_string(head.parsed.port);
  }
  return value;
}

bool isUpgradeHeader(std::string_view name) {
  return equalsIgnoreCase(name, "upgrade") || equalsIgnoreCase(name, "http2-settings");
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> parseContentLength(std::string_view value) {
  if (value.empty() || value.size() > 20) return std::nullopt;
  if (value.size() > 1 && value[0] == '0') return std::nullopt;
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

bool hasToken(std::string_view value, std::string_view token) {
  bool found = false;
  forEachToken(value, [&](std::string_view t) { found = found || equalsIgnoreCase(t, token); });
  return found;
}

const Header* RequestHead::find(std::string_view name) const { return findIn(headers, name); }

const Header* ResponseHead::find(std::string_view name) const { return findIn(headers, name); }

std::string serializeRequestHead(const RequestHead& head, const RequestSerializeOptions& options) {
  std::string out;
  out.reserve(256);
  out.append(head.method);
  out.push_back(' ');
  if (head.is_connect) {
    out.append(hostHeaderValue(head));
  } else if (head.origin_form) {
    out.append(head.target);
  } else {
    out.append(head.parsed.path);
  }
  out.append(" HTTP/1.1\r\n");

  // Host comes from the parsed target, never from the client's Host header (A1, A18).
  if (!head.parsed.host.text.empty()) {
    appendHeader(out, "Host", hostHeaderValue(head));
  } else if (const Header* host = head.find("host")) {
    appendHeader(out, "Host", host->value);
  }

  bool keep_upgrade = options.allow_upgrade && head.has_upgrade;
  std::vector<std::string_view> named = connectionNamed(head.headers);
  for (const Header& h : head.headers) {
    if (equalsIgnoreCase(h.name, "host") || isAlwaysStripped(h.name)) continue;
    if (isUpgradeHeader(h.name)) {
      if (keep_upgrade) appendHeader(out, h.name, h.value);
      continue;
    }
    if (equalsIgnoreCase(h.name, "expect")) {
      // The parser refused every other expectation; an HTTP/1.0 client's is ignored (RFC 9110
      // §10.1.1), so the upstream must not answer it with 100.
      if (head.expect_continue) appendHeader(out, h.name, h.value);
      continue;
    }
    if (isNamed(named, h.name)) continue;
    appendHeader(out, h.name, h.value);
  }

  if (!head.is_connect) {
    if (head.chunked) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (head.content_length) {
      appendHeader(out, "Content-Length", std::to_string(*head.content_length));
    }
  }
  if (keep_upgrade) {
    out.append("Connection: upgrade\r\n");
  } else if (!options.keep_alive) {
    out.append("Connection: close\r\n");
  }
  for (const Header& h : options.extra_headers) appendHeader(out, h.name, h.value);
  out.append("\r\n");
  return out;
}

BodyFraming responseFraming(const ResponseHead& head, const ResponseSerializeOptions& options) {
  if ((head.status >= 100 && head.status < 200) || head.status == 204 || head.status == 304 ||
      options.head_request) {
    return BodyFraming::kNone;
  }
  if (head.content_length && !head.chunked) return BodyFraming::kContentLength;
  return options.http10_client ? BodyFraming::kUntilClose : BodyFraming::kChunked;
}

std::string serializeResponseHead(const ResponseHead& head,
                                  const ResponseSerializeOptions& options) {
  std::string out;
  out.reserve(256);
  out.append("HTTP/1.1 ");
  out.append(std::to_string(head.status));
  out.push_back(' ');
  for (char c : head.reason) {
    auto u = static_cast<unsigned char>(c);
    if (u == '\t' || (u >= 0x20 && u != 0x7f)) out.push_back(c);
  }
  out.append("\r\n");

  bool keep_upgrade = options.allow_upgrade && head.status == 101;
  std::vector<std::string_view> named = connectionNamed(head.headers);
  for (const Header& h : head.headers) {
    if (isAlwaysStripped(h.name)) continue;
    if (isUpgradeHeader(h.name)) {
      if (keep_upgrade) appendHeader(out, h.name, h.value);
      continue;
    }
    if (isNamed(named, h.name)) continue;
    appendHeader(out, h.name, h.value);
  }

  BodyFraming framing = responseFraming(head, options);
  switch (framing) {
    case BodyFraming::kNone:
      // For HEAD and 304 the length describes the representation, not a body that follows.
      if (head.content_length && head.status != 204 && head.status >= 200) {
        appendHeader(out, "Content-Length", std::to_string(*head.content_length));
      }
      break;
    case BodyFraming::kContentLength:
      appendHeader(out, "Content-Length", std::to_string(*head.content_length));
      break;
    case BodyFraming::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::kUntilClose:
      break;
  }
  if (keep_upgrade) {
    out.append("Connection: upgrade\r\n");
  } else if (framing == BodyFraming::kUntilClose || !options.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (options.http10_client && head.status >= 200) {
    out.append("Connection: keep-alive\r\n");
  }
  for (const Header& h : options.extra_headers) appendHeader(out, h.name, h.value);
  out.append("\r\n");
  return out;
}

}  // namespace gatehouse::http
