// Request-target parsing for a forward proxy (RFC 9112 §3.2), strict by design: the policy
// decides on exactly what is parsed here, so anything another parser could read differently
// is refused (BAD-INPUTS A7-A12, A19, E3).
//
//   absolute-form   "http://host[:port][/path][?query]"   (forwarded requests)
//   authority-form  "host:port"                            (CONNECT only; port required)
//
// Refused: userinfo ('@' anywhere in the authority), fragments ('#'), backslashes, control
// bytes, SP and non-ASCII anywhere, percent-encoded or malformed hosts (see policy/host.h),
// empty or out-of-range ports ("host:", ":0", "+80", 65536), schemes other than http.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/host.h"

namespace gatehouse::http {

enum class TargetError : uint8_t {
  kNone = 0,
  kEmpty,
  kBadByte,            // control byte, SP, DEL or non-ASCII in the target
  kFragment,           // '#'
  kBackslash,          // '\'
  kNotAbsolute,        // origin-form ("/x") or asterisk-form ("*") on the proxy listener
  kUnsupportedScheme,  // https://, ftp://, gopher://, file://, ...
  kUserinfo,           // "http://a@b/"
  kEmptyHost,          // "http:///", "http://:80/", ":443"
  kBadHost,            // see host_error
  kBadPort,            // "host:", "host:0", "host:+80", "host:65536"
  kMissingPort,        // CONNECT "host" without a port
  kAuthorityHasPath,   // CONNECT "host:443/x", CONNECT "http://host:443"
};

const char* targetErrorMessage(TargetError error);

struct Target {
  std::string scheme;  // "http" (or "https" when allowed), "" for authority-form
  policy::Host host;
  uint16_t port = 0;
  bool port_explicit = false;
  std::string path;  // path and query, at least "/"; "" for authority-form
};

struct TargetParse {
  std::optional<Target> target;
  TargetError error = TargetError::kNone;
  policy::HostError host_error = policy::HostError::kNone;  // when error == kBadHost
  bool ok() const { return target.has_value(); }
  // One line: what is wrong (includes the host error's message).
  std::string message() const;
};

struct AbsoluteFormOptions {
  bool allow_https = false;  // the explain CLI accepts https:// URLs (port 443 by default)
};

TargetParse parseAbsoluteForm(std::string_view target, AbsoluteFormOptions options = {});
TargetParse parseAuthorityForm(std::string_view target);

}  // namespace gatehouse::http
