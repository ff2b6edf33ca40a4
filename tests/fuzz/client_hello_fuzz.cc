// The ClientHello reader (proxy/tls/client_hello.h) never crashes, and its verdict does not
// depend on how the bytes arrive: the input fed in chunks must give exactly the status, error
// and info of the same input fed at once (an attacker controls TCP segmentation).
//
// Input layout: byte 0 chooses the chunking and the size limit, the rest is the client's byte
// stream. Seed files in corpus/client_hello therefore start with one extra byte before the
// captured ClientHello.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proxy/tls/client_hello.h"

namespace {

using gatehouse::tls::ClientHelloInfo;
using gatehouse::tls::ClientHelloReader;
using gatehouse::tls::HelloStatus;

bool sameInfo(const ClientHelloInfo& a, const ClientHelloInfo& b) {
  return a.has_sni == b.has_sni && a.sni == b.sni && a.sni_invalid == b.sni_invalid &&
         a.has_ech == b.has_ech && a.has_esni == b.has_esni && a.alpn == b.alpn &&
         a.legacy_version == b.legacy_version && a.supports_tls13 == b.supports_tls13 &&
         a.hello_bytes == b.hello_bytes;
}

bool sameResult(const ClientHelloReader& a, const ClientHelloReader& b) {
  return a.status() == b.status() && std::strcmp(a.error(), b.error()) == 0 &&
         sameInfo(a.info(), b.info());
}

// buffered() is always a prefix of the input, and a finished hello lies inside it.
bool consistent(const ClientHelloReader& r, const uint8_t* data, size_t size, size_t max_bytes) {
  const std::vector<uint8_t>& buf = r.buffered();
  if (buf.size() > size || (!buf.empty() && std::memcmp(buf.data(), data, buf.size()) != 0)) {
    return false;
  }
  const ClientHelloInfo& info = r.info();
  if (r.status() == HelloStatus::kDone) {
    if (info.hello_bytes == 0 || info.hello_bytes > buf.size() || info.hello_bytes > max_bytes) {
      return false;
    }
    if (info.has_sni && (info.sni_invalid || info.sni.empty())) return false;
  } else if (info.hello_bytes != 0 || info.has_sni) {
    return false;
  }
  if (r.status() == HelloStatus::kNeedMore && buf.size() >= max_bytes) return false;
  const bool refused = r.status() != HelloStatus::kNeedMore && r.status() != HelloStatus::kDone;
  return refused == (r.error()[0] != '\0');
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t seed = data[0];
  const uint8_t* stream = data + 1;
  const size_t len = size - 1;
  // The top bit selects a small limit so that kTooLarge boundaries get explored too.
  const size_t max_bytes = (seed & 0x80) != 0 ? 16 + (seed & 0x7f) * 8 : 16384 + 5 * 4;

  ClientHelloReader whole(max_bytes);
  whole.feed(stream, len);

  ClientHelloReader chunked(max_bytes);
  uint32_t rng = 0x9e3779b9u ^ (static_cast<uint32_t>(seed) * 0x01000193u);
  const size_t max_chunk = (seed & 0x07) == 0 ? 1 : 1 + (seed & 0x7f) * 5;
  size_t offset = 0;
  while (offset < len) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    size_t chunk = 1 + rng % max_chunk;
    if (chunk > len - offset) chunk = len - offset;
    const HelloStatus before = chunked.status();
    const HelloStatus after = chunked.feed(stream + offset, chunk);
    // A terminal status never changes.
    if (before != HelloStatus::kNeedMore && after != before) std::abort();
    offset += chunk;
  }

  if (!sameResult(whole, chunked)) std::abort();
  if (!consistent(whole, stream, len, max_bytes) || !consistent(chunked, stream, len, max_bytes)) {
    std::abort();
  }
  // The records that carried a ClientHello are self-contained: fed alone they give the same info.
  if (whole.status() == HelloStatus::kDone) {
    ClientHelloReader again(max_bytes);
    again.feed(stream, whole.info().hello_bytes);
    if (!sameResult(whole, again) || again.buffered().size() != whole.info().hello_bytes) {
      std::abort();
    }
  }
  return 0;
}
