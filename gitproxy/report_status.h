// The receive-pack result a refused push gets (SPEC §7): HTTP 200, Content-Type
// application/x-git-receive-pack-result, and a report-status git understands, so the user sees
//
//   remote: push refused by gatehouse: only refs/heads/agent-branch may be pushed in this session
//    ! [remote rejected] HEAD -> main (only refs/heads/agent-branch may be pushed in this session)
//
// instead of "RPC failed; HTTP 403". Layout, as git's receive-pack writes it
// (gitprotocol-pack(5) "Report Status", gitprotocol-capabilities(5) side-band-64k):
//
//   report      PKT("unpack ok\n") PKT("ng <ref> <reason>\n")... flush     (same for -v2)
//   side-band   band-2 packets first ("\x02" + text line: printed as "remote: ..."), then the
//               report bytes split into band-1 packets ("\x01" + <= 65515 bytes), then a flush
//   otherwise   the report as is
//
// Without report-status (or -v2) git marks every ref as pushed and ignores a report: the
// caller must answer such a push with an HTTP error instead, which buildRefusalReport signals by
// returning nullopt.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gitproxy/push_policy.h"
#include "gitproxy/receive_pack.h"

namespace gatehouse::gitproxy {

inline constexpr std::string_view kReceivePackResultContentType =
    "application/x-git-receive-pack-result";

struct RefReport {
  std::string_view ref;
  std::string_view reason;  // "" → "ok <ref>", else "ng <ref> <reason>"
};

// One report for these refs, in order. Control characters in a ref, and bytes outside
// printable ASCII in a reason or message, become '?' (refs keep UTF-8: git matches status lines
// to its refs by name), reasons are cut at 512 bytes and the message at 4096, so the output is
// always well-formed pkt-lines whatever the input. `message` lines (split at LF) go to band 2
// when side_band_64k is set and are dropped otherwise.
std::string buildReportStatus(std::span<const RefReport> refs, bool side_band_64k,
                              std::string_view message);

// The response body refusing `push` with `verdict`'s reasons (every command gets its "ng"
// line) and its summary on band 2. nullopt when the client negotiated neither report-status
// nor report-status-v2.
std::optional<std::string> buildRefusalReport(const ParsedPush& push, const PushVerdict& verdict);

}  // namespace gatehouse::gitproxy
