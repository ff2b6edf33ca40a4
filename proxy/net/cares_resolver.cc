#include "proxy/net/cares_resolver.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <iterator>
#include <limits>
#include <mutex>
#include <utility>

#include "policy/host.h"

namespace gatehouse::net {

namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeCname = 5;
constexpr int kTypeAaaa = 28;
// Tries per server. c-ares doubles the per-try timeout on each round, so a full run over n
// servers takes n * (2^kTries - 1) per-try timeouts.
constexpr int kTries = 2;
constexpr int kTimeoutUnits = (1 << kTries) - 1;
// Longer CNAME chains (or loops) are answered servfail, like recursive resolvers do.
constexpr int kMaxCnameChain = 16;
constexpr size_t kMaxNameLength = 253;

int initLibrary() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

std::string lowercase(const char* s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "ipv4:port" or "[ipv6]:port", strictly (c-ares itself accepts ports above 65535). Returns the
// canonical form for ares_set_servers_ports_csv, or "" when the text is not such an address.
std::string canonicalServer(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return {};
  std::optional<uint16_t> port = policy::parsePort(text.substr(colon + 1));
  std::string_view host = text.substr(0, colon);
  bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  std::optional<policy::IpAddress> address =
      bracketed ? policy::IpAddress::parseV6(host) : policy::IpAddress::parseV4(host);
  if (!port || !address) return {};
  std::string out = bracketed ? "[" + address->toString() + "]" : address->toString();
  return out + ":" + std::to_string(*port);
}

uint16_t get16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Walks a reply c-ares accepted (ARES_SUCCESS): every name must expand and stay within 253
// octets, every record must fit in the packet, and the CNAME chain starting at `name` must end
// within kMaxCnameChain hops. c-ares's own parser follows the chain only as far as the records
// happen to be ordered, so a loop would otherwise look like "no data".
bool replyWellFormed(const unsigned char* abuf, int alen, const std::string& name) {
  if (abuf == nullptr || alen < 12) return false;
  const unsigned char* p = abuf + 12;
  const unsigned char* end = abuf + alen;
  auto expand = [&](const unsigned char* at, std::string* out, long* consumed) {
    if (at >= end) return false;
    char* expanded = nullptr;
    if (ares_expand_name(at, abuf, alen, &expanded, consumed) != ARES_SUCCESS) return false;
    bool ok = std::char_traits<char>::length(expanded) <= kMaxNameLength;
    if (ok && out != nullptr) *out = lowercase(expanded);
    ares_free_string(expanded);
    return ok;
  };
  int qdcount = get16(abuf + 4);
  int ancount = get16(abuf + 6);
  for (int i = 0; i < qdcount; ++i) {
    long consumed = 0;
    if (!expand(p, nullptr, &consumed) || end - p < consumed + 4) return false;
    p += consumed + 4;
  }
  std::unordered_map<std::string, std::string> cnames;
  for (int i = 0; i < ancount; ++i) {
    std::string owner;
    long consumed = 0;
    if (!expand(p, &owner, &consumed) || end - p < consumed + 10) return false;
    p += consumed;
    int type = get16(p);
    int rdlength = get16(p + 8);
    p += 10;
    if (end - p < rdlength) return false;
    if (type == kTypeCname) {
      std::string target;
      long target_len = 0;
      if (!expand(p, &target, &target_len)) return false;
      cnames.emplace(std::move(owner), std::move(target));
    }
    p += rdlength;
  }
  std::string current = lowercase(name.c_str());
  for (int hops = 0;; ++hops) {
    auto it = cnames.find(current);
    if (it == cnames.end()) return true;
    if (hops >= kMaxCnameChain) return false;
    current = it->second;
  }
}

}  // namespace

// The cancel handle a caller holds; also the record of one pending request.
struct CaresResolver::Request final : public CancelHandle {
  Request(CaresResolver* owner, std::function<void(const DnsAnswer&)> cb)
      : resolver(owner), callback(std::move(cb)) {}
  ~Request() override {
    if (resolver != nullptr) resolver->forget(this);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void link(RequestList& to) {
    list = &to;
    pos = to.insert(to.end(), this);
  }
  // The request is no longer the resolver's concern (answered, or the resolver is gone).
  void detach() {
    resolver = nullptr;
    list = nullptr;
  }

  CaresResolver* resolver;      // null once answered or when the resolver is gone
  RequestList* list = nullptr;  // a query's waiters or the resolver's ready_ list
  RequestList::iterator pos;    // position in *list
  std::function<void(const DnsAnswer&)> callback;
  DnsAnswer answer;  // set when the request enters ready_
};

// One name queried upstream: an A and an AAAA lookup, and the requests waiting for them.
struct CaresResolver::Query {
  struct Lookup {
    Query* query = nullptr;
    bool v6 = false;
    bool done = false;
    DnsStatus status = DnsStatus::kTimeout;
    std::vector<std::pair<policy::IpAddress, uint32_t>> addresses;  // with their TTLs
  };

  CaresResolver* resolver = nullptr;
  std::string name;
  std::list<std::unique_ptr<Query>>::iterator self;  // position in resolver->queries_
  std::array<Lookup, 2> lookups;                     // [0] A, [1] AAAA; c-ares callback args
  int outstanding = 0;                               // c-ares callbacks still to come
  bool answered = false;                             // the waiters have their answer
  RequestList waiters;
  event::TimerPtr deadline;
};

CaresResolver::Created CaresResolver::create(event::Dispatcher& dispatcher,
                                             const ResolverConfig& config, Options options) {
  Created created;
  std::unique_ptr<CaresResolver> resolver(new CaresResolver(dispatcher, config, options));
  created.error = resolver->init(config);
  if (created.error.empty()) created.resolver = std::move(resolver);
  return created;
}

CaresResolver::CaresResolver(event::Dispatcher& dispatcher, const ResolverConfig& config,
                             Options options)
    : dispatcher_(dispatcher),
      options_(options),
      timeout_(std::max(1, config.timeout_ms)),
      cache_(options.max_entries) {
  options_.max_ttl = std::max(options_.max_ttl, std::chrono::seconds(0));
  options_.negative_ttl = std::max(options_.negative_ttl, std::chrono::seconds(0));
}

std::string CaresResolver::init(const ResolverConfig& config) {
  for (const StaticHost& host : config.static_hosts) {
    std::vector<policy::IpAddress> addresses;
    for (const std::string& literal : host.addresses) {
      std::optional<policy::IpAddress> address = policy::IpAddress::parse(literal);
      if (!address) {
        return "[resolver] static entry \"" + host.name + "\": \"" + literal +
               "\" is not an IP address";
      }
      addresses.push_back(*address);
    }
    if (addresses.empty()) return "[resolver] static entry \"" + host.name + "\" has no address";
    if (addresses.size() > kMaxAddresses) {
      return "[resolver] static entry \"" + host.name + "\" has more than " +
             std::to_string(kMaxAddresses) + " addresses";
    }
    static_hosts_[host.name] = std::move(addresses);
  }

  int rc = initLibrary();
  if (rc != ARES_SUCCESS) return std::string("c-ares library init failed: ") + ares_strerror(rc);

  // The per-try timeout is chosen so that all tries over all servers fit in timeout_ms.
  std::string servers_csv;
  int server_count = static_cast<int>(config.servers.size());
  for (const std::string& server : config.servers) {
    std::string canonical = canonicalServer(server);
    if (canonical.empty()) {
      return "[resolver] server \"" + server +
             "\" is not \"ip:port\" or \"[ipv6]:port\" (port 1-65535)";
    }
    if (!servers_csv.empty()) servers_csv += ',';
    servers_csv += canonical;
  }
  if (server_count == 0) {
    ares_channel probe = nullptr;
    rc = ares_init(&probe);
    if (rc != ARES_SUCCESS) {
      return std::string("c-ares init (/etc/resolv.conf) failed: ") + ares_strerror(rc);
    }
    ares_addr_port_node* list = nullptr;
    if (ares_get_servers_ports(probe, &list) == ARES_SUCCESS) {
      for (ares_addr_port_node* node = list; node != nullptr; node = node->next) ++server_count;
      ares_free_data(list);
    }
    ares_destroy(probe);
    server_count = std::max(server_count, 1);
  }

  ares_options opts{};
  opts.flags = ARES_FLAG_NOALIASES | ARES_FLAG_NOSEARCH;
  opts.timeout = std::max(1, static_cast<int>(timeout_.count()) / (kTimeoutUnits * server_count));
  opts.tries = kTries;
  opts.sock_state_cb = &CaresResolver::onSockState;
  opts.sock_state_cb_data = this;
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
             ARES_OPT_NOROTATE;
  rc = ares_init_options(&channel_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    channel_ = nullptr;
    return std::string("c-ares init failed: ") + ares_strerror(rc);
  }
  if (!servers_csv.empty()) {
    rc = ares_set_servers_ports_csv(channel_, servers_csv.c_str());
    if (rc != ARES_SUCCESS) {
      return "[resolver] servers \"" + servers_csv + "\": " + ares_strerror(rc);
    }
  }

  ares_timer_ = dispatcher_.createTimer([this] { processFd(ARES_SOCKET_BAD, ARES_SOCKET_BAD); });
  deliver_timer_ = dispatcher_.createTimer([this] { deliverReady(); });
  return {};
}

CaresResolver::~CaresResolver() {
  if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  destroying_ = true;
  for (Request* request : ready_) request->detach();
  ready_.clear();
  for (auto& query : queries_) {
    for (Request* request : query->waiters) request->detach();
    query->waiters.clear();
  }
  // Runs every outstanding c-ares callback (ARES_EDESTRUCTION, ignored while destroying_) and
  // closes the sockets, which removes their polls through onSockState.
  if (channel_ != nullptr) ares_destroy(channel_);
  channel_ = nullptr;
  polls_.clear();
  inflight_.clear();
  queries_.clear();
}

CancelHandlePtr CaresResolver::resolve(const std::string& name,
                                       std::function<void(const DnsAnswer&)> callback) {
  auto request = std::make_unique<Request>(this, std::move(callback));

  if (auto it = static_hosts_.find(name); it != static_hosts_.end()) {
    DnsAnswer answer;
    answer.status = DnsStatus::kOk;
    answer.addresses = it->second;
    answer.from_static = true;
    ++stats_.static_answers;
    deliverLater(request.get(), std::move(answer));
    return request;
  }
  if (std::optional<DnsAnswer> hit = cache_.lookup(name, dispatcher_.now())) {
    ++stats_.cache_hits;
    deliverLater(request.get(), std::move(*hit));
    return request;
  }
  if (auto it = inflight_.find(name); it != inflight_.end()) {
    ++stats_.coalesced;
    request->link(it->second->waiters);
    return request;
  }
  if (queries_.size() >= options_.max_inflight) {
    // Fail fast rather than queue: the caller answers 503 and the client may retry.
    ++stats_.overloaded;
    DnsAnswer answer;
    answer.status = DnsStatus::kServFail;
    answer.overloaded = true;
    deliverLater(request.get(), std::move(answer));
    return request;
  }

  queries_.push_back(std::make_unique<Query>());
  Query* query = queries_.back().get();
  query->self = std::prev(queries_.end());
  query->resolver = this;
  query->name = name;
  inflight_.emplace(name, query);
  request->link(query->waiters);
  ++stats_.upstream_queries;
  startQuery(query);
  return request;
}

void CaresResolver::startQuery(Query* query) {
  query->deadline = dispatcher_.createTimer([this, query] {
    if (!query->answered) finish(query);
  });
  query->deadline->enable(timeout_);
  query->lookups[0].query = query;
  query->lookups[0].v6 = false;
  query->lookups[1].query = query;
  query->lookups[1].v6 = true;
  // Both callbacks may run inline (bad name, no server); the query stays alive until the
  // second one, and nothing of it is used after the second call.
  query->outstanding = 2;
  ares_query(channel_, query->name.c_str(), kClassIn, kTypeA, &CaresResolver::onAnswer,
             &query->lookups[0]);
  ares_query(channel_, query->name.c_str(), kClassIn, kTypeAaaa, &CaresResolver::onAnswer,
             &query->lookups[1]);
  rearmAresTimer();
}

void CaresResolver::onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                             int alen) noexcept {
  auto* lookup = static_cast<Query::Lookup*>(arg);
  if (lookup == nullptr || lookup->query == nullptr) return;
  Query* query = lookup->query;
  CaresResolver* self = query->resolver;
  if (self == nullptr || self->destroying_) return;

  lookup->done = true;
  switch (status) {
    case ARES_SUCCESS:
      lookup->status = DnsStatus::kServFail;  // until the reply parses
      break;
    case ARES_ENODATA:
      lookup->status = DnsStatus::kNoData;
      break;
    case ARES_ENOTFOUND:
      lookup->status = DnsStatus::kNxDomain;
      break;
    case ARES_ETIMEOUT:
      lookup->status = DnsStatus::kTimeout;
      break;
    default:  // SERVFAIL, REFUSED, FORMERR, NOTIMP, bad replies, refused TCP, bad names
      lookup->status = DnsStatus::kServFail;
      break;
  }
  if (status == ARES_SUCCESS && replyWellFormed(abuf, alen, query->name)) {
    int count = static_cast<int>(kMaxAddresses);
    hostent* host = nullptr;
    int rc = ARES_EBADRESP;
    if (!lookup->v6) {
      std::array<ares_addrttl, kMaxAddresses> ttls{};
      rc = ares_parse_a_reply(abuf, alen, &host, ttls.data(), &count);
      for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
        lookup->addresses.emplace_back(policy::IpAddress::v4(ntohl(ttls[i].ipaddr.s_addr)),
                                       static_cast<uint32_t>(std::max(0, ttls[i].ttl)));
      }
    } else {
      std::array<ares_addr6ttl, kMaxAddresses> ttls{};
      rc = ares_parse_aaaa_reply(abuf, alen, &host, ttls.data(), &count);
      for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
        std::array<uint8_t, 16> bytes{};
        std::copy_n(ttls[i].ip6addr._S6_un._S6_u8, 16, bytes.begin());
        lookup->addresses.emplace_back(policy::IpAddress::v6(bytes),
                                       static_cast<uint32_t>(std::max(0, ttls[i].ttl)));
      }
    }
    if (host != nullptr) ares_free_hostent(host);
    if (rc == ARES_SUCCESS) {
      lookup->status = lookup->addresses.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
    } else if (rc == ARES_ENODATA) {
      lookup->status = DnsStatus::kNoData;
    }
  }
  --query->outstanding;
  self->onLookupDone(query);
}

void CaresResolver::onLookupDone(Query* query) {
  if (query->outstanding > 0) return;
  if (!query->answered) finish(query);
  release(query);
}

void CaresResolver::finish(Query* query) {
  query->answered = true;
  query->deadline->disable();
  inflight_.erase(query->name);
  DnsAnswer answer = combine(*query);
  if (answer.status == DnsStatus::kTimeout) ++stats_.timeouts;
  // An answer one family failed to complete (deadline, timeout, servfail) is delivered but not
  // remembered: the next request asks again.
  auto complete = [](const Query::Lookup& l) {
    return l.done && l.status != DnsStatus::kTimeout && l.status != DnsStatus::kServFail;
  };
  if (complete(query->lookups[0]) && complete(query->lookups[1])) {
    cache_.insert(query->name, answer, dispatcher_.now());
  }
  for (Request* request : query->waiters) {
    request->answer = answer;
    request->list = &ready_;
  }
  ready_.splice(ready_.end(), query->waiters);
  if (!ready_.empty() && !deliver_timer_->enabled()) {
    deliver_timer_->enable(std::chrono::milliseconds(0));
  }
}

DnsAnswer CaresResolver::combine(const Query& query) const {
  DnsAnswer answer;
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  for (const Query::Lookup& lookup : query.lookups) {
    for (const auto& [address, address_ttl] : lookup.addresses) {
      if (answer.addresses.size() >= kMaxAddresses) break;
      answer.addresses.push_back(address);
      ttl = std::min(ttl, address_ttl);
    }
  }
  if (!answer.addresses.empty()) {
    answer.status = DnsStatus::kOk;
    answer.ttl = std::min(std::chrono::seconds(ttl), options_.max_ttl);
    return answer;
  }
  auto status = [](const Query::Lookup& l) { return l.done ? l.status : DnsStatus::kTimeout; };
  DnsStatus v4 = status(query.lookups[0]);
  DnsStatus v6 = status(query.lookups[1]);
  if (v4 == DnsStatus::kServFail || v6 == DnsStatus::kServFail) {
    answer.status = DnsStatus::kServFail;
  } else if (v4 == DnsStatus::kTimeout || v6 == DnsStatus::kTimeout) {
    answer.status = DnsStatus::kTimeout;
  } else if (v4 == DnsStatus::kNxDomain && v6 == DnsStatus::kNxDomain) {
    answer.status = DnsStatus::kNxDomain;
    answer.ttl = options_.negative_ttl;
  } else {
    answer.status = DnsStatus::kNoData;
    answer.ttl = options_.negative_ttl;
  }
  return answer;
}

void CaresResolver::release(Query* query) {
  for (Request* request : query->waiters) request->detach();
  queries_.erase(query->self);
}

void CaresResolver::forget(Request* request) {
  if (request->list != nullptr) request->list->erase(request->pos);
  request->detach();
}

void CaresResolver::deliverLater(Request* request, DnsAnswer answer) {
  request->answer = std::move(answer);
  request->link(ready_);
  if (!deliver_timer_->enabled()) deliver_timer_->enable(std::chrono::milliseconds(0));
}

void CaresResolver::deliverReady() {
  bool destroyed = false;
  destroyed_flag_ = &destroyed;
  while (!ready_.empty()) {
    Request* request = ready_.front();
    ready_.pop_front();
    request->detach();
    // The callback may destroy the request, other requests or the resolver itself.
    std::function<void(const DnsAnswer&)> callback = std::move(request->callback);
    DnsAnswer answer = std::move(request->answer);
    if (callback) callback(answer);
    if (destroyed) return;
  }
  destroyed_flag_ = nullptr;
}

void CaresResolver::processFd(ares_socket_t read_fd, ares_socket_t write_fd) {
  if (channel_ == nullptr || destroying_) return;
  ares_process_fd(channel_, read_fd, write_fd);
  rearmAresTimer();
}

void CaresResolver::rearmAresTimer() {
  if (channel_ == nullptr || destroying_) return;
  timeval tv{};
  timeval* next = ares_timeout(channel_, nullptr, &tv);
  if (next == nullptr) {
    ares_timer_->disable();
    return;
  }
  // Rounded up: firing before c-ares's deadline would only spin.
  auto ms = static_cast<int64_t>(next->tv_sec) * 1000 + (next->tv_usec + 999) / 1000;
  ares_timer_->enable(std::chrono::milliseconds(ms));
}

void CaresResolver::watchSocket(ares_socket_t fd, bool readable, bool writable) {
  if (!readable && !writable) {
    // c-ares closes the socket right after this callback: stop watching it first.
    polls_.erase(fd);
    return;
  }
  auto it = polls_.find(fd);
  if (it == polls_.end()) {
    event::UvHandle<uv_poll_t> poll;
    if (uv_poll_init_socket(dispatcher_.loop(), poll.get(), fd) != 0) {
      // Unwatched, the lookup times out through ares_timer_ and the query deadline.
      return;
    }
    poll.markInitialised();
    poll->data = this;
    it = polls_.emplace(fd, std::move(poll)).first;
  }
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  if (uv_poll_start(it->second.get(), events, &CaresResolver::onPoll) != 0) polls_.erase(it);
}

void CaresResolver::onSockState(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  auto* self = static_cast<CaresResolver*>(data);
  if (self == nullptr) return;
  self->watchSocket(fd, readable != 0, writable != 0);
}

void CaresResolver::onPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* self = static_cast<CaresResolver*>(handle->data);
  if (self == nullptr) return;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(handle), &fd) != 0) return;
  // On a poll error, let c-ares read and write so that it sees the socket error itself.
  bool readable = status < 0 || (events & UV_READABLE) != 0;
  bool writable = status < 0 || (events & UV_WRITABLE) != 0;
  self->processFd(readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
}

}  // namespace gatehouse::net
