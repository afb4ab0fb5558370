// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach's cgroup v2 paths on a real cgroup v2 hierarchy: the suites run as
// root inside a guest booted on Debian's stock kernel (guest_kernel.h), where
// memory, pids and cpu are v2 controllers and there is no v1. On this host
// the same tests skip their v2 cases (its controllers are all on v1).
#include "guest_kernel/guest_kernel.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kavach::test_support {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Shell lines: a cgroup delegated to uid 65534 as systemd delegates one (the
// directory and its delegation files owned by the user), with the running
// shell moved into a leaf below it, as a user's processes live.
constexpr char kDelegateToUser[] =
    "D=/sys/fs/cgroup/user-65534; mkdir -p $D/shell || exit 90\n"
    "for d in $D $D/shell; do\n"
    "  chown 65534:65534 $d $d/cgroup.procs $d/cgroup.threads $d/cgroup.subtree_control"
    " || exit 91\n"
    "done\n"
    "echo $$ > $D/shell/cgroup.procs || exit 92\n";
// Prefix of a command run as uid 65534.
constexpr char kAsUser[] =
    "setpriv --reuid=65534 --regid=65534 --clear-groups -- env HOME=/tmp TMPDIR=/tmp ";

class GuestKernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<GuestKernel> g = GuestKernel::Prepare();
    if (g.ok()) {
      guest_ = new GuestKernel(*std::move(g));
    } else {
      skip_ = new std::string(g.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete guest_;
    guest_ = nullptr;
    delete skip_;
    skip_ = nullptr;
  }
  void SetUp() override {
    // Only a host that cannot boot a guest at all skips (Prepare says
    // FailedPrecondition); any other failure to prepare one is a failure.
    if (skip_ != nullptr && absl::StartsWith(*skip_, "FAILED_PRECONDITION")) {
      GTEST_SKIP() << "no guest kernel here: " << *skip_;
    }
    ASSERT_EQ(skip_, nullptr) << "could not prepare the guest: " << *skip_;
  }
  // Runs `command` in a fresh guest; fails the test when the guest itself
  // could not run it.
  GuestRun Run(const std::string& command) {
    absl::StatusOr<GuestRun> run = guest_->Run(command);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *std::move(run) : GuestRun{};
  }
  static std::string Bin(const std::string& name) { return TestBinaryDir() + "/" + name; }
  static int CountLines(const std::string& text, const std::string& prefix) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, prefix)) ++n;
    }
    return n;
  }

  // Runs the adversarial suite's `basic` cases in a guest (`prefix` runs
  // first, e.g. to become another user): none fails, nearly all run, and
  // each of `must_pass` is among those that did.
  void ExpectAdversarialBasicPasses(const std::string& prefix,
                                    const std::vector<std::string>& must_pass) {
    GuestRun run = Run(prefix + Bin("kavach_adversarial_test") +
                       " --gtest_color=no --gtest_filter='Root/AttackTest.*/basic'");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(CountLines(run.output, "[  FAILED  ]"), 0) << run.output;
    EXPECT_GE(CountLines(run.output, "[       OK ]"), 25) << run.output;
    for (const std::string& t : must_pass) {
      EXPECT_THAT(run.output,
                  HasSubstr(absl::StrCat("[       OK ] Root/AttackTest.", t, "/basic (")))
          << run.output;
    }
  }

  static GuestKernel* guest_;
  static std::string* skip_;
};
GuestKernel* GuestKernelTest::guest_ = nullptr;
std::string* GuestKernelTest::skip_ = nullptr;

TEST_F(GuestKernelTest, GuestHasAPureCgroupV2HierarchyWithTheControllers) {
  GuestRun run =
      Run("cat /sys/fs/cgroup/cgroup.subtree_control; grep -c cgroup /proc/mounts; "
          "grep -E ' cgroup ' /proc/mounts || echo no-v1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("cpu memory pids"));
  EXPECT_THAT(run.output, HasSubstr("no-v1"));
}

// The cgroup layer's own suite: every v2 case runs (on this host they skip).
TEST_F(GuestKernelTest, CgroupSuiteRunsItsV2CasesAndPasses) {
  GuestRun run = Run(Bin("kavach_linux_test") + " --gtest_color=no --gtest_filter='*Cgroup*'");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "[  FAILED  ]"), 0) << run.output;
  // A case that skipped prints [  SKIPPED ], not [       OK ]: each of these
  // must really have run.
  std::vector<std::string> must_pass = {"CgroupTest.CloneIntoV2Cgroup",
                                        "CgroupTest.V2PlacementBelowABusyOwnCgroup",
                                        "CgroupTest.V2PlacementInTheDelegationAboveABusyOwnCgroup"};
  for (const char* mode : {"V2", "V2WithoutCgroupKill"}) {
    for (const char* t :
         {"AddProcessPutsChildInEveryHierarchy", "FreezeStopsProgressAndThawResumes",
          "KillAllKillsChildrenGrandchildrenAndOrphans", "DestroyLeavesNoDirectoryAndIsIdempotent",
          "DestructorRemovesEverything", "ForkBombIsBoundedByPidsMax",
          "MemoryHogIsOomKilledAndCounted", "CpuTimeCountsWorkDoneInside"}) {
      must_pass.push_back(absl::StrCat("Cgroup/CgroupModeTest.", t, "/", mode));
    }
  }
  for (const std::string& name : must_pass) {
    EXPECT_THAT(run.output, HasSubstr("[       OK ] " + name + " (")) << name << "\n" << run.output;
  }
}

// The adversarial suite under `basic` (strict needs Landlock ABI 6; this
// kernel may have less): the fork bomb is bounded by pids.max, the memory
// hog is OOM-killed and reported from memory.events, the timeout's kill of
// the whole tree is cgroup.kill.
TEST_F(GuestKernelTest, AdversarialSuiteUnderBasicPassesOnCgroupV2) {
  ExpectAdversarialBasicPasses("", {"ForkBombBoundedByPidsLimit", "MemoryHogIsOomKilled",
                                    "GrandchildDiesWithTimeout", "GrandchildDiesWithCommand"});
}

// The CLI as root on v2: the limits are written and read back (evidence),
// the command sees its own cgroup namespace; strict either verifies every
// control or, on a kernel with Landlock below ABI 6, fails closed naming
// the control.
TEST_F(GuestKernelTest, CliVerifiesCgroupV2LimitsAndStrictFailsClosedWhereLandlockIsOld) {
  GuestRun run = Run(Bin("kavach") +
                     " exec --policy basic --memory 64 --pids 32 --cpus 0.5 --no-gate --json -- "
                     "cat /proc/self/cgroup; "
                     "echo; echo ---strict---; " +
                     Bin("kavach") + " exec --policy strict --no-gate -- /bin/true; echo rc=$?; " +
                     Bin("kavach") +
                     " exec --policy strict --optional landlock.scopes --no-gate --json -- "
                     "/bin/true > /tmp/o.json; echo optional-rc=$?; cat /tmp/o.json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const size_t split = run.output.find("---strict---");
  ASSERT_NE(split, std::string::npos) << run.output;
  nlohmann::json basic = nlohmann::json::parse(run.output.substr(0, split), nullptr, false);
  ASSERT_FALSE(basic.is_discarded()) << run.output;
  ASSERT_EQ(basic.value("exit_code", -1), 0) << run.output;
  // Its own cgroup namespace, rooted at the sandbox's cgroup.
  EXPECT_EQ(basic["stdout"].get<std::string>(), "0::/\n");
  // Each limit read back from the sandbox's v2 cgroup.
  for (const auto& [control, detail] : std::vector<std::pair<std::string, std::string>>{
           {"cgroup.memory", "67108864"}, {"cgroup.pids", "32"}, {"cgroup.cpu", "0.5 cores"}}) {
    bool verified = false;
    std::string seen;
    for (const auto& e : basic["evidence"]) {
      if (e.value("control", "") != control) continue;
      verified = e.value("verified", false);
      seen = e.value("detail", "");
    }
    EXPECT_TRUE(verified) << control << " not verified: " << basic["evidence"].dump();
    EXPECT_THAT(seen, HasSubstr(detail)) << control << ": " << basic["evidence"].dump();
  }
  const std::string strict = run.output.substr(split);
  if (strict.find("landlock.scopes: requires Landlock ABI 6") != std::string::npos) {
    EXPECT_THAT(strict, HasSubstr("rc=125"));
    // The refusal says how to go on.
    EXPECT_THAT(strict, HasSubstr("kavach exec --optional landlock.scopes"));
    // With the control optional: it runs, and the evidence shows the loss.
    EXPECT_THAT(strict, HasSubstr("optional-rc=0"));
    nlohmann::json r = nlohmann::json::parse(strict.substr(strict.find('{')), nullptr, false);
    ASSERT_FALSE(r.is_discarded()) << strict;
    bool scopes_unverified = false;
    for (const auto& e : r["evidence"]) {
      if (e.value("control", "") == "landlock.scopes" && !e.value("verified", true)) {
        scopes_unverified = true;
      }
    }
    EXPECT_TRUE(scopes_unverified) << r["evidence"].dump();
  } else {
    EXPECT_THAT(strict, HasSubstr("rc=0"));
  }
}

// The README's first command ends in scripts/demo, run here on Debian 12's
// own kernel: strict's Landlock scopes are refused, and the demo says so and
// shows the command running with that control optional and its score.
TEST_F(GuestKernelTest, DemoRunsOnTheStockKernelSayingWhatItLacks) {
  GuestRun run =
      Run(std::string("python3 ") + KAVACH_SOURCE_DIR + "/scripts/demo " + Bin("kavach"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("hello from inside the sandbox"));
  EXPECT_THAT(run.output, HasSubstr("verified score:"));
  if (run.output.find("strict refused") != std::string::npos) {
    EXPECT_THAT(run.output, HasSubstr("running again with landlock.scopes optional"));
  }
}

// The same suite as an ordinary user in a delegated cgroup: every control
// basic asks for, cgroup limits included, applies without privilege (on
// this host's cgroup v1 the suite skips these cases as uid 65534).
TEST_F(GuestKernelTest, AdversarialSuiteUnderBasicPassesAsAnOrdinaryUserWithDelegatedCgroups) {
  ExpectAdversarialBasicPasses(std::string(kDelegateToUser) + kAsUser,
                               {"ForkBombBoundedByPidsLimit", "MemoryHogIsOomKilled",
                                "GrandchildDiesWithTimeout", "CannotSeeOrSignalHostProcesses"});
}

// An ordinary user with a cgroup delegated as systemd delegates one (the
// directory and its delegation files owned by the user, the user's shell in
// a leaf below): `kavach exec` as that user gets real limits, read back,
// and leaves nothing behind; the user's shell stays in its leaf.
TEST_F(GuestKernelTest, UnprivilegedCliInADelegatedCgroupGetsVerifiedLimits) {
  GuestRun run = Run(
      std::string(kDelegateToUser) + kAsUser + Bin("kavach") +
      " exec --policy basic --memory 64 --pids 32 --no-gate --json -- /bin/true > /tmp/out.json\n"
      "echo rc=$?; cat /tmp/out.json; echo; echo ---after---\n"
      "cat /proc/self/cgroup; find $D -mindepth 1 -type d\n");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("rc=0")) << run.output;
  const size_t json_at = run.output.find('{');
  const size_t after = run.output.find("---after---");
  ASSERT_NE(json_at, std::string::npos) << run.output;
  ASSERT_NE(after, std::string::npos) << run.output;
  nlohmann::json r =
      nlohmann::json::parse(run.output.substr(json_at, after - json_at), nullptr, false);
  ASSERT_FALSE(r.is_discarded()) << run.output;
  for (const char* control : {"cgroup.memory", "cgroup.pids"}) {
    bool verified = false;
    for (const auto& e : r["evidence"]) {
      if (e.value("control", "") == control) verified = e.value("verified", false);
    }
    EXPECT_TRUE(verified) << control << ": " << r["evidence"].dump();
  }
  // The shell is still in its leaf; the shared parent stays, the sandbox's
  // own group is gone.
  const std::string rest = run.output.substr(after);
  EXPECT_THAT(rest, HasSubstr("0::/user-65534/shell\n"));
  EXPECT_THAT(rest, HasSubstr("/sys/fs/cgroup/user-65534/kavach\n"));
  EXPECT_THAT(rest, Not(HasSubstr("/sys/fs/cgroup/user-65534/kavach/"))) << rest;
}

}  // namespace
}  // namespace kavach::test_support
