// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The gate on real output: the Process backend runs the command, the sandbox
// layer gates it. Skips where the Process backend cannot run.
#include <string>

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

class SandboxProcessGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = Probe(BackendKind::kProcess);
    if (!a.available) GTEST_SKIP() << "process backend unavailable: " << a.reason;
    SandboxConfig c;
    c.backend = BackendKind::kProcess;
    c.policy = SandboxPolicy::Minimal();
    c.gate.enabled = true;
    c.timeout = absl::Seconds(60);
    // The repeat-offender tracker counts per agent across sandboxes: one agent
    // per test keeps the tests independent.
    c.agent_id = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
    if (!s.ok() && s.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "process backend cannot prepare here: " << s.status();
    }
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = *std::move(s);
    ASSERT_TRUE(sandbox_->Start().ok());
  }

  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxProcessGateTest, CleanOutputPasses) {
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "hello"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->gated);
  EXPECT_EQ(r->verdict, Verdict::kPass);
  EXPECT_EQ(r->stdout_data, "hello\n");
  EXPECT_GT(r->score.value, 0);  // the Process backend verified something
  EXPECT_FALSE(r->evidence.empty());
}

TEST_F(SandboxProcessGateTest, CriticalSecretBlocksExec) {
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "key " + FakeAwsKey()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr(FakeAwsKey())));
  // One critical finding is intent 0.9: the classifier says revoke.
  EXPECT_EQ(sandbox_->state(), SandboxState::kDestroyed);
  EXPECT_EQ(sandbox_->Exec({"/bin/true"}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SandboxProcessGateTest, HighFindingSuspends) {
  // A GCP API key is high (0.6 intent): quarantine (a block without a store)
  // and the suspend tier, which pauses the sandbox.
  std::string key = std::string("AIza") + "xIq2HZt-PlJhx2jIclHkCiHp6bR1IqfEouH";
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/bin/echo", "key=" + key + "&q=x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(sandbox_->state(), SandboxState::kPaused);
  ASSERT_TRUE(sandbox_->Resume().ok());
  absl::StatusOr<ExecResult> again = sandbox_->Exec({"/bin/echo", "fine"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stdout_data, "fine\n");
}

TEST_F(SandboxProcessGateTest, StreamingStopsAtABlockedSecret) {
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

TEST_F(SandboxProcessGateTest, StreamingDeliversCleanOutput) {
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

}  // namespace
}  // namespace kavach
