// [listener]: the proxy listener (forward HTTP, CONNECT, local /git/ endpoints).
#pragma once

#include <string>

#include "policy/source.h"

namespace gatehouse::server {

struct ListenerConfig {
  std::string address = "127.0.0.1:3128";  // "ip:port" or "[ipv6]:port"; port 0 = any free port
  policy::SourcePos address_pos;
  int workers = 0;  // event-loop threads; 0 = one per core
  policy::SourcePos workers_pos;
};

}  // namespace gatehouse::server
