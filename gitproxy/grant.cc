#include "gitproxy/grant.h"

#include <openssl/crypto.h>

#include "gitproxy/git_names.h"

namespace gatehouse::gitproxy {

Secret::~Secret() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
}

const RepoScope* GitGrant::find(std::string_view owner, std::string_view repo) const {
  const std::string o = asciiLower(owner);
  const std::string r = asciiLower(repo);
  for (const RepoScope& scope : repos) {
    if (scope.owner == o && scope.repo == r) return &scope;
  }
  return nullptr;
}

}  // namespace gatehouse::gitproxy
