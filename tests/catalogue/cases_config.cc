// BAD-INPUTS L (policy and configuration reliability) and B15 (policy-file globs). Bad files go
// to `gatehouse check-config` (exit 1, every problem with file:line:col) and, for a few, to
// `gatehouse serve` (refuses to start); bad reloads go to a running proxy (the loop profile),
// which must keep its old policy.
//
// Choices asserted: L1 "duplicate rules" — duplicate TOML keys are errors; a host listed twice is
// a lint warning (SPEC §2), reported by `gatehouse policy lint`, not a load error.
#include <atomic>
#include <random>
#include <thread>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

struct Outcome {
  int exit_code = -1;
  bool finished = false;
  std::string out;
};

Outcome run(const std::vector<std::string>& args, const std::string& toml) {
  testing::TempDir dir;
  const std::string file = dir.write("policy.toml", toml);
  std::vector<std::string> argv = {GATEHOUSE_BINARY};
  for (const std::string& a : args) argv.push_back(a == "FILE" ? file : a);
  const testing::CommandResult r = testing::runCommand(argv, milliseconds(8000));
  return {r.exit_code, r.finished, r.out + r.err};
}

// `check-config` refuses the file with a positioned message.
Case badConfig(std::string id, std::string why, std::string toml, std::string must_say = "") {
  return custom(std::move(id), std::move(why),
                [toml, must_say](Ctx& ctx) {
                  ctx.sent = toml;
                  const Outcome o = run({"check-config", "FILE"}, toml);
                  ctx.expect(o.finished, "check-config hung");
                  ctx.expect(o.exit_code == 1, "check-config: expected exit 1, actual " +
                                                   std::to_string(o.exit_code) + ": " +
                                                   escapeBytes(o.out, 300));
                  ctx.expect(o.out.find("policy.toml:") != std::string::npos,
                             "the message does not name file:line:col: " + escapeBytes(o.out, 300));
                  if (!must_say.empty()) {
                    ctx.expect(o.out.find(must_say) != std::string::npos,
                               "the message does not mention " + must_say + ": " +
                                   escapeBytes(o.out, 300));
                  }
                })
      .on(Profile::kNone);
}

std::string domains(const std::string& entry) {
  return "[environment]\nlevel = \"custom\"\ndomains = [\"" + entry + "\"]\n";
}

}  // namespace

std::vector<Case> configCases() {
  std::vector<Case> c;
  // ---- B15: globs ----
  const std::pair<const char*, const char*> globs[] = {
      {"B15", "*"},
      {"B15.b", "*."},
      {"B15.c", "*.*.x.test"},
      {"B15.d", "a.*.b"},
      {"B15.e", "*x.test"},
      {"B15.f", "ALLOWED.TEST"},
      {"B15.g", "\xd0\xb0pi.test"},
      {"B15.h", "*.com"},
      {"B15.i", "https://x.test/"},
      {"B15.j", "a..b.test"},
      {"B15.k", "x.test:0"},
      {"B15.l", "10.0.0.0/33"},
      {"B15.m", "allowed.test."},
      {"B15.n", "**"},
      {"B15.o", "x.test:65536"},
      {"B15.p", "*.test"},
      {"B15.q", "a b.test"},
      {"B15.r", "**.*.x.test"},
  };
  for (const auto& [id, glob] : globs) {
    c.push_back(badConfig(id, std::string("policy entry \"") + glob + "\" is refused at load",
                          domains(glob)));
  }
  c.push_back(
      custom("B15.s", "well-formed entries load (control for the rows above)", [](Ctx& ctx) {
        for (const char* ok :
             {"allowed.test", "*.api.test", "**.x.test", "x.test:8443", "10.0.0.0/8"}) {
          const Outcome o = run({"check-config", "FILE"}, domains(ok));
          ctx.expect(o.exit_code == 0,
                     std::string(ok) + " was refused: " + escapeBytes(o.out, 200));
        }
      }).on(Profile::kNone));
  // ---- L1 ----
  c.push_back(badConfig("L1", "invalid TOML", "[environment\nlevel = \"custom\"\n"));
  c.push_back(
      badConfig("L1.b", "an unknown key", "[listener]\nadress = \"127.0.0.1:0\"\n", "adress"));
  c.push_back(badConfig("L1.c", "an unknown table", "[enviroment]\nlevel = \"custom\"\n"));
  c.push_back(badConfig("L1.d", "a duplicate key",
                        "[environment]\nlevel = \"custom\"\nlevel = \"none\"\n"));
  c.push_back(badConfig("L1.e", "a duplicate table",
                        "[environment]\nlevel = \"custom\"\n[environment]\nports = [80]\n"));
  c.push_back(
      badConfig("L1.f", "a wrong type (ports as a string)", "[environment]\nports = \"80\"\n"));
  c.push_back(
      badConfig("L1.g", "a wrong type (workers as a string)", "[listener]\nworkers = \"two\"\n"));
  c.push_back(
      badConfig("L1.h", "an unknown access level", "[environment]\nlevel = \"everything\"\n"));
  c.push_back(badConfig("L1.i", "a port out of range", "[environment]\nports = [0]\n"));
  c.push_back(
      badConfig("L1.j", "a bad CIDR exemption", "[addresses]\nallow = [\"127.0.0.0/99\"]\n"));
  c.push_back(
      badConfig("L1.k", "a bad listener address", "[listener]\naddress = \"localhost:3128\"\n"));
  c.push_back(badConfig("L1.l", "a negative timeout", "[listener]\nheader_timeout_ms = -1\n"));
  c.push_back(
      badConfig("L1.m", "a session naming an unknown environment",
                "[[sessions]]\nid = \"s\"\nenvironment = \"nope\"\nclients = [\"10.0.0.1/32\"]\n"));
  c.push_back(badConfig("L1.n", "a git token file that others can read", [] {
    return std::string(
               "[[sessions]]\nid = \"s\"\nclients = [\"10.0.0.1/32\"]\n[sessions.git]\n"
               "repos = [\"o/r\"]\npush_branch = \"b\"\ntoken_file = \"/etc/hostname\"\n"
               "scoped_credential_sha256 = \"") +
           std::string(64, 'a') + "\"\n";
  }()));
  c.push_back(
      badConfig("L1.o", "a deny entry with a bad glob", "[environment]\ndeny = [\"a.*\"]\n"));
  c.push_back(
      custom("L1.p", "`gatehouse serve` refuses to start with an invalid file", [](Ctx& ctx) {
        const Outcome o = run({"serve", "--config", "FILE"},
                              "[listener]\naddress = \"127.0.0.1:0\"\nbogus = 1\n");
        ctx.expect(o.finished, "serve did not exit");
        ctx.expect(o.exit_code != 0, "serve started with an invalid file");
      }).on(Profile::kNone));
  c.push_back(
      custom("L1.q", "a host listed twice is a lint warning, not a load error", [](Ctx& ctx) {
        const std::string toml =
            "[environment]\nlevel = \"custom\"\ndomains = [\"a.test\", \"a.test\"]\n";
        const Outcome load = run({"check-config", "FILE"}, toml);
        ctx.expect(load.exit_code == 0, "check-config: " + escapeBytes(load.out, 200));
        const Outcome lint = run({"policy", "lint", "FILE"}, toml);
        ctx.expect(lint.out.find("a.test") != std::string::npos,
                   "lint does not report the duplicate: " + escapeBytes(lint.out, 200));
      }).on(Profile::kNone));
  c.push_back(
      custom("L1.r", "a reload with an invalid file keeps the old policy",
             [](Ctx& ctx) {
               Rig& rig = ctx.world.rig(Profile::kLoop);
               ctx.expect(
                   rig.proxy->reload("[environment]\nlevel = \"custom\"\ndomains = [\"*\"]\n") ==
                       testing::Gatehouse::ReloadResult::kFailed,
                   "the bad reload was not reported as failed");
               auto ex = ctx.exchangeUntilClose(ctx.expand(
                   "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n\r\n"));
               ctx.expect(!ex.responses.empty() && ex.responses[0].status == 200,
                          "the old policy no longer answers");
               auto denied = ctx.exchangeUntilClose(ctx.expand(
                   "GET http://{U}.evil.test:{P}/ HTTP/1.1\r\nHost: {U}.evil.test:{P}\r\n\r\n"));
               ctx.expect(!denied.responses.empty() && denied.responses[0].status == 403,
                          "the bad policy took effect");
               ctx.noDns("{U}.evil.test");
             })
          .on(Profile::kLoop)
          .serialRun());
  // ---- L2 (configuration side; the running side is in cases_git.cc) ----
  c.push_back(
      custom("L2.c", "an empty allowlist loads and denies everything", [](Ctx& ctx) {
        const std::string toml = "[environment]\nlevel = \"custom\"\ndomains = []\n";
        const Outcome load = run({"check-config", "FILE"}, toml);
        ctx.expect(load.exit_code == 0, "refused: " + escapeBytes(load.out, 200));
        const Outcome explain = run({"explain", "--config", "FILE", "http://allowed.test/"}, toml);
        ctx.expect(
            explain.exit_code == 1 && explain.out.rfind("deny", 0) == 0,
            "explain: " + std::to_string(explain.exit_code) + " " + escapeBytes(explain.out, 200));
      }).on(Profile::kNone));
  c.push_back(custom("L2.d", "level none without entries denies everything", [](Ctx& ctx) {
                const Outcome explain = run({"explain", "--config", "FILE", "allowed.test:443"},
                                            "[environment]\nlevel = \"none\"\n");
                ctx.expect(explain.exit_code == 1 && explain.out.rfind("deny", 0) == 0,
                           "explain: " + std::to_string(explain.exit_code) + " " +
                               escapeBytes(explain.out, 200));
              }).on(Profile::kNone));
  // ---- L3 ----
  c.push_back(
      custom("L3",
             "20 reloads under load: every request decided on a whole snapshot, "
             "no crash",
             [](Ctx& ctx) {
               Rig& rig = ctx.world.rig(Profile::kLoop);
               std::atomic<bool> done{false};
               std::atomic<int> bad{0};
               std::atomic<int> served{0};
               std::thread load([&] {
                 while (!done) {
                   auto ex = ctx.exchangeUntilClose(ctx.expand(
                       "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n\r\n"));
                   if (ex.responses.empty() || ex.responses[0].status != 200) {
                     ++bad;
                   } else {
                     ++served;
                   }
                 }
               });
               int failed = 0;
               for (int i = 0; i < 20; ++i) {
                 failed +=
                     rig.proxy->reload(rig.config) != testing::Gatehouse::ReloadResult::kReloaded;
               }
               done = true;
               load.join();
               ctx.expect(failed == 0, std::to_string(failed) + " reloads failed");
               ctx.expect(bad == 0, std::to_string(bad) + " requests failed during reloads");
               ctx.expect(served > 0, "no request was served during the reloads");
               ctx.expect(rig.proxy->alive(), "the proxy died");
             })
          .on(Profile::kLoop)
          .serialRun());
  // ---- L4 ----
  c.push_back(custom("L4", "60 mutated configuration files: check-config never crashes or hangs",
                     [](Ctx& ctx) {
                       const std::string base = ctx.world.mainToml();
                       std::mt19937 rng(20240611);
                       for (int i = 0; i < 60; ++i) {
                         std::string t = base;
                         const int edits = 1 + static_cast<int>(rng() % 4);
                         for (int e = 0; e < edits; ++e) {
                           const size_t at = rng() % t.size();
                           switch (rng() % 4) {
                             case 0:
                               t[at] = static_cast<char>(rng() % 256);
                               break;
                             case 1:
                               t.erase(at, 1 + rng() % 8);
                               break;
                             case 2:
                               t.insert(at, std::string(1 + rng() % 4, "[]\"=.{}\n#"[rng() % 9]));
                               break;
                             default:
                               t.resize(at);
                               break;
                           }
                           if (t.empty()) t = "x";
                         }
                         const Outcome o = run({"check-config", "FILE"}, t);
                         if (!o.finished || (o.exit_code != 0 && o.exit_code != 1)) {
                           ctx.sent = t;
                           ctx.fail("mutation " + std::to_string(i) + ": exit " +
                                    std::to_string(o.exit_code) + (o.finished ? "" : " (hung)"));
                           return;
                         }
                       }
                     })
                  .on(Profile::kNone));
  return c;
}

}  // namespace gatehouse::catalogue
