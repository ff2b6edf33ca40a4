#include <iostream>
#include <string>
#include <vector>

#include "proxy/server/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return gatehouse::server::runCli(args, std::cout, std::cerr);
}
