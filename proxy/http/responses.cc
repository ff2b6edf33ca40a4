#include "proxy/http/responses.h"

namespace gatehouse::http {

namespace {

// Header values carry config text and destination names, which are validated ASCII; anything
// else is replaced so that a header can never be split or forged.
std::string headerSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

// RFC 8941 sf-string: escape '"' and '\'.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : headerSafe(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string bodySafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s)
    out += (c >= 0x20 && c < 0x7f) || c == '\n' ? static_cast<char>(c) : '?';
  return out;
}

}  // namespace

const char* statusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";  // the reason phrase may be empty (RFC 9112 §4)
  }
}

std::string buildRefusal(const Refusal& r) {
  std::string body = "gatehouse refused " + bodySafe(r.what) + ": " + bodySafe(r.why) + "\n";
  if (!r.how.empty()) body += "To allow it: " + bodySafe(r.how) + "\n";
  if (!r.reason.empty()) body += "Reason: " + headerSafe(r.reason) + "\n";

  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + statusText(r.status) + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += r.close ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  out += "Proxy-Status: gatehouse; error=" + headerSafe(r.proxy_error);
  if (!r.details.empty()) out += "; details=" + quoted(r.details);
  out += "\r\n";
  if (!r.reason.empty()) out += "X-Gatehouse-Reason: " + headerSafe(r.reason) + "\r\n";
  if (!r.rule.empty()) out += "X-Gatehouse-Rule: " + headerSafe(r.rule) + "\r\n";
  if (!r.environment.empty())
    out += "X-Gatehouse-Environment: " + headerSafe(r.environment) + "\r\n";
  out += r.extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

std::string_view connectEstablished() { return "HTTP/1.1 200 Connection established\r\n\r\n"; }

}  // namespace gatehouse::http
