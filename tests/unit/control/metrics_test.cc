#include "control/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gatehouse::control {
namespace {

using Labels = std::map<std::string, std::string>;
using policy::AccessLevel;
using policy::Reason;
using policy::Verdict;

// One sample line of the text exposition: name{labels} value.
struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

// The text exposition, parsed strictly enough to catch malformed output: every line is a
// comment (# HELP / # TYPE), blank, or a sample with quoted label values.
struct Exposition {
  std::map<std::string, std::string> help;  // family -> help text
  std::map<std::string, std::string> type;  // family -> counter | gauge | histogram
  std::vector<Sample> samples;
  std::vector<std::string> errors;

  // The sample named `name` with exactly these labels, if any.
  std::optional<double> value(const std::string& name, const Labels& labels) const {
    for (const Sample& sample : samples) {
      if (sample.name == name && sample.labels == labels) return sample.value;
    }
    return std::nullopt;
  }
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const Sample& sample : samples) n += sample.name == name ? 1 : 0;
    return n;
  }
};

bool parseSample(const std::string& line, Sample& out) {
  size_t i = line.find_first_of("{ ");
  if (i == std::string::npos || i == 0) return false;
  out.name = line.substr(0, i);
  if (line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find("=\"", i);
      if (eq == std::string::npos) return false;
      const std::string key = line.substr(i, eq - i);
      size_t end = eq + 2;
      std::string value;
      while (end < line.size() && line[end] != '"') {
        if (line[end] == '\\') return false;  // no escapes expected: values are enum names
        value += line[end++];
      }
      if (end >= line.size() || !out.labels.emplace(key, value).second) return false;
      i = end + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const std::string number = line.substr(i + 1);
  char* end = nullptr;
  out.value = std::strtod(number.c_str(), &end);
  return !number.empty() && end == number.c_str() + number.size();
}

Exposition parse(const std::string& text) {
  Exposition exposition;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string::npos) {
        exposition.errors.push_back(line);
        continue;
      }
      auto& table = line[2] == 'H' ? exposition.help : exposition.type;
      table[rest.substr(0, space)] = rest.substr(space + 1);
      continue;
    }
    Sample sample;
    if (line[0] == '#' || !parseSample(line, sample)) {
      exposition.errors.push_back(line);
      continue;
    }
    exposition.samples.push_back(std::move(sample));
  }
  return exposition;
}

// The family a sample belongs to: histogram samples carry a _bucket/_sum/_count suffix.
std::string familyOf(const Exposition& exposition, const std::string& sample_name) {
  if (exposition.type.contains(sample_name)) return sample_name;
  for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!sample_name.ends_with(suffix)) continue;
    std::string base = sample_name.substr(0, sample_name.size() - suffix.size());
    if (exposition.type.contains(base)) return base;
  }
  return sample_name;
}

class MetricsTest : public ::testing::Test {
 protected:
  Exposition scrape() const {
    Exposition exposition = parse(metrics_.serialize());
    EXPECT_THAT(exposition.errors, ::testing::IsEmpty());
    return exposition;
  }

  Metrics metrics_;
};

TEST_F(MetricsTest, CountersAppearWithExactLabelSetsAndValues) {
  metrics_.requests(Metrics::Kind::kConnect, Verdict::kDeny, Reason::kHostNotAllowed).Increment();
  metrics_.requests(Metrics::Kind::kConnect, Verdict::kDeny, Reason::kHostNotAllowed).Increment();
  metrics_.requests(Metrics::Kind::kHttp, Verdict::kAllow, Reason::kAllowListed).Increment();
  metrics_.decisions(AccessLevel::kCustom, Verdict::kDeny).Increment(3);
  metrics_.refusals(Metrics::statusClassOf(403)).Increment();
  metrics_.refusals(Metrics::statusClassOf(504)).Increment();
  metrics_.refusals(Metrics::statusClassOf(502)).Increment();
  metrics_.bytes(Metrics::Kind::kConnect, Metrics::Direction::kDown).Increment(4096);
  metrics_.dnsResults(net::DnsStatus::kNxDomain).Increment();
  metrics_.reloads(Metrics::ReloadResult::kFailed).Increment();
  metrics_.authFailures(Metrics::AuthFailure::kExpired).Increment();
  metrics_.shadowDecisions(Metrics::ShadowOutcome::kWouldAllow, Reason::kAllowListed).Increment();
  metrics_.reportAllowedCount(Reason::kPortNotAllowed).Increment(2);
  metrics_.gitPushes(Metrics::PushResult::kRefused).Increment();

  const Exposition e = scrape();
  EXPECT_EQ(e.value("gatehouse_requests_total",
                    {{"kind", "connect"}, {"decision", "deny"}, {"reason", "host-not-allowed"}}),
            2);
  EXPECT_EQ(e.value("gatehouse_requests_total",
                    {{"kind", "http"}, {"decision", "allow"}, {"reason", "allow-listed"}}),
            1);
  EXPECT_EQ(e.value("gatehouse_requests_total",
                    {{"kind", "local"}, {"decision", "allow"}, {"reason", "allow-listed"}}),
            0);
  EXPECT_EQ(e.value("gatehouse_decisions_total", {{"level", "custom"}, {"decision", "deny"}}), 3);
  EXPECT_EQ(e.value("gatehouse_decisions_total", {{"level", "full"}, {"decision", "deny"}}), 0);
  EXPECT_EQ(e.value("gatehouse_refusals_total", {{"status_class", "4xx"}}), 1);
  EXPECT_EQ(e.value("gatehouse_refusals_total", {{"status_class", "5xx"}}), 2);
  EXPECT_EQ(e.value("gatehouse_bytes_total", {{"kind", "connect"}, {"direction", "down"}}), 4096);
  EXPECT_EQ(e.value("gatehouse_bytes_total", {{"kind", "connect"}, {"direction", "up"}}), 0);
  EXPECT_EQ(e.value("gatehouse_dns_results_total", {{"status", "nxdomain"}}), 1);
  EXPECT_EQ(e.value("gatehouse_dns_results_total", {{"status", "ok"}}), 0);
  EXPECT_EQ(e.value("gatehouse_config_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(e.value("gatehouse_config_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(e.value("gatehouse_auth_failures_total", {{"result", "expired"}}), 1);
  EXPECT_EQ(e.value("gatehouse_auth_failures_total", {{"result", "denied"}}), 0);
  EXPECT_EQ(e.value("gatehouse_shadow_decisions_total",
                    {{"outcome", "would-allow"}, {"reason", "allow-listed"}}),
            1);
  EXPECT_EQ(e.value("gatehouse_shadow_decisions_total",
                    {{"outcome", "agree"}, {"reason", "allow-listed"}}),
            0);
  EXPECT_EQ(e.value("gatehouse_report_allowed_total", {{"reason", "port-not-allowed"}}), 2);
  EXPECT_EQ(e.value("gatehouse_git_pushes_total", {{"result", "refused"}}), 1);
  EXPECT_EQ(e.value("gatehouse_git_pushes_total", {{"result", "accepted"}}), 0);
  // A label set that is not one of the pre-built ones does not exist.
  EXPECT_EQ(e.value("gatehouse_requests_total", {{"kind", "connect"}, {"decision", "deny"}}),
            std::nullopt);
}

TEST_F(MetricsTest, HandlesAreStableAndDistinct) {
  EXPECT_EQ(&metrics_.requests(Metrics::Kind::kHttp, Verdict::kDeny, Reason::kProxyLoop),
            &metrics_.requests(Metrics::Kind::kHttp, Verdict::kDeny, Reason::kProxyLoop));
  std::set<const prometheus::Counter*> seen;
  for (size_t k = 0; k < Metrics::kKindCount; ++k) {
    for (size_t v = 0; v < kVerdictCount; ++v) {
      for (size_t r = 0; r < kReasonCount; ++r) {
        seen.insert(&metrics_.requests(static_cast<Metrics::Kind>(k), static_cast<Verdict>(v),
                                       static_cast<Reason>(r)));
      }
    }
  }
  EXPECT_EQ(seen.size(), Metrics::kKindCount * kVerdictCount * kReasonCount);
}

TEST_F(MetricsTest, GaugesGoUpAndDown) {
  metrics_.clientConnections().Increment();
  metrics_.clientConnections().Increment();
  metrics_.clientConnections().Decrement();
  metrics_.tunnels().Increment();
  metrics_.sessionsActive().Set(7);
  metrics_.configGeneration().Set(42);

  const Exposition e = scrape();
  EXPECT_EQ(e.value("gatehouse_client_connections_active", {}), 1);
  EXPECT_EQ(e.value("gatehouse_tunnels_active", {}), 1);
  EXPECT_EQ(e.value("gatehouse_sessions_active", {}), 7);
  EXPECT_EQ(e.value("gatehouse_config_generation", {}), 42);
}

TEST_F(MetricsTest, LatencyHistogramsBucketSeconds) {
  metrics_.upstreamConnectSeconds().Observe(0.00005);  // 50 µs: the first bucket
  metrics_.upstreamConnectSeconds().Observe(0.003);    // 3 ms
  metrics_.upstreamConnectSeconds().Observe(30);       // beyond 10 s: +Inf only
  metrics_.dnsLookupSeconds().Observe(0.0002);

  const Exposition e = scrape();
  const std::string connect = "gatehouse_upstream_connect_duration_seconds";
  EXPECT_EQ(e.type.at(connect), "histogram");
  EXPECT_EQ(e.value(connect + "_bucket", {{"le", "0.0001"}}), 1);
  EXPECT_EQ(e.value(connect + "_bucket", {{"le", "0.0025"}}), 1);
  EXPECT_EQ(e.value(connect + "_bucket", {{"le", "0.005"}}), 2);
  EXPECT_EQ(e.value(connect + "_bucket", {{"le", "10"}}), 2);
  EXPECT_EQ(e.value(connect + "_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(e.value(connect + "_count", {}), 3);
  EXPECT_NEAR(e.value(connect + "_sum", {}).value_or(-1), 30.00305, 1e-9);
  EXPECT_EQ(e.count(connect + "_bucket"), Metrics::latencyBuckets().size() + 1);

  const std::string dns = "gatehouse_dns_lookup_duration_seconds";
  EXPECT_EQ(e.type.at(dns), "histogram");
  EXPECT_EQ(e.value(dns + "_bucket", {{"le", "0.0001"}}), 0);
  EXPECT_EQ(e.value(dns + "_bucket", {{"le", "0.00025"}}), 1);
  EXPECT_EQ(e.value(dns + "_count", {}), 1);
}

TEST(MetricsBuckets, CoverHundredMicrosecondsToTenSeconds) {
  const std::vector<double>& buckets = Metrics::latencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 0.0001);
  EXPECT_DOUBLE_EQ(buckets.back(), 10);
  for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]) << i;
}

TEST_F(MetricsTest, EveryFamilyHasHelpTypeAndAConventionalName) {
  const Exposition e = scrape();
  const std::set<std::string> expected = {
      "gatehouse_requests_total",
      "gatehouse_decisions_total",
      "gatehouse_refusals_total",
      "gatehouse_client_connections_active",
      "gatehouse_tunnels_active",
      "gatehouse_bytes_total",
      "gatehouse_upstream_connect_duration_seconds",
      "gatehouse_dns_lookup_duration_seconds",
      "gatehouse_dns_results_total",
      "gatehouse_config_generation",
      "gatehouse_config_reloads_total",
      "gatehouse_sessions_active",
      "gatehouse_auth_failures_total",
      "gatehouse_shadow_decisions_total",
      "gatehouse_report_allowed_total",
      "gatehouse_limit_hits_total",
      "gatehouse_git_pushes_total",
      "gatehouse_git_requests_total",
  };
  std::set<std::string> families;
  for (const auto& [name, type] : e.type) families.insert(name);
  EXPECT_EQ(families, expected);

  for (const auto& [name, type] : e.type) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(e.help.contains(name));
    EXPECT_FALSE(e.help.at(name).empty());
    EXPECT_TRUE(name.starts_with("gatehouse_"));
    EXPECT_EQ(name.ends_with("_total"), type == "counter");
    if (type == "histogram") {
      EXPECT_TRUE(name.ends_with("_seconds"));
    }
    EXPECT_THAT(type, ::testing::AnyOf("counter", "gauge", "histogram"));
  }
  for (const auto& [name, help] : e.help) EXPECT_TRUE(e.type.contains(name)) << name;
  for (const Sample& sample : e.samples) {
    EXPECT_TRUE(e.type.contains(familyOf(e, sample.name))) << sample.name;
  }
}

// The git path's requests: one series per operation and result; decided pushes on their own.
TEST_F(MetricsTest, GitRequestsAndPushes) {
  using gitproxy::GitOperation;
  using gitproxy::GitResult;
  metrics_.gitRequest(GitOperation::kPush, GitResult::kOk);
  metrics_.gitRequest(GitOperation::kPush, GitResult::kRefused);
  metrics_.gitRequest(GitOperation::kPush, GitResult::kRefused);
  metrics_.gitRequest(GitOperation::kPush, GitResult::kUnauthorized);
  metrics_.gitRequest(GitOperation::kFetch, GitResult::kOk);
  metrics_.gitRequest(GitOperation::kApi, GitResult::kFailed);
  metrics_.gitPush(true);
  metrics_.gitPush(false);
  metrics_.gitPush(false);
  const Exposition e = scrape();
  EXPECT_EQ(e.value("gatehouse_git_requests_total", {{"operation", "push"}, {"result", "ok"}}), 1);
  EXPECT_EQ(e.value("gatehouse_git_requests_total", {{"operation", "push"}, {"result", "refused"}}),
            2);
  EXPECT_EQ(
      e.value("gatehouse_git_requests_total", {{"operation", "push"}, {"result", "unauthorized"}}),
      1);
  EXPECT_EQ(e.value("gatehouse_git_requests_total", {{"operation", "fetch"}, {"result", "ok"}}), 1);
  EXPECT_EQ(e.value("gatehouse_git_requests_total", {{"operation", "api"}, {"result", "failed"}}),
            1);
  EXPECT_EQ(e.value("gatehouse_git_requests_total", {{"operation", "api"}, {"result", "ok"}}), 0);
  EXPECT_EQ(e.value("gatehouse_git_pushes_total", {{"result", "accepted"}}), 1);
  EXPECT_EQ(e.value("gatehouse_git_pushes_total", {{"result", "refused"}}), 2);
}

// Every series exists from the start (at 0) and no other can appear: the cardinality is the
// product of the enums' sizes.
TEST_F(MetricsTest, SeriesCountIsWhatTheEnumsImply) {
  metrics_.requests(Metrics::Kind::kLocal, Verdict::kAllow, Reason::kFullAccess).Increment();
  metrics_.upstreamConnectSeconds().Observe(0.01);
  const Exposition e = scrape();

  std::map<std::string, std::set<Labels>> series;
  for (const Sample& sample : e.samples) {
    Labels labels = sample.labels;
    labels.erase("le");
    series[familyOf(e, sample.name)].insert(labels);
  }
  const std::map<std::string, size_t> expected = {
      {"gatehouse_requests_total", Metrics::kKindCount * kVerdictCount * kReasonCount},
      {"gatehouse_decisions_total", kAccessLevelCount * kVerdictCount},
      {"gatehouse_refusals_total", Metrics::kStatusClassCount},
      {"gatehouse_client_connections_active", 1},
      {"gatehouse_tunnels_active", 1},
      {"gatehouse_bytes_total", Metrics::kKindCount * Metrics::kDirectionCount},
      {"gatehouse_upstream_connect_duration_seconds", 1},
      {"gatehouse_dns_lookup_duration_seconds", 1},
      {"gatehouse_dns_results_total", kDnsStatusCount},
      {"gatehouse_config_generation", 1},
      {"gatehouse_config_reloads_total", Metrics::kReloadResultCount},
      {"gatehouse_sessions_active", 1},
      {"gatehouse_auth_failures_total", Metrics::kAuthFailureCount},
      {"gatehouse_shadow_decisions_total", Metrics::kShadowOutcomeCount * kReasonCount},
      {"gatehouse_report_allowed_total", kReasonCount},
      {"gatehouse_limit_hits_total", common::kLimitHitCount - 1},
      {"gatehouse_git_pushes_total", Metrics::kPushResultCount},
      {"gatehouse_git_requests_total", gitproxy::kGitOperationCount * gitproxy::kGitResultCount},
  };
  std::map<std::string, size_t> actual;
  for (const auto& [name, label_sets] : series) actual[name] = label_sets.size();
  EXPECT_EQ(actual, expected);

  // 155 counter and gauge samples (60 requests, 30 shadow decisions, 15 git requests, 10
  // report-allowed, 8 decisions, 7 limit hits, 6 bytes, 6 DNS results, 3 auth failures, 2 each
  // for refusals, reloads and git pushes, 4 unlabelled), and two histograms of (buckets + +Inf +
  // _sum + _count) samples each.
  const size_t histogram_samples = Metrics::latencyBuckets().size() + 3;
  EXPECT_EQ(e.samples.size(), 155 + 2 * histogram_samples);
  EXPECT_EQ(expected.at("gatehouse_requests_total"), 60u);
}

// Label values are enum names only: nothing that could have come from a host, path, URL or
// session id (dots, slashes, colons, '@', upper case, ...).
TEST_F(MetricsTest, LabelValuesCannotCarryHostsOrPaths) {
  metrics_.requests(Metrics::Kind::kHttp, Verdict::kDeny, Reason::kAddressDenied).Increment();
  const std::string text = metrics_.serialize();
  const Exposition e = parse(text);
  ASSERT_FALSE(e.samples.empty());

  const std::set<std::string> allowed_keys = {"kind",    "decision", "reason",    "level",
                                              "status",  "result",   "direction", "status_class",
                                              "outcome", "limit",    "operation", "le"};
  for (const Sample& sample : e.samples) {
    for (const auto& [key, value] : sample.labels) {
      SCOPED_TRACE(::testing::Message() << sample.name << ' ' << key << '=' << value);
      EXPECT_TRUE(allowed_keys.contains(key));
      if (key == "le") {
        EXPECT_EQ(value.find_first_not_of("0123456789.e-+Inf"), std::string::npos);
        continue;
      }
      ASSERT_FALSE(value.empty());
      EXPECT_EQ(value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"),
                std::string::npos);
    }
  }
  for (const char* bad : {"/", ":", "@", "?", "=\"\"", "*", "\\"}) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      EXPECT_EQ(line.find(bad), std::string::npos) << "'" << bad << "' in: " << line;
    }
  }
}

TEST_F(MetricsTest, ConcurrentIncrementsSum) {
  constexpr int kPerThread = 100000;
  auto work = [this] {
    for (int i = 0; i < kPerThread; ++i) {
      metrics_.requests(Metrics::Kind::kConnect, Verdict::kAllow, Reason::kAllowListed).Increment();
      metrics_.bytes(Metrics::Kind::kConnect, Metrics::Direction::kUp).Increment(3);
      metrics_.tunnels().Increment();
      metrics_.tunnels().Decrement();
      if (i % 100 == 0) metrics_.dnsLookupSeconds().Observe(0.001);
    }
  };
  std::thread a(work);
  std::thread b(work);
  std::string during = metrics_.serialize();  // a scrape while the workers count
  a.join();
  b.join();
  EXPECT_FALSE(during.empty());

  const Exposition e = scrape();
  EXPECT_EQ(e.value("gatehouse_requests_total",
                    {{"kind", "connect"}, {"decision", "allow"}, {"reason", "allow-listed"}}),
            2 * kPerThread);
  EXPECT_EQ(e.value("gatehouse_bytes_total", {{"kind", "connect"}, {"direction", "up"}}),
            6 * kPerThread);
  EXPECT_EQ(e.value("gatehouse_tunnels_active", {}), 0);
  EXPECT_EQ(e.value("gatehouse_dns_lookup_duration_seconds_count", {}), 2 * kPerThread / 100);
}

TEST(MetricsNames, LabelValueNames) {
  EXPECT_STREQ(kindName(Metrics::Kind::kHttp), "http");
  EXPECT_STREQ(kindName(Metrics::Kind::kConnect), "connect");
  EXPECT_STREQ(kindName(Metrics::Kind::kLocal), "local");
  EXPECT_STREQ(directionName(Metrics::Direction::kUp), "up");
  EXPECT_STREQ(directionName(Metrics::Direction::kDown), "down");
  EXPECT_STREQ(statusClassName(Metrics::StatusClass::k4xx), "4xx");
  EXPECT_STREQ(statusClassName(Metrics::StatusClass::k5xx), "5xx");
  EXPECT_EQ(Metrics::statusClassOf(400), Metrics::StatusClass::k4xx);
  EXPECT_EQ(Metrics::statusClassOf(499), Metrics::StatusClass::k4xx);
  EXPECT_EQ(Metrics::statusClassOf(500), Metrics::StatusClass::k5xx);
  EXPECT_EQ(Metrics::statusClassOf(505), Metrics::StatusClass::k5xx);
  EXPECT_STREQ(reloadResultName(Metrics::ReloadResult::kOk), "ok");
  EXPECT_STREQ(reloadResultName(Metrics::ReloadResult::kFailed), "failed");
  EXPECT_STREQ(shadowOutcomeName(Metrics::ShadowOutcome::kAgree), "agree");
  EXPECT_STREQ(shadowOutcomeName(Metrics::ShadowOutcome::kWouldAllow), "would-allow");
  EXPECT_STREQ(shadowOutcomeName(Metrics::ShadowOutcome::kWouldDeny), "would-deny");
  EXPECT_STREQ(authFailureName(Metrics::AuthFailure::kThrottled), "throttled");
  EXPECT_STREQ(pushResultName(Metrics::PushResult::kAccepted), "accepted");
  EXPECT_STREQ(pushResultName(Metrics::PushResult::kRefused), "refused");
}

}  // namespace
}  // namespace gatehouse::control

namespace gatehouse::control {
namespace {

// The proxy core reports through common::ProxyStats; each event lands in its family.
TEST(MetricsAsProxyStats, EventsMoveTheirSeries) {
  Metrics metrics;
  common::ProxyStats& stats = metrics;
  stats.connectionOpened();
  stats.connectionOpened();
  stats.connectionClosed();
  stats.tunnelOpened();
  stats.decided(common::RequestKind::kConnect, AccessLevel::kCustom, Verdict::kDeny,
                Reason::kHostDenied);
  stats.reportAllowed(Reason::kHostDenied);
  stats.shadowDecided(common::ShadowOutcome::kWouldDeny, Reason::kHostNotAllowed);
  stats.refused(407);
  stats.refused(503);
  stats.authFailed(common::AuthFailure::kThrottled);
  stats.bytes(common::RequestKind::kHttp, common::Direction::kUp, 10);
  stats.bytes(common::RequestKind::kHttp, common::Direction::kUp, 0);
  stats.dnsLookup(net::DnsStatus::kOk, std::chrono::milliseconds(3));
  stats.upstreamConnected(std::chrono::microseconds(200));

  EXPECT_EQ(metrics.clientConnections().Value(), 1);
  EXPECT_EQ(metrics.tunnels().Value(), 1);
  EXPECT_EQ(
      metrics.requests(common::RequestKind::kConnect, Verdict::kDeny, Reason::kHostDenied).Value(),
      1);
  EXPECT_EQ(metrics.decisions(AccessLevel::kCustom, Verdict::kDeny).Value(), 1);
  EXPECT_EQ(metrics.reportAllowedCount(Reason::kHostDenied).Value(), 1);
  EXPECT_EQ(
      metrics.shadowDecisions(common::ShadowOutcome::kWouldDeny, Reason::kHostNotAllowed).Value(),
      1);
  EXPECT_EQ(metrics.refusals(Metrics::StatusClass::k4xx).Value(), 1);
  EXPECT_EQ(metrics.refusals(Metrics::StatusClass::k5xx).Value(), 1);
  EXPECT_EQ(metrics.authFailures(common::AuthFailure::kThrottled).Value(), 1);
  EXPECT_EQ(metrics.bytes(common::RequestKind::kHttp, common::Direction::kUp).Value(), 10);
  EXPECT_EQ(metrics.dnsResults(net::DnsStatus::kOk).Value(), 1);
  EXPECT_NE(metrics.serialize().find("gatehouse_dns_lookup_duration_seconds_count 1"),
            std::string::npos);
  EXPECT_NE(metrics.serialize().find("gatehouse_upstream_connect_duration_seconds_count 1"),
            std::string::npos);
}

}  // namespace
}  // namespace gatehouse::control
