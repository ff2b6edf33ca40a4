// The configuration loader: TOML text -> the plain config structs of every module.
//
// toml++ is used only here. It throws on syntax errors; everything after parsing is a walk over
// the document that records problems instead of stopping, so one run reports every problem.
// Issues are sorted by position at the end because toml++ tables iterate in key order, not in
// file order.
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/config.h"
#include "control/session_environments.h"
#include "control/session_managers.h"
#include "control/session_store.h"
#include "gitproxy/git_names.h"
#include "policy/host.h"
#include "policy/ip.h"
#include "policy/limits_config.h"

namespace gatehouse::control {

namespace {

using policy::ConfigIssue;
using policy::ConfigIssues;
using policy::SourcePos;
using Keys = std::initializer_list<std::string_view>;

constexpr std::string_view kEmbeddedName = "<embedded>";
constexpr size_t kMaxSuggestionDistance = 2;

// A string value together with where it was written.
struct Located {
  std::string text;
  SourcePos pos;
};

std::string inQuotes(std::string_view s) {
  std::string out = "'";
  out += s;
  out += '\'';
  return out;
}

// The closest candidate within kMaxSuggestionDistance edits, or "" when none is close.
std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = kMaxSuggestionDistance + 1;
  for (const std::string& c : candidates) {
    size_t distance = policy::editDistance(word, c);
    if (distance < best_distance) {
      best = c;
      best_distance = distance;
    }
  }
  return best;
}

// "did you mean 'x'?" when a candidate is close, otherwise `fallback` followed by the list.
std::string suggestionHint(std::string_view word, const std::vector<std::string>& candidates,
                           std::string_view fallback) {
  std::string best = closest(word, candidates);
  if (!best.empty()) return "did you mean " + inQuotes(best) + "?";
  std::string out(fallback);
  for (size_t i = 0; i < candidates.size(); ++i) {
    out += i == 0 ? " " : ", ";
    out += candidates[i];
  }
  return out;
}

std::string typeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return node.as_array()->is_array_of_tables() && !node.as_array()->empty()
                 ? "an array of tables"
                 : "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

bool isLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool isHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9][a-z0-9_-]{0,62}
bool isEnvironmentName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !isLowerAlnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isLowerAlnum(c) || c == '_' || c == '-'; });
}

// [A-Za-z0-9._-]{1,64}
bool isSessionId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAsciiAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

// An offset date-time as a system_clock time point; outside the clock's range (about
// 1678..2261 with libstdc++'s nanoseconds) it saturates, so a far-future expiry means "never".
std::chrono::system_clock::time_point toTimePoint(const toml::date_time& dt) {
  namespace chrono = std::chrono;
  using Clock = chrono::system_clock;
  const chrono::sys_days day{chrono::year{dt.date.year} / chrono::month{dt.date.month} /
                             chrono::day{dt.date.day}};
  const chrono::sys_seconds at = day + chrono::hours{dt.time.hour} +
                                 chrono::minutes{dt.time.minute} + chrono::seconds{dt.time.second} -
                                 chrono::minutes{dt.offset ? dt.offset->minutes : 0};
  constexpr auto kMax = chrono::duration_cast<chrono::seconds>(Clock::duration::max());
  constexpr auto kMin = chrono::duration_cast<chrono::seconds>(Clock::duration::min());
  if (at.time_since_epoch() >= kMax) return Clock::time_point::max();
  if (at.time_since_epoch() <= kMin) return Clock::time_point::min();
  return Clock::time_point(
      chrono::duration_cast<Clock::duration>(at.time_since_epoch()) +
      chrono::duration_cast<Clock::duration>(chrono::nanoseconds{dt.time.nanosecond}));
}

// A problem found in a value: what is wrong (completes "<field> '<value>' ...") and how to fix it.
struct Problem {
  std::string what;
  std::string hint;
};

// Decimal port without sign or leading zeros, in [min_port, 65535].
std::optional<Problem> checkPort(std::string_view text, int min_port) {
  std::string range = std::to_string(min_port) + "..65535";
  std::string hint = "write the port as a decimal number in " + range;
  if (min_port == 0) hint += "; 0 picks any free port";
  bool digits = !text.empty() && text.size() <= 5 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (text.size() > 1 && text[0] == '0')) {
    return Problem{"has an invalid port " + inQuotes(text), hint};
  }
  int port = std::stoi(std::string(text));
  if (port < min_port || port > 65535) {
    return Problem{"has port " + std::string(text) + ", outside " + range, hint};
  }
  return std::nullopt;
}

// "IPv4:port" or "[IPv6]:port" with an IP literal (names are never resolved for these).
// `example` is a valid value shown in hints.
std::optional<Problem> checkEndpoint(std::string_view text, int min_port,
                                     std::string_view example) {
  std::string ex = inQuotes(example);
  if (text.empty()) return Problem{"is empty", "write an IP address and port, e.g. " + ex};
  std::string_view host;
  std::string_view port;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Problem{"has no closing ']'", "write IPv6 addresses as '[2001:db8::1]:PORT'"};
    }
    host = text.substr(1, close - 1);
    if (!policy::IpAddress::parseV6(host)) {
      return Problem{"has " + inQuotes(host) + " in brackets, which is not an IPv6 address",
                     "brackets hold an IPv6 address only, e.g. '[::1]:PORT'"};
    }
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return Problem{"has no port", "append ':PORT', e.g. " + ex};
    if (rest[0] != ':') {
      return Problem{"has " + inQuotes(rest) + " after the address",
                     "write '[IPv6]:PORT', e.g. '[::1]:" +
                         std::string(example.substr(example.rfind(':') + 1)) + "'"};
    }
    port = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (policy::IpAddress::parse(text)) {
        return Problem{"has no port", "append ':PORT', e.g. " + ex};
      }
      return Problem{"is not an IP address and port", "write an IP address and port, e.g. " + ex};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (text.find(':') != colon) {
      return Problem{"has an IPv6 address without brackets",
                     "write IPv6 addresses in brackets, e.g. '[::1]:" + std::string(port) + "'"};
    }
    if (!policy::IpAddress::parseV4(host)) {
      policy::HostParse parsed = policy::canonicalizeHost(host);
      if (parsed.ok() && parsed.host->kind == policy::Host::Kind::kName) {
        return Problem{"names a host; it must be an IP literal",
                       "names are not resolved here: write an IP address, e.g. " + ex};
      }
      return Problem{"does not start with an IP address",
                     "write a dotted-quad IPv4 address or a bracketed IPv6 address, e.g. " + ex};
    }
  }
  return checkPort(port, min_port);
}

bool isLoopback(const policy::IpAddress& ip) {
  if (ip.isV4()) return ip.bytes()[0] == 127;
  static const policy::Cidr kLoopback6(*policy::IpAddress::parseV6("::1"), 128);
  static const policy::Cidr kMapped(*policy::IpAddress::parseV6("::ffff:127.0.0.0"), 104);
  return kLoopback6.contains(ip) || kMapped.contains(ip);
}

// The address part of an endpoint that checkEndpoint() accepted.
std::optional<policy::IpAddress> endpointAddress(std::string_view text) {
  if (!text.empty() && text[0] == '[') {
    return policy::IpAddress::parseV6(text.substr(1, text.find(']') - 1));
  }
  return policy::IpAddress::parseV4(text.substr(0, text.rfind(':')));
}

// An https:// base URL with a host, optional port and path, and nothing else.
std::optional<Problem> checkHttpsUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, 7) == "http://") {
    return Problem{"is a plain http:// URL",
                   "use https://: the real token must never travel in clear text"};
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Problem{"is not an https:// URL", "write a base URL like 'https://github.com'"};
  }
  if (std::any_of(url.begin(), url.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
      })) {
    return Problem{"contains a space, a control character or a non-ASCII byte",
                   "percent-encode the path; write IDN host names as punycode"};
  }
  std::string_view rest = url.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view after = rest.substr(authority.size());
  if (authority.empty()) {
    return Problem{"has no host", "write a base URL like 'https://github.com'"};
  }
  if (authority.find('@') != std::string_view::npos) {
    return Problem{"contains user info ('@')",
                   "put no credentials in the URL: the token comes from the session's token_file"};
  }
  if (after.find_first_of("?#") != std::string_view::npos) {
    return Problem{"has a query or fragment", "write only scheme, host, optional port and path"};
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (authority[0] != '[' || authority.find(']') < colon)) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  policy::HostParse parsed = policy::canonicalizeHost(host);
  if (!parsed.ok()) {
    return Problem{
        "has an invalid host " + inQuotes(host) + ": " + policy::hostErrorMessage(parsed.error),
        "write a base URL like 'https://github.com'"};
  }
  if (port) return checkPort(*port, 1);
  return std::nullopt;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The values a limit key accepts, and what the smallest one means (for hints).
struct LimitRange {
  uint64_t min;
  uint64_t max;
  std::string_view meaning;
};

LimitRange limitRange(policy::LimitKey key) {
  using policy::LimitKey;
  // Rates and sizes: every integer a JSON number (the control API) carries exactly.
  constexpr uint64_t kMaxAmount = uint64_t{1} << 53;
  constexpr uint64_t kMaxCount = 10000000;
  constexpr uint64_t kMaxWindowSeconds = 365 * 24 * 3600;
  switch (key) {
    case LimitKey::kRequestBurst:
    case LimitKey::kTunnelBurst:
    case LimitKey::kDestinationBurst:
      return {0, kMaxAmount, "0 = the rate (at least 1)"};
    case LimitKey::kMaxConnections:
    case LimitKey::kMaxTunnels:
      return {0, kMaxCount, "0 = no limit"};
    case LimitKey::kBudgetWindowSeconds:
      return {1, kMaxWindowSeconds, "leave it out for the default 3600"};
    case LimitKey::kTrickleBytesPerSecond:
      return {0, kMaxAmount, "0 = the default 1024"};
    case LimitKey::kRequestsPerSecond:
    case LimitKey::kTunnelsPerSecond:
    case LimitKey::kDestinationRequestsPerSecond:
    case LimitKey::kUploadBytesPerSecond:
    case LimitKey::kDownloadBytesPerSecond:
    case LimitKey::kUploadBudgetBytes:
    case LimitKey::kDownloadBudgetBytes:
      break;
  }
  return {0, kMaxAmount, "0 = no limit"};
}

std::string limitName(policy::LimitKey key) { return std::string(policy::limitKeyName(key)); }

// A table's entries in the order they were written: toml++ iterates tables in key order, but
// lists keep the file's order and duplicates are reported at the later entry.
std::vector<std::pair<const toml::key*, const toml::node*>> inFileOrder(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : t) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const toml::source_position& pa = a.first->source().begin;
    const toml::source_position& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return entries;
}

// Walks one parsed document and records problems; never throws for a bad document.
class Reader final {
 public:
  Reader(std::string file, ConfigIssues& issues) : file_(std::move(file)), issues_(issues) {}

  const std::string& file() const { return file_; }

  SourcePos pos(const toml::source_region& region) const {
    return SourcePos{file_, static_cast<int>(region.begin.line),
                     static_cast<int>(region.begin.column)};
  }
  SourcePos pos(const toml::node& node) const { return pos(node.source()); }
  SourcePos pos(const toml::key& key) const { return pos(key.source()); }

  void error(SourcePos at, std::string message, std::string hint = {}) {
    add(ConfigIssue::Severity::kError, std::move(at), std::move(message), std::move(hint));
  }
  void warning(SourcePos at, std::string message, std::string hint = {}) {
    add(ConfigIssue::Severity::kWarning, std::move(at), std::move(message), std::move(hint));
  }

  // Reports every key of `table` that is not in `allowed`.
  void checkKeys(const toml::table& table, const std::string& where, Keys allowed) {
    std::vector<std::string> candidates(allowed.begin(), allowed.end());
    for (auto&& [key, value] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string in = where.empty() ? "at the top level" : "in " + where;
      error(pos(key), "unknown key " + inQuotes(key.str()) + " " + in,
            suggestionHint(key.str(), candidates,
                           where.empty() ? "valid top-level keys:" : "valid keys:"));
    }
  }

  // A value of the wrong type: "<where> <key> must be <expected>, not <actual>".
  void typeError(const toml::node& node, const std::string& where, std::string_view key,
                 std::string_view expected, std::string hint = {}) {
    error(pos(node),
          field(where, key) + " must be " + std::string(expected) + ", not " + typeName(node),
          std::move(hint));
  }

  // The sub-table `key`, or nullptr when absent or not a table (reported).
  const toml::table* table(const toml::table& parent, const std::string& where,
                           std::string_view key) {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    if (const toml::table* t = node->as_table()) return t;
    typeError(*node, where, key, "a table");
    return nullptr;
  }

  // Typed readers: false when the key is absent or has the wrong type (reported); on success
  // `out` and `*out_pos` (the value's position) are set.
  bool readString(const toml::table& t, const std::string& where, std::string_view key,
                  std::string& out, SourcePos* out_pos = nullptr) {
    const toml::node* node = t.get(key);
    if (node == nullptr) return false;
    const auto* value = node->as_string();
    if (value == nullptr) {
      typeError(*node, where, key, "a string");
      return false;
    }
    out = value->get();
    if (out_pos != nullptr) *out_pos = pos(*node);
    return true;
  }

  bool readBool(const toml::table& t, const std::string& where, std::string_view key, bool& out) {
    const toml::node* node = t.get(key);
    if (node == nullptr) return false;
    const auto* value = node->as_boolean();
    if (value == nullptr) {
      typeError(*node, where, key, "a boolean", "write true or false");
      return false;
    }
    out = value->get();
    return true;
  }

  // An integer in [min, max]; `meaning` explains the range in the hint.
  bool readInt(const toml::table& t, const std::string& where, std::string_view key, int64_t min,
               int64_t max, std::string_view meaning, int& out, SourcePos* out_pos = nullptr) {
    const toml::node* node = t.get(key);
    if (node == nullptr) return false;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      typeError(*node, where, key, "an integer");
      return false;
    }
    int64_t v = value->get();
    if (v < min || v > max) {
      std::string hint = "use a value in " + std::to_string(min) + ".." + std::to_string(max);
      if (!meaning.empty()) hint += "; " + std::string(meaning);
      error(pos(*node), field(where, key) + " = " + std::to_string(v) + " is out of range",
            std::move(hint));
      return false;
    }
    out = static_cast<int>(v);
    if (out_pos != nullptr) *out_pos = pos(*node);
    return true;
  }

  // An array of strings; elements of other types are reported and skipped.
  bool readStrings(const toml::table& t, const std::string& where, std::string_view key,
                   std::vector<Located>& out, SourcePos* out_pos = nullptr) {
    const toml::node* node = t.get(key);
    if (node == nullptr) return false;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      std::string hint;
      if (node->is_string()) {
        hint = "write a list: " + std::string(key) + " = [\"" + node->as_string()->get() + "\"]";
      }
      typeError(*node, where, key, "an array of strings", std::move(hint));
      return false;
    }
    if (out_pos != nullptr) *out_pos = pos(*node);
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (const auto* s = element.as_string()) {
        out.push_back({s->get(), pos(element)});
      } else {
        typeError(element, where, std::string(key) + "[" + std::to_string(i) + "]", "a string");
      }
    }
    return true;
  }

  static std::string field(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + " " + std::string(key);
  }

 private:
  void add(ConfigIssue::Severity severity, SourcePos at, std::string message, std::string hint) {
    ConfigIssue issue;
    issue.severity = severity;
    issue.pos = std::move(at);
    issue.message = std::move(message);
    issue.hint = std::move(hint);
    issues_.push_back(std::move(issue));
  }

  std::string file_;
  ConfigIssues& issues_;
};

bool positionLess(const SourcePos& a, const SourcePos& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

// File order for the issues from `first` on (all from one file).
void sortIssues(ConfigIssues& issues, size_t first) {
  std::stable_sort(
      issues.begin() + static_cast<std::ptrdiff_t>(first), issues.end(),
      [](const ConfigIssue& a, const ConfigIssue& b) { return positionLess(a.pos, b.pos); });
}

void addParseError(ConfigIssues& issues, const std::string& file, const toml::parse_error& e) {
  ConfigIssue issue;
  issue.pos = SourcePos{file, static_cast<int>(e.source().begin.line),
                        static_cast<int>(e.source().begin.column)};
  issue.message = "invalid TOML: " + std::string(e.description());
  issue.hint = "fix the syntax at this position; TOML reference: https://toml.io/en/v1.0.0";
  issues.push_back(std::move(issue));
}

void addInternalError(ConfigIssues& issues, const std::string& file, const char* what) {
  ConfigIssue issue;
  issue.pos = SourcePos{file, 0, 0};
  issue.message = std::string("could not load: ") + what;
  issues.push_back(std::move(issue));
}

bool readWholeFile(const std::string& path, std::string& out, std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = "is a directory";
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    error = "read error";
    return false;
  }
  return true;
}

// ---- the Trusted list ------------------------------------------------------------------------

void readTrustedDocument(Reader& r, const toml::table& root, policy::TrustedList& list) {
  r.checkKeys(root, "", {"version", "changelog", "groups"});
  SourcePos version_pos;
  if (!r.readString(root, "", "version", list.version, &version_pos)) {
    if (root.get("version") == nullptr) {
      r.error(r.pos(root), "the Trusted list has no version",
              "add version = \"YYYY.MM.DD\" at the top of the file");
    }
  } else if (list.version.empty()) {
    r.error(version_pos, "the Trusted list version is empty", "write version = \"YYYY.MM.DD\"");
  }

  bool version_in_changelog = false;
  bool has_changelog = false;
  if (const toml::node* node = root.get("changelog")) {
    const toml::array* entries = node->as_array();
    if (entries == nullptr || (!entries->empty() && !entries->is_array_of_tables())) {
      r.typeError(*node, "", "changelog", "an array of tables ([[changelog]])");
    } else {
      has_changelog = !entries->empty();
      for (const toml::node& entry_node : *entries) {
        const toml::table& entry = *entry_node.as_table();
        const std::string where = "[[changelog]]";
        r.checkKeys(entry, where, {"version", "changes"});
        std::string version;
        if (r.readString(entry, where, "version", version)) {
          if (version == list.version) version_in_changelog = true;
        } else if (entry.get("version") == nullptr) {
          r.error(r.pos(entry), "[[changelog]] entry has no version",
                  "add version = \"...\" naming the list version it describes");
        }
        std::vector<Located> changes;
        r.readStrings(entry, where, "changes", changes);
      }
    }
  }
  if (has_changelog && !version_in_changelog && !list.version.empty()) {
    r.warning(version_pos, "no [[changelog]] entry for version " + inQuotes(list.version),
              "add a [[changelog]] entry describing this version");
  }

  const toml::table* groups = r.table(root, "", "groups");
  if (groups == nullptr) return;
  for (const auto& [id_key, group_node] : inFileOrder(*groups)) {
    const toml::key& id = *id_key;
    const toml::node& node = *group_node;
    std::string where = "[groups." + std::string(id.str()) + "]";
    const toml::table* group_table = node.as_table();
    if (group_table == nullptr) {
      r.typeError(node, "", "groups." + std::string(id.str()), "a table");
      continue;
    }
    r.checkKeys(*group_table, where, {"title", "domains"});
    policy::TrustedGroup group;
    group.id = std::string(id.str());
    group.title = group.id;
    r.readString(*group_table, where, "title", group.title);
    std::vector<Located> domains;
    r.readStrings(*group_table, where, "domains", domains);
    for (Located& d : domains) group.domains.push_back({std::move(d.text), std::move(d.pos)});
    list.groups.push_back(std::move(group));
  }
}

// ---- the configuration file ------------------------------------------------------------------

class ConfigReader final {
 public:
  ConfigReader(Reader& r, Config& config) : r_(r), config_(config) {}

  // Reads the whole document. The text of the [trusted] file, when one is given and readable,
  // is returned in *trusted_text.
  void read(const toml::table& root, std::optional<std::string>* trusted_text) {
    r_.checkKeys(root, "",
                 {"listener", "log", "admin", "environment", "environments", "addresses",
                  "resolver", "git", "sessions", "trusted"});
    if (const toml::table* t = r_.table(root, "", "listener")) readListener(*t);
    if (const toml::table* t = r_.table(root, "", "admin")) readAdmin(*t);
    if (const toml::table* t = r_.table(root, "", "log")) readLog(*t);
    if (const toml::table* t = r_.table(root, "", "environment")) {
      config_.policy.default_environment.pos = r_.pos(*t);
      readEnvironment(*t, "[environment]", config_.policy.default_environment);
    }
    if (const toml::table* t = r_.table(root, "", "environments")) readEnvironments(*t);
    if (const toml::table* t = r_.table(root, "", "addresses")) readAddresses(*t);
    if (const toml::table* t = r_.table(root, "", "resolver")) readResolver(*t);
    if (const toml::table* t = r_.table(root, "", "git")) readGit(*t);
    if (const toml::node* node = root.get("sessions")) readSessions(*node);
    if (const toml::table* t = r_.table(root, "", "trusted")) readTrusted(*t, trusted_text);
  }

  // Checks that sessions name environments that exist; runs after the whole document is read.
  void checkReferences() {
    std::vector<std::string> names = {"default"};
    names.insert(names.end(), known_environments_.begin(), known_environments_.end());
    for (const auto& [name, at] : session_environments_) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      r_.error(at, "[[sessions]] environment " + inQuotes(name) + " is not defined",
               suggestionHint(name, names, "define [environments." + name + "] or use one of"));
    }
    for (const SessionConfig& session : config_.sessions) {
      if (session.limits.empty()) continue;
      if (const policy::EnvironmentConfig* env = environmentNamed(session.environment)) {
        warnIneffectiveLimits("[sessions.limits]", session.limits, &env->limits);
      }
    }
    if (config_.listener.session_manager == "none" && !config_.sessions.empty()) {
      r_.error(config_.sessions.front().pos,
               "[[sessions]] are configured but [listener] session_manager is \"none\", so no "
               "client could use them",
               "remove the [[sessions]] tables, or set session_manager = \"builtin\"");
    }
  }

 private:
  // The environment a session names, or nullptr when it is not defined (reported elsewhere).
  const policy::EnvironmentConfig* environmentNamed(const std::string& name) const {
    if (name == config_.policy.default_environment.name) return &config_.policy.default_environment;
    for (const policy::EnvironmentConfig& env : config_.policy.environments) {
      if (env.name == name) return &env;
    }
    return nullptr;
  }

  void readListener(const toml::table& t) {
    const std::string where = "[listener]";
    auto& listener = config_.listener;
    r_.checkKeys(
        t, where,
        {"address", "workers", "header_timeout_ms", "idle_timeout_ms", "connect_timeout_ms",
         "response_timeout_ms", "tunnel_idle_timeout_ms", "drain_timeout_ms", "max_connections",
         "max_tunnels", "max_header_bytes", "max_headers", "max_uri_bytes", "allow_missing_sni",
         "allow_non_tls", "allow_ech", "require_session", "session_manager"});
    if (r_.readString(t, where, "address", listener.address, &listener.address_pos)) {
      checkEndpointValue(where, "address", listener.address, listener.address_pos, 0,
                         "127.0.0.1:3128", "");
    }
    r_.readInt(t, where, "workers", 0, 256, "0 = one per core", listener.workers,
               &listener.workers_pos);
    constexpr int kHour = 3600 * 1000;
    r_.readInt(t, where, "header_timeout_ms", 100, kHour, "", listener.header_timeout_ms);
    r_.readInt(t, where, "idle_timeout_ms", 100, 24 * kHour, "", listener.idle_timeout_ms);
    r_.readInt(t, where, "connect_timeout_ms", 10, kHour, "", listener.connect_timeout_ms);
    r_.readInt(t, where, "response_timeout_ms", 100, 24 * kHour, "", listener.response_timeout_ms);
    r_.readInt(t, where, "tunnel_idle_timeout_ms", 100, 24 * kHour, "",
               listener.tunnel_idle_timeout_ms);
    r_.readInt(t, where, "drain_timeout_ms", 0, kHour, "", listener.drain_timeout_ms);
    r_.readInt(t, where, "max_connections", 1, 10000000, "", listener.max_connections);
    r_.readInt(t, where, "max_tunnels", 1, 10000000, "concurrent CONNECT tunnels per process",
               listener.max_tunnels);
    r_.readInt(t, where, "max_header_bytes", 1024, 1 << 20, "", listener.max_header_bytes);
    r_.readInt(t, where, "max_headers", 8, 10000, "", listener.max_headers);
    r_.readInt(t, where, "max_uri_bytes", 256, 1 << 20, "", listener.max_uri_bytes);
    r_.readBool(t, where, "allow_missing_sni", listener.allow_missing_sni);
    r_.readBool(t, where, "allow_non_tls", listener.allow_non_tls);
    r_.readBool(t, where, "allow_ech", listener.allow_ech);
    // Absent = "auto"; there is no value for it, so a string gets its own hint.
    if (const toml::node* node = t.get("require_session")) {
      if (const auto* value = node->as_boolean()) {
        listener.require_session = value->get();
      } else {
        r_.typeError(*node, where, "require_session", "a boolean",
                     "write true or false; leave require_session out for \"auto\" (required "
                     "whenever a session exists)");
      }
    }
    if (r_.readString(t, where, "session_manager", listener.session_manager,
                      &listener.session_manager_pos)) {
      const std::vector<std::string> names = builtinSessionManagers().names();
      if (std::find(names.begin(), names.end(), listener.session_manager) == names.end()) {
        r_.error(listener.session_manager_pos,
                 where + " session_manager " + inQuotes(listener.session_manager) +
                     " is not a session manager",
                 suggestionHint(listener.session_manager, names, "use one of"));
      }
    }
  }

  void readLog(const toml::table& t) {
    const std::string where = "[log]";
    r_.checkKeys(t, where, {"decisions", "recent_decisions", "denied_sample_per_second"});
    r_.readString(t, where, "decisions", config_.log.decisions, &config_.log.decisions_pos);
    r_.readInt(t, where, "recent_decisions", 0, 1000000, "0 disables the in-memory ring",
               config_.log.recent_decisions, &config_.log.recent_decisions_pos);
    r_.readInt(t, where, "denied_sample_per_second", 0, 1000000,
               "denied-request lines per second during a storm; 0 logs every denial",
               config_.log.denied_sample_per_second);
  }

  void readAdmin(const toml::table& t) {
    const std::string where = "[admin]";
    auto& admin = config_.admin;
    r_.checkKeys(t, where, {"address", "token_file"});
    bool address_ok = true;
    if (r_.readString(t, where, "address", admin.address, &admin.address_pos) &&
        !admin.address.empty()) {
      address_ok = checkEndpointValue(where, "address", admin.address, admin.address_pos, 0,
                                      "127.0.0.1:9090", "; \"\" disables the admin listener");
    }
    r_.readString(t, where, "token_file", admin.token_file, &admin.token_file_pos);
    if (address_ok && !admin.address.empty() && admin.token_file.empty()) {
      std::optional<policy::IpAddress> ip = endpointAddress(admin.address);
      if (ip && !isLoopback(*ip)) {
        r_.error(admin.address_pos,
                 "[admin] address " + inQuotes(admin.address) +
                     " is not loopback and [admin] token_file is empty: the control API would "
                     "be open to the network",
                 "set token_file to a file holding the bearer token, or listen on 127.0.0.1");
      }
    }
  }

  void readEnvironments(const toml::table& t) {
    for (const auto& [key_ptr, node_ptr] : inFileOrder(t)) {
      const toml::key& key = *key_ptr;
      const toml::node& node = *node_ptr;
      std::string name(key.str());
      std::string where = "[environments." + name + "]";
      known_environments_.push_back(name);
      const toml::table* env_table = node.as_table();
      if (env_table == nullptr) {
        r_.typeError(node, "", "environments." + name, "a table",
                     "write the environment as a table: [environments." + name + "]");
        continue;
      }
      if (name == "default") {
        r_.error(r_.pos(key), "environment name 'default' is reserved for [environment]",
                 "configure the default environment in [environment], or pick another name");
      } else if (!isEnvironmentName(name)) {
        r_.error(r_.pos(key), "invalid environment name " + inQuotes(name),
                 "names are 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or "
                 "digit");
      }
      policy::EnvironmentConfig env;
      env.name = name;
      env.pos = r_.pos(node);
      readEnvironment(*env_table, where, env);
      config_.policy.environments.push_back(std::move(env));
    }
  }

  void readEnvironment(const toml::table& t, const std::string& where,
                       policy::EnvironmentConfig& env) {
    r_.checkKeys(t, where,
                 {"level", "domains", "include_trusted", "deny", "always_allow", "ports", "mode",
                  "shadow", "limits"});
    bool level_known = true;
    std::string level;
    SourcePos level_pos;
    if (r_.readString(t, where, "level", level, &level_pos)) {
      static const std::vector<std::string> kLevels = {"none", "trusted", "full", "custom"};
      if (level == "none") {
        env.level = policy::AccessLevel::kNone;
      } else if (level == "trusted") {
        env.level = policy::AccessLevel::kTrusted;
      } else if (level == "full") {
        env.level = policy::AccessLevel::kFull;
      } else if (level == "custom") {
        env.level = policy::AccessLevel::kCustom;
      } else {
        level_known = false;
        r_.error(level_pos, where + " level " + inQuotes(level) + " is not a known access level",
                 suggestionHint(lowered(level), kLevels, "use one of"));
      }
    } else if (t.get("level") != nullptr) {
      level_known = false;
    }
    std::string mode;
    if (r_.readString(t, where, "mode", mode, &env.mode_pos)) {
      static const std::vector<std::string> kModes = {"enforce", "report"};
      if (mode == "enforce") {
        env.mode = policy::EnvironmentMode::kEnforce;
      } else if (mode == "report") {
        env.mode = policy::EnvironmentMode::kReport;
      } else {
        r_.error(env.mode_pos, where + " mode " + inQuotes(mode) + " is not a known mode",
                 suggestionHint(lowered(mode), kModes, "use one of"));
      }
    }
    // The name is resolved when the policy is compiled, against every environment.
    r_.readString(t, where, "shadow", env.shadow, &env.shadow_pos);
    readPatterns(t, where, "domains", env.domains);
    r_.readBool(t, where, "include_trusted", env.include_trusted);
    readPatterns(t, where, "deny", env.deny);
    readPatterns(t, where, "always_allow", env.always_allow);
    if (const toml::node* node = t.get("ports")) {
      readPorts(*node, where, env);
      if (level_known && env.level != policy::AccessLevel::kNone && node->is_array() &&
          node->as_array()->empty()) {
        r_.error(env.ports_pos, where + " ports is empty: no destination could be reached",
                 "list the allowed destination ports, e.g. [80, 443]; an empty list only fits "
                 "level = \"none\"");
      }
    }
    // "[environment]" -> "[environment.limits]", "[environments.x]" -> "[environments.x.limits]"
    const std::string limits_where = where.substr(0, where.size() - 1) + ".limits]";
    if (readLimits(t, where, limits_where, env.limits)) {
      warnIneffectiveLimits(limits_where, env.limits, nullptr);
    }
  }

  // The `limits` sub-table of an environment or session: exactly the keys of
  // policy::limitKeyName, each an integer in its own range. False when there is no table.
  bool readLimits(const toml::table& parent, const std::string& parent_where,
                  const std::string& where, policy::LimitsConfig& limits) {
    const toml::table* t = r_.table(parent, parent_where, "limits");
    if (t == nullptr) return false;
    std::vector<std::string> names;
    for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
      names.push_back(limitName(static_cast<policy::LimitKey>(i)));
    }
    for (auto&& [key, node] : *t) {
      std::optional<policy::LimitKey> limit = policy::limitKeyByName(key.str());
      if (!limit) {
        r_.error(r_.pos(key), "unknown key " + inQuotes(key.str()) + " in " + where,
                 suggestionHint(key.str(), names, "valid keys:"));
        continue;
      }
      const auto* value = node.as_integer();
      if (value == nullptr) {
        r_.typeError(node, where, key.str(), "an integer",
                     "write a whole number without quotes or units, e.g. " +
                         std::string(key.str()) + " = 100");
        continue;
      }
      const int64_t v = value->get();
      const LimitRange range = limitRange(*limit);
      if (v < 0 || static_cast<uint64_t>(v) < range.min || static_cast<uint64_t>(v) > range.max) {
        r_.error(r_.pos(node),
                 Reader::field(where, key.str()) + " = " + std::to_string(v) + " is out of range",
                 "use a value in " + std::to_string(range.min) + ".." + std::to_string(range.max) +
                     "; " + std::string(range.meaning));
        continue;
      }
      limits[*limit] = static_cast<uint64_t>(v);
      limits.positions[static_cast<size_t>(*limit)] = r_.pos(node);
    }
    return true;
  }

  // Limits that do nothing as written: a burst without its rate, a trickle without a budget.
  // `inherited` (a session's environment) supplies the values `own` leaves unset. A value that
  // only restates the default (a burst of 0, the default trickle) is quietly accepted, so the
  // commented example in conf/gatehouse.toml can be uncommented as it is.
  void warnIneffectiveLimits(const std::string& where, const policy::LimitsConfig& own,
                             const policy::LimitsConfig* inherited) {
    using policy::LimitKey;
    auto effective = [&](LimitKey key) -> uint64_t {
      if (own[key]) return *own[key];
      if (inherited != nullptr && (*inherited)[key]) return *(*inherited)[key];
      return 0;
    };
    const std::string elsewhere =
        inherited != nullptr ? " here or in the session's environment" : "";
    constexpr std::pair<LimitKey, LimitKey> kBursts[] = {
        {LimitKey::kRequestBurst, LimitKey::kRequestsPerSecond},
        {LimitKey::kTunnelBurst, LimitKey::kTunnelsPerSecond},
        {LimitKey::kDestinationBurst, LimitKey::kDestinationRequestsPerSecond},
    };
    for (const auto& [burst, rate] : kBursts) {
      if (own[burst].value_or(0) == 0 || effective(rate) != 0) continue;
      r_.warning(own.positions[static_cast<size_t>(burst)],
                 where + " " + limitName(burst) + " has no effect without " + limitName(rate),
                 "set " + limitName(rate) + elsewhere + ", or remove " + limitName(burst));
    }
    const uint64_t trickle = own[LimitKey::kTrickleBytesPerSecond].value_or(0);
    if (trickle != 0 && trickle != policy::kDefaultTrickleBytesPerSecond &&
        effective(LimitKey::kUploadBudgetBytes) == 0 &&
        effective(LimitKey::kDownloadBudgetBytes) == 0) {
      r_.warning(own.positions[static_cast<size_t>(LimitKey::kTrickleBytesPerSecond)],
                 where +
                     " trickle_bytes_per_second has no effect without upload_budget_bytes or "
                     "download_budget_bytes",
                 "it is the rate of running tunnels once a budget is spent: set a budget" +
                     elsewhere + ", or remove trickle_bytes_per_second");
    }
  }

  void readPorts(const toml::node& node, const std::string& where, policy::EnvironmentConfig& env) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      r_.typeError(node, where, "ports", "an array of integers", "write e.g. ports = [80, 443]");
      return;
    }
    env.ports.clear();
    env.ports_pos = r_.pos(node);
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const auto* value = element.as_integer();
      if (value == nullptr) {
        r_.typeError(element, where, "ports[" + std::to_string(i) + "]", "an integer");
        continue;
      }
      int64_t port = value->get();
      if (port < 1 || port > 65535) {
        r_.error(r_.pos(element), where + " port " + std::to_string(port) + " is out of range",
                 "ports are 1..65535");
        continue;
      }
      if (std::find(env.ports.begin(), env.ports.end(), port) != env.ports.end()) {
        r_.error(r_.pos(element), where + " port " + std::to_string(port) + " is listed twice",
                 "remove the duplicate");
        continue;
      }
      env.ports.push_back(static_cast<uint16_t>(port));
    }
  }

  void readPatterns(const toml::table& t, const std::string& where, std::string_view key,
                    std::vector<policy::PatternEntry>& out) {
    std::vector<Located> values;
    r_.readStrings(t, where, key, values);
    for (Located& v : values) out.push_back({std::move(v.text), std::move(v.pos)});
  }

  void readAddresses(const toml::table& t) {
    const std::string where = "[addresses]";
    r_.checkKeys(t, where, {"deny_private", "allow"});
    r_.readBool(t, where, "deny_private", config_.policy.addresses.deny_private);
    readPatterns(t, where, "allow", config_.policy.addresses.allow);
  }

  void readResolver(const toml::table& t) {
    const std::string where = "[resolver]";
    auto& resolver = config_.resolver;
    r_.checkKeys(t, where, {"servers", "timeout_ms", "static"});
    std::vector<Located> servers;
    r_.readStrings(t, where, "servers", servers, &resolver.servers_pos);
    for (const Located& s : servers) {
      if (checkEndpointValue(where, "server", s.text, s.pos, 1, "192.0.2.53:53", "")) {
        resolver.servers.push_back(s.text);
      }
    }
    r_.readInt(t, where, "timeout_ms", 1, 60000, "milliseconds per query", resolver.timeout_ms,
               &resolver.timeout_pos);
    const toml::table* statics = r_.table(t, where, "static");
    if (statics == nullptr) return;
    std::vector<std::pair<std::string, SourcePos>> seen;
    for (const auto& [key_ptr, node_ptr] : inFileOrder(*statics)) {
      const toml::key& key = *key_ptr;
      const toml::node& node = *node_ptr;
      SourcePos key_pos = r_.pos(key);
      std::optional<std::string> name = canonicalName(key.str(), key_pos, "[resolver] static");
      std::string field = "static." + quotedKey(key.str());
      net::StaticHost host;
      host.pos = key_pos;
      const toml::array* array = node.as_array();
      if (array == nullptr) {
        r_.typeError(node, where, field, "an array of IP addresses",
                     "write e.g. \"origin.test\" = [\"127.0.0.1\"]");
        continue;
      }
      if (array->empty()) {
        r_.error(r_.pos(node), where + " " + field + " has no addresses",
                 "list at least one IP address, or remove the entry");
      }
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const auto* s = element.as_string();
        if (s == nullptr) {
          r_.typeError(element, where, field + "[" + std::to_string(i) + "]", "a string");
          continue;
        }
        std::optional<policy::IpAddress> ip = policy::IpAddress::parse(s->get());
        if (!ip) {
          r_.error(r_.pos(element),
                   where + " static address " + inQuotes(s->get()) + " is not an IP address",
                   "write a dotted-quad IPv4 or an IPv6 address without brackets, e.g. "
                   "\"127.0.0.1\" or \"::1\"");
          continue;
        }
        host.addresses.push_back(s->get());
      }
      if (!name) continue;
      auto dup =
          std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == *name; });
      if (dup != seen.end()) {
        r_.error(key_pos, where + " static name " + inQuotes(*name) + " is listed twice",
                 "merge it with the entry at " + dup->second.toString());
        continue;
      }
      seen.emplace_back(*name, key_pos);
      host.name = std::move(*name);
      resolver.static_hosts.push_back(std::move(host));
    }
  }

  void readGit(const toml::table& t) {
    const std::string where = "[git]";
    auto& git = config_.git;
    r_.checkKeys(t, where, {"upstream", "api_upstream", "ca_file", "connect_to"});
    if (r_.readString(t, where, "upstream", git.upstream, &git.upstream_pos)) {
      checkUrlValue(where, "upstream", git.upstream, git.upstream_pos);
    }
    if (r_.readString(t, where, "api_upstream", git.api_upstream, &git.api_upstream_pos)) {
      checkUrlValue(where, "api_upstream", git.api_upstream, git.api_upstream_pos);
    }
    r_.readString(t, where, "ca_file", git.ca_file, &git.ca_file_pos);
    const toml::table* connect_to = r_.table(t, where, "connect_to");
    if (connect_to == nullptr) return;
    std::vector<std::string> seen;
    for (const auto& [key_ptr, node_ptr] : inFileOrder(*connect_to)) {
      const toml::key& key = *key_ptr;
      const toml::node& node = *node_ptr;
      SourcePos key_pos = r_.pos(key);
      std::optional<std::string> host = canonicalName(key.str(), key_pos, "[git] connect_to");
      const auto* target = node.as_string();
      if (target == nullptr) {
        r_.typeError(node, where, "connect_to." + quotedKey(key.str()), "a string",
                     "write e.g. \"github.com\" = \"127.0.0.1:29443\"");
        continue;
      }
      bool target_ok = checkEndpointValue(where, "connect_to target", target->get(), r_.pos(node),
                                          1, "127.0.0.1:443", "");
      if (!host || !target_ok) continue;
      if (std::find(seen.begin(), seen.end(), *host) != seen.end()) {
        r_.error(key_pos, where + " connect_to host " + inQuotes(*host) + " is listed twice",
                 "keep one entry per host");
        continue;
      }
      seen.push_back(*host);
      git.connect_to.push_back({std::move(*host), target->get(), key_pos});
    }
  }

  void readSessions(const toml::node& node) {
    const toml::array* array = node.as_array();
    if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
      r_.typeError(node, "", "sessions", "an array of tables ([[sessions]])",
                   "write each session as a [[sessions]] table");
      return;
    }
    for (const toml::node& element : *array) readSession(*element.as_table());
  }

  void readSession(const toml::table& t) {
    const std::string where = "[[sessions]]";
    r_.checkKeys(t, where,
                 {"id", "environment", "credential_sha256", "clients", "labels", "domains",
                  "expires", "git", "limits"});
    SessionConfig session;
    session.pos = r_.pos(t);
    SourcePos id_pos;
    if (r_.readString(t, where, "id", session.id, &id_pos)) {
      if (!isSessionId(session.id)) {
        r_.error(id_pos, where + " id " + inQuotes(session.id) + " is not a valid session id",
                 "ids are 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
      } else if (auto it = session_ids_.find(session.id); it != session_ids_.end()) {
        r_.error(id_pos, where + " id " + inQuotes(session.id) + " is used twice",
                 "the first use is at " + it->second.toString() + "; session ids must be unique");
      } else {
        session_ids_.emplace(session.id, id_pos);
      }
    } else if (t.get("id") == nullptr) {
      r_.error(session.pos, "[[sessions]] has no id", "add id = \"...\", the proxy user name");
    }
    SourcePos env_pos;
    if (r_.readString(t, where, "environment", session.environment, &env_pos)) {
      session_environments_.emplace_back(session.environment, env_pos);
    }
    SourcePos credential_pos;
    if (r_.readString(t, where, "credential_sha256", session.credential_sha256, &credential_pos)) {
      checkSha256(where, "credential_sha256", session.credential_sha256, credential_pos, true);
    }
    std::vector<Located> clients;
    r_.readStrings(t, where, "clients", clients);
    for (const Located& c : clients) {
      if (!policy::Cidr::parse(c.text)) {
        r_.error(c.pos, where + " client " + inQuotes(c.text) + " is not an address or CIDR",
                 "write e.g. \"10.0.0.5/32\" or \"10.0.0.0/24\"; host bits below the prefix must "
                 "be zero");
        continue;
      }
      session.clients.push_back(c.text);
    }
    readLabels(t, where, session);
    readPatterns(t, where, "domains", session.domains);
    readExpires(t, where, session);
    // Judged on what was written, so an invalid value is not reported a second time here.
    const toml::node* credential_node = t.get("credential_sha256");
    const toml::node* clients_node = t.get("clients");
    bool has_credential =
        credential_node != nullptr &&
        !(credential_node->is_string() && credential_node->as_string()->get().empty());
    bool has_clients =
        clients_node != nullptr && !(clients_node->is_array() && clients_node->as_array()->empty());
    if (!has_credential && !has_clients) {
      r_.error(session.pos,
               "[[sessions]] " + (session.id.empty() ? std::string() : inQuotes(session.id) + " ") +
                   "has neither credential_sha256 nor clients, so no client could ever use it",
               "set credential_sha256 for Proxy-Authorization, or clients for source addresses");
    }
    if (const toml::table* git = r_.table(t, where, "git")) {
      session.git = readSessionGit(*git);
    }
    // Checked against the session's environment in checkReferences(), once all are read.
    readLimits(t, where, "[sessions.limits]", session.limits);
    config_.sessions.push_back(std::move(session));
  }

  void readLabels(const toml::table& t, const std::string& where, SessionConfig& session) {
    constexpr size_t kMaxLabels = 16;
    std::vector<Located> labels;
    SourcePos labels_pos;
    if (!r_.readStrings(t, where, "labels", labels, &labels_pos)) return;
    if (labels.size() > kMaxLabels) {
      r_.error(labels_pos,
               where + " has " + std::to_string(labels.size()) + " labels, more than " +
                   std::to_string(kMaxLabels),
               "keep at most " + std::to_string(kMaxLabels) + " labels per session");
      return;
    }
    for (const Located& label : labels) {
      if (!isSessionLabel(label.text)) {
        r_.error(label.pos, where + " label " + inQuotes(label.text) + " is not a valid label",
                 "labels are 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '=', '/' and '-', "
                 "e.g. \"team=web\"");
        continue;
      }
      if (std::find(session.labels.begin(), session.labels.end(), label.text) !=
          session.labels.end()) {
        r_.error(label.pos, where + " label " + inQuotes(label.text) + " is listed twice",
                 "remove the duplicate");
        continue;
      }
      session.labels.push_back(label.text);
    }
  }

  void readExpires(const toml::table& t, const std::string& where, SessionConfig& session) {
    const toml::node* node = t.get("expires");
    if (node == nullptr) return;
    constexpr std::string_view kHint =
        "write an offset date-time such as 2026-12-01T00:00:00Z (no quotes)";
    const auto* value = node->as_date_time();
    if (value == nullptr || !value->get().offset) {
      std::string actual =
          value != nullptr ? "a local date-time (without Z or an offset)" : typeName(*node);
      r_.error(r_.pos(*node), where + " expires must be an offset date-time, not " + actual,
               std::string(kHint));
      return;
    }
    session.expires = toTimePoint(value->get());
    const auto at = *session.expires;
    if (at <= std::chrono::system_clock::now()) {
      r_.warning(r_.pos(*node),
                 where + " " + (session.id.empty() ? std::string() : inQuotes(session.id) + " ") +
                     "expired already: every request with it is refused",
                 "set a later expires, or remove the session");
    }
  }

  SessionGitConfig readSessionGit(const toml::table& t) {
    const std::string where = "[sessions.git]";
    r_.checkKeys(
        t, where,
        {"repos", "push_branch", "extra_branches", "token_file", "scoped_credential_sha256"});
    SessionGitConfig git;
    git.pos = r_.pos(t);
    std::vector<Located> repos;
    r_.readStrings(t, where, "repos", repos, &git.repos_pos);
    bool any_pushable = false;
    std::vector<std::pair<std::string, SourcePos>> seen;
    for (const Located& repo : repos) {
      bool pushable = false;
      if (std::optional<gitproxy::NameProblem> problem =
              gitproxy::checkRepoEntry(repo.text, &pushable)) {
        r_.error(repo.pos, where + " repo " + inQuotes(repo.text) + " " + problem->what,
                 problem->hint);
        continue;
      }
      // GitHub owner and repository names are case-insensitive.
      std::string key = lowered(repo.text.substr(0, repo.text.find(':')));
      auto dup =
          std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == key; });
      if (dup != seen.end()) {
        r_.error(repo.pos, where + " repo " + inQuotes(repo.text) + " is listed twice",
                 "keep one entry per repository; the first is at " + dup->second.toString());
        continue;
      }
      seen.emplace_back(key, repo.pos);
      if (key.size() > 4 && key.substr(key.size() - 4) == ".git") {
        r_.warning(repo.pos, where + " repo " + inQuotes(repo.text) + " ends with '.git'",
                   "write the repository name without '.git'; git URLs add it");
      }
      any_pushable = any_pushable || pushable;
      git.repos.push_back(repo.text);
    }
    SourcePos branch_pos;
    if (r_.readString(t, where, "push_branch", git.push_branch, &branch_pos)) {
      checkBranchValue(where, "push_branch", git.push_branch, branch_pos);
    } else if (t.get("push_branch") == nullptr && any_pushable) {
      r_.error(git.pos, where + " has pushable repos but no push_branch",
               "set push_branch to the branch this session may push, or mark the repos "
               "'owner/repo:read'");
    }
    std::vector<Located> extra;
    r_.readStrings(t, where, "extra_branches", extra);
    std::vector<std::string> branches;
    if (!git.push_branch.empty()) branches.push_back(git.push_branch);
    for (const Located& b : extra) {
      if (!checkBranchValue(where, "extra branch", b.text, b.pos)) continue;
      if (std::find(branches.begin(), branches.end(), b.text) != branches.end()) {
        r_.error(b.pos, where + " branch " + inQuotes(b.text) + " is listed twice",
                 "remove the duplicate from extra_branches");
        continue;
      }
      branches.push_back(b.text);
      git.extra_branches.push_back(b.text);
    }
    SourcePos token_pos;
    if (!r_.readString(t, where, "token_file", git.token_file, &token_pos)) {
      if (t.get("token_file") == nullptr) {
        r_.error(git.pos, where + " has no token_file",
                 "set token_file to the file holding the real GitHub token");
      }
    } else if (git.token_file.empty()) {
      r_.error(token_pos, where + " token_file is empty",
               "set token_file to the file holding the real GitHub token");
    } else {
      // Checked now so that a bad file stops startup (or the reload) with its position, instead
      // of failing every git request later. The token read here is wiped at once.
      GitTokenFile file = readGitTokenFile(git.token_file);
      if (file.token == nullptr) {
        r_.error(token_pos, where + " token_file " + inQuotes(git.token_file) + " " + file.problem,
                 file.hint);
      }
    }
    SourcePos scoped_pos;
    if (!r_.readString(t, where, "scoped_credential_sha256", git.scoped_credential_sha256,
                       &scoped_pos)) {
      if (t.get("scoped_credential_sha256") == nullptr) {
        r_.error(git.pos, where + " has no scoped_credential_sha256",
                 "set it to the hex SHA-256 of the credential the sandbox's git presents, which "
                 "must start with 'gatehouse_gc_'");
      }
    } else {
      checkSha256(where, "scoped_credential_sha256", git.scoped_credential_sha256, scoped_pos,
                  false);
    }
    return git;
  }

  void readTrusted(const toml::table& t, std::optional<std::string>* trusted_text) {
    const std::string where = "[trusted]";
    r_.checkKeys(t, where, {"file"});
    std::string file;
    SourcePos file_pos;
    if (!r_.readString(t, where, "file", file, &file_pos) || file.empty()) return;
    // Relative to the config file, so a config and its list can move together.
    std::filesystem::path path(file);
    if (path.is_relative()) {
      path = (std::filesystem::path(r_.file()).parent_path() / path).lexically_normal();
    }
    config_.trusted_file = path.string();
    std::string text;
    std::string error;
    if (!readWholeFile(config_.trusted_file, text, error)) {
      r_.error(file_pos,
               "cannot read the Trusted list file " + inQuotes(config_.trusted_file) + ": " + error,
               "relative paths are resolved against the directory of the config file; \"\" "
               "uses the built-in list");
      return;
    }
    *trusted_text = std::move(text);
  }

  bool checkEndpointValue(const std::string& where, std::string_view what, std::string_view text,
                          const SourcePos& at, int min_port, std::string_view example,
                          std::string_view hint_suffix) {
    std::optional<Problem> problem = checkEndpoint(text, min_port, example);
    if (!problem) return true;
    r_.error(at, where + " " + std::string(what) + " " + inQuotes(text) + " " + problem->what,
             problem->hint + std::string(hint_suffix));
    return false;
  }

  void checkUrlValue(const std::string& where, std::string_view key, std::string_view url,
                     const SourcePos& at) {
    if (std::optional<Problem> problem = checkHttpsUrl(url)) {
      r_.error(at, where + " " + std::string(key) + " " + inQuotes(url) + " " + problem->what,
               problem->hint);
    }
  }

  bool checkBranchValue(const std::string& where, std::string_view what, std::string_view name,
                        const SourcePos& at) {
    std::optional<gitproxy::NameProblem> problem = gitproxy::checkBranchName(name);
    if (!problem) return true;
    r_.error(at, where + " " + std::string(what) + " " + inQuotes(name) + " " + problem->what,
             problem->hint);
    return false;
  }

  void checkSha256(const std::string& where, std::string_view key, std::string_view value,
                   const SourcePos& at, bool empty_ok) {
    if (value.empty() && empty_ok) return;
    if (isLowerHex64(value)) return;
    std::string hint = isHex64(value)
                           ? "write the hex digits in lowercase"
                           : "write the SHA-256 as 64 lowercase hex digits, e.g. the output of "
                             "`printf %s SECRET | sha256sum`";
    r_.error(at, where + " " + std::string(key) + " is not a hex SHA-256 (64 lowercase hex digits)",
             hint);
  }

  // The canonical name of a host written as a table key, or nullopt (reported).
  std::optional<std::string> canonicalName(std::string_view raw, const SourcePos& at,
                                           std::string_view where) {
    policy::HostParse parsed = policy::canonicalizeHost(raw);
    if (!parsed.ok()) {
      r_.error(at,
               std::string(where) + " host " + inQuotes(raw) +
                   " is not a valid host name: " + policy::hostErrorMessage(parsed.error),
               "write a DNS name such as \"origin.test\"; IDN names as punycode");
      return std::nullopt;
    }
    if (parsed.host->kind != policy::Host::Kind::kName) {
      r_.error(at, std::string(where) + " host " + inQuotes(raw) + " is an IP address, not a name",
               "entries map names to addresses; an IP literal needs no entry");
      return std::nullopt;
    }
    return parsed.host->text;
  }

  static std::string quotedKey(std::string_view key) { return "\"" + std::string(key) + "\""; }

  Reader& r_;
  Config& config_;
  std::vector<std::string> known_environments_;
  std::vector<std::pair<std::string, SourcePos>> session_environments_;
  std::map<std::string, SourcePos> session_ids_;
};

}  // namespace

policy::TrustedList loadTrustedList(std::string_view text, const std::string& name,
                                    policy::ConfigIssues& issues) {
  size_t first = issues.size();
  policy::TrustedList list;
  list.source = name;
  try {
    toml::table root = toml::parse(text, std::string_view(name));
    Reader reader(name, issues);
    readTrustedDocument(reader, root, list);
  } catch (const toml::parse_error& e) {
    addParseError(issues, name, e);
  } catch (const std::exception& e) {
    addInternalError(issues, name, e.what());
  } catch (...) {
    addInternalError(issues, name, "unknown exception");
  }
  sortIssues(issues, first);
  return list;
}

ConfigLoad loadConfigString(std::string_view text, const std::string& name) {
  ConfigLoad load;
  load.config.file = name;
  std::optional<std::string> trusted_text;
  try {
    toml::table root = toml::parse(text, std::string_view(name));
    Reader reader(name, load.issues);
    ConfigReader config_reader(reader, load.config);
    config_reader.read(root, &trusted_text);
    config_reader.checkReferences();
  } catch (const toml::parse_error& e) {
    addParseError(load.issues, name, e);
  } catch (const std::exception& e) {
    addInternalError(load.issues, name, e.what());
  } catch (...) {
    addInternalError(load.issues, name, "unknown exception");
  }
  sortIssues(load.issues, 0);
  try {
    if (trusted_text) {
      load.config.policy.trusted =
          loadTrustedList(*trusted_text, load.config.trusted_file, load.issues);
    } else {
      load.config.policy.trusted =
          loadTrustedList(embeddedTrustedToml(), std::string(kEmbeddedName), load.issues);
    }
  } catch (const std::exception& e) {
    addInternalError(load.issues, name, e.what());
  } catch (...) {
    addInternalError(load.issues, name, "unknown exception");
  }
  return load;
}

ConfigLoad loadConfigFile(const std::string& path) {
  std::string text;
  std::string error;
  bool read = false;
  try {
    read = readWholeFile(path, text, error);
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  if (read) return loadConfigString(text, path);
  ConfigLoad load;
  load.config.file = path;
  ConfigIssue issue;
  issue.pos = SourcePos{path, 0, 0};
  issue.message = "cannot read the config file: " + error;
  issue.hint = "check the path and the file's permissions";
  load.issues.push_back(std::move(issue));
  try {
    load.config.policy.trusted =
        loadTrustedList(embeddedTrustedToml(), std::string(kEmbeddedName), load.issues);
  } catch (const std::exception& e) {
    addInternalError(load.issues, path, e.what());
  } catch (...) {
    addInternalError(load.issues, path, "unknown exception");
  }
  return load;
}

}  // namespace gatehouse::control

namespace gatehouse::control {

LoadedConfig loadAndCompile(const std::string& path) {
  LoadedConfig l;
  ConfigLoad cl = path.empty() ? loadConfigString("", "<built-in defaults>") : loadConfigFile(path);
  l.config = std::move(cl.config);
  l.issues = std::move(cl.issues);
  if (!policy::hasErrors(l.issues)) {
    // The static sessions' inline domains are compiled too, so that their errors are reported
    // here with positions; l.config.policy stays the file's own policy.
    const size_t first = l.issues.size();
    policy::PolicyConfig with_sessions = withSessionEnvironments(
        l.config.policy, sessionEnvironmentSpecs(l.config.sessions), l.issues);
    policy::PolicyCompile pc = policy::compilePolicy(with_sessions);
    l.issues.insert(l.issues.end(), pc.issues.begin(), pc.issues.end());
    std::stable_sort(l.issues.begin() + static_cast<std::ptrdiff_t>(first), l.issues.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) {
                       if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
                       return positionLess(a.pos, b.pos);
                     });
    if (!policy::hasErrors(l.issues)) l.policy = std::move(pc.snapshot);
  }
  return l;
}

}  // namespace gatehouse::control
