// Replays fuzz corpora as ordinary tests (any compiler, no libFuzzer): every file in the
// directories or files given on the command line goes through LLVMFuzzerTestOneInput once.
// A fuzzer that finds a bug aborts, and so does this.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  size_t inputs = 0;
  auto run = [&](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++inputs;
  };
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
        if (e.is_regular_file()) run(e.path());
      }
    } else {
      run(arg);
    }
  }
  std::printf("%zu inputs replayed, 0 failed\n", inputs);
  return inputs > 0 ? 0 : 1;
}
