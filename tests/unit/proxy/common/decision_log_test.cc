// The decision log: one JSON object per line whatever the values hold, optional fields only
// when set, the bounded ring of recent lines (newest first, by session), and whole lines from
// concurrent writers.
#include "proxy/common/decision_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/unit/test_text.h"

namespace gatehouse::common {
namespace {

using std::chrono::system_clock;
using testing_text::printable;

// A strict RFC 8259 reader, just enough to check the log's lines: every line must be one
// complete JSON value, with no duplicate keys, and strings decode to what was logged.
struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  std::string text;  // kString: decoded (UTF-8); kNumber: as written; kBool: "true"/"false"
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;  // in order

  const JsonValue* find(std::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& m : members) out.push_back(m.first);
    return out;
  }
  std::string string(std::string_view key) const {
    const JsonValue* v = find(key);
    return v != nullptr && v->type == Type::kString ? v->text : "(missing)";
  }
};

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class JsonReader {
 public:
  // The one value `text` holds, or nullopt if it is anything else.
  static std::optional<JsonValue> parse(std::string_view text) {
    JsonReader r(text);
    JsonValue v;
    r.skipSpace();
    if (!r.value(v, 0)) return std::nullopt;
    r.skipSpace();
    if (r.pos_ != text.size()) return std::nullopt;
    return v;
  }

 private:
  explicit JsonReader(std::string_view text) : s_(text) {}

  bool value(JsonValue& v, int depth) {
    if (depth > 32 || pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type = JsonValue::Type::kString;
      return string(v.text);
    }
    if (literal("true") || literal("false")) {
      v.type = JsonValue::Type::kBool;
      v.text = s_[pos_ - 1] == 'e' && s_[pos_ - 2] == 'u' ? "true" : "false";
      return true;
    }
    if (literal("null")) {
      v.type = JsonValue::Type::kNull;
      return true;
    }
    return number(v);
  }

  bool object(JsonValue& v, int depth) {
    v.type = JsonValue::Type::kObject;
    ++pos_;
    skipSpace();
    if (peek('}')) return ++pos_, true;
    while (true) {
      skipSpace();
      std::string key;
      if (!peek('"') || !string(key)) return false;
      if (v.find(key) != nullptr) return false;  // a duplicate key: a forged field
      skipSpace();
      if (!peek(':')) return false;
      ++pos_;
      skipSpace();
      JsonValue member;
      if (!value(member, depth + 1)) return false;
      v.members.emplace_back(std::move(key), std::move(member));
      skipSpace();
      if (peek('}')) return ++pos_, true;
      if (!peek(',')) return false;
      ++pos_;
    }
  }

  bool array(JsonValue& v, int depth) {
    v.type = JsonValue::Type::kArray;
    ++pos_;
    skipSpace();
    if (peek(']')) return ++pos_, true;
    while (true) {
      skipSpace();
      JsonValue item;
      if (!value(item, depth + 1)) return false;
      v.items.push_back(std::move(item));
      skipSpace();
      if (peek(']')) return ++pos_, true;
      if (!peek(',')) return false;
      ++pos_;
    }
  }

  bool string(std::string& out) {
    ++pos_;  // the opening quote
    while (pos_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // raw control characters are not allowed in strings
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return false;
          uint32_t cp = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') {
              cp |= static_cast<uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              cp |= static_cast<uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              cp |= static_cast<uint32_t>(h - 'A' + 10);
            } else {
              return false;
            }
          }
          if (cp >= 0xd800 && cp <= 0xdfff) return false;  // the log never writes surrogates
          appendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;  // unterminated
  }

  bool number(JsonValue& v) {
    const size_t start = pos_;
    if (peek('-')) ++pos_;
    if (peek('0')) {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (peek('.')) {
      ++pos_;
      if (!digits()) return false;
    }
    if (peek('e') || peek('E')) {
      ++pos_;
      if (peek('+') || peek('-')) ++pos_;
      if (!digits()) return false;
    }
    v.type = JsonValue::Type::kNumber;
    v.text = std::string(s_.substr(start, pos_ - start));
    return true;
  }

  bool digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

TEST(JsonReaderSelfCheck, AcceptsJsonAndRefusesTheRest) {
  EXPECT_TRUE(JsonReader::parse(R"({"a":[1,-2.5e3,true,false,null,"x\u00e9\n"],"b":{}})"));
  EXPECT_EQ(JsonReader::parse(R"({"s":"caf\u00e9"})")->string("s"), "caf\xc3\xa9");
  for (const char* bad : {"", "{", "{}}", "{} {}", R"({"a":1,"a":2})", "{\"a\":\"\n\"}",
                          R"({"a":01})", R"({"a":1,})", R"({'a':1})", R"({"a":"\x"})"}) {
    EXPECT_FALSE(JsonReader::parse(bad)) << printable(bad);
  }
}

// 2024-01-02T03:04:05.678Z
system_clock::time_point fixedTime() {
  return system_clock::from_time_t(1704164645) + std::chrono::milliseconds(678);
}

DecisionRecord baseRecord() {
  DecisionRecord r;
  r.time = fixedTime();
  r.kind = "connect";
  r.client = "10.0.0.1:40000";
  r.session = "sbx-1";
  r.environment = "web-dev@3f2a";
  r.method = "CONNECT";
  r.host = "api.example.test";
  r.port = 443;
  r.decision = "allow";
  r.reason = "allow-listed";
  r.rule = "domains:**.example.test";
  r.status = 200;
  r.bytes_up = 10;
  r.bytes_down = 20;
  r.duration_ms = 12.25;
  return r;
}

// Each byte of `raw` as the code point of the same value, in UTF-8: what a JSON reader decodes
// from jsonEscape()'s \u00XX escapes of non-ASCII bytes.
std::string latin1ToUtf8(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) appendUtf8(out, c);
  return out;
}

bool printableAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// ---- formatting ---------------------------------------------------------------------------

TEST(FormatDecision, TheWholeLine) {
  EXPECT_EQ(formatDecision(baseRecord()),
            R"({"time":"2024-01-02T03:04:05.678Z","kind":"connect","client":"10.0.0.1:40000",)"
            R"("session":"sbx-1","environment":"web-dev@3f2a","method":"CONNECT",)"
            R"("host":"api.example.test","port":443,"decision":"allow","reason":"allow-listed",)"
            R"("rule":"domains:**.example.test","status":200,"bytes_up":10,"bytes_down":20,)"
            R"("duration_ms":12.250})"
            "\n");
}

TEST(FormatDecision, EveryOptionalField) {
  DecisionRecord r = baseRecord();
  r.labels = {"team=web", "ticket:42"};
  r.sni = "api.example.test";
  r.mode = "report";
  r.shadow_environment = "strict@9c1d";
  r.shadow_decision = "deny";
  r.shadow_reason = "host-not-allowed";
  EXPECT_EQ(
      formatDecision(r),
      R"({"time":"2024-01-02T03:04:05.678Z","kind":"connect","client":"10.0.0.1:40000",)"
      R"("session":"sbx-1","labels":["team=web","ticket:42"],"environment":"web-dev@3f2a",)"
      R"("method":"CONNECT","host":"api.example.test","port":443,"decision":"allow",)"
      R"("reason":"allow-listed","rule":"domains:**.example.test","status":200,)"
      R"("sni":"api.example.test","mode":"report",)"
      R"("shadow":{"environment":"strict@9c1d","decision":"deny","reason":"host-not-allowed"},)"
      R"("bytes_up":10,"bytes_down":20,"duration_ms":12.250})"
      "\n");
}

struct OptionalRow {
  const char* reason;
  void (*set)(DecisionRecord&);
  std::vector<std::string> keys;  // every key of the line, in order
};
void PrintTo(const OptionalRow& row, std::ostream* os) { *os << row.reason; }

const std::vector<std::string> kBaseKeys = {
    "time",     "kind",   "client", "session", "environment", "method",     "host",       "port",
    "decision", "reason", "rule",   "status",  "bytes_up",    "bytes_down", "duration_ms"};

std::vector<std::string> keysWith(const std::string& after, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string& k : kBaseKeys) {
    out.push_back(k);
    if (k == after) out.push_back(key);
  }
  return out;
}

class FormatDecisionOptionalTest : public ::testing::TestWithParam<OptionalRow> {};

TEST_P(FormatDecisionOptionalTest, PresentOnlyWhenSet) {
  DecisionRecord r = baseRecord();
  GetParam().set(r);
  const std::string line = formatDecision(r);
  std::optional<JsonValue> v = JsonReader::parse(line);
  ASSERT_TRUE(v) << line;
  EXPECT_EQ(v->keys(), GetParam().keys) << line;
}

const OptionalRow kOptionalRows[] = {
    {"nothing optional", [](DecisionRecord&) {}, kBaseKeys},
    {"labels", [](DecisionRecord& r) { r.labels = {"a"}; }, keysWith("session", "labels")},
    {"empty labels vector", [](DecisionRecord& r) { r.labels.clear(); }, kBaseKeys},
    {"sni", [](DecisionRecord& r) { r.sni = "x.test"; }, keysWith("status", "sni")},
    {"mode", [](DecisionRecord& r) { r.mode = "report"; }, keysWith("status", "mode")},
    {"shadow", [](DecisionRecord& r) { r.shadow_environment = "s@1"; },
     keysWith("status", "shadow")},
    {"shadow decision without an environment",
     [](DecisionRecord& r) {
       r.shadow_decision = "deny";
       r.shadow_reason = "host-not-allowed";
     },
     kBaseKeys},
};

INSTANTIATE_TEST_SUITE_P(Rows, FormatDecisionOptionalTest, ::testing::ValuesIn(kOptionalRows),
                         [](const ::testing::TestParamInfo<OptionalRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

TEST(FormatDecision, ShadowAndLabelsParse) {
  DecisionRecord r = baseRecord();
  r.labels = {"team=web", "ticket:42"};
  r.shadow_environment = "strict@9c1d";
  r.shadow_decision = "deny";
  r.shadow_reason = "host-not-allowed";
  std::optional<JsonValue> v = JsonReader::parse(formatDecision(r));
  ASSERT_TRUE(v);
  const JsonValue* labels = v->find("labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->type, JsonValue::Type::kArray);
  ASSERT_EQ(labels->items.size(), 2u);
  EXPECT_EQ(labels->items[0].text, "team=web");
  EXPECT_EQ(labels->items[1].text, "ticket:42");
  const JsonValue* shadow = v->find("shadow");
  ASSERT_NE(shadow, nullptr);
  ASSERT_EQ(shadow->type, JsonValue::Type::kObject);
  EXPECT_EQ(shadow->keys(), (std::vector<std::string>{"environment", "decision", "reason"}));
  EXPECT_EQ(shadow->string("environment"), "strict@9c1d");
  EXPECT_EQ(shadow->string("decision"), "deny");
  EXPECT_EQ(shadow->string("reason"), "host-not-allowed");
  EXPECT_EQ(v->find("port")->text, "443");
  EXPECT_EQ(v->find("status")->type, JsonValue::Type::kNumber);
  EXPECT_EQ(v->find("duration_ms")->text, "12.250");
}

TEST(FormatDecision, Numbers) {
  DecisionRecord r = baseRecord();
  r.port = 65535;
  r.status = 0;
  r.bytes_up = UINT64_MAX;
  r.bytes_down = 0;
  r.duration_ms = 0;
  r.time = system_clock::from_time_t(0);
  std::optional<JsonValue> v = JsonReader::parse(formatDecision(r));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->find("port")->text, "65535");
  EXPECT_EQ(v->find("status")->text, "0");
  EXPECT_EQ(v->find("bytes_up")->text, "18446744073709551615");
  EXPECT_EQ(v->find("duration_ms")->text, "0.000");
  EXPECT_EQ(v->string("time"), "1970-01-01T00:00:00.000Z");
}

// ---- escaping -----------------------------------------------------------------------------

struct EscapeRow {
  const char* reason;
  std::string raw;
  std::string escaped;
};
void PrintTo(const EscapeRow& row, std::ostream* os) { *os << row.reason; }

class JsonEscapeTest : public ::testing::TestWithParam<EscapeRow> {};

TEST_P(JsonEscapeTest, Escapes) {
  const EscapeRow& row = GetParam();
  EXPECT_EQ(jsonEscape(row.raw), row.escaped) << printable(row.raw);
  // As a JSON string it reads back as the raw bytes, each non-ASCII one as its own code point.
  std::optional<JsonValue> v = JsonReader::parse("\"" + row.escaped + "\"");
  ASSERT_TRUE(v) << row.escaped;
  EXPECT_EQ(v->text, latin1ToUtf8(row.raw));
}

const EscapeRow kEscapeRows[] = {
    {"plain", "api.example.test", "api.example.test"},
    {"empty", "", ""},
    {"quote", "a\"b", "a\\\"b"},
    {"backslash", "a\\b", "a\\\\b"},
    {"newline", "a\nb", "a\\nb"},
    {"carriage return", "a\rb", "a\\rb"},
    {"tab", "a\tb", "a\\tb"},
    {"NUL", std::string("a\0b", 3), "a\\u0000b"},
    {"SOH", "\x01", "\\u0001"},
    {"backspace", "\b", "\\u0008"},
    {"form feed", "\f", "\\u000c"},
    {"escape", "\x1b[31m", "\\u001b[31m"},
    {"unit separator", "\x1f", "\\u001f"},
    {"DEL", "\x7f", "\\u007f"},
    {"UTF-8 e-acute", "caf\xc3\xa9", "caf\\u00c3\\u00a9"},
    {"line separator U+2028", "\xe2\x80\xa8", "\\u00e2\\u0080\\u00a8"},
    {"invalid UTF-8", "\xff\xfe", "\\u00ff\\u00fe"},
    {"slash is left alone", "</script>", "</script>"},
    {"forged field", "x\",\"decision\":\"allow", "x\\\",\\\"decision\\\":\\\"allow"},
    {"forged line", "x\"}\n{\"kind\":\"http", "x\\\"}\\n{\\\"kind\\\":\\\"http"},
    {"printable ASCII untouched", " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~",
     " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"},
};

INSTANTIATE_TEST_SUITE_P(Rows, JsonEscapeTest, ::testing::ValuesIn(kEscapeRows),
                         [](const ::testing::TestParamInfo<EscapeRow>& param_info) {
                           return testing_text::paramName(param_info.param.reason,
                                                          param_info.index);
                         });

// Every string field, with a value that tries to end the line and forge fields: the line stays
// one object of printable ASCII with exactly the expected keys, and the value reads back.
struct FieldRow {
  const char* field;
  std::string* (*member)(DecisionRecord&);
  const char* key;  // the key that holds it
  bool in_shadow;   // under "shadow"
};
void PrintTo(const FieldRow& row, std::ostream* os) { *os << row.field; }

const std::string kHostile =
    std::string("x\"}\n{\"forged\":\"1\\\r\t\x01\x1b\x7f caf\xc3\xa9 \xff\0end", 29);

class FormatDecisionHostileTest : public ::testing::TestWithParam<FieldRow> {};

TEST_P(FormatDecisionHostileTest, StaysOneLine) {
  const FieldRow& row = GetParam();
  DecisionRecord r = baseRecord();
  r.shadow_environment = "strict@9c1d";  // so the shadow fields are written
  r.shadow_decision = "deny";
  r.shadow_reason = "host-not-allowed";
  r.sni = "sni.test";
  r.mode = "report";
  *row.member(r) = kHostile;
  const std::string line = formatDecision(r);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  const std::string body = line.substr(0, line.size() - 1);
  EXPECT_TRUE(printableAscii(body)) << printable(body);
  std::optional<JsonValue> v = JsonReader::parse(body);
  ASSERT_TRUE(v) << printable(body);
  EXPECT_EQ(v->find("forged"), nullptr);
  EXPECT_EQ(v->members.size(), kBaseKeys.size() + 3) << printable(body);  // sni, mode, shadow
  const JsonValue* holder = row.in_shadow ? v->find("shadow") : &*v;
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->string(row.key), latin1ToUtf8(kHostile)) << printable(body);
}

TEST(FormatDecision, HostileLabels) {
  DecisionRecord r = baseRecord();
  r.labels = {kHostile, "\"]", ""};
  const std::string line = formatDecision(r);
  EXPECT_TRUE(printableAscii(line.substr(0, line.size() - 1))) << printable(line);
  std::optional<JsonValue> v = JsonReader::parse(line);
  ASSERT_TRUE(v) << printable(line);
  const JsonValue* labels = v->find("labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->items.size(), 3u);
  EXPECT_EQ(labels->items[0].text, latin1ToUtf8(kHostile));
  EXPECT_EQ(labels->items[1].text, "\"]");
  EXPECT_EQ(labels->items[2].text, "");
}

const FieldRow kFieldRows[] = {
    {"kind", [](DecisionRecord& r) { return &r.kind; }, "kind", false},
    {"client", [](DecisionRecord& r) { return &r.client; }, "client", false},
    {"session", [](DecisionRecord& r) { return &r.session; }, "session", false},
    {"environment", [](DecisionRecord& r) { return &r.environment; }, "environment", false},
    {"method", [](DecisionRecord& r) { return &r.method; }, "method", false},
    {"host", [](DecisionRecord& r) { return &r.host; }, "host", false},
    {"decision", [](DecisionRecord& r) { return &r.decision; }, "decision", false},
    {"reason", [](DecisionRecord& r) { return &r.reason; }, "reason", false},
    {"rule", [](DecisionRecord& r) { return &r.rule; }, "rule", false},
    {"sni", [](DecisionRecord& r) { return &r.sni; }, "sni", false},
    {"mode", [](DecisionRecord& r) { return &r.mode; }, "mode", false},
    {"shadow environment", [](DecisionRecord& r) { return &r.shadow_environment; }, "environment",
     true},
    {"shadow decision", [](DecisionRecord& r) { return &r.shadow_decision; }, "decision", true},
    {"shadow reason", [](DecisionRecord& r) { return &r.shadow_reason; }, "reason", true},
};

INSTANTIATE_TEST_SUITE_P(Fields, FormatDecisionHostileTest, ::testing::ValuesIn(kFieldRows),
                         [](const ::testing::TestParamInfo<FieldRow>& param_info) {
                           return testing_text::paramName(param_info.param.field, param_info.index);
                         });

// ---- the ring of recent lines -------------------------------------------------------------

DecisionRecord recordFor(const std::string& session, const std::string& host) {
  DecisionRecord r = baseRecord();
  r.session = session;
  r.host = host;
  return r;
}

std::vector<std::string> hostsOf(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    std::optional<JsonValue> v = JsonReader::parse(line);
    EXPECT_TRUE(v) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    out.push_back(v ? v->string("host") : "(unparsable)");
  }
  return out;
}

using Hosts = std::vector<std::string>;

TEST(DecisionLogRing, KeepsTheLastNNewestFirst) {
  DecisionLog log(nullptr, false, 3);
  EXPECT_TRUE(log.enabled());
  EXPECT_EQ(log.recentCapacity(), 3u);
  EXPECT_TRUE(log.recent("", 10).empty());
  for (int i = 0; i < 5; ++i) log.write(recordFor("s", "h" + std::to_string(i)));
  EXPECT_EQ(hostsOf(log.recent("", 10)), (Hosts{"h4", "h3", "h2"}));
  EXPECT_EQ(hostsOf(log.recent("", 2)), (Hosts{"h4", "h3"}));
  EXPECT_TRUE(log.recent("", 0).empty());
  // The lines are what formatDecision writes, without the newline.
  std::string expected = formatDecision(recordFor("s", "h4"));
  expected.pop_back();
  EXPECT_EQ(log.recent("", 1).front(), expected);
}

TEST(DecisionLogRing, FiltersBySession) {
  DecisionLog log(nullptr, false, 10);
  const char* sessions[] = {"a", "b", "a", "", "b", "a", "ab"};
  for (size_t i = 0; i < std::size(sessions); ++i) {
    log.write(recordFor(sessions[i], "h" + std::to_string(i)));
  }
  EXPECT_EQ(hostsOf(log.recent("a", 10)), (Hosts{"h5", "h2", "h0"}));
  EXPECT_EQ(hostsOf(log.recent("a", 2)), (Hosts{"h5", "h2"}));
  EXPECT_EQ(hostsOf(log.recent("b", 1)), (Hosts{"h4"}));
  EXPECT_EQ(hostsOf(log.recent("ab", 10)), (Hosts{"h6"}));
  EXPECT_TRUE(log.recent("c", 10).empty());
  EXPECT_TRUE(log.recent("A", 10).empty());  // exact match
  EXPECT_EQ(log.recent("", 100).size(), std::size(sessions));
  EXPECT_TRUE(log.recent("a", 0).empty());
}

TEST(DecisionLogRing, OldLinesOfASessionAgeOut) {
  DecisionLog log(nullptr, false, 4);
  log.write(recordFor("a", "old"));
  for (int i = 0; i < 4; ++i) log.write(recordFor("b", "b" + std::to_string(i)));
  EXPECT_TRUE(log.recent("a", 10).empty());
  EXPECT_EQ(log.recent("b", 10).size(), 4u);
}

TEST(DecisionLog, DisabledWithoutFileAndRing) {
  DecisionLog log(nullptr, false, 0);
  EXPECT_FALSE(log.enabled());
  EXPECT_EQ(log.recentCapacity(), 0u);
  log.write(baseRecord());
  EXPECT_TRUE(log.recent("", 10).empty());
  EXPECT_TRUE(log.recent("sbx-1", 10).empty());
}

TEST(DecisionLog, WritesWholeLinesToTheFile) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    DecisionLog log(f, /*owned=*/false, 0);
    EXPECT_TRUE(log.enabled());
    log.write(recordFor("a", "one.test"));
    log.write(recordFor("b", "two.test"));
    EXPECT_TRUE(log.recent("", 10).empty());  // no ring
  }
  std::rewind(f);
  std::string content;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) content.append(buf, n);
  std::fclose(f);
  EXPECT_EQ(content, formatDecision(recordFor("a", "one.test")) +
                         formatDecision(recordFor("b", "two.test")));
}

// ---- concurrent writers -------------------------------------------------------------------

TEST(DecisionLog, ConcurrentWritersNeverInterleave) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  constexpr size_t kRing = 64;
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::vector<std::string> recent;
  {
    DecisionLog log(f, /*owned=*/false, kRing);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        DecisionRecord r = baseRecord();
        r.session = "t" + std::to_string(t);
        // Long values make a torn write likely if lines were not written whole.
        r.rule = std::string(2000, static_cast<char>('a' + t)) + "\"\n";
        for (int i = 0; i < kPerThread; ++i) {
          r.host = std::to_string(i) + ".t" + std::to_string(t) + ".test";
          log.write(r);
        }
      });
    }
    for (std::thread& th : threads) th.join();
    recent = log.recent("", 1000);
  }

  std::rewind(f);
  std::string content;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) content.append(buf, n);
  std::fclose(f);
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');

  std::vector<int> next(kThreads, 0);  // per thread, the sequence number expected next
  size_t lines = 0;
  size_t start = 0;
  while (start < content.size()) {
    const size_t end = content.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = content.substr(start, end - start);
    start = end + 1;
    ++lines;
    std::optional<JsonValue> v = JsonReader::parse(line);
    ASSERT_TRUE(v) << "line " << lines << " is not one JSON object: " << line.substr(0, 200);
    const std::string session = v->string("session");
    ASSERT_EQ(session.size(), 2u) << session;
    const int t = session[1] - '0';
    ASSERT_TRUE(t >= 0 && t < kThreads) << session;
    EXPECT_EQ(v->string("rule"), std::string(2000, static_cast<char>('a' + t)) + "\"\n");
    // A thread's lines appear in the order it wrote them, none lost or doubled.
    EXPECT_EQ(v->string("host"),
              std::to_string(next[static_cast<size_t>(t)]) + ".t" + std::to_string(t) + ".test");
    ++next[static_cast<size_t>(t)];
  }
  EXPECT_EQ(lines, static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[static_cast<size_t>(t)], kPerThread) << t;

  ASSERT_EQ(recent.size(), kRing);
  std::set<std::string> distinct;
  for (const std::string& line : recent) {
    std::optional<JsonValue> v = JsonReader::parse(line);
    ASSERT_TRUE(v) << line.substr(0, 200);
    distinct.insert(v->string("host"));
  }
  EXPECT_EQ(distinct.size(), kRing);
}

}  // namespace
}  // namespace gatehouse::common

// ---- sampling of denial storms ----------------------------------------------------------------

namespace gatehouse::common {
namespace {

std::vector<std::string> fileLines(std::FILE* f) {
  std::rewind(f);
  std::string content;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) content.append(buf, n);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(content.substr(start, nl - start));
  }
  return lines;
}

DecisionRecord withDecision(const std::string& decision, const std::string& host) {
  DecisionRecord r = recordFor("", host);
  r.decision = decision;
  return r;
}

TEST(DecisionLogSampling, ADenialStormIsCutAndCounted) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::chrono::steady_clock::time_point now{std::chrono::seconds(100)};
  {
    DecisionLog log(f, /*owned=*/false, /*recent=*/1000, /*denied_per_second=*/3,
                    [&] { return now; });
    for (int i = 0; i < 10; ++i) log.write(withDecision("deny", "d" + std::to_string(i)));
    // Allowed lines are never dropped, even inside a storm; the summary comes first.
    log.write(withDecision("allow", "a1"));
    EXPECT_EQ(log.droppedDenials(), 7u);
    now += std::chrono::milliseconds(1001);  // a new second: three more denials may pass
    for (int i = 10; i < 14; ++i) log.write(withDecision("deny", "d" + std::to_string(i)));
    EXPECT_EQ(log.droppedDenials(), 8u);
    // The ring keeps everything (it is bounded by itself).
    EXPECT_EQ(log.recent("", 1000).size(), 15u);
  }  // the destructor writes the last summary
  const std::vector<std::string> lines = fileLines(f);
  std::fclose(f);
  std::vector<std::string> what;
  for (const std::string& line : lines) {
    std::optional<JsonValue> v = JsonReader::parse(line);
    ASSERT_TRUE(v) << line;
    if (v->string("kind") == "log") {
      const JsonValue* dropped = v->find("dropped_denials");
      ASSERT_NE(dropped, nullptr) << line;
      what.push_back("dropped " + dropped->text);
    } else {
      what.push_back(v->string("decision") + " " + v->string("host"));
    }
  }
  EXPECT_EQ(what,
            (std::vector<std::string>{"deny d0", "deny d1", "deny d2", "dropped 7", "allow a1",
                                      "deny d10", "deny d11", "deny d12", "dropped 1"}));
}

TEST(DecisionLogSampling, ZeroWritesEveryDenial) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    DecisionLog log(f, false, 0, 0);
    for (int i = 0; i < 500; ++i) log.write(withDecision("deny", "d"));
    EXPECT_EQ(log.droppedDenials(), 0u);
  }
  EXPECT_EQ(fileLines(f).size(), 500u);
  std::fclose(f);
}

}  // namespace
}  // namespace gatehouse::common
