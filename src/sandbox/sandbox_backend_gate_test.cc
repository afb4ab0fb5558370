// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The gate, the threat tiers and the audit chain on real output, through the
// public Sandbox API, on the Process backend and on the microVM backend (the
// command in a guest kernel): the backend runs the command, the sandbox layer
// gates it; suspend pauses the sandbox (the VM), revoke destroys it. Skips
// where a backend cannot run, saying why.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
const std::string& FakeAwsKey() {
  static const std::string* key = new std::string(std::string("AKIA") + "UJZDE8GXD6NCF10E");
  return *key;
}

// Processes whose command line names `needle` (a microVM's QEMU names its
// state directory, /var/tmp/kavach-microvm-<uid>/vm-<pid>-...).
int ProcessesNaming(const std::string& needle) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    FILE* f = std::fopen(absl::StrCat("/proc/", e->d_name, "/cmdline").c_str(), "r");
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

class BackendGateTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    BackendAvailability a = Probe(GetParam());
    if (!a.available) GTEST_SKIP() << BackendKindName(GetParam()) << " unavailable: " << a.reason;
    char tmpl[] = "/tmp/kavach-gate-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    SandboxConfig c;
    c.backend = GetParam();
    c.policy =
        GetParam() == BackendKind::kProcess ? SandboxPolicy::Minimal() : SandboxPolicy::Strict();
    c.gate.enabled = true;
    c.timeout = absl::Seconds(60);
    c.audit.log_path = dir_ + "/audit.log";
    c.audit.key_path = dir_ + "/audit.key";
    FILE* k = std::fopen(c.audit.key_path->c_str(), "w");
    ASSERT_NE(k, nullptr);
    std::fputs("a test key of thirty-two bytes!!", k);
    std::fclose(k);
    ::chmod(c.audit.key_path->c_str(), 0600);
    // The repeat-offender tracker counts per agent across sandboxes: one agent
    // per test keeps the tests independent.
    c.agent_id = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
    if (!s.ok() && s.status().code() == absl::StatusCode::kFailedPrecondition &&
        GetParam() == BackendKind::kProcess) {
      GTEST_SKIP() << "process backend cannot prepare here: " << s.status();
    }
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = *std::move(s);
    ASSERT_TRUE(sandbox_->Start().ok());
  }
  void TearDown() override {
    sandbox_.reset();
    if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
  }
  std::string Audit() {
    std::string out;
    FILE* f = std::fopen((dir_ + "/audit.log").c_str(), "r");
    if (f == nullptr) return out;
    char buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
    std::fclose(f);
    return out;
  }
  bool IsVm() const { return GetParam() == BackendKind::kFirecracker; }

  std::string dir_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_P(BackendGateTest, CleanOutputPasses) {
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "hello"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->gated);
  EXPECT_EQ(r->verdict, Verdict::kPass);
  EXPECT_EQ(r->stdout_data, "hello\n");
  EXPECT_GT(r->score.value, 0);  // the backend verified something
  if (IsVm()) {
    EXPECT_GE(r->score.value, 90);  // the microVM tier's base, verified
  }
  EXPECT_FALSE(r->evidence.empty());
}

TEST_P(BackendGateTest, CriticalSecretBlocksExec) {
  const std::string vm_dirs = absl::StrCat("/vm-", ::getpid(), "-");
  if (IsVm()) {
    ASSERT_GT(ProcessesNaming(vm_dirs), 0) << "no VMM found to watch";
  }
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "key " + FakeAwsKey()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr(FakeAwsKey())));
  // One critical finding is intent 0.9: the classifier says revoke.
  EXPECT_EQ(sandbox_->state(), SandboxState::kDestroyed);
  EXPECT_EQ(sandbox_->Exec({"/bin/true"}).status().code(), absl::StatusCode::kFailedPrecondition);
  // Destroyed means no VMM left.
  if (IsVm()) {
    EXPECT_EQ(ProcessesNaming(vm_dirs), 0);
  }
  std::string audit = Audit();
  EXPECT_THAT(audit, HasSubstr("revoke"));
  EXPECT_THAT(audit, Not(HasSubstr(FakeAwsKey())));
}

TEST_P(BackendGateTest, HighFindingSuspends) {
  // A GCP API key is high (0.6 intent): quarantine (a block without a store)
  // and the suspend tier, which pauses the sandbox.
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

TEST_P(BackendGateTest, StreamingStopsAtABlockedSecret) {
  std::string delivered;
  SpawnOptions o;
  o.on_stdout = [&delivered](std::string_view chunk) { delivered.append(chunk); };
  o.timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = sandbox_->Spawn(
      {"/bin/sh", "-c", "echo first; echo key " + FakeAwsKey() + "; sleep 5; echo after"}, o);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(delivered, Not(HasSubstr(FakeAwsKey())));
  EXPECT_THAT(delivered, Not(HasSubstr("after")));
  EXPECT_EQ(sandbox_->state(), SandboxState::kDestroyed);  // revoke, as for Exec
}

TEST_P(BackendGateTest, StreamingDeliversCleanOutput) {
  std::string delivered;
  SpawnOptions o;
  o.on_stdout = [&delivered](std::string_view chunk) { delivered.append(chunk); };
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({"/bin/sh", "-c", "echo one; echo two"}, o);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(delivered, "one\ntwo\n");
  EXPECT_TRUE(r->gated);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendGateTest,
                         ::testing::Values(BackendKind::kProcess, BackendKind::kFirecracker),
                         [](const ::testing::TestParamInfo<BackendKind>& info) {
                           return std::string(BackendKindName(info.param));
                         });

}  // namespace
}  // namespace kavach
