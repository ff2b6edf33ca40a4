// Rate limits, concurrency caps and byte budgets of an environment or a session (plain config;
// the limiter lives in proxy/common/limits.h). `[environment.limits]`,
// `[environments.NAME.limits]`, `[sessions.limits]` and the control API's "limits" object all
// use these keys; a session's value overrides its environment's, key by key.
//
// Every value is a non-negative integer; 0 means "no limit" (for the bursts: "the rate, at least
// 1"; for budget_window_s and trickle_bytes_per_second: the defaults below).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "policy/source.h"

namespace gatehouse::policy {

enum class LimitKey : uint8_t {
  kRequestsPerSecond,             // requests (HTTP and CONNECT) per second, per session
  kRequestBurst,                  // bucket size of the above
  kTunnelsPerSecond,              // new CONNECT tunnels per second
  kTunnelBurst,                   //
  kDestinationRequestsPerSecond,  // requests per second to one host:port within the session
  kDestinationBurst,              //
  kMaxConnections,                // concurrent client connections of the session
  kMaxTunnels,                    // concurrent tunnels of the session
  kUploadBytesPerSecond,          // shaped: reads from the client pause, nothing is dropped
  kDownloadBytesPerSecond,        // shaped: reads from the upstream pause
  kUploadBudgetBytes,             // bytes client -> upstream per rolling window
  kDownloadBudgetBytes,           // bytes upstream -> client per rolling window
  kBudgetWindowSeconds,           // the rolling window (default 3600)
  kTrickleBytesPerSecond,         // rate of running tunnels once a budget is spent (default 1024)
};
inline constexpr size_t kLimitKeyCount = 14;

inline constexpr uint64_t kDefaultBudgetWindowSeconds = 3600;
inline constexpr uint64_t kDefaultTrickleBytesPerSecond = 1024;

// The TOML / JSON key: "requests_per_second", "request_burst", ...
inline std::string_view limitKeyName(LimitKey key) {
  static constexpr std::array<std::string_view, kLimitKeyCount> kNames = {
      "requests_per_second",
      "request_burst",
      "tunnels_per_second",
      "tunnel_burst",
      "destination_requests_per_second",
      "destination_burst",
      "max_connections",
      "max_tunnels",
      "upload_bytes_per_second",
      "download_bytes_per_second",
      "upload_budget_bytes",
      "download_budget_bytes",
      "budget_window_s",
      "trickle_bytes_per_second",
  };
  return kNames[static_cast<size_t>(key)];
}

inline std::optional<LimitKey> limitKeyByName(std::string_view name) {
  for (size_t i = 0; i < kLimitKeyCount; ++i) {
    if (limitKeyName(static_cast<LimitKey>(i)) == name) return static_cast<LimitKey>(i);
  }
  return std::nullopt;
}

// What a config table or API object set: unset keys inherit (a session from its environment, an
// environment from "no limit").
struct LimitsConfig {
  std::array<std::optional<uint64_t>, kLimitKeyCount> values{};
  std::array<SourcePos, kLimitKeyCount> positions{};

  const std::optional<uint64_t>& operator[](LimitKey key) const {
    return values[static_cast<size_t>(key)];
  }
  std::optional<uint64_t>& operator[](LimitKey key) { return values[static_cast<size_t>(key)]; }
  bool empty() const {
    for (const auto& v : values) {
      if (v) return false;
    }
    return true;
  }
};

// The limits in force for one session: every key resolved (0 = no limit), defaults applied.
struct Limits {
  std::array<uint64_t, kLimitKeyCount> values{};

  uint64_t operator[](LimitKey key) const { return values[static_cast<size_t>(key)]; }
  bool any() const {
    for (size_t i = 0; i < kLimitKeyCount; ++i) {
      const auto key = static_cast<LimitKey>(i);
      if (key == LimitKey::kBudgetWindowSeconds || key == LimitKey::kTrickleBytesPerSecond) {
        continue;
      }
      if (values[i] != 0) return true;
    }
    return false;
  }
};

// `session` overrides `environment` key by key; then the defaults fill what is still unset.
inline Limits resolveLimits(const LimitsConfig& environment, const LimitsConfig* session) {
  Limits out;
  for (size_t i = 0; i < kLimitKeyCount; ++i) {
    std::optional<uint64_t> v = environment.values[i];
    if (session != nullptr && session->values[i]) v = session->values[i];
    out.values[i] = v.value_or(0);
  }
  if (out[LimitKey::kBudgetWindowSeconds] == 0) {
    out.values[static_cast<size_t>(LimitKey::kBudgetWindowSeconds)] = kDefaultBudgetWindowSeconds;
  }
  if (out[LimitKey::kTrickleBytesPerSecond] == 0) {
    out.values[static_cast<size_t>(LimitKey::kTrickleBytesPerSecond)] =
        kDefaultTrickleBytesPerSecond;
  }
  return out;
}

}  // namespace gatehouse::policy
