// The receive-pack parser, the push policy and the report never crash, and the parse does not
// depend on how the body is split into feed() calls: the input is fed as one buffer, one byte
// per call and in chunks whose sizes come from the input itself, under default and under small
// limits, and all must agree. The same holds for the bare pkt-line reader. Every accepted push
// is checked for the invariants the proxy relies on (valid refnames and oids, the pack starting
// where the section ends), goes through the policy, and a refusal's report must be well-formed
// pkt-lines carrying one status line per command.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gitproxy/pkt_line.h"
#include "gitproxy/push_policy.h"
#include "gitproxy/receive_pack.h"
#include "gitproxy/report_status.h"

namespace {

using gatehouse::gitproxy::buildRefusalReport;
using gatehouse::gitproxy::checkRefname;
using gatehouse::gitproxy::oidHexLength;
using gatehouse::gitproxy::ParsedPush;
using gatehouse::gitproxy::PktLineReader;
using gatehouse::gitproxy::PktType;
using gatehouse::gitproxy::PushParseError;
using gatehouse::gitproxy::PushPolicy;
using gatehouse::gitproxy::PushPolicyOptions;
using gatehouse::gitproxy::PushVerdict;
using gatehouse::gitproxy::ReceivePackLimits;
using gatehouse::gitproxy::ReceivePackParser;
using gatehouse::gitproxy::ReceivePackStatus;
using gatehouse::gitproxy::RefCommand;
using gatehouse::gitproxy::RefDecision;

void check(bool ok) {
  if (!ok) std::abort();
}

enum class Split : uint8_t { kWhole, kBytes, kChunks };

// Chunk sizes 1..64 from a small PRNG seeded by the input, so a split is reproducible.
class ChunkSizes {
 public:
  explicit ChunkSizes(std::string_view input) {
    for (unsigned char c : input) state_ = (state_ ^ c) * 1099511628211ULL;
  }
  size_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(state_ >> 58) + 1;
  }

 private:
  uint64_t state_ = 14695981039346656037ULL;
};

std::vector<std::string_view> pieces(std::string_view input, Split split) {
  std::vector<std::string_view> out;
  ChunkSizes sizes(input);
  while (!input.empty()) {
    size_t n = split == Split::kWhole ? input.size() : split == Split::kBytes ? 1 : sizes.next();
    if (n > input.size()) n = input.size();
    out.push_back(input.substr(0, n));
    input.remove_prefix(n);
  }
  return out;
}

std::string describe(const ReceivePackParser& p, ReceivePackStatus before_finish) {
  std::string s = std::to_string(static_cast<int>(before_finish)) + "/" +
                  std::to_string(static_cast<int>(p.status())) + "/" +
                  std::to_string(static_cast<int>(p.error()));
  if (p.status() == ReceivePackStatus::kError) return s;
  const ParsedPush& push = p.push();
  s += " section=" + std::to_string(p.commandSectionBytes());
  for (const RefCommand& c : push.commands) s += " " + c.old_oid + ":" + c.new_oid + ":" + c.ref;
  for (const std::string& o : push.push_options) s += " o=" + o;
  s += " shallow=" + std::to_string(push.shallow_count) + (push.signed_push ? " signed" : "") +
       (push.pack_expected ? " pack" : "") + " agent=" + push.capabilities.agent;
  return s;
}

struct Run {
  std::string text;
  std::optional<ParsedPush> push;  // when kOk
  size_t section = 0;
};

Run parse(std::string_view input, const ReceivePackLimits& limits, Split split) {
  ReceivePackParser parser(limits);
  ReceivePackStatus last = ReceivePackStatus::kNeedMore;
  for (std::string_view piece : pieces(input, split)) {
    const ReceivePackStatus s = parser.feed(piece);
    // Once decided, a push stays decided unless trailing bytes turn it into an error.
    if (last == ReceivePackStatus::kError) check(s == ReceivePackStatus::kError);
    last = s;
  }
  check(parser.bytesFed() == input.size());
  parser.finish();
  Run run;
  run.text = describe(parser, last);
  if (parser.status() == ReceivePackStatus::kOk) {
    run.push = parser.push();
    run.section = parser.commandSectionBytes();
  }
  return run;
}

std::string readPkts(std::string_view input, Split split) {
  PktLineReader reader;
  std::string out;
  for (std::string_view piece : pieces(input, split)) {
    while (!piece.empty()) {
      const PktLineReader::Result r = reader.read(piece);
      check(r.consumed <= piece.size());
      piece.remove_prefix(r.consumed);
      if (r.status == PktLineReader::Status::kError) {
        return out + "E" + std::to_string(static_cast<int>(reader.error()));
      }
      if (r.status == PktLineReader::Status::kPacket) {
        out += std::to_string(static_cast<int>(reader.type())) + "[" +
               std::string(reader.payload()) + "]";
      } else {
        check(piece.empty());
      }
      check(reader.pending() <= gatehouse::gitproxy::kPktMaxLength);
    }
  }
  return out + "N" + std::to_string(reader.pending());
}

// Decodes pkt-lines; false on any framing error or trailing partial packet.
bool decodePkts(std::string_view bytes, std::vector<std::string>* data, size_t* flushes) {
  PktLineReader reader;
  while (!bytes.empty()) {
    const PktLineReader::Result r = reader.read(bytes);
    bytes.remove_prefix(r.consumed);
    if (r.status != PktLineReader::Status::kPacket) return false;
    if (reader.type() == PktType::kFlush) {
      ++*flushes;
    } else if (reader.type() == PktType::kData) {
      data->emplace_back(reader.payload());
    } else {
      return false;
    }
  }
  return true;
}

void checkAccepted(std::string_view input, const Run& run) {
  const ParsedPush& push = *run.push;
  check(run.section <= input.size());
  if (push.pack_expected) check(input.substr(run.section, 4) == "PACK");
  if (!push.pack_expected) check(run.section == input.size());
  const size_t oid_length = oidHexLength(push.capabilities.object_format);
  for (const RefCommand& c : push.commands) {
    check(checkRefname(c.ref, 1024) == PushParseError::kNone);
    check(c.old_oid.size() == oid_length && c.new_oid.size() == oid_length);
    check(!(c.is_create && c.is_delete));
  }

  const PushPolicy policy({"agent-branch", "extra"}, PushPolicyOptions{{"ci.skip"}});
  const PushVerdict verdict = policy.evaluate(push);
  check(verdict.commands.size() == push.commands.size());
  bool all_allowed = true;
  for (const auto& c : verdict.commands) {
    all_allowed = all_allowed && c.decision == RefDecision::kAllowed;
    check(c.reason.empty() == (c.decision == RefDecision::kAllowed));
    check(c.reason.find('\n') == std::string::npos);
  }
  check(verdict.allowed == all_allowed);
  if (verdict.allowed) return;

  const std::optional<std::string> report = buildRefusalReport(push, verdict);
  check(report.has_value() ==
        (push.capabilities.report_status || push.capabilities.report_status_v2));
  if (!report) return;
  std::vector<std::string> outer;
  size_t outer_flushes = 0;
  check(decodePkts(*report, &outer, &outer_flushes));
  std::string inner = *report;
  if (push.capabilities.side_band_64k) {
    check(outer_flushes == 1);
    inner.clear();
    for (const std::string& pkt : outer) {
      check(!pkt.empty() && (pkt[0] == '\1' || pkt[0] == '\2'));
      if (pkt[0] == '\1') inner += pkt.substr(1);
    }
  }
  std::vector<std::string> lines;
  size_t flushes = 0;
  check(decodePkts(inner, &lines, &flushes));
  check(flushes == 1);
  check(lines.size() == push.commands.size() + 1);
  check(lines[0] == "unpack ok\n");
  for (size_t i = 0; i < push.commands.size(); ++i) {
    check(lines[i + 1] == "ng " + push.commands[i].ref + " " + verdict.commands[i].reason + "\n");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::string pkts = readPkts(input, Split::kWhole);
  check(readPkts(input, Split::kBytes) == pkts);
  check(readPkts(input, Split::kChunks) == pkts);

  ReceivePackLimits small;
  small.max_section_bytes = 512;
  small.max_commands = 3;
  small.max_shallow = 2;
  small.max_push_options = 2;
  small.max_capability_bytes = 64;
  small.max_refname = 32;
  for (const ReceivePackLimits& limits : {ReceivePackLimits{}, small}) {
    const Run whole = parse(input, limits, Split::kWhole);
    check(parse(input, limits, Split::kBytes).text == whole.text);
    check(parse(input, limits, Split::kChunks).text == whole.text);
    if (whole.push) checkAccepted(input, whole);
  }
  return 0;
}
