// [resolver]: how destination names are resolved (SPEC §3.6).
#pragma once

#include <string>
#include <vector>

#include "policy/source.h"

namespace gatehouse::net {

struct StaticHost {
  std::string name;                    // canonical host name
  std::vector<std::string> addresses;  // IP literals, tried in order
  policy::SourcePos pos;
};

struct ResolverConfig {
  std::vector<std::string> servers;  // "ip:port" / "[ipv6]:port"; empty = /etc/resolv.conf
  policy::SourcePos servers_pos;
  int timeout_ms = 2000;  // per query
  policy::SourcePos timeout_pos;
  std::vector<StaticHost> static_hosts;  // fixed answers, like curl --resolve
};

}  // namespace gatehouse::net
