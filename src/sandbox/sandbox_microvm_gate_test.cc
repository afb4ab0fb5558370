// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The gate, the threat tiers and the audit chain on the microVM backend,
// through the public Sandbox API exactly as for the Process backend
// (sandbox_process_gate_test.cc): the command runs in a guest kernel, the
// sandbox layer gates what comes back; suspend pauses the VM, revoke
// destroys it. Skips where the microVM backend cannot run.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Built by concatenation so this file itself does not carry a key-shaped token.
std::string FakeAwsKey() { return std::string("AKIA") + "UJZDE8GXD6NCF10E"; }

// Processes whose command line names `needle` (QEMU's names its state dir).
int ProcessesNaming(const std::string& needle) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = absl::StrCat("/proc/", e->d_name, "/cmdline");
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) continue;
    std::string cmd;
    char buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) cmd.append(buf, got);
    std::fclose(f);
    if (absl::StrContains(cmd, needle)) ++n;
  }
  ::closedir(d);
  return n;
}

class SandboxMicroVmGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = Probe(BackendKind::kFirecracker);
    if (!a.available) GTEST_SKIP() << "microVM backend unavailable: " << a.reason;
    SandboxConfig c;
    c.backend = BackendKind::kFirecracker;
    c.policy = SandboxPolicy::Strict();
    c.gate.enabled = true;
    c.timeout = absl::Seconds(60);
    char tmpl[] = "/tmp/kavach-vm-gate-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    c.audit.log_path = dir_ + "/audit.log";
    c.audit.key_path = dir_ + "/audit.key";
    FILE* k = std::fopen(c.audit.key_path->c_str(), "w");
    ASSERT_NE(k, nullptr);
    std::fputs("a test key of thirty-two bytes!!", k);
    std::fclose(k);
    ::chmod(c.audit.key_path->c_str(), 0600);
    c.agent_id = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = *std::move(s);
    ASSERT_TRUE(sandbox_->Start().ok());
  }
  void TearDown() override {
    sandbox_.reset();
    if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
  }
  std::string Audit() {
    FILE* f = std::fopen((dir_ + "/audit.log").c_str(), "r");
    std::string out;
    if (f == nullptr) return out;
    char buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
    std::fclose(f);
    return out;
  }
  std::string dir_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxMicroVmGateTest, CleanOutputPassesWithTheVmsScore) {
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "hello"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->gated);
  EXPECT_EQ(r->verdict, Verdict::kPass);
  EXPECT_EQ(r->stdout_data, "hello\n");
  EXPECT_GE(r->score.value, 90);  // the microVM tier's base, verified
  EXPECT_THAT(Audit(), HasSubstr("exec"));
}

TEST_F(SandboxMicroVmGateTest, CriticalSecretRevokesAndTheVmIsGone) {
  const std::string vm_dirs = absl::StrCat("/vm-", ::getpid(), "-");
  ASSERT_GT(ProcessesNaming(vm_dirs), 0) << "no VMM found to watch";
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "key " + FakeAwsKey()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr(FakeAwsKey())));
  EXPECT_EQ(sandbox_->state(), SandboxState::kDestroyed);
  EXPECT_EQ(sandbox_->Exec({"/bin/true"}).status().code(), absl::StatusCode::kFailedPrecondition);
  // Destroyed means no VMM left: no process names this process's VM dirs.
  EXPECT_EQ(ProcessesNaming(vm_dirs), 0);
  std::string audit = Audit();
  EXPECT_THAT(audit, HasSubstr("revoke"));
  EXPECT_THAT(audit, Not(HasSubstr(FakeAwsKey())));
}

TEST_F(SandboxMicroVmGateTest, HighFindingPausesTheVmAndItResumes) {
  // A GCP API key is high: quarantine (a block without a store) and the
  // suspend tier, which pauses the VM.
  std::string key = std::string("AIza") + "xIq2HZt-PlJhx2jIclHkCiHp6bR1IqfEouH";
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "key=" + key + "&q=x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(sandbox_->state(), SandboxState::kPaused);
  EXPECT_THAT(Audit(), HasSubstr("suspend"));
  ASSERT_TRUE(sandbox_->Resume().ok());
  absl::StatusOr<ExecResult> again = sandbox_->Exec({"/bin/echo", "fine"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stdout_data, "fine\n");
}

}  // namespace
}  // namespace kavach
