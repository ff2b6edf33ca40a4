// CaresResolver: the DnsResolver of one worker, c-ares driven by that worker's libuv loop.
//
// No thread pool and no getaddrinfo: c-ares tells us its sockets (socket-state callback), the
// loop watches them (one uv_poll_t each) and a Timer drives c-ares's retransmissions, so a slow
// name never holds up another one (BAD-INPUTS D6). Each name is asked as given (ares_query: no
// search domains, no hosts file), A and AAAA in parallel; the answer lists IPv4 addresses first,
// then IPv6, at most kMaxAddresses.
//
// In this order, resolve() answers:
//   1. [resolver] static entries: the configured addresses in the configured order, ttl 0,
//      from_static; no query.
//   2. The cache (DnsCache): ok answers for min(TTL, max_ttl), nxdomain/nodata for
//      negative_ttl; ttl 0, servfail and timeout are never cached.
//   3. A query already in flight for the same name: the request joins it (one upstream query,
//      every caller gets its answer).
//   4. A new upstream query, unless max_inflight distinct names are already in flight: then it
//      fails at once with servfail and stats().overloaded counts it (nothing is queued).
// Every callback runs from the loop, never inline from resolve().
//
// Timeouts: c-ares is configured (timeout per try, 2 tries) so that a silent server yields
// ARES_ETIMEOUT within timeout_ms, and a Timer per query answers the callers at timeout_ms in
// any case: kTimeout, or kOk with the family that did answer (the partial answer is not cached).
//
// Threading and ownership: created, used and destroyed on the dispatcher's loop thread; the
// dispatcher outlives the resolver. Destroying the resolver abandons every query (no callback
// runs afterwards, not even from inside a callback that destroyed it), destroys the c-ares
// channel and closes all its handles. A CancelHandle may outlive the resolver.
#pragma once

#include <ares.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/event/dispatcher.h"
#include "proxy/event/uv_handle.h"
#include "proxy/net/dns_cache.h"
#include "proxy/net/dns_resolver.h"
#include "proxy/net/resolver_config.h"

namespace gatehouse::net {

struct CaresResolverOptions {
  std::chrono::seconds max_ttl{300};     // positive answers are kept for min(TTL, max_ttl)
  std::chrono::seconds negative_ttl{5};  // nxdomain / nodata; 0 = not cached
  size_t max_entries = 10000;            // cache size (least recently used evicted); 0 = no cache
  size_t max_inflight = 256;             // distinct names queried upstream at the same time
};

struct CaresResolverStats {
  uint64_t upstream_queries = 0;  // distinct names sent to c-ares (each: one A + one AAAA query)
  uint64_t cache_hits = 0;
  uint64_t static_answers = 0;
  uint64_t coalesced = 0;   // requests that joined a query already in flight
  uint64_t overloaded = 0;  // requests refused (servfail) because max_inflight was reached
  uint64_t timeouts = 0;    // queries answered kTimeout
};

class CaresResolver final : public DnsResolver {
 public:
  using Options = CaresResolverOptions;
  using Stats = CaresResolverStats;

  struct Created {
    std::unique_ptr<CaresResolver> resolver;  // null on error
    std::string error;                        // why, when resolver is null
  };
  // Fails when c-ares cannot be initialised, a server address is not "ip:port"/"[ipv6]:port",
  // or a static entry holds no address or something that is not an IP literal.
  static Created create(event::Dispatcher& dispatcher, const ResolverConfig& config,
                        Options options = {});

  ~CaresResolver() override;
  CaresResolver(const CaresResolver&) = delete;
  CaresResolver& operator=(const CaresResolver&) = delete;

  // Loop thread. See the class comment for the order in which answers are found.
  CancelHandlePtr resolve(const std::string& name,
                          std::function<void(const DnsAnswer&)> callback) override;

  const Stats& stats() const { return stats_; }
  // Distinct names with upstream work outstanding (including queries already answered by their
  // deadline whose c-ares lookups have not finished yet).
  size_t inflight() const { return queries_.size(); }
  size_t cacheSize() const { return cache_.size(); }

 private:
  struct Request;
  struct Query;
  using RequestList = std::list<Request*>;

  CaresResolver(event::Dispatcher& dispatcher, const ResolverConfig& config, Options options);
  std::string init(const ResolverConfig& config);

  void startQuery(Query* query);
  void onLookupDone(Query* query);
  void finish(Query* query);
  DnsAnswer combine(const Query& query) const;
  void release(Query* query);
  void forget(Request* request);
  void deliverLater(Request* request, DnsAnswer answer);
  void deliverReady();
  void processFd(ares_socket_t read_fd, ares_socket_t write_fd);
  void rearmAresTimer();
  void watchSocket(ares_socket_t fd, bool readable, bool writable);

  static void onSockState(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void onPoll(uv_poll_t* handle, int status, int events) noexcept;
  static void onAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen) noexcept;

  event::Dispatcher& dispatcher_;
  Options options_;
  std::chrono::milliseconds timeout_;
  ares_channel channel_ = nullptr;
  std::unordered_map<ares_socket_t, event::UvHandle<uv_poll_t>> polls_;
  event::TimerPtr ares_timer_;
  event::TimerPtr deliver_timer_;
  DnsCache cache_;
  std::unordered_map<std::string, std::vector<policy::IpAddress>> static_hosts_;
  // Names whose query still accepts new requests.
  std::unordered_map<std::string, Query*> inflight_;
  // Every query until c-ares has returned both of its lookups.
  std::list<std::unique_ptr<Query>> queries_;
  // Requests whose answer is known, waiting for deliver_timer_.
  RequestList ready_;
  // Set while deliverReady() runs user callbacks: tells it the resolver was destroyed.
  bool* destroyed_flag_ = nullptr;
  bool destroying_ = false;
  Stats stats_;
};

}  // namespace gatehouse::net
