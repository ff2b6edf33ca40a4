// pkt-line framing (gitproxy/pkt_line.h): one row per edge of gitprotocol-common(5). Every row is
// read in one piece, byte by byte and split in two at every position; all must agree.
#include "gitproxy/pkt_line.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using namespace std::string_literals;
using testing_text::paramName;
using testing_text::printable;

const char* typeName(PktType type) {
  switch (type) {
    case PktType::kData:
      return "D";
    case PktType::kFlush:
      return "F";
    case PktType::kDelim:
      return "Delim";
    case PktType::kResponseEnd:
      return "End";
  }
  return "?";
}

// Reads `input` given as consecutive pieces; describes every packet and how reading ended:
// "D[a\n] F need-more(0)" or "... error(pkt-too-long)".
std::string readPieces(const std::vector<std::string_view>& pieces) {
  PktLineReader reader;
  std::string out;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      const PktLineReader::Result r = reader.read(piece);
      EXPECT_LE(r.consumed, piece.size());
      piece.remove_prefix(r.consumed);
      if (r.status == PktLineReader::Status::kError) {
        return out + "error(" + pktErrorCode(reader.error()) + ")";
      }
      if (r.status == PktLineReader::Status::kPacket) {
        out += typeName(reader.type());
        if (reader.type() == PktType::kData) {
          out += "[" + printable(reader.payload()) + "]";
        }
        out += ' ';
      } else {
        EXPECT_TRUE(piece.empty()) << "need-more with bytes left";
      }
    }
  }
  EXPECT_LE(reader.pending(), kPktMaxLength);
  return out + "need-more(" + std::to_string(reader.pending()) + ")";
}

struct PktRow {
  const char* id;
  std::string input;
  std::string want;
  const char* why;
};

class PktRows : public ::testing::TestWithParam<PktRow> {};

TEST_P(PktRows, SameResultHoweverSplit) {
  const PktRow& row = GetParam();
  const std::string whole = readPieces({row.input});
  EXPECT_EQ(whole, row.want) << row.why << " input " << printable(row.input);
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < row.input.size(); ++i) bytes.push_back({row.input.data() + i, 1});
  EXPECT_EQ(readPieces(bytes), whole) << row.why << ": byte by byte";
  if (row.input.size() > 4096) return;
  const std::string_view in = row.input;
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    EXPECT_EQ(readPieces({in.substr(0, cut), in.substr(cut)}), whole)
        << row.why << ": split at " << cut;
  }
}

const std::string kMaxPayload(kPktMaxPayload, 'x');

std::vector<PktRow> pktRows() {
  return {
      {"flush", "0000", "F need-more(0)", "flush-pkt"},
      {"delim", "0001", "Delim need-more(0)", "delim-pkt (protocol v2)"},
      {"response_end", "0002", "End need-more(0)", "response-end-pkt (protocol v2)"},
      {"len3", "0003", "error(pkt-invalid-length)", "length 3 is reserved/invalid"},
      {"empty", "0004", "D[] need-more(0)", "0004 is an empty data packet, not a flush"},
      {"one_byte", "0005a", "D[a] need-more(0)", "LF is optional"},
      {"lf", "0006a\n", "D[a\\n] need-more(0)", "the reader keeps the LF; callers chomp"},
      {"doc_example", "000bfoobar\n", "D[foobar\\n] need-more(0)", "gitprotocol-common example"},
      {"binary", "0009\x00\x01\xff\r\n"s, "D[\\x00\\x01\\xff\\r\\n] need-more(0)",
       "8-bit clean payload"},
      {"payload_looks_like_flush", "00080000", "D[0000] need-more(0)",
       "a flush inside a payload is data"},
      {"sequence",
       "0006a\n00000001000ab\x00"
       "caps0000"s,
       "D[a\\n] F Delim D[b\\x00caps] F need-more(0)", "several packets in one piece"},
      {"max", "fff0" + kMaxPayload, "D[" + kMaxPayload + "] need-more(0)",
       "65520 total is the maximum"},
      {"max_plus_one", "fff1" + kMaxPayload + "x", "error(pkt-too-long)", "65521 is too long"},
      {"ffff", "ffff", "error(pkt-too-long)", "largest 4-digit length"},
      {"upper_hex", "000A123456", "error(pkt-bad-length-hex)",
       "uppercase: the ABNF's HEXDIG is lowercase and every git writes lowercase"},
      {"upper_hex_F", "FFF0", "error(pkt-bad-length-hex)", "uppercase F"},
      {"non_hex", "00g0", "error(pkt-bad-length-hex)", "g is not hex"},
      {"space", " 004", "error(pkt-bad-length-hex)", "no padding"},
      {"sign", "-004", "error(pkt-bad-length-hex)", "no sign"},
      {"prefix_0x", "0x04", "error(pkt-bad-length-hex)", "no 0x"},
      {"nul_in_len",
       "00\x00"
       "4"s,
       "error(pkt-bad-length-hex)", "NUL in the length"},
      {"pack_not_pkt", "PACK", "error(pkt-bad-length-hex)", "a pack is not pkt-lines"},
      {"bad_after_good", "0005a00z0", "D[a] error(pkt-bad-length-hex)",
       "error after a good packet"},
      {"truncated_header", "00", "need-more(2)", "two header bytes buffered"},
      {"truncated_payload", "0009abc", "need-more(7)", "header and 3 of 5 payload bytes"},
      {"header_only", "0009", "need-more(4)", "header without payload"},
      {"empty_input", "", "need-more(0)", "nothing"},
  };
}

INSTANTIATE_TEST_SUITE_P(Rows, PktRows, ::testing::ValuesIn(pktRows()),
                         [](const ::testing::TestParamInfo<PktRow>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

TEST(PktLineReader, ErrorIsSticky) {
  PktLineReader reader;
  EXPECT_EQ(reader.read("zzzz").status, PktLineReader::Status::kError);
  const PktLineReader::Result again = reader.read("0000");
  EXPECT_EQ(again.status, PktLineReader::Status::kError);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(reader.error(), PktError::kBadLengthHex);
}

TEST(PktLineReader, ConsumesOnlyUpToTheEndOfOnePacket) {
  PktLineReader reader;
  const std::string_view input = "0006a\n0000PACK";
  PktLineReader::Result r = reader.read(input);
  ASSERT_EQ(r.status, PktLineReader::Status::kPacket);
  EXPECT_EQ(r.consumed, 6u);
  EXPECT_EQ(reader.payload(), "a\n");
  // Zero-copy when the packet arrived in one piece.
  EXPECT_EQ(reader.payload().data(), input.data() + 4);
  r = reader.read(input.substr(6));
  ASSERT_EQ(r.status, PktLineReader::Status::kPacket);
  EXPECT_EQ(r.consumed, 4u);
  EXPECT_EQ(reader.type(), PktType::kFlush);
}

TEST(PktLineReader, BuffersAtMostOnePacket) {
  PktLineReader reader;
  const std::string packet = "fff0" + kMaxPayload;
  size_t max_pending = 0;
  std::string_view rest = packet;
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, 1000);
    const PktLineReader::Result r = reader.read(piece);
    rest.remove_prefix(r.consumed);
    max_pending = std::max(max_pending, reader.pending());
    if (r.status == PktLineReader::Status::kPacket) break;
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(reader.payload(), kMaxPayload);
  EXPECT_LE(max_pending, kPktMaxLength);
}

struct WriteRow {
  const char* id;
  std::string payload;
  std::string want;
};

TEST(PktLineWriter, Examples) {
  const WriteRow rows[] = {
      {"lf", "a\n", "0006a\n"},      {"no_lf", "a", "0005a"},
      {"empty", "", "0004"},         {"doc", "foobar\n", "000bfoobar\n"},
      {"nul", "x\0y"s, "0007x\0y"s},
  };
  for (const WriteRow& row : rows) {
    std::string out;
    appendPktLine(out, row.payload);
    EXPECT_EQ(out, row.want) << row.id;
  }
  std::string flush;
  appendFlushPkt(flush);
  EXPECT_EQ(flush, "0000");
  std::string max;
  appendPktLine(max, kMaxPayload + "overflow");
  EXPECT_EQ(max, "fff0" + kMaxPayload) << "payload cut at 65516 bytes";
}

TEST(PktLineWriter, RoundTripsThroughTheReader) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{255}, size_t{4096}, kPktMaxPayload}) {
    std::string out;
    appendPktLine(out, std::string(n, 'q'));
    PktLineReader reader;
    const PktLineReader::Result r = reader.read(out);
    ASSERT_EQ(r.status, PktLineReader::Status::kPacket) << n;
    EXPECT_EQ(r.consumed, out.size());
    EXPECT_EQ(reader.payload().size(), n);
  }
}

}  // namespace
}  // namespace gatehouse::gitproxy
