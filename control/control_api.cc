#include "control/control_api.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "control/explain_request.h"
#include "gitproxy/git_names.h"
#include "policy/explain.h"

namespace gatehouse::control {

namespace {

using Json = nlohmann::ordered_json;
using std::chrono::system_clock;

AdminResponse json(int status, const Json& body) {
  AdminResponse r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

AdminResponse error(int status, const std::string& message) {
  return json(status, Json{{"error", message}});
}

AdminResponse methodNotAllowed(const std::string& allow) {
  AdminResponse r = error(405, "method not allowed; allowed: " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::string rfc3339(system_clock::time_point t) {
  std::time_t secs = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

Json expiresJson(system_clock::time_point t) {
  if (t == system_clock::time_point::max()) return nullptr;
  return rfc3339(t);
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value; nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexDigit(s[i + 1]);
      int lo = hexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of `name` in a query string ("" when absent); nullopt when malformed.
std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return percentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return std::string();
}

Json issuesJson(const policy::ConfigIssues& issues) {
  Json out = Json::array();
  for (const policy::ConfigIssue& i : issues) {
    Json j{{"severity", i.severity == policy::ConfigIssue::Severity::kError ? "error" : "warning"},
           {"message", i.message}};
    if (i.pos.line > 0) j["at"] = i.pos.toString();
    if (!i.hint.empty()) j["hint"] = i.hint;
    out.push_back(std::move(j));
  }
  return out;
}

const char* listName(policy::ListTag tag) {
  switch (tag) {
    case policy::ListTag::kDeny:
      return "deny";
    case policy::ListTag::kAlwaysAllow:
      return "always_allow";
    case policy::ListTag::kAllow:
      return "allow";
  }
  return "allow";
}

Json environmentSummary(const policy::Environment& env) {
  Json j{{"name", env.name()},
         {"version", env.version()},
         {"tag", policy::environmentTag(env)},
         {"level", policy::accessLevelName(env.level())},
         {"mode", policy::environmentModeName(env.mode())}};
  j["shadow"] = env.shadow() != nullptr ? Json(env.shadow()->name()) : Json(nullptr);
  j["entries"] = env.rules().size();
  return j;
}

Json limitsConfigJson(const policy::LimitsConfig& c) {
  Json out = Json::object();
  for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
    if (c.values[i])
      out[std::string(policy::limitKeyName(static_cast<policy::LimitKey>(i)))] = *c.values[i];
  }
  return out;
}

Json optionalJson(const std::optional<uint64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json optionalJson(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

// The session's limits: its own overrides, what is in force (with its environment's), and the
// limiter's current usage.
Json limitsJson(const conn::SessionInfo& info, const policy::PolicySnapshot& policy) {
  const policy::Environment* env = policy.environment(info.environment);
  const policy::Limits limits = policy::resolveLimits(
      env != nullptr ? env->config().limits : policy::LimitsConfig{}, &info.limits);
  Json effective = Json::object();
  for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
    effective[std::string(policy::limitKeyName(static_cast<policy::LimitKey>(i)))] =
        limits.values[i];
  }
  Json out{{"overrides", limitsConfigJson(info.limits)}, {"effective", std::move(effective)}};
  if (info.state) {
    const common::SessionLimiter::Usage u =
        info.state->limiter().usage(common::monotonicNanos(), limits);
    Json hits = Json::object();
    for (size_t h = 1; h < common::kLimitHitCount; ++h) {
      hits[common::limitHitName(static_cast<common::LimitHit>(h))] = u.hits[h];
    }
    out["usage"] = Json{{"request_tokens", optionalJson(u.request_tokens)},
                        {"tunnel_tokens", optionalJson(u.tunnel_tokens)},
                        {"connections", u.connections},
                        {"tunnels", u.tunnels},
                        {"upload_bytes", u.upload_bytes},
                        {"download_bytes", u.download_bytes},
                        {"upload_remaining", optionalJson(u.upload_remaining)},
                        {"download_remaining", optionalJson(u.download_remaining)},
                        {"hits", std::move(hits)}};
  }
  return out;
}

Json sessionJson(const SessionView& v, system_clock::time_point now,
                 const policy::PolicySnapshot& policy) {
  const conn::SessionInfo& info = *v.info;
  Json j{{"id", info.id},
         {"environment", v.base_environment},
         {"effective_environment", info.environment}};
  if (const policy::Environment* env = policy.environment(info.environment)) {
    j["environment_tag"] = policy::environmentTag(*env);
  } else {
    j["environment_tag"] = nullptr;
  }
  j["domains"] = v.domains;
  j["labels"] = info.labels;
  Json clients = Json::array();
  for (const policy::Cidr& c : v.clients) clients.push_back(c.toString());
  j["clients"] = std::move(clients);
  j["dynamic"] = v.dynamic;
  j["authenticates_by"] = Json::array();
  if (!v.credential_sha256.empty()) j["authenticates_by"].push_back("proxy-authorization");
  if (!v.clients.empty()) j["authenticates_by"].push_back("client-address");
  if (v.dynamic) j["created"] = rfc3339(v.created);
  j["expires"] = expiresJson(info.expires);
  j["expired"] = now >= info.expires;
  j["limits"] = limitsJson(info, policy);
  if (v.git) {
    // What the binding allows; the token only as "set" or "missing", the credential never.
    j["git"] =
        Json{{"repos", v.git->repos},
             {"push_branch", v.git->push_branch.empty() ? Json(nullptr) : Json(v.git->push_branch)},
             {"extra_branches", v.git->extra_branches},
             {"token", v.git->token_set ? "set" : "missing"}};
  } else {
    j["git"] = nullptr;
  }
  return j;
}

// Reads an optional array of strings; false (with `error`) when it is not one.
bool readStrings(const Json& body, const char* key, size_t max,
                 std::optional<std::vector<std::string>>& out, std::string& error) {
  auto it = body.find(key);
  if (it == body.end()) return true;
  if (!it->is_array()) {
    error = std::string("'") + key + "' must be an array of strings";
    return false;
  }
  if (it->size() > max) {
    error = std::string("'") + key + "' has more than " + std::to_string(max) + " entries";
    return false;
  }
  std::vector<std::string> values;
  for (const Json& v : *it) {
    if (!v.is_string()) {
      error = std::string("'") + key + "' must be an array of strings";
      return false;
    }
    values.push_back(v.get<std::string>());
  }
  out = std::move(values);
  return true;
}

// A "git" object: the binding, and whether to issue a new credential (PATCH).
struct GitFields {
  GitBinding binding;
  bool rotate_credential = false;
};

// What POST and PATCH may set.
struct SessionFields {
  std::optional<std::string> environment;
  std::optional<std::vector<std::string>> domains;
  std::optional<std::vector<std::string>> labels;
  std::optional<std::vector<std::string>> clients;
  std::optional<int64_t> ttl_s;
  std::optional<policy::LimitsConfig> limits;
  // Set: "git" was given; nullopt inside: "git": null (no binding, or remove it).
  std::optional<std::optional<GitFields>> git;
};

// Overwrites the string values of a parsed body that may hold a secret.
void wipeStrings(Json& value) {
  if (value.is_string()) {
    std::string& s = value.get_ref<std::string&>();
    OPENSSL_cleanse(s.data(), s.size());
  } else if (value.is_structured()) {
    for (Json& v : value) wipeStrings(v);
  }
}

// Reads the "git" object into `out`; "" on success. Checks repos and branches with the rules
// (and the words) of the config loader's [sessions.git]. The token is read here, from the body
// or from token_file; no error message ever contains it.
std::string readGit(Json& git, GitFields& out) {
  constexpr std::string_view kFields =
      "repos, push_branch, extra_branches, token, token_file, rotate_credential";
  if (!git.is_object()) return "'git' must be an object (fields: " + std::string(kFields) + ")";
  for (const auto& [key, value] : git.items()) {
    if (key != "repos" && key != "push_branch" && key != "extra_branches" && key != "token" &&
        key != "token_file" && key != "rotate_credential") {
      return "unknown field 'git." + key + "'; fields of git: " + std::string(kFields);
    }
  }
  std::string err;
  std::optional<std::vector<std::string>> repos;
  if (!readStrings(git, "repos", ControlApi::kMaxGitRepos, repos, err)) return "git: " + err;
  if (!repos) return "'git.repos' is required: the repositories the session may reach";
  bool any_pushable = false;
  std::vector<std::string> seen;
  for (const std::string& repo : *repos) {
    bool pushable = false;
    if (std::optional<gitproxy::NameProblem> problem = gitproxy::checkRepoEntry(repo, &pushable)) {
      return "git repo '" + repo + "' " + problem->what + "; " + problem->hint;
    }
    // GitHub owner and repository names are case-insensitive.
    std::string key = gitproxy::asciiLower(std::string_view(repo).substr(0, repo.find(':')));
    if (key.ends_with(".git")) key.resize(key.size() - 4);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return "git repo '" + repo + "' is listed twice; keep one entry per repository";
    }
    seen.push_back(std::move(key));
    any_pushable = any_pushable || pushable;
  }
  out.binding.repos = std::move(*repos);
  if (auto it = git.find("push_branch"); it != git.end()) {
    if (!it->is_string()) return "'git.push_branch' must be a string";
    out.binding.push_branch = it->get<std::string>();
    if (std::optional<gitproxy::NameProblem> problem =
            gitproxy::checkBranchName(out.binding.push_branch)) {
      return "git push_branch '" + out.binding.push_branch + "' " + problem->what + "; " +
             problem->hint;
    }
  }
  if (any_pushable && out.binding.push_branch.empty()) {
    return "git has pushable repos but no push_branch; set push_branch to the branch this "
           "session may push, or mark the repos 'owner/repo:read'";
  }
  std::optional<std::vector<std::string>> extra;
  if (!readStrings(git, "extra_branches", ControlApi::kMaxGitBranches, extra, err)) {
    return "git: " + err;
  }
  for (const std::string& b : extra.value_or(std::vector<std::string>{})) {
    if (std::optional<gitproxy::NameProblem> problem = gitproxy::checkBranchName(b)) {
      return "git extra branch '" + b + "' " + problem->what + "; " + problem->hint;
    }
    if (b == out.binding.push_branch ||
        std::find(out.binding.extra_branches.begin(), out.binding.extra_branches.end(), b) !=
            out.binding.extra_branches.end()) {
      return "git branch '" + b + "' is listed twice; remove the duplicate from extra_branches";
    }
    out.binding.extra_branches.push_back(b);
  }
  if (auto it = git.find("rotate_credential"); it != git.end()) {
    if (!it->is_boolean()) return "'git.rotate_credential' must be true or false";
    out.rotate_credential = it->get<bool>();
  }
  auto token = git.find("token");
  auto token_file = git.find("token_file");
  if ((token == git.end()) == (token_file == git.end())) {
    return "git needs exactly one of 'token' (the real upstream token) and 'token_file' (a file "
           "holding it)";
  }
  if (token != git.end()) {
    if (!token->is_string()) return "'git.token' must be a string";
    std::string& text = token->get_ref<std::string&>();
    if (std::string problem = gitTokenProblem(text); !problem.empty()) {
      return "'git.token' " + problem;
    }
    out.binding.token = std::make_shared<const gitproxy::Secret>(text);
    return "";
  }
  if (!token_file->is_string() || token_file->get_ref<const std::string&>().empty()) {
    return "'git.token_file' must be a non-empty string (a path)";
  }
  const std::string path = token_file->get<std::string>();
  GitTokenFile file = readGitTokenFile(path);
  if (file.token == nullptr) {
    return "git token_file '" + path + "' " + file.problem + "; " + file.hint;
  }
  out.binding.token = std::move(file.token);
  return "";
}

// A "limits" object: limit keys with non-negative integers; "" on success.
std::string readLimits(const Json& value, policy::LimitsConfig& out) {
  if (!value.is_object()) return "'limits' must be an object of limit keys";
  for (const auto& [key, v] : value.items()) {
    std::optional<policy::LimitKey> k = policy::limitKeyByName(key);
    if (!k) {
      std::string names;
      for (size_t i = 0; i < policy::kLimitKeyCount; ++i) {
        names += (i == 0 ? "" : ", ") +
                 std::string(policy::limitKeyName(static_cast<policy::LimitKey>(i)));
      }
      return "unknown limit '" + key + "'; limits: " + names;
    }
    constexpr int64_t kMax = int64_t{1} << 53;
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMax) {
      return "limit '" + key + "' must be an integer from 0 (no limit) to 2^53";
    }
    if (*k == policy::LimitKey::kBudgetWindowSeconds && v.get<int64_t>() == 0) {
      return "limit 'budget_window_s' must be at least 1 (leave it out for 3600)";
    }
    out[*k] = static_cast<uint64_t>(v.get<int64_t>());
  }
  return "";
}

// Parses and checks a session body; "" on success, else the error.
std::string readSessionFields(const std::string& text, const policy::PolicySnapshot& policy,
                              SessionFields& out) {
  Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  // The body may carry the upstream token: no copy of it outlives this call.
  struct Wipe {
    Json& body;
    ~Wipe() { wipeStrings(body); }
  } wipe{body};
  if (body.is_discarded()) return "the body is not valid JSON";
  if (!body.is_object()) return "the body must be a JSON object";
  static const std::vector<std::string> kKeys = {"environment", "domains", "labels", "clients",
                                                 "ttl_s",       "limits",  "git"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return "unknown field '" + key +
             "'; fields: environment, domains, labels, clients, ttl_s, limits, git";
    }
  }
  if (auto it = body.find("environment"); it != body.end()) {
    if (!it->is_string()) return "'environment' must be a string";
    std::string name = it->get<std::string>();
    // Session environments ("session:<id>") belong to their session.
    if (name.find(':') != std::string::npos || policy.environment(name) == nullptr) {
      std::string names;
      for (const auto& e : policy.environments()) {
        if (e->name().find(':') != std::string::npos) continue;
        names += (names.empty() ? "" : ", ") + e->name();
      }
      return "no environment '" + name + "' (environments: " + names + ")";
    }
    out.environment = std::move(name);
  }
  std::string err;
  if (!readStrings(body, "domains", ControlApi::kMaxDomains, out.domains, err)) return err;
  if (!readStrings(body, "labels", ControlApi::kMaxLabels, out.labels, err)) return err;
  if (!readStrings(body, "clients", ControlApi::kMaxClients, out.clients, err)) return err;
  if (out.labels) {
    for (const std::string& l : *out.labels) {
      if (!isSessionLabel(l)) {
        return "a label must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '=', '/' and '-'";
      }
    }
  }
  if (out.clients) {
    for (const std::string& c : *out.clients) {
      if (!policy::Cidr::parse(c)) return "client '" + c + "' is not an address or CIDR";
    }
  }
  if (auto it = body.find("ttl_s"); it != body.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
        it->get<int64_t>() > ControlApi::kMaxTtlSeconds) {
      return "'ttl_s' must be an integer from 1 to " + std::to_string(ControlApi::kMaxTtlSeconds);
    }
    out.ttl_s = it->get<int64_t>();
  }
  if (auto it = body.find("limits"); it != body.end()) {
    policy::LimitsConfig limits;
    if (std::string e = readLimits(*it, limits); !e.empty()) return e;
    out.limits = limits;
  }
  if (auto it = body.find("git"); it != body.end()) {
    if (it->is_null()) {
      out.git.emplace(std::nullopt);
    } else {
      GitFields git;
      if (std::string e = readGit(*it, git); !e.empty()) return e;
      out.git.emplace(std::move(git));
    }
  }
  return "";
}

std::vector<policy::PatternEntry> patternEntries(const std::vector<std::string>& domains) {
  std::vector<policy::PatternEntry> out;
  out.reserve(domains.size());
  for (const std::string& d : domains) out.push_back(policy::PatternEntry{d, {}});
  return out;
}

AdminResponse compileError(const ControlPlane::Outcome& outcome) {
  Json body{{"error", "the session's domains do not compile; nothing changed"},
            {"issues", issuesJson(outcome.issues)}};
  return json(400, body);
}

}  // namespace

std::vector<SessionEnvironmentSpec> dynamicSessionEnvironments(const SessionStore& store) {
  std::vector<SessionEnvironmentSpec> specs;
  for (const SessionView& v : store.list()) {
    if (!v.dynamic || v.domains.empty()) continue;
    specs.push_back(
        SessionEnvironmentSpec{v.info->id, v.base_environment, patternEntries(v.domains), {}});
  }
  return specs;
}

bool loadAdminToken(const std::string& path, std::string& token, std::string& error,
                    std::string& warning) {
  token.clear();
  warning.clear();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = "[admin] token_file " + path + " cannot be read: " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
    warning = "[admin] token_file " + path + " is readable by other users; chmod 600 it";
  }
  // Room for the longest token and whitespace around it (echo's trailing newline at least).
  char buffer[8193];
  size_t n = std::fread(buffer, 1, sizeof buffer, f);
  std::fclose(f);
  std::string_view text(buffer, n);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (n == sizeof buffer || text.size() > 4096 || text.size() < 16 || !printable) {
    error = "[admin] token_file " + path +
            " must hold one token of 16 to 4096 printable characters (e.g. openssl rand -hex 32)";
    OPENSSL_cleanse(buffer, sizeof buffer);
    return false;
  }
  token.assign(text);
  OPENSSL_cleanse(buffer, sizeof buffer);
  return true;
}

void ControlApi::setToken(const std::string& token) {
  if (token.empty()) {
    token_.reset();
  } else {
    token_ = SessionStore::sha256(token);
  }
}

ControlApi::Auth ControlApi::authorize(const AdminRequest& request, bool changes_state) const {
  if (!token_) return changes_state ? Auth::kNoTokenConfigured : Auth::kOk;
  std::string_view value = request.authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return Auth::kMissing;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return Auth::kMissing;
  }
  std::string_view presented = value.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  Sha256 digest = SessionStore::sha256(presented);
  if (CRYPTO_memcmp(digest.data(), token_->data(), digest.size()) != 0) return Auth::kWrong;
  return Auth::kOk;
}

AdminResponse ControlApi::handle(const AdminRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  const bool read = method == "GET" || method == "HEAD";

  if (path == "/healthz") {
    if (!read) return methodNotAllowed("GET, HEAD");
    return json(200, Json{{"status", "ok"}});
  }
  if (path == "/readyz") {
    if (!read) return methodNotAllowed("GET, HEAD");
    if (!plane_.ready()) return json(503, Json{{"status", "not ready"}});
    return json(200, Json{{"status", "ready"}, {"generation", plane_.snapshot()->generation}});
  }
  if (path == "/metrics") {
    if (!read) return methodNotAllowed("GET, HEAD");
    return metrics();
  }
  if (path.rfind("/v1/", 0) != 0) return error(404, "no such endpoint");

  // Which route, and whether the call changes state (decides the authorization).
  const std::string rest = path.substr(4);
  const bool explain_call = rest == "explain";  // a POST that changes nothing
  const bool changes_state = !read && !explain_call;
  switch (authorize(request, changes_state)) {
    case Auth::kOk:
      break;
    case Auth::kMissing: {
      AdminResponse r = error(401, "this call needs Authorization: Bearer <token>");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"gatehouse-admin\"");
      return r;
    }
    case Auth::kWrong: {
      AdminResponse r = error(401, "the bearer token is not valid");
      r.headers.emplace_back("WWW-Authenticate",
                             "Bearer realm=\"gatehouse-admin\", error=\"invalid_token\"");
      return r;
    }
    case Auth::kNoTokenConfigured:
      return error(403,
                   "the control API has no token, so it changes nothing: set [admin] token_file "
                   "to a file holding a bearer token");
  }

  if (rest == "environments") {
    if (!read) return methodNotAllowed("GET, HEAD");
    return environments();
  }
  if (rest.rfind("environments/", 0) == 0) {
    if (!read) return methodNotAllowed("GET, HEAD");
    return environment(rest.substr(13));
  }
  if (explain_call) {
    if (method != "POST") return methodNotAllowed("POST");
    return explain(request);
  }
  if (rest == "decisions") {
    if (!read) return methodNotAllowed("GET, HEAD");
    return decisions(request);
  }
  if (rest == "reload") {
    if (method != "POST") return methodNotAllowed("POST");
    return reload();
  }
  if (rest == "sessions") {
    if (read) return listSessions();
    if (method == "POST") return createSession(request);
    return methodNotAllowed("GET, HEAD, POST");
  }
  if (rest.rfind("sessions/", 0) == 0) {
    const std::string id = rest.substr(9);
    if (read) return getSession(id);
    if (method == "PATCH") return patchSession(id, request);
    if (method == "DELETE") return deleteSession(id);
    return methodNotAllowed("GET, HEAD, PATCH, DELETE");
  }
  return error(404, "no such endpoint");
}

AdminResponse ControlApi::metrics() {
  Metrics& m = plane_.metrics();
  m.sessionsActive().Set(static_cast<double>(plane_.sessions().activeCount(system_clock::now())));
  AdminResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = m.serialize();
  return r;
}

AdminResponse ControlApi::environments() {
  std::shared_ptr<const conn::ProxySnapshot> snap = plane_.snapshot();
  Json list = Json::array();
  for (const auto& env : snap->policy->environments()) list.push_back(environmentSummary(*env));
  return json(200, Json{{"generation", snap->generation},
                        {"trusted_list_version", snap->policy->trustedList().version},
                        {"environments", std::move(list)}});
}

AdminResponse ControlApi::environment(const std::string& name) {
  std::shared_ptr<const conn::ProxySnapshot> snap = plane_.snapshot();
  const policy::Environment* env = snap->policy->environment(name);
  if (env == nullptr) return error(404, "no such environment");
  Json j = environmentSummary(*env);
  j["generation"] = snap->generation;
  j["include_trusted"] = env->config().include_trusted;
  j["ports"] = env->config().ports;
  j["trusted_list_version"] = snap->policy->trustedList().version;
  Json lists{{"deny", Json::array()}, {"always_allow", Json::array()}, {"allow", Json::array()}};
  for (const policy::Rule& rule : env->rules()) {
    Json r{{"entry", rule.pattern.text}, {"rule", rule.id}, {"origin", rule.origin}};
    if (rule.pos.line > 0) r["at"] = rule.pos.toString();
    lists[listName(rule.list)].push_back(std::move(r));
  }
  j["lists"] = std::move(lists);
  return json(200, j);
}

AdminResponse ControlApi::explain(const AdminRequest& request) {
  Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return error(400, "the body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "session" && key != "environment" && key != "method" && key != "url") {
      return error(400, "unknown field '" + key + "'; fields: session, environment, method, url");
    }
    if (!value.is_string()) return error(400, "'" + key + "' must be a string");
  }
  if (!body.contains("url")) return error(400, "'url' is required (a URL or HOST[:PORT])");
  if (body.contains("session") && body.contains("environment")) {
    return error(400, "give 'session' or 'environment', not both");
  }
  std::shared_ptr<const conn::ProxySnapshot> snap = plane_.snapshot();
  ExplainQuery query;
  query.method = body.value("method", std::string("GET"));
  query.target = body["url"].get<std::string>();
  Json out = Json::object();
  if (body.contains("session")) {
    const std::string id = body["session"].get<std::string>();
    std::optional<SessionView> view = plane_.sessions().get(id);
    if (!view) return error(404, "no such session");
    out["session"] = id;
    if (system_clock::now() >= view->info->expires) {
      out["decision"] = "deny";
      out["reason"] = "session-expired";
      out["why"] = "the session has expired: the proxy answers 407";
      return json(200, out);
    }
    query.environment = view->info->environment;
  } else {
    query.environment = body.value("environment", std::string("default"));
  }
  const policy::Environment* env = snap->policy->environment(query.environment);
  if (env == nullptr) return error(404, "no such environment");

  ExplainResult v = explainRequest(*snap->policy, plane_.resolver(), query);
  out["environment"] = policy::environmentTag(*env);
  out["level"] = policy::accessLevelName(env->level());
  out["mode"] = policy::environmentModeName(env->mode());
  out["generation"] = snap->generation;
  if (v.malformed()) {
    out["decision"] = "deny";
    out["reason"] = "malformed-target";
    out["why"] = v.error;
    return json(200, out);
  }
  const policy::Decision& d = v.decision;
  out["decision"] = v.proxyAllows() ? "allow" : "deny";
  out["policy_decision"] = policy::verdictName(d.verdict);
  out["reason"] = policy::reasonCode(d.reason);
  out["rule"] = d.ruleId().empty() ? Json(nullptr) : Json(d.ruleId());
  out["destination"] = v.host->authorityForm() + ":" + std::to_string(v.port);
  out["why"] = policy::decisionSummary(d, env, *v.host, v.port);
  if (!d.allowed()) out["how_to_allow"] = policy::howToAllow(d, env, *v.host, v.port);
  if (v.report_allowed) out["report_mode"] = "the proxy lets this request through and logs it";
  Json addresses = Json::array();
  for (const auto& [addr, ad] : v.addresses) {
    addresses.push_back(Json{
        {"address", addr}, {"decision", policy::verdictName(ad.verdict)}, {"rule", ad.ruleId()}});
  }
  out["addresses"] = std::move(addresses);
  if (v.shadow) {
    out["shadow"] = Json{{"environment", policy::environmentTag(*env->shadow())},
                         {"decision", policy::verdictName(v.shadow->verdict)},
                         {"reason", policy::reasonCode(v.shadow->reason)}};
  }
  return json(200, out);
}

AdminResponse ControlApi::decisions(const AdminRequest& request) {
  std::optional<std::string> session = queryParam(request.query, "session");
  std::optional<std::string> limit_text = queryParam(request.query, "limit");
  if (!session || !limit_text) return error(400, "malformed query string");
  const common::DecisionLog& log = plane_.decisions();
  size_t limit = 100;
  if (!limit_text->empty()) {
    const char* first = limit_text->data();
    const char* last = first + limit_text->size();
    auto [end, ec] = std::from_chars(first, last, limit);
    if (ec != std::errc() || end != last || limit == 0) {
      return error(400, "'limit' must be a positive integer");
    }
  }
  limit = std::min(limit, log.recentCapacity());
  // The lines are JSON objects already: splice them into the array as they are.
  std::string body =
      "{\n  \"capacity\": " + std::to_string(log.recentCapacity()) + ",\n  \"decisions\": [";
  std::vector<std::string> lines = log.recent(*session, limit);
  for (size_t i = 0; i < lines.size(); ++i) {
    body += (i == 0 ? "\n    " : ",\n    ") + lines[i];
  }
  body += lines.empty() ? "]\n}\n" : "\n  ]\n}\n";
  AdminResponse r;
  r.body = std::move(body);
  return r;
}

AdminResponse ControlApi::listSessions() {
  std::shared_ptr<const conn::ProxySnapshot> snap = plane_.snapshot();
  const auto now = system_clock::now();
  Json list = Json::array();
  for (const SessionView& v : plane_.sessions().list()) {
    list.push_back(sessionJson(v, now, *snap->policy));
  }
  return json(200, Json{{"required", plane_.sessions().required()}, {"sessions", std::move(list)}});
}

AdminResponse ControlApi::getSession(const std::string& id) {
  std::optional<SessionView> v = plane_.sessions().get(id);
  if (!v) return error(404, "no such session");
  return json(200, sessionJson(*v, system_clock::now(), *plane_.snapshot()->policy));
}

std::vector<SessionEnvironmentSpec> ControlApi::dynamicSpecs(
    const std::string& id, const SessionEnvironmentSpec* replacement) {
  std::vector<SessionEnvironmentSpec> specs = dynamicSessionEnvironments(plane_.sessions());
  std::erase_if(specs, [&](const SessionEnvironmentSpec& s) { return s.session_id == id; });
  if (replacement != nullptr) specs.push_back(*replacement);
  return specs;
}

AdminResponse ControlApi::createSession(const AdminRequest& request) {
  if (!plane_.dynamicSessions()) {
    return error(409,
                 "the session manager in use ([listener] session_manager) does not accept "
                 "sessions created through the API");
  }
  std::shared_ptr<const conn::ProxySnapshot> snap = plane_.snapshot();
  SessionFields f;
  if (std::string err = readSessionFields(request.body, *snap->policy, f); !err.empty()) {
    return error(400, err);
  }
  SessionStore& store = plane_.sessions();
  NewSession s;
  s.id = store.newId();
  if (s.id.empty()) return error(500, "could not generate a session id");
  s.base_environment = f.environment.value_or("default");
  s.environment = s.base_environment;
  if (f.labels) s.labels = *f.labels;
  if (f.clients) s.clients = *f.clients;
  if (f.ttl_s) s.expires = system_clock::now() + std::chrono::seconds(*f.ttl_s);
  if (f.limits) s.limits = *f.limits;
  if (f.git && *f.git) s.git = std::move((*f.git)->binding);
  const bool inline_domains = f.domains && !f.domains->empty();
  if (inline_domains) {
    // The session's own environment is published before the session exists, so its first
    // request already finds it.
    s.domains = *f.domains;
    s.environment = sessionEnvironmentName(s.id);
    SessionEnvironmentSpec spec{s.id, s.base_environment, patternEntries(s.domains), {}};
    ControlPlane::Outcome outcome = plane_.publishSessionEnvironments(dynamicSpecs(s.id, &spec));
    if (!outcome.ok) return compileError(outcome);
  }
  AddedSession added = store.add(s);
  if (!added.ok) {
    if (inline_domains) plane_.publishSessionEnvironments(dynamicSpecs(s.id, nullptr));
    return error(400, added.error);
  }
  Json body{{"id", added.id}, {"proxy_credential", added.proxy_credential}};
  // The only time the scoped git credential is shown.
  if (!added.git_credential.empty()) body["git_credential"] = added.git_credential;
  body["environment"] = s.base_environment;
  body["effective_environment"] = s.environment;
  body["expires"] = expiresJson(s.expires);
  body["generation"] = plane_.snapshot()->generation;
  OPENSSL_cleanse(added.proxy_credential.data(), added.proxy_credential.size());
  OPENSSL_cleanse(added.git_credential.data(), added.git_credential.size());
  AdminResponse r = json(201, body);
  wipeStrings(body);
  r.headers.emplace_back("Location", "/v1/sessions/" + added.id);
  return r;
}

AdminResponse ControlApi::patchSession(const std::string& id, const AdminRequest& request) {
  SessionStore& store = plane_.sessions();
  std::optional<SessionView> current = store.get(id);
  if (!current) return error(404, "no such session");
  if (!current->dynamic) {
    return error(409, "a static session: change it in the configuration file and reload");
  }
  SessionFields f;
  if (std::string err = readSessionFields(request.body, *plane_.snapshot()->policy, f);
      !err.empty()) {
    return error(400, err);
  }
  SessionPatch patch;
  patch.labels = f.labels;
  patch.clients = f.clients;
  if (f.ttl_s) patch.expires = system_clock::now() + std::chrono::seconds(*f.ttl_s);
  patch.limits = f.limits;  // replaces every override; {} clears them
  if (f.git) {
    if (*f.git) {
      patch.git.emplace(std::move((*f.git)->binding));
      patch.rotate_git_credential = (*f.git)->rotate_credential;
    } else {
      patch.git.emplace(std::nullopt);
    }
  }
  const std::string base = f.environment.value_or(current->base_environment);
  const std::vector<std::string> domains = f.domains.value_or(current->domains);
  const bool had_inline = !current->domains.empty();
  const bool has_inline = !domains.empty();
  if (f.environment || f.domains) {
    patch.base_environment = base;
    patch.domains = domains;
    patch.environment = has_inline ? sessionEnvironmentName(id) : base;
  }
  if (has_inline && (f.environment || f.domains)) {
    // Publish the new environment first: the session switches to it once it exists.
    SessionEnvironmentSpec spec{id, base, patternEntries(domains), {}};
    ControlPlane::Outcome outcome = plane_.publishSessionEnvironments(dynamicSpecs(id, &spec));
    if (!outcome.ok) return compileError(outcome);
  }
  std::string git_credential;
  if (std::string err = store.update(id, patch, &git_credential); !err.empty()) {
    return error(400, err);
  }
  if (had_inline && !has_inline) {
    // The session left its own environment: drop it.
    plane_.publishSessionEnvironments(dynamicSpecs(id, nullptr));
  }
  std::optional<SessionView> updated = store.get(id);
  if (!updated) return error(404, "no such session");
  Json body = sessionJson(*updated, system_clock::now(), *plane_.snapshot()->policy);
  // A credential issued by this change (a first git binding, or a rotation): shown this once.
  if (!git_credential.empty()) body["git_credential"] = git_credential;
  OPENSSL_cleanse(git_credential.data(), git_credential.size());
  AdminResponse r = json(200, body);
  wipeStrings(body);
  return r;
}

AdminResponse ControlApi::deleteSession(const std::string& id) {
  SessionStore& store = plane_.sessions();
  std::optional<SessionView> current = store.get(id);
  if (!current) return error(404, "no such session");
  if (!current->dynamic) {
    return error(409, "a static session: remove it from the configuration file and reload");
  }
  store.remove(id);
  if (!current->domains.empty()) plane_.publishSessionEnvironments(dynamicSpecs(id, nullptr));
  return json(200, Json{{"deleted", id}});
}

AdminResponse ControlApi::reload() {
  ControlPlane::Outcome outcome = plane_.reload();
  if (!outcome.ok) {
    return json(422, Json{{"error", "the configuration has errors; generation " +
                                        std::to_string(outcome.generation) + " stays in force"},
                          {"generation", outcome.generation},
                          {"issues", issuesJson(outcome.issues)}});
  }
  return json(200, Json{{"ok", true},
                        {"generation", outcome.generation},
                        {"issues", issuesJson(outcome.issues)}});
}

}  // namespace gatehouse::control
