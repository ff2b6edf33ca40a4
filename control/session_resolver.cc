#include "control/session_resolver.h"

#include <chrono>
#include <utility>

namespace gatehouse::control {
namespace {

// Holds the answer until the 0 ms timer delivers it. The timer is owned here: destroying the
// handle destroys the timer, whose callback then never runs.
class Delivery final : public net::CancelHandle {
 public:
  Delivery(event::Dispatcher& dispatcher, conn::SessionResult result,
           std::function<void(conn::SessionResult)> done)
      : result_(std::move(result)), done_(std::move(done)) {
    timer_ = dispatcher.createTimer([this] { deliver(); });
    timer_->enable(std::chrono::milliseconds(0));
  }

 private:
  void deliver() {
    // The callback may destroy this handle: move everything it needs to locals first and touch
    // no member afterwards. The timer keeps its own callable alive while it runs.
    std::function<void(conn::SessionResult)> done = std::move(done_);
    conn::SessionResult result = std::move(result_);
    done_ = nullptr;
    if (done) done(std::move(result));
  }

  conn::SessionResult result_;
  std::function<void(conn::SessionResult)> done_;
  event::TimerPtr timer_;  // last: destroyed first, so no delivery into a half-destroyed handle
};

}  // namespace

net::CancelHandlePtr deliverLater(event::Dispatcher& dispatcher, conn::SessionResult result,
                                  std::function<void(conn::SessionResult)> done) {
  return std::make_unique<Delivery>(dispatcher, std::move(result), std::move(done));
}

StoreSessionResolver::StoreSessionResolver(event::Dispatcher& dispatcher,
                                           std::shared_ptr<const SessionStore> store)
    : dispatcher_(dispatcher), store_(std::move(store)) {}

std::optional<conn::SessionResult> StoreSessionResolver::resolveNow(
    const conn::SessionQuery& query) {
  return store_->identify(query, std::chrono::system_clock::now());
}

net::CancelHandlePtr StoreSessionResolver::resolve(const conn::SessionQuery& query,
                                                   std::function<void(conn::SessionResult)> done) {
  return deliverLater(dispatcher_, store_->identify(query, std::chrono::system_clock::now()),
                      std::move(done));
}

}  // namespace gatehouse::control
