// The ClientHello reader (proxy/tls/client_hello.h): one row per input with the reason it
// matters. Row ids refer to ../shared/BAD-INPUTS.md (E5-E7) where one applies. Every row is also
// fed in every chunking the test can think of (1 byte at a time, two chunks split at every
// offset, chunks cut at and around record boundaries, fixed sizes) and must give the same
// result each time, because the sandbox controls TCP segmentation.
#include "proxy/tls/client_hello.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::tls {
namespace {

using testing_text::paramName;
using testing_text::printable;

using Bytes = std::vector<uint8_t>;
using S = HelloStatus;

constexpr size_t kDefaultMax = 16384 + 5 * 4;

// ---------------------------------------------------------------------------------------------
// A small ClientHello builder.

void put8(Bytes* out, size_t v) { out->push_back(static_cast<uint8_t>(v)); }
void put16(Bytes* out, size_t v) {
  put8(out, v >> 8);
  put8(out, v);
}
void put24(Bytes* out, size_t v) {
  put8(out, v >> 16);
  put16(out, v);
}
void append(Bytes* out, const Bytes& more) { out->insert(out->end(), more.begin(), more.end()); }

Bytes bytesOf(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) append(&out, p);
  return out;
}

struct Ext {
  uint16_t type;
  Bytes data;
};

// server_name data with any number of (name_type, name) entries.
Ext sniEntries(const std::vector<std::pair<uint8_t, std::string>>& entries) {
  Bytes list;
  for (const auto& [type, name] : entries) {
    put8(&list, type);
    put16(&list, name.size());
    append(&list, bytesOf(name));
  }
  Bytes data;
  put16(&data, list.size());
  append(&data, list);
  return {0, data};
}
Ext sni(const std::string& name) { return sniEntries({{0, name}}); }

Ext alpn(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const std::string& p : protocols) {
    put8(&list, p.size());
    append(&list, bytesOf(p));
  }
  Bytes data;
  put16(&data, list.size());
  append(&data, list);
  return {16, data};
}

Ext supportedVersions(const std::vector<uint16_t>& versions) {
  Bytes data;
  put8(&data, versions.size() * 2);
  for (uint16_t v : versions) put16(&data, v);
  return {43, data};
}

// key_share with an X25519MLKEM768 share (1216 bytes) and an X25519 share: what pushes the SNI
// of Chrome/Firefox ClientHellos past byte 1024 (microsoft/azure-container-apps#1826).
Ext postQuantumKeyShare() {
  Bytes shares;
  put16(&shares, 0x11ec);
  put16(&shares, 1216);
  append(&shares, Bytes(1216, 0x5a));
  put16(&shares, 0x001d);
  put16(&shares, 32);
  append(&shares, Bytes(32, 0x6b));
  Bytes data;
  put16(&data, shares.size());
  append(&data, shares);
  return {51, data};
}

Ext padding(size_t n) { return {21, Bytes(n, 0)}; }
Ext ech() { return {0xfe0d, Bytes(40, 0x42)}; }
Ext esni() { return {0xffce, Bytes(20, 0x43)}; }

struct Hello {
  uint16_t legacy_version = 0x0303;
  Bytes random = Bytes(32, 0xaa);
  Bytes session_id = Bytes(32, 0xbb);
  Bytes cipher_suites = {0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f};
  Bytes compression = {0x00};
  bool extensions_block = true;  // false: TLS 1.2 hello without extensions
  std::vector<Ext> extensions;
  uint8_t handshake_type = 1;
  Bytes after_extensions;  // junk inside the message after the extensions block

  // Offsets (in message()) and widths of every length field, by name: "record" is added by
  // singleRecord(). Extensions are "ext0", "ext1", ... and "ext<i>.data" is where data starts.
  mutable std::map<std::string, std::pair<size_t, int>> fields;

  Bytes body() const {
    Bytes b;
    put16(&b, legacy_version);
    append(&b, random);
    fields["session_id"] = {b.size(), 1};
    put8(&b, session_id.size());
    append(&b, session_id);
    fields["cipher_suites"] = {b.size(), 2};
    put16(&b, cipher_suites.size());
    append(&b, cipher_suites);
    fields["compression"] = {b.size(), 1};
    put8(&b, compression.size());
    append(&b, compression);
    if (extensions_block) {
      Bytes exts;
      for (size_t i = 0; i < extensions.size(); ++i) {
        const std::string name = "ext" + std::to_string(i);
        fields[name] = {b.size() + 2 + exts.size() + 2, 2};
        fields[name + ".data"] = {b.size() + 2 + exts.size() + 4, 0};
        put16(&exts, extensions[i].type);
        put16(&exts, extensions[i].data.size());
        append(&exts, extensions[i].data);
      }
      fields["extensions"] = {b.size(), 2};
      put16(&b, exts.size());
      append(&b, exts);
    }
    append(&b, after_extensions);
    return b;
  }

  // The handshake message: type, 24-bit length, body. Field offsets are shifted to match.
  Bytes message() const {
    Bytes b = body();
    Bytes m;
    put8(&m, handshake_type);
    put24(&m, b.size());
    append(&m, b);
    for (auto& [name, field] : fields) field.first += 4;
    fields["handshake"] = {1, 3};
    return m;
  }
};

// Wraps a message in handshake records: fragment sizes as given, the rest in a last record.
Bytes records(const Bytes& message, const std::vector<size_t>& fragments = {},
              uint16_t version = 0x0301) {
  Bytes out;
  size_t at = 0;
  auto record = [&](size_t n) {
    put8(&out, 22);
    put16(&out, version);
    put16(&out, n);
    out.insert(out.end(), message.begin() + static_cast<ptrdiff_t>(at),
               message.begin() + static_cast<ptrdiff_t>(at + n));
    at += n;
  };
  for (size_t n : fragments) record(n);
  if (at < message.size()) record(message.size() - at);
  return out;
}

// The hello in one record, with its length fields at their offsets in the record bytes.
Bytes singleRecord(const Hello& h) {
  Bytes m = h.message();
  for (auto& [name, field] : h.fields) field.first += 5;
  h.fields["record"] = {3, 2};
  return records(m);
}

// Adds one to the big-endian length field of the given width at offset.
Bytes bumped(Bytes b, std::pair<size_t, int> field, int delta = 1) {
  size_t v = 0;
  for (int i = 0; i < field.second; ++i) v = (v << 8) | b[field.first + i];
  v += delta;
  for (int i = field.second - 1; i >= 0; --i) {
    b[field.first + i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return b;
}

Hello withExts(std::vector<Ext> exts) {
  Hello h;
  h.extensions = std::move(exts);
  return h;
}

// A hello whose message is exactly `size` bytes, made so by a padding extension.
Hello helloOfMessageSize(size_t size) {
  Hello h = withExts({sni("x.test"), padding(0)});
  const size_t base = h.message().size();
  h.extensions[1] = padding(size - base);
  return h;
}

// Key share before server_name, as Chrome and Firefox order them.
Hello postQuantumHello() {
  return withExts({supportedVersions({0x0304}), postQuantumKeyShare(), sni("x.test")});
}

// ---------------------------------------------------------------------------------------------
// Feeding and describing.

struct Result {
  HelloStatus status = S::kNeedMore;
  std::string error;
  ClientHelloInfo info;
  Bytes buffered;
  size_t decided_at = 0;  // bytes fed when the status became final (byte-at-a-time only)
};

std::string describe(const Result& r) {
  std::string s = helloStatusName(r.status);
  if (!r.error.empty()) s += " (" + r.error + ")";
  if (r.status == S::kDone) {
    const ClientHelloInfo& i = r.info;
    s += " sni=" + std::string(i.has_sni ? "\"" + printable(i.sni) + "\"" : "none");
    if (i.sni_invalid) s += " sni_invalid";
    if (i.has_ech) s += " ech";
    if (i.has_esni) s += " esni";
    for (const std::string& p : i.alpn) s += " alpn=" + printable(p);
    s += " version=" + std::to_string(i.legacy_version);
    if (i.supports_tls13) s += " tls13";
    s += " hello_bytes=" + std::to_string(i.hello_bytes);
  }
  return s;
}

Result feedChunks(const Bytes& input, const std::vector<size_t>& cuts, size_t max_bytes) {
  ClientHelloReader reader(max_bytes);
  Result r;
  size_t at = 0;
  auto feedTo = [&](size_t end) {
    if (end <= at) return;
    reader.feed(input.data() + at, end - at);
    at = end;
  };
  for (size_t cut : cuts) feedTo(std::min(cut, input.size()));
  feedTo(input.size());
  r.status = reader.status();
  r.error = reader.error();
  r.info = reader.info();
  r.buffered = reader.buffered();
  return r;
}

Result feedOneByOne(const Bytes& input, size_t max_bytes) {
  ClientHelloReader reader(max_bytes);
  Result r;
  for (size_t i = 0; i < input.size(); ++i) {
    const HelloStatus s = reader.feed(&input[i], 1);
    if (s != S::kNeedMore && r.decided_at == 0) r.decided_at = i + 1;
  }
  r.status = reader.status();
  r.error = reader.error();
  r.info = reader.info();
  r.buffered = reader.buffered();
  return r;
}

bool sameVerdict(const Result& a, const Result& b) {
  const ClientHelloInfo& x = a.info;
  const ClientHelloInfo& y = b.info;
  return a.status == b.status && a.error == b.error && x.has_sni == y.has_sni && x.sni == y.sni &&
         x.sni_invalid == y.sni_invalid && x.has_ech == y.has_ech && x.has_esni == y.has_esni &&
         x.alpn == y.alpn && x.legacy_version == y.legacy_version &&
         x.supports_tls13 == y.supports_tls13 && x.hello_bytes == y.hello_bytes;
}

// Record header offsets, following the length fields as far as the input goes.
std::vector<size_t> recordStarts(const Bytes& input) {
  std::vector<size_t> starts;
  size_t at = 0;
  while (at + 5 <= input.size() && input[at] == 22) {
    starts.push_back(at);
    at += 5 + ((static_cast<size_t>(input[at + 3]) << 8) | input[at + 4]);
  }
  return starts;
}

// Every chunking the test uses, as lists of cut offsets.
std::vector<std::vector<size_t>> chunkings(const Bytes& input) {
  std::vector<std::vector<size_t>> out;
  const size_t n = input.size();
  const size_t step = n <= 4096 ? 1 : 97;  // every split point, sampled for 16 KiB inputs
  for (size_t cut = 1; cut < n; cut += step) out.push_back({cut});
  // Cuts at and around every record boundary, all at once, and three-chunk splits across
  // consecutive record boundaries.
  std::vector<size_t> around;
  for (size_t start : recordStarts(input)) {
    for (size_t d : {0, 1, 2, 3, 4, 5, 6, 9}) around.push_back(start + d);
  }
  out.push_back(around);
  const std::vector<size_t> starts = recordStarts(input);
  for (size_t i = 1; i + 1 < starts.size(); ++i) out.push_back({starts[i], starts[i + 1]});
  for (size_t size : {2, 3, 5, 7, 64, 511, 1024, 1500}) {
    std::vector<size_t> cuts;
    for (size_t c = size; c < n; c += size) cuts.push_back(c);
    out.push_back(cuts);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The table.

struct Want {
  bool has_sni = false;
  std::string sni;
  bool sni_invalid = false;
  bool has_ech = false;
  bool has_esni = false;
  std::vector<std::string> alpn;
  uint16_t legacy_version = 0x0303;
  bool supports_tls13 = false;

  Want withSni(std::string name) const {
    Want w = *this;
    w.has_sni = true;
    w.sni = std::move(name);
    return w;
  }
  Want withSniInvalid() const {
    Want w = *this;
    w.sni_invalid = true;
    return w;
  }
  Want withEch() const {
    Want w = *this;
    w.has_ech = true;
    return w;
  }
  Want withEsni() const {
    Want w = *this;
    w.has_esni = true;
    return w;
  }
  Want withAlpn(std::vector<std::string> protocols) const {
    Want w = *this;
    w.alpn = std::move(protocols);
    return w;
  }
  Want withVersion(uint16_t version) const {
    Want w = *this;
    w.legacy_version = version;
    return w;
  }
  Want withTls13() const {
    Want w = *this;
    w.supports_tls13 = true;
    return w;
  }
};

struct Row {
  const char* id;
  const char* why;
  Bytes input;
  HelloStatus status;
  Want want;              // checked when kDone
  size_t trailing = 0;    // kDone: bytes after the ClientHello records in input
  std::string error_has;  // a substring of error(), for refusals
  size_t decided_at = 0;  // refusals: the status is final after this many bytes (0: skip)
  size_t max_bytes = kDefaultMax;
};

// gtest finds PrintTo by name to describe a row.
void PrintTo(const Row& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.id << " (" << row.why << ", " << row.input.size() << " bytes)";
}

Row done(const char* id, const char* why, Bytes input, Want want, size_t trailing = 0) {
  return Row{id, why, std::move(input), S::kDone, std::move(want), trailing, "", 0, kDefaultMax};
}

Row refused(const char* id, const char* why, Bytes input, HelloStatus status, std::string error_has,
            size_t decided_at = 0, size_t max_bytes = kDefaultMax) {
  return Row{id, why, std::move(input), status, {}, 0, std::move(error_has), decided_at, max_bytes};
}

Want sniX() { return Want().withSni("x.test"); }
Want invalidSni() { return Want().withSniInvalid(); }

std::vector<Row> doneRows() {
  const Hello tls13 =
      withExts({sni("x.test"), alpn({"h2", "http/1.1"}), supportedVersions({0x0304, 0x0303})});
  const Want tls13_want = sniX().withAlpn({"h2", "http/1.1"}).withTls13();
  const Hello pq = postQuantumHello();
  const Want pq_want = sniX().withTls13();
  Hello no_ext;
  no_ext.extensions_block = false;
  Hello empty_ext;
  Hello ssl3 = withExts({sni("x.test")});
  ssl3.legacy_version = 0x0300;
  Hello no_session = withExts({sni("x.test")});
  no_session.session_id = {};
  const Bytes app_data = {0x17, 0x03, 0x03, 0x00, 0x03, 1, 2, 3};

  return {
      // What every TLS client sends.
      done("ok", "SNI x.test, ALPN, supported_versions (TLS 1.3)", records(tls13.message()),
           tls13_want),
      done("ok", "SNI only", records(withExts({sni("x.test")}).message()), sniX()),
      done("ok", "no session_id (TLS 1.2 fresh handshake)", records(no_session.message()), sniX()),
      done("ok", "SSL 3.0 legacy_version is still a ClientHello", records(ssl3.message()),
           sniX().withVersion(0x0300)),
      done("ok", "record version 0x0303", records(withExts({sni("x.test")}).message(), {}, 0x0303),
           sniX()),
      done("ok", "record version minor is ignored (RFC 8446 §5.1)",
           records(withExts({sni("x.test")}).message(), {}, 0x03ff), sniX()),
      done("ok", "SNI bytes are reported as sent: uppercase",
           records(withExts({sni("X.TeSt")}).message()), Want().withSni("X.TeSt")),
      done("ok", "SNI bytes are reported as sent: trailing dot",
           records(withExts({sni("x.test.")}).message()), Want().withSni("x.test.")),
      done("ok", "SNI bytes are reported as sent: an IP literal (the caller refuses it)",
           records(withExts({sni("127.0.0.1")}).message()), Want().withSni("127.0.0.1")),
      done("ok", "a 253-byte name", records(withExts({sni(std::string(253, 'a'))}).message()),
           Want().withSni(std::string(253, 'a'))),
      done("ok", "unknown extensions are skipped",
           records(withExts({{0x7a7a, {}}, sni("x.test"), {0x1234, Bytes(9, 1)}}).message()),
           sniX()),

      // E6: no SNI is a fact for the caller, not a parse failure.
      done("E6", "TLS 1.2 hello without an extensions block: no SNI", records(no_ext.message()),
           Want{}),
      done("E6", "empty extensions block: no SNI", records(empty_ext.message()), Want{}),
      done("E6", "extensions without server_name",
           records(withExts({alpn({"h2"}), supportedVersions({0x0304})}).message()),
           Want().withAlpn({"h2"}).withTls13()),
      done("E6", "supported_versions without 0x0304 is not TLS 1.3",
           records(withExts({sni("x.test"), supportedVersions({0x0303, 0x0302})}).message()),
           sniX()),

      // E6: long and split ClientHellos are parsed correctly.
      done("E6", "SNI after byte 1024 (post-quantum key share first)", records(pq.message()),
           pq_want),
      done("E6", "SNI after byte 1024, hello split across 2 records", records(pq.message(), {1024}),
           pq_want),
      done("E6", "SNI after byte 1024, hello split across 3 records",
           records(pq.message(), {600, 700}), pq_want),
      done("E6", "hello split across 2 records inside the handshake header",
           records(tls13.message(), {2}), tls13_want),
      done("E6", "hello split across 3 records, SNI name cut by a record boundary",
           records(tls13.message(), {95, 10}), tls13_want),
      done("E6", "one record per byte",
           records(tls13.message(), std::vector<size_t>(tls13.message().size() - 1, 1)),
           tls13_want),
      done("E6", "a record of exactly 2^14 bytes", records(helloOfMessageSize(16384).message()),
           sniX()),
      done("E6", "a hello of 2^14 + 1 bytes needs two records",
           records(helloOfMessageSize(16385).message(), {16384}), sniX()),

      // E7: ECH and ESNI are reported; the outer SNI is what the caller compares.
      done("E7", "ECH with an outer SNI", records(withExts({sni("x.test"), ech()}).message()),
           sniX().withEch()),
      done("E7", "ECH without SNI", records(withExts({ech()}).message()), Want().withEch()),
      done("E7", "legacy ESNI", records(withExts({esni(), sni("x.test")}).message()),
           sniX().withEsni()),

      // E5: names the caller must never mistake for a valid SNI.
      done("E5", "two host_name entries (servers disagree on which they use)",
           records(withExts({sniEntries({{0, "x.test"}, {0, "evil.test"}})}).message()),
           invalidSni()),
      done("E5", "host_name then another name_type",
           records(withExts({sniEntries({{0, "x.test"}, {1, "evil.test"}})}).message()),
           invalidSni()),
      done("E5", "only a non-host_name type",
           records(withExts({sniEntries({{1, "x.test"}})}).message()), invalidSni()),
      done("E5", "empty name", records(withExts({sni("")}).message()), invalidSni()),
      done("E5", "NUL in the name (C string comparisons stop there)",
           records(withExts({sni(std::string("x.test\0.evil.test", 17))}).message()), invalidSni()),
      done("E5", "LF in the name (log injection)", records(withExts({sni("x.test\nx")}).message()),
           invalidSni()),
      done("E5", "space in the name", records(withExts({sni("x .test")}).message()), invalidSni()),
      done("E5", "DEL in the name", records(withExts({sni("x.test\x7f")}).message()), invalidSni()),
      done("E5", "non-ASCII (UTF-8 homograph) in the name",
           records(withExts({sni("\xd0\xb0pi.test")}).message()), invalidSni()),
      done("E5", "empty server_name list", records(withExts({{0, {0, 0}}}).message()),
           invalidSni()),
      done("E5", "zero-length server_name extension", records(withExts({{0, {}}}).message()),
           invalidSni()),
      done("E5", "server_name list shorter than the extension",
           records(withExts({{0, cat({sni("x.test").data, {0}})}}).message()), invalidSni()),

      // What follows the ClientHello stays buffered and is not part of hello_bytes.
      done("ok", "an application_data record after the hello (0-RTT)",
           cat({records(tls13.message()), app_data}), tls13_want, app_data.size()),
      done("ok", "a second ClientHello after the first is not read",
           cat({records(tls13.message()), records(withExts({sni("evil.test")}).message())}),
           tls13_want, records(withExts({sni("evil.test")}).message()).size()),
  };
}

std::vector<Row> refusedRows() {
  const Hello base = withExts({sni("x.test")});
  const Bytes hello = records(base.message());
  Hello server_hello = base;
  server_hello.handshake_type = 2;
  Hello junk_after = base;
  junk_after.after_extensions = {0};
  Hello bad_version = base;
  bad_version.legacy_version = 0x0200;
  Hello long_session = base;
  long_session.session_id = Bytes(33, 1);
  Hello no_suites = base;
  no_suites.cipher_suites = {};
  Hello odd_suites = base;
  odd_suites.cipher_suites = {0x13, 0x01, 0x13};
  Hello no_compression = base;
  no_compression.compression = {};
  Hello one_byte_ext = base;
  one_byte_ext.extensions_block = false;
  one_byte_ext.after_extensions = {0};
  Bytes record_17 = hello;
  record_17[0] = 0x17;
  Bytes big_record = {22, 3, 1, 0x40, 0x01};  // 16385
  Bytes ssl2 = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15};
  Bytes huge_handshake = {22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff};
  const Bytes tiny_records =
      records(base.message(), std::vector<size_t>(base.message().size() - 1, 1));
  const Bytes pq_2 = records(withExts({postQuantumKeyShare(), sni("x.test")}).message(), {1024});

  return {
      // E6: not TLS at all, decided as early as possible.
      refused("E6", "plain HTTP request", bytesOf("GET / HTTP/1.1\r\nHost: x.test\r\n\r\n"),
              S::kNotTls, "record type 0x47 is not handshake", 1),
      refused("E6", "CONNECT inside the tunnel", bytesOf("CONNECT evil.test:443 HTTP/1.1\r\n"),
              S::kNotTls, "not handshake", 1),
      refused("E6", "SSH banner", bytesOf("SSH-2.0-OpenSSH_9.2\r\n"), S::kNotTls, "not handshake",
              1),
      refused("E6", "HTTP/2 preface", bytesOf("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), S::kNotTls,
              "not handshake", 1),
      refused("E6", "SSLv2-compatible hello (first byte 0x80)", ssl2, S::kNotTls,
              "record type 0x80", 1),
      refused("E6", "application_data record first", record_17, S::kNotTls,
              "record type 0x17 is not handshake", 1),
      refused("E6", "alert record first", {21, 3, 3, 0, 2, 2, 40}, S::kNotTls, "0x15", 1),
      refused("E6", "NUL byte", {0}, S::kNotTls, "record type 0x00", 1),
      refused("E6", "handshake type byte, but record version major 2", {22, 2, 0, 0, 5}, S::kNotTls,
              "record version major 0x02 is not 3", 2),
      refused("E6", "0x16 followed by text", bytesOf("\x16hello"), S::kNotTls, "major 0x68", 2),

      // E6: TLS framing that is inconsistent.
      refused("E6", "record length 2^14 + 1", big_record, S::kMalformed,
              "record length 16385 exceeds 16384", 5),
      refused("E6", "record length 0xffff", {22, 3, 1, 0xff, 0xff}, S::kMalformed,
              "record length 65535", 5),
      refused("E6", "empty handshake record", {22, 3, 1, 0, 0, 22, 3, 1, 0, 1, 1}, S::kMalformed,
              "empty handshake record", 5),
      refused("E6", "server_hello instead of client_hello", records(server_hello.message()),
              S::kMalformed, "handshake type 2 is not client_hello", 6),
      refused("E6", "finished message type", {22, 3, 3, 0, 4, 20, 0, 0, 0}, S::kMalformed,
              "handshake type 20", 6),
      refused("E6", "application_data record before the hello completes",
              cat({Bytes(pq_2.begin(), pq_2.begin() + 1029), {0x17, 3, 3, 0, 1, 0}}), S::kMalformed,
              "record type 0x17 before the ClientHello completed", 1030),
      refused("E6", "change_cipher_spec record before the hello completes",
              cat({Bytes(pq_2.begin(), pq_2.begin() + 1029), {0x14, 3, 3, 0, 1, 1}}), S::kMalformed,
              "record type 0x14", 1030),
      refused("E6", "second record with version major 2",
              cat({Bytes(pq_2.begin(), pq_2.begin() + 1029), {22, 2, 1, 0, 1, 0}}), S::kMalformed,
              "record version major 0x02", 1031),
      refused("E6", "another handshake message in the hello's record (not record-aligned)",
              records(cat({base.message(), {20, 0, 0, 0}})), S::kMalformed,
              "bytes after the ClientHello in its last record", hello.size()),
      refused("E6", "junk between the extensions block and the end of the message",
              records(junk_after.message()), S::kMalformed, "bytes after the extensions block"),
      refused("E6", "legacy_version 0x0200", records(bad_version.message()), S::kMalformed,
              "legacy_version major is not 3: 0x0200"),
      refused("E6", "session_id of 33 bytes", records(long_session.message()), S::kMalformed,
              "session_id longer than 32 bytes"),
      refused("E6", "no cipher suites", records(no_suites.message()), S::kMalformed,
              "cipher_suites length is odd or zero"),
      refused("E6", "odd cipher_suites length", records(odd_suites.message()), S::kMalformed,
              "cipher_suites length is odd or zero"),
      refused("E6", "no compression methods", records(no_compression.message()), S::kMalformed,
              "compression_methods is empty"),
      refused("E6", "message ends inside random", records(cat({{1, 0, 0, 33, 3, 3}, Bytes(31, 0)})),
              S::kMalformed, "truncated in random"),
      refused("E6", "empty ClientHello message", records({1, 0, 0, 0}), S::kMalformed,
              "truncated in legacy_version"),
      refused("E6", "one byte where the extensions length belongs", records(one_byte_ext.message()),
              S::kMalformed, "extensions length exceeds the ClientHello"),
      refused("RFC 8446 §4.2", "duplicate server_name",
              records(withExts({sni("x.test"), sni("evil.test")}).message()), S::kMalformed,
              "duplicate extension type 0x0000"),
      refused("RFC 8446 §4.2", "duplicate unknown extension",
              records(withExts({{0x1234, {}}, sni("x.test"), {0x1234, {1}}}).message()),
              S::kMalformed, "duplicate extension type 0x1234"),
      refused("RFC 8446 §4.2", "duplicate ECH",
              records(withExts({ech(), sni("x.test"), ech()}).message()), S::kMalformed,
              "duplicate extension type 0xfe0d"),
      refused("RFC 7301", "empty ALPN protocol name",
              records(withExts({alpn({"h2", ""})}).message()), S::kMalformed,
              "application_layer_protocol_negotiation"),
      refused("RFC 7301", "empty ALPN list", records(withExts({alpn({})}).message()), S::kMalformed,
              "application_layer_protocol_negotiation"),
      refused("RFC 8446", "odd supported_versions list",
              records(withExts({{43, {3, 3, 4, 3}}}).message()), S::kMalformed,
              "malformed supported_versions"),
      refused("RFC 8446", "empty supported_versions list", records(withExts({{43, {0}}}).message()),
              S::kMalformed, "malformed supported_versions"),

      // Size limits.
      refused("E6", "handshake length 2^24 - 1 is refused from its header", huge_handshake,
              S::kTooLarge, "cannot fit in 16404 bytes", 9),
      refused("E6", "a hello of 16400 bytes needs 16410 bytes of records",
              records(helloOfMessageSize(16400).message(), {16384}), S::kTooLarge,
              "ClientHello of 16400 bytes", 9),
      refused("limit", "max_bytes one below hello_bytes", hello, S::kTooLarge, "cannot fit", 9,
              hello.size() - 1),
      refused("limit", "1-byte records overflow max_bytes before the hello completes", tiny_records,
              S::kTooLarge, "no complete ClientHello within 300 bytes", 300, 300),
      refused("limit", "max_bytes smaller than a record header", hello, S::kTooLarge,
              "no complete ClientHello within 3 bytes", 3, 3),
  };
}

class HelloTable : public ::testing::TestWithParam<Row> {};

TEST_P(HelloTable, GivesTheSameVerdictInEveryChunking) {
  const Row& row = GetParam();
  const Result whole = feedChunks(row.input, {}, row.max_bytes);
  SCOPED_TRACE(row.why);
  ASSERT_EQ(whole.status, row.status) << describe(whole);
  if (row.status == S::kDone) {
    const ClientHelloInfo& info = whole.info;
    EXPECT_EQ(info.has_sni, row.want.has_sni);
    EXPECT_EQ(info.sni, row.want.sni) << printable(info.sni);
    EXPECT_EQ(info.sni_invalid, row.want.sni_invalid);
    EXPECT_FALSE(info.has_sni && info.sni_invalid) << "at most one of the two";
    EXPECT_EQ(info.has_ech, row.want.has_ech);
    EXPECT_EQ(info.has_esni, row.want.has_esni);
    EXPECT_EQ(info.alpn, row.want.alpn);
    EXPECT_EQ(info.legacy_version, row.want.legacy_version);
    EXPECT_EQ(info.supports_tls13, row.want.supports_tls13);
    EXPECT_EQ(info.hello_bytes, row.input.size() - row.trailing);
    EXPECT_STREQ(whole.error.c_str(), "");
  } else {
    EXPECT_NE(whole.error.find(row.error_has), std::string::npos) << whole.error;
    EXPECT_FALSE(whole.info.has_sni) << "no facts from a refused hello";
  }
  EXPECT_EQ(whole.buffered, row.input) << "buffered() holds the whole feed, unchanged";

  const Result one_by_one = feedOneByOne(row.input, row.max_bytes);
  EXPECT_TRUE(sameVerdict(whole, one_by_one)) << describe(one_by_one);
  if (row.status == S::kDone) {
    EXPECT_EQ(one_by_one.decided_at, row.input.size() - row.trailing);
    EXPECT_EQ(one_by_one.buffered.size(), row.input.size() - row.trailing)
        << "feeds after kDone are ignored";
  } else if (row.decided_at != 0) {
    EXPECT_EQ(one_by_one.decided_at, row.decided_at) << "decided as early as possible";
  }
  for (const std::vector<size_t>& cuts : chunkings(row.input)) {
    const Result r = feedChunks(row.input, cuts, row.max_bytes);
    ASSERT_TRUE(sameVerdict(whole, r))
        << describe(r) << " with cuts starting at " << (cuts.empty() ? 0 : cuts[0]);
  }
}

// Every proper prefix of a good ClientHello is "need more": never kDone early, never a refusal.
TEST_P(HelloTable, EveryTruncationNeedsMore) {
  const Row& row = GetParam();
  if (row.status != S::kDone) return;
  const size_t hello_bytes = row.input.size() - row.trailing;
  for (size_t n = 0; n < hello_bytes; ++n) {
    const Bytes prefix(row.input.begin(), row.input.begin() + static_cast<ptrdiff_t>(n));
    const Result r = feedChunks(prefix, {}, row.max_bytes);
    ASSERT_EQ(r.status, S::kNeedMore) << "truncated at " << n << ": " << describe(r);
    ASSERT_STREQ(r.error.c_str(), "");
  }
}

INSTANTIATE_TEST_SUITE_P(Done, HelloTable, ::testing::ValuesIn(doneRows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });
INSTANTIATE_TEST_SUITE_P(Refused, HelloTable, ::testing::ValuesIn(refusedRows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// Every length field of a good hello, one too large: refused or flagged, never read past.

struct BumpRow {
  const char* field;  // a name from Hello::fields, or "<ext>.data+<offset>:<width>"
  const char* why;
  HelloStatus status;
  std::string error_has;     // refusals
  bool sni_invalid = false;  // kDone rows
};

void PrintTo(const BumpRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.field << " (" << row.why << ")";
}

std::vector<BumpRow> bumpRows() {
  return {
      {"record", "the record claims a byte after the hello", S::kMalformed,
       "bytes after the ClientHello in its last record"},
      {"handshake", "the message continues in a record that has not arrived", S::kNeedMore, ""},
      {"session_id", "33 > 32", S::kMalformed, "session_id longer than 32 bytes"},
      {"cipher_suites", "odd length", S::kMalformed, "cipher_suites length is odd or zero"},
      {"compression", "swallows the extensions length", S::kMalformed, "extensions length"},
      {"extensions", "the block overruns the message", S::kMalformed,
       "extensions length exceeds the ClientHello"},
      {"ext0", "server_name (first) overruns into the next extension", S::kMalformed,
       "extension length exceeds the extensions block"},
      {"ext2", "the last extension overruns the block", S::kMalformed,
       "extension length exceeds the extensions block"},
      {"ext0.data+0:2", "server_name list overruns the extension", S::kDone, "", true},
      {"ext0.data+3:2", "host_name overruns the list", S::kDone, "", true},
      {"ext1.data+0:2", "ALPN list overruns the extension", S::kMalformed,
       "application_layer_protocol_negotiation"},
      {"ext1.data+2:1", "first ALPN name overruns the list", S::kMalformed,
       "application_layer_protocol_negotiation"},
      {"ext2.data+0:1", "supported_versions list overruns the extension", S::kMalformed,
       "malformed supported_versions"},
  };
}

class HelloLengthTooLarge : public ::testing::TestWithParam<BumpRow> {};

TEST_P(HelloLengthTooLarge, IsRefusedOrFlagged) {
  const BumpRow& row = GetParam();
  const Hello h =
      withExts({sni("x.test"), alpn({"h2", "http/1.1"}), supportedVersions({0x0304, 0x0303})});
  const Bytes good = singleRecord(h);
  std::string name = row.field;
  std::pair<size_t, int> field;
  if (const size_t plus = name.find('+'); plus != std::string::npos) {
    const size_t colon = name.find(':');
    field = {h.fields.at(name.substr(0, plus)).first +
                 std::stoul(name.substr(plus + 1, colon - plus - 1)),
             std::stoi(name.substr(colon + 1))};
  } else {
    field = h.fields.at(name);
  }
  const Bytes bad = bumped(good, field);
  ASSERT_NE(bad, good);
  const Result whole = feedChunks(bad, {}, kDefaultMax);
  EXPECT_EQ(whole.status, row.status) << describe(whole);
  if (row.status == S::kDone) {
    EXPECT_EQ(whole.info.sni_invalid, row.sni_invalid) << describe(whole);
    EXPECT_FALSE(whole.info.has_sni) << describe(whole);
  } else {
    EXPECT_NE(whole.error.find(row.error_has), std::string::npos) << whole.error;
  }
  EXPECT_TRUE(sameVerdict(whole, feedOneByOne(bad, kDefaultMax)));
}

INSTANTIATE_TEST_SUITE_P(Fields, HelloLengthTooLarge, ::testing::ValuesIn(bumpRows()),
                         [](const ::testing::TestParamInfo<BumpRow>& param_info) {
                           return paramName(param_info.param.field, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// The size limit, buffering and terminal states.

// The E6 rows depend on it (microsoft/azure-container-apps#1826 read only 1024 bytes).
TEST(HelloBuilder, PostQuantumHelloPutsTheSniPastByte1024) {
  const Bytes hello = records(postQuantumHello().message());
  const Bytes name = bytesOf("x.test");
  const auto at = std::search(hello.begin(), hello.end(), name.begin(), name.end());
  ASSERT_NE(at, hello.end());
  EXPECT_GT(at - hello.begin(), 1024);
}

TEST(HelloLimit, AHelloOfExactlyMaxBytesIsDone) {
  const Bytes hello = records(withExts({sni("x.test")}).message(), {10, 20});
  const Result r = feedOneByOne(hello, hello.size());
  EXPECT_EQ(r.status, S::kDone) << describe(r);
  EXPECT_EQ(r.info.hello_bytes, hello.size());
}

TEST(HelloLimit, TheDefaultAdmitsTwoFullRecords) {
  // 16394 bytes of message need two records: 16404 bytes, exactly the default limit.
  const Bytes fits = records(helloOfMessageSize(16394).message(), {16384});
  ASSERT_EQ(fits.size(), kDefaultMax);
  EXPECT_EQ(feedChunks(fits, {}, kDefaultMax).status, S::kDone);
  const Bytes over = records(helloOfMessageSize(16395).message(), {16384});
  EXPECT_EQ(feedChunks(over, {}, kDefaultMax).status, S::kTooLarge);
}

TEST(HelloBuffering, TrailingBytesStayBufferedAndLaterFeedsAreIgnored) {
  const Bytes hello = records(withExts({sni("x.test")}).message());
  const Bytes early = {0x17, 0x03, 0x03, 0x00, 0x02, 0xde, 0xad};
  const Bytes both = cat({hello, early});
  ClientHelloReader reader;
  EXPECT_EQ(reader.feed(both.data(), both.size()), S::kDone);
  EXPECT_EQ(reader.info().hello_bytes, hello.size());
  EXPECT_EQ(reader.buffered(), both) << "the bytes after the hello are the proxy's to forward";
  EXPECT_EQ(reader.feed(early.data(), early.size()), S::kDone);
  EXPECT_EQ(reader.buffered(), both) << "nothing is buffered after a terminal status";
  EXPECT_EQ(reader.feed(nullptr, 0), S::kDone);
  EXPECT_EQ(reader.status(), S::kDone);
}

TEST(HelloBuffering, RefusalsAreFinal) {
  ClientHelloReader reader;
  const Bytes get = bytesOf("GET / HTTP/1.1\r\n");
  EXPECT_EQ(reader.feed(get.data(), 1), S::kNotTls);
  EXPECT_STREQ(reader.error(), "record type 0x47 is not handshake");
  const Bytes hello = records(withExts({sni("x.test")}).message());
  EXPECT_EQ(reader.feed(hello.data(), hello.size()), S::kNotTls);
  EXPECT_EQ(reader.buffered(), Bytes{'G'});
  EXPECT_FALSE(reader.info().has_sni);
}

TEST(HelloBuffering, NothingFedNeedsMore) {
  ClientHelloReader reader;
  EXPECT_EQ(reader.feed(nullptr, 0), S::kNeedMore);
  EXPECT_EQ(reader.status(), S::kNeedMore);
  EXPECT_STREQ(reader.error(), "");
  EXPECT_TRUE(reader.buffered().empty());
}

// ---------------------------------------------------------------------------------------------
// Real ClientHellos captured from openssl s_client and curl against a loopback listener. The
// seed files are fuzz inputs: byte 0 picks the fuzzer's chunking, the capture follows.

struct CaptureRow {
  const char* file;
  const char* why;
  bool has_sni;
  bool supports_tls13;
  std::vector<std::string> alpn;
  size_t records;
};

void PrintTo(const CaptureRow& row, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << row.file;
}

std::vector<std::string> manyProtocols() {
  std::vector<std::string> out;
  for (int i = 0; i < 30; ++i) {
    std::string p = "proto-" + std::string(i < 10 ? "0" : "") + std::to_string(i) + "-";
    out.push_back(p + std::string(40, 'x'));
  }
  return out;
}

std::vector<CaptureRow> captureRows() {
  return {
      {"capture_openssl_tls13", "openssl s_client -servername x.test", true, true, {}, 1},
      {"capture_openssl_tls12", "openssl s_client -tls1_2", true, false, {}, 1},
      {"capture_openssl_alpn",
       "openssl s_client -alpn h2,http/1.1",
       true,
       true,
       {"h2", "http/1.1"},
       1},
      {"capture_openssl_nosni", "openssl s_client -noservername", false, true, {}, 1},
      {"capture_openssl_frag512", "openssl s_client -max_send_frag 512 and 30 ALPN protocols", true,
       true, manyProtocols(), 4},
      {"capture_curl",
       "curl --resolve x.test:PORT:127.0.0.1 https://x.test:PORT/",
       true,
       true,
       {"h2", "http/1.1"},
       1},
      {"capture_curl_http11", "curl --http1.1", true, true, {"http/1.1"}, 1},
  };
}

class CapturedHello : public ::testing::TestWithParam<CaptureRow> {};

TEST_P(CapturedHello, IsParsedInEveryChunking) {
  const CaptureRow& row = GetParam();
  const std::filesystem::path path =
      std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "tests/fuzz/corpus/client_hello" / row.file;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(file.size(), 1u);
  const Bytes hello(file.begin() + 1, file.end());
  EXPECT_EQ(recordStarts(hello).size(), row.records);

  const Result whole = feedChunks(hello, {}, kDefaultMax);
  ASSERT_EQ(whole.status, S::kDone) << describe(whole);
  EXPECT_EQ(whole.info.has_sni, row.has_sni);
  EXPECT_EQ(whole.info.sni, row.has_sni ? "x.test" : "");
  EXPECT_FALSE(whole.info.sni_invalid);
  EXPECT_FALSE(whole.info.has_ech);
  EXPECT_EQ(whole.info.legacy_version, 0x0303);
  EXPECT_EQ(whole.info.supports_tls13, row.supports_tls13);
  EXPECT_EQ(whole.info.alpn, row.alpn);
  EXPECT_EQ(whole.info.hello_bytes, hello.size());
  EXPECT_TRUE(sameVerdict(whole, feedOneByOne(hello, kDefaultMax)));
  for (const std::vector<size_t>& cuts : chunkings(hello)) {
    ASSERT_TRUE(sameVerdict(whole, feedChunks(hello, cuts, kDefaultMax)));
  }
  for (size_t n = 0; n < hello.size(); ++n) {
    ASSERT_EQ(
        feedChunks(Bytes(hello.begin(), hello.begin() + static_cast<ptrdiff_t>(n)), {}, kDefaultMax)
            .status,
        S::kNeedMore)
        << "truncated at " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Files, CapturedHello, ::testing::ValuesIn(captureRows()),
                         [](const ::testing::TestParamInfo<CaptureRow>& param_info) {
                           return paramName(param_info.param.file, param_info.index);
                         });

}  // namespace
}  // namespace gatehouse::tls
