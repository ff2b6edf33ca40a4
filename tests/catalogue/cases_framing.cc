// BAD-INPUTS F (HTTP/1 framing and request smuggling). Every refusal is followed, in the same
// write, by a valid request ({T}/after) that must never be answered nor forwarded (INV-CLOSE);
// every forwarded request is re-parsed by the strict sink, which must see one canonical framing.
//
// Where the catalogue leaves a choice, the row asserts what gatehouse does:
//   F4  Content-Length with a leading zero: 400 (never forwarded as 010)
//   F5  unknown/unsupported codings: 501; F10 trailers: dropped, the request forwarded;
//   F23 upstream garbage: 502 before the response started, truncation + close after.
// F22's 134 smuggler mutations are generated (generators.cc); the rows here are its fixed ones.
#include <algorithm>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

namespace {

const std::string kPost = "POST http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n";
const std::string kGet = "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\r\n";
const std::string kChunked = kPost + "Transfer-Encoding: chunked\r\n\r\n";

Check lengthBody(const std::string& body) {
  return all({hasHeader("Content-Length", std::to_string(body.size())),
              lacksHeader("Transfer-Encoding"), bodyIs(body)});
}

Check chunkedBody(const std::string& body) {
  return all(
      {hasHeader("Transfer-Encoding", "chunked"), lacksHeader("Content-Length"), bodyIs(body)});
}

// A broken upstream response (strict_sink.cc brokenResponse): the first response's status is
// one of `first`; with `follow_served` the next request on the same client connection gets its
// own answer (no desync), otherwise the connection closes after the first response.
Case badResponse(std::string id, std::string why, std::string kind, std::vector<int> first,
                 bool follow_served, std::string method = "GET") {
  return custom(std::move(id), std::move(why), [kind, first, follow_served, method](Ctx& ctx) {
    auto client = ctx.connect();
    if (client == nullptr) return;
    // The next request goes only after the first response (pipelined: see F23.r).
    const std::string bytes =
        ctx.expand(method + " http://{A}{T}/r/" + kind + " HTTP/1.1\r\nHost: {A}\r\n\r\n");
    ctx.sent = bytes;
    client->send(bytes);
    auto r = client->readResponse(milliseconds(3000), method == "HEAD");
    if (!ctx.expect(r.has_value(),
                    "no complete first response; got " + escapeBytes(client->buffered(), 200))) {
      return;
    }
    ctx.expect(std::find(first.begin(), first.end(), r->status) != first.end(),
               "first response: unexpected status " + std::to_string(r->status) + " " +
                   r->header("X-Gatehouse-Reason") + " " + escapeBytes(r->body, 80));
    ctx.expect(r->body.find("smuggled") == std::string::npos &&
                   r->head.find("\r\nX-A: a\r") == std::string::npos,
               "upstream garbage relayed: " + escapeBytes(r->head + r->body, 200));
    if (follow_served) {
      client->send(ctx.followUp());
      auto second = client->readResponse(milliseconds(3000));
      if (!ctx.expect(second.has_value(), "the next request was not answered")) return;
      ctx.expect(second->status == 200 && second->body == "ok " + ctx.path("/after") + "\n",
                 "the next request got another answer (desync): " +
                     escapeBytes(second->head + second->body, 200));
    } else {
      ctx.expect(client->waitForClose(milliseconds(3000)), "the connection stayed open");
      ctx.expect(client->buffered().empty(),
                 "more after the first response: " + escapeBytes(client->buffered(), 200));
    }
  });
}

// The pool holds an idle connection to the sink (a request answered first), then a request the
// upstream fails is pipelined with another: the failure's response must come first and end the
// connection; the second request is never answered nor forwarded (no response desync).
Case pipelinedAfterFailure(std::string id, std::string why, std::string suffix, int status) {
  return custom(std::move(id), std::move(why),
                [suffix, status](Ctx& ctx) {
                  auto warm = ctx.exchangeUntilClose(ctx.expand(
                      "GET http://{A}{T}/warm HTTP/1.1\r\nHost: {A}\r\nConnection: close\r\n\r\n"));
                  if (!ctx.expect(!warm.responses.empty() && warm.responses[0].status == 200,
                                  "warm-up failed")) {
                    return;
                  }
                  const std::string bytes =
                      ctx.expand("GET http://{A}{T}" + suffix + " HTTP/1.1\r\nHost: {A}\r\n\r\n") +
                      ctx.followUp();
                  ctx.sent = bytes;
                  auto ex = ctx.exchangeUntilClose(bytes, milliseconds(6000));
                  std::string got;
                  for (const auto& r : ex.responses) {
                    got +=
                        std::to_string(r.status) + " " + escapeBytes(r.body.substr(0, 40)) + "; ";
                  }
                  ctx.expect(ex.responses.size() == 1 && ex.responses[0].status == status,
                             "expected exactly one response, " + std::to_string(status) +
                                 ", actual: " + got);
                  ctx.expect(ex.closed, "the connection stayed open");
                  ctx.expect(ctx.sinkRecords("/after").empty(),
                             "the pipelined request was forwarded after the failure");
                })
      .serialRun();
}

}  // namespace

std::vector<Case> framingCases() {
  std::vector<Case> c = {
      // ---- F1 ----
      refuse("F1", "Content-Length then Transfer-Encoding (CL.TE)",
             kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
          .reasonIs("te-and-cl"),
      refuse("F1.b", "Transfer-Encoding then Content-Length (TE.CL)",
             kPost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400)
          .reasonIs("te-and-cl"),
      refuse("F1.c", "Content-Length: 0 with chunked",
             kPost + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
      refuse("F1.d", "CL.TE on a GET",
             kGet + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
      refuse("F1.e", "TE.CL with lowercase names",
             kPost + "transfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n", 400),
      refuse("F1.f", "CL.TE with an unsupported coding",
             kPost + "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400),
      // ---- F2 ----
      refuse("F2", "duplicate equal Content-Length",
             kPost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400)
          .reasonIs("duplicate-content-length"),
      refuse("F2.b", "duplicate different Content-Length",
             kPost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
      refuse("F2.c", "Content-Length list 1, 1", kPost + "Content-Length: 1, 1\r\n\r\nx", 400),
      refuse("F2.d", "Content-Length list 5,5", kPost + "Content-Length: 5,5\r\n\r\nhello", 400),
      refuse("F2.e", "Content-Length with a trailing comma",
             kPost + "Content-Length: 5,\r\n\r\nhello", 400),
      refuse("F2.f", "a second, empty Content-Length",
             kPost + "Content-Length: 5\r\nContent-Length:\r\n\r\nhello", 400),
      // ---- F3, F4 ----
      refuse("F3", "Content-Length +1", kPost + "Content-Length: +1\r\n\r\nx", 400),
      refuse("F3.b", "Content-Length 0x10", kPost + "Content-Length: 0x10\r\n\r\n", 400),
      refuse("F3.c", "Content-Length -1", kPost + "Content-Length: -1\r\n\r\n", 400),
      refuse("F3.d", "empty Content-Length", kPost + "Content-Length:\r\n\r\n", 400),
      refuse("F3.e", "Content-Length 1Z", kPost + "Content-Length: 1Z\r\n\r\nx", 400),
      refuse("F3.f", "Content-Length 10^22",
             kPost + "Content-Length: 10000000000000000000000\r\n\r\n", 400),
      refuse("F3.g", "Content-Length with an inner space",
             kPost + "Content-Length: 5 5\r\n\r\nhello", 400),
      refuse("F3.h", "Content-Length 1.0", kPost + "Content-Length: 1.0\r\n\r\nx", 400),
      refuse("F3.i", "Content-Length 1e3", kPost + "Content-Length: 1e3\r\n\r\n", 400),
      refuse("F3.j", "Content-Length with an Arabic-Indic digit",
             kPost + "Content-Length: \xd9\xa5\r\n\r\nhello", 400),
      refuse("F3.k", "Content-Length 2^64", kPost + "Content-Length: 18446744073709551616\r\n\r\n",
             400),
      refuse("F4", "Content-Length 010: refused, never forwarded as 010",
             kPost + "Content-Length: 010\r\n\r\n0123456789", 400),
      refuse("F4.b", "Content-Length 00", kPost + "Content-Length: 00\r\n\r\n", 400),
      forward("F4.c", "Content-Length 0 is forwarded as 0", kPost + "Content-Length: 0\r\n\r\n",
              lengthBody("")),
      forward("F4.d", "Content-Length with surrounding spaces is canonicalised",
              kPost + "Content-Length:   5  \r\n\r\nhello", lengthBody("hello")),
      refuse("F4.e", "Content-Length followed by HT: refused (llhttp takes SP only; strict, safe)",
             kPost + "Content-Length: 5\t\r\n\r\nhello", 400),
      // ---- F5, F6 ----
      refuse("F5", "Transfer-Encoding: identity", kPost + "Transfer-Encoding: identity\r\n\r\n",
             501)
          .reasonIs("unsupported-transfer-coding"),
      refuse("F5.b", "Transfer-Encoding: gzip", kPost + "Transfer-Encoding: gzip\r\n\r\n", 501),
      refuse("F5.c", "Transfer-Encoding: chunked, identity",
             kPost + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501),
      refuse("F5.d", "Transfer-Encoding: identity, chunked (llhttp reads it as chunked)",
             kPost + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 501),
      refuse("F5.e", "Transfer-Encoding: ,chunked (llhttp reads it as chunked)",
             kPost + "Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", 501),
      refuse("F5.f", "Transfer-Encoding: xchunked", kPost + "Transfer-Encoding: xchunked\r\n\r\n",
             501),
      refuse("F5.g", "Transfer-Encoding with NBSP around chunked",
             kPost + "Transfer-Encoding: \xa0"
                     "chunked\xa0\r\n\r\n0\r\n\r\n",
             501),
      refuse("F5.h", "two Transfer-Encoding: chunked lines",
             kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             501),
      refuse("F5.i", "Transfer-Encoding: chunked;q=1",
             kPost + "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 501),
      refuse("F5.j", "Transfer-Encoding: deflate, chunked",
             kPost + "Transfer-Encoding: deflate, chunked\r\n\r\n0\r\n\r\n", 501),
      refuse("F5.k",
             "Transfer-Encoding: chunked with a trailing space (llhttp does not read it as "
             "chunked)",
             kPost + "Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n", 501),
      refuse("F5.l", "empty Transfer-Encoding", kPost + "Transfer-Encoding:\r\n\r\n", 501),
      forward("F5.m", "Transfer-Encoding: CHUNKED (case-insensitive)",
              kPost + "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              chunkedBody("hello")),
      forward("F5.n", "chunked with no space after the colon",
              kPost + "Transfer-Encoding:chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              chunkedBody("hello")),
      refuse(
          "F6", "Transfer-Encoding in HTTP/1.0",
          "POST http://{A}{T} HTTP/1.0\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
          400)
          .reasonIs("te-in-http10"),
      refuse("F6.b", "unsupported Transfer-Encoding in HTTP/1.0",
             "POST http://{A}{T} HTTP/1.0\r\nHost: {A}\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
      // ---- F7, F8: bad chunked bodies (the head may be upstream already) ----
      refuse("F7", "chunk size 0_2e", kChunked + "0_2e\r\n\r\n", 400).headMayReach(),
      refuse("F7.b", "chunk size 0x1", kChunked + "0x1\r\na\r\n0\r\n\r\n", 400).headMayReach(),
      refuse("F7.c", "chunk size with a leading SP", kChunked + " 1\r\na\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F7.d", "chunk size with a trailing SP", kChunked + "1 \r\na\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F7.e", "chunk size overflow", kChunked + "fffffffffffffffff1\r\na\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F7.f", "empty chunk size", kChunked + "\r\na\r\n0\r\n\r\n", 400).headMayReach(),
      refuse("F7.g", "chunk size -0x0", kChunked + "-0x0\r\n\r\n", 400).headMayReach(),
      refuse("F7.h", "chunk size +5", kChunked + "+5\r\nhello\r\n0\r\n\r\n", 400).headMayReach(),
      refuse("F7.i", "chunk size with a tab", kChunked + "5\t\r\nhello\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F8", "bare CR in a chunk extension", kChunked + "5\r\r;ABCD\r\nhello\r\n0\r\n\r\n",
             400)
          .headMayReach(),
      refuse("F8.b", "bare LF after the chunk size", kChunked + "5\nhello\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F8.c", "no CRLF after the chunk data", kChunked + "5\r\nhelloXX0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F8.d", "bare LF after the chunk data", kChunked + "5\r\nhello\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F8.e", "chunk data longer than its size", kChunked + "3\r\nhello\r\n0\r\n\r\n", 400)
          .headMayReach(),
      refuse("F8.f", "bare LF in the last chunk", kChunked + "5\r\nhello\r\n0\n\r\n", 400)
          .headMayReach(),
      refuse(
          "F9", "a chunk extension flood (64 KiB of ;a=b)",
          kChunked + "5" +
              [] {
                std::string ext;
                while (ext.size() < 65536) ext += ";a=b";
                return ext;
              }() +
              "\r\nhello\r\n0\r\n\r\n",
          413)
          .headMayReach()
          .reasonIs("chunk-extensions-too-large"),
      forward("F9.b", "small chunk extensions are accepted and not forwarded verbatim",
              kChunked + "5;name=value\r\nhello\r\n0\r\n\r\n", chunkedBody("hello")),
      // ---- F10 ----
      forward("F10", "a Host trailer is dropped, never forwarded",
              kChunked + "5\r\nhello\r\n0\r\nHost: evil.test\r\n\r\n", chunkedBody("hello"))
          .noDns("evil.test"),
      refuse("F10.d",
             "a Content-Length trailer: 400 (the head may be upstream, the request is "
             "never completed there)",
             kChunked + "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", 400)
          .headMayReach()
          .reasonIs("bad-trailer"),
      refuse("F10.e", "a Transfer-Encoding trailer: 400",
             kChunked + "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", 400)
          .headMayReach(),
      forward("F10.b", "a trailer announced by Trailer is dropped too",
              kPost + "Trailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                      "X-Checksum: 1\r\n\r\n",
              all({chunkedBody("hello"), lacksHeader("Trailer")})),
      refuse("F10.c", "a malformed trailer line",
             kChunked + "5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n", 400)
          .headMayReach(),
      // ---- F11-F19: the head's syntax ----
      refuse("F11", "bare CR inside a header value smuggling a TE",
             kGet + "X-Abc: \rxTransfer-Encoding: chunked\r\n\r\n", 400),
      refuse("F11.b", "bare CR inside the Host value",
             "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\rX: y\r\n\r\n", 400),
      refuse("F11.c", "bare CR ending a header line",
             kGet + "X-A: b\r\rContent-Length: 5\r\n\r\nhello", 400),
      refuse("F11.d", "bare CR in the request line",
             "GET http://{A}{T}\r HTTP/1.1\r\nHost: {A}\r\n\r\n", 400),
      refuse("F12", "head terminated by CRLF CR X", kGet + "\rX", 400),
      refuse("F12.b", "head terminated by CRLF CR CR LF", kGet + "\r\r\n", 400),
      refuse("F13", "obs-fold on an ordinary header", kGet + "X-A: a\r\n b\r\n\r\n", 400),
      refuse("F13.b", "obs-fold on Transfer-Encoding",
             kPost + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
      refuse("F13.c", "obs-fold with a tab", kGet + "X-A: a\r\n\tb\r\n\r\n", 400),
      refuse("F13.d", "obs-fold on Host", "GET http://{A}{T} HTTP/1.1\r\nHost:\r\n {A}\r\n\r\n",
             400),
      refuse("F13.e", "obs-fold on Content-Length", kPost + "Content-Length:\r\n 5\r\n\r\nhello",
             400),
      refuse("F14", "a line starting with SP right after the request line",
             "GET http://{A}{T} HTTP/1.1\r\n Content-Length: 5\r\nHost: {A}\r\n\r\n", 400),
      refuse("F14.b", "a line starting with HT right after the request line",
             "GET http://{A}{T} HTTP/1.1\r\n\tX: y\r\nHost: {A}\r\n\r\n", 400),
      refuse("F15", "empty field name", kGet + ": x\r\n\r\n", 400),
      refuse("F15.b", "lone colon", kGet + ":\r\n\r\n", 400),
      refuse("F15.c", "empty name with a framing value",
             kPost + ": chunked\r\nContent-Length: 5\r\n\r\nhello", 400),
      refuse("F16", "SP before the colon (Content-Length)",
             kPost + "Content-Length : 5\r\n\r\nhello", 400),
      refuse("F16.b", "HT before the colon (Transfer-Encoding)",
             kPost + "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 400),
      refuse("F16.c", "SP before the colon (Host)",
             "GET http://{A}{T} HTTP/1.1\r\nHost : {A}\r\n\r\n", 400),
      refuse("F16.d", "SP before the colon (ordinary header)", kGet + "X-A : b\r\n\r\n", 400),
      refuse("F17", "bare LF line endings throughout", "GET http://{A}{T} HTTP/1.1\nHost: {A}\n\n",
             400),
      refuse("F17.b", "one bare LF between headers",
             "GET http://{A}{T} HTTP/1.1\r\nHost: {A}\nX-A: b\r\n\r\n", 400),
      refuse("F17.c", "bare LF after the request line",
             "GET http://{A}{T} HTTP/1.1\nHost: {A}\r\n\r\n", 400),
      refuse("F17.d", "head terminated by CRLF LF", kGet + "\n", 400),
      refuse("F17.e", "bare LF smuggling a Content-Length",
             kPost + "X: y\nContent-Length: 5\r\n\r\nhello", 400),
      refuse("F19", "field line without colon (Content-Length 10)",
             kPost + "Content-Length 10\r\n\r\n", 400),
      refuse("F19.b", "field line without colon (Host)",
             "GET http://{A}{T} HTTP/1.1\r\nHost {A}\r\n\r\n", 400),
      // ---- F20 ----
      forward("F20",
              "bytes after a Connection: close request are never parsed; the connection "
              "closes after the response",
              kGet + "Connection: close\r\n\r\n")
          .thenClose(),
      forward("F20.b", "HTTP/1.0 without keep-alive behaves like Connection: close",
              "GET http://{A}{T} HTTP/1.0\r\nHost: {A}\r\n\r\n")
          .thenClose(),
      forward("F20.c", "Connection: close among other tokens",
              kGet + "Connection: foo, close\r\nFoo: 1\r\n\r\n", lacksHeader("Foo"))
          .thenClose(),
      // ---- F21 ----
      custom("F21",
             "pipelined requests for two allowed hosts: both answered in order, each on "
             "its own upstream connection",
             [](Ctx& ctx) {
               auto client = ctx.connect();
               if (client == nullptr) return;
               const std::string bytes =
                   ctx.expand(kGet +
                              "\r\nGET http://a.api.test:{P}{T}/after HTTP/1.1\r\nHost: "
                              "a.api.test:{P}\r\n\r\n");
               ctx.sent = bytes;
               client->send(bytes);
               auto r1 = client->readResponse(milliseconds(3000));
               auto r2 = client->readResponse(milliseconds(3000));
               if (!ctx.expect(r1 && r2, "expected two responses")) return;
               ctx.expect(r1->body == "ok " + ctx.path() + "\n" &&
                              r2->body == "ok " + ctx.path("/after") + "\n",
                          "responses out of order: " + escapeBytes(r1->body + r2->body));
               const auto a = ctx.sinkRecords("");
               const auto b = ctx.sinkRecords("/after");
               if (ctx.expect(a.size() == 1 && b.size() == 1, "expected one request per host")) {
                 ctx.expect(a[0].connection != b[0].connection,
                            "the second host's request travelled on the first one's connection");
                 ctx.expect(b[0].request.header("Host") == ctx.expand("a.api.test:{P}"),
                            "second Host: " + b[0].request.header("Host"));
               }
             }),
      custom("F21.b", "pipelined allowed then denied: 200, then 403 and close",
             [](Ctx& ctx) {
               auto ex = ctx.exchangeUntilClose(
                   ctx.expand(kGet +
                              "\r\nGET http://{U}.evil.test:{P}{T}/after HTTP/1.1\r\nHost: "
                              "{U}.evil.test:{P}\r\n\r\n" +
                              kGet + "\r\n"));
               std::vector<int> got;
               for (const auto& r : ex.responses) got.push_back(r.status);
               ctx.expect(got == std::vector<int>({200, 403}),
                          "statuses: expected [200, 403], got " + std::to_string(got.size()) +
                              " (" + (got.empty() ? "" : std::to_string(got.back())) + ")");
               ctx.expect(ex.closed, "not closed after the 403");
               ctx.expect(ctx.sinkRecords("").size() == 1, "the third request was forwarded");
               ctx.noDns("{U}.evil.test");
             }),
      refuse("F21.c", "pipelined denied then allowed: the allowed one is never answered",
             "GET http://{U}.evil.test:{P}{T} HTTP/1.1\r\nHost: {U}.evil.test:{P}\r\n\r\n", 403)
          .noDns("{U}.evil.test"),
      custom("F21.d", "four pipelined requests in one write are answered in order",
             [](Ctx& ctx) {
               auto client = ctx.connect();
               if (client == nullptr) return;
               std::string bytes;
               for (int i = 0; i < 4; ++i) {
                 bytes += ctx.expand("GET http://{A}{T}/p" + std::to_string(i) +
                                     " HTTP/1.1\r\nHost: {A}\r\n\r\n");
               }
               ctx.sent = bytes;
               client->send(bytes);
               for (int i = 0; i < 4; ++i) {
                 auto r = client->readResponse(milliseconds(3000));
                 if (!ctx.expect(r.has_value(), "response " + std::to_string(i) + " missing"))
                   return;
                 ctx.expect(r->body == "ok " + ctx.path("/p" + std::to_string(i)) + "\n",
                            "response " + std::to_string(i) + " answers " + escapeBytes(r->body));
               }
             }),
      // ---- F22: smuggler's fixed mutations (the byte gadgets are generated) ----
      refuse("F22", "smuggler: Transfer_Encoding with an underscore",
             kPost + "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", 400),
      refuse("F22.b", "smuggler: quoted \"chunked\"",
             kPost + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 501),
      refuse("F22.c", "smuggler: chunked then another coding line",
             kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 501),
      refuse("F22.d", "smuggler: another coding line then chunked",
             kPost + "Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
      refuse("F22.e", "smuggler: chunked, chunked",
             kPost + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 501),
      refuse("F22.f", "smuggler: name split by LF",
             kPost + "Transfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n", 400),
      refuse("F22.g", "smuggler: folded TE after another header",
             kPost + "Foo: bar\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
      forward("F22.h", "smuggler: Content-Encoding: chunked is not framing",
              kPost + "Content-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
              all({lengthBody("hello"), hasHeader("Content-Encoding", "chunked")})),
      custom("F22.i", "CL.TE timing signature: refused at once, no upstream wait",
             [](Ctx& ctx) {
               const auto started = Clock::now();
               auto ex = ctx.exchangeUntilClose(ctx.expand(
                   kPost + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\nQ"));
               ctx.expect(!ex.responses.empty() && ex.responses[0].status == 400, "expected 400");
               ctx.expect(testing::elapsedMs(started) < 1000, "the refusal waited for a timeout");
             }),
      custom("F22.j", "TE.CL timing signature: refused at once",
             [](Ctx& ctx) {
               const auto started = Clock::now();
               auto ex = ctx.exchangeUntilClose(ctx.expand(
                   kPost + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX"));
               ctx.expect(!ex.responses.empty() && ex.responses[0].status == 400, "expected 400");
               ctx.expect(testing::elapsedMs(started) < 1000, "the refusal waited for a timeout");
             }),
      // ---- F23: what the upstream sends back ----
      badResponse("F23", "upstream response with Content-Length and Transfer-Encoding", "cl-te",
                  {502}, false),
      badResponse("F23.b", "upstream response with two Content-Length", "dup-cl", {502}, false),
      badResponse("F23.c", "upstream response with obs-fold", "obs-fold", {502}, false),
      badResponse("F23.d", "upstream response with a bare CR", "bare-cr", {502}, false),
      badResponse("F23.e", "upstream sends 100 Continue twice, then 200", "100-twice", {200}, true),
      badResponse("F23.f", "unsolicited 101 from the upstream", "101", {502}, false),
      badResponse("F23.g", "204 with a body: the body is not relayed, no desync", "204-body", {204},
                  true),
      badResponse("F23.h", "304 with a body: the body is not relayed, no desync", "304-body", {304},
                  true),
      badResponse("F23.i", "a body on a HEAD response: not relayed, no desync", "head-body", {200},
                  true, "HEAD"),
      badResponse("F23.j", "a second response smuggled after the body is never delivered",
                  "smuggle", {200}, true),
      badResponse("F23.k", "negative Content-Length in the response", "bad-cl", {502}, false),
      badResponse("F23.l", "bare LF line endings in the response", "lf-only", {502}, false),
      badResponse("F23.m", "a four-digit status code", "bad-status", {502}, false),
      badResponse("F23.n", "the upstream closes without a response", "no-response", {502}, false),
      custom("F23.o", "truncated response body: truncation and close, never a desync",
             [](Ctx& ctx) {
               auto ex = ctx.exchangeUntilClose(
                   ctx.expand("GET http://{A}{T}/r/truncated HTTP/1.1\r\nHost: {A}\r\n\r\n") +
                   ctx.followUp());
               ctx.expect(ex.closed, "the client connection stayed open");
               // The head was relayed before the body fell short: the client sees the truncation
               // as a close before Content-Length bytes.
               const bool truncated =
                   ex.responses.empty() &&
                   ex.raw == "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
               ctx.expect(truncated, "expected the 200 head, 5 of 100 bytes, then the close; got " +
                                         escapeBytes(ex.raw, 300));
             }),
      custom("F23.p", "malformed chunk in the response: truncation and close",
             [](Ctx& ctx) {
               auto ex = ctx.exchangeUntilClose(
                   ctx.expand("GET http://{A}{T}/r/bad-chunk HTTP/1.1\r\nHost: {A}\r\n\r\n") +
                   ctx.followUp());
               ctx.expect(ex.closed, "the client connection stayed open");
               ctx.expect(ex.raw.find("ok " + ctx.path("/after")) == std::string::npos,
                          "the next request was answered on a broken connection");
               // The head went out before the bad chunk size arrived: the body ends unterminated.
               ctx.expect(ex.raw == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "expected the 200 head and a close before any chunk; got " +
                              escapeBytes(ex.raw, 300));
             }),
      custom("F23.q", "an upstream that never answers: 504 at response_timeout_ms",
             [](Ctx& ctx) {
               auto ex = ctx.exchangeUntilClose(
                   ctx.expand("GET http://{A}{T}/silent HTTP/1.1\r\nHost: {A}\r\n\r\n"),
                   milliseconds(5000));
               ctx.expect(
                   ex.responses.size() == 1 && ex.responses[0].status == 504 &&
                       ex.responses[0].header("X-Gatehouse-Reason") == "upstream-response-timeout",
                   "expected one 504 upstream-response-timeout, got " + escapeBytes(ex.raw, 200));
               ctx.expect(ex.closed, "the connection stayed open");
             }),
      pipelinedAfterFailure("F23.r",
                            "a pipelined request behind a request whose reused upstream "
                            "connection closes without a response: 502 first, then close",
                            "/r/no-response", 502),
      pipelinedAfterFailure("F23.s",
                            "a pipelined request behind a malformed upstream response on a "
                            "reused connection: 502 first, then close",
                            "/r/obs-fold", 502),
      pipelinedAfterFailure("F23.t",
                            "a pipelined request behind an upstream timeout on a reused "
                            "connection: 504 first, then close",
                            "/silent", 504),
  };
  // F18: bytes not allowed in names and values.
  const std::pair<const char*, std::string> name_bytes[] = {
      {"0x85", "\x85"}, {"0xa0", "\xa0"}, {"NUL", std::string(1, '\0')},
      {"0x01", "\x01"}, {"0x1f", "\x1f"}, {"DEL", "\x7f"},
      {"(", "("},       {")", ")"},       {",", ","},
      {"/", "/"},       {";", ";"},       {"<", "<"},
      {"=", "="},       {">", ">"},       {"?", "?"},
      {"@", "@"},       {"[", "["},       {"\\", "\\"},
      {"]", "]"},       {"{", "{"},       {"}", "}"},
      {"\"", "\""},
  };
  char letter = 'a';
  for (const auto& [label, b] : name_bytes) {
    c.push_back(refuse(std::string("F18.n") + letter++,
                       std::string("byte ") + label + " in a header name",
                       kGet + "X" + b + "A: v\r\n\r\n", 400));
  }
  const std::pair<const char*, std::string> value_bytes[] = {
      {"NUL", std::string(1, '\0')},
      {"0x01", "\x01"},
      {"BS", "\x08"},
      {"VT", "\x0b"},
      {"FF", "\x0c"},
      {"0x1f", "\x1f"},
      {"DEL", "\x7f"},
  };
  letter = 'a';
  for (const auto& [label, b] : value_bytes) {
    c.push_back(refuse(std::string("F18.v") + letter++,
                       std::string("byte ") + label + " in a header value",
                       kGet + "X-A: a" + b + "b\r\n\r\n", 400));
  }
  c.push_back(refuse("F18", "NUL in the Content-Length value",
                     kPost + "Content-Length: 5" + std::string(1, '\0') + "\r\n\r\nhello", 400));
  return c;
}

}  // namespace gatehouse::catalogue
