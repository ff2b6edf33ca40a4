// The catalogue's world: the strict sink and the echo endpoint on 127.0.0.2 ("the internet"),
// canaries on 127.0.0.1/.3/.4 on the same ports (INV-NOCONN), the fake DNS server (INV-NODNS),
// the git upstream (tests/integration/git_peer.h) and one gatehouse per profile.
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>
#include <random>

#include "tests/catalogue/catalogue.h"
#include "tests/integration/git_peer.h"
#include "tests/unit/test_credentials.h"

namespace gatehouse::catalogue {

using testing::FakeDnsAnswer;
using testing::Gatehouse;
using testing_credentials::base64;
using testing_credentials::sha256Hex;

namespace {

std::string randomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xff;
    out += kDigits[v >> 4];
    out += kDigits[v & 15];
  }
  return out;
}

std::string tomlStr(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string portList(const std::vector<int>& ports) {
  std::string out = "[";
  for (size_t i = 0; i < ports.size(); ++i) out += (i ? ", " : "") + std::to_string(ports[i]);
  return out + "]";
}

}  // namespace

const char* profileName(Profile p) {
  switch (p) {
    case Profile::kMain:
      return "main";
    case Profile::kLimits:
      return "limits";
    case Profile::kLoop:
      return "loop";
    case Profile::kGit:
      return "git";
    case Profile::kGitRedirect:
      return "git-redirect";
    case Profile::kNone:
      return "none";
  }
  return "?";
}

class World::GitRig {
 public:
  std::unique_ptr<testing::TestCa> ca;
  std::unique_ptr<testing::GitPeer> peer;
  testing::TempDir secrets;
  std::string token_file;
};

World::World() = default;
World::~World() = default;

std::string World::policyToml(const std::vector<int>& extra_ports) const {
  std::vector<int> ports = {80, 443, sinkPort(), echoPort(), closed_port_};
  ports.insert(ports.end(), extra_ports.begin(), extra_ports.end());
  std::string t;
  t += "[environment]\nlevel = \"custom\"\n";
  t += "domains = [\"allowed.test\", \"*.api.test\"]\n";
  t += "deny = [\"bad.api.test\"]\n";
  t += "ports = " + portList(ports) + "\n";
  t += "\n[addresses]\nallow = [\"127.0.0.2/32\"]\n";
  t += "\n[resolver]\nservers = [" + tomlStr(dns_->address()) + "]\ntimeout_ms = 500\n";
  // Names with fixed answers. Every other name goes to the fake DNS server, which logs it.
  const std::pair<const char*, const char*> statics[] = {
      {"allowed.test", "\"127.0.0.2\""},
      {"a.api.test", "\"127.0.0.2\""},
      {"b.api.test", "\"127.0.0.2\""},
      {"x.y.z.api.test", "\"127.0.0.2\""},
      {"a.b.c.api.test", "\"127.0.0.2\""},
      {"foo_bar.api.test", "\"127.0.0.2\""},
      {"api.test", "\"127.0.0.2\""},
      {"badapi.test", "\"127.0.0.2\""},
      {"xapi.test", "\"127.0.0.2\""},
      {"bad.api.test", "\"127.0.0.2\""},
      {"priv.api.test", "\"10.0.0.5\""},
      {"loop.api.test", "\"127.0.0.3\""},
      {"meta.api.test", "\"169.254.169.254\""},
      {"mixed.api.test", "\"127.0.0.3\", \"127.0.0.2\""},
      {"self.api.test", "\"127.0.0.1\""},
      {"cgnat.api.test", "\"100.64.0.1\""},
      {"zero.api.test", "\"0.0.0.0\""},
  };
  t += "static = {";
  bool first = true;
  for (const auto& [name, addrs] : statics) {
    t += std::string(first ? " " : ", ") + tomlStr(name) + " = [" + addrs + "]";
    first = false;
  }
  t += " }\n";
  return t;
}

std::string World::mainToml() const {
  std::string t;
  t += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = 2\n";
  t += "header_timeout_ms = 1500\nresponse_timeout_ms = 1500\ntunnel_idle_timeout_ms = 4000\n";
  t += "drain_timeout_ms = 2000\n";
  t += "\n[log]\ndecisions = \"stdout\"\ndenied_sample_per_second = 0\n";
  t += "\n[admin]\naddress = \"127.0.0.1:0\"\n\n";
  return t + policyToml();
}

std::string World::limitsToml() const {
  std::string t;
  t += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = 1\n";
  t += "header_timeout_ms = 800\nresponse_timeout_ms = 1500\ntunnel_idle_timeout_ms = 500\n";
  t += "drain_timeout_ms = 2000\nmax_connections = 12\nmax_tunnels = 2\nallow_ech = true\n";
  t += "idle_timeout_ms = 1000\n";
  t += "\n[log]\ndecisions = \"stdout\"\ndenied_sample_per_second = 5\n";
  t += "\n[admin]\naddress = \"\"\n\n";
  return t + policyToml();
}

std::string World::loopToml(uint16_t own_port) const {
  std::vector<int> ports = {80, 443, sinkPort()};
  if (own_port != 0) ports.push_back(own_port);
  std::string t;
  t += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = 1\ndrain_timeout_ms = 2000\n";
  t += "\n[log]\ndecisions = \"stdout\"\ndenied_sample_per_second = 0\n";
  t += "\n[admin]\naddress = \"\"\n";
  t += "\n[environment]\nlevel = \"custom\"\n";
  t += "domains = [\"allowed.test\", \"self.test\", \"127.0.0.1\"]\n";
  t += "ports = " + portList(ports) + "\n";
  t += "\n[addresses]\nallow = [\"127.0.0.1/32\", \"127.0.0.2/32\"]\n";
  t += "\n[resolver]\nservers = [" + tomlStr(dns_->address()) + "]\n";
  t += "static = { \"allowed.test\" = [\"127.0.0.2\"], \"self.test\" = [\"127.0.0.1\"] }\n";
  return t;
}

const testing::TestCa& World::ca() const { return *git_->ca; }

std::string World::gitToml(const std::string& upstream_path, const testing::GitPeer* other) const {
  const testing::GitPeer& peer = other != nullptr ? *other : *git_->peer;
  std::string c;
  c += "[listener]\naddress = \"127.0.0.1:0\"\nworkers = 2\nheader_timeout_ms = 2000\n";
  c += "drain_timeout_ms = 2000\n";
  c += "\n[log]\ndecisions = \"stdout\"\ndenied_sample_per_second = 0\n";
  c += "\n[admin]\naddress = \"127.0.0.1:0\"\n";
  c += "\n[environment]\nlevel = \"none\"\n";
  c += "\n[environments.web]\nlevel = \"custom\"\ndomains = [\"allowed.test\"]\n";
  c += "ports = " + portList({80, 443, sinkPort()}) + "\n";
  c += "\n[addresses]\nallow = [\"127.0.0.2/32\"]\n";
  c += "\n[resolver]\nservers = [" + tomlStr(dns_->address()) + "]\n";
  c += "static = { \"allowed.test\" = [\"127.0.0.2\"] }\n";
  c += "\n[git]\nupstream = \"https://github.com" + upstream_path + "\"\n";
  c += "api_upstream = \"https://api.github.com\"\n";
  c += "ca_file = " + tomlStr(git_->ca->caCert()) + "\n";
  c += "connect_to = { \"github.com\" = " + tomlStr(peer.address()) +
       ", \"api.github.com\" = " + tomlStr(peer.address()) + " }\n";
  auto session = [&](const std::string& id, const std::string& env, const std::string& git,
                     const std::string& limits) {
    std::string s = "\n[[sessions]]\nid = \"" + id + "\"\nenvironment = \"" + env +
                    "\"\ncredential_sha256 = \"" + sha256Hex("proxy-" + id) + "\"\n";
    if (!git.empty()) s += "[sessions.git]\n" + git;
    if (!limits.empty()) s += "[sessions.limits]\n" + limits;
    return s;
  };
  const std::string token_line = "token_file = " + tomlStr(git_->token_file) + "\n";
  c += session("sbx-1", "web",
               "repos = [\"org/repo\", \"org/readonly:read\"]\npush_branch = \"agent-branch\"\n" +
                   token_line + "scoped_credential_sha256 = \"" + sha256Hex(kScoped) + "\"\n",
               "");
  c += session("sbx-2", "default",
               "repos = [\"org/other\"]\npush_branch = \"other-branch\"\n" + token_line +
                   "scoped_credential_sha256 = \"" + sha256Hex(kScopedOther) + "\"\n",
               "");
  c += session("sbx-rl", "web", "", "requests_per_second = 1\nrequest_burst = 2\n");
  c += session("sbx-none", "default", "", "");
  return c;
}

std::unique_ptr<Gatehouse> World::startProxy(const std::string& toml, std::string* error) {
  return Gatehouse::start(toml, error, milliseconds(10000));
}

Rig& World::rig(Profile p) {
  for (auto& r : rigs_) {
    if (r->profile == p) return *r;
  }
  static Rig none;
  return none;
}

std::string World::gitBasic(std::string_view credential) const {
  return "Authorization: Basic " + base64("x:" + std::string(credential)) + "\r\n";
}

std::vector<std::string> World::peerRequests() const {
  std::vector<std::string> out;
  for (const auto& j : git_->peer->requests()) out.push_back(j.dump());
  return out;
}

std::string World::peerOutput() const {
  return git_->peer->stdoutText() + git_->peer->stderrText();
}

size_t World::peerRequestCount(std::string_view path_part) const {
  size_t n = 0;
  for (const auto& r : git_->peer->requests()) {
    if (r.value("path", "").find(path_part) != std::string::npos) ++n;
  }
  return n;
}

bool World::waitPeerRequests(size_t count, milliseconds timeout) const {
  return git_->peer->waitForRequests(count, timeout);
}

void World::saw(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(seen_mutex_);
  seen_.append(bytes);
}

std::string World::seen() const {
  std::lock_guard<std::mutex> lock(seen_mutex_);
  return seen_;
}

std::string proxyAuth(std::string_view session) {
  return "Proxy-Authorization: Basic " +
         base64(std::string(session) + ":proxy-" + std::string(session)) + "\r\n";
}

bool World::start(std::string* error) {
  dns_ = FakeDnsServer::start(error);
  if (dns_ == nullptr) return false;
  // The sink and the echo endpoint on 127.0.0.2; canaries on .1/.3/.4 at the same two ports, so
  // a dial of the wrong address is an accept there instead of a refused connection.
  for (int attempt = 0; attempt < 20 && canaries_.empty(); ++attempt) {
    sink_ = StrictSink::start("127.0.0.2", 0, StrictSink::Mode::kHttp, error);
    echo_ = StrictSink::start("127.0.0.2", 0, StrictSink::Mode::kEcho, error);
    if (sink_ == nullptr || echo_ == nullptr) return false;
    std::vector<std::unique_ptr<StrictSink>> c;
    bool ok = true;
    for (const char* ip : {"127.0.0.1", "127.0.0.3", "127.0.0.4"}) {
      for (uint16_t port : {sink_->port(), echo_->port()}) {
        auto s = StrictSink::start(ip, port, StrictSink::Mode::kCanary, error);
        if (s == nullptr) {
          ok = false;
          break;
        }
        c.push_back(std::move(s));
      }
      if (!ok) break;
    }
    if (ok) canaries_ = std::move(c);
  }
  if (canaries_.empty()) return false;
  closed_port_ = testing::pickFreePort("127.0.0.2");

  // The git upstream: a test CA, git http-backend behind TLS, a canary token.
  git_ = std::make_unique<GitRig>();
  token_ = "canary-token-" + randomHex(16);
  git_->ca = testing::TestCa::create(error);
  if (git_->ca == nullptr) return false;
  git_->peer = testing::GitPeer::start(*git_->ca, token_, "", "", error, "");
  if (git_->peer == nullptr) return false;
  for (const char* repo : {"org/repo", "org/readonly", "org/other"}) {
    if (!git_->peer->createRepo(repo, error)) return false;
  }
  main_oid_ = git_->peer->refs("org/repo")["refs/heads/main"];
  git_->token_file = git_->secrets.write("token", token_ + "\n");
  ::chmod(git_->token_file.c_str(), 0600);

  // DNS answers of the D rows (names the policy allows; unique per row).
  using Malformed = FakeDnsAnswer::Malformed;
  dns_->set("dns.api.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 60));
  dns_->set("nx.api.test", FakeDnsAnswer::error(testing::DnsRcode::kNxDomain));
  dns_->set("servfail.api.test", FakeDnsAnswer::error(testing::DnsRcode::kServFail));
  dns_->set("refused.api.test", FakeDnsAnswer::error(testing::DnsRcode::kRefused));
  dns_->set("silent.api.test", FakeDnsAnswer::silence());
  dns_->set("short.api.test",
            FakeDnsAnswer::addresses({"127.0.0.2"}).withMalformed(Malformed::kShortAnswer));
  dns_->set("ptrloop.api.test",
            FakeDnsAnswer::addresses({"127.0.0.2"}).withMalformed(Malformed::kPointerLoop));
  dns_->set("longname.api.test",
            FakeDnsAnswer::addresses({"127.0.0.2"}).withMalformed(Malformed::kOversizedName));
  dns_->set("trunc.api.test", FakeDnsAnswer::addresses({"127.0.0.2"}).withTruncation());
  dns_->set("loop1.api.test", FakeDnsAnswer::alias("loop2.api.test"));
  dns_->set("loop2.api.test", FakeDnsAnswer::alias("loop1.api.test"));
  dns_->set("many.api.test", FakeDnsAnswer::manyV4(200));
  dns_->set("cname.api.test", FakeDnsAnswer::alias("internal.corp.example"));
  dns_->set("internal.corp.example", FakeDnsAnswer::addresses({"127.0.0.3"}));
  dns_->set("cnameok.api.test", FakeDnsAnswer::alias("public.cdn.example"));
  dns_->set("public.cdn.example", FakeDnsAnswer::addresses({"127.0.0.2"}));
  dns_->set("mapped.api.test", FakeDnsAnswer::addresses({"::ffff:10.0.0.1"}));
  dns_->set("mapped-lo.api.test", FakeDnsAnswer::addresses({"::ffff:127.0.0.3"}));
  dns_->set("v6lo.api.test", FakeDnsAnswer::addresses({"::1"}));
  dns_->set("ula.api.test", FakeDnsAnswer::addresses({"fc00::1"}));
  dns_->set("mixdns.api.test", FakeDnsAnswer::addresses({"10.0.0.1", "127.0.0.2"}));
  dns_->setSequence("rebind.api.test", {FakeDnsAnswer::addresses({"127.0.0.2"}, 0),
                                        FakeDnsAnswer::addresses({"127.0.0.3"}, 0)});
  dns_->setSequence("rebind2.api.test", {FakeDnsAnswer::addresses({"127.0.0.2"}, 0),
                                         FakeDnsAnswer::addresses({"127.0.0.3"}, 0)});
  dns_->set("ttl0.api.test", FakeDnsAnswer::addresses({"127.0.0.2"}, 0));
  dns_->set("slow.api.test", FakeDnsAnswer::addresses({"127.0.0.2"}).withDelay(milliseconds(3000)));
  dns_->set("fast.api.test", FakeDnsAnswer::addresses({"127.0.0.2"}));
  dns_->set("meta.google.api.test", FakeDnsAnswer::addresses({"169.254.169.254"}));

  auto add = [&](Profile p, const std::string& toml) -> bool {
    auto r = std::make_unique<Rig>();
    r->profile = p;
    r->config = toml;
    r->proxy = startProxy(toml, error);
    if (r->proxy == nullptr) {
      *error = std::string(profileName(p)) + ": " + *error + "\nconfig:\n" + toml;
      return false;
    }
    rigs_.push_back(std::move(r));
    return true;
  };
  if (!add(Profile::kMain, mainToml()) || !add(Profile::kLimits, limitsToml()) ||
      !add(Profile::kLoop, loopToml(0)) || !add(Profile::kGit, gitToml("")) ||
      !add(Profile::kGitRedirect, gitToml("/redirect"))) {
    return false;
  }
  // The loop profile allows its own port, known only now.
  Rig& loop = rig(Profile::kLoop);
  loop.config = loopToml(loop.proxy->port());
  if (loop.proxy->reload(loop.config) != Gatehouse::ReloadResult::kReloaded) {
    *error = "loop profile reload failed: " + loop.proxy->stderrText();
    return false;
  }
  rig(Profile::kGit).probe_headers = proxyAuth("sbx-1");
  rig(Profile::kGitRedirect).probe_headers = proxyAuth("sbx-1");
  return true;
}

// ---- helpers ---------------------------------------------------------------------------------

namespace {

std::string u16(size_t v) {
  return std::string{static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
std::string u24(size_t v) {
  return std::string{static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 8) & 0xff),
                     static_cast<char>(v & 0xff)};
}
std::string ext(uint16_t type, std::string_view data) {
  return u16(type) + u16(data.size()) + std::string(data);
}

}  // namespace

std::string clientHello(std::string_view sni, int tag, const HelloOptions& o) {
  std::string body = "\x03\x03";
  std::string random = "CATTAG" + std::to_string(tag) + ";";
  random.resize(32, 'r');
  body += random;
  body += '\x20' + std::string(32, 's');
  body += u16(6) + std::string("\x13\x01\x13\x02\x13\x03", 6);
  body += std::string("\x01\x00", 2);
  std::string exts;
  if (o.padding_before_sni > 0) exts += ext(0x0015, std::string(o.padding_before_sni, '\0'));
  if (!sni.empty()) {
    std::string list = std::string(1, '\0') + u16(sni.size()) + std::string(sni);
    if (o.two_snis) list += std::string(1, '\0') + u16(9) + "evil.test";
    exts += ext(0x0000, u16(list.size()) + list);
  }
  exts += ext(0x002b, std::string("\x02\x03\x04", 3));
  exts += ext(0x000a, std::string("\x00\x02\x00\x1d", 4));
  exts += ext(0x000d, std::string("\x00\x02\x04\x03", 4));
  exts += ext(0x0033, u16(36) + std::string("\x00\x1d", 2) + u16(32) + std::string(32, 'k'));
  if (o.ech) {
    // Outer ECH: type 0, HPKE suite (0x0001, 0x0001), config id, enc, payload.
    const std::string ech = std::string("\x00\x00\x01\x00\x01\x07", 6) + u16(32) +
                            std::string(32, 'e') + u16(64) + std::string(64, 'p');
    exts += ext(0xfe0d, ech);
  }
  body += u16(exts.size()) + exts;
  const std::string handshake = "\x01" + u24(body.size()) + body;
  auto record = [](std::string_view frag) {
    return std::string("\x16\x03\x01", 3) + u16(frag.size()) + std::string(frag);
  };
  if (!o.split_records) return record(handshake);
  const size_t half = handshake.size() / 2;
  return record(std::string_view(handshake).substr(0, half)) +
         record(std::string_view(handshake).substr(half));
}

std::vector<HttpResponse> parseResponses(std::string_view raw, bool eof, bool first_no_body,
                                         std::string* leftover) {
  std::vector<HttpResponse> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    HttpResponse r;
    size_t used = 0;
    const auto o =
        testing::parseResponse(raw.substr(pos), eof, first_no_body && out.empty(), &r, &used);
    if (o != testing::ParseOutcome::kComplete) break;
    out.push_back(std::move(r));
    pos += used;
  }
  if (leftover != nullptr) *leftover = std::string(raw.substr(pos));
  return out;
}

std::string pktLine(std::string_view payload) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t n = payload.size() + 4;
  std::string out = {kHex[(n >> 12) & 15], kHex[(n >> 8) & 15], kHex[(n >> 4) & 15], kHex[n & 15]};
  return out + std::string(payload);
}

std::string receivePackBody(const std::vector<std::string>& commands, std::string_view pack) {
  std::string out;
  for (size_t i = 0; i < commands.size(); ++i) {
    out += pktLine(commands[i] + (i == 0 ? std::string("\0report-status agent=git/2.39\n", 30)
                                         : std::string("\n")));
  }
  out += "0000";
  out += pack;
  return out;
}

std::string emptyPack() {
  std::string pack("PACK\x00\x00\x00\x02\x00\x00\x00\x00", 12);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(pack.data(), pack.size(), digest, &len, EVP_sha1(), nullptr);
  pack.append(reinterpret_cast<const char*>(digest), len);
  return pack;
}

}  // namespace gatehouse::catalogue
