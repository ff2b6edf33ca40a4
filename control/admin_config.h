// [admin]: the control API and /metrics listener (SPEC §8).
#pragma once

#include <string>

#include "policy/source.h"

namespace gatehouse::control {

struct AdminConfig {
  std::string address = "127.0.0.1:9090";  // "" disables the admin listener
  policy::SourcePos address_pos;
  std::string token_file;  // bearer token for state-changing calls ("" = none)
  policy::SourcePos token_file_pos;
};

}  // namespace gatehouse::control
