// [git]: where the git path sends upstream traffic (SPEC §7).
#pragma once

#include <string>
#include <vector>

#include "policy/source.h"

namespace gatehouse::gitproxy {

struct ConnectTo {
  std::string host;    // upstream host name as in the base URLs
  std::string target;  // "ip:port" actually dialed
  policy::SourcePos pos;
};

struct GitConfig {
  std::string upstream = "https://github.com";  // smart-HTTP base URL (may carry a path)
  policy::SourcePos upstream_pos;
  std::string api_upstream = "https://api.github.com";  // REST base URL
  policy::SourcePos api_upstream_pos;
  std::string ca_file;  // extra CA bundle for upstream verification ("" = system store)
  policy::SourcePos ca_file_pos;
  std::vector<ConnectTo> connect_to;
};

}  // namespace gatehouse::gitproxy
