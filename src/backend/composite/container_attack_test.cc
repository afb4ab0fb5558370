// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The adversarial suite's attacks (tests/adversarial/attack.cc, the
// kavach_attack helper) on the container backends: oci with crun and with
// runc, gvisor, and the composite oci+process. One prepared sandbox per
// backend is shared by its attacks (runsc starts slowly).
//
// Only the attacks meaningful for a backend run on it: the syscall attacks
// (ptrace, mount, unshare, bpf, keyctl, io_uring, userfaultfd, raw sockets)
// test a seccomp filter and a dropped capability set, which gVisor's Sentry
// replaces (inside gVisor they act on its emulated kernel, not the host's),
// so they run on oci and oci+process only. Host files, the host's TCP
// listener and /proc/sys run on all four.
//
// Each must fail if its control were skipped: ControlSkipped shows that the
// same attack escapes when the control is removed (unshare under oci without
// seccomp, which is also the composite's outer layer alone; a host file that
// gVisor's gofer is told to serve).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adversarial/test_support.h"
#include "backend/composite/composite_backend.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

using ::kavach::testing::AttackOutcome;
using ::kavach::testing::AttackPath;
using ::kavach::testing::ParseAttack;
using ::kavach::testing::TempDir;
using ::kavach::testing::WithAttackBinary;
using ::kavach::testing::WriteHostFile;

struct Target {
  BackendKind kind;
  std::optional<BackendKind> inner;
  const char* runtime;  // oci: crun | runc
};

const std::map<std::string, Target>& Targets() {
  static const auto* t = new std::map<std::string, Target>{
      {"oci_crun", {BackendKind::kOci, std::nullopt, "crun"}},
      {"oci_runc", {BackendKind::kOci, std::nullopt, "runc"}},
      {"gvisor", {BackendKind::kGVisor, std::nullopt, ""}},
      {"oci_process", {BackendKind::kOci, BackendKind::kProcess, "crun"}},
  };
  return *t;
}

// Strict, minus what the backend cannot apply (it fails closed otherwise);
// the helper's directory bound read-only. The working directory is not /work:
// the build tree (and the helper) may live under /work on the host.
SandboxPolicy PolicyFor(const std::string& name) {
  SandboxPolicy p = SandboxPolicy::Strict();
  const Target& t = Targets().at(name);
  if (!t.inner) {
    for (Control c :
         {Control::kLandlockFilesystem, Control::kLandlockNetwork, Control::kLandlockScopes}) {
      p.optional_controls.insert(c);
    }
  }
  if (t.kind == BackendKind::kGVisor) {
    p.optional_controls.insert(Control::kSeccomp);
    p.optional_controls.insert(Control::kCgroupPids);
  }
  p.working_directory = "/sandbox-work";
  return WithAttackBinary(p);
}

absl::StatusOr<std::unique_ptr<Sandbox>> Make(const std::string& name, SandboxPolicy policy) {
  const Target& t = Targets().at(name);
  if (*t.runtime) ::setenv("KAVACH_OCI_RUNTIME", t.runtime, 1);
  SandboxConfig config;
  config.backend = t.kind;
  config.inner = t.inner;
  config.policy = std::move(policy);
  config.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<Sandbox>> sb = Sandbox::Create(config);
  ::unsetenv("KAVACH_OCI_RUNTIME");
  if (!sb.ok()) return sb.status();
  if (absl::Status s = (*sb)->Start(); !s.ok()) return s;
  return sb;
}

// Why `name` cannot run here, or "".
std::string Unavailable(const std::string& name) {
  if (::geteuid() != 0) return "the container backends run the root path (cgroups)";
  const Target& t = Targets().at(name);
  BackendAvailability a = Probe(t.kind);
  if (!a.available) return a.reason;
  if (t.inner && !internal::KavachCliPath().ok()) return "no kavach CLI for the inner layer";
  if (::access(AttackPath().c_str(), X_OK) != 0) return "kavach_attack not built";
  return "";
}

class ContainerAttack : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    for (auto& [name, sb] : Shared()) {
      if (sb) (void)sb->Destroy();
    }
    Shared().clear();
  }
  static std::map<std::string, std::unique_ptr<Sandbox>>& Shared() {
    static auto* m = new std::map<std::string, std::unique_ptr<Sandbox>>();
    return *m;
  }

  void SetUp() override {
    std::string why = Unavailable(GetParam());
    if (!why.empty()) GTEST_SKIP() << GetParam() << ": " << why;
    std::unique_ptr<Sandbox>& sb = Shared()[GetParam()];
    if (!sb) {
      absl::StatusOr<std::unique_ptr<Sandbox>> made = Make(GetParam(), PolicyFor(GetParam()));
      ASSERT_TRUE(made.ok()) << made.status();
      sb = *std::move(made);
      // The helper runs at all (else a failure could pass for "blocked").
      absl::StatusOr<ExecResult> r = sb->Exec({AttackPath(), "uname"});
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(ParseAttack(*r).verdict, "info") << kavach::testing::DescribeResult(*r);
    }
    sandbox_ = sb.get();
  }

  AttackOutcome Attack(Sandbox* sb, std::vector<std::string> args) {
    args.insert(args.begin(), AttackPath());
    absl::StatusOr<ExecResult> r = sb->Exec(args);
    AttackOutcome o;
    if (!r.ok()) {
      o.verdict = "exec-failed";
      o.detail = r.status().ToString();
      return o;
    }
    o = ParseAttack(*r);
    std::printf("    [%s] %s: %s %s\n", GetParam().c_str(), args[1].c_str(), o.verdict.c_str(),
                o.detail.c_str());
    return o;
  }
  bool IsGVisor() const { return Targets().at(GetParam()).kind == BackendKind::kGVisor; }

  Sandbox* sandbox_ = nullptr;
};

#define EXPECT_BLOCKED(o) EXPECT_TRUE((o).blocked()) << (o).Describe()

TEST_P(ContainerAttack, SyscallAttacks) {
  if (IsGVisor()) GTEST_SKIP() << "act on gVisor's emulated kernel, not the host's";
  for (const char* a :
       {"ptrace", "mount", "unshare", "bpf", "keyctl", "iouring", "userfaultfd", "rawsock"}) {
    SCOPED_TRACE(a);
    EXPECT_BLOCKED(Attack(sandbox_, {a}));
  }
}

TEST_P(ContainerAttack, WriteProcSys) { EXPECT_BLOCKED(Attack(sandbox_, {"procsys"})); }

TEST_P(ContainerAttack, ReadHostFilesOutsideAllowedPaths) {
  TempDir dir(0755);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteHostFile(dir.Join("secret.txt"), "TOP-SECRET\n", 0644));
  AttackOutcome o = Attack(sandbox_, {"read", dir.Join("secret.txt"), dir.path(), "/etc/shadow"});
  EXPECT_BLOCKED(o);
  EXPECT_EQ(o.result.stdout_data.find("TOP-SECRET"), std::string::npos);
}

// A listener on all host addresses; network none must keep it unreachable.
int Listen(std::string* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd, 8) != 0) {
    return -1;
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = std::to_string(ntohs(sa.sin_port));
  return fd;
}

TEST_P(ContainerAttack, CannotReachHostTcpListener) {
  std::string port;
  int listener = Listen(&port);
  ASSERT_GE(listener, 0);
  EXPECT_BLOCKED(Attack(sandbox_, {"connect", "127.0.0.1", port}));
  int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_LT(accepted, 0) << "the host listener accepted a connection";
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
}

// The controls, removed: the same attacks get through.
TEST_P(ContainerAttack, ControlSkipped) {
  if (GetParam() == "oci_runc") GTEST_SKIP() << "covered by oci_crun (same bundle)";
  if (IsGVisor()) {
    // The host directory bound in: the file is read (the file-system view is
    // the control). gVisor with host networking does not start here (runsc
    // 20221219 with a user namespace), so the listener check has no control.
    TempDir dir(0755);
    ASSERT_TRUE(dir.ok());
    ASSERT_TRUE(WriteHostFile(dir.Join("secret.txt"), "TOP-SECRET\n", 0644));
    SandboxPolicy p = PolicyFor(GetParam());
    p.filesystem.read_only.push_back(dir.path());
    absl::StatusOr<std::unique_ptr<Sandbox>> sb = Make(GetParam(), p);
    ASSERT_TRUE(sb.ok()) << sb.status();
    AttackOutcome o = Attack(sb->get(), {"read", dir.Join("secret.txt")});
    EXPECT_TRUE(o.escaped()) << o.Describe();
    EXPECT_TRUE((*sb)->Destroy().ok());
    return;
  }
  // oci without seccomp (for oci_process: its outer layer alone): a user
  // namespace can be made.
  SandboxPolicy p = WithAttackBinary(SandboxPolicy::Minimal());
  p.working_directory = "/sandbox-work";
  absl::StatusOr<std::unique_ptr<Sandbox>> sb = Make("oci_crun", p);
  ASSERT_TRUE(sb.ok()) << sb.status();
  AttackOutcome o = Attack(sb->get(), {"unshare"});
  EXPECT_TRUE(o.escaped()) << o.Describe();
  EXPECT_TRUE((*sb)->Destroy().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ContainerAttack,
                         ::testing::Values("oci_crun", "oci_runc", "gvisor", "oci_process"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace kavach

namespace kavach {
namespace {

// SandboxPool hands out prepared sandboxes of every container backend.
TEST(ContainerPool, ClaimsWorkOnEveryContainerBackend) {
  for (const std::string name : {"oci_crun", "oci_runc", "gvisor", "oci_process"}) {
    SCOPED_TRACE(name);
    std::string why = Unavailable(name);
    if (!why.empty()) {
      std::printf("    [%s] skipped: %s\n", name.c_str(), why.c_str());
      continue;
    }
    const Target& t = Targets().at(name);
    if (*t.runtime) ::setenv("KAVACH_OCI_RUNTIME", t.runtime, 1);
    SandboxConfig config;
    config.backend = t.kind;
    config.inner = t.inner;
    config.policy = PolicyFor(name);
    absl::StatusOr<std::unique_ptr<SandboxPool>> pool = SandboxPool::Create(config, 1);
    ASSERT_TRUE(pool.ok()) << pool.status();
    EXPECT_EQ((*pool)->available(), 1u);
    absl::StatusOr<std::unique_ptr<Sandbox>> a = (*pool)->Claim();
    absl::StatusOr<std::unique_ptr<Sandbox>> b = (*pool)->Claim();  // made on demand
    ::unsetenv("KAVACH_OCI_RUNTIME");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_NE((*a)->id(), (*b)->id());
    absl::StatusOr<ExecResult> r = (*a)->Exec({"/bin/sh", "-c", "echo pooled"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "pooled\n");
    EXPECT_TRUE((*a)->Destroy().ok());
    EXPECT_TRUE((*b)->Destroy().ok());
  }
}

}  // namespace
}  // namespace kavach
