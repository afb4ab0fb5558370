// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Composite sandboxes through the public API: an OCI (crun) or gVisor outer
// container running the kavach CLI's process jail inside (bin/kavach, built
// beside this test).
#include "backend/composite/composite_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adversarial/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/resolve.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;

const Evidence* Find(const std::vector<Evidence>& ev, const std::string& control) {
  for (const Evidence& e : ev) {
    if (e.control == control) return &e;
  }
  return nullptr;
}

class OciProcessComposite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !Probe(BackendKind::kOci).available) return;
    if (!internal::KavachCliPath().ok()) return;
    SandboxConfig config;
    config.backend = BackendKind::kOci;
    config.inner = BackendKind::kProcess;
    config.policy = SandboxPolicy::Strict();
    absl::StatusOr<std::unique_ptr<Sandbox>> sb = Sandbox::Create(config);
    status_ = new absl::Status(sb.status());
    if (sb.ok()) {
      sandbox_ = sb->release();
      *status_ = sandbox_->Start();
    }
  }
  static void TearDownTestSuite() {
    if (sandbox_ != nullptr) {
      (void)sandbox_->Destroy();
      delete sandbox_;
      sandbox_ = nullptr;
    }
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the OCI outer layer runs the root path (cgroups)";
    if (!Probe(BackendKind::kOci).available) GTEST_SKIP() << Probe(BackendKind::kOci).reason;
    absl::StatusOr<std::string> cli = internal::KavachCliPath();
    if (!cli.ok()) GTEST_SKIP() << cli.status();
    ASSERT_NE(status_, nullptr);
    ASSERT_TRUE(status_->ok()) << *status_;
  }
  ExecResult Run(const std::vector<std::string>& argv, const ExecOptions& o = {}) {
    absl::StatusOr<ExecResult> r = sandbox_->Exec(argv, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ExecResult{};
  }
  static Sandbox* sandbox_;
  static absl::Status* status_;
};
Sandbox* OciProcessComposite::sandbox_ = nullptr;
absl::Status* OciProcessComposite::status_ = nullptr;

TEST_F(OciProcessComposite, CommandsGetTheInnerSeccompAndLandlock) {
  ExecResult r = Run({"/bin/sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_THAT(r.stdout_data, HasSubstr("Seccomp:\t2"));
  const Evidence* ll = Find(sandbox_->evidence(), "inner.landlock.fs");
  ASSERT_NE(ll, nullptr);
  EXPECT_TRUE(ll->verified) << ll->detail;
  const Evidence* sc = Find(sandbox_->evidence(), "inner.seccomp");
  ASSERT_NE(sc, nullptr);
  EXPECT_TRUE(sc->verified) << sc->detail;
}

TEST_F(OciProcessComposite, InnerSeccompStopsWhatTheOuterAllows) {
  // The outer container has no seccomp filter of its own (the inner jail
  // needs namespaces), so a user namespace is the inner layer's to stop:
  // without it, `unshare -U` succeeds in the container (checked by hand with
  // --backend oci --policy minimal).
  ExecResult r = Run({"/bin/sh", "-c", "unshare -U true 2>/dev/null; echo $?"});
  EXPECT_EQ(r.stdout_data, "1\n");
}

TEST_F(OciProcessComposite, ExitCodesStdinEnvAndTimeoutsPassThrough) {
  ExecOptions o;
  o.stdin_data = "abc";
  o.env["GREETING"] = "hi";
  ExecResult r = Run({"/bin/sh", "-c", "cat; echo \" $GREETING\"; exit 7"}, o);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.stdout_data, "abc hi\n");
  ExecOptions t;
  t.timeout = absl::Milliseconds(500);
  absl::Time start = absl::Now();
  ExecResult slow = Run({"/bin/sh", "-c", "sleep 30 & sleep 31"}, t);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ExecResult ps = Run({"/bin/sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"});
  EXPECT_THAT(ps.stdout_data, ::testing::Not(HasSubstr("sleep 3")));
}

TEST_F(OciProcessComposite, ScoreIsTheLayeredFormulaOnEachLayersEvidence) {
  const Evidence* layered = Find(sandbox_->evidence(), "layered");
  ASSERT_NE(layered, nullptr);
  int outer = 0;
  int inner = 0;
  for (const Evidence& e : sandbox_->evidence()) {
    if (!e.verified) continue;
    if (absl::StartsWith(e.control, "inner.")) {
      // "... [N points]"
      size_t open = e.detail.rfind('[');
      inner += std::atoi(e.detail.c_str() + open + 1);
    } else if (e.control != "layered") {
      outer += e.points;
    }
  }
  EXPECT_EQ(sandbox_->score().value, LayeredScore({outer, inner}, 2)) << layered->detail;
  EXPECT_EQ(sandbox_->score().value, std::max(outer, inner) + 5);
}

TEST(GVisorProcessComposite, RunsOrFailsClosedSayingWhy) {
  if (::geteuid() != 0) GTEST_SKIP() << "root path";
  if (!Probe(BackendKind::kGVisor).available) GTEST_SKIP() << Probe(BackendKind::kGVisor).reason;
  if (!internal::KavachCliPath().ok()) GTEST_SKIP() << "no kavach CLI";
  SandboxConfig config;
  config.backend = BackendKind::kGVisor;
  config.inner = BackendKind::kProcess;
  config.policy = SandboxPolicy::Strict();
  // Landlock is not in gVisor: required, it fails closed naming it.
  absl::StatusOr<std::unique_ptr<Sandbox>> sb = Sandbox::Create(config);
  ASSERT_FALSE(sb.ok());
  EXPECT_THAT(std::string(sb.status().message()), ::testing::StartsWith("landlock.fs:"));
  for (Control c : {Control::kLandlockFilesystem, Control::kLandlockNetwork,
                    Control::kLandlockScopes, Control::kCgroupPids}) {
    config.policy.optional_controls.insert(c);
  }
  sb = Sandbox::Create(config);
  if (!sb.ok()) {
    // runsc 20221219 refuses the inner jail's mounts in its nested user
    // namespace (the root tmpfs: EPERM), so the inner layer fails closed.
    EXPECT_TRUE(absl::IsFailedPrecondition(sb.status())) << sb.status();
    EXPECT_THAT(std::string(sb.status().message()), HasSubstr("inner layer (process)"));
    GTEST_SKIP() << "gvisor+process cannot run here: " << sb.status();
  }
  ASSERT_TRUE((*sb)->Start().ok());
  absl::StatusOr<ExecResult> r = (*sb)->Exec({"/bin/sh", "-c", "grep Seccomp: /proc/self/status"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_data, HasSubstr("Seccomp:\t2"));
  EXPECT_TRUE((*sb)->Destroy().ok());
}

TEST(ResolveBest, PicksTheHighestVerifiedScoreAndSaysWhyOthersLost) {
  if (::geteuid() != 0) GTEST_SKIP() << "root path (cgroups for strict)";
  absl::StatusOr<BestBackend> best = ResolveBest(SandboxPolicy::Strict());
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_EQ(best->candidates.size(), 5u);
  for (const BackendCandidate& c : best->candidates) {
    EXPECT_FALSE(c.why.empty()) << c.name;
    if (c.enforced) {
      EXPECT_LE(c.score, best->score) << c.name;
    }
    if (c.name == best->name) {
      EXPECT_TRUE(c.enforced);
      EXPECT_EQ(c.score, best->score);
    }
  }
  // Plain oci and gvisor cannot apply strict's Landlock: they say so.
  for (const BackendCandidate& c : best->candidates) {
    if ((c.name == "oci" || c.name == "gvisor") && !absl::StartsWith(c.why, "unavailable")) {
      EXPECT_FALSE(c.enforced);
      EXPECT_THAT(c.why, HasSubstr("landlock"));
    }
  }
}

// kill -9 of a kavach CLI in the middle of an exec leaves its container
// behind (nothing runs to clean up); the next kavach process removes it at
// start, with its bundle, before making its own.
TEST(Lifecycle, KillNineMidExecThenCleanupAtNextStart) {
  if (::geteuid() != 0) GTEST_SKIP() << "root path (the default state root is /run/kavach)";
  if (!Probe(BackendKind::kOci).available) GTEST_SKIP() << Probe(BackendKind::kOci).reason;
  absl::StatusOr<std::string> cli = internal::KavachCliPath();
  if (!cli.ok()) GTEST_SKIP() << cli.status();
  const std::string token = absl::StrCat("kill9-", ::getpid());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv("KAVACH_OCI_RUNTIME", "crun", 1);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(cli->c_str(), "kavach", "exec", "--backend", "oci", "--policy", "minimal", "--no-gate",
            "--", "/bin/sh", "-c", ("sleep 60 # " + token).c_str(), nullptr);
    _exit(127);
  }
  // The command runs inside once its container is up.
  const std::string owner = absl::StrCat("kavach-", child, "-");
  bool running = false;
  for (int i = 0; i < 400 && !running; ++i) {
    for (pid_t p : kavach::testing::HostPidsWithCmdline(token)) {
      // The command itself (not kavach or its forks, which carry its argv).
      running = running || absl::StartsWith(
                               kavach::testing::ReadHostFile(absl::StrCat("/proc/", p, "/cmdline")),
                               std::string("/bin/sh\0-c", 10));
    }
    if (!running) absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_TRUE(running) << "the command never started";
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  // Its container is still there (and so is its command).
  auto containers = [&]() {
    std::vector<std::string> ours;
    std::string out;
    FILE* f = ::popen("crun --root /run/kavach/oci-crun list -q 2>/dev/null", "r");
    if (f == nullptr) return ours;
    char buf[256];
    while (::fgets(buf, sizeof buf, f) != nullptr) out += buf;
    ::pclose(f);
    for (absl::string_view id : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(id, owner)) ours.emplace_back(id);
    }
    return ours;
  };
  std::vector<std::string> stale = containers();
  ASSERT_EQ(stale.size(), 1u) << "no container left by the killed kavach";
  EXPECT_FALSE(kavach::testing::HostPidsWithCmdline(token).empty());
  // The next kavach process sweeps it away at start.
  std::string cmd = absl::StrCat("KAVACH_OCI_RUNTIME=crun ", *cli,
                                 " exec --backend oci --policy minimal --no-gate -- /bin/true");
  ASSERT_EQ(::system(cmd.c_str()), 0) << cmd;
  EXPECT_TRUE(containers().empty()) << "stale container " << stale[0] << " not removed";
  for (int i = 0; i < 200 && !kavach::testing::HostPidsWithCmdline(token).empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(kavach::testing::HostPidsWithCmdline(token).empty()) << "its command survived";
}

}  // namespace
}  // namespace kavach
