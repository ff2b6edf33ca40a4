// The report-status a refused push gets (gitproxy/report_status.h): exact bytes with and without
// side-band-64k, for report-status and report-status-v2, and framing that stays valid for any
// input.
#include "gitproxy/report_status.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "gitproxy/pkt_line.h"
#include "gitproxy/push_policy.h"
#include "gitproxy/receive_pack.h"
#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using namespace std::string_literals;
using testing_text::printable;

// Splits a body into its packets: "D[...]" for data, "F" for flush; "!" on a framing error.
std::vector<std::string> packets(std::string_view body) {
  std::vector<std::string> out;
  PktLineReader reader;
  while (!body.empty()) {
    const PktLineReader::Result r = reader.read(body);
    body.remove_prefix(r.consumed);
    if (r.status != PktLineReader::Status::kPacket) {
      out.emplace_back("!");
      return out;
    }
    out.push_back(reader.type() == PktType::kFlush ? "F"s
                                                   : "D[" + std::string(reader.payload()) + "]");
  }
  return out;
}

TEST(ReportStatus, PlainReportExactBytes) {
  const RefReport refs[] = {
      {"refs/heads/main", "only refs/heads/agent-branch may be pushed in this session"},
      {"refs/heads/agent-branch", "push refused: another ref in this push is not allowed"},
  };
  const std::string want =
      "000eunpack ok\n"
      "0052ng refs/heads/main only refs/heads/agent-branch may be pushed in this session\n"
      "0055ng refs/heads/agent-branch push refused: another ref in this push is not allowed\n"
      "0000";
  EXPECT_EQ(buildReportStatus(refs, false, "ignored without side-band"), want);
}

TEST(ReportStatus, SideBandExactBytes) {
  const RefReport refs[] = {{"refs/heads/main", "only refs/heads/a may be pushed"}};
  const std::string report =
      "000eunpack ok\n"
      "0037ng refs/heads/main only refs/heads/a may be pushed\n"
      "0000";
  // Band 2 first (git prints it as "remote: ..."), one packet per line; then the report in
  // band 1; then a flush outside the bands, as receive-pack ends its output.
  const std::string want =
      "0017\2push refused by x\n"
      "000c\2second\n"
      "004e\1"s +
      report + "0000";
  ASSERT_EQ(report.size() + 5, 0x4eu);
  EXPECT_EQ(buildReportStatus(refs, true, "push refused by x\nsecond"), want)
      << printable(buildReportStatus(refs, true, "push refused by x\nsecond"));
}

TEST(ReportStatus, OkLinesAndEmptyMessage) {
  const RefReport refs[] = {{"refs/heads/a", ""}};
  EXPECT_EQ(buildReportStatus(refs, false, ""), "000eunpack ok\n0014ok refs/heads/a\n0000");
  EXPECT_EQ(buildReportStatus(refs, true, ""),
            "002b\1"
            "000eunpack ok\n0014ok refs/heads/a\n00000000"s)
      << "no band-2 packet for an empty message";
}

TEST(ReportStatus, SanitisesAndBounds) {
  const std::string reason = "bad\nreason\x01" + std::string(2000, 'r');
  const RefReport refs[] = {{"refs/heads/a\nok refs/heads/b", reason}};
  const std::string body =
      buildReportStatus(refs, true, "line\x1b[31m\r\n" + std::string(9000, 'm'));
  const std::vector<std::string> p = packets(body);
  ASSERT_FALSE(p.empty());
  EXPECT_NE(p.back(), "!");
  // The band-1 payload is itself a report; its ng line is one line.
  std::string band1;
  for (const std::string& pkt : p) {
    if (pkt.size() > 3 && pkt[2] == '\1') band1 += pkt.substr(3, pkt.size() - 4);
    if (pkt.size() > 3 && pkt[2] == '\2') {
      EXPECT_EQ(pkt.find('\x1b'), std::string::npos) << "no escape sequences reach the terminal";
      EXPECT_EQ(pkt.find('\r'), std::string::npos);
    }
  }
  const std::vector<std::string> inner = packets(band1);
  ASSERT_EQ(inner.size(), 3u);
  EXPECT_EQ(inner[1].substr(0, 45), "D[ng refs/heads/a?ok refs/heads/b bad?reason?");
  EXPECT_EQ(inner[1].size(), 2 + 3 + 28 + 1 + 512 + 1 + 1) << "reason cut at 512 bytes";
}

TEST(ReportStatus, LargeReportSplitsIntoBandPackets) {
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i)
    names.push_back("refs/heads/" + std::string(900, 'b') + std::to_string(i));
  std::vector<RefReport> refs;
  for (const std::string& n : names) refs.push_back({n, "only refs/heads/a may be pushed"});
  const std::string body = buildReportStatus(refs, true, "");
  const std::vector<std::string> p = packets(body);
  ASSERT_GT(p.size(), 2u);
  EXPECT_EQ(p.back(), "F");
  std::string band1;
  for (size_t i = 0; i + 1 < p.size(); ++i) {
    ASSERT_EQ(p[i][2], '\1');
    EXPECT_LE(p[i].size() - 3, kPktMaxPayload) << "at most 65515 data bytes + band byte";
    band1 += p[i].substr(3, p[i].size() - 4);
  }
  EXPECT_EQ(packets(band1).size(), 1002u) << "unpack line, 1000 ng lines, flush";
}

ParsedPush parsed(const std::string& caps, std::vector<std::string> refs) {
  ParsedPush push;
  push.capabilities.report_status = caps.find("report-status ") != std::string::npos;
  push.capabilities.report_status_v2 = caps.find("report-status-v2") != std::string::npos;
  push.capabilities.side_band_64k = caps.find("side-band-64k") != std::string::npos;
  for (std::string& ref : refs) {
    RefCommand c;
    c.old_oid = std::string(40, '1');
    c.new_oid = std::string(40, '2');
    c.ref = std::move(ref);
    push.commands.push_back(std::move(c));
  }
  return push;
}

TEST(ReportStatus, RefusalReportFromVerdict) {
  const PushPolicy policy({"agent-branch"});
  const ParsedPush push = parsed("report-status-v2 ", {"refs/heads/agent-branch", "refs/tags/v1"});
  const PushVerdict verdict = policy.evaluate(push);
  ASSERT_FALSE(verdict.allowed);
  const std::optional<std::string> body = buildRefusalReport(push, verdict);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(*body,
            "000eunpack ok\n"
            "0055ng refs/heads/agent-branch push refused: another ref in this push is not "
            "allowed\n"
            "0067ng refs/tags/v1 tags may not be pushed; only refs/heads/agent-branch may be "
            "pushed in this session\n"
            "0000")
      << "report-status-v2 uses the same ng lines";
  EXPECT_EQ(*buildRefusalReport(
                parsed("report-status ", {"refs/heads/agent-branch", "refs/tags/v1"}), verdict),
            *body)
      << "and so does report-status";

  const ParsedPush with_band =
      parsed("report-status-v2 side-band-64k", {"refs/heads/agent-branch", "refs/tags/v1"});
  const std::optional<std::string> banded = buildRefusalReport(with_band, verdict);
  ASSERT_TRUE(banded.has_value());
  const std::vector<std::string> p = packets(*banded);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "D[\2" + verdict.summary + "\n]");
  EXPECT_EQ(p[1], "D[\1" + *body + "]");
  EXPECT_EQ(p[2], "F");
}

TEST(ReportStatus, NoReportWithoutReportStatus) {
  const PushPolicy policy({"agent-branch"});
  const ParsedPush push = parsed("side-band-64k", {"refs/heads/main"});
  EXPECT_FALSE(buildRefusalReport(push, policy.evaluate(push)).has_value())
      << "git would mark the ref as pushed: the caller must answer with an HTTP error";
}

}  // namespace
}  // namespace gatehouse::gitproxy
