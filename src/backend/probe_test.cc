// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/probe.h"

#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr BackendKind kAllKinds[] = {
    BackendKind::kProcess, BackendKind::kGVisor, BackendKind::kFirecracker, BackendKind::kWasm,
    BackendKind::kOci,     BackendKind::kSgx,    BackendKind::kSev,         BackendKind::kTdx,
    BackendKind::kSyAgnos, BackendKind::kNoop};

ProcessHostFacts GoodHost() {
  ProcessHostFacts f;
  f.root = false;
  f.max_user_namespaces = "96369\n";
  f.unprivileged_userns_clone = "1\n";
  f.apparmor_restrict_userns = "0\n";
  f.proc_self_status = "Name:\tx\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n";
  return f;
}

TEST(ProbeTest, EveryUnavailableKindHasAReason) {
  for (BackendKind kind : kAllKinds) {
    BackendAvailability a = Probe(kind);
    EXPECT_EQ(a.kind, kind);
    if (!a.available) {
      EXPECT_FALSE(a.reason.empty()) << static_cast<int>(kind);
    }
  }
}

TEST(ProbeTest, NoopIsAlwaysAvailable) {
  BackendAvailability a = Probe(BackendKind::kNoop);
  EXPECT_TRUE(a.available);
}

TEST(ProbeTest, KindsNotBuiltSaySoAndNameWhatTheHostHas) {
  struct Case {
    BackendKind kind;
    const char* mentions;
  } cases[] = {
      {BackendKind::kSgx, "/dev/sgx_enclave"}, {BackendKind::kSev, "/dev/sev"},
      {BackendKind::kTdx, "/dev/tdx_guest"},   {BackendKind::kSyAgnos, "qemu-system-x86_64"},
      {BackendKind::kSyAgnos, "swtpm"},
  };
  for (const Case& c : cases) {
    BackendAvailability a = Probe(c.kind);
    EXPECT_FALSE(a.available);
    EXPECT_THAT(a.reason, HasSubstr("not built in this version"));
    EXPECT_THAT(a.reason, HasSubstr(c.mentions));
  }
}

TEST(ProbeTest, GVisorNamesRunscAndThePlatformOrWhyNot) {
  BackendAvailability a = Probe(BackendKind::kGVisor);
  EXPECT_THAT(a.reason, HasSubstr("runsc"));
  if (a.available) {
    // The chosen platform and what was tried.
    EXPECT_THAT(a.reason, HasSubstr("platform "));
    EXPECT_THAT(a.reason, HasSubstr("systrap"));
  }
}

TEST(ProbeTest, MicroVmNamesTheVmmTheAcceleratorAndFirecracker) {
  BackendAvailability a = Probe(BackendKind::kFirecracker);
  EXPECT_THAT(a.reason, HasSubstr("firecracker"));
  EXPECT_THAT(a.reason, HasSubstr("qemu-system-x86_64"));
  if (a.available) {
    EXPECT_THAT(a.reason, HasSubstr("accelerator"));
  }
}

// Restores $PATH when a test that changed it ends.
class PathRestorer {
 public:
  PathRestorer() {
    const char* p = getenv("PATH");
    if (p != nullptr) saved_ = p;
  }
  ~PathRestorer() {
    if (saved_.has_value()) {
      setenv("PATH", saved_->c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }

 private:
  std::optional<std::string> saved_;
};

TEST(ProbeTest, ToolStateMatchesThePath) {
  PathRestorer restore;
  setenv("PATH", "/usr/bin:/bin", 1);
  BackendAvailability a = Probe(BackendKind::kWasm);
  bool has_node = access("/usr/bin/node", X_OK) == 0 || access("/bin/node", X_OK) == 0;
  if (has_node) {
    EXPECT_THAT(a.reason, HasSubstr("node found at /"));
  } else {
    EXPECT_THAT(a.reason, HasSubstr("node not found in PATH"));
  }
  setenv("PATH", "/nonexistent-kavach-dir", 1);
  EXPECT_THAT(Probe(BackendKind::kGVisor).reason, HasSubstr("runsc not found in PATH"));
}

TEST(ProbeTest, DeviceStateSaysMissing) {
  struct stat st;
  if (stat("/dev/sev", &st) == 0) GTEST_SKIP() << "this host has /dev/sev";
  EXPECT_THAT(Probe(BackendKind::kSev).reason, HasSubstr("/dev/sev missing"));
}

TEST(ProbeProcessTest, GoodHostIsAvailable) {
  BackendAvailability a = ProbeProcessFrom(GoodHost());
  EXPECT_TRUE(a.available) << a.reason;
  EXPECT_EQ(a.kind, BackendKind::kProcess);
}

TEST(ProbeProcessTest, MissingUserNamespaces) {
  ProcessHostFacts f = GoodHost();
  f.max_user_namespaces.reset();
  BackendAvailability a = ProbeProcessFrom(f);
  EXPECT_FALSE(a.available);
  EXPECT_THAT(a.reason, HasSubstr("max_user_namespaces"));
}

TEST(ProbeProcessTest, ZeroUserNamespaces) {
  ProcessHostFacts f = GoodHost();
  f.max_user_namespaces = "0\n";
  f.root = true;  // even root cannot make one
  BackendAvailability a = ProbeProcessFrom(f);
  EXPECT_FALSE(a.available);
  EXPECT_THAT(a.reason, HasSubstr("user namespaces disabled"));
}

TEST(ProbeProcessTest, DebianKnobBlocksOnlyUnprivileged) {
  ProcessHostFacts f = GoodHost();
  f.unprivileged_userns_clone = "0\n";
  BackendAvailability a = ProbeProcessFrom(f);
  EXPECT_FALSE(a.available);
  EXPECT_THAT(a.reason, HasSubstr("unprivileged_userns_clone"));
  f.root = true;
  EXPECT_TRUE(ProbeProcessFrom(f).available);
}

TEST(ProbeProcessTest, AppArmorKnobBlocksOnlyUnprivileged) {
  ProcessHostFacts f = GoodHost();
  f.apparmor_restrict_userns = "1\n";
  BackendAvailability a = ProbeProcessFrom(f);
  EXPECT_FALSE(a.available);
  EXPECT_THAT(a.reason, HasSubstr("apparmor_restrict_unprivileged_userns"));
  f.root = true;
  EXPECT_TRUE(ProbeProcessFrom(f).available);
}

TEST(ProbeProcessTest, MissingSeccomp) {
  ProcessHostFacts f = GoodHost();
  f.proc_self_status = "Name:\tx\nNoNewPrivs:\t0\n";
  BackendAvailability a = ProbeProcessFrom(f);
  EXPECT_FALSE(a.available);
  EXPECT_THAT(a.reason, HasSubstr("seccomp"));
  f.proc_self_status.reset();
  EXPECT_FALSE(ProbeProcessFrom(f).available);
}

TEST(ProbeProcessTest, ThisHostMatchesItsOwnFacts) {
  // Whatever this host is, Probe must agree with the facts it reads.
  BackendAvailability live = Probe(BackendKind::kProcess);
  BackendAvailability from_facts = ProbeProcessFrom(ReadProcessHostFacts());
  EXPECT_EQ(live.available, from_facts.available);
  EXPECT_FALSE(live.reason.empty());
}

}  // namespace
}  // namespace kavach::internal
