// The catalogue runner (BAD-INPUTS.md, all groups): every row that applies is one or more cases
// sent as raw bytes to the real gatehouse binary, with its exact expected status and the
// invariants (INV-NOCONN, INV-NODNS, INV-NOBYTES, INV-NOTOKEN, INV-CLOSE, INV-ALIVE).
//
// A Case is one row of a table (cases_*.cc) or one generated variant (generators.cc). Most rows
// are declarative:
//   refuse(id, why, bytes, status)   one response with exactly `status` (and a reason), then the
//                                    close; the follow-up request appended to the same write is
//                                    never answered nor forwarded (INV-CLOSE); nothing of the
//                                    case reaches the strict sink
//   forward(id, why, bytes, check)   200, the strict sink received exactly one canonical request
//                                    (`check` inspects it), and the follow-up request after it
//                                    is answered and forwarded too (no desync)
//   custom(id, why, fn)              anything else (tunnels, DNS, timing, git), using Ctx
// Templates in bytes: {A} = "allowed.test:<sink port>", {P} sink port, {Q} echo (tunnel) port,
// {C} a port nothing listens on, {M} the main proxy's admin (metrics) port, {T} = "/cat/<tag>" (the
// case's own path, so the sink can tell whose request it got), {N} the tag, {U} = "u<tag>" (a label
// unique to the case), {X} the proxy's own port.
//
// Rows judged not applicable (each table file says why in its header):
//   E10 max tunnel duration (gatehouse has none; idle timeout tested), E11 connect *timeout*
//   (every loopback address accepts or refuses at once), H6 RLIMIT_NOFILE of the proxy process,
//   H12 peer vanishing without FIN (needs packet loss), I7 force-push detection (needs the object
//   graph: residual risk), I14 LFS storage redirects (LFS is refused outright), K3 Via loop
//   detection (gatehouse adds no Via), the strict variant of C9 and TTL capping of D9 (not
//   configurable / not observable without waiting a TTL), J5 PR_SET_DUMPABLE (not observable
//   when the runner is root); H1 at 2 000 connections belongs to the soak harness. Rows about
//   TLS interception do not apply: gatehouse does not intercept.
//
// Every case, whatever its kind, is also checked after the run: no canary received anything
// carrying its tag, no request of its tag reached the sink in a non-canonical form, and none of
// its no_dns names was ever queried.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/catalogue/strict_sink.h"
#include "tests/fakes/fake_dns_server.h"
#include "tests/integration/harness.h"

namespace gatehouse::testing {
class GitPeer;
class TestCa;
}  // namespace gatehouse::testing

namespace gatehouse::catalogue {

using testing::Clock;
using testing::FakeDnsServer;
using testing::HttpResponse;
using testing::milliseconds;
using testing::RawClient;

// One gatehouse instance per policy profile.
enum class Profile {
  kMain,         // allowed.test, *.api.test (bad.api.test denied), ports 80/443 + the sinks'
  kLimits,       // the same policy with tiny caps (connections, tunnels), ECH allowed: serial cases
  kLoop,         // 127.0.0.1 exempted and self.test -> the proxy itself (K1, C11); reload rows
  kGit,          // [git] + [[sessions]]: the git rig (I, J), session auth (407), rate limits
  kGitRedirect,  // the same, with an upstream base URL that answers 302 (I11)
  kNone,         // no proxy: configuration rows run `gatehouse check-config`
};
const char* profileName(Profile p);

class World;
struct Case;

// What one case does and sees; collects its failures.
class Ctx {
 public:
  Ctx(World& world, const Case& c, int tag) : world(world), c(c), tag(tag) {}

  World& world;
  const Case& c;
  const int tag;
  std::string sent;  // what went to the proxy (for the report)
  std::vector<std::string> failures;

  std::string expand(std::string_view tmpl) const;
  // "/cat/<tag>" + suffix.
  std::string path(std::string_view suffix = "") const;
  // "GET http://allowed.test:P/cat/<tag>/after": the request appended after a case's bytes.
  std::string followUp() const;
  uint16_t proxyPort() const;
  std::unique_ptr<RawClient> connect();
  void fail(std::string what);
  bool expect(bool ok, const std::string& what) {
    if (!ok) fail(what);
    return ok;
  }
  // Sends `bytes` on a new connection and reads until the proxy closes (or `timeout`); every
  // response in it, and whether the connection closed. `no_body`: the first response has none.
  struct Exchange {
    std::vector<HttpResponse> responses;
    std::string raw;
    std::string leftover;  // bytes after the last complete response
    bool closed = false;
  };
  Exchange exchangeUntilClose(const std::string& bytes, milliseconds timeout = milliseconds(3000),
                              bool no_body = false);
  // The sink's records of this case (tag), optionally only those with `suffix`.
  std::vector<SinkRecord> sinkRecords() const;
  std::vector<SinkRecord> sinkRecords(std::string_view suffix) const;
  std::vector<SinkRecord> echoRecords() const;
  // Registers names that must never be queried (checked after the run).
  void noDns(std::string name);
  // Everything the client side saw (the INV-NOTOKEN scan covers it).
  void saw(std::string_view bytes);

  std::vector<std::string> extra_no_dns;
};

// A check of one forwarded request: "" when fine, else what is wrong.
using Check = std::function<std::string(const SinkRecord&, const Ctx&)>;

struct Case {
  std::string id;   // the catalogue row ("F7", "F7.b", "GEN.ip.C1...")
  std::string why;  // what the row checks
  Profile profile = Profile::kMain;
  std::string bytes;                // template (see the file comment)
  std::vector<int> statuses;        // the responses expected, in order
  bool closed = true;               // the proxy closes after them, nothing more is sent
  bool follow = true;               // append the follow-up request to the same write
  int upstream = 0;                 // requests of the tag (suffix "") at the sink; -1: not checked
  int upstream_after = 0;           // follow-up requests at the sink
  bool head_may_reach = false;      // the head may be upstream already (bad bodies, F7/F8)
  bool no_body = false;             // the first response carries no body (HEAD)
  std::string reason;               // X-Gatehouse-Reason of the first refusal ("" = any)
  std::vector<std::string> no_dns;  // templates of names never queried
  Check check;                      // on each forwarded request
  std::function<void(Ctx&)> custom;
  // Runs after every proxy stopped (the decision log is complete then).
  std::function<void(Ctx&)> post;
  bool serial = false;     // runs alone (global caps, timing)
  bool generated = false;  // counted as a generated variant
  std::string group;       // "A".."L", or "INV" (derived from id when empty)
  // A proxy bug this case shows and nobody has fixed yet: the case still runs and its failure is
  // printed on every run as KNOWN (not counted as failed); once it passes the run fails, so the
  // mark is removed with the fix.
  std::string known_bug;

  Case on(Profile p) && {
    profile = p;
    return std::move(*this);
  }
  Case reasonIs(std::string r) && {
    reason = std::move(r);
    return std::move(*this);
  }
  Case noDns(std::string name) && {
    no_dns.push_back(std::move(name));
    return std::move(*this);
  }
  Case noFollow() && {
    follow = false;
    return std::move(*this);
  }
  Case headMayReach() && {
    head_may_reach = true;
    return std::move(*this);
  }
  Case serialRun() && {
    serial = true;
    return std::move(*this);
  }
  Case knownBug(std::string what) && {
    known_bug = std::move(what);
    return std::move(*this);
  }
  Case after(std::function<void(Ctx&)> fn) && {
    post = std::move(fn);
    return std::move(*this);
  }
  Case headRequest() && {
    no_body = true;
    return std::move(*this);
  }
  // The first request is answered, then the connection closes: the follow-up is never parsed.
  Case thenClose() && {
    statuses.resize(1);
    closed = true;
    upstream_after = 0;
    return std::move(*this);
  }
};

Case refuse(std::string id, std::string why, std::string bytes, int status);
Case forward(std::string id, std::string why, std::string bytes, Check check = {});
Case custom(std::string id, std::string why, std::function<void(Ctx&)> fn);

// Checks for forward() (values are templates).
Check hasHeader(std::string name, std::string value);
Check lacksHeader(std::string name);
Check bodyIs(std::string body);
Check all(std::vector<Check> checks);

// ---- the rig ---------------------------------------------------------------------------------

struct Rig {
  Profile profile = Profile::kMain;
  std::unique_ptr<testing::Gatehouse> proxy;
  std::string config;  // the TOML it runs with
  long base_rss_kib = 0;
  int base_fds = 0;
  std::string probe_headers;  // extra header lines of the INV-ALIVE probe
};

// Git rig constants: scoped credentials and the session the git rows use.
inline constexpr char kScoped[] = "gatehouse_gc_catalogueAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
inline constexpr char kScopedOther[] =
    "gatehouse_gc_catalogueBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
inline constexpr char kBranch[] = "agent-branch";

class World {
 public:
  World();
  ~World();
  // Starts the sinks, canaries, DNS, the git upstream and every proxy.
  bool start(std::string* error);

  Rig& rig(Profile p);
  StrictSink& sink() { return *sink_; }
  StrictSink& echo() { return *echo_; }
  const std::vector<std::unique_ptr<StrictSink>>& canaries() const { return canaries_; }
  FakeDnsServer& dns() { return *dns_; }
  uint16_t sinkPort() const { return sink_->port(); }
  uint16_t echoPort() const { return echo_->port(); }
  uint16_t closedPort() const { return closed_port_; }

  // The git rig.
  const std::string& token() const { return token_; }
  class GitRig;
  GitRig& git() { return *git_; }
  std::string gitBasic(std::string_view credential) const;  // "Authorization: Basic ...\r\n"
  // The object id of refs/heads/main in org/repo (for push commands).
  const std::string& mainOid() const { return main_oid_; }
  std::vector<std::string> peerRequests() const;  // one JSON line each
  std::string peerOutput() const;                 // the git upstream's stdout + stderr
  size_t peerRequestCount(std::string_view path_part) const;
  bool waitPeerRequests(size_t count, milliseconds timeout) const;

  // The client side of everything (INV-NOTOKEN).
  void saw(std::string_view bytes);
  std::string seen() const;

  // Starts a gatehouse with `toml` (for rows that need a proxy of their own).
  std::unique_ptr<testing::Gatehouse> startProxy(const std::string& toml, std::string* error);
  // The [environment]/[addresses]/[resolver] tables of the main policy.
  std::string policyToml(const std::vector<int>& extra_ports = {}) const;
  std::string mainToml() const;
  std::string limitsToml() const;
  std::string loopToml(uint16_t own_port) const;
  // `peer`: another git upstream than the shared one (I12).
  std::string gitToml(const std::string& upstream_path,
                      const testing::GitPeer* peer = nullptr) const;
  const testing::TestCa& ca() const;

 private:
  std::unique_ptr<StrictSink> sink_;
  std::unique_ptr<StrictSink> echo_;
  std::vector<std::unique_ptr<StrictSink>> canaries_;
  std::unique_ptr<FakeDnsServer> dns_;
  uint16_t closed_port_ = 0;
  std::vector<std::unique_ptr<Rig>> rigs_;
  std::unique_ptr<GitRig> git_;
  std::string token_;
  std::string main_oid_;
  mutable std::mutex seen_mutex_;
  std::string seen_;
};

// ---- helpers shared by the tables ------------------------------------------------------------

// A string literal with embedded NULs, every byte kept.
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// A TLS 1.3-style ClientHello record carrying `sni` (none when empty) and "CATTAG<tag>;" in its
// random field.
struct HelloOptions {
  bool ech = false;               // an encrypted_client_hello extension (0xfe0d)
  size_t padding_before_sni = 0;  // a padding extension of this size before server_name
  bool split_records = false;     // the handshake message split over two TLS records
  bool two_snis = false;          // a second host_name entry "evil.test" in server_name
};
std::string clientHello(std::string_view sni, int tag, const HelloOptions& options = {});

// "Proxy-Authorization: Basic base64(id:proxy-<id>)\r\n" for the git profile's sessions.
std::string proxyAuth(std::string_view session);

// Parses every complete response in `raw` (eof: the connection closed after it).
std::vector<HttpResponse> parseResponses(std::string_view raw, bool eof, bool first_no_body,
                                         std::string* leftover);

// Receive-pack request body: pkt-line commands (old new ref), capabilities on the first,
// flush, then `pack` (an empty pack when "EMPTY").
std::string pktLine(std::string_view payload);
std::string receivePackBody(const std::vector<std::string>& commands, std::string_view pack);
std::string emptyPack();

// ---- the tables ------------------------------------------------------------------------------

std::vector<Case> targetCases();     // A, B
std::vector<Case> addressCases();    // C, D, K
std::vector<Case> connectCases();    // E
std::vector<Case> framingCases();    // F
std::vector<Case> headerCases();     // G, H
std::vector<Case> gitCases();        // I, J
std::vector<Case> configCases();     // L (and B15)
std::vector<Case> generatedCases();  // the generated variants

// Runs one case (the runner's standard exchange, or its custom function).
void runCase(Ctx& ctx);

}  // namespace gatehouse::catalogue
