// The session managers gatehouse can run (SPEC §6), selected by name from the configuration:
// `[listener] session_manager = "builtin"`.
//
// A registry is a plain table of names and factories, filled by an explicit call
// (builtinSessionManagers()) in the composition root: no static registration objects, no
// initialisation-order surprises, and a test can build its own. A factory runs once at startup
// and returns the manager: what makes each worker's SessionResolver, and whether the control API
// may create sessions.
//
//   builtin   static sessions from [[sessions]] and dynamic ones from the control API, both in
//             one SessionStore (control/session_store.h)
//   none      no identification: every client gets the default environment; [[sessions]] and
//             session creation through the API are refused
//
// Threading: the registry and the factories on the main thread; make_resolver is called on each
// worker's loop thread and the resolver it returns is used there.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/session_store.h"
#include "proxy/conn/session.h"
#include "proxy/event/dispatcher.h"

namespace gatehouse::control {

struct SessionManager {
  std::function<std::unique_ptr<conn::SessionResolver>(event::Dispatcher&)> make_resolver;
  bool dynamic_sessions = false;  // POST /v1/sessions is accepted
};

class SessionManagerRegistry final {
 public:
  // `store` holds the configured sessions; managers that identify clients share it.
  using Factory = std::function<SessionManager(std::shared_ptr<const SessionStore> store)>;

  void add(std::string name, std::string description, Factory factory);
  // nullptr when there is no manager of that name.
  const Factory* find(std::string_view name) const;
  std::vector<std::string> names() const;
  const std::string& description(std::string_view name) const;

 private:
  struct Entry {
    std::string name;
    std::string description;
    Factory factory;
  };
  std::vector<Entry> entries_;
};

// "builtin" and "none".
SessionManagerRegistry builtinSessionManagers();

}  // namespace gatehouse::control
