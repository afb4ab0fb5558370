// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// gVisor backend (runsc) on the OCI bundle generator. runsc's start is slow
// (~1 s here), so most checks share one prepared sandbox (GVisorShared).
#include "backend/oci/gvisor.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backend/oci/runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/score.h"
#include "linux/file_util.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

// What runsc 20221219 can enforce: no Landlock, no pids limit, no seccomp in
// exec'd commands (see gvisor.h).
SandboxPolicy GVisorStrict() {
  SandboxPolicy p = SandboxPolicy::Strict();
  for (Control c : {Control::kLandlockFilesystem, Control::kLandlockNetwork,
                    Control::kLandlockScopes, Control::kCgroupPids, Control::kSeccomp}) {
    p.optional_controls.insert(c);
  }
  return p;
}

BackendExecRequest Sh(const std::string& script, absl::Duration timeout = absl::Seconds(20)) {
  BackendExecRequest r;
  r.argv = {"/bin/sh", "-c", script};
  r.env = {"PATH=/usr/bin:/bin"};
  r.timeout = timeout;
  return r;
}

std::string MakeStateRoot() {
  std::string t = "/tmp/kavach-gvisor-state-XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) return "";
  return t;
}

std::vector<std::string> ListContainers(const std::string& state_root) {
  absl::StatusOr<GVisorHost> host = ResolveGVisorHost("");
  if (!host.ok()) return {};
  OciRuntime rt = GVisorRuntime(*host, state_root, false);
  absl::StatusOr<RuntimeOutput> r = RunRuntime(rt, {"list", "--quiet"});
  if (!r.ok()) return {};
  return absl::StrSplit(r->out, '\n', absl::SkipEmpty());
}

// Skips unless runsc runs here as root (the cgroup checks need root).
#define REQUIRE_GVISOR()                                                        \
  do {                                                                          \
    if (::geteuid() != 0) GTEST_SKIP() << "the gVisor tests run the root path"; \
    BackendAvailability a = ProbeGVisor();                                      \
    if (!a.available) GTEST_SKIP() << "gVisor unavailable: " << a.reason;       \
  } while (0)

class GVisorShared : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !ProbeGVisor().available) return;
    state_ = new std::string(MakeStateRoot());
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend({.state_root = *state_});
    if (!b.ok()) return;
    SandboxConfig config;
    config.backend = BackendKind::kGVisor;
    config.policy = GVisorStrict();
    report_ = new PrepareReport();
    prepare_status_ = new absl::Status((*b)->Prepare(config, report_));
    backend_ = b->release();
  }
  static void TearDownTestSuite() {
    if (backend_ != nullptr) {
      (void)backend_->Destroy();
      delete backend_;
      backend_ = nullptr;
    }
    if (state_ != nullptr) (void)!::system(("rm -rf " + *state_).c_str());
  }
  void SetUp() override {
    REQUIRE_GVISOR();
    ASSERT_NE(backend_, nullptr);
    ASSERT_TRUE(prepare_status_->ok()) << *prepare_status_;
  }
  ExecResult Run(const BackendExecRequest& req) {
    absl::StatusOr<ExecResult> r = backend_->Exec(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ExecResult{};
  }

  static std::string* state_;
  static Backend* backend_;
  static PrepareReport* report_;
  static absl::Status* prepare_status_;
};
std::string* GVisorShared::state_ = nullptr;
Backend* GVisorShared::backend_ = nullptr;
PrepareReport* GVisorShared::report_ = nullptr;
absl::Status* GVisorShared::prepare_status_ = nullptr;

TEST_F(GVisorShared, RunsCommandsOnGVisorsKernel) {
  EXPECT_EQ(backend_->kind(), BackendKind::kGVisor);
  ExecResult r = Run(Sh("echo hi; cat /proc/version; id -u; exit 3"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.stdout_data, HasSubstr("hi\n"));
  EXPECT_THAT(r.stdout_data, HasSubstr("1000\n"));
  // gVisor reports its own (fixed) kernel version, not the host's.
  absl::StatusOr<std::string> release = sys::ReadFile("/proc/sys/kernel/osrelease");
  ASSERT_TRUE(release.ok());
  EXPECT_THAT(r.stdout_data,
              ::testing::Not(HasSubstr(std::string(absl::StripAsciiWhitespace(*release)))));
}

TEST_F(GVisorShared, EvidenceNamesThePlatformAndSumsToTheScore) {
  const std::vector<Evidence>& ev = report_->evidence;
  auto find = [&](const std::string& c) -> const Evidence* {
    for (const Evidence& e : ev) {
      if (e.control == c) return &e;
    }
    return nullptr;
  };
  const Evidence* platform = find("gvisor.platform");
  ASSERT_NE(platform, nullptr);
  EXPECT_TRUE(platform->verified);
  EXPECT_THAT(platform->detail,
              ::testing::AnyOf(HasSubstr("ptrace"), HasSubstr("systrap"), HasSubstr("kvm")));
  for (const char* c :
       {"gvisor.kernel", "gvisor.sentry_seccomp", "gvisor.sentry_namespaces", "gvisor.sentry_uid",
        "capabilities", "no_new_privs", "namespace.net", "read_only_root", "cgroup.memory"}) {
    const Evidence* e = find(c);
    ASSERT_NE(e, nullptr) << c;
    EXPECT_TRUE(e->verified) << c << ": " << e->detail;
  }
  // Skipped controls are recorded, unverified, with the reason.
  const Evidence* pids = find("cgroup.pids");
  ASSERT_NE(pids, nullptr);
  EXPECT_FALSE(pids->verified);
  const Evidence* seccomp = find("seccomp");
  ASSERT_NE(seccomp, nullptr);
  EXPECT_FALSE(seccomp->verified);
  StrengthScore s = VerifiedScore(BackendKind::kGVisor, ev);
  int sum = 0;
  for (const Evidence& e : ev) sum += e.verified ? e.points : 0;
  EXPECT_EQ(s.value, sum);
  EXPECT_GE(s.value, 70) << "gVisor's base";
}

TEST_F(GVisorShared, TimeoutKillsTheWholeTreeAndTheSandboxStaysUsable) {
  ExecResult r = Run(Sh("sleep 1000 & sleep 1001; echo never", absl::Milliseconds(500)));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.stdout_data, "");
  ExecResult ps =
      Run(Sh("for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; "
             "echo; done"));
  EXPECT_EQ(ps.exit_code, 0);
  EXPECT_THAT(ps.stdout_data, ::testing::Not(HasSubstr("sleep 100")));
}

TEST_F(GVisorShared, ExecsShareStateStdinAndCwd) {
  EXPECT_EQ(Run(Sh("echo kept > /work/f")).exit_code, 0);
  EXPECT_EQ(Run(Sh("cat /work/f")).stdout_data, "kept\n");
  BackendExecRequest req = Sh("cat; pwd");
  req.stdin_data = "in";
  req.cwd = "/tmp";
  EXPECT_EQ(Run(req).stdout_data, "in/tmp\n");
  // The root is read-only (strict).
  EXPECT_NE(Run(Sh("touch /usr/x 2>/dev/null || touch /x")).exit_code, 0);
}

TEST_F(GVisorShared, PauseResume) {
  ASSERT_TRUE(backend_->Pause().ok());
  ASSERT_TRUE(backend_->Resume().ok());
  EXPECT_EQ(Run(Sh("echo back")).stdout_data, "back\n");
}

TEST(GVisorTest, RequiredControlsItCannotApplyFailClosed) {
  REQUIRE_GVISOR();
  struct Case {
    Control missing;
    const char* prefix;
  };
  for (Case c : {Case{Control::kSeccomp, "seccomp:"}, Case{Control::kCgroupPids, "cgroup.pids:"},
                 Case{Control::kLandlockFilesystem, "landlock.fs:"}}) {
    SandboxPolicy p = GVisorStrict();
    p.optional_controls.erase(c.missing);
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend();
    ASSERT_TRUE(b.ok());
    SandboxConfig config;
    config.policy = p;
    PrepareReport report;
    absl::Status s = (*b)->Prepare(config, &report);
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith(c.prefix)) << s;
    EXPECT_TRUE((*b)->Destroy().ok());
  }
}

TEST(GVisorTest, DestroyLeavesNothingAndStaleSandboxesAreRemoved) {
  REQUIRE_GVISOR();
  std::string state = MakeStateRoot();
  ASSERT_FALSE(state.empty());
  // A child prepares a sandbox and dies without cleaning up (as after a
  // kill -9 of kavach).
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend({.state_root = state});
    SandboxConfig config;
    config.policy = SandboxPolicy::Minimal();
    PrepareReport report;
    if (!b.ok() || !(*b)->Prepare(config, &report).ok()) _exit(1);
    _exit(0);  // no destructor runs
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> before = ListContainers(state);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].rfind(absl::StrCat("kavach-", child, "-"), 0), 0u) << before[0];

  absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend({.state_root = state});
  ASSERT_TRUE(b.ok());
  SandboxConfig config;
  config.policy = SandboxPolicy::Minimal();
  config.policy.limits.memory_bytes = 256 << 20;
  PrepareReport report;
  ASSERT_TRUE((*b)->Prepare(config, &report).ok());
  std::vector<std::string> after = ListContainers(state);
  ASSERT_EQ(after.size(), 1u) << "the stale sandbox was not removed";
  EXPECT_NE(after[0], before[0]);
  const std::string id = after[0];
  struct stat st;
  const std::string cgroup = absl::StrCat("/sys/fs/cgroup/memory/kavach-gvisor/", id);
  EXPECT_EQ(::stat(cgroup.c_str(), &st), 0) << cgroup;
  ASSERT_TRUE((*b)->Destroy().ok());
  EXPECT_TRUE(ListContainers(state).empty());
  EXPECT_NE(::stat(cgroup.c_str(), &st), 0) << cgroup << " left behind";
  // runsc's state files name the container.
  std::string left;
  for (const auto& e : std::filesystem::directory_iterator(state)) {
    if (e.path().filename().string().find(id) != std::string::npos) left = e.path();
  }
  EXPECT_EQ(left, "") << "runsc state left behind";
  (void)!::system(("rm -rf " + state).c_str());
}

// Single-exec (kavach exec): the command is the child of the container's
// first process, which gets runsc's OCI seccomp filter: seccomp is required
// here and verified, unlike for `runsc exec`'d commands.
TEST(GVisorTest, SingleExecVerifiesSeccompRunsOneCommandAndLeavesNothing) {
  REQUIRE_GVISOR();
  std::string state = MakeStateRoot();
  ASSERT_FALSE(state.empty());
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend({.state_root = state});
  ASSERT_TRUE(b.ok());
  SandboxConfig config;
  config.policy = GVisorStrict();
  config.policy.optional_controls.erase(Control::kSeccomp);
  config.single_exec = true;
  PrepareReport report;
  absl::Status s = (*b)->Prepare(config, &report);
  ASSERT_TRUE(s.ok()) << s;
  bool seccomp = false;
  for (const Evidence& e : report.evidence) {
    if (e.control == "seccomp") seccomp = e.verified;
  }
  EXPECT_TRUE(seccomp);
  BackendExecRequest req = Sh("cat; echo err >&2; uname -r; exit 5");
  req.stdin_data = "in\n";
  absl::StatusOr<ExecResult> r = (*b)->Exec(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 5);
  EXPECT_EQ(r->stdout_data, "in\n4.4.0\n");
  EXPECT_EQ(r->stderr_data, "err\n");
  EXPECT_EQ((*b)->Exec(Sh("true")).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*b)->Destroy().ok());
  EXPECT_TRUE(ListContainers(state).empty());
  std::string left;
  for (const auto& e : std::filesystem::directory_iterator(state)) {
    if (e.path().filename().string().rfind("kavach-", 0) == 0) left = e.path();
  }
  EXPECT_EQ(left, "") << "runsc state left behind";
  (void)!::system(("rm -rf " + state).c_str());
}

TEST(GVisorTest, UnknownPlatformIsInvalid) {
  EXPECT_TRUE(absl::IsInvalidArgument(CreateGVisorBackend({.platform = "vmx"}).status()));
}

}  // namespace
}  // namespace kavach::internal
