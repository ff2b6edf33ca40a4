// The decision log: one JSON line per request and per tunnel (SPEC §5), written when the
// request or tunnel ends.
//
// Values are escaped (control characters, quotes, backslashes, non-ASCII as \u00XX), so that a
// hostile host name or method can never forge a line. Secrets never reach this struct: it has
// no field for headers, credentials or paths.
//
// Threading: DecisionLog::write() may be called from any worker thread; lines are written whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace gatehouse::common {

struct DecisionRecord {
  std::chrono::system_clock::time_point time;
  std::string kind;  // "http" | "connect" | "local"
  std::string client;
  std::string session;
  std::string environment;  // name@version
  std::string method;
  std::string host;
  uint16_t port = 0;
  std::string decision;  // "allow" | "deny" | "error"
  std::string reason;
  std::string rule;
  int status = 0;
  std::string sni;  // CONNECT: what the ClientHello named
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  double duration_ms = 0;
};

// JSON string body for `s` (without the quotes).
std::string jsonEscape(std::string_view s);
std::string formatDecision(const DecisionRecord& record);

class DecisionLog final {
 public:
  // Takes ownership of `out` when `owned` (a file); stdout otherwise. nullptr disables.
  DecisionLog(FILE* out, bool owned);
  ~DecisionLog();
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  void write(const DecisionRecord& record);
  // False when the log is off: callers skip building the record at all.
  bool enabled() const { return out_ != nullptr; }

 private:
  std::mutex mutex_;
  FILE* out_;
  bool owned_;
};

}  // namespace gatehouse::common
