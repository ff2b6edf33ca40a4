#include "proxy/common/secrets.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/test_credentials.h"

namespace gatehouse::common {
namespace {

using testing_credentials::base64;

struct Row {
  std::string authorization;
  bool carries;
  const char* why;
};

TEST(IssuedCredential, FoundInEveryEncodingAServerMightAccept) {
  const std::string gc = "gatehouse_gc_AbCdEf0123456789";
  const std::string pc = "gatehouse_pc_AbCdEf0123456789";
  std::string unpadded = base64("x:" + gc + "z");
  while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
  std::string url = base64("user:" + gc);
  for (char& c : url) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  const Row rows[] = {
      {"Bearer " + gc, true, "bearer in the clear"},
      {"token " + gc, true, "GitHub's token scheme"},
      {"Basic " + base64("x:" + gc), true, "Basic password"},
      {"Basic " + base64(gc + ":x"), true, "Basic user name"},
      {"basic " + base64("x-access-token:" + gc), true, "scheme in lower case"},
      {"Basic " + unpadded, true, "unpadded base64"},
      {"Basic " + url, true, "base64url"},
      {"Basic  " + base64("x:" + pc), true, "the proxy credential, two spaces"},
      {"Digest username=\"" + gc + "\"", true, "any scheme"},
      {"Basic " + base64("x:ghp_realtokenvalue"), false, "someone else's token"},
      {"Bearer abc.def.ghi", false, "a JWT"},
      {"Basic " + base64("gatehouse:gc_"), false, "split prefix is no credential"},
      {"", false, "empty"},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(carriesIssuedCredential(r.authorization), r.carries) << r.why;
  }
}

}  // namespace
}  // namespace gatehouse::common
