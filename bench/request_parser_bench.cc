// Micro benchmarks of the request head path (SPEC §3 step 1 and the forwarded head of step 7):
//
//   Parse/Get/KeepAlive   one typical absolute-form GET (curl's headers) per iteration through
//                         one parser, as on a keep-alive connection
//   Parse/Get/NewParser   the same with a parser constructed per request (a new connection)
//   Parse/Connect         a CONNECT head, parser constructed per head (a tunnel is one head)
//   Serialize/Get         the origin-form head written upstream for the parsed GET
//
// Bytes/s counters are of the head as received.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/http/message.h"
#include "proxy/http/request_parser.h"

namespace gatehouse::http {
namespace {

constexpr std::string_view kGet =
    "GET http://origin.test:8080/assets/app.js?v=3 HTTP/1.1\r\n"
    "Host: origin.test:8080\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Proxy-Connection: Keep-Alive\r\n"
    "\r\n";

constexpr std::string_view kConnect =
    "CONNECT github.com:443 HTTP/1.1\r\n"
    "Host: github.com:443\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Proxy-Connection: Keep-Alive\r\n"
    "\r\n";

// Keeps the last head (as the proxy does until it has decided) and counts events.
class Sink final : public RequestParser::Callbacks {
 public:
  void onRequestHead(RequestHead&& head) override {
    last = std::move(head);
    ++heads;
  }
  void onBody(const char*, size_t) override {}
  void onMessageComplete() override { ++completes; }

  RequestHead last;
  int64_t heads = 0;
  int64_t completes = 0;
};

[[noreturn]] void fixtureBroken(const char* what) {
  std::fprintf(stderr, "request_parser_bench: %s\n", what);
  std::abort();
}

void BM_Parse_Get_KeepAlive(benchmark::State& state) {
  Sink sink;
  RequestParser parser(sink);
  for (auto _ : state) {
    ParseResult r = parser.feed(kGet);
    benchmark::DoNotOptimize(r);
  }
  if (sink.heads != state.iterations() || sink.completes != state.iterations()) {
    state.SkipWithError("the GET was not parsed once per iteration");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kGet.size()));
}

void BM_Parse_Get_NewParser(benchmark::State& state) {
  Sink sink;
  for (auto _ : state) {
    RequestParser parser(sink);
    ParseResult r = parser.feed(kGet);
    benchmark::DoNotOptimize(r);
  }
  if (sink.heads != state.iterations()) state.SkipWithError("the GET was not parsed");
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kGet.size()));
}

void BM_Parse_Connect(benchmark::State& state) {
  Sink sink;
  for (auto _ : state) {
    RequestParser parser(sink);
    ParseResult r = parser.feed(kConnect);
    if (r.status != ParseStatus::kUpgrade) {
      state.SkipWithError("CONNECT did not end in kUpgrade");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kConnect.size()));
}

void BM_Serialize_Get(benchmark::State& state) {
  Sink sink;
  RequestParser parser(sink);
  if (parser.feed(kGet).failed() || sink.heads != 1) fixtureBroken("the GET does not parse");
  const RequestHead head = std::move(sink.last);
  for (auto _ : state) {
    std::string out = serializeRequestHead(head);
    benchmark::DoNotOptimize(out);
  }
}

BENCHMARK(BM_Parse_Get_KeepAlive);
BENCHMARK(BM_Parse_Get_NewParser);
BENCHMARK(BM_Parse_Connect);
BENCHMARK(BM_Serialize_Get);

}  // namespace
}  // namespace gatehouse::http

BENCHMARK_MAIN();
