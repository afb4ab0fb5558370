// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/kvm_trial.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

// Fake QEMUs: shell scripts that find the console file in their arguments and
// do what a KVM that works, hangs or fails would do. Each run appends a line
// to runs.log so the tests can count trial boots.
class KvmTrialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach-kvm-trial-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(sys::WriteFile(dir_ + "/busybox", "not really busybox", 0755).ok());
    ASSERT_TRUE(sys::WriteFile(dir_ + "/vmlinux", "not really a kernel", 0644).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  KvmTrial Trial(const std::string& behaviour) {
    const std::string qemu = dir_ + "/qemu-" + std::to_string(++fakes_);
    std::string script =
        absl::StrCat("#!/bin/sh\necho run >> ", dir_,
                     "/runs.log\nfor a in \"$@\"; do case \"$a\" in file,id=console,path=*) "
                     "c=\"${a#file,id=console,path=}\";; esac; done\n",
                     behaviour, "\n");
    EXPECT_TRUE(sys::WriteFile(qemu, script, 0755).ok());
    return {.qemu = qemu,
            .vmlinux = dir_ + "/vmlinux",
            .busybox = dir_ + "/busybox",
            .cache_dir = dir_,
            .deadline = absl::Milliseconds(1500)};
  }
  int Runs() {
    absl::StatusOr<std::string> log = sys::ReadFile(dir_ + "/runs.log");
    if (!log.ok()) return 0;
    return static_cast<int>(std::count(log->begin(), log->end(), '\n'));
  }
  bool NoScratchLeft() {
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("kvm-trial-", 0) == 0 && e.is_directory()) {
        return false;
      }
    }
    return true;
  }

  std::string dir_;
  int fakes_ = 0;
};

constexpr char kReachesInit[] =
    "echo 'Linux version 6.1' > \"$c\"; echo kavach-kvm-trial-reached-init >> \"$c\"; exit 0";

TEST_F(KvmTrialTest, AGuestThatReachesInitPasses) {
  EXPECT_TRUE(TrialBootKvm(Trial(kReachesInit)).ok());
  EXPECT_TRUE(NoScratchLeft());
}

TEST_F(KvmTrialTest, AGuestThatHangsFailsAtTheDeadlineAndQemuIsKilled) {
  absl::Time t0 = absl::Now();
  absl::Status s = TrialBootKvm(Trial("echo 'setup_percpu: crawling' > \"$c\"; exec sleep 60"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(20)) << "the trial must not wait for QEMU";
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("did not reach init within 1.5s"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("setup_percpu: crawling"));
  EXPECT_TRUE(NoScratchLeft());
}

TEST_F(KvmTrialTest, AnEmulationFailureNamesQemusExitAndTheConsole) {
  absl::Status s = TrialBootKvm(Trial("echo 'KVM internal error. Suberror: 1' > \"$c\"; exit 1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("exited 1"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("KVM internal error"));
}

TEST_F(KvmTrialTest, AQemuThatExitsBeforeInitFails) {
  absl::Status s = TrialBootKvm(Trial("echo 'Linux version 6.1' > \"$c\"; exit 0"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("never reached init"));
}

TEST_F(KvmTrialTest, TcgFromTheFactsIsKeptWithoutATrial) {
  AcceleratorChoice tcg{"tcg", "TCG: /dev/kvm missing"};
  AcceleratorChoice got = ConfirmKvmByTrialBoot(tcg, Trial(kReachesInit));
  EXPECT_EQ(got.accelerator, "tcg");
  EXPECT_EQ(got.reason, tcg.reason);
  EXPECT_EQ(Runs(), 0);
}

TEST_F(KvmTrialTest, KvmIsConfirmedOnceAndTheVerdictIsKept) {
  AcceleratorChoice kvm{"kvm", "KVM: /dev/kvm with hardware virtualisation (vmx/svm)"};
  KvmTrial trial = Trial(kReachesInit);
  AcceleratorChoice got = ConfirmKvmByTrialBoot(kvm, trial);
  EXPECT_EQ(got.accelerator, "kvm");
  EXPECT_THAT(got.reason, HasSubstr("trial boot reached init"));
  got = ConfirmKvmByTrialBoot(kvm, trial);
  EXPECT_EQ(got.accelerator, "kvm");
  EXPECT_EQ(Runs(), 1) << "the second sandbox must reuse the verdict";
}

TEST_F(KvmTrialTest, AFailedTrialFallsBackToTcgWithTheReasonAndAnotherQemuTriesAgain) {
  AcceleratorChoice kvm{"kvm", "KVM: /dev/kvm with hardware virtualisation (vmx/svm)"};
  AcceleratorChoice got =
      ConfirmKvmByTrialBoot(kvm, Trial("echo 'KVM internal error. Suberror: 1' > \"$c\"; exit 1"));
  EXPECT_EQ(got.accelerator, "tcg");
  EXPECT_THAT(got.reason, HasSubstr("KVM internal error"));
  // Another QEMU binary is another key: its verdict is its own.
  got = ConfirmKvmByTrialBoot(kvm, Trial(kReachesInit));
  EXPECT_EQ(got.accelerator, "kvm");
  EXPECT_EQ(Runs(), 2);
}

}  // namespace
}  // namespace kavach::internal
