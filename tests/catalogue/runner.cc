// Case execution: the standard exchange of refuse()/forward() rows, the Ctx helpers and the
// checks every case gets after the run.
#include <algorithm>

#include "tests/catalogue/catalogue.h"

namespace gatehouse::catalogue {

std::string Ctx::path(std::string_view suffix) const {
  return "/cat/" + std::to_string(tag) + std::string(suffix);
}

std::string Ctx::expand(std::string_view tmpl) const {
  const std::string p = std::to_string(world.sinkPort());
  const std::pair<std::string_view, std::string> keys[] = {
      {"{A}", "allowed.test:" + p},
      {"{P}", p},
      {"{Q}", std::to_string(world.echoPort())},
      {"{C}", std::to_string(world.closedPort())},
      {"{M}", std::to_string(world.rig(Profile::kMain).proxy != nullptr
                                 ? world.rig(Profile::kMain).proxy->adminPort()
                                 : 0)},
      {"{T}", path()},
      {"{N}", std::to_string(tag)},
      {"{U}", "u" + std::to_string(tag)},
      {"{X}", std::to_string(world.rig(c.profile).proxy != nullptr ? proxyPort() : 0)},
  };
  std::string out;
  out.reserve(tmpl.size() + 64);
  for (size_t i = 0; i < tmpl.size();) {
    bool replaced = false;
    if (tmpl[i] == '{') {
      for (const auto& [key, value] : keys) {
        if (tmpl.substr(i, key.size()) == key) {
          out += value;
          i += key.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += tmpl[i++];
  }
  return out;
}

std::string Ctx::followUp() const {
  const std::string a = "allowed.test:" + std::to_string(world.sinkPort());
  return "GET http://" + a + path("/after") + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n";
}

uint16_t Ctx::proxyPort() const { return world.rig(c.profile).proxy->port(); }

std::unique_ptr<RawClient> Ctx::connect() {
  std::string error;
  auto client = RawClient::connect("127.0.0.1", proxyPort(), &error);
  if (client == nullptr) fail("cannot connect to the proxy: " + error);
  return client;
}

void Ctx::fail(std::string what) { failures.push_back(std::move(what)); }

Ctx::Exchange Ctx::exchangeUntilClose(const std::string& bytes, milliseconds timeout,
                                      bool no_body) {
  Exchange ex;
  auto client = connect();
  if (client == nullptr) return ex;
  if (sent.empty()) sent = bytes;
  client->send(bytes);
  ex.raw = client->readUntilClose(timeout);
  ex.closed = client->closed();
  ex.responses = parseResponses(ex.raw, ex.closed, no_body, &ex.leftover);
  saw(ex.raw);
  return ex;
}

std::vector<SinkRecord> Ctx::sinkRecords() const { return world.sink().recordsFor(tag); }

std::vector<SinkRecord> Ctx::sinkRecords(std::string_view suffix) const {
  std::vector<SinkRecord> out;
  for (SinkRecord& r : world.sink().recordsFor(tag)) {
    if (r.suffix == suffix) out.push_back(std::move(r));
  }
  return out;
}

std::vector<SinkRecord> Ctx::echoRecords() const { return world.echo().recordsFor(tag); }

void Ctx::noDns(std::string name) { extra_no_dns.push_back(std::move(name)); }

void Ctx::saw(std::string_view bytes) {
  if (c.profile == Profile::kGit || c.profile == Profile::kGitRedirect) world.saw(bytes);
}

// ---- builders --------------------------------------------------------------------------------

Case refuse(std::string id, std::string why, std::string bytes, int status) {
  Case c;
  c.id = std::move(id);
  c.why = std::move(why);
  c.bytes = std::move(bytes);
  c.statuses = {status};
  return c;
}

Case forward(std::string id, std::string why, std::string bytes, Check check) {
  Case c;
  c.id = std::move(id);
  c.why = std::move(why);
  c.bytes = std::move(bytes);
  c.statuses = {200, 200};
  c.closed = false;
  c.upstream = 1;
  c.upstream_after = 1;
  c.check = std::move(check);
  return c;
}

Case custom(std::string id, std::string why, std::function<void(Ctx&)> fn) {
  Case c;
  c.id = std::move(id);
  c.why = std::move(why);
  c.custom = std::move(fn);
  c.upstream = -1;
  c.follow = false;
  return c;
}

Check hasHeader(std::string name, std::string value_template) {
  return [name, value_template](const SinkRecord& r, const Ctx& ctx) -> std::string {
    const std::string value = ctx.expand(value_template);
    if (r.request.count(name) != 1) {
      return "upstream: expected one " + name + ", got " + std::to_string(r.request.count(name));
    }
    if (r.request.header(name) != value) {
      return "upstream: expected " + name + ": " + value + ", got " +
             escapeBytes(r.request.header(name));
    }
    return "";
  };
}

Check lacksHeader(std::string name) {
  return [name](const SinkRecord& r, const Ctx&) -> std::string {
    if (r.request.count(name) == 0) return "";
    return "upstream: expected no " + name + ", got " + escapeBytes(r.request.header(name));
  };
}

Check bodyIs(std::string body) {
  return [body](const SinkRecord& r, const Ctx&) -> std::string {
    if (r.request.body == body) return "";
    return "upstream body: expected \"" + escapeBytes(body) + "\", got \"" +
           escapeBytes(r.request.body) + "\"";
  };
}

Check all(std::vector<Check> checks) {
  return [checks](const SinkRecord& r, const Ctx& ctx) -> std::string {
    std::string out;
    for (const auto& c : checks) {
      const std::string e = c(r, ctx);
      if (!e.empty()) out += (out.empty() ? "" : "; ") + e;
    }
    return out;
  };
}

// ---- the standard exchange -------------------------------------------------------------------

namespace {

std::string statusList(const std::vector<HttpResponse>& rs) {
  std::string out = "[";
  for (size_t i = 0; i < rs.size(); ++i) out += (i ? ", " : "") + std::to_string(rs[i].status);
  return out + "]";
}

std::string statusList(const std::vector<int>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void runCase(Ctx& ctx) {
  const Case& c = ctx.c;
  if (c.custom) {
    c.custom(ctx);
    return;
  }
  std::string bytes = ctx.expand(c.bytes);
  if (c.follow) bytes += ctx.followUp();
  ctx.sent = bytes;
  std::vector<HttpResponse> responses;
  std::string leftover;
  bool closed = false;
  if (c.closed) {
    Ctx::Exchange ex = ctx.exchangeUntilClose(bytes, milliseconds(3000), c.no_body);
    responses = std::move(ex.responses);
    leftover = std::move(ex.leftover);
    closed = ex.closed;
  } else {
    auto client = ctx.connect();
    if (client == nullptr) return;
    client->send(bytes);
    for (size_t i = 0; i < c.statuses.size(); ++i) {
      auto r = client->readResponse(milliseconds(3000), i == 0 && c.no_body);
      if (!r) break;
      ctx.saw(r->head + r->body);
      responses.push_back(std::move(*r));
    }
    leftover = client->buffered();
  }
  std::vector<int> got;
  for (const auto& r : responses) got.push_back(r.status);
  if (got != c.statuses) {
    std::string detail;
    if (!responses.empty()) {
      detail = " (first: " + escapeBytes(responses[0].head, 300) +
               escapeBytes(responses[0].body, 200) + ")";
    } else if (!leftover.empty()) {
      detail = " (unparsed: " + escapeBytes(leftover, 200) + ")";
    }
    ctx.fail("statuses: expected " + statusList(c.statuses) + ", actual " + statusList(responses) +
             detail);
  }
  if (c.closed) {
    ctx.expect(closed, "INV-CLOSE: expected the proxy to close the connection, it stayed open");
    ctx.expect(leftover.empty(), "INV-CLOSE: expected nothing after the last response, got " +
                                     escapeBytes(leftover, 200));
  } else {
    ctx.expect(leftover.empty(),
               "expected nothing after the responses, got " + escapeBytes(leftover, 200));
  }
  for (size_t i = 0; i < responses.size() && i < c.statuses.size(); ++i) {
    const HttpResponse& r = responses[i];
    if (r.status >= 400) {
      ctx.expect(!r.header("X-Gatehouse-Reason").empty(),
                 "refusal without X-Gatehouse-Reason: " + escapeBytes(r.head, 300));
      ctx.expect(r.header("Proxy-Status").find("error=") != std::string::npos,
                 "refusal without a Proxy-Status error: " + escapeBytes(r.head, 300));
      if (!c.reason.empty()) {
        ctx.expect(r.header("X-Gatehouse-Reason") == c.reason,
                   "reason: expected " + c.reason + ", actual " + r.header("X-Gatehouse-Reason"));
      }
      break;
    }
    // A 200 from the sink names the path it answered: responses come in request order.
    if (r.status == 200 && !(i == 0 && c.no_body) && r.body.rfind("ok ", 0) == 0) {
      const std::string want = i == 0 ? ctx.path() : ctx.path("/after");
      const std::string prefix = "ok " + want;
      const bool exact = r.body.rfind(prefix, 0) == 0 && r.body.size() > prefix.size() &&
                         (r.body[prefix.size()] == '\n' || r.body[prefix.size()] == '?');
      ctx.expect(exact, "response " + std::to_string(i + 1) + " answers another request: " +
                            escapeBytes(r.body, 200) + " (expected " + want + ")");
    }
  }
}

}  // namespace gatehouse::catalogue
