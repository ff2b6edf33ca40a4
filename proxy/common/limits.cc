#include "proxy/common/limits.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "policy/hash.h"

namespace gatehouse::common {
namespace {

using policy::LimitKey;

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

int64_t saturatingSub(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_sub_overflow(a, b, &out)) {
    return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

// floor(x) as a duration in [0, kMaxLimiterSpan] (NaN counts as 0).
Nanos spanFloor(double x) {
  if (!(x > 0)) return 0;
  if (x >= static_cast<double>(kMaxLimiterSpan)) return kMaxLimiterSpan;
  return static_cast<Nanos>(std::floor(x));
}

bool limited(double rate) { return rate > 0 && std::isfinite(rate); }

double bucketBurst(double rate, double burst) { return burst > 0 ? burst : std::max(1.0, rate); }

// How long `units` take at `rate` units per second, rounded down (see TokenBucket).
Nanos duration(double units, double rate) {
  return spanFloor(units * (static_cast<double>(kNanosPerSecond) / rate));
}

// Floor division, so that slot indices are right for negative times too (a fake clock).
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// RollingWindow word: [tag:24][count:40].
constexpr int kCountBits = 40;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr uint64_t kTagMask = (uint64_t{1} << (64 - kCountBits)) - 1;

using policy::mix64;

struct SlotGrid {
  Nanos width;
  uint64_t salt;

  explicit SlotGrid(Nanos window) {
    window = std::clamp<Nanos>(window, 1, kMaxLimiterSpan);
    const auto slots = static_cast<Nanos>(RollingWindow::kSlots);
    // Rounded up: kSlots slots cover at least the window, so nothing drops out early.
    width = (window + slots - 1) / slots;
    salt = mix64(static_cast<uint64_t>(width));
  }
  int64_t index(Nanos now) const { return floorDiv(now, width); }
  uint64_t tag(int64_t index) const { return (static_cast<uint64_t>(index) + salt) & kTagMask; }
  static size_t position(int64_t index) {
    return static_cast<size_t>(static_cast<uint64_t>(index) % RollingWindow::kRingSlots);
  }
};

// The slots total() counts, oldest first: kSlots + 1 up to the current one, then the few the
// ring has left, for writers whose clock is slightly ahead of the reader's.
constexpr int64_t kFirstLive = -static_cast<int64_t>(RollingWindow::kSlots);
constexpr int64_t kLastLive = static_cast<int64_t>(RollingWindow::kRingSlots) + kFirstLive - 1;

uint64_t slotCount(const std::atomic<uint64_t>& slot, uint64_t tag) {
  const uint64_t word = slot.load(std::memory_order_relaxed);
  return (word >> kCountBits) == tag ? (word & kCountMask) : 0;
}

double limitValue(const policy::Limits& limits, LimitKey key) {
  return static_cast<double>(limits[key]);
}

Nanos budgetWindow(const policy::Limits& limits) {
  uint64_t seconds = limits[LimitKey::kBudgetWindowSeconds];
  if (seconds == 0) seconds = policy::kDefaultBudgetWindowSeconds;
  const auto max_seconds = static_cast<uint64_t>(kMaxLimiterSpan / kNanosPerSecond);
  return static_cast<Nanos>(std::min(seconds, max_seconds)) * kNanosPerSecond;
}

}  // namespace

// ---- TokenBucket ---------------------------------------------------------------------------

TokenBucket::Result TokenBucket::take(Nanos now, double rate_per_s, double burst,
                                      double cost) noexcept {
  if (!limited(rate_per_s)) return {};
  cost = std::max(cost, 0.0);
  const Nanos increment = duration(cost, rate_per_s);
  const Nanos tolerance = duration(std::max(bucketBurst(rate_per_s, burst), cost), rate_per_s);
  int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = saturatingAdd(std::max(tat, now), increment);
    const int64_t ahead = saturatingSub(next, now);
    if (ahead > tolerance) return {false, ahead - tolerance};
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return {};
  }
}

void TokenBucket::refund(double rate_per_s, double cost) noexcept {
  if (!limited(rate_per_s)) return;
  tat_.fetch_sub(duration(std::max(cost, 0.0), rate_per_s), std::memory_order_relaxed);
}

double TokenBucket::available(Nanos now, double rate_per_s, double burst) const noexcept {
  if (!limited(rate_per_s)) return std::numeric_limits<double>::infinity();
  burst = bucketBurst(rate_per_s, burst);
  const int64_t tat = tat_.load(std::memory_order_relaxed);
  const Nanos debt = saturatingSub(std::max(tat, now), now);
  const double per_token = static_cast<double>(kNanosPerSecond) / rate_per_s;
  return std::clamp(burst - static_cast<double>(debt) / per_token, 0.0, burst);
}

// ---- Shaper --------------------------------------------------------------------------------

Nanos Shaper::account(Nanos now, uint64_t bytes, double bytes_per_s, double burst_bytes) noexcept {
  if (!limited(bytes_per_s)) return 0;
  if (!(burst_bytes > 0)) {
    burst_bytes = std::max(kShaperMinBurstBytes, bytes_per_s * kShaperBurstSeconds);
  }
  const Nanos increment = duration(static_cast<double>(bytes), bytes_per_s);
  // Unlike take(), the tolerance is the burst alone: a read larger than the burst has happened
  // anyway, and the pause pays for it.
  const Nanos tolerance = duration(burst_bytes, bytes_per_s);
  int64_t tat = tat_.load(std::memory_order_relaxed);
  int64_t next = 0;
  do {
    // Bounded so that a reader that ignores the pauses cannot push `tat` towards overflow.
    next =
        std::min(saturatingAdd(std::max(tat, now), increment), saturatingAdd(now, kMaxLimiterSpan));
  } while (!tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  return std::max<Nanos>(0, saturatingSub(next, now) - tolerance);
}

// ---- RollingWindow -------------------------------------------------------------------------

void RollingWindow::add(Nanos now, uint64_t n, Nanos window) noexcept {
  if (n == 0) return;
  const SlotGrid grid(window);
  const int64_t index = grid.index(now);
  const uint64_t tag = grid.tag(index);
  std::atomic<uint64_t>& slot = slots_[SlotGrid::position(index)];
  uint64_t word = slot.load(std::memory_order_relaxed);
  uint64_t next = 0;
  do {
    // Another tag is an older lap of the ring (or another slot width): restart the slot. A
    // writer a whole ring behind the others would restart a newer slot, but the workers share
    // one monotonic clock, so their `now`s differ by far less than a window.
    const uint64_t count = (word >> kCountBits) == tag ? (word & kCountMask) : 0;
    next = (tag << kCountBits) | (n >= kCountMask - count ? kCountMask : count + n);
  } while (!slot.compare_exchange_weak(word, next, std::memory_order_relaxed));
}

uint64_t RollingWindow::total(Nanos now, Nanos window) const noexcept {
  const SlotGrid grid(window);
  const int64_t current = grid.index(now);
  // The live slots fill the ring: one pass from the oldest visits each once.
  const int64_t first = current + kFirstLive;
  uint64_t tag = grid.tag(first);
  size_t position = SlotGrid::position(first);
  uint64_t sum = 0;
  for (size_t i = 0; i < kRingSlots; ++i) {
    sum += slotCount(slots_[position], tag);
    tag = (tag + 1) & kTagMask;
    position = (position + 1) % kRingSlots;
  }
  return sum;
}

Nanos RollingWindow::untilBelow(Nanos now, Nanos window, uint64_t limit) const noexcept {
  const SlotGrid grid(window);
  const int64_t current = grid.index(now);
  std::array<uint64_t, kRingSlots> counts{};
  uint64_t remaining = 0;
  for (int64_t i = kFirstLive; i <= kLastLive; ++i) {
    const int64_t index = current + i;
    counts[static_cast<size_t>(i - kFirstLive)] =
        slotCount(slots_[SlotGrid::position(index)], grid.tag(index));
    remaining += counts[static_cast<size_t>(i - kFirstLive)];
  }
  if (remaining < limit) return 0;
  for (int64_t i = kFirstLive; i <= kLastLive; ++i) {
    remaining -= counts[static_cast<size_t>(i - kFirstLive)];
    if (remaining < limit) {
      // Slot `index` stops counting once the current slot is kSlots + 1 past it.
      const int64_t index = current + i;
      const int64_t gone_index = saturatingAdd(index, static_cast<int64_t>(kSlots) + 1);
      int64_t gone_at = 0;
      if (__builtin_mul_overflow(gone_index, grid.width, &gone_at)) return kMaxLimiterSpan;
      return std::clamp<Nanos>(saturatingSub(gone_at, now), 0, kMaxLimiterSpan);
    }
  }
  return kMaxLimiterSpan;
}

// ---- Concurrency ---------------------------------------------------------------------------

bool Concurrency::tryAcquire(uint64_t limit) noexcept {
  if (limit == 0) {
    count_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  uint64_t current = count_.load(std::memory_order_relaxed);
  do {
    if (current >= limit) return false;
  } while (!count_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void Concurrency::release() noexcept {
  uint64_t current = count_.load(std::memory_order_relaxed);
  do {
    if (current == 0) return;
  } while (!count_.compare_exchange_weak(current, current - 1, std::memory_order_relaxed));
}

uint64_t Concurrency::current() const noexcept { return count_.load(std::memory_order_relaxed); }

// ---- SessionLimiter ------------------------------------------------------------------------

const char* limitHitName(LimitHit hit) noexcept {
  switch (hit) {
    case LimitHit::kNone:
      return "none";
    case LimitHit::kRequestRate:
      return "request-rate";
    case LimitHit::kDestinationRate:
      return "destination-rate";
    case LimitHit::kTunnelRate:
      return "tunnel-rate";
    case LimitHit::kConnections:
      return "connections";
    case LimitHit::kTunnels:
      return "tunnels";
    case LimitHit::kUploadBudget:
      return "upload-budget";
    case LimitHit::kDownloadBudget:
      return "download-budget";
  }
  return "unknown";
}

size_t SessionLimiter::destinationSlot(std::string_view destination) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then mixed so that every bit counts
  for (const char c : destination) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return static_cast<size_t>(mix64(h) % kDestinationBuckets);
}

Admission SessionLimiter::refuse(LimitHit hit, Nanos retry_after) noexcept {
  hits_[static_cast<size_t>(hit)].fetch_add(1, std::memory_order_relaxed);
  return {hit, std::max<Nanos>(retry_after, 1)};
}

Admission SessionLimiter::admitRequest(Nanos now, const policy::Limits& limits,
                                       std::string_view destination, bool is_connect) noexcept {
  const uint64_t upload_budget = limits[LimitKey::kUploadBudgetBytes];
  const uint64_t download_budget = limits[LimitKey::kDownloadBudgetBytes];
  if (upload_budget != 0 || download_budget != 0) {
    const Nanos window = budgetWindow(limits);
    if (upload_budget != 0 && upload_window_.total(now, window) >= upload_budget) {
      return refuse(
          LimitHit::kUploadBudget,
          std::max(kNanosPerSecond, upload_window_.untilBelow(now, window, upload_budget)));
    }
    if (download_budget != 0 && download_window_.total(now, window) >= download_budget) {
      return refuse(
          LimitHit::kDownloadBudget,
          std::max(kNanosPerSecond, download_window_.untilBelow(now, window, download_budget)));
    }
  }

  const double request_rate = limitValue(limits, LimitKey::kRequestsPerSecond);
  const TokenBucket::Result request =
      requests_.take(now, request_rate, limitValue(limits, LimitKey::kRequestBurst));
  if (!request.allowed) return refuse(LimitHit::kRequestRate, request.retry_after);

  const double destination_rate = limitValue(limits, LimitKey::kDestinationRequestsPerSecond);
  TokenBucket& per_destination = destinations_[destinationSlot(destination)];
  const TokenBucket::Result to_destination =
      per_destination.take(now, destination_rate, limitValue(limits, LimitKey::kDestinationBurst));
  if (!to_destination.allowed) {
    requests_.refund(request_rate);
    return refuse(LimitHit::kDestinationRate, to_destination.retry_after);
  }

  if (is_connect) {
    const double tunnel_rate = limitValue(limits, LimitKey::kTunnelsPerSecond);
    const TokenBucket::Result tunnel =
        tunnel_rate_.take(now, tunnel_rate, limitValue(limits, LimitKey::kTunnelBurst));
    if (!tunnel.allowed) {
      per_destination.refund(destination_rate);
      requests_.refund(request_rate);
      return refuse(LimitHit::kTunnelRate, tunnel.retry_after);
    }
  }
  return {};
}

bool SessionLimiter::acquireConnection(const policy::Limits& limits) noexcept {
  if (connections_.tryAcquire(limits[LimitKey::kMaxConnections])) return true;
  hits_[static_cast<size_t>(LimitHit::kConnections)].fetch_add(1, std::memory_order_relaxed);
  return false;
}

void SessionLimiter::releaseConnection() noexcept { connections_.release(); }

bool SessionLimiter::acquireTunnel(const policy::Limits& limits) noexcept {
  if (tunnels_.tryAcquire(limits[LimitKey::kMaxTunnels])) return true;
  hits_[static_cast<size_t>(LimitHit::kTunnels)].fetch_add(1, std::memory_order_relaxed);
  return false;
}

void SessionLimiter::releaseTunnel() noexcept { tunnels_.release(); }

Nanos SessionLimiter::onBytes(Nanos now, const policy::Limits& limits, uint64_t bytes,
                              bool upload) noexcept {
  RollingWindow& window = upload ? upload_window_ : download_window_;
  Shaper& shaper = upload ? upload_shaper_ : download_shaper_;
  window.add(now, bytes, budgetWindow(limits));
  if (spent(now, limits, upload)) {
    uint64_t trickle = limits[LimitKey::kTrickleBytesPerSecond];
    if (trickle == 0) trickle = policy::kDefaultTrickleBytesPerSecond;
    const auto rate = static_cast<double>(trickle);
    return shaper.account(now, bytes, rate, rate);
  }
  return shaper.account(now, bytes,
                        limitValue(limits, upload ? LimitKey::kUploadBytesPerSecond
                                                  : LimitKey::kDownloadBytesPerSecond));
}

Nanos SessionLimiter::onUpload(Nanos now, const policy::Limits& limits, uint64_t bytes) noexcept {
  return onBytes(now, limits, bytes, true);
}

Nanos SessionLimiter::onDownload(Nanos now, const policy::Limits& limits, uint64_t bytes) noexcept {
  return onBytes(now, limits, bytes, false);
}

bool SessionLimiter::spent(Nanos now, const policy::Limits& limits, bool upload) const noexcept {
  const uint64_t budget =
      limits[upload ? LimitKey::kUploadBudgetBytes : LimitKey::kDownloadBudgetBytes];
  if (budget == 0) return false;
  const RollingWindow& window = upload ? upload_window_ : download_window_;
  return window.total(now, budgetWindow(limits)) >= budget;
}

SessionLimiter::Usage SessionLimiter::usage(Nanos now,
                                            const policy::Limits& limits) const noexcept {
  Usage out;
  const double request_rate = limitValue(limits, LimitKey::kRequestsPerSecond);
  if (limited(request_rate)) {
    out.request_tokens =
        requests_.available(now, request_rate, limitValue(limits, LimitKey::kRequestBurst));
  }
  const double tunnel_rate = limitValue(limits, LimitKey::kTunnelsPerSecond);
  if (limited(tunnel_rate)) {
    out.tunnel_tokens =
        tunnel_rate_.available(now, tunnel_rate, limitValue(limits, LimitKey::kTunnelBurst));
  }
  out.connections = connections_.current();
  out.tunnels = tunnels_.current();
  const Nanos window = budgetWindow(limits);
  out.upload_bytes = upload_window_.total(now, window);
  out.download_bytes = download_window_.total(now, window);
  const auto remaining = [](uint64_t budget, uint64_t used) -> std::optional<uint64_t> {
    if (budget == 0) return std::nullopt;
    return used >= budget ? 0 : budget - used;
  };
  out.upload_remaining = remaining(limits[LimitKey::kUploadBudgetBytes], out.upload_bytes);
  out.download_remaining = remaining(limits[LimitKey::kDownloadBudgetBytes], out.download_bytes);
  for (size_t i = 0; i < kLimitHitCount; ++i) {
    out.hits[i] = hits_[i].load(std::memory_order_relaxed);
  }
  return out;
}

}  // namespace gatehouse::common
