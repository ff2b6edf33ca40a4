// FakeDnsServer: a scriptable DNS server on 127.0.0.1 for tests (INV-NODNS, BAD-INPUTS group D).
//
// It listens on UDP and TCP on the same kernel-chosen port of 127.0.0.1 and answers from its
// own thread with plain sockets, so it works with any client (c-ares, dig, the proxy binary).
// Every query is logged (name, type, transport) before the server decides what to do with it,
// so a test can assert that no query was made for a name, or count queries.
//
// What a name answers is a FakeDnsAnswer: addresses with TTLs, an rcode (NXDOMAIN, SERVFAIL,
// REFUSED...), a CNAME (followed inside the fake's own zone, loops included), silence, a delay,
// truncation or a malformed packet. A name can also rotate through several answers (DNS
// rebinding: the first A query gets 127.0.0.2, the next one 127.0.0.3, ...). Names that were not
// configured get the default answer (NXDOMAIN unless setDefault() says otherwise).
//
// Over UDP an answer larger than 512 bytes (or the client's EDNS payload size) is truncated
// (TC bit, no records), as a real server does; the same query over TCP gets the full answer.
//
// Threading: every method may be called from any thread while the server runs. Destroying the
// server stops its thread; pending delayed answers are dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gatehouse::testing {

enum class DnsRcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeAaaa = 28;

// What the server does with a query for one name. Build one with the static helpers and refine
// it with the with*() modifiers, e.g. FakeDnsAnswer::addresses({"127.0.0.2"}, 60).withDelay(ms).
struct FakeDnsAnswer {
  // Broken packets that still carry the query's id and question (so a client accepts them as
  // the answer and has to parse them).
  enum class Malformed : uint8_t {
    kNone,
    kShortAnswer,    // the answer count promises more than the packet holds (cut mid-record)
    kPointerLoop,    // the answer's owner name is a compression pointer to itself
    kOversizedName,  // the answer's owner name is 320 octets long (limit: 255)
  };
  struct Record {
    std::string address;  // an IPv4 or IPv6 literal; A queries get the IPv4 ones, AAAA the IPv6
    uint32_t ttl = 300;
  };

  std::vector<Record> records;
  // When set: "name CNAME cname", then cname's own answer from the zone (records ignored).
  std::string cname;
  uint32_t cname_ttl = 300;
  DnsRcode rcode = DnsRcode::kNoError;
  bool silent = false;  // the query is logged and never answered
  std::chrono::milliseconds delay{0};
  bool truncated = false;  // UDP: TC bit and no records; TCP: the connection is closed
  Malformed malformed = Malformed::kNone;

  // Every literal with the same TTL (A and AAAA records mixed as given).
  static FakeDnsAnswer addresses(const std::vector<std::string>& literals, uint32_t ttl = 300);
  // `count` A records 10.0.x.y with the given TTL (for "200 A records").
  static FakeDnsAnswer manyV4(int count, uint32_t ttl = 300);
  static FakeDnsAnswer error(DnsRcode rcode);
  static FakeDnsAnswer alias(std::string target, uint32_t ttl = 300);
  static FakeDnsAnswer silence();

  FakeDnsAnswer withDelay(std::chrono::milliseconds d) const;
  FakeDnsAnswer withTruncation() const;
  FakeDnsAnswer withMalformed(Malformed kind) const;
};

class FakeDnsServer final {
 public:
  struct Query {
    std::string name;  // lowercased, without a trailing dot
    uint16_t type = 0;
    bool tcp = false;
  };

  // Binds 127.0.0.1:0 (UDP, and TCP on the same port) and starts the server thread. Returns
  // nullptr and sets *error when a socket cannot be set up.
  static std::unique_ptr<FakeDnsServer> start(std::string* error = nullptr);
  ~FakeDnsServer();
  FakeDnsServer(const FakeDnsServer&) = delete;
  FakeDnsServer& operator=(const FakeDnsServer&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:<port>", the form ResolverConfig::servers takes.
  std::string address() const;

  // Names are matched case-insensitively, with or without a trailing dot. An invalid address
  // literal aborts the test program (it is a bug in the test).
  void set(std::string_view name, FakeDnsAnswer answer);
  // The n-th query of a given type for `name` gets answers[n % answers.size()].
  void setSequence(std::string_view name, std::vector<FakeDnsAnswer> answers);
  // Overrides what `name` answers for one query type only (e.g. a silent AAAA).
  void setForType(std::string_view name, uint16_t type, FakeDnsAnswer answer);
  // Forgets the name, type overrides included.
  void remove(std::string_view name);
  // For names never set (initially: NXDOMAIN).
  void setDefault(FakeDnsAnswer answer);

  // The query log, in arrival order.
  std::vector<Query> queries() const;
  size_t queryCount() const;
  size_t queryCount(std::string_view name) const;
  size_t queryCount(std::string_view name, uint16_t type) const;
  void clearQueries();
  // Waits until at least `count` queries were logged; false on timeout.
  bool waitForQueries(size_t count, std::chrono::milliseconds timeout) const;

 private:
  struct Entry {
    std::vector<FakeDnsAnswer> answers;
    std::map<uint16_t, size_t> next;  // per query type: index of the next answer
  };
  // A reply waiting for its delay.
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::vector<uint8_t> reply;
    bool tcp = false;
    std::vector<uint8_t> peer;  // UDP: the sockaddr_in to answer
    int conn_id = 0;            // TCP: the connection to answer on
  };
  struct TcpConn {
    int id = 0;
    int fd = -1;
    std::vector<uint8_t> in;
  };

  FakeDnsServer() = default;
  void run();
  void handleUdp();
  void acceptTcp();
  bool readTcp(TcpConn& conn);  // false: close the connection
  // Builds the reply (or nothing) for one query, logs it, and queues/sends it.
  void handleQuery(const uint8_t* data, size_t len, bool tcp, const std::vector<uint8_t>& peer,
                   int conn_id);
  void sendReply(const Pending& reply);
  FakeDnsAnswer answerFor(const std::string& name, uint16_t type, bool advance);

  uint16_t port_ = 0;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable logged_;
  std::map<std::string, Entry> zone_;
  std::map<std::pair<std::string, uint16_t>, FakeDnsAnswer> typed_zone_;
  FakeDnsAnswer default_answer_ = FakeDnsAnswer::error(DnsRcode::kNxDomain);
  std::vector<Query> log_;

  // Server thread only.
  std::vector<Pending> pending_;
  std::vector<TcpConn> conns_;
  int next_conn_id_ = 1;
};

}  // namespace gatehouse::testing
