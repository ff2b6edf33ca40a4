#include "proxy/net/dns_resolver.h"

namespace gatehouse::net {

const char* dnsStatusName(DnsStatus status) {
  switch (status) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNoData:
      return "nodata";
    case DnsStatus::kNxDomain:
      return "nxdomain";
    case DnsStatus::kServFail:
      return "servfail";
    case DnsStatus::kTimeout:
      return "timeout";
    case DnsStatus::kCancelled:
      return "cancelled";
  }
  return "servfail";
}

}  // namespace gatehouse::net
