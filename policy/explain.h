// Words for decisions: what was decided, why, and how to allow it. Used by the CLI
// (`gatehouse explain`), the control API and the text/plain bodies of refusals.
//
// Pure; the texts never include request paths or anything secret.
#pragma once

#include <cstdint>
#include <string>

#include "policy/host.h"
#include "policy/policy.h"

namespace gatehouse::policy {

// "api.evil.test:443 is denied by the deny entry '*.evil.test' ([environment] deny, file:12:5)".
std::string decisionSummary(const Decision& decision, const Environment* env, const Host& host,
                            uint16_t port);

// What a policy author can change to allow the request ("" for allowed decisions).
std::string howToAllow(const Decision& decision, const Environment* env, const Host& host,
                       uint16_t port);

// "default@3f2a9c01b2d4" — the X-Gatehouse-Environment value.
std::string environmentTag(const Environment& env);

}  // namespace gatehouse::policy
