#include "gitproxy/pkt_line.h"

#include <algorithm>

namespace gatehouse::gitproxy {
namespace {

int lowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr char kHexDigits[] = "0123456789abcdef";

void appendLength(std::string& out, size_t length) {
  out += kHexDigits[(length >> 12) & 0xf];
  out += kHexDigits[(length >> 8) & 0xf];
  out += kHexDigits[(length >> 4) & 0xf];
  out += kHexDigits[length & 0xf];
}

}  // namespace

const char* pktErrorCode(PktError error) {
  switch (error) {
    case PktError::kNone:
      return "none";
    case PktError::kBadLengthHex:
      return "pkt-bad-length-hex";
    case PktError::kInvalidLength:
      return "pkt-invalid-length";
    case PktError::kTooLong:
      return "pkt-too-long";
  }
  return "pkt-error";
}

const char* pktErrorMessage(PktError error) {
  switch (error) {
    case PktError::kNone:
      return "no error";
    case PktError::kBadLengthHex:
      return "pkt-line length is not four lowercase hex digits";
    case PktError::kInvalidLength:
      return "pkt-line length 0003 is invalid";
    case PktError::kTooLong:
      return "pkt-line longer than 65520 bytes";
  }
  return "malformed pkt-line";
}

PktLineReader::Result PktLineReader::read(std::string_view input) {
  Result result;
  if (error_ != PktError::kNone) {
    result.status = Status::kError;
    return result;
  }
  size_t pos = 0;
  if (header_len_ < kPktHeaderLength) {
    // A new packet: the previous payload view is no longer valid.
    if (header_len_ == 0) {
      buffer_.clear();
      payload_ = {};
    }
    while (header_len_ < kPktHeaderLength && pos < input.size()) {
      const char c = input[pos++];
      if (lowerHexValue(c) < 0) {
        error_ = PktError::kBadLengthHex;
        result.status = Status::kError;
        result.consumed = pos;
        return result;
      }
      header_[header_len_++] = c;
    }
    result.consumed = pos;
    if (header_len_ < kPktHeaderLength) return result;
    size_t length = 0;
    for (char c : header_) length = length * 16 + static_cast<size_t>(lowerHexValue(c));
    if (length < kPktHeaderLength) {
      if (length == 3) {
        error_ = PktError::kInvalidLength;
        result.status = Status::kError;
        return result;
      }
      type_ = length == 0 ? PktType::kFlush : length == 1 ? PktType::kDelim : PktType::kResponseEnd;
      header_len_ = 0;
      result.status = Status::kPacket;
      return result;
    }
    if (length > kPktMaxLength) {
      error_ = PktError::kTooLong;
      result.status = Status::kError;
      return result;
    }
    payload_len_ = length - kPktHeaderLength;
    // The whole payload is in this piece: no copy.
    if (input.size() - pos >= payload_len_) {
      type_ = PktType::kData;
      payload_ = input.substr(pos, payload_len_);
      header_len_ = 0;
      result.consumed = pos + payload_len_;
      result.status = Status::kPacket;
      return result;
    }
    buffer_.reserve(payload_len_);
  }
  const size_t take = std::min(payload_len_ - buffer_.size(), input.size() - pos);
  buffer_.append(input.data() + pos, take);
  pos += take;
  result.consumed = pos;
  if (buffer_.size() < payload_len_) return result;
  type_ = PktType::kData;
  payload_ = buffer_;
  header_len_ = 0;
  result.status = Status::kPacket;
  return result;
}

void appendPktLine(std::string& out, std::string_view payload) {
  payload = payload.substr(0, kPktMaxPayload);
  appendLength(out, payload.size() + kPktHeaderLength);
  out.append(payload);
}

void appendFlushPkt(std::string& out) { out.append("0000"); }

}  // namespace gatehouse::gitproxy
