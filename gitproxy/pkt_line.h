// git's pkt-line framing (gitprotocol-common(5)), read incrementally: the bytes of a request
// body arrive in arbitrary pieces and a packet may span many of them.
//
//   pkt-len   4 hex digits, the total length including themselves. Lowercase only: the
//             protocol's ABNF defines HEXDIG as "0"-"9" / "a"-"f" and every git writes
//             lowercase (git's own reader also takes "A"-"F"; refusing them is stricter)
//   "0000"    flush-pkt
//   "0001"    delim-pkt, "0002" response-end-pkt (protocol v2; reported, callers decide)
//   "0003"    invalid; as are lengths over 65520 (65516 payload bytes + 4)
//   "0004"    an empty data packet (valid framing; git "SHOULD NOT" send it)
//
// At most one packet is buffered: a packet that arrives whole in one piece is returned as a view
// into that piece, otherwise its bytes are copied into the reader (<= 65516 bytes).
//
// Single-threaded: one reader per body, used on the caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::gitproxy {

inline constexpr size_t kPktMaxLength = 65520;  // LARGE_PACKET_MAX
inline constexpr size_t kPktHeaderLength = 4;
inline constexpr size_t kPktMaxPayload = kPktMaxLength - kPktHeaderLength;  // 65516

enum class PktType : uint8_t { kData, kFlush, kDelim, kResponseEnd };

enum class PktError : uint8_t {
  kNone = 0,
  kBadLengthHex,   // a pkt-len byte outside [0-9a-f]
  kInvalidLength,  // "0003"
  kTooLong,        // pkt-len over 65520
};

// A stable kebab-case code ("pkt-bad-length-hex", ...) and a one-line description.
const char* pktErrorCode(PktError error);
const char* pktErrorMessage(PktError error);

class PktLineReader final {
 public:
  enum class Status : uint8_t {
    kPacket,    // one packet completed: type() and payload() describe it
    kNeedMore,  // every byte given was consumed; the packet is not complete yet
    kError,     // malformed pkt-len: error() says why; sticky
  };
  struct Result {
    Status status = Status::kNeedMore;
    size_t consumed = 0;  // bytes of `input` used, up to the end of the packet
  };

  // Consumes bytes of `input` up to the end of the next packet, never beyond it.
  Result read(std::string_view input);

  // The last packet (valid after kPacket). payload() points into the input given to read() or
  // into the reader, and is valid until the next read() or until that input changes.
  PktType type() const { return type_; }
  std::string_view payload() const { return payload_; }
  PktError error() const { return error_; }
  // Bytes of an incomplete packet held by the reader (header included).
  size_t pending() const { return header_len_ == 0 ? 0 : header_len_ + buffer_.size(); }

 private:
  char header_[kPktHeaderLength] = {};
  size_t header_len_ = 0;
  size_t payload_len_ = 0;  // of the packet in progress, once its header is complete
  std::string buffer_;      // payload bytes of a packet split across reads
  PktType type_ = PktType::kData;
  std::string_view payload_;
  PktError error_ = PktError::kNone;
};

// Writers. A data payload over kPktMaxPayload is a programming error (never attacker-driven:
// callers split or bound their text first); it is truncated to kPktMaxPayload.
void appendPktLine(std::string& out, std::string_view payload);
void appendFlushPkt(std::string& out);

}  // namespace gatehouse::gitproxy
