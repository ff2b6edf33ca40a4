// The built-in SessionResolver: answers from a SessionStore (SPEC §6).
//
// Threading: one resolver per worker loop; resolve() and handle destruction on that loop's
// thread. The store is shared by every worker and the control plane (it is thread-safe).
// Identification is synchronous (a hash and a table lookup), so resolveNow() always answers and
// the proxy never waits a loop turn for it. resolve() (for callers that want the asynchronous
// contract) delivers the same answer through a 0 ms timer owned by the returned handle, so the
// callback is never inline and destroying the handle cancels it.
#pragma once

#include <functional>
#include <memory>

#include "control/session_store.h"
#include "proxy/conn/session.h"
#include "proxy/event/dispatcher.h"

namespace gatehouse::control {

// Delivers `result` to `done` from a 0 ms timer on `dispatcher` (never inline); destroying the
// returned handle cancels the delivery. For resolvers whose answer is known at once.
net::CancelHandlePtr deliverLater(event::Dispatcher& dispatcher, conn::SessionResult result,
                                  std::function<void(conn::SessionResult)> done);

class StoreSessionResolver final : public conn::SessionResolver {
 public:
  // `dispatcher` must outlive the resolver and every handle it returned.
  StoreSessionResolver(event::Dispatcher& dispatcher, std::shared_ptr<const SessionStore> store);

  std::optional<conn::SessionResult> resolveNow(const conn::SessionQuery& query) override;
  net::CancelHandlePtr resolve(const conn::SessionQuery& query,
                               std::function<void(conn::SessionResult)> done) override;

 private:
  event::Dispatcher& dispatcher_;
  std::shared_ptr<const SessionStore> store_;
};

}  // namespace gatehouse::control
