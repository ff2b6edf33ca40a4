// catalogue_runner: every applicable row of BAD-INPUTS.md against the real gatehouse binary.
//
// Usage: catalogue_runner [ID-PREFIX...]   (no argument: every case; CATALOGUE_VERBOSE=1 also
// lists the passing cases with their bytes)
// Prints every failure (id, bytes, expected vs actual), the case counts per group and finally
// exactly "N passed, N failed"; exits 1 when anything failed, 2 when the rig did not start.
//
// Cases run concurrently on a small thread pool (one proxy per profile, shared by its cases);
// cases marked serial run alone afterwards. After the run every case is checked once more
// against what the sinks, canaries and the DNS server recorded, each proxy's INV-ALIVE is
// asserted (probe, fds, RSS, SIGTERM exit 0), then the log-wide invariants (J1, J3, J4).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/catalogue/catalogue.h"
#include "tests/integration/git_peer.h"

namespace gatehouse::catalogue {
namespace {

constexpr int kThreads = 8;

struct Result {
  std::vector<std::string> failures;
  std::string sent;
};

std::string groupOf(const Case& c) {
  if (!c.group.empty()) return c.group;
  if (c.id.empty()) return "?";
  return std::string(1, c.id[0]);
}

std::string canonicalName(std::string n) {
  for (char& ch : n) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  if (!n.empty() && n.front() == '[' && n.back() == ']') n = n.substr(1, n.size() - 2);
  if (!n.empty() && n.back() == '.') n.pop_back();
  return n;
}

// The checks every case gets once all cases ran: what the sink, the echo endpoint, the canaries
// and the DNS server recorded under its tag.
void afterRunChecks(World& world, const std::vector<Case>& cases, std::vector<Result>& results,
                    const std::set<std::string>& queried) {
  std::map<int, std::vector<SinkRecord>> sink;
  for (SinkRecord& r : world.sink().records()) sink[r.tag].push_back(std::move(r));
  std::map<int, std::vector<SinkRecord>> canary;
  for (const auto& c : world.canaries()) {
    for (SinkRecord& r : c->records()) canary[r.tag].push_back(std::move(r));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const int tag = static_cast<int>(i) + 1;
    Ctx ctx(world, c, tag);
    size_t main = 0;
    size_t after = 0;
    size_t early = 0;
    size_t incomplete = 0;
    for (const SinkRecord& r : sink[tag]) {
      if (r.suffix.empty()) ++main;
      if (r.suffix == "/after") ++after;
      if (r.suffix == "/early") ++early;
      if (r.suffix.rfind("(incomplete)", 0) == 0) ++incomplete;
      for (const std::string& v : r.violations) {
        ctx.fail("strict sink: " + v + " in " + escapeBytes(r.request.head + r.raw, 500));
      }
      if (r.suffix.empty() && c.check && r.violations.empty()) {
        const std::string e = c.check(r, ctx);
        if (!e.empty()) ctx.fail(e + " (request: " + escapeBytes(r.request.head, 400) + ")");
      }
    }
    ctx.expect(early == 0, "INV-NOBYTES: bytes sent before the decision reached the sink as " +
                               std::to_string(early) + " request(s)");
    if (c.upstream >= 0) {
      if (c.head_may_reach) {
        ctx.expect(main + incomplete <= 1,
                   "upstream: expected at most the head of the request, "
                   "got " +
                       std::to_string(main + incomplete) + " requests");
      } else {
        ctx.expect(main == static_cast<size_t>(c.upstream), "upstream: expected " +
                                                                std::to_string(c.upstream) +
                                                                " request(s) at the sink, "
                                                                "actual " +
                                                                std::to_string(main));
      }
      ctx.expect(after == static_cast<size_t>(c.upstream_after),
                 std::string(c.upstream_after == 0 ? "INV-CLOSE: the request after the case's "
                                                     "bytes reached the sink"
                                                   : "the follow-up request did not reach the "
                                                     "sink") +
                     " (expected " + std::to_string(c.upstream_after) + ", actual " +
                     std::to_string(after) + ")");
    }
    for (const SinkRecord& r : canary[tag]) {
      ctx.fail("INV-NOCONN: a canary received the case's bytes: " + escapeBytes(r.raw, 300));
    }
    std::vector<std::string> names;
    for (const std::string& n : c.no_dns) names.push_back(ctx.expand(n));
    for (const std::string& n : names) {
      ctx.expect(queried.count(canonicalName(n)) == 0,
                 "INV-NODNS: the denied name " + n + " was queried");
    }
    for (std::string& f : ctx.failures) results[i].failures.push_back(std::move(f));
  }
}

}  // namespace

int runMain(int argc, char** argv) {
  const auto started = Clock::now();
  std::vector<std::string> filters(argv + 1, argv + argc);
  World world;
  std::string error;
  if (!world.start(&error)) {
    std::cerr << "catalogue: the rig did not start: " << error << "\n";
    return 2;
  }
  std::vector<Case> cases;
  for (auto table : {targetCases, addressCases, connectCases, framingCases, headerCases, gitCases,
                     configCases, generatedCases}) {
    for (Case& c : table()) {
      if (!filters.empty() &&
          std::none_of(filters.begin(), filters.end(),
                       [&](const std::string& f) { return c.id.rfind(f, 0) == 0; })) {
        continue;
      }
      cases.push_back(std::move(c));
    }
  }
  std::vector<Result> results(cases.size());

  // Baselines (INV-ALIVE): fds before any case, RSS after a first request.
  for (Profile p :
       {Profile::kMain, Profile::kLimits, Profile::kLoop, Profile::kGit, Profile::kGitRedirect}) {
    Rig& rig = world.rig(p);
    rig.base_fds = rig.proxy->fdCount();
    const std::string a = "allowed.test:" + std::to_string(world.sinkPort());
    testing::proxyExchange(rig.proxy->port(), "GET http://" + a + "/cat/0/warm HTTP/1.1\r\nHost: " +
                                                  a + "\r\n" + rig.probe_headers + "\r\n");
    rig.base_rss_kib = rig.proxy->rssKiB();
  }
  const auto setup_ms = testing::elapsedMs(started);

  auto runOne = [&](size_t i) {
    Ctx ctx(world, cases[i], static_cast<int>(i) + 1);
    runCase(ctx);
    results[i].sent = ctx.sent;
    for (std::string& n : ctx.extra_no_dns) cases[i].no_dns.push_back(std::move(n));
    results[i].failures = std::move(ctx.failures);
  };
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < cases.size(); i = next++) {
        if (!cases[i].serial) runOne(i);
      }
    });
  }
  for (auto& t : pool) t.join();
  const auto parallel_ms = testing::elapsedMs(started) - setup_ms;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].serial) runOne(i);
  }

  // Every case against what the upstream side recorded.
  std::set<std::string> queried;
  for (const auto& q : world.dns().queries()) queried.insert(q.name);
  afterRunChecks(world, cases, results, queried);

  // Run-wide invariants, each reported as a case of its own.
  std::vector<std::pair<Case, Result>> globals;
  auto global = [&](const std::string& id, const std::string& why) -> Result& {
    Case c;
    c.id = id;
    c.why = why;
    c.group = "INV";
    globals.emplace_back(std::move(c), Result{});
    return globals.back().second;
  };
  {
    Result& r = global("INV-NOCONN.canaries", "no canary on 127.0.0.1/.3/.4 was ever dialed");
    for (const auto& c : world.canaries()) {
      if (c->accepts() != 0) {
        std::string first;
        for (const SinkRecord& rec : c->records()) first += " [" + escapeBytes(rec.raw, 120) + "]";
        r.failures.push_back("canary " + c->ip() + ":" + std::to_string(c->port()) + " accepted " +
                             std::to_string(c->accepts()) + " connection(s):" + first);
      }
    }
  }
  {
    Result& r = global("INV-NOBYTES.untagged",
                       "everything at the sink belongs to a case that meant to send it");
    for (const SinkRecord& rec : world.sink().records()) {
      if (rec.tag < 0 || rec.tag > static_cast<int>(cases.size())) {
        r.failures.push_back("untagged request at the sink: " +
                             escapeBytes(rec.request.head + rec.raw, 300));
      }
    }
  }
  std::string metrics_main;
  std::string metrics_git;
  auto fetchMetrics = [&](Profile p) {
    const uint16_t port = world.rig(p).proxy->adminPort();
    auto c = RawClient::connect("127.0.0.1", port);
    if (c == nullptr) return std::string();
    c->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    return c->readUntilClose(milliseconds(3000));
  };
  metrics_main = fetchMetrics(Profile::kMain);
  metrics_git = fetchMetrics(Profile::kGit);

  for (Profile p :
       {Profile::kMain, Profile::kLimits, Profile::kLoop, Profile::kGit, Profile::kGitRedirect}) {
    Rig& rig = world.rig(p);
    Result& r = global(std::string("INV-ALIVE.") + profileName(p),
                       "the proxy survived, answers a probe, fds and RSS back near baseline, "
                       "SIGTERM exits 0");
    if (!rig.proxy->alive()) {
      r.failures.push_back("the proxy exited; stderr: " +
                           escapeBytes(rig.proxy->stderrText(), 800));
      continue;
    }
    const std::string a = "allowed.test:" + std::to_string(world.sinkPort());
    auto probe = testing::proxyExchange(rig.proxy->port(),
                                        "GET http://" + a + "/cat/0/probe HTTP/1.1\r\nHost: " + a +
                                            "\r\n" + rig.probe_headers + "\r\n",
                                        milliseconds(3000));
    if (!probe || probe->status != 200) {
      r.failures.push_back("probe: expected 200, actual " +
                           (probe ? std::to_string(probe->status) : std::string("no response")));
    }
    // Idle upstream connections end from the sink's side; the proxy must then let go of them.
    world.sink().closeIdle();
    world.echo().closeIdle();
    int fds = rig.proxy->fdCount();
    const auto deadline = Clock::now() + milliseconds(3000);
    while (fds > rig.base_fds + 2 && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
      fds = rig.proxy->fdCount();
    }
    if (fds > rig.base_fds + 2) {
      r.failures.push_back("fd count: expected <= " + std::to_string(rig.base_fds + 2) +
                           " (baseline " + std::to_string(rig.base_fds) + "), actual " +
                           std::to_string(fds));
    }
    const long rss = rig.proxy->rssKiB();
    const long limit = rig.base_rss_kib + 32 * 1024;
    if (!testing::kSanitizerBuild && rss > limit) {
      r.failures.push_back("RSS: expected <= " + std::to_string(limit) + " KiB (baseline " +
                           std::to_string(rig.base_rss_kib) + "), actual " + std::to_string(rss));
    }
    std::cerr << "catalogue: " << profileName(p) << ": fds " << rig.base_fds << " -> " << fds
              << ", RSS " << rig.base_rss_kib << " -> " << rss << " KiB\n";
    const auto status = rig.proxy->stop(milliseconds(8000));
    if (status != std::optional<int>(0)) {
      r.failures.push_back("SIGTERM: expected exit 0, actual " +
                           (status ? std::to_string(*status) : std::string("no exit")));
    }
  }

  // Rows checked against the complete logs.
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].post) continue;
    Ctx ctx(world, cases[i], static_cast<int>(i) + 1);
    cases[i].post(ctx);
    for (std::string& f : ctx.failures) results[i].failures.push_back(std::move(f));
  }
  {
    Result& r = global("J3.decision-lines",
                       "every decision line of every proxy is one JSON object without raw control "
                       "bytes (no log forging)");
    for (Profile p :
         {Profile::kMain, Profile::kLimits, Profile::kLoop, Profile::kGit, Profile::kGitRedirect}) {
      for (const std::string& line : world.rig(p).proxy->decisionLines()) {
        const bool raw_ctl = std::any_of(line.begin(), line.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20;
        });
        if (raw_ctl || !testing::parseJsonObject(line)) {
          r.failures.push_back(std::string(profileName(p)) + ": " + escapeBytes(line, 300));
          if (r.failures.size() > 5) break;
        }
      }
    }
  }
  {
    Result& r = global("J1.token",
                       "the canary token appears only in what the git upstream "
                       "received: never in logs, metrics, responses or other sinks");
    const std::string& token = world.token();
    auto scan = [&](const std::string& where, const std::string& text) {
      if (text.find(token) != std::string::npos) r.failures.push_back("token in " + where);
    };
    for (Profile p :
         {Profile::kMain, Profile::kLimits, Profile::kLoop, Profile::kGit, Profile::kGitRedirect}) {
      scan(std::string(profileName(p)) + " stdout", world.rig(p).proxy->process().stdoutText());
      scan(std::string(profileName(p)) + " stderr", world.rig(p).proxy->stderrText());
    }
    scan("/metrics", metrics_main + metrics_git);
    scan("what clients received", world.seen());
    scan("the git upstream's output", world.peerOutput());
    for (const SinkRecord& rec : world.sink().records()) {
      scan("a request at the strict sink", rec.request.head + rec.request.body + rec.raw);
    }
    for (const SinkRecord& rec : world.echo().records()) scan("a tunnel", rec.raw);
    for (const auto& c : world.canaries()) {
      for (const SinkRecord& rec : c->records()) scan("a canary", rec.raw);
    }
    for (const std::string& line : world.peerRequests()) {
      // The only place: the Authorization value the proxy swapped in.
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("headers") && j["headers"].is_array()) {
        for (auto& h : j["headers"]) {
          if (!h.is_array() || h.size() != 2) continue;
          const std::string name = h[0].get<std::string>();
          const std::string value = h[1].get<std::string>();
          if (value.find(token) == std::string::npos) continue;
          if (!equalsNoCase(name, "authorization") ||
              (value != testing::gitBasicAuth(token) && value != "Bearer " + token)) {
            r.failures.push_back("token in the upstream header " + name);
          }
          h[1] = "";
        }
      }
      scan("a git upstream request outside its Authorization header", j.dump());
    }
  }
  {
    Result& r = global("J4.metrics",
                       "metric label values come from the configuration only: no "
                       "host names or paths");
    if (metrics_main.find("gatehouse_") == std::string::npos) {
      r.failures.push_back("/metrics of the main profile did not answer");
    }
    for (const char* needle : {"evil.test", "/cat/", "attacker", ".api.test\"", "allowed.test\""}) {
      if (metrics_main.find(needle) != std::string::npos) {
        r.failures.push_back(std::string("/metrics carries ") + needle);
      }
    }
  }

  // The report (CATALOGUE_VERBOSE=1: passing cases too).
  const bool verbose = std::getenv("CATALOGUE_VERBOSE") != nullptr;
  size_t passed = 0;
  size_t failed = 0;
  std::vector<std::string> known;
  std::map<std::string, std::pair<size_t, size_t>> groups;  // hand-written, generated
  auto report = [&](const Case& c, int tag, const Result& r) {
    auto& g = groups[groupOf(c)];
    (c.generated ? g.second : g.first)++;
    if (!c.known_bug.empty()) {
      if (r.failures.empty()) {
        ++failed;
        std::cout << "FAIL " << c.id << " passes now: remove its known_bug mark (" << c.known_bug
                  << ")\n";
        return;
      }
      known.push_back(c.id);
      std::cout << "KNOWN " << c.id << " [#" << tag << ", " << profileName(c.profile) << "] "
                << c.known_bug << "\n";
      for (const std::string& f : r.failures) std::cout << "  - " << f << "\n";
      return;
    }
    if (r.failures.empty()) {
      ++passed;
      if (verbose) {
        std::cout << "ok   " << c.id << " [#" << tag << "] " << c.why << "\n";
        if (!r.sent.empty()) std::cout << "  bytes: " << escapeBytes(r.sent, 300) << "\n";
      }
      return;
    }
    ++failed;
    std::cout << "FAIL " << c.id << " [#" << tag << ", " << profileName(c.profile) << "] " << c.why
              << "\n";
    if (!r.sent.empty()) std::cout << "  bytes: " << escapeBytes(r.sent, 600) << "\n";
    for (const std::string& f : r.failures) std::cout << "  - " << f << "\n";
    if (tag > 0) {
      for (const SinkRecord& rec : world.sink().recordsFor(tag)) {
        std::cout << "    sink saw on connection " << rec.connection << ": "
                  << escapeBytes(rec.request.head.empty() ? rec.raw : rec.request.head, 160)
                  << "\n";
      }
    }
  };
  for (size_t i = 0; i < cases.size(); ++i) report(cases[i], static_cast<int>(i) + 1, results[i]);
  for (const auto& [c, r] : globals) report(c, 0, r);
  std::cout << "cases per group (hand-written + generated):";
  size_t hand = 0;
  size_t gen = 0;
  for (const auto& [g, n] : groups) {
    std::cout << " " << g << "=" << n.first << "+" << n.second;
    hand += n.first;
    gen += n.second;
  }
  std::cout << "\ntotal: " << hand << " hand-written, " << gen << " generated; setup " << setup_ms
            << " ms, parallel phase " << parallel_ms << " ms, whole run "
            << testing::elapsedMs(started) << " ms\n";
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  if (!known.empty()) {
    std::cout << known.size() << " known proxy bug" << (known.size() == 1 ? "" : "s")
              << " still failing (not counted):";
    for (const std::string& id : known) std::cout << " " << id;
    std::cout << std::endl;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace gatehouse::catalogue

int main(int argc, char** argv) { return gatehouse::catalogue::runMain(argc, argv); }
