// The request parser never crashes, and its events and result do not depend on how the bytes
// are split into feed() calls: the input is fed from its first byte as one buffer, one byte per
// call and in chunks whose sizes come from the input itself, under default and under small
// limits (which also pause after every head), and all must agree. Every accepted head is
// serialised and the result must parse again as the same request with the same framing, no
// Upgrade and no Proxy-Authorization. The same bytes also go through the response parser,
// whose results must not depend on splitting either.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/message.h"
#include "proxy/http/request_parser.h"
#include "proxy/http/response_parser.h"

namespace {

using gatehouse::http::ParseResult;
using gatehouse::http::ParseStatus;
using gatehouse::http::RequestHead;
using gatehouse::http::RequestParser;
using gatehouse::http::RequestParserOptions;
using gatehouse::http::ResponseHead;
using gatehouse::http::ResponseParser;

void check(bool ok) {
  if (!ok) std::abort();
}

enum class Split : uint8_t { kWhole, kBytes, kChunks };

// Chunk sizes 1..32 from a small PRNG seeded by the input, so a split is reproducible.
class ChunkSizes {
 public:
  explicit ChunkSizes(std::string_view input) {
    for (unsigned char c : input) state_ = state_ * 1099511628211ULL ^ c;
  }
  size_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(state_ >> 59) + 1;
  }

 private:
  uint64_t state_ = 14695981039346656037ULL;
};

size_t sliceSize(Split split, size_t remaining, ChunkSizes& sizes) {
  switch (split) {
    case Split::kWhole:
      return remaining;
    case Split::kBytes:
      return remaining < 1 ? remaining : 1;
    case Split::kChunks: {
      size_t n = sizes.next();
      return n < remaining ? n : remaining;
    }
  }
  return remaining;
}

std::string describe(const RequestHead& h) {
  std::string s =
      h.method + ' ' + h.target + ' ' + h.parsed.scheme + ' ' + h.parsed.host.text + ' ' +
      std::to_string(h.parsed.port) + ' ' + h.parsed.path + ' ' + std::to_string(h.version_major) +
      std::to_string(h.version_minor) + (h.is_connect ? 'C' : '-') + (h.origin_form ? 'O' : '-') +
      (h.keep_alive ? 'K' : '-') + (h.chunked ? 'T' : '-') + (h.expect_continue ? 'E' : '-') +
      (h.has_upgrade ? 'U' : '-') + (h.content_length ? std::to_string(*h.content_length) : "none");
  for (const auto& f : h.headers) s += '\n' + f.name + ':' + f.value;
  return s;
}

class Recorder final : public RequestParser::Callbacks {
 public:
  void onRequestHead(RequestHead&& head) override {
    log += "H{" + describe(head) + "}";
    heads.push_back(std::move(head));
    if (pause_on_head) parser->pause();
  }
  void onBody(const char* data, size_t len) override {
    check(!heads.empty());
    body.append(data, len);
  }
  void onMessageComplete() override {
    log += "B{" + body + "}C";
    body.clear();
  }

  RequestParser* parser = nullptr;
  bool pause_on_head = false;
  std::string log;
  std::string body;  // of the current message
  std::vector<RequestHead> heads;
};

struct Outcome {
  std::string text;
  std::vector<RequestHead> heads;
};

Outcome runRequests(std::string_view input, const RequestParserOptions& options, bool pause,
                    Split split) {
  Recorder rec;
  RequestParser parser(rec, options);
  rec.parser = &parser;
  rec.pause_on_head = pause;
  ChunkSizes sizes(input);
  size_t pos = 0;
  ParseResult r;
  while (true) {
    size_t n = sliceSize(split, input.size() - pos, sizes);
    r = parser.feed(input.data() + pos, n);
    check(r.consumed <= n);
    pos += r.consumed;
    if (r.status == ParseStatus::kPaused) {
      parser.resume();
      continue;
    }
    if (r.status != ParseStatus::kNeedMore || pos >= input.size()) break;
  }
  if (r.status == ParseStatus::kError) {
    check(r.error.status >= 400 && r.error.status <= 505);
    check(!r.error.reason.empty() && !r.error.message.empty());
  }
  if (r.status == ParseStatus::kNeedMore) r = parser.finish();
  Outcome out;
  out.text = rec.log + "|" + rec.body + "|" + std::to_string(static_cast<int>(r.status)) + " " +
             std::to_string(r.error.status) + " " + std::string(r.error.reason) + " @" +
             std::to_string(pos);
  out.heads = std::move(rec.heads);
  return out;
}

// Re-parses a forwarded head with generous limits: it must be one clean request.
void checkForwarded(const RequestHead& h, bool allow_underscores) {
  check(!h.method.empty() && h.method != "TRACE" && h.method != "PRI");
  check(h.version_major == 1 && h.version_minor <= 1);
  check(!(h.chunked && h.content_length));
  if (h.is_connect) {
    check(h.parsed.port != 0 && !h.parsed.host.text.empty());
  } else if (!h.origin_form) {
    check(h.parsed.scheme == "http" && h.parsed.port != 0 && !h.parsed.host.text.empty());
    check(!h.parsed.path.empty() && h.parsed.path[0] == '/');
  } else if (h.parsed.host.text.empty()) {
    return;  // a local-endpoint request without any Host has none to forward
  }
  const std::string upstream = gatehouse::http::serializeRequestHead(h);
  RequestParserOptions options;
  options.max_header_bytes = 1 << 20;
  options.max_headers = 1000;
  options.allow_underscore_headers = allow_underscores;
  options.allow_origin_form_paths = {"/"};
  Recorder rec;
  RequestParser parser(rec, options);
  ParseResult r = parser.feed(upstream);
  check(r.status != ParseStatus::kError);
  check(r.consumed == upstream.size());
  check(rec.heads.size() == 1);
  const RequestHead& again = rec.heads[0];
  check(again.method == h.method);
  check(again.chunked == h.chunked && again.content_length == h.content_length);
  check(!again.has_upgrade);
  check(again.find("proxy-authorization") == nullptr);
  check(again.find("host") != nullptr);
}

class ResponseRecorder final : public ResponseParser::Callbacks {
 public:
  void onInformational(ResponseHead&& head) override { log += "I" + std::to_string(head.status); }
  void onResponseHead(ResponseHead&& head) override {
    log += "H" + std::to_string(head.status) + (head.chunked ? "T" : "-") +
           (head.content_length ? std::to_string(*head.content_length) : "none") +
           (head.body_until_close ? "U" : "-") + (head.keep_alive ? "K" : "-");
    for (const auto& f : head.headers) log += '\n' + f.name + ':' + f.value;
  }
  void onBody(const char* data, size_t len) override { body.append(data, len); }
  void onMessageComplete() override {
    log += "B{" + body + "}C";
    body.clear();
  }
  std::string log;
  std::string body;
};

std::string runResponses(std::string_view input, bool head_first, Split split) {
  ResponseRecorder rec;
  ResponseParser parser(rec);
  parser.expectResponse({.head_request = head_first, .upgrade_allowed = false});
  parser.expectResponse({.head_request = false, .upgrade_allowed = true});
  ChunkSizes sizes(input);
  size_t pos = 0;
  ParseResult r;
  while (true) {
    size_t n = sliceSize(split, input.size() - pos, sizes);
    r = parser.feed(input.data() + pos, n);
    check(r.consumed <= n);
    pos += r.consumed;
    if (r.status != ParseStatus::kNeedMore || pos >= input.size()) break;
  }
  if (r.status == ParseStatus::kError) check(r.error.status == 502);
  if (r.status == ParseStatus::kNeedMore) r = parser.finish();
  return rec.log + "|" + rec.body + "|" + std::to_string(static_cast<int>(r.status)) + " " +
         std::string(r.error.reason) + " @" + std::to_string(pos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  RequestParserOptions small;
  small.max_target = 64;
  small.max_header_bytes = 256;
  small.max_headers = 8;
  small.max_body = 32;
  small.max_chunk_extension_bytes = 16;
  small.allow_underscore_headers = true;
  small.allow_upgrade = true;
  small.allow_origin_form_paths = {"/git/"};

  for (bool limited : {false, true}) {
    const RequestParserOptions options = limited ? small : RequestParserOptions{};
    Outcome whole = runRequests(input, options, limited, Split::kWhole);
    check(runRequests(input, options, limited, Split::kBytes).text == whole.text);
    check(runRequests(input, options, !limited, Split::kChunks).text == whole.text);
    for (const RequestHead& h : whole.heads) checkForwarded(h, options.allow_underscore_headers);
  }

  for (bool head_first : {false, true}) {
    const std::string whole = runResponses(input, head_first, Split::kWhole);
    check(runResponses(input, head_first, Split::kBytes) == whole);
    check(runResponses(input, head_first, Split::kChunks) == whole);
  }
  return 0;
}
