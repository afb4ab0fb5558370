// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/capabilities.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/securebits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"
#include "linux/testing/run_in_child.h"

namespace kavach::sys {
namespace {

using ::testing::HasSubstr;

using ::kavach::test_support::RunInChild;

std::string Check(bool ok, const std::string& what) {
  return ok ? "" : what + " (errno " + strerror(errno) + "); ";
}
std::string CheckErrno(long rc, int want, const std::string& what) {
  int err = errno;
  if (rc == -1 && err == want) return "";
  return what + ": rc=" + std::to_string(rc) + " errno=" + strerror(err) + " want " +
         strerror(want) + "; ";
}

// Everything must read zero after a full drop.
std::string CheckAllZero(const char* when) {
  absl::StatusOr<ProcStatusSecurity> s = ReadProcStatusSecurity();
  if (!s.ok()) return std::string(s.status().message());
  std::string e;
  e += Check(s->cap_eff == 0, std::string(when) + ": CapEff != 0");
  e += Check(s->cap_prm == 0, std::string(when) + ": CapPrm != 0");
  e += Check(s->cap_inh == 0, std::string(when) + ": CapInh != 0");
  e += Check(s->cap_bnd == 0, std::string(when) + ": CapBnd != 0");
  e += Check(s->cap_amb == 0, std::string(when) + ": CapAmb != 0");
  return e;
}

// Output of `sh -c script` run from this (already confined) process.
std::string ShellOutput(const char* script) {
  int p[2];
  if (::pipe(p) != 0) return "";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::execl("/bin/sh", "sh", "-c", script, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

class CapabilitiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "dropping capabilities needs a privileged test runner";
  }
};

TEST(LastCapability, MatchesProc) {
  absl::StatusOr<std::string> text = ReadFile("/proc/sys/kernel/cap_last_cap");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(LastCapability(), std::atoi(text->c_str()));
  EXPECT_GE(LastCapability(), 37);  // CAP_AUDIT_READ, Linux 3.16
}

TEST(ProcStatusSecurity, Parses) {
  const std::string status =
      "Name:\tsh\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
      "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\n"
      "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nSpeculation_Store_Bypass:\tthread "
      "force mitigated\n";
  absl::StatusOr<ProcStatusSecurity> s = ParseProcStatusSecurity(status);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cap_eff, 0x1ffffffffffULL);
  EXPECT_EQ(s->cap_prm, 0x1ffffffffffULL);
  EXPECT_EQ(s->cap_bnd, 0x1ffffffffffULL);
  EXPECT_EQ(s->cap_inh, 0u);
  EXPECT_EQ(s->cap_amb, 1u);
  EXPECT_TRUE(s->no_new_privs);
  EXPECT_EQ(s->seccomp_mode, 2);
  EXPECT_EQ(s->seccomp_filters, 3);
}

TEST(ProcStatusSecurity, RejectsMissingOrMalformedFields) {
  EXPECT_FALSE(ParseProcStatusSecurity("Name:\tx\n").ok());
  absl::StatusOr<ProcStatusSecurity> bad =
      ParseProcStatusSecurity("CapPrm:\t0\nCapEff:\tzz\nCapBnd:\t0\nNoNewPrivs:\t0\nSeccomp:\t0\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("CapEff"));
}

TEST(ProcStatusSecurity, ReadsSelfAndMissingPid) {
  absl::StatusOr<ProcStatusSecurity> self = ReadProcStatusSecurity();
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_NE(self->cap_bnd, 0u);  // the test runner has not dropped anything
  absl::StatusOr<ProcStatusSecurity> by_pid = ReadProcStatusSecurity(::getpid());
  ASSERT_TRUE(by_pid.ok());
  EXPECT_EQ(by_pid->cap_bnd, self->cap_bnd);
  EXPECT_EQ(ReadProcStatusSecurity(0x7ffffff0).status().code(), absl::StatusCode::kNotFound);
}

TEST(NoNewPrivs, IsSetAndVisible) {
  EXPECT_EQ(RunInChild([] {
              std::string e = Check(SetNoNewPrivsRaw() == 0, "SetNoNewPrivsRaw");
              absl::StatusOr<ProcStatusSecurity> s = ReadProcStatusSecurity();
              return e + Check(s.ok() && s->no_new_privs, "NoNewPrivs not 1");
            }),
            "");
}

TEST_F(CapabilitiesTest, RootDropsEverythingAndCannotRegain) {
  const int last_cap = LastCapability();
  char dir[] = "/tmp/kavach-caps-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string err = RunInChild([&] {
    absl::StatusOr<ProcStatusSecurity> before = ReadProcStatusSecurity();
    std::string e = Check(before.ok() && before->cap_eff != 0, "root starts with capabilities");
    // setns needs CAP_SYS_ADMIN even into the namespace we are in.
    int ns = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    e += Check(ns >= 0, "open /proc/self/ns/mnt");
    e += Check(SetNoNewPrivsRaw() == 0, "SetNoNewPrivsRaw");
    int rc = DropAllCapabilitiesRaw(last_cap);
    if (rc != 0) return "DropAllCapabilitiesRaw: " + std::string(strerror(-rc));
    e += CheckAllZero("after drop");
    absl::StatusOr<ProcStatusSecurity> s = ReadProcStatusSecurity();
    e += Check(s.ok() && s->no_new_privs, "NoNewPrivs");
    long bits = ::prctl(PR_GET_SECUREBITS);
    e += Check(bits >= 0 && (bits & SECBIT_NOROOT) && (bits & SECBIT_NOROOT_LOCKED) &&
                   (bits & SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED),
               "securebits not set and locked");
    // Still uid 0, but nothing privileged works any more.
    errno = 0;
    e += CheckErrno(::mount("none", dir, "tmpfs", 0, nullptr), EPERM, "mount");
    errno = 0;
    e += CheckErrno(::setns(ns, CLONE_NEWNS), EPERM, "setns into a mount namespace");
    errno = 0;
    e += CheckErrno(::unshare(CLONE_NEWNS), EPERM, "unshare(CLONE_NEWNS)");
    errno = 0;
    e += CheckErrno(::chown("/etc/hostname", 1, 1), EPERM, "chown a root-owned file");
    errno = 0;
    e += CheckErrno(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21 /*SYS_ADMIN*/, 0, 0), EPERM,
                    "raise an ambient capability");
    errno = 0;
    e += CheckErrno(::prctl(PR_SET_SECUREBITS, 0UL), EPERM, "unlock the securebits");
    // execve as uid 0 normally grants the full permitted set; not now.
    std::string out = ShellOutput("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status");
    e += Check(out.find("CapEff:\t0000000000000000") != std::string::npos &&
                   out.find("CapPrm:\t0000000000000000") != std::string::npos &&
                   out.find("CapBnd:\t0000000000000000") != std::string::npos,
               "a program exec'd as uid 0 regained capabilities: " + out);
    return e;
  });
  if (::umount2(dir, MNT_DETACH) == 0) ADD_FAILURE() << "the mount went through";
  ::rmdir(dir);
  EXPECT_EQ(err, "");
}

TEST_F(CapabilitiesTest, SecurebitsKeepRootPowerlessEvenWithoutNoNewPrivs) {
  // No no_new_privs here: only the empty bounding set and SECBIT_NOROOT stand
  // between an exec as uid 0 and a full set of capabilities.
  const int last_cap = LastCapability();
  EXPECT_EQ(RunInChild([&] {
              int rc = DropAllCapabilitiesRaw(last_cap);
              if (rc != 0) return "DropAllCapabilitiesRaw: " + std::string(strerror(-rc));
              std::string out = ShellOutput("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status");
              return Check(out.find("CapEff:\t0000000000000000") != std::string::npos &&
                               out.find("NoNewPrivs:\t0") != std::string::npos,
                           "unexpected: " + out);
            }),
            "");
}

TEST_F(CapabilitiesTest, SplitDropAroundUidChange) {
  const int last_cap = LastCapability();
  EXPECT_EQ(RunInChild([&] {
              int rc = DropBoundingSetRaw(last_cap);
              if (rc != 0) return "DropBoundingSetRaw: " + std::string(strerror(-rc));
              // CAP_SETUID/CAP_SETGID are still effective: the uid change works.
              std::string e = Check(::setresgid(1000, 1000, 1000) == 0, "setresgid");
              e += Check(::setresuid(1000, 1000, 1000) == 0, "setresuid");
              rc = ClearCapabilitySetsRaw();
              if (rc != 0) return e + "ClearCapabilitySetsRaw: " + strerror(-rc);
              e += CheckAllZero("after split drop");
              errno = 0;
              e += CheckErrno(::setresuid(0, 0, 0), EPERM, "back to uid 0");
              return e;
            }),
            "");
}

TEST_F(CapabilitiesTest, UnprivilegedCallerCannotPromiseAnEmptyBoundingSet) {
  const int last_cap = LastCapability();
  EXPECT_EQ(RunInChild([&] {
              if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
                return std::string("setresuid 65534");
              }
              // The bounding set is still full and cannot be dropped: fail
              // closed rather than report success.
              int rc = DropAllCapabilitiesRaw(last_cap);
              return Check(rc == -EPERM, "expected -EPERM, got " + std::to_string(rc));
            }),
            "");
}

TEST_F(CapabilitiesTest, RootInAUserNamespaceDropsEverything) {
  const int last_cap = LastCapability();
  EXPECT_EQ(RunInChild([&] {
              if (::unshare(CLONE_NEWUSER) != 0) return std::string("unshare(CLONE_NEWUSER)");
              absl::Status st = WriteKernelFile("/proc/self/setgroups", "deny");
              if (st.ok()) st = WriteKernelFile("/proc/self/uid_map", "0 0 1");
              if (st.ok()) st = WriteKernelFile("/proc/self/gid_map", "0 0 1");
              if (!st.ok()) return std::string(st.message());
              absl::StatusOr<ProcStatusSecurity> before = ReadProcStatusSecurity();
              std::string e = Check(before.ok() && before->cap_eff != 0,
                                    "uid 0 in the namespace holds capabilities");
              e += Check(SetNoNewPrivsRaw() == 0, "SetNoNewPrivsRaw");
              int rc = DropAllCapabilitiesRaw(last_cap);
              if (rc != 0) return e + "DropAllCapabilitiesRaw: " + strerror(-rc);
              e += CheckAllZero("in user namespace");
              errno = 0;
              e += CheckErrno(::unshare(CLONE_NEWNS), EPERM, "unshare(CLONE_NEWNS)");
              std::string out = ShellOutput("grep CapEff /proc/self/status");
              e += Check(out.find("CapEff:\t0000000000000000") != std::string::npos,
                         "exec regained: " + out);
              return e;
            }),
            "");
}

}  // namespace
}  // namespace kavach::sys
