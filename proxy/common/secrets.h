// Credentials gatehouse issues never leave through the forward path (BAD-INPUTS I13).
//
// A sandbox holds two kinds of gatehouse credentials: the proxy credential (Proxy-Authorization,
// removed as a hop-by-hop header anyway) and the scoped git credential, which is only meaningful
// on the git path. Sent to any other host in an Authorization header — by mistake or to exfiltrate
// it — it is removed before the request is forwarded: the credential is never swapped and never
// reaches a third party.
//
// Pure functions; any thread.
#pragma once

#include <array>
#include <string_view>

namespace gatehouse::common {

// Prefixes of the credentials gatehouse issues (control/session_store.h, gitproxy/grant.h).
inline constexpr std::array<std::string_view, 2> kIssuedCredentialPrefixes = {"gatehouse_gc_",
                                                                              "gatehouse_pc_"};

// Whether an Authorization header value carries a gatehouse credential: in the clear (Bearer,
// token, any scheme) or inside a Basic user:password (base64, padded or not).
bool carriesIssuedCredential(std::string_view authorization);

}  // namespace gatehouse::common
