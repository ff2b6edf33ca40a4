#include "proxy/common/decision_log.h"

#include <ctime>

namespace gatehouse::common {

std::string jsonEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string formatDecision(const DecisionRecord& r) {
  const auto since_epoch = r.time.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[96];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", r.duration_ms);

  auto field = [](const char* name, std::string_view value) {
    return std::string(",\"") + name + "\":\"" + jsonEscape(value) + "\"";
  };
  std::string line = std::string("{\"time\":\"") + when + "\"";
  line += field("kind", r.kind);
  line += field("client", r.client);
  line += field("session", r.session);
  if (!r.labels.empty()) {
    line += ",\"labels\":[";
    for (size_t i = 0; i < r.labels.size(); ++i) {
      line += (i == 0 ? "\"" : ",\"") + jsonEscape(r.labels[i]) + "\"";
    }
    line += "]";
  }
  line += field("environment", r.environment);
  line += field("method", r.method);
  line += field("host", r.host);
  line += ",\"port\":" + std::to_string(r.port);
  line += field("decision", r.decision);
  line += field("reason", r.reason);
  line += field("rule", r.rule);
  line += ",\"status\":" + std::to_string(r.status);
  if (!r.sni.empty()) line += field("sni", r.sni);
  if (!r.mode.empty()) line += field("mode", r.mode);
  if (!r.shadow_environment.empty()) {
    line += ",\"shadow\":{\"environment\":\"" + jsonEscape(r.shadow_environment) + "\"";
    line += field("decision", r.shadow_decision);
    line += field("reason", r.shadow_reason);
    line += "}";
  }
  if (!r.repo.empty()) line += field("repo", r.repo);
  if (!r.git_service.empty()) line += field("git_service", r.git_service);
  if (!r.path.empty()) line += field("path", r.path);
  if (!r.ref_updates.empty()) {
    line += ",\"ref_updates\":[";
    for (size_t i = 0; i < r.ref_updates.size(); ++i) {
      line += (i == 0 ? "\"" : ",\"") + jsonEscape(r.ref_updates[i]) + "\"";
    }
    line += "]";
  }
  line += ",\"bytes_up\":" + std::to_string(r.bytes_up);
  line += ",\"bytes_down\":" + std::to_string(r.bytes_down);
  line += std::string(",\"duration_ms\":") + duration + "}\n";
  return line;
}

DecisionLog::DecisionLog(FILE* out, bool owned, size_t recent, uint32_t denied_per_second,
                         std::function<std::chrono::steady_clock::time_point()> clock)
    : out_(out),
      owned_(owned),
      denied_per_second_(denied_per_second),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }),
      recent_capacity_(recent) {}

DecisionLog::~DecisionLog() {
  if (out_ != nullptr && pending_dropped_ > 0) {
    admitLocked(false, std::chrono::system_clock::now());  // the last summary
    std::fflush(out_);
  }
  if (owned_ && out_ != nullptr) std::fclose(out_);
}

bool DecisionLog::admitLocked(bool denied, std::chrono::system_clock::time_point when) {
  if (denied_per_second_ > 0) {
    const auto now = clock_();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      denied_in_window_ = 0;
    }
    if (denied && denied_in_window_ >= denied_per_second_) {
      ++pending_dropped_;
      ++dropped_total_;
      return false;
    }
    if (denied) ++denied_in_window_;
  }
  if (pending_dropped_ > 0) {
    DecisionRecord summary;
    summary.time = when;
    std::string line = formatDecision(summary);
    // The same time format as every line; then only what a summary says.
    line = line.substr(0, line.find(',')) +
           ",\"kind\":\"log\",\"dropped_denials\":" + std::to_string(pending_dropped_) + "}\n";
    std::fwrite(line.data(), 1, line.size(), out_);
    pending_dropped_ = 0;
  }
  return true;
}

uint64_t DecisionLog::droppedDenials() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_total_;
}

void DecisionLog::write(const DecisionRecord& record) {
  if (out_ != nullptr) {
    const std::string line = formatDecision(record);
    std::lock_guard<std::mutex> lock(mutex_);
    if (admitLocked(record.decision == "deny", record.time)) {
      std::fwrite(line.data(), 1, line.size(), out_);
      std::fflush(out_);
    }
  }
  if (recent_capacity_ > 0) {
    std::lock_guard<std::mutex> lock(recent_mutex_);
    if (recent_.size() >= recent_capacity_) recent_.pop_front();
    recent_.push_back(record);
  }
}

std::vector<std::string> DecisionLog::recent(std::string_view session, size_t limit) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(recent_mutex_);
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < limit; ++it) {
    if (!session.empty() && it->session != session) continue;
    std::string line = formatDecision(*it);
    line.pop_back();  // the newline
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace gatehouse::common
