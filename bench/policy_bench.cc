// Micro benchmarks of the policy decision (SPEC §2: lookup cost must not grow with list size).
//
//   Trusted        the default environment (201 entries of the built-in Trusted list)
//   Custom/10000   a custom environment of 10,000 random entries (exact, *. and **.)
//   Custom/100000  the same with 100,000 entries
//
// Each is queried with hits (hosts under the entries) and misses (random names under the same
// top-level domains), 2 to 6 labels, from a pool of 4,096 hosts visited in a shuffled order so
// that a large table does not stay in cache by accident.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "control/config.h"
#include "policy/host.h"
#include "policy/policy.h"

namespace gatehouse::policy {
namespace {

constexpr size_t kPool = 4096;
const char* const kTlds[] = {"com", "org", "net", "io", "dev", "cloud"};

std::string randomLabel(std::mt19937_64& rng) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<int> len(3, 12);
  std::uniform_int_distribution<int> ch(0, 35);
  std::string s;
  int n = len(rng);
  s.push_back(kChars[ch(rng) % 26]);
  for (int i = 1; i < n; ++i) s.push_back(kChars[ch(rng)]);
  return s;
}

std::string randomDomain(std::mt19937_64& rng, int labels) {
  std::string s = kTlds[rng() % std::size(kTlds)];
  for (int i = 1; i < labels; ++i) s = randomLabel(rng) + "." + s;
  return s;
}

TrustedList trusted() {
  ConfigIssues issues;
  return control::loadTrustedList(control::embeddedTrustedToml(), "<embedded>", issues);
}

struct Fixture {
  std::shared_ptr<PolicySnapshot> snapshot;
  std::string env;
  std::vector<Host> hits;
  std::vector<Host> misses;
};

Host host(const std::string& text) { return *canonicalizeHost(text).host; }

// Hosts 2-6 labels long that an entry matches: the name itself for exact/**, a subdomain for *.
void addHit(std::mt19937_64& rng, const std::string& entry, std::vector<Host>& out) {
  std::string base = entry;
  bool wildcard = false;
  if (base.rfind("**.", 0) == 0) {
    base = base.substr(3);
    wildcard = true;
  } else if (base.rfind("*.", 0) == 0) {
    base = base.substr(2);
    wildcard = true;
  }
  std::string h = base;
  if (wildcard) {
    size_t labels = std::count(base.begin(), base.end(), '.') + 1;
    size_t extra = 1 + rng() % 2;
    for (size_t i = 0; i < extra && labels + i < 6; ++i) h = randomLabel(rng) + "." + h;
  }
  out.push_back(host(h));
}

Fixture& trustedFixture() {
  static Fixture f = [] {
    Fixture fx;
    PolicyConfig cfg;
    cfg.trusted = trusted();
    auto compiled = compilePolicy(cfg);
    fx.snapshot = compiled.snapshot;
    fx.env = "default";
    std::mt19937_64 rng(1);
    std::vector<std::string> entries;
    for (const auto& g : cfg.trusted.groups) {
      for (const auto& d : g.domains) entries.push_back(d.text);
    }
    while (fx.hits.size() < kPool) addHit(rng, entries[rng() % entries.size()], fx.hits);
    while (fx.misses.size() < kPool) fx.misses.push_back(host(randomDomain(rng, 2 + rng() % 5)));
    std::shuffle(fx.hits.begin(), fx.hits.end(), rng);
    return fx;
  }();
  return f;
}

Fixture& customFixture(int n) {
  static std::map<int, Fixture> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  Fixture fx;
  PolicyConfig cfg;
  cfg.trusted = trusted();
  EnvironmentConfig env;
  env.name = "big";
  env.level = AccessLevel::kCustom;
  env.include_trusted = true;
  std::mt19937_64 rng(42);
  std::vector<std::string> entries;
  for (int i = 0; i < n; ++i) {
    std::string d = randomDomain(rng, 2 + static_cast<int>(rng() % 3));
    switch (rng() % 3) {
      case 0:
        entries.push_back(d);
        break;
      case 1:
        entries.push_back("*." + d);
        break;
      default:
        entries.push_back("**." + d);
        break;
    }
    env.domains.push_back(PatternEntry{entries.back(), {}});
  }
  cfg.environments.push_back(env);
  auto compiled = compilePolicy(cfg);
  if (!compiled.snapshot) {
    std::fprintf(stderr, "bench config invalid: %s\n", compiled.issues[0].toString().c_str());
    std::abort();
  }
  fx.snapshot = compiled.snapshot;
  fx.env = "big";
  while (fx.hits.size() < kPool) addHit(rng, entries[rng() % entries.size()], fx.hits);
  while (fx.misses.size() < kPool) fx.misses.push_back(host(randomDomain(rng, 2 + rng() % 5)));
  std::shuffle(fx.hits.begin(), fx.hits.end(), rng);
  return cache.emplace(n, std::move(fx)).first->second;
}

// `working_set` hosts of the pool are visited round-robin: kPool is a cold, random access
// pattern over the whole list; a small set is a sandbox that talks to a few hosts repeatedly.
void run(benchmark::State& state, Fixture& fx, const std::vector<Host>& hosts, bool expect_allow,
         size_t working_set = kPool) {
  const size_t mask = working_set - 1;
  size_t i = 0;
  int64_t allowed = 0;
  for (auto _ : state) {
    RequestInfo req{fx.env, "GET", &hosts[i], 443};
    Decision d = fx.snapshot->check(req);
    allowed += d.allowed();
    benchmark::DoNotOptimize(d);
    i = (i + 1) & mask;
  }
  state.counters["allowed"] =
      benchmark::Counter(static_cast<double>(allowed), benchmark::Counter::kAvgIterations);
  // A benchmark that measured the wrong path would be worse than none.
  if (expect_allow ? allowed * 100 < state.iterations() * 99 : allowed * 100 > state.iterations()) {
    state.SkipWithError("unexpected decisions: the fixture is wrong");
  }
}

void BM_Check_Trusted_Hit(benchmark::State& s) {
  run(s, trustedFixture(), trustedFixture().hits, true);
}
void BM_Check_Trusted_Miss(benchmark::State& s) {
  run(s, trustedFixture(), trustedFixture().misses, false);
}
void BM_Check_Custom_Hit(benchmark::State& s) {
  Fixture& f = customFixture(static_cast<int>(s.range(0)));
  run(s, f, f.hits, true);
}
void BM_Check_Custom_Miss(benchmark::State& s) {
  Fixture& f = customFixture(static_cast<int>(s.range(0)));
  run(s, f, f.misses, false);
}

// The same decisions for a working set of 64 hosts (the common case: a sandbox's traffic goes to
// a few hosts again and again).
void BM_Check_Trusted_HitHot(benchmark::State& s) {
  run(s, trustedFixture(), trustedFixture().hits, true, 64);
}
void BM_Check_Custom_HitHot(benchmark::State& s) {
  Fixture& f = customFixture(static_cast<int>(s.range(0)));
  run(s, f, f.hits, true, 64);
}

// Reference: one dependent random read in a buffer the size of the 100,000-entry table (32 MiB),
// i.e. the memory latency that bounds a cold lookup in a table that does not fit in cache.
void BM_MemoryLatency(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)) / sizeof(size_t);
  std::vector<size_t> next(n);
  std::iota(next.begin(), next.end(), 0);
  std::mt19937_64 rng(3);
  // Sattolo's algorithm: one cycle through every element, so each read depends on the last.
  for (size_t k = n - 1; k > 0; --k) std::swap(next[k], next[rng() % k]);
  size_t p = 0;
  for (auto _ : state) {
    p = next[p];
    benchmark::DoNotOptimize(p);
  }
}

void BM_CanonicalizeHost(benchmark::State& state) {
  std::mt19937_64 rng(7);
  std::vector<std::string> raw;
  for (size_t i = 0; i < kPool; ++i) {
    std::string h = randomDomain(rng, 2 + rng() % 5);
    if (i % 2) h[0] = static_cast<char>(h[0] - 'a' + 'A');
    raw.push_back(h);
  }
  size_t i = 0;
  for (auto _ : state) {
    HostParse p = canonicalizeHost(raw[i]);
    benchmark::DoNotOptimize(p);
    i = (i + 1) & (kPool - 1);
  }
}

BENCHMARK(BM_Check_Trusted_Hit);
BENCHMARK(BM_Check_Trusted_Miss);
BENCHMARK(BM_Check_Custom_Hit)->Arg(10000)->Arg(100000);
BENCHMARK(BM_Check_Custom_Miss)->Arg(10000)->Arg(100000);
BENCHMARK(BM_Check_Trusted_HitHot);
BENCHMARK(BM_Check_Custom_HitHot)->Arg(10000)->Arg(100000);
BENCHMARK(BM_MemoryLatency)->Arg(32 << 20);
BENCHMARK(BM_CanonicalizeHost);

}  // namespace
}  // namespace gatehouse::policy

BENCHMARK_MAIN();
