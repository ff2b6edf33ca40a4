#include "proxy/tls/client_hello.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string_view>
#include <utility>

namespace gatehouse::tls {
namespace {

constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderBytes = 5;
constexpr size_t kHandshakeHeaderBytes = 4;
constexpr size_t kMaxRecordLength = 16384;  // RFC 8446 §5.1: MUST NOT exceed 2^14
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxSessionIdBytes = 32;

constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;
constexpr uint16_t kExtEch = 0xfe0d;
constexpr uint16_t kExtEsni = 0xffce;
constexpr uint8_t kNameTypeHostName = 0;
constexpr uint16_t kTls13 = 0x0304;

std::string hex2(unsigned value) {
  char out[8];
  std::snprintf(out, sizeof(out), "0x%02x", value & 0xffu);
  return out;
}

std::string hex4(unsigned value) {
  char out[8];
  std::snprintf(out, sizeof(out), "0x%04x", value & 0xffffu);
  return out;
}

// A bounds-checked cursor over a complete byte range. Every read fails (and consumes nothing)
// when fewer bytes remain than requested.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return size_ - offset_; }
  bool empty() const { return offset_ == size_; }

  bool readU8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = data_[offset_++];
    return true;
  }
  bool readU16(uint16_t* out) {
    if (remaining() < 2) return false;
    *out = static_cast<uint16_t>((data_[offset_] << 8) | data_[offset_ + 1]);
    offset_ += 2;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    offset_ += n;
    return true;
  }
  // A sub-cursor over the next n bytes, consumed from this one.
  bool take(size_t n, Cursor* out) {
    if (remaining() < n) return false;
    *out = Cursor(data_ + offset_, n);
    offset_ += n;
    return true;
  }
  // A length-prefixed vector (8- or 16-bit length).
  bool takeU8Prefixed(Cursor* out) {
    uint8_t n = 0;
    size_t start = offset_;
    if (!readU8(&n) || !take(n, out)) {
      offset_ = start;
      return false;
    }
    return true;
  }
  bool takeU16Prefixed(Cursor* out) {
    uint16_t n = 0;
    size_t start = offset_;
    if (!readU16(&n) || !take(n, out)) {
      offset_ = start;
      return false;
    }
    return true;
  }
  std::string_view rest() const {
    return {reinterpret_cast<const char*>(data_ + offset_), remaining()};
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

bool isVisibleAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b >= 0x21 && b <= 0x7e;
  });
}

// RFC 6066 §3. Returns the single host_name, or false when the extension data is anything but
// one well-formed host_name entry of visible ASCII.
bool parseServerName(Cursor ext, std::string* name) {
  Cursor list(nullptr, 0);
  if (!ext.takeU16Prefixed(&list) || !ext.empty() || list.empty()) return false;
  uint8_t type = 0;
  Cursor host(nullptr, 0);
  if (!list.readU8(&type) || type != kNameTypeHostName || !list.takeU16Prefixed(&host)) {
    return false;
  }
  // A second entry of any type: RFC 6066 forbids two of the same type and defines no other, and
  // servers disagree on which one they would use.
  if (!list.empty() || host.empty() || !isVisibleAscii(host.rest())) return false;
  *name = std::string(host.rest());
  return true;
}

// RFC 7301 §3.1: a non-empty list of non-empty protocol names filling the extension.
bool parseAlpn(Cursor ext, std::vector<std::string>* out) {
  Cursor list(nullptr, 0);
  if (!ext.takeU16Prefixed(&list) || !ext.empty() || list.empty()) return false;
  while (!list.empty()) {
    Cursor name(nullptr, 0);
    if (!list.takeU8Prefixed(&name) || name.empty()) return false;
    out->emplace_back(name.rest());
  }
  return true;
}

// RFC 8446 §4.2.1 (ClientHello form): a list of 2..254 bytes of 16-bit versions.
bool parseSupportedVersions(Cursor ext, bool* tls13) {
  Cursor list(nullptr, 0);
  if (!ext.takeU8Prefixed(&list) || !ext.empty() || list.remaining() < 2 ||
      list.remaining() % 2 != 0) {
    return false;
  }
  while (!list.empty()) {
    uint16_t version = 0;
    list.readU16(&version);
    if (version == kTls13) *tls13 = true;
  }
  return true;
}

// Parses a complete ClientHello body (the handshake message without its 4-byte header). Returns
// "" or the reason it is malformed; on failure *info is partly filled and the caller drops it.
std::string parseClientHelloBody(Cursor body, ClientHelloInfo* info) {
  uint16_t version = 0;
  if (!body.readU16(&version)) return "ClientHello truncated in legacy_version";
  if ((version >> 8) != 3) return "ClientHello legacy_version major is not 3: " + hex4(version);
  info->legacy_version = version;
  if (!body.skip(kRandomBytes)) return "ClientHello truncated in random";
  Cursor session_id(nullptr, 0);
  if (!body.takeU8Prefixed(&session_id)) return "ClientHello truncated in session_id";
  if (session_id.remaining() > kMaxSessionIdBytes) return "session_id longer than 32 bytes";
  Cursor suites(nullptr, 0);
  if (!body.takeU16Prefixed(&suites)) return "ClientHello truncated in cipher_suites";
  if (suites.remaining() < 2 || suites.remaining() % 2 != 0) {
    return "cipher_suites length is odd or zero";
  }
  Cursor compression(nullptr, 0);
  if (!body.takeU8Prefixed(&compression)) return "ClientHello truncated in compression_methods";
  if (compression.empty()) return "compression_methods is empty";
  // Extensions are optional before TLS 1.3; a ClientHello without them has no SNI.
  if (body.empty()) return "";
  Cursor extensions(nullptr, 0);
  if (!body.takeU16Prefixed(&extensions)) return "extensions length exceeds the ClientHello";
  if (!body.empty()) return "bytes after the extensions block";

  std::set<uint16_t> seen;
  while (!extensions.empty()) {
    uint16_t type = 0;
    Cursor data(nullptr, 0);
    if (!extensions.readU16(&type) || !extensions.takeU16Prefixed(&data)) {
      return "extension length exceeds the extensions block";
    }
    if (!seen.insert(type).second) return "duplicate extension type " + hex4(type);
    switch (type) {
      case kExtServerName: {
        std::string name;
        if (parseServerName(data, &name)) {
          info->has_sni = true;
          info->sni = std::move(name);
        } else {
          info->sni_invalid = true;
        }
        break;
      }
      case kExtAlpn:
        if (!parseAlpn(data, &info->alpn)) {
          return "malformed application_layer_protocol_negotiation";
        }
        break;
      case kExtSupportedVersions:
        if (!parseSupportedVersions(data, &info->supports_tls13)) {
          return "malformed supported_versions";
        }
        break;
      case kExtEch:
        info->has_ech = true;
        break;
      case kExtEsni:
        info->has_esni = true;
        break;
      default:
        break;
    }
  }
  return "";
}

}  // namespace

const char* helloStatusName(HelloStatus status) {
  switch (status) {
    case HelloStatus::kNeedMore:
      return "need-more";
    case HelloStatus::kDone:
      return "done";
    case HelloStatus::kNotTls:
      return "not-tls";
    case HelloStatus::kMalformed:
      return "malformed";
    case HelloStatus::kTooLarge:
      return "too-large";
  }
  return "?";
}

ClientHelloReader::ClientHelloReader(size_t max_bytes) : max_bytes_(max_bytes) {}

HelloStatus ClientHelloReader::feed(const uint8_t* data, size_t len) {
  if (status_ != HelloStatus::kNeedMore || len == 0) return status_;
  buffered_.insert(buffered_.end(), data, data + len);
  parse();
  return status_;
}

void ClientHelloReader::fail(HelloStatus status, std::string reason) {
  status_ = status;
  error_ = std::move(reason);
  info_ = ClientHelloInfo{};
}

// The record layer. Bytes are consumed strictly in order and each check runs at the byte that
// decides it, so a bigger chunk never changes which check fails first. Only the first
// max_bytes_ bytes are ever looked at: if they do not complete the ClientHello, nothing can.
void ClientHelloReader::parse() {
  const size_t end = std::min(buffered_.size(), max_bytes_);
  while (status_ == HelloStatus::kNeedMore && pos_ < end) {
    if (record_remaining_ == 0) {
      const uint8_t* header = buffered_.data() + pos_;
      const size_t have = end - pos_;
      const bool first = records_ == 0;
      if (header[0] != kRecordHandshake) {
        if (first) {
          fail(HelloStatus::kNotTls, "record type " + hex2(header[0]) + " is not handshake");
        } else {
          fail(HelloStatus::kMalformed,
               "record type " + hex2(header[0]) + " before the ClientHello completed");
        }
        return;
      }
      if (have < 2) break;
      if (header[1] != 3) {
        fail(first ? HelloStatus::kNotTls : HelloStatus::kMalformed,
             "record version major " + hex2(header[1]) + " is not 3");
        return;
      }
      if (have < kRecordHeaderBytes) break;
      const size_t length = (static_cast<size_t>(header[3]) << 8) | header[4];
      if (length == 0) {
        fail(HelloStatus::kMalformed, "empty handshake record");
        return;
      }
      if (length > kMaxRecordLength) {
        fail(HelloStatus::kMalformed, "record length " + std::to_string(length) + " exceeds 16384");
        return;
      }
      pos_ += kRecordHeaderBytes;
      record_remaining_ = length;
      ++records_;
      continue;
    }
    const size_t n = std::min(record_remaining_, end - pos_);
    handshake_.insert(handshake_.end(), buffered_.begin() + static_cast<ptrdiff_t>(pos_),
                      buffered_.begin() + static_cast<ptrdiff_t>(pos_ + n));
    pos_ += n;
    record_remaining_ -= n;
    onHandshakeBytes();
  }
  if (status_ == HelloStatus::kNeedMore && end == max_bytes_) {
    fail(HelloStatus::kTooLarge,
         "no complete ClientHello within " + std::to_string(max_bytes_) + " bytes");
  }
}

// The handshake layer, run after each fragment is appended.
void ClientHelloReader::onHandshakeBytes() {
  if (handshake_.empty()) return;
  if (handshake_[0] != kHandshakeClientHello) {
    fail(HelloStatus::kMalformed,
         "handshake type " + std::to_string(handshake_[0]) + " is not client_hello");
    return;
  }
  if (handshake_.size() < kHandshakeHeaderBytes) return;
  const size_t length = (static_cast<size_t>(handshake_[1]) << 16) |
                        (static_cast<size_t>(handshake_[2]) << 8) | handshake_[3];
  const size_t message = kHandshakeHeaderBytes + length;
  // The fewest record bytes that can carry the message: decided here, from its length alone,
  // rather than after buffering up to max_bytes.
  const size_t min_records = (message + kMaxRecordLength - 1) / kMaxRecordLength;
  const size_t min_bytes = message + min_records * kRecordHeaderBytes;
  if (min_bytes > max_bytes_) {
    fail(HelloStatus::kTooLarge, "ClientHello of " + std::to_string(message) +
                                     " bytes cannot fit in " + std::to_string(max_bytes_) +
                                     " bytes of records");
    return;
  }
  if (handshake_.size() < message) return;

  ClientHelloInfo info;
  std::string reason =
      parseClientHelloBody(Cursor(handshake_.data() + kHandshakeHeaderBytes, length), &info);
  if (!reason.empty()) {
    fail(HelloStatus::kMalformed, std::move(reason));
    return;
  }
  // The fragment that completed the message reached the end of the buffer view or of its
  // record; anything left in the record after the message breaks record alignment.
  if (handshake_.size() > message || record_remaining_ > 0) {
    fail(HelloStatus::kMalformed, "bytes after the ClientHello in its last record");
    return;
  }
  info.hello_bytes = pos_;
  info_ = std::move(info);
  status_ = HelloStatus::kDone;
}

}  // namespace gatehouse::tls
