// The decision log: one JSON line per request and per tunnel (SPEC §5), written when the
// request or tunnel ends.
//
// Values are escaped (control characters, quotes, backslashes, non-ASCII as \u00XX), so that a
// hostile host name or method can never forge a line. Secrets never reach this struct: it has
// no field for headers, credentials or paths.
//
// A storm of denials is sampled: beyond `denied_per_second` denied lines in one second the rest
// of that second's denials are not written, and the next line written is preceded by one
// summary line, {"time":…,"kind":"log","dropped_denials":N}, so a flood cannot fill the disk and
// the count of what was left out is never lost. Allowed requests are never dropped.
//
// The log also keeps the most recent lines in a bounded ring (`[log] recent_decisions`) that the
// control API serves (GET /v1/decisions), filtered by session.
//
// Threading: write() and recent() may be called from any thread; lines are written whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace gatehouse::common {

struct DecisionRecord {
  std::chrono::system_clock::time_point time;
  std::string kind;  // "http" | "connect" | "local"
  std::string client;
  std::string session;
  std::vector<std::string> labels;  // the session's labels
  std::string environment;          // name@version
  std::string method;
  std::string host;
  uint16_t port = 0;
  std::string decision;  // "allow" | "deny" | "error"
  std::string reason;
  std::string rule;
  int status = 0;
  std::string sni;  // CONNECT: what the ClientHello named
  // "report" when the environment is in report mode and the request was allowed although the
  // policy denied it ("" otherwise).
  std::string mode;
  // The shadow environment's decision on the same request (all "" when there is none).
  std::string shadow_environment;  // name@version
  std::string shadow_decision;     // "allow" | "deny"
  std::string shadow_reason;
  // The git path (kind "local"): "owner/repo", "upload-pack" | "receive-pack" | "api", the API
  // path (without its query), and a push's ref updates ("refs/heads/b <old>..<new>").
  std::string repo;
  std::string git_service;
  std::string path;
  std::vector<std::string> ref_updates;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  double duration_ms = 0;
};

// JSON string body for `s` (without the quotes).
std::string jsonEscape(std::string_view s);
std::string formatDecision(const DecisionRecord& record);

class DecisionLog final {
 public:
  // Takes ownership of `out` when `owned` (a file); stdout otherwise. nullptr: no lines written.
  // `recent` = how many of the latest lines the ring keeps (0: none). `denied_per_second` = the
  // sampling limit of denied lines (0: every line is written). `clock` is injectable for tests.
  DecisionLog(FILE* out, bool owned, size_t recent = 0, uint32_t denied_per_second = 0,
              std::function<std::chrono::steady_clock::time_point()> clock = nullptr);
  ~DecisionLog();
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  void write(const DecisionRecord& record);
  // False when both the log and the ring are off: callers skip building the record at all.
  bool enabled() const { return out_ != nullptr || recent_capacity_ > 0; }

  // The latest lines (JSON objects, without the newline), newest first: at most `limit`, only
  // those of `session` unless it is empty.
  std::vector<std::string> recent(std::string_view session, size_t limit) const;
  size_t recentCapacity() const { return recent_capacity_; }
  // Denied lines left out of the file so far (all of them, summarised or not).
  uint64_t droppedDenials() const;

 private:
  // Under mutex_: whether a denied line may be written now; writes a pending summary first.
  bool admitLocked(bool denied, std::chrono::system_clock::time_point when);

  mutable std::mutex mutex_;  // the file and the sampling state
  FILE* out_;
  bool owned_;
  uint32_t denied_per_second_;
  std::function<std::chrono::steady_clock::time_point()> clock_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t denied_in_window_ = 0;
  uint64_t pending_dropped_ = 0;  // not yet reported in a summary line
  uint64_t dropped_total_ = 0;
  size_t recent_capacity_;
  mutable std::mutex recent_mutex_;
  // Guarded by recent_mutex_; oldest first. Records, formatted only when asked for: the request
  // path pays a copy, not the JSON formatting, when the file log is off.
  std::deque<DecisionRecord> recent_;
};

}  // namespace gatehouse::common
