// Incremental TLS ClientHello reader for the CONNECT SNI check (SPEC §3 step 7, BAD-INPUTS
// E5-E7). After "200 Connection established" the proxy feeds the client's first bytes here,
// in whatever chunks they arrive, and forwards nothing upstream until the reader says kDone and
// the proxy has compared the SNI with the CONNECT host. The reader only reports facts; the
// decision (mismatch, missing SNI, ECH) belongs to the caller.
//
// What is accepted (anything else fails closed):
//   - The stream starts with a TLSPlaintext record of type 22 (handshake) whose version major is
//     3. The first byte is judged alone (0x16 or kNotTls at once: "GET ", "SSH-", "PRI ", an
//     SSLv2 hello's 0x80), the second byte likewise; the version minor is ignored as RFC 8446
//     §5.1 requires.
//   - Record lengths are 1..2^14 (a zero-length handshake record or a longer one: kMalformed).
//   - The ClientHello handshake message may span any number of records; every record before it
//     completes must be a handshake record (kMalformed otherwise). The message must end exactly
//     where its last record ends (RFC 8446 §5.1: a ClientHello precedes a key change and is
//     aligned with a record boundary), so another message in the same record is kMalformed.
//   - The body is parsed field by field with every length checked against what remains:
//     legacy_version (major 3), random, session_id (<= 32), cipher_suites (even, >= 2),
//     compression_methods (>= 1), then optional extensions whose block must fill the message
//     exactly. Duplicate extension types (RFC 8446 §4.2), a malformed ALPN list or a malformed
//     supported_versions list are kMalformed.
//   - server_name (RFC 6066 §3): a malformed list, no entry or several entries, a name_type other
//     than host_name, an empty name, or a name with a byte outside visible ASCII (0x21-0x7e: NUL,
//     controls, space, DEL, non-ASCII) sets sni_invalid; the ClientHello itself is still kDone.
//
// Every decision depends only on the bytes up to the point where it is made, so the status and
// info are the same however the input is split into feed() calls (the fuzz target checks this).
//
// Pure: no I/O, no globals, no allocation beyond the buffers below. A reader is owned by one
// connection and used from one thread at a time; distinct readers may run on any threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gatehouse::tls {

enum class HelloStatus : uint8_t {
  kNeedMore,   // no decision yet: feed more bytes
  kDone,       // a complete ClientHello was parsed; info() is valid
  kNotTls,     // the first bytes are not a TLS handshake record (plain HTTP, SSH, SSLv2, ...)
  kMalformed,  // TLS framing, but an inconsistent record, handshake or ClientHello
  kTooLarge,   // the ClientHello cannot complete within max_bytes
};

// A short name for logs and test output ("need-more", "done", "not-tls", ...).
const char* helloStatusName(HelloStatus status);

struct ClientHelloInfo {
  // True only for a valid server_name extension: exactly one host_name entry, 1+ visible ASCII
  // bytes. At most one of has_sni and sni_invalid is true, so a caller that checks
  // `has_sni && sni == host` cannot be fooled by a second name.
  bool has_sni = false;
  std::string sni;           // the host_name as sent (bytes as-is; the caller canonicalises)
  bool sni_invalid = false;  // server_name present but malformed, several names, or not host_name
  bool has_ech = false;      // encrypted_client_hello extension (0xfe0d) present
  bool has_esni = false;     // legacy encrypted_server_name (0xffce)
  std::vector<std::string> alpn;  // protocols offered, for logs (bytes as-is)
  uint16_t legacy_version = 0;    // ClientHello.legacy_version
  bool supports_tls13 = false;    // supported_versions lists 0x0304
  // Bytes of the TLS records that carried the ClientHello, headers included: buffered()[0,
  // hello_bytes) is exactly those records, and since the ClientHello ends on a record boundary
  // it is also where the next record starts. This is what the proxy forwards upstream first.
  size_t hello_bytes = 0;
};

class ClientHelloReader final {
 public:
  // Default: one full record (2^14) plus headers for up to 4 records. The limit is on the bytes
  // needed to complete the ClientHello, so the status does not depend on chunking.
  explicit ClientHelloReader(size_t max_bytes = 16384 + 5 * 4);

  // Appends bytes (copied) and parses as far as possible. After kDone/kNotTls/kMalformed/
  // kTooLarge further calls return the same status and ignore (do not buffer) their data.
  HelloStatus feed(const uint8_t* data, size_t len);

  HelloStatus status() const { return status_; }

  // Valid when kDone; default-constructed otherwise.
  const ClientHelloInfo& info() const { return info_; }

  // Everything passed to feed() up to and including the call that reached a terminal status,
  // unchanged: the ClientHello records (info().hello_bytes) and whatever followed them in that
  // call (early data, ...). The proxy forwards all of it upstream once the check passes. While
  // kNeedMore it holds fewer than max_bytes bytes; the call that ends it may add one chunk more.
  const std::vector<uint8_t>& buffered() const { return buffered_; }

  // A short reason when kNotTls/kMalformed/kTooLarge ("record type 0x17 is not handshake"),
  // "" otherwise. Valid until the next feed() or the reader's destruction.
  const char* error() const { return error_.c_str(); }

 private:
  void parse();
  void onHandshakeBytes();
  void fail(HelloStatus status, std::string reason);

  size_t max_bytes_;
  HelloStatus status_ = HelloStatus::kNeedMore;
  ClientHelloInfo info_;
  std::vector<uint8_t> buffered_;
  std::vector<uint8_t> handshake_;  // the handshake message reassembled from record fragments
  size_t pos_ = 0;                  // bytes of buffered_ consumed by the record layer
  size_t record_remaining_ = 0;     // fragment bytes of the current record not yet consumed
  size_t records_ = 0;              // record headers consumed
  std::string error_;
};

}  // namespace gatehouse::tls
