#include "gitproxy/receive_pack.h"

#include <algorithm>
#include <array>
#include <utility>

namespace gatehouse::gitproxy {
namespace {

// "PACK" and a 4-byte version: what the parser checks of the pack before approving.
constexpr size_t kPackHeaderLength = 8;

using namespace std::string_view_literals;

constexpr std::string_view kShallowPrefix = "shallow "sv;
constexpr std::string_view kPushCert = "push-cert"sv;
constexpr std::string_view kPushCertEnd = "push-cert-end\n"sv;
constexpr std::string_view kCertVersion = "certificate version 0.1"sv;
constexpr std::string_view kSignatureStart = "-----BEGIN "sv;
constexpr std::string_view kRefsPrefix = "refs/"sv;

// One LF at the end of a non-binary line is optional on the wire (gitprotocol-common(5)).
std::string_view chompLf(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return line;
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool isZeroOid(std::string_view oid) {
  return std::all_of(oid.begin(), oid.end(), [](char c) { return c == '0'; });
}

// Printable ASCII without space.
bool isVchar(unsigned char c) { return c > 0x20 && c < 0x7f; }

// Length of the UTF-8 sequence starting at text[i] (1-4), or 0 when it is not well formed
// (overlong forms, surrogates and code points over U+10FFFF included).
size_t utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xbf;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    if (c == 0xe0) min_second = 0xa0;
    if (c == 0xed) max_second = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    if (c == 0xf0) min_second = 0x90;
    if (c == 0xf4) max_second = 0x8f;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return length;
}

bool refnameComponentValid(std::string_view component) {
  if (component.empty()) return false;  // leading, trailing or doubled '/'
  if (component.front() == '.') return false;
  if (component.front() == '-') return false;  // stricter than git: options look-alikes
  if (component.size() >= 5 && component.substr(component.size() - 5) == ".lock") return false;
  return true;
}

}  // namespace

size_t oidHexLength(ObjectFormat format) { return format == ObjectFormat::kSha256 ? 64 : 40; }

const char* pushParseErrorCode(PushParseError error) {
  switch (error) {
    case PushParseError::kNone:
      return "none";
    case PushParseError::kPktBadLengthHex:
      return "pkt-bad-length-hex";
    case PushParseError::kPktInvalidLength:
      return "pkt-invalid-length";
    case PushParseError::kPktTooLong:
      return "pkt-too-long";
    case PushParseError::kUnexpectedSpecialPkt:
      return "unexpected-special-pkt";
    case PushParseError::kEmptyPkt:
      return "empty-pkt";
    case PushParseError::kTruncated:
      return "truncated";
    case PushParseError::kSectionTooLarge:
      return "section-too-large";
    case PushParseError::kTooManyCommands:
      return "too-many-commands";
    case PushParseError::kTooManyShallow:
      return "too-many-shallow";
    case PushParseError::kBadShallow:
      return "bad-shallow";
    case PushParseError::kMisplacedShallow:
      return "misplaced-shallow";
    case PushParseError::kMissingCapabilities:
      return "missing-capabilities";
    case PushParseError::kCapabilitiesNotFirst:
      return "capabilities-not-first";
    case PushParseError::kBadCapabilities:
      return "bad-capabilities";
    case PushParseError::kCapabilitiesTooLong:
      return "capabilities-too-long";
    case PushParseError::kUnknownCapability:
      return "unknown-capability";
    case PushParseError::kDuplicateCapability:
      return "duplicate-capability";
    case PushParseError::kBadObjectFormat:
      return "bad-object-format";
    case PushParseError::kBadCommand:
      return "bad-command";
    case PushParseError::kBadOid:
      return "bad-oid";
    case PushParseError::kZeroToZero:
      return "zero-to-zero";
    case PushParseError::kBadRefname:
      return "bad-refname";
    case PushParseError::kRefnameNotUnderRefs:
      return "refname-not-under-refs";
    case PushParseError::kRefnameTooLong:
      return "refname-too-long";
    case PushParseError::kDuplicateRef:
      return "duplicate-ref";
    case PushParseError::kBadPushOption:
      return "bad-push-option";
    case PushParseError::kTooManyPushOptions:
      return "too-many-push-options";
    case PushParseError::kBadPushCert:
      return "bad-push-cert";
    case PushParseError::kBadPackHeader:
      return "bad-pack-header";
    case PushParseError::kTrailingData:
      return "trailing-data";
  }
  return "malformed-push";
}

const char* pushParseErrorMessage(PushParseError error) {
  switch (error) {
    case PushParseError::kNone:
      return "no error";
    case PushParseError::kPktBadLengthHex:
      return "a pkt-line length is not four lowercase hex digits";
    case PushParseError::kPktInvalidLength:
      return "a pkt-line has the invalid length 0003";
    case PushParseError::kPktTooLong:
      return "a pkt-line is longer than 65520 bytes";
    case PushParseError::kUnexpectedSpecialPkt:
      return "delim and response-end packets are not part of a push";
    case PushParseError::kEmptyPkt:
      return "empty pkt-line in the command list";
    case PushParseError::kTruncated:
      return "the request body ended inside the command list";
    case PushParseError::kSectionTooLarge:
      return "the command list is too large";
    case PushParseError::kTooManyCommands:
      return "too many ref updates in one push";
    case PushParseError::kTooManyShallow:
      return "too many shallow lines";
    case PushParseError::kBadShallow:
      return "malformed shallow line";
    case PushParseError::kMisplacedShallow:
      return "shallow lines must come before the commands";
    case PushParseError::kMissingCapabilities:
      return "the first command has no capability list";
    case PushParseError::kCapabilitiesNotFirst:
      return "capabilities are only allowed on the first command";
    case PushParseError::kBadCapabilities:
      return "malformed capability list";
    case PushParseError::kCapabilitiesTooLong:
      return "the capability list is too long";
    case PushParseError::kUnknownCapability:
      return "unknown capability";
    case PushParseError::kDuplicateCapability:
      return "a capability is sent twice";
    case PushParseError::kBadObjectFormat:
      return "unsupported object format";
    case PushParseError::kBadCommand:
      return "malformed command (expected <old-oid> <new-oid> <refname>)";
    case PushParseError::kBadOid:
      return "malformed object id";
    case PushParseError::kZeroToZero:
      return "a command with both object ids zero";
    case PushParseError::kBadRefname:
      return "invalid refname";
    case PushParseError::kRefnameNotUnderRefs:
      return "refnames must start with refs/";
    case PushParseError::kRefnameTooLong:
      return "refname too long";
    case PushParseError::kDuplicateRef:
      return "the same ref is updated twice";
    case PushParseError::kBadPushOption:
      return "malformed push option";
    case PushParseError::kTooManyPushOptions:
      return "too many push options";
    case PushParseError::kBadPushCert:
      return "malformed push certificate";
    case PushParseError::kBadPackHeader:
      return "the pack does not start with a PACK header";
    case PushParseError::kTrailingData:
      return "unexpected data after the command list";
  }
  return "malformed push";
}

PushParseError checkRefname(std::string_view ref, size_t max_length) {
  if (ref.size() > max_length) return PushParseError::kRefnameTooLong;
  if (ref.substr(0, kRefsPrefix.size()) != kRefsPrefix) return PushParseError::kRefnameNotUnderRefs;
  if (ref.back() == '.') return PushParseError::kBadRefname;
  if (ref.find("..") != std::string_view::npos) return PushParseError::kBadRefname;
  if (ref.find("@{") != std::string_view::npos) return PushParseError::kBadRefname;
  for (size_t i = 0; i < ref.size();) {
    const auto c = static_cast<unsigned char>(ref[i]);
    if (c >= 0x80) {
      const size_t n = utf8SequenceLength(ref, i);
      if (n == 0) return PushParseError::kBadRefname;
      i += n;
      continue;
    }
    if (c <= 0x20 || c == 0x7f) return PushParseError::kBadRefname;  // controls and space
    switch (c) {
      case '~':
      case '^':
      case ':':
      case '?':
      case '*':
      case '[':
      case '\\':
        return PushParseError::kBadRefname;
      default:
        break;
    }
    ++i;
  }
  size_t start = 0;
  while (true) {
    const size_t slash = ref.find('/', start);
    const std::string_view component =
        ref.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!refnameComponentValid(component)) return PushParseError::kBadRefname;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return PushParseError::kNone;
}

ReceivePackParser::ReceivePackParser(ReceivePackLimits limits) : limits_(limits) {}

ReceivePackStatus ReceivePackParser::fail(PushParseError error) {
  if (state_ != State::kError) {
    state_ = State::kError;
    error_ = error;
    status_ = ReceivePackStatus::kError;
  }
  return status_;
}

ReceivePackStatus ReceivePackParser::feed(std::string_view bytes) {
  bytes_fed_ += bytes.size();
  while (!bytes.empty()) {
    switch (state_) {
      case State::kError:
        return status_;
      case State::kFirst:
      case State::kCommands:
      case State::kCert:
      case State::kCertEnd:
      case State::kPushOptions: {
        const PktLineReader::Result r = reader_.read(bytes);
        section_bytes_ += r.consumed;
        bytes.remove_prefix(r.consumed);
        // Checked before the packet's own errors, so the first error does not depend on how
        // the body was split.
        if (section_bytes_ > limits_.max_section_bytes) {
          return fail(PushParseError::kSectionTooLarge);
        }
        if (r.status == PktLineReader::Status::kError) {
          switch (reader_.error()) {
            case PktError::kInvalidLength:
              return fail(PushParseError::kPktInvalidLength);
            case PktError::kTooLong:
              return fail(PushParseError::kPktTooLong);
            case PktError::kBadLengthHex:
            case PktError::kNone:
              return fail(PushParseError::kPktBadLengthHex);
          }
        }
        if (r.status == PktLineReader::Status::kPacket) {
          onPacket(reader_.type(), reader_.payload());
        }
        break;
      }
      case State::kPackHeader: {
        // "PACK", then the version as 4 big-endian bytes: 2 or 3 (git's read_pack_header).
        static constexpr std::array<char, 7> kPrefix = {'P', 'A', 'C', 'K', 0, 0, 0};
        const char c = bytes.front();
        bytes.remove_prefix(1);
        const bool ok =
            pack_header_len_ < kPrefix.size() ? c == kPrefix[pack_header_len_] : c == 2 || c == 3;
        if (!ok) return fail(PushParseError::kBadPackHeader);
        if (++pack_header_len_ == kPackHeaderLength) {
          state_ = State::kPack;
          status_ = ReceivePackStatus::kOk;
        }
        break;
      }
      case State::kPack:
        bytes = {};
        break;
      case State::kNoPack:
        return fail(PushParseError::kTrailingData);
    }
  }
  return status_;
}

ReceivePackStatus ReceivePackParser::finish() {
  switch (state_) {
    case State::kPack:
    case State::kNoPack:
    case State::kError:
      return status_;
    default:
      return fail(PushParseError::kTruncated);
  }
}

void ReceivePackParser::onPacket(PktType type, std::string_view payload) {
  if (type == PktType::kDelim || type == PktType::kResponseEnd) {
    fail(PushParseError::kUnexpectedSpecialPkt);
    return;
  }
  const bool flush = type == PktType::kFlush;
  switch (state_) {
    case State::kFirst:
      if (flush) {
        // The "0000" probe of a large push: no commands. Shallow lines alone announce nothing.
        if (push_.shallow_count > 0) {
          fail(PushParseError::kMisplacedShallow);
          return;
        }
        endOfCommands();
        return;
      }
      onFirst(payload);
      return;
    case State::kCommands:
      if (flush) {
        endOfCommands();
        return;
      }
      onCommand(payload, false);
      return;
    case State::kCert:
      if (flush) {
        fail(PushParseError::kBadPushCert);
        return;
      }
      onCertLine(payload);
      return;
    case State::kCertEnd:
      if (!flush) {
        fail(PushParseError::kBadPushCert);
        return;
      }
      endOfCommands();
      return;
    case State::kPushOptions:
      if (flush) {
        endOfSection();
        return;
      }
      onPushOption(payload);
      return;
    default:
      return;
  }
}

void ReceivePackParser::onFirst(std::string_view payload) {
  const std::string_view line = chompLf(payload);
  if (line.empty()) {
    fail(PushParseError::kEmptyPkt);
    return;
  }
  if (line.substr(0, kShallowPrefix.size()) == kShallowPrefix) {
    const std::string_view oid = line.substr(kShallowPrefix.size());
    if ((oid.size() != 40 && oid.size() != 64) || !isLowerHex(oid) ||
        (shallow_oid_length_ != 0 && oid.size() != shallow_oid_length_)) {
      fail(PushParseError::kBadShallow);
      return;
    }
    if (push_.shallow_count >= limits_.max_shallow) {
      fail(PushParseError::kTooManyShallow);
      return;
    }
    shallow_oid_length_ = oid.size();
    ++push_.shallow_count;
    return;
  }
  const size_t nul = line.find('\0');
  if (nul != std::string_view::npos && line.substr(0, nul) == kPushCert) {
    if (!parseCapabilities(line.substr(nul + 1))) return;
    push_.signed_push = true;
    state_ = State::kCert;
    return;
  }
  onCommand(payload, true);
}

void ReceivePackParser::onCommand(std::string_view payload, bool first) {
  const std::string_view line = chompLf(payload);
  if (line.empty()) {
    fail(PushParseError::kEmptyPkt);
    return;
  }
  if (!first && line.substr(0, kShallowPrefix.size()) == kShallowPrefix) {
    fail(PushParseError::kMisplacedShallow);
    return;
  }
  const size_t nul = line.find('\0');
  std::string_view command = line;
  if (first) {
    if (nul == std::string_view::npos) {
      fail(PushParseError::kMissingCapabilities);
      return;
    }
    command = line.substr(0, nul);
    if (!parseCapabilities(line.substr(nul + 1))) return;
    state_ = State::kCommands;
  } else if (nul != std::string_view::npos) {
    fail(PushParseError::kCapabilitiesNotFirst);
    return;
  }
  addCommand(command);
}

bool ReceivePackParser::parseCapabilities(std::string_view list) {
  if (list.size() > limits_.max_capability_bytes) {
    fail(PushParseError::kCapabilitiesTooLong);
    return false;
  }
  // git's send-pack writes the list with a leading space.
  if (!list.empty() && list.front() == ' ') list.remove_prefix(1);
  Capabilities& caps = push_.capabilities;
  std::vector<std::string_view> seen;
  while (!list.empty()) {
    const size_t space = list.find(' ');
    const std::string_view entry = list.substr(0, space);
    if (space == std::string_view::npos) {
      list = {};
    } else {
      list.remove_prefix(space + 1);
      if (list.empty()) {  // trailing space
        fail(PushParseError::kBadCapabilities);
        return false;
      }
    }
    if (entry.empty() || !std::all_of(entry.begin(), entry.end(), [](char c) {
          return isVchar(static_cast<unsigned char>(c));
        })) {
      fail(PushParseError::kBadCapabilities);
      return false;
    }
    const size_t eq = entry.find('=');
    const std::string_view name = entry.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? entry.substr(eq + 1) : std::string_view{};
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      fail(PushParseError::kDuplicateCapability);
      return false;
    }
    seen.push_back(name);

    struct Flag {
      std::string_view name;
      bool Capabilities::*member;
    };
    static constexpr Flag kFlags[] = {
        {"report-status", &Capabilities::report_status},
        {"report-status-v2", &Capabilities::report_status_v2},
        {"side-band-64k", &Capabilities::side_band_64k},
        {"quiet", &Capabilities::quiet},
        {"atomic", &Capabilities::atomic},
        {"ofs-delta", &Capabilities::ofs_delta},
        {"push-options", &Capabilities::push_options},
        {"delete-refs", &Capabilities::delete_refs},
    };
    bool known = false;
    for (const Flag& flag : kFlags) {
      if (flag.name != name) continue;
      if (has_value) {
        fail(PushParseError::kBadCapabilities);
        return false;
      }
      caps.*flag.member = true;
      known = true;
    }
    if (known) continue;
    if (name == "agent" || name == "session-id" || name == "push-cert" || name == "object-format") {
      if (!has_value || value.empty()) {
        fail(PushParseError::kBadCapabilities);
        return false;
      }
      if (name == "agent") {
        caps.agent = value;
      } else if (name == "session-id") {
        caps.session_id = value;
      } else if (name == "push-cert") {
        caps.push_cert = true;
        caps.push_cert_nonce = value;
      } else if (value == "sha1") {
        caps.object_format = ObjectFormat::kSha1;
        caps.object_format_sent = true;
      } else if (value == "sha256") {
        caps.object_format = ObjectFormat::kSha256;
        caps.object_format_sent = true;
      } else {
        fail(PushParseError::kBadObjectFormat);
        return false;
      }
      continue;
    }
    fail(PushParseError::kUnknownCapability);
    return false;
  }
  if (shallow_oid_length_ != 0 && shallow_oid_length_ != oidHexLength(caps.object_format)) {
    fail(PushParseError::kBadShallow);
    return false;
  }
  return true;
}

bool ReceivePackParser::addCommand(std::string_view text) {
  const size_t first_space = text.find(' ');
  const size_t second_space =
      first_space == std::string_view::npos ? first_space : text.find(' ', first_space + 1);
  if (second_space == std::string_view::npos || second_space + 1 >= text.size()) {
    fail(PushParseError::kBadCommand);
    return false;
  }
  const std::string_view old_oid = text.substr(0, first_space);
  const std::string_view new_oid = text.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view ref = text.substr(second_space + 1);
  const size_t oid_length = oidHexLength(push_.capabilities.object_format);
  if (old_oid.size() != oid_length || new_oid.size() != oid_length || !isLowerHex(old_oid) ||
      !isLowerHex(new_oid)) {
    fail(PushParseError::kBadOid);
    return false;
  }
  const PushParseError ref_error = checkRefname(ref, limits_.max_refname);
  if (ref_error != PushParseError::kNone) {
    fail(ref_error);
    return false;
  }
  RefCommand command;
  command.is_create = isZeroOid(old_oid);
  command.is_delete = isZeroOid(new_oid);
  if (command.is_create && command.is_delete) {
    fail(PushParseError::kZeroToZero);
    return false;
  }
  if (push_.commands.size() >= limits_.max_commands) {
    fail(PushParseError::kTooManyCommands);
    return false;
  }
  if (!refs_seen_.emplace(ref).second) {
    fail(PushParseError::kDuplicateRef);
    return false;
  }
  command.old_oid = old_oid;
  command.new_oid = new_oid;
  command.ref = ref;
  push_.commands.push_back(std::move(command));
  return true;
}

void ReceivePackParser::onCertLine(std::string_view payload) {
  if (payload == kPushCertEnd) {
    if (parseCertificate()) state_ = State::kCertEnd;
    return;
  }
  // Certificate lines keep their LF (it is not optional there) and are text.
  if (payload.empty() || payload.back() != '\n' || payload.find('\0') != std::string_view::npos) {
    fail(PushParseError::kBadPushCert);
    return;
  }
  cert_.append(payload);
}

// The certificate: "certificate version 0.1", header lines, an empty line, one command per
// line, then the signature ("-----BEGIN ... SIGNATURE-----" / "SIGNED MESSAGE").
bool ReceivePackParser::parseCertificate() {
  std::string_view rest = cert_;
  const auto nextLine = [&rest]() {
    const size_t lf = rest.find('\n');  // every line ends with LF (checked on arrival)
    const std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf + 1);
    return line;
  };
  if (rest.empty() || nextLine() != kCertVersion) {
    fail(PushParseError::kBadPushCert);
    return false;
  }
  bool blank = false;
  while (!rest.empty() && !blank) blank = nextLine().empty();
  if (!blank) {
    fail(PushParseError::kBadPushCert);
    return false;
  }
  bool signature = false;
  while (!rest.empty()) {
    const std::string_view line = nextLine();
    if (line.substr(0, kSignatureStart.size()) == kSignatureStart) {
      signature = true;
      break;
    }
    if (line.empty()) {
      fail(PushParseError::kBadPushCert);
      return false;
    }
    if (!addCommand(line)) return false;
  }
  if (!signature || push_.commands.empty()) {
    fail(PushParseError::kBadPushCert);
    return false;
  }
  return true;
}

void ReceivePackParser::onPushOption(std::string_view payload) {
  const std::string_view option = chompLf(payload);
  if (option.empty()) {
    fail(PushParseError::kEmptyPkt);
    return;
  }
  // push-option = 1*(VCHAR | SP)
  if (!std::all_of(option.begin(), option.end(),
                   [](char c) { return c == ' ' || isVchar(static_cast<unsigned char>(c)); })) {
    fail(PushParseError::kBadPushOption);
    return;
  }
  if (push_.push_options.size() >= limits_.max_push_options) {
    fail(PushParseError::kTooManyPushOptions);
    return;
  }
  push_.push_options.emplace_back(option);
}

void ReceivePackParser::endOfCommands() {
  if (!push_.commands.empty() && push_.capabilities.push_options) {
    state_ = State::kPushOptions;
    return;
  }
  endOfSection();
}

void ReceivePackParser::endOfSection() {
  push_.pack_expected = std::any_of(push_.commands.begin(), push_.commands.end(),
                                    [](const RefCommand& c) { return !c.is_delete; });
  if (push_.pack_expected) {
    state_ = State::kPackHeader;
    return;
  }
  state_ = State::kNoPack;
  status_ = ReceivePackStatus::kOk;
}

}  // namespace gatehouse::gitproxy
