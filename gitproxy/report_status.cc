#include "gitproxy/report_status.h"

#include <algorithm>
#include <vector>

#include "gitproxy/pkt_line.h"

namespace gatehouse::gitproxy {
namespace {

constexpr size_t kMaxReason = 512;
constexpr size_t kMaxMessage = 4096;
constexpr size_t kMaxRef = 4096;
// A side-band-64k packet: 4 length bytes, 1 band byte, up to 65515 data bytes.
constexpr size_t kBandPayload = kPktMaxPayload - 1;

// Control characters (and, unless `keep_utf8`, every byte >= 0x80) become '?'. Refnames keep
// their UTF-8 bytes: git matches each status line to its ref by name.
void appendSanitized(std::string& out, std::string_view text, size_t max, bool keep_utf8 = false) {
  text = text.substr(0, max);
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    out += (b >= 0x20 && b != 0x7f && (b < 0x80 || keep_utf8)) ? c : '?';
  }
}

void appendBand(std::string& out, char band, std::string_view data) {
  do {
    const std::string_view piece = data.substr(0, kBandPayload);
    data.remove_prefix(piece.size());
    std::string payload;
    payload.reserve(piece.size() + 1);
    payload += band;
    payload.append(piece);
    appendPktLine(out, payload);
  } while (!data.empty());
}

}  // namespace

std::string buildReportStatus(std::span<const RefReport> refs, bool side_band_64k,
                              std::string_view message) {
  std::string report;
  appendPktLine(report, "unpack ok\n");
  std::string line;
  for (const RefReport& r : refs) {
    line.clear();
    line += r.reason.empty() ? "ok " : "ng ";
    appendSanitized(line, r.ref, kMaxRef, /*keep_utf8=*/true);
    if (!r.reason.empty()) {
      line += ' ';
      appendSanitized(line, r.reason, kMaxReason);
    }
    line += '\n';
    appendPktLine(report, line);
  }
  appendFlushPkt(report);
  if (!side_band_64k) return report;

  std::string out;
  message = message.substr(0, kMaxMessage);
  while (!message.empty()) {
    const size_t lf = message.find('\n');
    const std::string_view text = message.substr(0, lf);
    message.remove_prefix(lf == std::string_view::npos ? message.size() : lf + 1);
    line.clear();
    appendSanitized(line, text, kMaxMessage);
    line += '\n';
    appendBand(out, '\2', line);
  }
  appendBand(out, '\1', report);
  appendFlushPkt(out);
  return out;
}

std::optional<std::string> buildRefusalReport(const ParsedPush& push, const PushVerdict& verdict) {
  const Capabilities& caps = push.capabilities;
  if (!caps.report_status && !caps.report_status_v2) return std::nullopt;
  std::vector<RefReport> refs;
  refs.reserve(push.commands.size());
  for (size_t i = 0; i < push.commands.size(); ++i) {
    std::string_view reason;
    if (i < verdict.commands.size()) reason = verdict.commands[i].reason;
    // A refusal never reports "ok": a command without its own reason shares the push's.
    if (reason.empty()) reason = "push refused";
    refs.push_back({push.commands[i].ref, reason});
  }
  return buildReportStatus(refs, caps.side_band_64k, verdict.summary);
}

}  // namespace gatehouse::gitproxy
