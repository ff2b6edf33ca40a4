// The proxy's Prometheus metrics (SPEC §8): one typed struct over a prometheus-cpp registry.
//
// Every family and every label combination is built once, in the constructor, from bounded
// enums only (never hosts, paths or session ids), so the cardinality is fixed at startup and
// the hot path indexes an array instead of looking up label strings.
//
// Threading and ownership: Metrics owns its registry and every metric in it; the handles it
// returns stay valid for its lifetime. Counters and gauges are atomic and histograms lock
// internally, so handles may be used from any thread without further synchronisation, and
// serialize() may run concurrently with them (from the admin listener's /metrics handler).
//
// Metrics is the proxy core's common::ProxyStats: the workers report events through that
// interface, and this class maps them to the handles below.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gitproxy/git_handler.h"
#include "policy/policy.h"
#include "policy/policy_config.h"
#include "proxy/common/stats.h"
#include "proxy/net/dns_resolver.h"

namespace gatehouse::control {

// The number of values of the enums used as label values (kept in step by static_asserts in
// metrics.cc).
inline constexpr size_t kReasonCount = policy::kReasonCount;
inline constexpr size_t kVerdictCount = 2;
inline constexpr size_t kAccessLevelCount = 4;
inline constexpr size_t kDnsStatusCount = 6;

class Metrics final : public common::ProxyStats, public gitproxy::GitStats {
 public:
  using Kind = common::RequestKind;
  static constexpr size_t kKindCount = common::kRequestKindCount;
  using Direction = common::Direction;
  static constexpr size_t kDirectionCount = common::kDirectionCount;
  using ShadowOutcome = common::ShadowOutcome;
  static constexpr size_t kShadowOutcomeCount = common::kShadowOutcomeCount;
  using AuthFailure = common::AuthFailure;
  static constexpr size_t kAuthFailureCount = common::kAuthFailureCount;

  // Refusals are the responses of SPEC §4: 4xx or 5xx.
  enum class StatusClass : uint8_t { k4xx, k5xx };
  static constexpr size_t kStatusClassCount = 2;

  enum class ReloadResult : uint8_t { kOk, kFailed };
  static constexpr size_t kReloadResultCount = 2;

  enum class PushResult : uint8_t { kAccepted, kRefused };
  static constexpr size_t kPushResultCount = 2;

  // Upper bounds (seconds) of the latency histograms: 100 µs .. 10 s, 1-2.5-5 steps.
  static const std::vector<double>& latencyBuckets();

  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // gatehouse_requests_total{kind, decision, reason}
  prometheus::Counter& requests(Kind kind, policy::Verdict decision, policy::Reason reason) {
    return *requests_[(index(kind) * kVerdictCount + index(decision)) * kReasonCount +
                      index(reason)];
  }
  // gatehouse_decisions_total{level, decision}
  prometheus::Counter& decisions(policy::AccessLevel level, policy::Verdict decision) {
    return *decisions_[index(level) * kVerdictCount + index(decision)];
  }
  // gatehouse_refusals_total{status_class}
  prometheus::Counter& refusals(StatusClass status_class) {
    return *refusals_[index(status_class)];
  }
  // The class of an HTTP status sent as a refusal: 5xx for 500 and above, otherwise 4xx.
  static StatusClass statusClassOf(int http_status) {
    return http_status >= 500 ? StatusClass::k5xx : StatusClass::k4xx;
  }
  // gatehouse_client_connections_active
  prometheus::Gauge& clientConnections() { return *client_connections_; }
  // gatehouse_tunnels_active
  prometheus::Gauge& tunnels() { return *tunnels_; }
  // gatehouse_bytes_total{kind, direction}
  prometheus::Counter& bytes(Kind kind, Direction direction) {
    return *bytes_[index(kind) * kDirectionCount + index(direction)];
  }
  // gatehouse_upstream_connect_duration_seconds: from the dial to an established TCP connection.
  prometheus::Histogram& upstreamConnectSeconds() { return *upstream_connect_seconds_; }
  // gatehouse_dns_lookup_duration_seconds
  prometheus::Histogram& dnsLookupSeconds() { return *dns_lookup_seconds_; }
  // gatehouse_dns_results_total{status}
  prometheus::Counter& dnsResults(net::DnsStatus status) { return *dns_results_[index(status)]; }
  // gatehouse_config_generation: the generation of the config snapshot in use.
  prometheus::Gauge& configGeneration() { return *config_generation_; }
  // gatehouse_config_reloads_total{result}
  prometheus::Counter& reloads(ReloadResult result) { return *reloads_[index(result)]; }
  // gatehouse_sessions_active
  prometheus::Gauge& sessionsActive() { return *sessions_active_; }
  // gatehouse_auth_failures_total{result}
  prometheus::Counter& authFailures(AuthFailure failure) { return *auth_failures_[index(failure)]; }
  // gatehouse_shadow_decisions_total{outcome, reason}: every request of an environment with a
  // shadow; `reason` is the shadow's.
  prometheus::Counter& shadowDecisions(ShadowOutcome outcome, policy::Reason reason) {
    return *shadow_decisions_[index(outcome) * kReasonCount + index(reason)];
  }
  // gatehouse_limit_hits_total{limit}: refusals by the limit that refused.
  prometheus::Counter& limitHits(common::LimitHit hit) { return *limit_hits_[index(hit)]; }
  // gatehouse_report_allowed_total{reason}: denials let through by report mode.
  prometheus::Counter& reportAllowedCount(policy::Reason reason) {
    return *report_allowed_[index(reason)];
  }
  // gatehouse_git_pushes_total{result}
  prometheus::Counter& gitPushes(PushResult result) { return *git_pushes_[index(result)]; }

  // gitproxy::GitStats (any thread): gatehouse_git_requests_total{operation,result} and
  // gatehouse_git_pushes_total{result} (accepted: relayed upstream; refused: the push policy).
  void gitRequest(gitproxy::GitOperation operation, gitproxy::GitResult result) override {
    git_requests_[static_cast<size_t>(operation) * gitproxy::kGitResultCount +
                  static_cast<size_t>(result)]
        ->Increment();
  }
  void gitPush(bool accepted) override {
    gitPushes(accepted ? PushResult::kAccepted : PushResult::kRefused).Increment();
  }

  // The Prometheus text exposition format (version 0.0.4) of every family.
  std::string serialize() const;

  // common::ProxyStats (any thread).
  void connectionOpened() override { client_connections_->Increment(); }
  void connectionClosed() override { client_connections_->Decrement(); }
  void tunnelOpened() override { tunnels_->Increment(); }
  void tunnelClosed() override { tunnels_->Decrement(); }
  void decided(Kind kind, policy::AccessLevel level, policy::Verdict verdict,
               policy::Reason reason) override {
    requests(kind, verdict, reason).Increment();
    decisions(level, verdict).Increment();
  }
  void reportAllowed(policy::Reason reason) override {
    report_allowed_[index(reason)]->Increment();
  }
  void shadowDecided(ShadowOutcome outcome, policy::Reason reason) override {
    shadowDecisions(outcome, reason).Increment();
  }
  void refused(int http_status) override { refusals(statusClassOf(http_status)).Increment(); }
  void authFailed(AuthFailure failure) override { authFailures(failure).Increment(); }
  void limited(common::LimitHit hit) override { limitHits(hit).Increment(); }
  void bytes(Kind kind, Direction direction, uint64_t count) override {
    if (count > 0) bytes(kind, direction).Increment(static_cast<double>(count));
  }
  void dnsLookup(net::DnsStatus status, std::chrono::steady_clock::duration took) override {
    dnsResults(status).Increment();
    dnsLookupSeconds().Observe(std::chrono::duration<double>(took).count());
  }
  void upstreamConnected(std::chrono::steady_clock::duration took) override {
    upstreamConnectSeconds().Observe(std::chrono::duration<double>(took).count());
  }

 private:
  // Enum values come from code, never from input: they index the arrays directly.
  template <typename Enum>
  static constexpr size_t index(Enum value) {
    return static_cast<size_t>(value);
  }

  // Declared first: the handles below point into it.
  prometheus::Registry registry_;

  std::array<prometheus::Counter*, kKindCount * kVerdictCount * kReasonCount> requests_{};
  std::array<prometheus::Counter*, kAccessLevelCount * kVerdictCount> decisions_{};
  std::array<prometheus::Counter*, kStatusClassCount> refusals_{};
  prometheus::Gauge* client_connections_ = nullptr;
  prometheus::Gauge* tunnels_ = nullptr;
  std::array<prometheus::Counter*, kKindCount * kDirectionCount> bytes_{};
  prometheus::Histogram* upstream_connect_seconds_ = nullptr;
  prometheus::Histogram* dns_lookup_seconds_ = nullptr;
  std::array<prometheus::Counter*, kDnsStatusCount> dns_results_{};
  prometheus::Gauge* config_generation_ = nullptr;
  std::array<prometheus::Counter*, kReloadResultCount> reloads_{};
  prometheus::Gauge* sessions_active_ = nullptr;
  std::array<prometheus::Counter*, kAuthFailureCount> auth_failures_{};
  std::array<prometheus::Counter*, kShadowOutcomeCount * kReasonCount> shadow_decisions_{};
  std::array<prometheus::Counter*, kReasonCount> report_allowed_{};
  // Indexed by LimitHit; [kNone] stays null (never a series).
  std::array<prometheus::Counter*, common::kLimitHitCount> limit_hits_{};
  std::array<prometheus::Counter*, kPushResultCount> git_pushes_{};
  std::array<prometheus::Counter*, gitproxy::kGitOperationCount * gitproxy::kGitResultCount>
      git_requests_{};
};

// Label values ("http", "up", "4xx", "ok", "would-allow", "accepted", ...).
const char* kindName(Metrics::Kind kind);
const char* directionName(Metrics::Direction direction);
const char* statusClassName(Metrics::StatusClass status_class);
const char* reloadResultName(Metrics::ReloadResult result);
const char* shadowOutcomeName(Metrics::ShadowOutcome outcome);
const char* authFailureName(Metrics::AuthFailure failure);
const char* pushResultName(Metrics::PushResult result);

}  // namespace gatehouse::control
