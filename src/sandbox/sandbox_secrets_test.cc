// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Direct injection end to end (policy.secrets) on the Process backend: the
// secret reaches the command by env, file and stdin, and nowhere else: not
// in any process's argv, not in the output (redacted), not in an error.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "direct-secret-5e0b7c91d2af";
constexpr char kStdinSecret[] = "stdin-secret-83f2a4c6b1e0";

// The bytes of `s` as `od -An -v -w64 -tx1` prints them, whitespace removed.
std::string Hex(std::string_view s) {
  return absl::BytesToHexString(absl::string_view(s.data(), s.size()));
}
std::string NoSpace(std::string s) {
  std::erase_if(s, [](char c) { return c == ' ' || c == '\n'; });
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Host pids whose mount namespace is `ns` ("mnt:[N]").
int ProcessesInMountNamespace(const std::string& ns) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char link[256];
    ssize_t len =
        ::readlink(absl::StrCat("/proc/", e->d_name, "/ns/mnt").c_str(), link, sizeof link - 1);
    if (len > 0 && std::string(link, static_cast<size_t>(len)) == ns) ++n;
  }
  ::closedir(d);
  return n;
}

// Every host process's argv that contains `needle`.
std::vector<std::string> ArgvContaining(std::string_view needle) {
  std::vector<std::string> hits;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return hits;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmdline = ReadAll(absl::StrCat("/proc/", e->d_name, "/cmdline"));
    if (cmdline.find(needle) != std::string::npos) hits.push_back(e->d_name);
  }
  ::closedir(d);
  return hits;
}

class SandboxSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = Probe(BackendKind::kProcess);
    if (!a.available) GTEST_SKIP() << "process backend unavailable: " << a.reason;
    ::setenv("KAVACH_TEST_DIRECT_SECRET", kSecret, 1);
    ::setenv("KAVACH_TEST_STDIN_SECRET", kStdinSecret, 1);
  }

  SandboxConfig Config(bool gate) {
    SandboxConfig c;
    c.backend = BackendKind::kProcess;
    c.policy = SandboxPolicy::Strict();
    c.policy.secrets = {
        {SecretDelivery::kEnv, "API_KEY", "env:KAVACH_TEST_DIRECT_SECRET"},
        {SecretDelivery::kFile, "/run/secrets/token", "env:KAVACH_TEST_DIRECT_SECRET"},
        {SecretDelivery::kStdin, "", "env:KAVACH_TEST_STDIN_SECRET"},
    };
    c.gate.enabled = gate;
    c.timeout = absl::Seconds(30);
    return c;
  }

  std::unique_ptr<Sandbox> Make(const SandboxConfig& c) {
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
    if (!s.ok() && s.status().code() == absl::StatusCode::kFailedPrecondition) {
      skip_reason_ = s.status().ToString();
      return nullptr;
    }
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    EXPECT_TRUE((*s)->Start().ok());
    return *std::move(s);
  }

  ExecResult Run(Sandbox& sb, const std::string& script, std::string stdin_data = "") {
    ExecOptions o;
    o.stdin_data = std::move(stdin_data);
    absl::StatusOr<ExecResult> r = sb.Exec({"/bin/sh", "-c", script}, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : ExecResult{};
  }

  std::string skip_reason_;
};

TEST_F(SandboxSecretsTest, EachWayDeliversTheSecret) {
  std::unique_ptr<Sandbox> sb = Make(Config(true));
  if (sb == nullptr) GTEST_SKIP() << skip_reason_;
  // Printed as hex, so what is compared is what arrived, not the redaction.
  ExecResult env = Run(*sb, "printf %s \"$API_KEY\" | od -An -v -w64 -tx1");
  EXPECT_EQ(env.exit_code, 0) << env.stderr_data;
  EXPECT_EQ(NoSpace(env.stdout_data), Hex(kSecret));

  ExecResult file = Run(*sb, "od -An -v -w64 -tx1 /run/secrets/token");
  EXPECT_EQ(file.exit_code, 0) << file.stderr_data;
  EXPECT_EQ(NoSpace(file.stdout_data), Hex(kSecret));

  // stdin: the secret's line first, then the exec's own data.
  ExecResult in = Run(*sb, "read -r s; printf %s \"$s\" | od -An -v -w64 -tx1; cat", "own data\n");
  EXPECT_EQ(in.exit_code, 0) << in.stderr_data;
  EXPECT_EQ(in.stdout_data.substr(in.stdout_data.find('\n') + 1), "own data\n");
  EXPECT_EQ(NoSpace(in.stdout_data.substr(0, in.stdout_data.find('\n'))), Hex(kStdinSecret));
}

TEST_F(SandboxSecretsTest, FileIsReadOnlyForTheSandboxUserOnATmpfs) {
  // Gate on: the refused write makes dash print "/bin/sh: 1: cannot create
  // ...", which the code scanner's shell rule must not take for code.
  std::unique_ptr<Sandbox> sb = Make(Config(true));
  if (sb == nullptr) GTEST_SKIP() << skip_reason_;
  ExecResult r = Run(*sb,
                     "stat -c '%a %u %g' /run/secrets/token; id -u; "
                     "awk '$5 == \"/run/secrets\" {print $9}' /proc/self/mountinfo; "
                     "echo x > /run/secrets/token 2>/dev/null || echo write-refused");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  std::vector<std::string> lines = absl::StrSplit(r.stdout_data, '\n');
  ASSERT_GE(lines.size(), 4u) << r.stdout_data;
  EXPECT_EQ(lines[0], absl::StrCat("400 ", lines[1], " ", sb->config().policy.gid));
  EXPECT_EQ(lines[1], absl::StrCat(sb->config().policy.uid));
  EXPECT_EQ(lines[2], "tmpfs");
  EXPECT_EQ(lines[3], "write-refused");
}

TEST_F(SandboxSecretsTest, FileIsGoneAfterDestroy) {
  std::unique_ptr<Sandbox> sb = Make(Config(true));
  if (sb == nullptr) GTEST_SKIP() << skip_reason_;
  ExecResult r = Run(*sb, "readlink /proc/self/ns/mnt; test -s /run/secrets/token && echo present");
  std::vector<std::string> lines = absl::StrSplit(r.stdout_data, '\n');
  ASSERT_GE(lines.size(), 2u) << r.stdout_data;
  ASSERT_EQ(lines[1], "present");
  std::string ns = lines[0];
  // The tmpfs exists only in the sandbox's mount namespace, which its init
  // keeps alive; the same observation afterwards must find nothing.
  EXPECT_GE(ProcessesInMountNamespace(ns), 1) << ns;
  ASSERT_TRUE(sb->Destroy().ok());
  EXPECT_EQ(ProcessesInMountNamespace(ns), 0) << ns;
}

TEST_F(SandboxSecretsTest, NeverInAnyProcessArgv) {
  std::unique_ptr<Sandbox> sb = Make(Config(true));
  if (sb == nullptr) GTEST_SKIP() << skip_reason_;
  // Inside: every visible process's argv, searched with the file as the
  // pattern (a pattern on grep's own command line would be a hit).
  ExecResult inside = Run(*sb,
                          "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/cmdline; echo; done | "
                          "grep -cF -f /run/secrets/token; cat /proc/1/cmdline >/dev/null && "
                          "echo init-read");
  EXPECT_THAT(inside.stdout_data, HasSubstr("0\n")) << inside.stderr_data;
  // From the host, with a command running inside: init, the command and
  // kavach itself.
  SpawnOptions o;
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sb->Spawn({"/bin/sh", "-c", "read -r s; sleep 2"}, o);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_THAT(ArgvContaining(kSecret), ::testing::IsEmpty());
  EXPECT_THAT(ArgvContaining(kStdinSecret), ::testing::IsEmpty());
  ASSERT_TRUE((*p)->Kill().ok());
  (void)(*p)->Wait();
}

TEST_F(SandboxSecretsTest, PrintedSecretIsRedactedWithAndWithoutTheGate) {
  for (bool gate : {true, false}) {
    std::unique_ptr<Sandbox> sb = Make(Config(gate));
    if (sb == nullptr) GTEST_SKIP() << skip_reason_;
    ExecResult r = Run(*sb,
                       "echo \"key=$API_KEY\"; cat /run/secrets/token >&2; read -r s; "
                       "echo \"$s\"");
    EXPECT_THAT(r.stdout_data, Not(HasSubstr(kSecret))) << "gate " << gate;
    EXPECT_THAT(r.stdout_data, Not(HasSubstr(kStdinSecret)));
    EXPECT_THAT(r.stderr_data, Not(HasSubstr(kSecret)));
    EXPECT_THAT(r.stdout_data, HasSubstr("key=[REDACTED:injected_secret]\n"));
    EXPECT_THAT(r.stderr_data, HasSubstr("[REDACTED:injected_secret]"));
    bool found = false;
    for (const Finding& f : r.findings) found = found || f.category == "injected_secret";
    EXPECT_TRUE(found);
    if (gate) {
      EXPECT_EQ(r.verdict, Verdict::kRedact);
    }

    // Streaming, with the secret split across two writes.
    std::string streamed;
    SpawnOptions o;
    o.on_stdout = [&](std::string_view chunk) { streamed.append(chunk); };
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
        sb->Spawn({"/bin/sh", "-c",
                   "printf %s \"$API_KEY\" | head -c 10; sleep 0.3; "
                   "printf '%s\\n' \"$API_KEY\" | tail -c +11"},
                  o);
    ASSERT_TRUE(p.ok()) << p.status();
    absl::StatusOr<ExecResult> w = (*p)->Wait();
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(streamed, "[REDACTED:injected_secret]\n") << "gate " << gate;
    EXPECT_THAT(w->stdout_data, Not(HasSubstr(kSecret)));
  }
}

TEST_F(SandboxSecretsTest, ScoreShowsWhatEachWayCosts) {
  SandboxConfig with = Config(false);
  SandboxConfig without = Config(false);
  without.policy.secrets.clear();
  std::unique_ptr<Sandbox> a = Make(with);
  if (a == nullptr) GTEST_SKIP() << skip_reason_;
  std::unique_ptr<Sandbox> b = Make(without);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->score().value, b->score().value - 5 - 3 - 2);
  EXPECT_EQ(DeclaredScore(BackendKind::kProcess, with.policy).value,
            DeclaredScore(BackendKind::kProcess, without.policy).value - 10);
  bool env_seen = false;
  for (const Evidence& e : a->evidence()) {
    EXPECT_THAT(e.detail, Not(HasSubstr(kSecret)));
    if (e.control == "secrets.env") {
      env_seen = true;
      EXPECT_EQ(e.points, -5);
      EXPECT_THAT(e.detail, HasSubstr("API_KEY"));
      EXPECT_THAT(e.detail, HasSubstr("inside the sandbox"));
    }
  }
  EXPECT_TRUE(env_seen);
}

TEST_F(SandboxSecretsTest, MissingSourceNamesTheSourceNotAValue) {
  ::unsetenv("KAVACH_TEST_MISSING_SECRET");
  SandboxConfig c = Config(false);
  c.policy.secrets = {{SecretDelivery::kEnv, "API_KEY", "env:KAVACH_TEST_MISSING_SECRET"}};
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("env:KAVACH_TEST_MISSING_SECRET"));

  c.policy.secrets = {{SecretDelivery::kFile, "/run/secrets/x", "file:/nonexistent/kavach-key"}};
  s = Sandbox::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("file:/nonexistent/kavach-key"));

  // A value pasted where the source belongs is refused without being echoed.
  c.policy.secrets = {{SecretDelivery::kEnv, "API_KEY", kSecret}};
  s = Sandbox::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("secrets[0].source"));
  EXPECT_THAT(s.status().message(), Not(HasSubstr(kSecret)));
}

TEST_F(SandboxSecretsTest, OtherBackendsRefuseDirectInjection) {
  SandboxConfig c = Config(false);
  c.backend = BackendKind::kWasm;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("secrets: direct injection needs the process"));
}

}  // namespace
}  // namespace kavach
