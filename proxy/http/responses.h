// The responses the proxy writes itself (SPEC §4): refusals with machine- and human-readable
// reasons, and the CONNECT success line.
//
// Every refusal carries Proxy-Status (RFC 9209), X-Gatehouse-Reason (a stable kebab-case code),
// X-Gatehouse-Rule and X-Gatehouse-Environment when known, and a short text/plain body that
// says what was refused, why and how to allow it. Bodies never contain the request path,
// upstream error text or anything secret.
#pragma once

#include <string>
#include <string_view>

namespace gatehouse::http {

struct Refusal {
  int status = 403;
  std::string_view proxy_error = "http_request_denied";  // RFC 9209 error type
  std::string reason;         // X-Gatehouse-Reason, e.g. "host-not-allowed"
  std::string details;        // Proxy-Status details, short ("host not allowed")
  std::string rule;           // X-Gatehouse-Rule ("" = omitted)
  std::string environment;    // X-Gatehouse-Environment "name@version" ("" = omitted)
  std::string what;           // "CONNECT api.evil.test:443" (method and destination, never a path)
  std::string why;            // one sentence
  std::string how;            // how to allow it ("" = omitted)
  bool close = true;          // Connection: close
  std::string extra_headers;  // complete header lines ("Retry-After: 1\r\n"), appended verbatim
};

// The RFC 9110 reason phrase ("" for codes without one; the phrase may be empty).
const char* statusText(int status);

// The full response bytes.
std::string buildRefusal(const Refusal& refusal);

// "HTTP/1.1 200 Connection established\r\n\r\n"
std::string_view connectEstablished();

}  // namespace gatehouse::http
