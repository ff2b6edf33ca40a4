// The parser, the policy and the report against the real git binary (BAD-INPUTS I3-I6, I8).
//
// Request bodies: `git push --receive-pack=<script>` to a local bare repository, where the script
// tees its stdin to a file in front of the real `git receive-pack` (a pre-receive hook declines
// every push, so the remote never changes). Over a pipe git writes exactly the bytes it POSTs as
// the smart-HTTP receive-pack body: the command section, then the pack.
//
// Reports: a fake receive-pack prints the real ref advertisement, reads the request and answers
// with the report this code builds; git must print " ! [remote rejected] ... (reason)".
//
// Everything runs in a fresh temporary directory with HOME and the git configuration isolated.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gitproxy/pkt_line.h"
#include "gitproxy/push_policy.h"
#include "gitproxy/receive_pack.h"
#include "gitproxy/report_status.h"
#include "tests/unit/test_text.h"

namespace gatehouse::gitproxy {
namespace {

using testing_text::printable;

// Runs `script` with /bin/sh, stdout and stderr together; returns the exit status.
int shell(const std::string& script, std::string* output = nullptr) {
  const std::string command = "( " + script + " ) 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  if (output != nullptr) *output = std::move(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::filesystem::path& path, std::string_view bytes, bool executable) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (executable) chmod(path.c_str(), 0755);
}

struct Parsed {
  ReceivePackStatus status;
  PushParseError error;
  ParsedPush push;
  size_t section;
};

Parsed parseBody(std::string_view body) {
  ReceivePackParser whole;
  whole.feed(body);
  whole.finish();
  // The same bytes one at a time end the same way.
  ReceivePackParser bytewise;
  for (char c : body) bytewise.feed(std::string_view(&c, 1));
  bytewise.finish();
  EXPECT_EQ(bytewise.status(), whole.status());
  EXPECT_EQ(bytewise.error(), whole.error());
  EXPECT_EQ(bytewise.commandSectionBytes(), whole.commandSectionBytes());
  return {whole.status(), whole.error(), whole.push(), whole.commandSectionBytes()};
}

std::string decisions(const PushVerdict& v) {
  std::string s;
  for (const CommandVerdict& c : v.commands)
    s += std::string(s.empty() ? "" : " ") + refDecisionCode(c.decision);
  return s;
}

class GitPush : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/install-deps installs git, gnupg and openssh-client: a missing one is a failure.
    ASSERT_EQ(shell("git --version"), 0) << "git is not installed (scripts/install-deps)";
    char tmpl[] = "/tmp/gatehouse-git-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_ = "export HOME='" + dir_.string() +
           "' GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C "
           "GIT_TERMINAL_PROMPT=0 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e.test "
           "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e.test GNUPGHOME='" +
           (dir_ / "gnupg").string() + "'; unset GIT_DIR GIT_WORK_TREE GIT_PROTOCOL; cd '" +
           dir_.string() + "' && ";
    ASSERT_EQ(run("git init -q --bare -b main remote.git && git init -q -b main work && "
                  "cd work && echo a > a && git add a && git commit -qm one && "
                  "git push -q ../remote.git main main:agent-branch"),
              0)
        << output_;
    writeFile(dir_ / "remote.git/hooks/pre-receive", "#!/bin/sh\nexit 1\n", true);
    writeFile(
        dir_ / "capture-rp",
        "#!/bin/sh\ntee '" + (dir_ / "request.bin").string() + "' | git receive-pack \"$@\"\n",
        true);
    ASSERT_EQ(commit("two"), 0) << output_;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (gpg_started_) run("gpgconf --kill gpg-agent");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int run(const std::string& script) {
    return shell(env_ + "timeout 120 sh -c '" + quote(script) + "'", &output_);
  }
  static std::string quote(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  int commit(const std::string& message, const std::string& repo = "work") {
    return run("cd " + repo + " && echo " + message + " >> a && git commit -qam " + message);
  }

  // The receive-pack request body of `git push <args>` run in `repo`.
  std::string capture(const std::string& args, const std::string& repo = "work",
                      const std::string& config = "") {
    std::filesystem::remove(dir_ / "request.bin");
    run("cd " + repo + " && git -c protocol.version=0 " + config + " push --receive-pack='" +
        (dir_ / "capture-rp").string() + "' " + args);
    std::string body = readFile(dir_ / "request.bin");
    EXPECT_FALSE(body.empty()) << "no request captured for: git push " << args << "\n" << output_;
    return body;
  }

  // The ref advertisement of remote.git with `drop` capabilities removed from its first line.
  std::string advertisement(const std::vector<std::string>& drop) {
    std::string raw;
    EXPECT_EQ(shell(env_ + "git receive-pack --advertise-refs remote.git", &raw), 0) << raw;
    PktLineReader reader;
    std::string_view rest = raw;
    std::string out;
    bool first = true;
    while (!rest.empty()) {
      const PktLineReader::Result r = reader.read(rest);
      rest.remove_prefix(r.consumed);
      if (r.status != PktLineReader::Status::kPacket) {
        ADD_FAILURE() << "bad advertisement: " << printable(raw);
        return out;
      }
      if (reader.type() == PktType::kFlush) {
        appendFlushPkt(out);
        continue;
      }
      std::string line(reader.payload());
      if (first) {
        first = false;
        const size_t nul = line.find('\0');
        std::string caps = line.substr(nul + 1);
        if (!caps.empty() && caps.back() == '\n') caps.pop_back();
        std::string kept;
        size_t start = 0;
        while (start <= caps.size()) {
          const size_t space = caps.find(' ', start);
          const std::string cap =
              caps.substr(start, space == std::string::npos ? std::string::npos : space - start);
          if (!cap.empty() && std::find(drop.begin(), drop.end(), cap) == drop.end()) {
            kept += (kept.empty() ? "" : " ") + cap;
          }
          if (space == std::string::npos) break;
          start = space + 1;
        }
        line = line.substr(0, nul + 1) + kept + "\n";
      }
      appendPktLine(out, line);
    }
    return out;
  }

  // Pushes through a fake receive-pack that advertises `advert` and answers with the report
  // built from the request: returns git's exit status; output_ holds what git printed.
  int pushThroughFake(const std::string& args, const std::string& advert, const PushPolicy& policy,
                      std::string* report_out = nullptr) {
    writeFile(dir_ / "advert.bin", advert, false);
    const std::string fake = (dir_ / "fake-rp").string();
    const std::string request = (dir_ / "fake-request.bin").string();
    const std::string report = (dir_ / "report.bin").string();
    // Phase 1: the same advertisement, no report, to learn the request git sends to it.
    writeFile(dir_ / "report.bin", "", false);
    writeFile(fake,
              "#!/bin/sh\ncat '" + (dir_ / "advert.bin").string() + "'\ncat > '" + request +
                  "'\ncat '" + report + "'\n",
              true);
    const std::string push = "cd work && git -c protocol.version=0 push --receive-pack='" + fake +
                             "' ../remote.git " + args;
    run(push);
    const Parsed parsed = parseBody(readFile(request));
    EXPECT_EQ(parsed.status, ReceivePackStatus::kOk) << pushParseErrorCode(parsed.error);
    const PushVerdict verdict = policy.evaluate(parsed.push);
    EXPECT_FALSE(verdict.allowed);
    const std::optional<std::string> body = buildRefusalReport(parsed.push, verdict);
    if (!body) {
      ADD_FAILURE() << "no report-status negotiated";
      return -1;
    }
    if (report_out != nullptr) *report_out = *body;
    // Phase 2: the real answer.
    writeFile(dir_ / "report.bin", *body, false);
    return run(push);
  }

  bool setUpGpg() {
    if (shell("gpg --version") != 0) return false;
    gpg_started_ = true;
    return run("mkdir -p -m 700 gnupg && gpg --batch --passphrase '' --quick-gen-key "
               "'T <t@e.test>' ed25519 sign 1d") == 0;
  }

  std::filesystem::path dir_;
  std::string env_;
  std::string output_;
  bool gpg_started_ = false;
  const PushPolicy policy_{{"agent-branch"}};
};

TEST_F(GitPush, I3UpdateOfTheSessionBranch) {
  const std::string body = capture("../remote.git HEAD:refs/heads/agent-branch");
  const Parsed p = parseBody(body);
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  ASSERT_EQ(p.push.commands.size(), 1u);
  const RefCommand& c = p.push.commands[0];
  EXPECT_EQ(c.ref, "refs/heads/agent-branch");
  EXPECT_FALSE(c.is_create || c.is_delete);
  EXPECT_EQ(c.old_oid.size(), 40u);
  EXPECT_TRUE(p.push.capabilities.report_status_v2);
  EXPECT_TRUE(p.push.capabilities.side_band_64k);
  EXPECT_EQ(p.push.capabilities.agent.rfind("git/", 0), 0u) << p.push.capabilities.agent;
  EXPECT_TRUE(p.push.pack_expected);
  EXPECT_EQ(body.substr(p.section, 4), "PACK") << "the pack starts where the section ends";
  EXPECT_TRUE(policy_.evaluate(p.push).allowed);
}

TEST_F(GitPush, CreateOfANewBranch) {
  const Parsed p = parseBody(capture("../remote.git HEAD:refs/heads/new-branch"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  ASSERT_EQ(p.push.commands.size(), 1u);
  EXPECT_TRUE(p.push.commands[0].is_create);
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "other-branch");
  EXPECT_TRUE(PushPolicy({"agent-branch", "new-branch"}).evaluate(p.push).allowed)
      << "an extra branch may be created";
}

TEST_F(GitPush, I5DeleteSendsNoPack) {
  const std::string body = capture("../remote.git :refs/heads/agent-branch");
  const Parsed p = parseBody(body);
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  ASSERT_EQ(p.push.commands.size(), 1u);
  EXPECT_TRUE(p.push.commands[0].is_delete);
  EXPECT_FALSE(p.push.pack_expected);
  EXPECT_EQ(p.section, body.size()) << "nothing after the command section";
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "delete");
}

TEST_F(GitPush, I4Tags) {
  ASSERT_EQ(run("cd work && git tag v1 && git tag -a -m annotated v2"), 0) << output_;
  const Parsed p = parseBody(capture("../remote.git refs/tags/v1 refs/tags/v2"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  ASSERT_EQ(p.push.commands.size(), 2u);
  EXPECT_EQ(p.push.commands[0].ref, "refs/tags/v1");
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "tag tag");
}

TEST_F(GitPush, I6MultiRefAndAtomic) {
  const Parsed p =
      parseBody(capture("../remote.git HEAD:refs/heads/agent-branch HEAD:refs/heads/main"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "other-ref-refused other-branch");

  const Parsed atomic = parseBody(
      capture("--atomic ../remote.git HEAD:refs/heads/agent-branch HEAD:refs/heads/main"));
  ASSERT_EQ(atomic.status, ReceivePackStatus::kOk) << pushParseErrorCode(atomic.error);
  EXPECT_TRUE(atomic.push.capabilities.atomic);
  EXPECT_EQ(atomic.push.commands.size(), 2u);
}

TEST_F(GitPush, PushOptions) {
  ASSERT_EQ(run("git -C remote.git config receive.advertisePushOptions true"), 0);
  const Parsed p =
      parseBody(capture("-o ci.skip -o 'title=a b' ../remote.git HEAD:refs/heads/agent-branch"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  EXPECT_TRUE(p.push.capabilities.push_options);
  EXPECT_EQ(p.push.push_options, (std::vector<std::string>{"ci.skip", "title=a b"}));
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "push-option") << "default: none allowed";
  EXPECT_TRUE(PushPolicy({"agent-branch"}, PushPolicyOptions{{"ci.skip", "title"}})
                  .evaluate(p.push)
                  .allowed);
}

TEST_F(GitPush, SignedPushWithGpg) {
  ASSERT_TRUE(setUpGpg()) << "gpg is not available or cannot make a key: " << output_;
  ASSERT_EQ(run("git -C remote.git config receive.certNonceSeed test-seed"), 0);
  const std::string body = capture("--signed ../remote.git HEAD:refs/heads/agent-branch", "work",
                                   "-c user.signingkey=t@e.test");
  const Parsed p = parseBody(body);
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error) << "\n"
                                              << printable(body.substr(0, 2000));
  EXPECT_TRUE(p.push.signed_push);
  ASSERT_EQ(p.push.commands.size(), 1u);
  EXPECT_EQ(p.push.commands[0].ref, "refs/heads/agent-branch");
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "signed-push");
}

TEST_F(GitPush, SignedPushWithSsh) {
  ASSERT_EQ(shell("command -v ssh-keygen"), 0)
      << "ssh-keygen is not installed (scripts/install-deps)";
  ASSERT_EQ(run("ssh-keygen -q -t ed25519 -N '' -f signing-key"), 0) << output_;
  ASSERT_EQ(run("git -C remote.git config receive.certNonceSeed test-seed"), 0);
  const std::string body =
      capture("--signed ../remote.git HEAD:refs/heads/agent-branch", "work",
              "-c gpg.format=ssh -c user.signingkey=" + (dir_ / "signing-key").string());
  EXPECT_NE(body.find("-----BEGIN SSH SIGNATURE-----"), std::string::npos);
  const Parsed p = parseBody(body);
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error) << output_;
  EXPECT_TRUE(p.push.signed_push);
  ASSERT_EQ(p.push.commands.size(), 1u);
  EXPECT_EQ(decisions(policy_.evaluate(p.push)), "signed-push");
}

TEST_F(GitPush, Sha256Repository) {
  ASSERT_EQ(run("git init -q --bare -b main --object-format=sha256 remote256.git && "
                "git init -q -b main --object-format=sha256 work256 && cd work256 && "
                "echo a > a && git add a && git commit -qm one && "
                "git push -q ../remote256.git main:agent-branch"),
            0)
      << output_;
  writeFile(dir_ / "remote256.git/hooks/pre-receive", "#!/bin/sh\nexit 1\n", true);
  ASSERT_EQ(commit("two", "work256"), 0) << output_;
  const Parsed p = parseBody(capture("../remote256.git HEAD:refs/heads/agent-branch", "work256"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  EXPECT_EQ(p.push.capabilities.object_format, ObjectFormat::kSha256);
  ASSERT_EQ(p.push.commands.size(), 1u);
  EXPECT_EQ(p.push.commands[0].new_oid.size(), 64u);
  EXPECT_TRUE(policy_.evaluate(p.push).allowed);
}

TEST_F(GitPush, ShallowClone) {
  ASSERT_EQ(run("git clone -q --depth 1 file://$PWD/remote.git shallow && cd shallow && "
                "echo s > s && git add s && git commit -qm s"),
            0)
      << output_;
  const Parsed p = parseBody(capture("origin HEAD:refs/heads/agent-branch", "shallow"));
  ASSERT_EQ(p.status, ReceivePackStatus::kOk) << pushParseErrorCode(p.error);
  EXPECT_EQ(p.push.shallow_count, 1u) << "a depth-1 clone sends its shallow root";
  EXPECT_TRUE(policy_.evaluate(p.push).allowed);
}

// ---- the report, read by git --------------------------------------------------------------

constexpr std::string_view kMainRejected =
    " ! [remote rejected] HEAD -> main (only refs/heads/agent-branch may be pushed in this "
    "session)";
constexpr std::string_view kRemoteLine =
    "remote: push refused by gatehouse: only refs/heads/agent-branch may be pushed in this "
    "session";

TEST_F(GitPush, GitPrintsTheRejectionWithSideBand) {
  std::string report;
  EXPECT_NE(pushThroughFake("HEAD:refs/heads/main", advertisement({}), policy_, &report), 0)
      << output_;
  EXPECT_NE(output_.find(kMainRejected), std::string::npos) << output_;
  EXPECT_NE(output_.find(kRemoteLine), std::string::npos) << output_;
  EXPECT_EQ(report.substr(4, 1), "\2") << "side-band-64k was negotiated";
}

TEST_F(GitPush, GitPrintsTheRejectionWithoutSideBand) {
  EXPECT_NE(pushThroughFake("HEAD:refs/heads/main", advertisement({"side-band-64k"}), policy_), 0)
      << output_;
  EXPECT_NE(output_.find(kMainRejected), std::string::npos) << output_;
  EXPECT_EQ(output_.find("remote: push refused"), std::string::npos)
      << "no band 2 without side-band";
}

TEST_F(GitPush, GitPrintsTheRejectionWithReportStatusV1) {
  std::string report;
  EXPECT_NE(pushThroughFake("HEAD:refs/heads/main", advertisement({"report-status-v2"}), policy_,
                            &report),
            0)
      << output_;
  EXPECT_NE(output_.find(kMainRejected), std::string::npos) << output_;
}

TEST_F(GitPush, GitPrintsEveryRefOfARefusedPush) {
  EXPECT_NE(pushThroughFake("HEAD:refs/heads/agent-branch HEAD:refs/heads/main", advertisement({}),
                            policy_),
            0)
      << output_;
  EXPECT_NE(output_.find(" ! [remote rejected] HEAD -> agent-branch (push refused: another ref "
                         "in this push is not allowed)"),
            std::string::npos)
      << output_;
  EXPECT_NE(output_.find(kMainRejected), std::string::npos) << output_;
}

TEST_F(GitPush, GitPrintsTheTagRejection) {
  ASSERT_EQ(run("cd work && git tag v1"), 0);
  EXPECT_NE(pushThroughFake("refs/tags/v1", advertisement({}), policy_), 0) << output_;
  EXPECT_NE(output_.find(" ! [remote rejected] v1 -> v1 (tags may not be pushed; only "
                         "refs/heads/agent-branch may be pushed in this session)"),
            std::string::npos)
      << output_;
}

}  // namespace
}  // namespace gatehouse::gitproxy
