// Micro benchmarks of the CONNECT SNI check's reader (proxy/tls/client_hello.h) on ClientHellos
// captured from real clients (tests/fuzz/corpus/client_hello/capture_*; byte 0 of each file is
// the fuzzer's chunking byte and is skipped). One reader per iteration, as per tunnel:
//
//   Whole/<capture>     the ClientHello in one feed() (the usual single segment)
//   Split/<capture>     the same in 64-byte feeds (a client that trickles its first flight)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "proxy/tls/client_hello.h"

namespace gatehouse::tls {
namespace {

std::vector<uint8_t> capture(const std::string& name) {
  const std::string path =
      std::string(GATEHOUSE_SOURCE_DIR) + "/tests/fuzz/corpus/client_hello/" + name;
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < 2) {
    std::fprintf(stderr, "client_hello_bench: cannot read %s\n", path.c_str());
    std::abort();
  }
  return {file.begin() + 1, file.end()};
}

void run(benchmark::State& state, const std::string& name, size_t chunk) {
  const std::vector<uint8_t> hello = capture(name);
  for (auto _ : state) {
    ClientHelloReader reader;
    HelloStatus status = HelloStatus::kNeedMore;
    for (size_t off = 0; off < hello.size() && status == HelloStatus::kNeedMore; off += chunk) {
      status = reader.feed(hello.data() + off, std::min(chunk, hello.size() - off));
    }
    if (status != HelloStatus::kDone) {
      state.SkipWithError("the capture did not parse");
      break;
    }
    benchmark::DoNotOptimize(reader.info());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(hello.size()));
  state.SetLabel(std::to_string(hello.size()) + " bytes");
}

constexpr size_t kWhole = size_t{1} << 20;

void BM_Whole_Curl(benchmark::State& s) { run(s, "capture_curl", kWhole); }
void BM_Whole_OpensslTls13(benchmark::State& s) { run(s, "capture_openssl_tls13", kWhole); }
void BM_Whole_Openssl4Records(benchmark::State& s) { run(s, "capture_openssl_frag512", kWhole); }
void BM_Split64_Curl(benchmark::State& s) { run(s, "capture_curl", 64); }

BENCHMARK(BM_Whole_Curl);
BENCHMARK(BM_Whole_OpensslTls13);
BENCHMARK(BM_Whole_Openssl4Records);
BENCHMARK(BM_Split64_Curl);

}  // namespace
}  // namespace gatehouse::tls

BENCHMARK_MAIN();
