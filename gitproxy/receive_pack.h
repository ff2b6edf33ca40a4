// The command section of a git-receive-pack request body (gitprotocol-pack(5), "Reference
// Update Request"), parsed as the body streams in (SPEC §7, BAD-INPUTS I3-I10):
//
//   *PKT("shallow" SP oid)
//   PKT(command NUL capability-list)  *PKT(command)  flush      command = old SP new SP refname
//     or PKT("push-cert" NUL capability-list LF) <certificate lines> PKT("push-cert-end" LF) flush
//   [push-options negotiated: *PKT(push-option) flush]
//   "PACK" <version 2|3> ...   (the pack, not parsed; absent when every command is a delete)
//
// The parser is stricter than git's receive-pack everywhere the two could read the same bytes
// differently, so what it approves is what the backend will do:
//   - capabilities only on the first command (receive-pack takes them from any line carrying a
//     NUL, so a "push-options" on a later line would make it read option lines the proxy took
//     for the pack); one optional leading space (every git sends " report-status-v2 ...")
//   - unknown, duplicate or malformed capabilities are refused: a new capability can change
//     the grammar of what follows, as push-options and push-cert did
//   - object ids: lowercase hex of exactly 40 (64 with object-format=sha256) digits; shallow
//     lines only before the first command and nothing after the oid (git ignores extra bytes)
//   - refnames: git check-ref-format rules, under refs/ ("HEAD" and other one-level names are
//     refused), no component starting with '-', valid UTF-8, at most max_refname bytes
//   - no empty, delim or response-end packets, no duplicate refnames, no old == new == zero
//   - the pack must start with "PACK" and version 2 or 3; a body whose commands are all deletes
//     (or the 4-byte "0000" probe of a large push) must end after the section
//
// A signed push (push-cert) is parsed, its commands taken from the certificate (so a refusal
// can name every ref), and flagged: the policy refuses it.
//
// Bounded memory: one pkt-line (<= 65520 bytes) plus the parsed section (<= max_section_bytes).
// The result does not depend on how the body is split into feed() calls.
//
// Single-threaded: one parser per request body, used on the caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gitproxy/pkt_line.h"

namespace gatehouse::gitproxy {

enum class ObjectFormat : uint8_t { kSha1, kSha256 };

// Hex digits of an object id in this format (40 or 64).
size_t oidHexLength(ObjectFormat format);

// The capabilities a client sent on its first command (or push-cert line).
struct Capabilities {
  bool report_status = false;
  bool report_status_v2 = false;
  bool side_band_64k = false;
  bool quiet = false;
  bool atomic = false;
  bool ofs_delta = false;
  bool push_options = false;
  bool delete_refs = false;
  ObjectFormat object_format = ObjectFormat::kSha1;  // sha1 unless object-format=sha256
  bool object_format_sent = false;
  std::string agent;            // agent=<value>, "" if not sent
  std::string session_id;       // session-id=<value>, "" if not sent
  bool push_cert = false;       // push-cert=<nonce> was sent
  std::string push_cert_nonce;  // its value
};

struct RefCommand {
  std::string old_oid;  // lowercase hex
  std::string new_oid;
  std::string ref;         // full refname, "refs/heads/main"
  bool is_create = false;  // old is all zeros
  bool is_delete = false;  // new is all zeros
};

struct ParsedPush {
  std::vector<RefCommand> commands;  // in body order; empty for the "0000" probe
  Capabilities capabilities;
  std::vector<std::string> push_options;  // after the section's flush, in order
  size_t shallow_count = 0;
  bool signed_push = false;    // a push-cert section (commands come from the certificate)
  bool pack_expected = false;  // some command is not a delete
};

enum class PushParseError : uint8_t {
  kNone = 0,
  kPktBadLengthHex,       // pkt-len not 4 lowercase hex digits
  kPktInvalidLength,      // "0003"
  kPktTooLong,            // pkt-len over 65520
  kUnexpectedSpecialPkt,  // delim (0001) or response-end (0002) in a v0/v1 push
  kEmptyPkt,              // "0004" or a lone LF where a line is expected
  kTruncated,             // the body ended before the section (and pack header) did
  kSectionTooLarge,       // command section over max_section_bytes
  kTooManyCommands,       // over max_commands
  kTooManyShallow,        // over max_shallow
  kBadShallow,            // "shallow" line without exactly one oid
  kMisplacedShallow,      // shallow after the first command, or shallow lines and no command
  kMissingCapabilities,   // first command without NUL + capability list
  kCapabilitiesNotFirst,  // a NUL on a later command
  kBadCapabilities,       // empty list, empty entry, double space, bytes outside VCHAR
  kCapabilitiesTooLong,   // capability list over max_capability_bytes
  kUnknownCapability,     // not one of the capabilities listed in Capabilities
  kDuplicateCapability,   // the same capability twice
  kBadObjectFormat,       // object-format other than sha1 / sha256
  kBadCommand,            // not "<old> SP <new> SP <refname>"
  kBadOid,                // wrong length, uppercase or non-hex digits
  kZeroToZero,            // old and new both zero
  kBadRefname,            // fails check-ref-format (see checkRefname)
  kRefnameNotUnderRefs,   // "HEAD", "main", "foo/bar": must start with "refs/"
  kRefnameTooLong,        // over max_refname
  kDuplicateRef,          // the same refname in two commands
  kBadPushOption,         // bytes outside printable ASCII and space
  kTooManyPushOptions,    // over max_push_options
  kBadPushCert,           // malformed push certificate
  kBadPackHeader,         // the bytes after the section are not "PACK" version 2 or 3
  kTrailingData,          // bytes after a section that announces no pack
};

// A stable kebab-case code ("bad-refname", ...) and a one-line description that never quotes
// the input (safe for logs and for the body of a 400).
const char* pushParseErrorCode(PushParseError error);
const char* pushParseErrorMessage(PushParseError error);

// The refname rules above (git check-ref-format, plus refs/ prefix, no leading '-' in a
// component, valid UTF-8, length). kNone when valid; else kBadRefname, kRefnameNotUnderRefs or
// kRefnameTooLong.
PushParseError checkRefname(std::string_view ref, size_t max_length);

struct ReceivePackLimits {
  size_t max_section_bytes = size_t{1} << 20;  // every byte before the pack, flushes included
  size_t max_commands = 1000;
  size_t max_shallow = 1000;
  size_t max_push_options = 100;
  size_t max_capability_bytes = 4096;
  size_t max_refname = 1024;
};

enum class ReceivePackStatus : uint8_t {
  kNeedMore,  // the section (or the pack header that follows it) is not complete yet
  kOk,        // section complete and well formed: push() and commandSectionBytes() are final
  kError,     // malformed: error() says why; sticky
};

class ReceivePackParser final {
 public:
  explicit ReceivePackParser(ReceivePackLimits limits = {});

  // Feeds the next bytes of the (de-chunked) body; every byte is consumed. Returns kNeedMore
  // until the section and the pack header are complete, then kOk. After kOk the caller may keep
  // feeding (pack bytes are only counted; when no pack is expected any byte is kTrailingData)
  // or stop: the push is decided. After kError every call returns kError.
  ReceivePackStatus feed(std::string_view bytes);

  // The body ended: kError (kTruncated) unless the section was complete; otherwise the status.
  ReceivePackStatus finish();

  ReceivePackStatus status() const { return status_; }
  PushParseError error() const { return error_; }
  const ParsedPush& push() const { return push_; }
  // Body bytes of the command section (shallow lines, commands or certificate, flush, push
  // options and their flush): the pack starts at this offset. Final once kOk.
  size_t commandSectionBytes() const { return section_bytes_; }
  uint64_t bytesFed() const { return bytes_fed_; }

 private:
  enum class State : uint8_t {
    kFirst,        // shallow lines, the first command, push-cert or the flush of a probe
    kCommands,     // further commands until the flush
    kCert,         // inside the push certificate
    kCertEnd,      // after "push-cert-end": the flush
    kPushOptions,  // push options until the flush
    kPackHeader,   // the first 8 bytes after the section
    kPack,         // pack bytes, counted
    kNoPack,       // section complete, nothing may follow
    kError,
  };

  ReceivePackStatus fail(PushParseError error);
  void onPacket(PktType type, std::string_view payload);
  void onFirst(std::string_view line);
  void onCommand(std::string_view line, bool first);
  void onCertLine(std::string_view line);
  void onPushOption(std::string_view line);
  void endOfCommands();
  void endOfSection();
  bool parseCapabilities(std::string_view list);
  bool addCommand(std::string_view text);
  bool parseCertificate();

  ReceivePackLimits limits_;
  PktLineReader reader_;
  State state_ = State::kFirst;
  ReceivePackStatus status_ = ReceivePackStatus::kNeedMore;
  PushParseError error_ = PushParseError::kNone;
  ParsedPush push_;
  std::unordered_set<std::string> refs_seen_;
  size_t shallow_oid_length_ = 0;  // of the shallow lines, checked against the object format
  std::string cert_;               // certificate text (bounded by max_section_bytes)
  size_t section_bytes_ = 0;
  uint64_t bytes_fed_ = 0;
  size_t pack_header_len_ = 0;  // bytes of "PACK" + version seen
};

}  // namespace gatehouse::gitproxy
