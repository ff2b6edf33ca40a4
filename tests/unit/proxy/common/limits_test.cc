// The limiter on a fake clock: every primitive's burst, refill, exact counts and retry_after;
// rate 0 = unlimited; live changes of rates and sizes between calls; the rolling window's
// rollover and granularity; the shaper's long-run rate; the session composite's order of checks
// and "a refusal consumes nothing"; and exact aggregation across threads hammering one state.
#include "proxy/common/limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <latch>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "policy/limits_config.h"

namespace gatehouse::common {
namespace {

using policy::LimitKey;

constexpr Nanos kSec = kNanosPerSecond;
constexpr Nanos kMs = 1'000'000;

// Fake clocks start at these: zero, a realistic uptime, and a negative value.
constexpr Nanos kStarts[] = {0, 123'456'789'012'345, -5 * kSec};

policy::Limits limitsOf(std::initializer_list<std::pair<LimitKey, uint64_t>> values) {
  policy::LimitsConfig config;
  for (const auto& [key, value] : values) config[key] = value;
  return policy::resolveLimits(config, nullptr);
}

// Runs body(0..count-1) on `count` threads that all start together, so that they contend.
void runThreads(int count, const std::function<void(int)>& body) {
  std::latch start(count);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (auto& t : threads) t.join();
}

// ---- TokenBucket ---------------------------------------------------------------------------

struct BurstRow {
  const char* reason;
  double rate;
  double burst;
  int immediate;      // takes that succeed at once from idle
  Nanos first_retry;  // retry_after of the first refusal
  Nanos interval;     // then one take per interval
};

TEST(TokenBucket, BurstThenOnePerInterval) {
  const BurstRow rows[] = {
      {"burst 5 at 10/s", 10, 5, 5, 100 * kMs, 100 * kMs},
      {"burst 0 means the rate", 10, 0, 10, 100 * kMs, 100 * kMs},
      {"burst 0 below 1/s means 1", 0.5, 0, 1, 2 * kSec, 2 * kSec},
      {"one at a time", 1, 1, 1, kSec, kSec},
      {"no burst at 1000/s", 1000, 1, 1, kMs, kMs},
      {"period not a whole number of ns (333333333.3)", 3, 2, 2, 333'333'333, 333'333'333},
      {"fractional burst rounds down", 2.5, 2.5, 2, 200 * kMs, 400 * kMs},
      {"burst larger than the rate", 2, 20, 20, 500 * kMs, 500 * kMs},
  };
  for (const Nanos start : kStarts) {
    for (const auto& row : rows) {
      SCOPED_TRACE(testing::Message() << row.reason << " (start " << start << ")");
      TokenBucket bucket;
      int allowed = 0;
      TokenBucket::Result r;
      while ((r = bucket.take(start, row.rate, row.burst)).allowed) ++allowed;
      EXPECT_EQ(allowed, row.immediate);
      EXPECT_EQ(r.retry_after, row.first_retry);
      Nanos now = start + row.first_retry;
      for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(bucket.take(now - 1, row.rate, row.burst).allowed) << "1 ns early, " << i;
        EXPECT_TRUE(bucket.take(now, row.rate, row.burst).allowed) << i;
        const auto refused = bucket.take(now, row.rate, row.burst);
        EXPECT_FALSE(refused.allowed) << i;
        EXPECT_EQ(refused.retry_after, row.interval) << i;
        now += row.interval;
      }
    }
  }
}

struct CountRow {
  const char* reason;
  double rate;
  double burst;
  Nanos elapsed;
  Nanos step;  // takes are tried every step until refused
  int expected;
};

TEST(TokenBucket, ExactCountOverTime) {
  const CountRow rows[] = {
      {"1000/s burst 10 for 2 s", 1000, 10, 2 * kSec, 100'000, 10 + 2000},
      {"3/s burst 2 for 10 s (period rounded down)", 3, 2, 10 * kSec, 10 * kMs, 2 + 30},
      {"7/s burst 2 for 100 s (period rounded down)", 7, 2, 100 * kSec, 10 * kMs, 2 + 700},
      {"0.5/s for 60 s", 0.5, 1, 60 * kSec, 100 * kMs, 1 + 30},
      {"tried once a second, burst = rate: no refill lost", 10, 10, 10 * kSec, kSec, 10 + 100},
  };
  for (const Nanos start : kStarts) {
    for (const auto& row : rows) {
      SCOPED_TRACE(testing::Message() << row.reason << " (start " << start << ")");
      TokenBucket bucket;
      int allowed = 0;
      for (Nanos t = 0; t <= row.elapsed; t += row.step) {
        while (bucket.take(start + t, row.rate, row.burst).allowed) ++allowed;
      }
      EXPECT_EQ(allowed, row.expected);
    }
  }
}

TEST(TokenBucket, RateZeroIsUnlimitedAndLeavesTheStateAlone) {
  TokenBucket bucket;
  for (int i = 0; i < 100000; ++i) {
    const auto r = bucket.take(0, 0, 1);
    ASSERT_TRUE(r.allowed);
    ASSERT_EQ(r.retry_after, 0);
  }
  EXPECT_TRUE(bucket.take(0, -1, 1).allowed) << "a negative rate is no limit either";
  EXPECT_TRUE(std::isinf(bucket.available(0, 0, 5)));
  EXPECT_EQ(bucket.available(0, 10, 5), 5) << "still full once limited";
  EXPECT_TRUE(bucket.take(0, 10, 1).allowed);
  EXPECT_FALSE(bucket.take(0, 10, 1).allowed);
}

struct BucketStep {
  Nanos at;  // since the script's start
  double rate;
  double burst;
  double cost;
  bool allowed;
  Nanos retry_after;  // when refused
};

struct BucketScript {
  const char* reason;
  std::vector<BucketStep> steps;
};

TEST(TokenBucket, LiveChangesAndCosts) {
  const BucketScript scripts[] = {
      {"raising the rate keeps the moment the bucket is full again",
       {{0, 1, 1, 1, true, 0},
        {0, 1, 1, 1, false, kSec},
        {0, 100, 10, 1, false, 910 * kMs},
        {910 * kMs, 100, 10, 1, true, 0},
        {910 * kMs, 100, 10, 1, false, 10 * kMs},
        {920 * kMs, 100, 10, 1, true, 0}}},
      {"raising the burst gives the difference at once",
       {{0, 10, 2, 1, true, 0},
        {0, 10, 2, 1, true, 0},
        {0, 10, 2, 1, false, 100 * kMs},
        {0, 10, 5, 1, true, 0},
        {0, 10, 5, 1, true, 0},
        {0, 10, 5, 1, true, 0},
        {0, 10, 5, 1, false, 100 * kMs}}},
      {"cutting the burst applies at once",
       {{0, 10, 10, 1, true, 0}, {0, 10, 1, 1, false, 100 * kMs}, {100 * kMs, 10, 1, 1, true, 0}}},
      {"lowering the rate makes the next take cost more",
       {{0, 100, 1, 1, true, 0},
        {10 * kMs, 1, 1, 1, true, 0},
        {10 * kMs, 1, 1, 1, false, kSec},
        {1010 * kMs, 1, 1, 1, true, 0}}},
      {"rate 0 in between takes nothing",
       {{0, 1, 1, 1, true, 0},
        {0, 0, 1, 1, true, 0},
        {0, 0, 1, 1, true, 0},
        {0, 1, 1, 1, false, kSec}}},
      {"a cost of several tokens",
       {{0, 10, 5, 3, true, 0},
        {0, 10, 5, 3, false, 100 * kMs},
        {0, 10, 5, 2, true, 0},
        {0, 10, 5, 1, false, 100 * kMs}}},
      {"a cost above the burst from a full bucket leaves a debt",
       {{0, 10, 5, 8, true, 0}, {0, 10, 5, 1, false, 400 * kMs}, {400 * kMs, 10, 5, 1, true, 0}}},
      {"a cost above the burst waits for a full bucket",
       {{0, 10, 5, 1, true, 0}, {0, 10, 5, 8, false, 100 * kMs}, {100 * kMs, 10, 5, 8, true, 0}}},
      {"fractional costs",
       {{0, 1, 1, 0.5, true, 0},
        {0, 1, 1, 0.5, true, 0},
        {0, 1, 1, 0.5, false, 500 * kMs},
        {500 * kMs, 1, 1, 0.5, true, 0}}},
      {"a cost of 0 is always allowed",
       {{0, 1, 1, 1, true, 0}, {0, 1, 1, 0, true, 0}, {0, 1, 1, 1, false, kSec}}},
  };
  for (const Nanos start : kStarts) {
    for (const auto& script : scripts) {
      SCOPED_TRACE(testing::Message() << script.reason << " (start " << start << ")");
      TokenBucket bucket;
      for (size_t i = 0; i < script.steps.size(); ++i) {
        const BucketStep& s = script.steps[i];
        const auto r = bucket.take(start + s.at, s.rate, s.burst, s.cost);
        EXPECT_EQ(r.allowed, s.allowed) << "step " << i;
        EXPECT_EQ(r.retry_after, s.allowed ? 0 : s.retry_after) << "step " << i;
      }
    }
  }
}

TEST(TokenBucket, AvailableAndRefund) {
  TokenBucket bucket;
  EXPECT_EQ(bucket.available(0, 10, 5), 5);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bucket.take(0, 10, 5).allowed);
  EXPECT_DOUBLE_EQ(bucket.available(0, 10, 5), 2);
  EXPECT_DOUBLE_EQ(bucket.available(150 * kMs, 10, 5), 3.5);
  EXPECT_DOUBLE_EQ(bucket.available(10 * kSec, 10, 5), 5) << "never above the burst";
  EXPECT_DOUBLE_EQ(bucket.available(0, 10, 2), 0) << "never below 0 after a burst cut";

  bucket.refund(10);
  EXPECT_DOUBLE_EQ(bucket.available(0, 10, 5), 3);
  // A refund gives back one take and keeps the others'.
  ASSERT_TRUE(bucket.take(0, 10, 5, 2).allowed);
  ASSERT_TRUE(bucket.take(0, 10, 5).allowed);
  bucket.refund(10, 2);
  EXPECT_DOUBLE_EQ(bucket.available(0, 10, 5), 2);
  bucket.refund(0);  // unlimited: nothing was taken, nothing is given back
  EXPECT_DOUBLE_EQ(bucket.available(0, 10, 5), 2);
}

TEST(TokenBucket, HugeValuesDoNotOverflow) {
  TokenBucket bucket;
  const double huge = 1e30;
  EXPECT_TRUE(bucket.take(0, 1e-12, 1).allowed);
  const auto r = bucket.take(0, 1e-12, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, kMaxLimiterSpan);
  EXPECT_TRUE(bucket.take(std::numeric_limits<Nanos>::max(), 1, huge).allowed);
  EXPECT_TRUE(TokenBucket{}.take(std::numeric_limits<Nanos>::min(), 1, huge, huge).allowed);
  EXPECT_TRUE(TokenBucket{}.take(0, std::numeric_limits<double>::quiet_NaN(), 1).allowed);
}

// ---- Shaper --------------------------------------------------------------------------------

TEST(Shaper, UnlimitedNeverPauses) {
  Shaper shaper;
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(shaper.account(0, 1 << 20, 0), 0);
  }
  // The unlimited bytes were not recorded: a rate set afterwards starts idle.
  EXPECT_EQ(shaper.account(0, uint64_t{64} * 1024, 1'000'000), 0);
}

struct ShaperStep {
  Nanos at;
  uint64_t bytes;
  double rate;
  double burst;
  Nanos pause;
};

struct ShaperScript {
  const char* reason;
  std::vector<ShaperStep> steps;
};

TEST(Shaper, PausesAndBurstDefaults) {
  const ShaperScript scripts[] = {
      {"burst 0 at 1 MB/s is 100 ms worth (100000 bytes)",
       {{0, 60000, 1e6, 0, 0}, {0, 60000, 1e6, 0, 20 * kMs}, {20 * kMs, 60000, 1e6, 0, 60 * kMs}}},
      {"burst 0 at 1000 B/s is the 64 KiB minimum",
       {{0, 65536, 1000, 0, 0}, {0, 1, 1000, 0, kMs}, {kMs, 1000, 1000, 0, kSec}}},
      {"an explicit burst",
       {{0, 500, 1000, 500, 0}, {0, 500, 1000, 500, 500 * kMs}, {2 * kSec, 500, 1000, 500, 0}}},
      {"a read larger than the burst is accounted and paid by the pause",
       {{0, 5000, 1000, 1000, 4 * kSec}, {4 * kSec, 1000, 1000, 1000, kSec}}},
      {"a rate change applies to the next read, the time already owed is kept",
       {{0, 2000, 1000, 1000, kSec},
        {0, 2000, 0, 1000, 0},
        {kSec, 1000, 2000, 1000, kSec},
        {2 * kSec, 1000, 2000, 1000, 500 * kMs}}},
      {"idle time refills up to the burst only",
       {{0, 1000, 1000, 1000, 0}, {100 * kSec, 3000, 1000, 1000, 2 * kSec}}},
      {"zero bytes report the pause still owed",
       {{0, 3000, 1000, 1000, 2 * kSec}, {kSec, 0, 1000, 1000, kSec}}},
  };
  for (const Nanos start : kStarts) {
    for (const auto& script : scripts) {
      SCOPED_TRACE(testing::Message() << script.reason << " (start " << start << ")");
      Shaper shaper;
      for (size_t i = 0; i < script.steps.size(); ++i) {
        const ShaperStep& s = script.steps[i];
        EXPECT_EQ(shaper.account(start + s.at, s.bytes, s.rate, s.burst), s.pause) << "step " << i;
      }
    }
  }
}

struct LongRunRow {
  const char* reason;
  double rate;
  double burst;
  uint64_t chunk;
  Nanos duration;
  double tolerance;  // relative
};

TEST(Shaper, LongRunRateOfAReaderThatObeys) {
  const LongRunRow rows[] = {
      {"2 MiB/s, 64 KiB reads, 10 s", 2.0 * 1024 * 1024, 0, 65536, 10 * kSec, 0.02},
      {"2 MiB/s, 64 KiB reads, a few seconds within 10%", 2.0 * 1024 * 1024, 0, 65536, 3 * kSec,
       0.10},
      {"10 MiB/s, 64 KiB reads, 10 s", 10.0 * 1024 * 1024, 0, 65536, 10 * kSec, 0.02},
      {"100 kB/s, 64 KiB reads, 60 s", 100e3, 0, 65536, 60 * kSec, 0.02},
      {"1 MB/s, 1 KiB reads, 10 s", 1e6, 0, 1024, 10 * kSec, 0.02},
      {"the trickle: 1 KiB/s with 1 s of burst, 64 KiB reads, 1 h", 1024, 1024, 65536, 3600 * kSec,
       0.02},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.reason);
    Shaper shaper;
    const Nanos start = 1000 * kSec;
    Nanos now = start;
    uint64_t moved = 0;
    while (now - start < row.duration) {
      const Nanos pause = shaper.account(now, row.chunk, row.rate, row.burst);
      ASSERT_GE(pause, 0);
      moved += row.chunk;
      now += pause + 10'000;  // the pause, then 10 us to read the next chunk
    }
    const double rate = static_cast<double>(moved) / (static_cast<double>(now - start) / kSec);
    EXPECT_NEAR(rate / row.rate, 1.0, row.tolerance) << "measured " << rate << " B/s";
  }
}

// ---- RollingWindow -------------------------------------------------------------------------

struct WindowAdd {
  Nanos at;
  uint64_t n;
};

struct WindowRow {
  const char* reason;
  Nanos window;
  std::vector<WindowAdd> adds;
  Nanos query_at;
  uint64_t expected;
};

TEST(RollingWindow, RolloverAndGranularity) {
  constexpr Nanos kW = 60 * kSec;  // slots of 1 s
  constexpr Nanos kT = 1000 * kSec;
  const WindowRow rows[] = {
      {"both adds within the window", kW, {{kT, 100}, {kT + kW / 2, 200}}, kT + kW / 2, 300},
      {"still counted at t + window (at most one slot of over-count)",
       kW,
       {{kT, 100}, {kT + kW / 2, 200}},
       kT + kW,
       300},
      {"the first drops out at t + window + slot",
       kW,
       {{kT, 100}, {kT + kW / 2, 200}},
       kT + kW + kSec,
       200},
      {"mid-slot add: counted at t + window", kW, {{kT + kSec / 2, 100}}, kT + kW + kSec / 2, 100},
      {"mid-slot add: gone at t + window + slot",
       kW,
       {{kT + kSec / 2, 100}},
       kT + kW + kSec + kSec / 2,
       0},
      {"never dropped before t + window", kW, {{kT + kSec - 1, 100}}, kT + kSec - 1 + kW - 1, 100},
      {"everything gone after two windows", kW, {{kT, 100}, {kT + kW / 2, 200}}, kT + 2 * kW, 0},
      {"adds in one slot sum", kW, {{kT, 1}, {kT + 1, 2}, {kT + kSec - 1, 3}}, kT + kSec, 6},
      {"a slot reused one lap later restarts",
       kW,
       {{kT, 100}, {kT + 64 * kSec, 5}},
       kT + 64 * kSec,
       5},
      {"a window of 90 s (slots of 1.5 s): counted at t + window",
       90 * kSec,
       {{kT, 7}},
       kT + 90 * kSec,
       7},
      {"a window of 90 s: gone at t + window + slot",
       90 * kSec,
       {{kT, 7}},
       kT + 90 * kSec + 1500 * kMs,
       0},
      {"negative times", kW, {{-kSec, 1}, {-kSec / 2, 2}, {0, 4}}, kW - kSec, 7},
      {"a tiny window (1 ns slots)", 60, {{kT, 1}, {kT + 60, 2}}, kT + 60, 3},
      {"slots are rounded up: 119 ns in slots of 2 ns, counted at t + window",
       119,
       {{kT, 1}},
       kT + 119,
       1},
      {"a tiny window rolls over", 60, {{kT, 1}, {kT + 60, 2}}, kT + 61, 2},
      {"a query before the adds (clock skew) counts them", kW, {{kT + kSec, 9}}, kT, 9},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.reason);
    RollingWindow window;
    for (const auto& a : row.adds) window.add(a.at, a.n, row.window);
    EXPECT_EQ(window.total(row.query_at, row.window), row.expected);
  }
}

TEST(RollingWindow, SaturatesPerSlot) {
  RollingWindow window;
  const uint64_t max_slot = (uint64_t{1} << 40) - 1;
  window.add(0, max_slot - 1, 60 * kSec);
  window.add(0, 5, 60 * kSec);
  EXPECT_EQ(window.total(0, 60 * kSec), max_slot);
  window.add(kSec, UINT64_MAX, 60 * kSec);
  EXPECT_EQ(window.total(kSec, 60 * kSec), 2 * max_slot);
}

TEST(RollingWindow, AChangeOfWindowStartsAFreshCount) {
  RollingWindow window;
  const Nanos t = 1000 * kSec;
  window.add(t, 100, 60 * kSec);
  EXPECT_EQ(window.total(t, 60 * kSec), 100);
  EXPECT_EQ(window.total(t, 120 * kSec), 0) << "slots of another width are not read";
  EXPECT_EQ(window.total(t, 61 * kSec), 0);
  window.add(t, 5, 120 * kSec);
  EXPECT_EQ(window.total(t, 120 * kSec), 5);
  window.add(t + kSec, 7, 120 * kSec);
  EXPECT_EQ(window.total(t + kSec, 120 * kSec), 12);
  // Back to the first width: its slots that the other width did not overwrite count again.
  window.add(t + 10 * kSec, 1, 60 * kSec);
  EXPECT_EQ(window.total(t + 10 * kSec, 60 * kSec), 101);

  // A small change, early in the clock: slot 100 of 1 s lies in the index range of 61 s (slots
  // of 1.0167 s: 38..101) and would count but for the salt.
  RollingWindow early;
  early.add(100 * kSec, 100, 60 * kSec);
  EXPECT_EQ(early.total(100 * kSec, 61 * kSec), 0);
}

TEST(RollingWindow, UntilBelow) {
  constexpr Nanos kW = 60 * kSec;
  constexpr Nanos kT = 1000 * kSec;
  RollingWindow window;
  window.add(kT, 100, kW);
  window.add(kT + 30 * kSec, 100, kW);
  const Nanos now = kT + 40 * kSec;
  EXPECT_EQ(window.untilBelow(now, kW, 250), 0) << "already below";
  EXPECT_EQ(window.untilBelow(now, kW, 201), 0) << "200 < 201";
  EXPECT_EQ(window.untilBelow(now, kW, 200), 21 * kSec) << "first slot gone at t + 61 s";
  EXPECT_EQ(window.untilBelow(now, kW, 150), 21 * kSec);
  EXPECT_EQ(window.untilBelow(now, kW, 100), 51 * kSec) << "both gone at t + 91 s";
  EXPECT_EQ(window.untilBelow(now, kW, 1), 51 * kSec);
  EXPECT_EQ(window.untilBelow(now, kW, 0), kMaxLimiterSpan) << "never below 0";
  EXPECT_EQ(window.untilBelow(now + 21 * kSec, kW, 150), 0);
}

// ---- Concurrency ---------------------------------------------------------------------------

TEST(Concurrency, CapsAndCounts) {
  Concurrency c;
  EXPECT_TRUE(c.tryAcquire(3));
  EXPECT_TRUE(c.tryAcquire(3));
  EXPECT_TRUE(c.tryAcquire(3));
  EXPECT_FALSE(c.tryAcquire(3));
  EXPECT_EQ(c.current(), 3);
  c.release();
  EXPECT_TRUE(c.tryAcquire(3));
  EXPECT_FALSE(c.tryAcquire(3));
  EXPECT_TRUE(c.tryAcquire(0)) << "0 is unlimited, and still counts";
  EXPECT_EQ(c.current(), 4);
  EXPECT_FALSE(c.tryAcquire(2)) << "a lowered limit refuses until releases";
  c.release();
  c.release();
  EXPECT_FALSE(c.tryAcquire(2));
  c.release();
  EXPECT_TRUE(c.tryAcquire(2));
  c.release();
  c.release();
  EXPECT_EQ(c.current(), 0);
  c.release();
  EXPECT_EQ(c.current(), 0) << "an unmatched release does not wrap";
  EXPECT_TRUE(c.tryAcquire(1));
}

// ---- SessionLimiter ------------------------------------------------------------------------

TEST(SessionLimiter, HitNames) {
  const std::pair<LimitHit, const char*> rows[] = {
      {LimitHit::kNone, "none"},
      {LimitHit::kRequestRate, "request-rate"},
      {LimitHit::kDestinationRate, "destination-rate"},
      {LimitHit::kTunnelRate, "tunnel-rate"},
      {LimitHit::kConnections, "connections"},
      {LimitHit::kTunnels, "tunnels"},
      {LimitHit::kUploadBudget, "upload-budget"},
      {LimitHit::kDownloadBudget, "download-budget"},
  };
  static_assert(std::size(rows) == kLimitHitCount);
  for (size_t i = 0; i < kLimitHitCount; ++i) {
    EXPECT_EQ(static_cast<size_t>(rows[i].first), i);
    EXPECT_STREQ(limitHitName(rows[i].first), rows[i].second);
  }
}

TEST(SessionLimiter, NoLimitsAdmitsEverythingAndStillCounts) {
  SessionLimiter limiter;
  const policy::Limits none = limitsOf({});
  ASSERT_FALSE(none.any());
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(limiter.admitRequest(0, none, "example.com:443", i % 2 == 0).ok());
    ASSERT_TRUE(limiter.acquireConnection(none));
    ASSERT_TRUE(limiter.acquireTunnel(none));
    ASSERT_EQ(limiter.onUpload(0, none, 1 << 20), 0);
    ASSERT_EQ(limiter.onDownload(0, none, 1 << 20), 0);
  }
  const auto u = limiter.usage(0, none);
  EXPECT_FALSE(u.request_tokens);
  EXPECT_FALSE(u.tunnel_tokens);
  EXPECT_EQ(u.connections, 10000);
  EXPECT_EQ(u.tunnels, 10000);
  EXPECT_EQ(u.upload_bytes, 10000ULL << 20);
  EXPECT_EQ(u.download_bytes, 10000ULL << 20);
  EXPECT_FALSE(u.upload_remaining);
  EXPECT_FALSE(u.download_remaining);
  for (const uint64_t hits : u.hits) EXPECT_EQ(hits, 0);
  EXPECT_FALSE(limiter.spent(0, none, true));
}

struct OrderRow {
  const char* reason;
  bool empty_request;
  bool empty_destination;
  bool empty_tunnel;
  bool spent_upload;
  bool spent_download;
  bool is_connect;
  LimitHit expected;
};

TEST(SessionLimiter, OrderOfChecksAndARefusalConsumesNothing) {
  const OrderRow rows[] = {
      {"upload budget first", true, true, true, true, true, true, LimitHit::kUploadBudget},
      {"upload budget alone", false, false, false, true, false, false, LimitHit::kUploadBudget},
      {"download budget before the rates", true, true, true, false, true, true,
       LimitHit::kDownloadBudget},
      {"request rate before destination and tunnel", true, true, true, false, false, true,
       LimitHit::kRequestRate},
      {"destination before tunnel", false, true, true, false, false, true,
       LimitHit::kDestinationRate},
      {"destination alone", false, true, false, false, false, false, LimitHit::kDestinationRate},
      {"tunnel rate last", false, false, true, false, false, true, LimitHit::kTunnelRate},
      {"tunnel rate only for CONNECT", false, false, true, false, false, false, LimitHit::kNone},
      {"nothing empty", false, false, false, false, false, true, LimitHit::kNone},
  };
  const std::string_view kDest = "api.example.com:443";
  const std::string_view kOther = "other.example.com:443";
  ASSERT_NE(SessionLimiter::destinationSlot(kDest), SessionLimiter::destinationSlot(kOther));
  const policy::Limits full = limitsOf({{LimitKey::kRequestsPerSecond, 1},
                                        {LimitKey::kRequestBurst, 1},
                                        {LimitKey::kDestinationRequestsPerSecond, 1},
                                        {LimitKey::kDestinationBurst, 1},
                                        {LimitKey::kTunnelsPerSecond, 1},
                                        {LimitKey::kTunnelBurst, 1},
                                        {LimitKey::kUploadBudgetBytes, 100},
                                        {LimitKey::kDownloadBudgetBytes, 100},
                                        {LimitKey::kBudgetWindowSeconds, 60}});
  const policy::Limits request_only =
      limitsOf({{LimitKey::kRequestsPerSecond, 1}, {LimitKey::kRequestBurst, 1}});
  const policy::Limits destination_only =
      limitsOf({{LimitKey::kDestinationRequestsPerSecond, 1}, {LimitKey::kDestinationBurst, 1}});
  const policy::Limits tunnel_only =
      limitsOf({{LimitKey::kTunnelsPerSecond, 1}, {LimitKey::kTunnelBurst, 1}});
  const Nanos now = 1000 * kSec;
  for (const auto& row : rows) {
    SCOPED_TRACE(row.reason);
    SessionLimiter limiter;
    if (row.empty_request) {
      ASSERT_TRUE(limiter.admitRequest(now, request_only, kOther, false).ok());
    }
    if (row.empty_destination) {
      ASSERT_TRUE(limiter.admitRequest(now, destination_only, kDest, false).ok());
    }
    if (row.empty_tunnel) {
      ASSERT_TRUE(limiter.admitRequest(now, tunnel_only, kOther, true).ok());
    }
    if (row.spent_upload) limiter.onUpload(now, full, 100);
    if (row.spent_download) limiter.onDownload(now, full, 100);

    const Admission a = limiter.admitRequest(now, full, kDest, row.is_connect);
    EXPECT_EQ(a.hit, row.expected) << limitHitName(a.hit);
    EXPECT_EQ(a.ok(), row.expected == LimitHit::kNone);
    EXPECT_EQ(a.retry_after > 0, !a.ok());

    // What is left in each bucket: all of it unless emptied before, or taken by an admission.
    const bool admitted = a.ok();
    const auto u = limiter.usage(now, full);
    EXPECT_EQ(*u.request_tokens, row.empty_request || admitted ? 0 : 1) << "request bucket";
    EXPECT_EQ(*u.tunnel_tokens, row.empty_tunnel || (admitted && row.is_connect) ? 0 : 1)
        << "tunnel bucket";
    EXPECT_EQ(limiter.admitRequest(now, destination_only, kDest, false).ok(),
              !row.empty_destination && !admitted)
        << "destination bucket";
    for (size_t i = 1; i < kLimitHitCount; ++i) {
      const bool this_hit = static_cast<LimitHit>(i) == row.expected;
      EXPECT_EQ(u.hits[i], this_hit ? 1 : 0) << limitHitName(static_cast<LimitHit>(i));
    }
  }
}

TEST(SessionLimiter, RefusalsRefundWhatEarlierChecksTook) {
  const policy::Limits limits = limitsOf({{LimitKey::kRequestsPerSecond, 10},
                                          {LimitKey::kRequestBurst, 3},
                                          {LimitKey::kDestinationRequestsPerSecond, 1},
                                          {LimitKey::kDestinationBurst, 1},
                                          {LimitKey::kTunnelsPerSecond, 1},
                                          {LimitKey::kTunnelBurst, 1}});
  const std::string_view a = "a.example:443";
  const std::string_view b = "b.example:443";
  const std::string_view c = "c.example:443";
  ASSERT_NE(SessionLimiter::destinationSlot(a), SessionLimiter::destinationSlot(b));
  ASSERT_NE(SessionLimiter::destinationSlot(a), SessionLimiter::destinationSlot(c));
  ASSERT_NE(SessionLimiter::destinationSlot(b), SessionLimiter::destinationSlot(c));
  SessionLimiter limiter;
  ASSERT_TRUE(limiter.admitRequest(0, limits, a, true).ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.admitRequest(0, limits, a, false).hit, LimitHit::kDestinationRate);
    EXPECT_EQ(limiter.admitRequest(0, limits, b, true).hit, LimitHit::kTunnelRate);
  }
  EXPECT_EQ(*limiter.usage(0, limits).request_tokens, 2) << "10 refusals took no request token";
  // b's destination token was refunded by the tunnel refusals: a plain request to b goes.
  EXPECT_TRUE(limiter.admitRequest(0, limits, b, false).ok());
  EXPECT_TRUE(limiter.admitRequest(0, limits, c, false).ok());
  EXPECT_EQ(limiter.admitRequest(0, limits, "d.example:443", false).hit, LimitHit::kRequestRate);
  const auto u = limiter.usage(0, limits);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kDestinationRate)], 5);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kTunnelRate)], 5);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kRequestRate)], 1);
}

struct RetryRow {
  const char* reason;
  policy::Limits limits;
  bool is_connect;
  LimitHit hit;
  Nanos retry_after;
};

TEST(SessionLimiter, RetryAfterOfEachRate) {
  const RetryRow rows[] = {
      {"request rate 10/s", limitsOf({{LimitKey::kRequestsPerSecond, 10}}), false,
       LimitHit::kRequestRate, 100 * kMs},
      {"destination rate 2/s",
       limitsOf({{LimitKey::kDestinationRequestsPerSecond, 2}, {LimitKey::kDestinationBurst, 1}}),
       false, LimitHit::kDestinationRate, 500 * kMs},
      {"tunnel rate 1/s burst 1", limitsOf({{LimitKey::kTunnelsPerSecond, 1}}), true,
       LimitHit::kTunnelRate, kSec},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.reason);
    SessionLimiter limiter;
    Admission a;
    int admitted = 0;
    while ((a = limiter.admitRequest(0, row.limits, "x:1", row.is_connect)).ok()) ++admitted;
    EXPECT_GE(admitted, 1);
    EXPECT_EQ(a.hit, row.hit);
    EXPECT_EQ(a.retry_after, row.retry_after);
    EXPECT_TRUE(limiter.admitRequest(a.retry_after, row.limits, "x:1", row.is_connect).ok());
  }
}

TEST(SessionLimiter, SpentBudgetRefusesAndTrickles) {
  const Nanos t = 1000 * kSec;
  const policy::Limits limits = limitsOf({{LimitKey::kUploadBudgetBytes, 4096},
                                          {LimitKey::kBudgetWindowSeconds, 60},
                                          {LimitKey::kDownloadBytesPerSecond, 1'000'000}});
  SessionLimiter limiter;
  EXPECT_EQ(limiter.onUpload(t, limits, 4000), 0) << "unshaped before the budget is spent";
  EXPECT_FALSE(limiter.spent(t, limits, true));
  EXPECT_TRUE(limiter.admitRequest(t, limits, "x:1", true).ok());
  EXPECT_EQ(*limiter.usage(t, limits).upload_remaining, 96);

  // 96 more spend it; from those on, the trickle (1024 B/s, 1 s of burst) shapes: 4 KiB is
  // 3 s beyond the burst, and after that 1 s per KiB.
  EXPECT_EQ(limiter.onUpload(t, limits, 96), 0);
  EXPECT_TRUE(limiter.spent(t, limits, true));
  EXPECT_EQ(limiter.onUpload(t, limits, 4 * 1024 - 96), 3 * kSec);
  EXPECT_EQ(limiter.onUpload(t + 3 * kSec, limits, 1024), kSec);
  EXPECT_EQ(limiter.onUpload(t + 4 * kSec, limits, 2048), 2 * kSec);

  const Admission a = limiter.admitRequest(t + 10 * kSec, limits, "x:1", false);
  EXPECT_EQ(a.hit, LimitHit::kUploadBudget);
  // The first 4096 bytes leave the window at t + 61 s, when the rest is below the budget.
  EXPECT_EQ(a.retry_after, 51 * kSec);
  // Never less than a second.
  EXPECT_EQ(limiter.admitRequest(t + 60 * kSec + 500 * kMs, limits, "x:1", false).retry_after,
            kSec);

  // The other direction is not affected: shaped at its own rate, the budget not set.
  EXPECT_EQ(limiter.onDownload(t, limits, 100'000), 0);
  EXPECT_EQ(limiter.onDownload(t, limits, 100'000), 100 * kMs);
  EXPECT_FALSE(limiter.spent(t, limits, false));

  const auto u = limiter.usage(t + 10 * kSec, limits);
  EXPECT_EQ(u.upload_bytes, 4096 + (4 * 1024 - 96) + 1024 + 2048);
  EXPECT_EQ(*u.upload_remaining, 0);
  EXPECT_FALSE(u.download_remaining);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kUploadBudget)], 2);

  // Once the window has moved on, requests go through again and reads are unshaped.
  EXPECT_TRUE(limiter.admitRequest(t + 200 * kSec, limits, "x:1", false).ok());
  EXPECT_EQ(limiter.onUpload(t + 200 * kSec, limits, 1000), 0);
}

TEST(SessionLimiter, DownloadBudgetWithATrickleSettingAndAShapedRate) {
  const Nanos t = 50 * kSec;
  const policy::Limits limits = limitsOf({{LimitKey::kDownloadBudgetBytes, 1'000'000},
                                          {LimitKey::kDownloadBytesPerSecond, 1'000'000},
                                          {LimitKey::kTrickleBytesPerSecond, 2000}});
  SessionLimiter limiter;
  // Shaped at 1 MB/s (burst 100 ms = 100000 bytes) until spent...
  EXPECT_EQ(limiter.onDownload(t, limits, 100'000), 0);
  EXPECT_EQ(limiter.onDownload(t, limits, 100'000), 100 * kMs);
  EXPECT_EQ(limiter.onDownload(t + 100 * kMs, limits, 700'000), 700 * kMs);
  EXPECT_FALSE(limiter.spent(t, limits, false));
  // ...then the trickle (2000 B/s, 1 s of burst): the 1 MB/s debt in time is kept.
  EXPECT_EQ(limiter.onDownload(t + 800 * kMs, limits, 100'000), 50 * kSec + 100 * kMs - kSec);
  EXPECT_TRUE(limiter.spent(t + kSec, limits, false));
  const Admission a = limiter.admitRequest(t + kSec, limits, "x:1", false);
  EXPECT_EQ(a.hit, LimitHit::kDownloadBudget);
  // The default window has slots of 60 s: [0, 60 s) stops counting at 61 slots = 3660 s.
  EXPECT_EQ(a.retry_after, 3660 * kSec - (t + kSec));
  EXPECT_EQ(limiter.onUpload(t, limits, 1'000'000), 0) << "upload unaffected";
}

TEST(SessionLimiter, DestinationIsolationAndCollisions) {
  const policy::Limits limits =
      limitsOf({{LimitKey::kDestinationRequestsPerSecond, 1}, {LimitKey::kDestinationBurst, 1}});
  const std::string_view a = "a.example:443";
  const std::string_view b = "b.example:443";
  ASSERT_NE(SessionLimiter::destinationSlot(a), SessionLimiter::destinationSlot(b));
  std::string collider;
  for (int i = 0; collider.empty(); ++i) {
    std::string name = "h" + std::to_string(i) + ".example:443";
    if (SessionLimiter::destinationSlot(name) == SessionLimiter::destinationSlot(a)) {
      collider = name;
    }
  }
  SessionLimiter limiter;
  EXPECT_TRUE(limiter.admitRequest(0, limits, a, false).ok());
  EXPECT_EQ(limiter.admitRequest(0, limits, a, false).hit, LimitHit::kDestinationRate);
  EXPECT_TRUE(limiter.admitRequest(0, limits, b, false).ok()) << "another host is not limited";
  const size_t other_port = SessionLimiter::destinationSlot("a.example:80");
  EXPECT_EQ(limiter.admitRequest(0, limits, "a.example:80", false).ok(),
            other_port != SessionLimiter::destinationSlot(a) &&
                other_port != SessionLimiter::destinationSlot(b))
      << "the port is part of the destination";
  EXPECT_EQ(limiter.admitRequest(0, limits, collider, false).hit, LimitHit::kDestinationRate)
      << collider << " shares a's bucket: stricter, never looser";
  SessionLimiter other;
  EXPECT_TRUE(other.admitRequest(0, limits, a, false).ok()) << "sessions do not share buckets";
}

TEST(SessionLimiter, ConnectionAndTunnelCaps) {
  const policy::Limits limits =
      limitsOf({{LimitKey::kMaxConnections, 2}, {LimitKey::kMaxTunnels, 1}});
  SessionLimiter limiter;
  EXPECT_TRUE(limiter.acquireConnection(limits));
  EXPECT_TRUE(limiter.acquireConnection(limits));
  EXPECT_FALSE(limiter.acquireConnection(limits));
  EXPECT_TRUE(limiter.acquireTunnel(limits));
  EXPECT_FALSE(limiter.acquireTunnel(limits));
  EXPECT_FALSE(limiter.acquireTunnel(limits));
  auto u = limiter.usage(0, limits);
  EXPECT_EQ(u.connections, 2);
  EXPECT_EQ(u.tunnels, 1);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kConnections)], 1);
  EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kTunnels)], 2);
  limiter.releaseConnection();
  limiter.releaseTunnel();
  EXPECT_TRUE(limiter.acquireConnection(limits));
  EXPECT_TRUE(limiter.acquireTunnel(limits));
  // A live change of the cap applies to the next acquisition.
  const policy::Limits wider =
      limitsOf({{LimitKey::kMaxConnections, 3}, {LimitKey::kMaxTunnels, 0}});
  EXPECT_TRUE(limiter.acquireConnection(wider));
  EXPECT_TRUE(limiter.acquireTunnel(wider));
  u = limiter.usage(0, wider);
  EXPECT_EQ(u.connections, 3);
  EXPECT_EQ(u.tunnels, 2);
}

TEST(SessionLimiter, UsageReport) {
  const policy::Limits limits = limitsOf({{LimitKey::kRequestsPerSecond, 10},
                                          {LimitKey::kRequestBurst, 5},
                                          {LimitKey::kTunnelsPerSecond, 2},
                                          {LimitKey::kUploadBudgetBytes, 1000},
                                          {LimitKey::kDownloadBudgetBytes, 500}});
  SessionLimiter limiter;
  ASSERT_TRUE(limiter.admitRequest(0, limits, "x:1", true).ok());
  ASSERT_TRUE(limiter.admitRequest(0, limits, "x:1", false).ok());
  limiter.onUpload(0, limits, 300);
  limiter.onDownload(0, limits, 600);
  ASSERT_TRUE(limiter.acquireConnection(limits));
  const auto u = limiter.usage(0, limits);
  EXPECT_DOUBLE_EQ(*u.request_tokens, 3);
  EXPECT_DOUBLE_EQ(*u.tunnel_tokens, 1);
  EXPECT_EQ(u.connections, 1);
  EXPECT_EQ(u.tunnels, 0);
  EXPECT_EQ(u.upload_bytes, 300);
  EXPECT_EQ(u.download_bytes, 600);
  EXPECT_EQ(*u.upload_remaining, 700);
  EXPECT_EQ(*u.download_remaining, 0) << "overshoot shows as 0 remaining";
  EXPECT_DOUBLE_EQ(*limiter.usage(300 * kMs, limits).request_tokens, 5);
}

// ---- Many workers, one state: the sums are exact -------------------------------------------

constexpr int kThreads = 4;

TEST(LimiterThreads, TokenBucketAtAFixedTime) {
  // A burst large enough that the threads take it together, not one after the other.
  TokenBucket bucket;
  std::atomic<int> allowed{0};
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 40000; ++i) {
      if (bucket.take(kSec, 10, 50000).allowed) allowed.fetch_add(1);
    }
  });
  EXPECT_EQ(allowed.load(), 50000);
}

TEST(LimiterThreads, TokenBucketWithTimeAdvancingInSteps) {
  constexpr int kSteps = 100;
  constexpr Nanos kStep = kMs;  // 1000 tokens per step at 1e6/s
  TokenBucket bucket;
  std::atomic<int> allowed{0};
  std::barrier sync(kThreads);
  runThreads(kThreads, [&](int) {
    for (int s = 0; s <= kSteps; ++s) {
      for (int i = 0; i < 400; ++i) {
        if (bucket.take(s * kStep, 1e6, 5000).allowed) allowed.fetch_add(1);
      }
      sync.arrive_and_wait();
    }
  });
  EXPECT_EQ(allowed.load(), 5000 + Nanos{1'000'000} * kSteps * kStep / kSec);
}

TEST(LimiterThreads, SessionLimiterAtAFixedTimeAndInSteps) {
  // The tunnel rate binds; the request and destination tokens taken by refused CONNECTs are
  // refunded, so what is left of them is exact too.
  const policy::Limits limits = limitsOf({{LimitKey::kRequestsPerSecond, 1000},
                                          {LimitKey::kRequestBurst, 100},
                                          {LimitKey::kDestinationRequestsPerSecond, 500},
                                          {LimitKey::kDestinationBurst, 40},
                                          {LimitKey::kTunnelsPerSecond, 200},
                                          {LimitKey::kTunnelBurst, 20}});
  const policy::Limits destination_only =
      limitsOf({{LimitKey::kDestinationRequestsPerSecond, 500}, {LimitKey::kDestinationBurst, 40}});
  {
    SessionLimiter limiter;
    std::atomic<int> allowed{0};
    runThreads(kThreads, [&](int) {
      for (int i = 0; i < 5000; ++i) {
        if (limiter.admitRequest(0, limits, "x.example:443", true).ok()) allowed.fetch_add(1);
      }
    });
    EXPECT_EQ(allowed.load(), 20);
    const auto u = limiter.usage(0, limits);
    EXPECT_DOUBLE_EQ(*u.request_tokens, 80);
    EXPECT_EQ(u.hits[static_cast<size_t>(LimitHit::kTunnelRate)], kThreads * 5000 - 20);
    int destination_left = 0;
    while (limiter.admitRequest(0, destination_only, "x.example:443", false).ok()) {
      ++destination_left;
    }
    EXPECT_EQ(destination_left, 20);
  }
  {
    constexpr int kSteps = 100;
    constexpr Nanos kStep = 10 * kMs;  // 2 tunnels per step
    SessionLimiter limiter;
    std::atomic<int> allowed{0};
    std::barrier sync(kThreads);
    runThreads(kThreads, [&](int) {
      for (int s = 0; s <= kSteps; ++s) {
        for (int i = 0; i < 20; ++i) {
          if (limiter.admitRequest(s * kStep, limits, "x.example:443", true).ok()) {
            allowed.fetch_add(1);
          }
        }
        sync.arrive_and_wait();
      }
    });
    EXPECT_EQ(allowed.load(), 20 + Nanos{200} * kSteps * kStep / kSec);
  }
}

TEST(LimiterThreads, ConcurrencyNeverExceedsTheLimit) {
  Concurrency c;
  std::atomic<int> holders{0};
  std::atomic<int> most{0};
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 20000; ++i) {
      if (!c.tryAcquire(3)) continue;
      const int now_holding = holders.fetch_add(1) + 1;
      int seen = most.load();
      while (now_holding > seen && !most.compare_exchange_weak(seen, now_holding)) {
      }
      holders.fetch_sub(1);
      c.release();
    }
  });
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(c.current(), 0);

  // Unlimited: every acquisition counts.
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(c.tryAcquire(0));
  });
  EXPECT_EQ(c.current(), kThreads * 10000);
  // Capped below the current count: all refused, none counted.
  std::atomic<int> admitted{0};
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) admitted += c.tryAcquire(10) ? 1 : 0;
  });
  EXPECT_EQ(admitted.load(), 0);
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 10000; ++i) c.release();
  });
  EXPECT_EQ(c.current(), 0);
  // From 0 with a cap: exactly the cap is admitted in total.
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) admitted += c.tryAcquire(100) ? 1 : 0;
  });
  EXPECT_EQ(admitted.load(), 100);
}

TEST(LimiterThreads, RollingWindowSumIsExactAcrossSlotResets) {
  // Each step is a new slot (1 s slots); the first writer of a step restarts a slot a lap old
  // while the others add to it.
  constexpr Nanos kWindow = 60 * kSec;
  constexpr int kSteps = 150;
  RollingWindow window;
  std::barrier sync(kThreads);
  std::atomic<uint64_t> mismatches{0};
  runThreads(kThreads, [&](int thread) {
    for (int s = 0; s < kSteps; ++s) {
      for (int i = 0; i < 500; ++i) window.add(s * kSec + i, 1 + (thread % 2), kWindow);
      sync.arrive_and_wait();
      // Everyone has added for step s: the window holds steps s-60..s, (1 + 2 + 1 + 2) * 500
      // bytes each.
      const uint64_t steps_in_window = static_cast<uint64_t>(std::min(s + 1, 61));
      if (window.total(s * kSec + kSec - 1, kWindow) != steps_in_window * 3000) {
        mismatches.fetch_add(1);
      }
      sync.arrive_and_wait();
    }
  });
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(window.total((kSteps - 1) * kSec, kWindow), 61 * 3000);
}

TEST(LimiterThreads, ShaperAccountsEveryByte) {
  Shaper shaper;
  runThreads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) shaper.account(kSec, 1000, 1e6, 100'000);
  });
  // 4 000 000 bytes at 1000 ns each, less the 100 ms burst.
  EXPECT_EQ(shaper.account(kSec, 0, 1e6, 100'000), 4 * kSec - 100 * kMs);
}

}  // namespace
}  // namespace gatehouse::common
