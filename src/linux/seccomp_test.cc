// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"

namespace kavach::sys {
namespace {

using ::testing::HasSubstr;

using ::kavach::test_support::RunInChild;

std::string Expect(bool ok, const std::string& what) { return ok ? "" : what + "; "; }

TEST(SeccompAction, ToString) {
  EXPECT_EQ(SeccompAction::Allow().ToString(), "allow");
  EXPECT_EQ(SeccompAction::Errno(EPERM).ToString(), "errno(1)");
  EXPECT_EQ(SeccompAction::KillProcess().ToString(), "kill_process");
  EXPECT_NE(SeccompAction::Errno(EPERM), SeccompAction::Errno(ENOSYS));
}

TEST(SeccompResolve, KnownAbsentAndNewer) {
  EXPECT_EQ(ResolveSyscallNumber("read"), SYS_read);
  EXPECT_EQ(ResolveSyscallNumber("vm86"), -2);  // i386 only
  EXPECT_EQ(ResolveSyscallNumber("no_such_syscall"), -1);
  EXPECT_EQ(ResolveSyscallNumber("open_tree_attr"), 467);  // newer than libseccomp 2.5.4
}

TEST(SeccompFilterBuilder, UnknownNameIsAnError) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("mount", SeccompAction::Errno(EPERM))
      .AddRule("frobnicate", SeccompAction::Errno(EPERM));
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("frobnicate"));
}

TEST(SeccompFilterBuilder, KnownAbsentNameIsSkippedAndReported) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("vm86", SeccompAction::Errno(EPERM)).AddRule("mount", SeccompAction::Errno(EPERM));
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->skipped_syscalls(), ::testing::ElementsAre("vm86"));
  EXPECT_GT(p->size(), 0u);
}

TEST(SeccompFilterBuilder, RuleEqualToDefaultIsAnError) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("read", SeccompAction::Allow());
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("default"));
}

TEST(SeccompFilterBuilder, BadArgumentIndexIsAnError) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("read", SeccompAction::Errno(EPERM), {SeccompArgCondition::Eq(6, 0)});
  EXPECT_FALSE(b.Build().ok());
}

TEST(SeccompProgram, MoveKeepsProgramPointingAtItsOwnStorage) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("mount", SeccompAction::Errno(EPERM));
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_TRUE(p.ok()) << p.status();
  SeccompProgram moved(std::move(*p));
  EXPECT_EQ(moved.fprog().filter, moved.instructions().data());
  EXPECT_EQ(moved.fprog().len, moved.instructions().size());
  SeccompProgram empty({});
  EXPECT_EQ(empty.InstallRaw(), -EINVAL);
}

TEST(SeccompProgram, InstalledFilterDeniesAndAllows) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("uname", SeccompAction::Errno(EPERM));
  // dup3 denied only with O_CLOEXEC in its flags (argument condition).
  b.AddRule("dup3", SeccompAction::Errno(EACCES),
            {SeccompArgCondition::MaskedEq(2, O_CLOEXEC, O_CLOEXEC)});
  // getpriority denied when any bit of 0x6 is set in arg0 (PRIO_PGRP=1 passes,
  // PRIO_USER=2 is caught).
  b.AddRuleIfAnyBitSet("getpriority", SeccompAction::Errno(EXDEV), 0, 0x6);
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_TRUE(p.ok()) << p.status();
  std::string err = RunInChild([&]() -> std::string {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "nnp";
    if (int rc = p->InstallRaw(); rc != 0) return "install: " + std::string(strerror(-rc));
    std::string e;
    struct utsname u;
    errno = 0;
    e += Expect(::uname(&u) == -1 && errno == EPERM, "uname not denied");
    e += Expect(::getpid() > 0, "getpid");
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    e += Expect(fd >= 0, "open");
    errno = 0;
    e += Expect(::dup3(fd, 100, O_CLOEXEC) == -1 && errno == EACCES, "dup3(O_CLOEXEC) not denied");
    e += Expect(::dup3(fd, 101, 0) == 101, "dup3(0) denied");
    errno = 0;
    e += Expect(::syscall(SYS_getpriority, 2, 0) == -1 && errno == EXDEV,
                "getpriority(PRIO_USER) not denied");
    errno = 0;
    long r = ::syscall(SYS_getpriority, 1, 0);
    e += Expect(!(r == -1 && errno == EXDEV), "getpriority(PRIO_PGRP) denied");
    // Read our own status: filter mode.
    char buf[4096] = {};
    int sfd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    (void)!::read(sfd, buf, sizeof buf - 1);
    e += Expect(std::strstr(buf, "Seccomp:\t2") != nullptr, "status does not show filter mode");
    return e;
  });
  EXPECT_EQ(err, "");
}

TEST(SeccompProgram, InstallWithoutNoNewPrivsFailsUnprivileged) {
  SeccompFilterBuilder b(SeccompAction::Allow());
  b.AddRule("uname", SeccompAction::Errno(EPERM));
  absl::StatusOr<SeccompProgram> p = b.Build();
  ASSERT_TRUE(p.ok()) << p.status();
  std::string err = RunInChild([&]() -> std::string {
    if (::getuid() == 0 &&
        (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)) {
      return "drop to 65534 failed";
    }
    int rc = p->InstallRaw();
    if (rc != -EACCES) return "expected -EACCES without no_new_privs, got " + std::to_string(rc);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "nnp";
    rc = p->InstallRaw();
    if (rc != 0) return "install with nnp as 65534: " + std::to_string(rc);
    struct utsname u;
    if (::uname(&u) != -1 || errno != EPERM) return "uname not denied";
    return "";
  });
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace kavach::sys
