// The receive-pack command-section parser (gitproxy/receive_pack.h): one row per case of
// ../shared/BAD-INPUTS.md I3-I6, I8 and I10 and of the grammar in gitprotocol-pack(5). Every row
// is fed in one piece, byte by byte, split in two at every position (bodies up to 4 KiB) and in
// random chunks; all must end the same way.
#include "gitproxy/receive_pack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gitproxy/pkt_line.h"
#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using namespace std::string_literals;
using testing_text::paramName;
using testing_text::printable;

// ---------------------------------------------------------------------------------------------
// Body builders.

const std::string kZero(40, '0');
const std::string kOld = "45f240563e60f1bab4f4396d8a58182814173283";
const std::string kNew = "bb825c3eb0ce3b6251c80f5002d5a5c64aca5952";
const std::string kZero256(64, '0');
const std::string kOld256 = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad8a31a21e3bb61e1d7bc3ee02";
const std::string kNew256 = "0c1b9dc1b4e0b3e2b4f1a4d1c2a8d3f6e5b7a9c8d0e1f2a3b4c5d6e7f8091a2b";
// What git 2.39 sends to a receive-pack that advertises the usual capabilities: note the
// leading space.
const std::string kCaps =
    " report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5";
const std::string kFlush = "0000";
// An empty version-2 pack: header, zero objects, 20-byte trailer.
const std::string kPack = "PACK\0\0\0\2\0\0\0\0"s + std::string(20, '\x5a');
const std::string kAgent = "refs/heads/agent-branch";

std::string pkt(std::string_view payload) {
  std::string out;
  appendPktLine(out, payload);
  return out;
}
std::string upd(const std::string& ref) { return kOld + " " + kNew + " " + ref; }
std::string crt(const std::string& ref) { return kZero + " " + kNew + " " + ref; }
std::string del(const std::string& ref) { return kOld + " " + kZero + " " + ref; }
std::string first(const std::string& command, const std::string& caps = kCaps) {
  return pkt(command + '\0' + caps);
}
std::string shallow(const std::string& oid) { return pkt("shallow " + oid); }

std::string signedPush(const std::vector<std::string>& cert_lines) {
  std::string body = pkt("push-cert\0"s + kCaps + "\n");
  for (const std::string& l : cert_lines) body += pkt(l);
  return body;
}
const std::vector<std::string> kCert = {
    "certificate version 0.1\n",
    "pusher t <t@e> 1795319822 +0000\n",
    "pushee https://github.com/org/repo.git\n",
    "nonce 1795319822-2d10646d9719ae5b44cbbf2929678ba74641ea96\n",
    "\n",
    upd(kAgent) + "\n",
    "-----BEGIN PGP SIGNATURE-----\n",
    "\n",
    "iHoEABYIACIWIQQ5ATnY1llT69W8Id5YtTnb8EsyKAUCawJoDgQcdEBlAAoJEFi1\n",
    "-----END PGP SIGNATURE-----\n",
    "push-cert-end\n",
};
std::vector<std::string> certWithout(size_t index) {
  std::vector<std::string> lines = kCert;
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(index));
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Harness.

const char* statusName(ReceivePackStatus s) {
  switch (s) {
    case ReceivePackStatus::kNeedMore:
      return "need-more";
    case ReceivePackStatus::kOk:
      return "ok";
    case ReceivePackStatus::kError:
      return "error";
  }
  return "?";
}

// "ok U:refs/heads/a C:refs/heads/b D:refs/heads/c shallow=1 opts=[x|y] signed sha256 pack"
std::string describe(const ReceivePackParser& p) {
  if (p.status() == ReceivePackStatus::kError) {
    return "error("s + pushParseErrorCode(p.error()) + ")";
  }
  std::string s = statusName(p.status());
  const ParsedPush& push = p.push();
  for (const RefCommand& c : push.commands) {
    s += c.is_create ? " C:" : c.is_delete ? " D:" : " U:";
    s += c.ref;
  }
  if (push.shallow_count > 0) s += " shallow=" + std::to_string(push.shallow_count);
  if (!push.push_options.empty()) {
    s += " opts=[";
    for (size_t i = 0; i < push.push_options.size(); ++i) {
      s += (i > 0 ? "|" : "") + push.push_options[i];
    }
    s += "]";
  }
  if (push.signed_push) s += " signed";
  if (push.capabilities.object_format == ObjectFormat::kSha256) s += " sha256";
  if (push.pack_expected) s += " pack";
  return s;
}

struct Outcome {
  std::string before_finish;  // status after the last feed()
  std::string after_finish;   // describe() after finish()
  size_t section = 0;
};

Outcome run(const std::vector<std::string_view>& pieces, const ReceivePackLimits& limits = {}) {
  ReceivePackParser parser(limits);
  ReceivePackStatus last = ReceivePackStatus::kNeedMore;
  for (std::string_view piece : pieces) last = parser.feed(piece);
  Outcome out;
  out.before_finish = statusName(last);
  parser.finish();
  out.after_finish = describe(parser);
  out.section = parser.commandSectionBytes();
  return out;
}

std::vector<std::string_view> bytewise(std::string_view body) {
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < body.size(); ++i) pieces.push_back(body.substr(i, 1));
  return pieces;
}

std::vector<std::string_view> randomChunks(std::string_view body, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> size(1, 300);
  std::vector<std::string_view> pieces;
  while (!body.empty()) {
    const size_t n = std::min(size(rng), body.size());
    pieces.push_back(body.substr(0, n));
    body.remove_prefix(n);
  }
  return pieces;
}

void expectSameEverySplit(std::string_view body, const Outcome& whole, const char* why,
                          const ReceivePackLimits& limits = {}) {
  const auto same = [&](const Outcome& o, const std::string& how) {
    EXPECT_EQ(o.after_finish, whole.after_finish) << why << ": " << how;
    EXPECT_EQ(o.before_finish, whole.before_finish) << why << ": " << how;
    if (whole.after_finish.rfind("ok", 0) == 0) {
      EXPECT_EQ(o.section, whole.section) << why << ": " << how;
    }
  };
  same(run(bytewise(body), limits), "byte by byte");
  for (unsigned seed = 1; seed <= 3; ++seed) {
    same(run(randomChunks(body, seed), limits), "random chunks " + std::to_string(seed));
  }
  if (body.size() > 4096) return;
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    same(run({body.substr(0, cut), body.substr(cut)}, limits), "split at " + std::to_string(cut));
  }
}

struct Row {
  const char* id;
  std::string body;
  std::string want;         // describe() after finish()
  size_t pack_bytes = 0;    // for ok rows: the section is body.size() - pack_bytes
  const char* before = "";  // status after the last feed(), "" = same as want's first word
  const char* why = "";
};

class ParserRows : public ::testing::TestWithParam<Row> {};

TEST_P(ParserRows, ParsesTheSameHoweverSplit) {
  const Row& row = GetParam();
  const Outcome whole = run({row.body});
  EXPECT_EQ(whole.after_finish, row.want) << row.why << "\nbody: " << printable(row.body);
  std::string before = row.before;
  if (before.empty()) before = row.want.substr(0, row.want.find_first_of(" ("));
  EXPECT_EQ(whole.before_finish, before) << row.why;
  if (row.want.rfind("ok", 0) == 0) {
    EXPECT_EQ(whole.section, row.body.size() - row.pack_bytes) << row.why;
  }
  expectSameEverySplit(row.body, whole, row.why);
}

std::vector<Row> rows() {
  const std::string update = first(upd(kAgent)) + kFlush + kPack;
  std::vector<Row> r = {
      // ---- accepted shapes -------------------------------------------------------------------
      {"I3_update", update, "ok U:" + kAgent + " pack", kPack.size(), "", "I3 the session branch"},
      {"create", first(crt("refs/heads/new")) + kFlush + kPack, "ok C:refs/heads/new pack",
       kPack.size(), "", "create: old id zero"},
      {"I5_delete", first(del(kAgent)) + kFlush, "ok D:" + kAgent, 0, "",
       "I5 delete parses (the policy refuses it); no pack follows a delete-only push"},
      {"I6_several",
       first(upd(kAgent)) + pkt(upd("refs/heads/main")) + pkt(crt("refs/tags/v1")) + kFlush + kPack,
       "ok U:" + kAgent + " U:refs/heads/main C:refs/tags/v1 pack", kPack.size(), "",
       "I6 several commands, order kept"},
      {"lf_terminated",
       pkt(upd(kAgent) + '\0' + kCaps + "\n") + pkt(upd("refs/heads/b") + "\n") + kFlush + kPack,
       "ok U:" + kAgent + " U:refs/heads/b pack", kPack.size(), "",
       "a trailing LF is optional on every line"},
      {"caps_without_leading_space",
       first(upd(kAgent), "report-status side-band-64k") + kFlush + kPack,
       "ok U:" + kAgent + " pack", kPack.size(), "", "the documented form, without the space"},
      {"caps_empty", first(upd(kAgent), "") + kFlush + kPack, "ok U:" + kAgent + " pack",
       kPack.size(), "", "NUL and an empty list"},
      {"pack_v3", first(upd(kAgent)) + kFlush + "PACK\0\0\0\3"s, "ok U:" + kAgent + " pack", 8, "",
       "pack version 3"},
      {"mixed_delete_update", first(del("refs/heads/old")) + pkt(upd(kAgent)) + kFlush + kPack,
       "ok D:refs/heads/old U:" + kAgent + " pack", kPack.size(), "",
       "a pack follows when any command is not a delete"},
      {"I4_main", first(upd("refs/heads/main")) + kFlush + kPack, "ok U:refs/heads/main pack",
       kPack.size(), "", "I4 parses; the policy refuses"},
      {"I4_tag", first(crt("refs/tags/v1")) + kFlush + kPack, "ok C:refs/tags/v1 pack",
       kPack.size(), "", "I4 tag"},
      {"I4_notes", first(upd("refs/notes/commits")) + kFlush + kPack,
       "ok U:refs/notes/commits pack", kPack.size(), "", "I4 notes"},
      {"I4_pull", first(upd("refs/pull/1/head")) + kFlush + kPack, "ok U:refs/pull/1/head pack",
       kPack.size(), "", "I4 pull"},
      {"I4_agent_branch2", first(upd("refs/heads/agent-branch2")) + kFlush + kPack,
       "ok U:refs/heads/agent-branch2 pack", kPack.size(), "", "I4 prefix of the branch"},
      {"I4_agent_branch_x", first(upd("refs/heads/agent-branch/x")) + kFlush + kPack,
       "ok U:refs/heads/agent-branch/x pack", kPack.size(), "", "I4 below the branch"},
      {"utf8_ref", first(upd("refs/heads/caf\xc3\xa9")) + kFlush + kPack,
       "ok U:refs/heads/caf\xc3\xa9 pack", kPack.size(), "", "UTF-8 refnames are valid"},
      {"at_sign", first(upd("refs/heads/a@b")) + kFlush + kPack, "ok U:refs/heads/a@b pack",
       kPack.size(), "", "'@' without '{' is fine"},

      // ---- I10: the probe and the end of the section -------------------------------------
      {"I10_probe", "0000", "ok", 0, "", "I10 the 4-byte probe of a large push: no commands"},
      {"I10_probe_trailing", "00000000", "error(trailing-data)", 0, "",
       "nothing may follow the probe"},
      {"I10_probe_then_pack", "0000" + kPack, "error(trailing-data)", 0, "",
       "no pack without commands"},
      {"delete_then_pack", first(del(kAgent)) + kFlush + kPack, "error(trailing-data)", 0, "",
       "receive-pack reads no pack after deletes only: those bytes would be unread"},
      {"empty_body", "", "error(truncated)", 0, "need-more", "an empty body is not a push"},
      {"I8_missing_flush_eof", first(upd(kAgent)), "error(truncated)", 0, "need-more",
       "I8 body ends without the flush"},
      {"I8_missing_flush_pack", first(upd(kAgent)) + kPack, "error(pkt-bad-length-hex)", 0, "",
       "I8 pack right after the commands: 'PACK' is not a pkt-len"},
      {"missing_pack", first(upd(kAgent)) + kFlush, "error(truncated)", 0, "need-more",
       "an update must be followed by a pack"},
      {"partial_pack_header", first(upd(kAgent)) + kFlush + "PACK\0\0"s, "error(truncated)", 0,
       "need-more", "the pack header is not complete"},
      {"bad_pack_magic", first(upd(kAgent)) + kFlush + "PACX\0\0\0\2"s, "error(bad-pack-header)", 0,
       "", "not a pack"},
      {"bad_pack_version", first(upd(kAgent)) + kFlush + "PACK\0\0\0\4"s, "error(bad-pack-header)",
       0, "", "pack version 4 does not exist"},
      {"extra_pkt_after_flush", first(upd(kAgent)) + kFlush + pkt(upd("refs/heads/x")) + kPack,
       "error(bad-pack-header)", 0, "",
       "a second command list after the flush is not a pack (smuggling)"},

      // ---- I8: malformed pkt-lines -----------------------------------------------------------
      {"I8_bad_hex", "00zz" + upd(kAgent), "error(pkt-bad-length-hex)", 0, "", "I8 bad hex"},
      {"I8_upper_hex", "00AF" + upd(kAgent), "error(pkt-bad-length-hex)", 0, "",
       "uppercase pkt-len"},
      {"I8_len1", "0001", "error(unexpected-special-pkt)", 0, "", "I8 delim-pkt is v2 only"},
      {"I8_len2", "0002", "error(unexpected-special-pkt)", 0, "", "I8 response-end is v2 only"},
      {"I8_len3", "0003", "error(pkt-invalid-length)", 0, "", "I8 length 3"},
      {"I8_len1_after_command", first(upd(kAgent)) + "0001" + kFlush + kPack,
       "error(unexpected-special-pkt)", 0, "", "receive-pack would end the list here"},
      {"I8_65521", "fff1" + std::string(65517, 'a'), "error(pkt-too-long)", 0, "", "I8 over 65520"},
      {"I8_truncated_pkt", "00b7" + upd(kAgent), "error(truncated)", 0, "need-more",
       "I8 pkt-len larger than the body"},
      {"I8_empty_pkt", "0004" + first(upd(kAgent)) + kFlush + kPack, "error(empty-pkt)", 0, "",
       "0004 where a command is expected"},
      {"I8_lone_lf", first(upd(kAgent)) + pkt("\n") + kFlush + kPack, "error(empty-pkt)", 0, "",
       "an empty line"},

      // ---- capabilities ----------------------------------------------------------------------
      {"I8_missing_nul", pkt(upd(kAgent)) + kFlush + kPack, "error(missing-capabilities)", 0, "",
       "I8 first command without NUL"},
      {"nul_on_second",
       first(upd(kAgent)) + pkt(upd("refs/heads/b") + "\0 push-options"s) + kFlush + kPack,
       "error(capabilities-not-first)", 0, "",
       "receive-pack takes capabilities from any line: a later push-options would desync"},
      {"caps_double_space", first(upd(kAgent), " quiet  atomic") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "empty entry"},
      {"caps_two_leading_spaces", first(upd(kAgent), "  quiet") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "only one leading space"},
      {"caps_trailing_space", first(upd(kAgent), " quiet ") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "trailing space"},
      {"caps_control_char", first(upd(kAgent), " quiet agent=a\x01") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "control character"},
      {"caps_flag_with_value", first(upd(kAgent), " quiet=1") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "flags take no value"},
      {"caps_agent_without_value", first(upd(kAgent), " agent") + kFlush + kPack,
       "error(bad-capabilities)", 0, "", "agent needs a value"},
      {"caps_unknown", first(upd(kAgent), " report-status side-band") + kFlush + kPack,
       "error(unknown-capability)", 0, "", "side-band (1000-byte) is not a push capability"},
      {"caps_unknown_future", first(upd(kAgent), " report-status frobnicate") + kFlush + kPack,
       "error(unknown-capability)", 0, "", "an unknown capability may change the grammar"},
      {"caps_duplicate", first(upd(kAgent), " quiet quiet") + kFlush + kPack,
       "error(duplicate-capability)", 0, "", "duplicate flag"},
      {"caps_duplicate_format",
       first(upd(kAgent), " object-format=sha1 object-format=sha256") + kFlush + kPack,
       "error(duplicate-capability)", 0, "", "two object formats"},
      {"caps_bad_format", first(upd(kAgent), " object-format=md5") + kFlush + kPack,
       "error(bad-object-format)", 0, "", "unknown hash"},
      {"I8_huge_caps", first(upd(kAgent), " agent=" + std::string(5000, 'a')) + kFlush + kPack,
       "error(capabilities-too-long)", 0, "", "I8 huge capability list"},

      // ---- commands --------------------------------------------------------------------------
      {"I4_HEAD", first(upd("HEAD")) + kFlush + kPack, "error(refname-not-under-refs)", 0, "",
       "I4 HEAD is not under refs/"},
      {"one_level", first(upd("main")) + kFlush + kPack, "error(refname-not-under-refs)", 0, "",
       "a short name"},
      {"heads_without_refs", first(upd("heads/main")) + kFlush + kPack,
       "error(refname-not-under-refs)", 0, "", "no refs/ prefix"},
      {"upper_oid", first(kOld + " " + std::string(40, 'A') + " " + kAgent) + kFlush + kPack,
       "error(bad-oid)", 0, "", "uppercase hex (git would accept it)"},
      {"non_hex_oid", first(kOld + " " + std::string(40, 'g') + " " + kAgent) + kFlush + kPack,
       "error(bad-oid)", 0, "", "not hex"},
      {"short_oid", first(kOld.substr(1) + " " + kNew + " " + kAgent) + kFlush + kPack,
       "error(bad-oid)", 0, "", "39 digits"},
      {"sha256_oid_in_sha1", first(kOld256 + " " + kNew256 + " " + kAgent) + kFlush + kPack,
       "error(bad-oid)", 0, "", "64 digits without object-format=sha256"},
      {"double_space", first(kOld + "  " + kNew + " " + kAgent) + kFlush + kPack, "error(bad-oid)",
       0, "", "single spaces only"},
      {"tabs", first(kOld + "\t" + kNew + "\t" + kAgent) + kFlush + kPack, "error(bad-command)", 0,
       "", "tabs are not separators"},
      {"no_refname", first(kOld + " " + kNew) + kFlush + kPack, "error(bad-command)", 0, "",
       "two fields"},
      {"empty_refname", first(kOld + " " + kNew + " ") + kFlush + kPack, "error(bad-command)", 0,
       "", "empty refname"},
      {"zero_to_zero", first(kZero + " " + kZero + " " + kAgent) + kFlush + kPack,
       "error(zero-to-zero)", 0, "", "create and delete at once"},
      {"duplicate_ref", first(upd(kAgent)) + pkt(upd(kAgent)) + kFlush + kPack,
       "error(duplicate-ref)", 0, "", "the same ref twice"},
      {"shallow_after_command", first(upd(kAgent)) + shallow(kOld) + kFlush + kPack,
       "error(misplaced-shallow)", 0, "", "shallow lines come first"},

      // ---- shallow ---------------------------------------------------------------------------
      {"shallow_one", shallow(kOld) + first(upd(kAgent)) + kFlush + kPack,
       "ok U:" + kAgent + " shallow=1 pack", kPack.size(), "", "a shallow clone pushing"},
      {"shallow_lf",
       pkt("shallow " + kOld + "\n") + shallow(kNew) + first(upd(kAgent)) + kFlush + kPack,
       "ok U:" + kAgent + " shallow=2 pack", kPack.size(), "", "shallow with LF"},
      {"shallow_only", shallow(kOld) + kFlush, "error(misplaced-shallow)", 0, "",
       "shallow lines and no command"},
      {"shallow_upper", shallow(std::string(40, 'A')) + first(upd(kAgent)) + kFlush + kPack,
       "error(bad-shallow)", 0, "", "uppercase"},
      {"shallow_garbage", shallow(kOld + "xyz") + first(upd(kAgent)) + kFlush + kPack,
       "error(bad-shallow)", 0, "", "git ignores bytes after the oid; we refuse"},
      {"shallow_no_oid", pkt("shallow ") + first(upd(kAgent)) + kFlush + kPack,
       "error(bad-shallow)", 0, "", "no oid"},
      {"shallow_sha256_in_sha1", shallow(kOld256) + first(upd(kAgent)) + kFlush + kPack,
       "error(bad-shallow)", 0, "", "shallow oid length must match the object format"},
      {"shallow_mixed_lengths",
       shallow(kOld) + shallow(kOld256) + first(upd(kAgent)) + kFlush + kPack, "error(bad-shallow)",
       0, "", "all shallow oids have one length"},

      // ---- sha256 ----------------------------------------------------------------------------
      {"sha256",
       first(kOld256 + " " + kNew256 + " " + kAgent, " report-status object-format=sha256") +
           kFlush + kPack,
       "ok U:" + kAgent + " sha256 pack", kPack.size(), "", "64-digit ids"},
      {"sha256_create",
       first(kZero256 + " " + kNew256 + " " + kAgent, " object-format=sha256") + kFlush + kPack,
       "ok C:" + kAgent + " sha256 pack", kPack.size(), "", "64-digit zero id is a create"},
      {"sha256_short_oid",
       first(kOld + " " + kNew + " " + kAgent, " object-format=sha256") + kFlush + kPack,
       "error(bad-oid)", 0, "", "40 digits in a sha256 push"},
      {"sha256_shallow",
       shallow(kOld256) + first(kOld256 + " " + kNew256 + " " + kAgent, " object-format=sha256") +
           kFlush + kPack,
       "ok U:" + kAgent + " shallow=1 sha256 pack", kPack.size(), "", "sha256 shallow"},

      // ---- push options ----------------------------------------------------------------------
      {"push_options",
       first(upd(kAgent), kCaps + " push-options") + kFlush + pkt("ci.skip") +
           pkt("merge_request.title=x y\n") + kFlush + kPack,
       "ok U:" + kAgent + " opts=[ci.skip|merge_request.title=x y] pack", kPack.size(), "",
       "options after the flush, LF optional"},
      {"push_options_none_sent",
       first(upd(kAgent), kCaps + " push-options") + kFlush + kFlush + kPack,
       "ok U:" + kAgent + " pack", kPack.size(), "", "negotiated, none sent: an empty list"},
      {"push_options_missing", first(upd(kAgent), kCaps + " push-options") + kFlush + kPack,
       "error(pkt-bad-length-hex)", 0, "", "negotiated but the pack follows directly"},
      {"push_options_delete_only",
       first(del(kAgent), kCaps + " push-options") + kFlush + pkt("ci.skip") + kFlush,
       "ok D:" + kAgent + " opts=[ci.skip]", 0, "", "options also come with deletes"},
      {"push_option_control",
       first(upd(kAgent), kCaps + " push-options") + kFlush + pkt("a\tb") + kFlush + kPack,
       "error(bad-push-option)", 0, "", "push-option = 1*(VCHAR / SP)"},
      {"push_option_nul",
       first(upd(kAgent), kCaps + " push-options") + kFlush + pkt("a\0b"s) + kFlush + kPack,
       "error(bad-push-option)", 0, "", "NUL"},
      {"push_option_empty",
       first(upd(kAgent), kCaps + " push-options") + kFlush + pkt("\n") + kFlush + kPack,
       "error(empty-pkt)", 0, "", "empty option"},
      {"push_options_unterminated",
       first(upd(kAgent), kCaps + " push-options") + kFlush + pkt("ci.skip"), "error(truncated)", 0,
       "need-more", "I8 no flush after the options"},

      // ---- signed pushes ---------------------------------------------------------------------
      {"signed", signedPush(kCert) + kFlush + kPack, "ok U:" + kAgent + " signed pack",
       kPack.size(), "", "push-cert: commands come from the certificate"},
      {"signed_shallow", shallow(kOld) + signedPush(kCert) + kFlush + kPack,
       "ok U:" + kAgent + " shallow=1 signed pack", kPack.size(), "", "*shallow push-cert"},
      {"signed_no_version", signedPush(certWithout(0)) + kFlush + kPack, "error(bad-push-cert)", 0,
       "", "the version line comes first"},
      {"signed_no_blank", signedPush(certWithout(4)) + kFlush + kPack, "error(bad-command)", 0, "",
       "no empty line after the header: the signature's empty line is taken as the separator "
       "(as git does) and the signature's base64 is not a command"},
      {"signed_no_blank_at_all",
       signedPush({kCert[0], kCert[1], kCert[5], kCert[6], kCert[9], kCert[10]}) + kFlush + kPack,
       "error(bad-push-cert)", 0, "", "no empty line anywhere"},
      {"signed_no_signature",
       signedPush({kCert[0], kCert[1], kCert[4], kCert[5], kCert[10]}) + kFlush + kPack,
       "error(bad-push-cert)", 0, "", "no signature"},
      {"signed_no_commands",
       signedPush({kCert[0], kCert[1], kCert[4], kCert[6], kCert[9], kCert[10]}) + kFlush + kPack,
       "error(bad-push-cert)", 0, "", "no command"},
      {"signed_bad_command",
       signedPush({kCert[0], kCert[4], "HEAD\n", kCert[6], kCert[9], kCert[10]}) + kFlush + kPack,
       "error(bad-command)", 0, "", "certificate commands are checked like others"},
      {"signed_line_without_lf",
       signedPush({"certificate version 0.1", kCert[4], kCert[5], kCert[6], kCert[10]}) + kFlush +
           kPack,
       "error(bad-push-cert)", 0, "", "LF is mandatory in a certificate"},
      {"signed_flush_inside", signedPush({kCert[0], kCert[1]}) + kFlush + kPack,
       "error(bad-push-cert)", 0, "", "flush before push-cert-end"},
      {"signed_command_after_end", signedPush(kCert) + pkt(upd("refs/heads/x")) + kFlush + kPack,
       "error(bad-push-cert)", 0, "", "both a certificate and plain commands"},
      {"signed_unterminated", signedPush(certWithout(10)), "error(truncated)", 0, "need-more",
       "no push-cert-end"},
  };

  // Refname rules (git check-ref-format), each in an otherwise valid push.
  const struct {
    const char* id;
    std::string ref;
    const char* error;
  } refnames[] = {
      {"ref_dotdot", "refs/heads/a..b", "bad-refname"},
      {"ref_control",
       "refs/heads/a\x01"
       "b",
       "bad-refname"},
      {"ref_del", "refs/heads/a\x7f", "bad-refname"},
      {"ref_space", "refs/heads/a b", "bad-refname"},
      {"ref_tilde", "refs/heads/a~1", "bad-refname"},
      {"ref_caret", "refs/heads/a^", "bad-refname"},
      {"ref_colon", "refs/heads/a:b", "bad-refname"},
      {"ref_question", "refs/heads/a?", "bad-refname"},
      {"ref_star", "refs/heads/*", "bad-refname"},
      {"ref_bracket", "refs/heads/[a", "bad-refname"},
      {"ref_backslash", "refs/heads/a\\b", "bad-refname"},
      {"ref_at_brace", "refs/heads/a@{1}", "bad-refname"},
      {"ref_lock", "refs/heads/a.lock", "bad-refname"},
      {"ref_lock_component", "refs/heads/a.lock/b", "bad-refname"},
      {"ref_trailing_slash", "refs/heads/a/", "bad-refname"},
      {"ref_trailing_dot", "refs/heads/a.", "bad-refname"},
      {"ref_double_slash", "refs/heads//a", "bad-refname"},
      {"ref_dot_component", "refs/heads/.a", "bad-refname"},
      {"ref_dash", "refs/heads/-a", "bad-refname"},
      {"ref_refs_only", "refs/", "bad-refname"},
      {"ref_bad_utf8", "refs/heads/\xc3", "bad-refname"},
      {"ref_overlong_utf8", "refs/heads/\xc0\xaf", "bad-refname"},
      {"ref_surrogate", "refs/heads/\xed\xa0\x80", "bad-refname"},
      {"ref_too_long", "refs/heads/" + std::string(1014, 'a'), "refname-too-long"},
  };
  for (const auto& ref : refnames) {
    r.push_back({ref.id, first(upd(ref.ref)) + kFlush + kPack, "error("s + ref.error + ")", 0, "",
                 "check-ref-format"});
  }
  r.push_back({"ref_1024", first(upd("refs/heads/" + std::string(1013, 'a'))) + kFlush + kPack,
               "ok U:refs/heads/" + std::string(1013, 'a') + " pack", kPack.size(), "",
               "1024 bytes is the limit"});
  return r;
}

INSTANTIATE_TEST_SUITE_P(Rows, ParserRows, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return paramName(param_info.param.id, param_info.index);
                         });

// ---------------------------------------------------------------------------------------------
// Focused tests.

TEST(ReceivePackParser, CapabilitiesAreRecorded) {
  ReceivePackParser parser;
  parser.feed(first(upd(kAgent),
                    " report-status report-status-v2 side-band-64k quiet atomic ofs-delta "
                    "push-options delete-refs object-format=sha1 agent=git/2.39.5 "
                    "session-id=abc push-cert=1795-xyz") +
              kFlush + kFlush + kPack);
  ASSERT_EQ(parser.finish(), ReceivePackStatus::kOk) << pushParseErrorCode(parser.error());
  const Capabilities& c = parser.push().capabilities;
  EXPECT_TRUE(c.report_status && c.report_status_v2 && c.side_band_64k && c.quiet && c.atomic &&
              c.ofs_delta && c.push_options && c.delete_refs && c.object_format_sent);
  EXPECT_EQ(c.object_format, ObjectFormat::kSha1);
  EXPECT_EQ(c.agent, "git/2.39.5");
  EXPECT_EQ(c.session_id, "abc");
  EXPECT_TRUE(c.push_cert);
  EXPECT_EQ(c.push_cert_nonce, "1795-xyz");
}

TEST(ReceivePackParser, CommandFields) {
  ReceivePackParser parser;
  parser.feed(first(crt("refs/heads/a")) + pkt(upd("refs/heads/b")) + pkt(del("refs/heads/c")) +
              kFlush + kPack);
  ASSERT_EQ(parser.status(), ReceivePackStatus::kOk);
  const std::vector<RefCommand>& cmds = parser.push().commands;
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[0].old_oid, kZero);
  EXPECT_EQ(cmds[0].new_oid, kNew);
  EXPECT_TRUE(cmds[0].is_create);
  EXPECT_FALSE(cmds[0].is_delete);
  EXPECT_EQ(cmds[1].old_oid, kOld);
  EXPECT_FALSE(cmds[1].is_create || cmds[1].is_delete);
  EXPECT_EQ(cmds[2].new_oid, kZero);
  EXPECT_TRUE(cmds[2].is_delete);
  EXPECT_TRUE(parser.push().pack_expected);
}

TEST(ReceivePackParser, TooManyCommands) {
  std::string body = first(upd("refs/heads/b0"));
  for (int i = 1; i <= 1000; ++i) body += pkt(upd("refs/heads/b" + std::to_string(i)));
  body += kFlush + kPack;
  const Outcome whole = run({body});
  EXPECT_EQ(whole.after_finish, "error(too-many-commands)") << "1001 commands";
  expectSameEverySplit(body, whole, "too many commands");

  std::string ok = first(upd("refs/heads/b0"));
  for (int i = 1; i < 1000; ++i) ok += pkt(upd("refs/heads/b" + std::to_string(i)));
  ok += kFlush + kPack;
  EXPECT_EQ(run({ok}).after_finish.substr(0, 2), "ok") << "1000 commands are fine";
}

TEST(ReceivePackParser, SectionLimit) {
  // 1000 commands with 1000-byte refnames are over 1 MiB before the command limit.
  std::string body = first(upd("refs/heads/" + std::string(989, 'a') + "0"));
  for (int i = 1; i < 1000; ++i) {
    body += pkt(upd("refs/heads/" + std::string(989, 'a') + std::to_string(i)));
  }
  body += kFlush + kPack;
  ASSERT_GT(body.size(), size_t{1} << 20);
  const Outcome whole = run({body});
  EXPECT_EQ(whole.after_finish, "error(section-too-large)");
  expectSameEverySplit(body, whole, "section limit");

  ReceivePackLimits small;
  small.max_section_bytes = 150;
  const std::string update = first(upd(kAgent)) + kFlush + kPack;
  ASSERT_GT(update.size() - kPack.size(), 150u);
  EXPECT_EQ(run({update}, small).after_finish, "error(section-too-large)");
  small.max_section_bytes = update.size() - kPack.size();
  EXPECT_EQ(run({update}, small).after_finish, "ok U:" + kAgent + " pack") << "exactly the limit";
}

TEST(ReceivePackParser, TooManyShallowAndPushOptions) {
  std::string body;
  for (int i = 0; i <= 1000; ++i) body += shallow(kOld);
  body += first(upd(kAgent)) + kFlush + kPack;
  EXPECT_EQ(run({body}).after_finish, "error(too-many-shallow)");

  std::string options = first(upd(kAgent), kCaps + " push-options") + kFlush;
  for (int i = 0; i <= 100; ++i) options += pkt("o" + std::to_string(i));
  options += kFlush + kPack;
  EXPECT_EQ(run({options}).after_finish, "error(too-many-push-options)");
}

TEST(ReceivePackParser, I10LargePackStreamsThrough) {
  // A 3 MiB pack fed in 64 KiB pieces (as a chunked body arrives): the status is final once the
  // section and the pack header are in, and the section size tells where the pack starts.
  const std::string section = first(upd(kAgent)) + kFlush;
  std::string body = section + kPack.substr(0, 12) + std::string(3 << 20, '\x77');
  ReceivePackParser parser;
  size_t fed = 0;
  bool ok_seen = false;
  for (size_t pos = 0; pos < body.size(); pos += 65536) {
    const std::string_view piece = std::string_view(body).substr(pos, 65536);
    const ReceivePackStatus s = parser.feed(piece);
    fed += piece.size();
    if (!ok_seen && s == ReceivePackStatus::kOk) {
      ok_seen = true;
      EXPECT_EQ(fed, 65536u) << "decided on the first piece";
    }
    EXPECT_NE(s, ReceivePackStatus::kError);
  }
  EXPECT_TRUE(ok_seen);
  EXPECT_EQ(parser.finish(), ReceivePackStatus::kOk);
  EXPECT_EQ(parser.commandSectionBytes(), section.size());
  EXPECT_EQ(parser.bytesFed(), body.size());
}

TEST(ReceivePackParser, ErrorIsSticky) {
  ReceivePackParser parser;
  EXPECT_EQ(parser.feed("zzzz"), ReceivePackStatus::kError);
  EXPECT_EQ(parser.feed("0000"), ReceivePackStatus::kError);
  EXPECT_EQ(parser.finish(), ReceivePackStatus::kError);
  EXPECT_EQ(parser.error(), PushParseError::kPktBadLengthHex);
}

TEST(ReceivePackParser, ErrorTextsNeverEmpty) {
  for (int e = 0; e <= static_cast<int>(PushParseError::kTrailingData); ++e) {
    const auto error = static_cast<PushParseError>(e);
    EXPECT_GT(std::string_view(pushParseErrorCode(error)).size(), 0u) << e;
    EXPECT_GT(std::string_view(pushParseErrorMessage(error)).size(), 0u) << e;
  }
}

}  // namespace
}  // namespace gatehouse::gitproxy
