#include "control/session_managers.h"

#include <algorithm>
#include <optional>

#include "control/session_resolver.h"

namespace gatehouse::control {

namespace {

// Answers every client with the default environment, at once.
class AnonymousResolver final : public conn::SessionResolver {
 public:
  AnonymousResolver(event::Dispatcher& dispatcher, std::shared_ptr<conn::SessionLimits> limits)
      : dispatcher_(dispatcher), limits_(std::move(limits)) {}

  std::optional<conn::SessionResult> resolveNow(const conn::SessionQuery&) override {
    return anonymous();
  }
  net::CancelHandlePtr resolve(const conn::SessionQuery&,
                               std::function<void(conn::SessionResult)> done) override {
    return deliverLater(dispatcher_, anonymous(), std::move(done));
  }

 private:
  conn::SessionResult anonymous() const {
    return conn::SessionResult{conn::SessionStatus::kAnonymous, nullptr,
                               "no session manager; default environment", limits_};
  }
  event::Dispatcher& dispatcher_;
  std::shared_ptr<conn::SessionLimits> limits_;  // shared by every worker
};

}  // namespace

void SessionManagerRegistry::add(std::string name, std::string description, Factory factory) {
  entries_.push_back(Entry{std::move(name), std::move(description), std::move(factory)});
}

const SessionManagerRegistry::Factory* SessionManagerRegistry::find(std::string_view name) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : &it->factory;
}

std::vector<std::string> SessionManagerRegistry::names() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

const std::string& SessionManagerRegistry::description(std::string_view name) const {
  static const std::string kNone;
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.name == name; });
  return it == entries_.end() ? kNone : it->description;
}

SessionManagerRegistry builtinSessionManagers() {
  SessionManagerRegistry registry;
  registry.add("builtin", "static sessions from [[sessions]] and dynamic ones from the control API",
               [](std::shared_ptr<const SessionStore> store) {
                 SessionManager m;
                 m.make_resolver = [store](event::Dispatcher& d) {
                   return std::make_unique<StoreSessionResolver>(d, store);
                 };
                 m.dynamic_sessions = true;
                 return m;
               });
  registry.add("none", "no identification: every client gets the default environment",
               [](std::shared_ptr<const SessionStore> store) {
                 SessionManager m;
                 std::shared_ptr<conn::SessionLimits> limits =
                     store ? store->anonymousLimits() : std::make_shared<conn::SessionLimits>();
                 m.make_resolver = [limits](event::Dispatcher& d) {
                   return std::make_unique<AnonymousResolver>(d, limits);
                 };
                 return m;
               });
  return registry;
}

}  // namespace gatehouse::control
