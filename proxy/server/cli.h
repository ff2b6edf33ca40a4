// The gatehouse command line (SPEC §9). main() only forwards to runCli(), so that tests can run
// every command in-process and read what it prints.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gatehouse::server {

// Exit statuses shared by the commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDenied = 1;  // explain: denied; check-config/test/lint: problems found
inline constexpr int kExitUsage = 2;   // usage or config error

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gatehouse::server
