// Micro benchmarks of the limiter (proxy/common/limits.h): the cost a request and a read pay.
//
//   AdmitRequest/AllLimits   every key set, rates high enough that every request is admitted:
//                            two budget scans, three bucket CASes (request, destination, tunnel)
//   AdmitRequest/Refused     every key set, the request rate exhausted: the budget scans, one
//                            refused take and the hit counter
//   AdmitRequest/NoLimits    nothing set: the early outs only
//   OnDownload/Shaped        a download rate and budget set: window add, window scan, shaper CAS
//   OnDownload/NoLimits      nothing set: the window add only (the usage report counts bytes)
//
// Each runs on 1 and 2 threads sharing ONE SessionLimiter (the case of a session whose
// connections are spread over workers), so the 2-thread figures include the cache-line
// contention of the shared atomics. The clock is a per-thread counter advanced by 1 us per call;
// the bursts of AllLimits are 100 s worth so that the threads' clocks drifting apart (each runs
// at its own pace) never refuses a request. With threads:2, "Time" (real) is the wall time per
// call of both threads together and "CPU" the cost of one call on its thread.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <initializer_list>
#include <string>
#include <utility>

#include "policy/limits_config.h"
#include "proxy/common/limits.h"

namespace gatehouse::common {
namespace {

using policy::LimitKey;

constexpr Nanos kTick = 1000;

policy::Limits limitsOf(std::initializer_list<std::pair<LimitKey, uint64_t>> values) {
  policy::LimitsConfig config;
  for (const auto& [key, value] : values) config[key] = value;
  return policy::resolveLimits(config, nullptr);
}

const std::array<std::string, 16>& destinations() {
  static const std::array<std::string, 16> kDestinations = [] {
    std::array<std::string, 16> out;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = "api" + std::to_string(i) + ".github.com:443";
    }
    return out;
  }();
  return kDestinations;
}

const policy::Limits& allLimits() {
  static const policy::Limits kLimits = limitsOf({
      {LimitKey::kRequestsPerSecond, 100'000'000},
      {LimitKey::kRequestBurst, 10'000'000'000},
      {LimitKey::kTunnelsPerSecond, 100'000'000},
      {LimitKey::kTunnelBurst, 10'000'000'000},
      {LimitKey::kDestinationRequestsPerSecond, 100'000'000},
      {LimitKey::kDestinationBurst, 10'000'000'000},
      {LimitKey::kMaxConnections, 1000},
      {LimitKey::kMaxTunnels, 1000},
      {LimitKey::kUploadBytesPerSecond, 1'000'000'000},
      {LimitKey::kDownloadBytesPerSecond, 1'000'000'000},
      {LimitKey::kUploadBudgetBytes, 1'000'000'000'000'000},
      {LimitKey::kDownloadBudgetBytes, 1'000'000'000'000'000},
  });
  return kLimits;
}

const policy::Limits& refusingLimits() {
  static const policy::Limits kLimits = [] {
    policy::Limits limits = allLimits();
    limits.values[static_cast<size_t>(LimitKey::kRequestsPerSecond)] = 1;
    limits.values[static_cast<size_t>(LimitKey::kRequestBurst)] = 1;
    return limits;
  }();
  return kLimits;
}

// The fake clock goes on from run to run (Google Benchmark calls each function several times,
// and the shared limiter keeps its state): every run starts where the latest one ended.
std::atomic<Nanos> g_clock{kNanosPerSecond};

Nanos startTime() { return g_clock.load(); }

void endTime(Nanos now) {
  Nanos seen = g_clock.load();
  while (now > seen && !g_clock.compare_exchange_weak(seen, now)) {
  }
}

SessionLimiter& shared() {
  static SessionLimiter limiter;
  return limiter;
}

void admit(benchmark::State& state, const policy::Limits& limits, bool expect_ok) {
  SessionLimiter& limiter = shared();
  const auto& dests = destinations();
  Nanos now = startTime();
  auto i = static_cast<size_t>(state.thread_index());
  int64_t ok = 0;
  for (auto _ : state) {
    const Admission a = limiter.admitRequest(now, limits, dests[i++ % dests.size()], true);
    benchmark::DoNotOptimize(a);
    ok += a.ok() ? 1 : 0;
    now += kTick;
  }
  state.counters["admitted"] =
      benchmark::Counter(static_cast<double>(ok) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
  endTime(now);
  state.SetItemsProcessed(state.iterations());
  if (expect_ok && ok != state.iterations()) state.SkipWithError("a request was refused");
}

void BM_AdmitRequest_AllLimits(benchmark::State& state) { admit(state, allLimits(), true); }
void BM_AdmitRequest_Refused(benchmark::State& state) { admit(state, refusingLimits(), false); }
void BM_AdmitRequest_NoLimits(benchmark::State& state) {
  static const policy::Limits kNone = limitsOf({});
  admit(state, kNone, true);
}

void download(benchmark::State& state, const policy::Limits& limits) {
  SessionLimiter& limiter = shared();
  Nanos now = startTime();
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.onDownload(now, limits, uint64_t{16} * 1024));
    now += kTick;
  }
  endTime(now);
  state.SetItemsProcessed(state.iterations());
}

void BM_OnDownload_Shaped(benchmark::State& state) { download(state, allLimits()); }
void BM_OnDownload_NoLimits(benchmark::State& state) {
  static const policy::Limits kNone = limitsOf({});
  download(state, kNone);
}

BENCHMARK(BM_AdmitRequest_AllLimits)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AdmitRequest_Refused)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AdmitRequest_NoLimits)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_OnDownload_Shaped)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_OnDownload_NoLimits)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace gatehouse::common

BENCHMARK_MAIN();
