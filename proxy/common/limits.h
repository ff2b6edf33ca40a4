// The limiter: request rates, concurrency caps, bandwidth shaping and byte budgets of a session
// (the keys are in policy/limits_config.h). Pure logic: no libuv, no I/O, no allocation, no
// lock.
//
// State is shared by every worker thread of the process and aggregates exactly: a session's
// limit is the same whatever the number of workers, because every counter is one std::atomic
// updated by a CAS loop (never a per-thread share of the limit). Rates and sizes are arguments
// of every call, read from the live `policy::Limits`, so a reload or an API change applies to
// the next call without rebuilding any state. Time is the caller's monotonic clock in
// nanoseconds (`Nanos`), so tests drive a fake clock; threads may pass slightly different
// `now`s (each reads its own loop clock): the effect is a skew of that much, never a lost count.
//
// Threading: every method of every class here may be called from any thread, concurrently.
// Memory ordering is relaxed throughout: each atomic is a self-contained counter that publishes
// no other memory, and a single atomic's modification order is total whatever the ordering.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "policy/limits_config.h"

namespace gatehouse::common {

// A monotonic time or a duration, in nanoseconds (uv_hrtime() in production).
using Nanos = int64_t;
inline constexpr Nanos kNanosPerSecond = 1'000'000'000;

// The limiter's clock in production: std::chrono::steady_clock, in nanoseconds.
inline Nanos monotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The longest duration the limiter computes with (~36 years): rates and sizes from the config
// are clamped to it, so the arithmetic never overflows whatever the values.
inline constexpr Nanos kMaxLimiterSpan = Nanos{1} << 60;

// A token bucket implemented as GCRA (the generic cell rate algorithm) on one atomic: the
// theoretical arrival time `tat`, the time at which the bucket would be full again.
//
//   T   = 1e9 / rate                 (ns per token)
//   take(cost) from tat:  next = max(tat, now) + floor(cost·T)
//                         allowed iff next − now <= floor(max(burst, cost)·T), then tat = next
//                         refused:   retry_after = next − now − floor(max(burst, cost)·T) > 0
//
// so from idle exactly `burst` takes of cost 1 succeed at once, then one every 1/rate. Rounding
// the per-take increment down keeps whole-token bursts exact (b·floor(T) <= floor(b·T)); it is
// exact forever when T is a whole number of ns (rates dividing 1e9) and otherwise errs on the
// permissive side by less than rate/1e9 (relative) — one token in ~30 years at 1 req/s.
//
// A burst of 0 means max(1, rate). A rate of 0 (or negative) means unlimited: every take is
// allowed and the state is not touched. A cost larger than the burst is allowed only from a
// full bucket and leaves a debt. A live change of rate or burst applies to the next call: `tat`
// is a time, so the debt already owed is kept and drained at the new rate.
class TokenBucket final {
 public:
  struct Result {
    bool allowed = true;
    Nanos retry_after = 0;  // refused: how long until `cost` would be allowed (> 0)
  };

  Result take(Nanos now, double rate_per_s, double burst, double cost = 1) noexcept;
  // Gives back a successful take() of the same rate and cost (the composite checks take, then
  // refund when a later check refuses). Other threads' takes in between are kept.
  void refund(double rate_per_s, double cost = 1) noexcept;
  // Tokens that could be taken at `now`, in [0, burst]; +infinity when the rate is unlimited.
  double available(Nanos now, double rate_per_s, double burst) const noexcept;

 private:
  // Starts "long idle": any `now` is after it.
  std::atomic<int64_t> tat_{INT64_MIN};
};

// Bandwidth shaping of a byte stream, GCRA like TokenBucket, except that the bytes are always
// accounted (data is never dropped: it has already been read) and the answer is how long the
// reader must pause before reading more, so the long-run rate is exactly `bytes_per_s`.
//
// A burst of 0 means max(kShaperMinBurstBytes, kShaperBurstSeconds worth of the rate): 64 KiB
// (one libuv read) lets a small exchange through unshaped, and 100 ms of the rate keeps the
// excess over a few seconds small (a 2 MiB/s shaper moves 2.2 MiB in its first second and then
// 2 MiB/s). A rate of 0 means unlimited: account() returns 0 and touches nothing.
inline constexpr double kShaperMinBurstBytes = 64 * 1024;
inline constexpr double kShaperBurstSeconds = 0.1;

class Shaper final {
 public:
  // Accounts `bytes` read at `now`; returns the pause before the next read (0 = go on).
  Nanos account(Nanos now, uint64_t bytes, double bytes_per_s, double burst_bytes = 0) noexcept;

 private:
  std::atomic<int64_t> tat_{INT64_MIN};
};

// A byte count over a rolling window: kSlots slots of ceil(window / kSlots) each, in a ring of
// kRingSlots. Each ring slot is ONE atomic word packing a 24-bit epoch tag and a 40-bit count,
// so "this slot is stale: restart it at n" and "add n to this slot" are each a single CAS and a
// concurrent add can never be lost by a reset (two atomics per slot cannot do that without a
// lock). A slot's count saturates at 2^40 − 1 bytes (1 TiB per slot).
//
// Granularity: total() covers the current slot and the kSlots before it, so bytes added at t
// are counted until some time in (t + window, t + window + slot]: at most one slot of
// over-count, never an under-count.
//
// The tag is the slot index floor(now / slot) plus a salt derived from the slot width. A change
// of `window` between calls therefore starts a fresh count: slots written with the old width
// carry another salt and read as stale (a chance match, ~2^-18 per change, can only over-count);
// a reload that changes budget_window_s forgives what was used. Changing back to a width used
// earlier finds that width's slots again, except those the other width's adds restarted. A
// slot idle for exactly a multiple of 2^24 slot periods may also be read as current
// (over-count; at the default 1 h window that is 30 years).
class RollingWindow final {
 public:
  static constexpr size_t kSlots = 60;
  static constexpr size_t kRingSlots = 64;  // kSlots + 1 live, plus room for clock skew

  void add(Nanos now, uint64_t n, Nanos window) noexcept;
  uint64_t total(Nanos now, Nanos window) const noexcept;
  // How long after `now` total() drops below `limit` if nothing more is added (0: it already
  // is; kMaxLimiterSpan when it never will, i.e. limit 0).
  Nanos untilBelow(Nanos now, Nanos window, uint64_t limit) const noexcept;

 private:
  std::array<std::atomic<uint64_t>, kRingSlots> slots_{};
};

// A concurrency cap. A limit of 0 means unlimited (the count is still kept, for the usage
// report). Lowering the limit below current() refuses new acquisitions until enough releases.
class Concurrency final {
 public:
  bool tryAcquire(uint64_t limit) noexcept;
  // Never below zero (an unmatched release is a caller bug; it is ignored, not wrapped).
  void release() noexcept;
  uint64_t current() const noexcept;

 private:
  std::atomic<uint64_t> count_{0};
};

// Which limit refused something. The names are the metrics label and the Proxy-Status detail.
enum class LimitHit : uint8_t {
  kNone,
  kRequestRate,
  kDestinationRate,
  kTunnelRate,
  kConnections,
  kTunnels,
  kUploadBudget,
  kDownloadBudget,
};
inline constexpr size_t kLimitHitCount = 8;

// "none", "request-rate", "destination-rate", "tunnel-rate", "connections", "tunnels",
// "upload-budget", "download-budget".
const char* limitHitName(LimitHit hit) noexcept;

struct Admission {
  LimitHit hit = LimitHit::kNone;
  Nanos retry_after = 0;  // refused: the Retry-After to send (> 0)
  bool ok() const { return hit == LimitHit::kNone; }
};

// The limiter state of one session (or of the anonymous clients together). Owned through a
// std::shared_ptr<SessionLimiter> by the session registry and every connection of the session,
// on any worker; every method may be called from any thread concurrently. 3.25 KiB.
//
// Budgets: bytes are counted in both directions whether or not a budget is set (the usage
// report shows them); a budget is spent when the bytes in the window reach it.
class SessionLimiter final {
 public:
  // Per-destination buckets of a session: a fixed array indexed by a hash of "host:port" (as
  // the caller spells it; pass the canonical form). Two destinations that collide share one
  // bucket, which makes their limit stricter, never looser; the hash is fixed (unseeded) since
  // only the session's own destinations can collide.
  static constexpr size_t kDestinationBuckets = 256;
  static size_t destinationSlot(std::string_view destination) noexcept;

  // Checks, in order: upload budget, download budget, request rate, destination rate, tunnel
  // rate (is_connect only). A refusal consumes nothing: tokens taken by the earlier checks are
  // refunded. The hit is counted.
  Admission admitRequest(Nanos now, const policy::Limits& limits, std::string_view destination,
                         bool is_connect) noexcept;

  bool acquireConnection(const policy::Limits& limits) noexcept;
  void releaseConnection() noexcept;
  bool acquireTunnel(const policy::Limits& limits) noexcept;
  void releaseTunnel() noexcept;

  // Counts bytes moved client -> upstream (upload) or upstream -> client (download) into the
  // budget window, and returns how long the reader of that direction must pause (0 = go on):
  // shaped at the configured bytes/s, or at the trickle rate (with one second of burst) once
  // that direction's budget is spent, so a running tunnel is slowed, not cut.
  Nanos onUpload(Nanos now, const policy::Limits& limits, uint64_t bytes) noexcept;
  Nanos onDownload(Nanos now, const policy::Limits& limits, uint64_t bytes) noexcept;

  // Whether that direction has a budget and the bytes in the window reached it.
  bool spent(Nanos now, const policy::Limits& limits, bool upload) const noexcept;

  // For the control API. nullopt = that limit is not set (JSON null).
  struct Usage {
    std::optional<double> request_tokens;  // tokens available now
    std::optional<double> tunnel_tokens;
    uint64_t connections = 0;
    uint64_t tunnels = 0;
    uint64_t upload_bytes = 0;  // in the budget window
    uint64_t download_bytes = 0;
    std::optional<uint64_t> upload_remaining;  // budget − bytes, 0 when spent
    std::optional<uint64_t> download_remaining;
    std::array<uint64_t, kLimitHitCount> hits{};  // refusals, indexed by LimitHit
  };
  Usage usage(Nanos now, const policy::Limits& limits) const noexcept;

 private:
  Nanos onBytes(Nanos now, const policy::Limits& limits, uint64_t bytes, bool upload) noexcept;
  Admission refuse(LimitHit hit, Nanos retry_after) noexcept;

  // Separate cache lines for what every request touches and what every read touches.
  alignas(64) TokenBucket requests_;
  TokenBucket tunnel_rate_;
  Concurrency connections_;
  Concurrency tunnels_;
  alignas(64) Shaper upload_shaper_;
  RollingWindow upload_window_;
  alignas(64) Shaper download_shaper_;
  RollingWindow download_window_;
  alignas(64) std::array<std::atomic<uint64_t>, kLimitHitCount> hits_{};
  std::array<TokenBucket, kDestinationBuckets> destinations_;
};

}  // namespace gatehouse::common
