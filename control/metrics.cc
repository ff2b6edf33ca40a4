#include "control/metrics.h"

#include <prometheus/family.h>
#include <prometheus/text_serializer.h>

namespace gatehouse::control {

// The arrays in Metrics are sized by these counts: a new enum value must grow them.
static_assert(static_cast<size_t>(policy::Reason::kUnknownEnvironment) + 1 == kReasonCount);
static_assert(static_cast<size_t>(policy::Verdict::kDeny) + 1 == kVerdictCount);
static_assert(static_cast<size_t>(policy::AccessLevel::kCustom) + 1 == kAccessLevelCount);
static_assert(static_cast<size_t>(net::DnsStatus::kCancelled) + 1 == kDnsStatusCount);
static_assert(static_cast<size_t>(Metrics::Kind::kLocal) + 1 == Metrics::kKindCount);
static_assert(static_cast<size_t>(Metrics::Direction::kDown) + 1 == Metrics::kDirectionCount);
static_assert(static_cast<size_t>(Metrics::StatusClass::k5xx) + 1 == Metrics::kStatusClassCount);
static_assert(static_cast<size_t>(Metrics::ReloadResult::kFailed) + 1 ==
              Metrics::kReloadResultCount);
static_assert(static_cast<size_t>(Metrics::ShadowOutcome::kWouldDeny) + 1 ==
              Metrics::kShadowOutcomeCount);
static_assert(static_cast<size_t>(Metrics::AuthFailure::kThrottled) + 1 ==
              Metrics::kAuthFailureCount);
static_assert(static_cast<size_t>(Metrics::PushResult::kRefused) + 1 == Metrics::kPushResultCount);

const char* kindName(Metrics::Kind kind) {
  switch (kind) {
    case Metrics::Kind::kHttp:
      return "http";
    case Metrics::Kind::kConnect:
      return "connect";
    case Metrics::Kind::kLocal:
      return "local";
  }
  return "http";
}

const char* directionName(Metrics::Direction direction) {
  return direction == Metrics::Direction::kUp ? "up" : "down";
}

const char* statusClassName(Metrics::StatusClass status_class) {
  return status_class == Metrics::StatusClass::k4xx ? "4xx" : "5xx";
}

const char* reloadResultName(Metrics::ReloadResult result) {
  return result == Metrics::ReloadResult::kOk ? "ok" : "failed";
}

const char* shadowOutcomeName(Metrics::ShadowOutcome outcome) {
  switch (outcome) {
    case Metrics::ShadowOutcome::kAgree:
      return "agree";
    case Metrics::ShadowOutcome::kWouldAllow:
      return "would-allow";
    case Metrics::ShadowOutcome::kWouldDeny:
      return "would-deny";
  }
  return "agree";
}

const char* authFailureName(Metrics::AuthFailure failure) {
  switch (failure) {
    case Metrics::AuthFailure::kDenied:
      return "denied";
    case Metrics::AuthFailure::kExpired:
      return "expired";
    case Metrics::AuthFailure::kThrottled:
      return "throttled";
  }
  return "denied";
}

const char* pushResultName(Metrics::PushResult result) {
  return result == Metrics::PushResult::kAccepted ? "accepted" : "refused";
}

namespace {

template <typename Enum>
Enum enumAt(size_t i) {
  return static_cast<Enum>(i);
}

template <typename T>
prometheus::Family<T>& family(prometheus::detail::Builder<T> builder,
                              prometheus::Registry& registry, const std::string& name,
                              const std::string& help) {
  return builder.Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& counterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help) {
  return family(prometheus::BuildCounter(), registry, name, help);
}

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return family(prometheus::BuildGauge(), registry, name, help).Add({});
}

// One counter per value of a single-label enum.
template <typename Enum, size_t N>
void buildByEnum(prometheus::Registry& registry, const std::string& name, const std::string& help,
                 const std::string& label, const char* (*value_name)(Enum),
                 std::array<prometheus::Counter*, N>& out) {
  auto& counters = counterFamily(registry, name, help);
  for (size_t i = 0; i < N; ++i) {
    out[i] = &counters.Add({{label, value_name(enumAt<Enum>(i))}});
  }
}

}  // namespace

const std::vector<double>& Metrics::latencyBuckets() {
  static const std::vector<double> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
  };
  return kBuckets;
}

Metrics::Metrics() {
  auto& requests = counterFamily(registry_, "gatehouse_requests_total",
                                 "Client requests by kind, policy decision and reason.");
  for (size_t k = 0; k < kKindCount; ++k) {
    for (size_t v = 0; v < kVerdictCount; ++v) {
      for (size_t r = 0; r < kReasonCount; ++r) {
        requests_[(k * kVerdictCount + v) * kReasonCount + r] = &requests.Add({
            {"kind", kindName(enumAt<Kind>(k))},
            {"decision", policy::verdictName(enumAt<policy::Verdict>(v))},
            {"reason", policy::reasonCode(enumAt<policy::Reason>(r))},
        });
      }
    }
  }

  auto& decisions = counterFamily(registry_, "gatehouse_decisions_total",
                                  "Policy decisions by the environment's access level.");
  for (size_t l = 0; l < kAccessLevelCount; ++l) {
    for (size_t v = 0; v < kVerdictCount; ++v) {
      decisions_[l * kVerdictCount + v] = &decisions.Add({
          {"level", policy::accessLevelName(enumAt<policy::AccessLevel>(l))},
          {"decision", policy::verdictName(enumAt<policy::Verdict>(v))},
      });
    }
  }

  buildByEnum(registry_, "gatehouse_refusals_total",
              "Requests the proxy refused, by HTTP status class.", "status_class", &statusClassName,
              refusals_);

  client_connections_ =
      &gauge(registry_, "gatehouse_client_connections_active", "Open client connections.");
  tunnels_ = &gauge(registry_, "gatehouse_tunnels_active", "Established CONNECT tunnels.");

  auto& bytes = counterFamily(registry_, "gatehouse_bytes_total",
                              "Payload bytes relayed, by request kind and direction (up: client "
                              "to upstream, down: upstream to client).");
  for (size_t k = 0; k < kKindCount; ++k) {
    for (size_t d = 0; d < kDirectionCount; ++d) {
      bytes_[k * kDirectionCount + d] = &bytes.Add({
          {"kind", kindName(enumAt<Kind>(k))},
          {"direction", directionName(enumAt<Direction>(d))},
      });
    }
  }

  upstream_connect_seconds_ = &family(prometheus::BuildHistogram(), registry_,
                                      "gatehouse_upstream_connect_duration_seconds",
                                      "Time to establish a TCP connection to an upstream address.")
                                   .Add({}, latencyBuckets());
  dns_lookup_seconds_ =
      &family(prometheus::BuildHistogram(), registry_, "gatehouse_dns_lookup_duration_seconds",
              "Time to resolve an upstream name (cache hits included).")
           .Add({}, latencyBuckets());

  buildByEnum(registry_, "gatehouse_dns_results_total", "DNS resolutions by result.", "status",
              &net::dnsStatusName, dns_results_);

  config_generation_ = &gauge(registry_, "gatehouse_config_generation",
                              "Generation of the configuration snapshot in use.");
  buildByEnum(registry_, "gatehouse_config_reloads_total", "Configuration reloads by result.",
              "result", &reloadResultName, reloads_);

  sessions_active_ = &gauge(registry_, "gatehouse_sessions_active", "Active sessions.");
  buildByEnum(registry_, "gatehouse_auth_failures_total",
              "Requests refused because the client's session could not be accepted: a wrong or "
              "malformed credential, an expired session, or throttled after failures.",
              "result", &authFailureName, auth_failures_);

  auto& shadow = counterFamily(registry_, "gatehouse_shadow_decisions_total",
                               "Requests of environments with a shadow policy, by how the "
                               "shadow's decision compared (agree, would-allow, would-deny) and "
                               "the shadow's reason.");
  for (size_t o = 0; o < kShadowOutcomeCount; ++o) {
    for (size_t r = 0; r < kReasonCount; ++r) {
      shadow_decisions_[o * kReasonCount + r] = &shadow.Add({
          {"outcome", shadowOutcomeName(enumAt<ShadowOutcome>(o))},
          {"reason", policy::reasonCode(enumAt<policy::Reason>(r))},
      });
    }
  }
  buildByEnum(registry_, "gatehouse_report_allowed_total",
              "Requests the policy denied that were let through because their environment is in "
              "report mode, by reason.",
              "reason", &policy::reasonCode, report_allowed_);
  auto& limits = counterFamily(registry_, "gatehouse_limit_hits_total",
                               "Requests and connections refused by a session limit (rates, "
                               "concurrency caps, byte budgets), by limit.");
  for (size_t h = 1; h < common::kLimitHitCount; ++h) {
    limit_hits_[h] = &limits.Add({{"limit", common::limitHitName(enumAt<common::LimitHit>(h))}});
  }
  limit_hits_[0] = limit_hits_[1];  // kNone is never reported; a safe handle all the same
  buildByEnum(registry_, "gatehouse_git_pushes_total", "Git pushes by result.", "result",
              &pushResultName, git_pushes_);
  auto& git = counterFamily(registry_, "gatehouse_git_requests_total",
                            "Requests on the git path (fetch, push, GitHub API) by result.");
  for (size_t o = 0; o < gitproxy::kGitOperationCount; ++o) {
    for (size_t r = 0; r < gitproxy::kGitResultCount; ++r) {
      git_requests_[o * gitproxy::kGitResultCount + r] = &git.Add({
          {"operation", gitproxy::gitOperationName(enumAt<gitproxy::GitOperation>(o))},
          {"result", gitproxy::gitResultName(enumAt<gitproxy::GitResult>(r))},
      });
    }
  }
}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

}  // namespace gatehouse::control
