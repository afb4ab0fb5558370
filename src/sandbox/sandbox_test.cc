// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Sandbox through the Noop backend: the state machine, timestamps, argument
// checks and error codes of the sandbox layer, independent of isolation.
#include "kavach/sandbox.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using S = SandboxState;

SandboxConfig NoopConfig() {
  SandboxConfig c;
  c.backend = BackendKind::kNoop;
  c.policy = SandboxPolicy::Minimal();
  return c;
}

std::unique_ptr<Sandbox> MustCreate(const SandboxConfig& config = NoopConfig()) {
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(config);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(SandboxTest, CreateGivesACreatedSandboxWithAnId) {
  std::unique_ptr<Sandbox> a = MustCreate();
  std::unique_ptr<Sandbox> b = MustCreate();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->state(), S::kCreated);
  EXPECT_THAT(a->id(), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(a->id(), b->id());
  EXPECT_FALSE(a->started_at().has_value());
  EXPECT_FALSE(a->stopped_at().has_value());
  EXPECT_LE(a->created_at(), absl::Now());
  EXPECT_EQ(a->config().backend, BackendKind::kNoop);
}

TEST(SandboxTest, NoopScoresZeroWithNoEvidence) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->score().value, 0);
  EXPECT_TRUE(s->evidence().empty());
  EXPECT_FALSE(s->create_steps().empty());  // the backend's steps are kept
}

TEST(SandboxTest, UnavailableKindIsUnavailableWithTheProbeReason) {
  SandboxConfig c = NoopConfig();
  c.backend = BackendKind::kSgx;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  BackendAvailability a = Probe(BackendKind::kSgx);
  ASSERT_FALSE(a.available);
  EXPECT_THAT(s.status().message(), HasSubstr(a.reason));
  EXPECT_THAT(s.status().message(), HasSubstr("sgx"));
}

TEST(SandboxTest, InvalidPolicyFailsCreate) {
  SandboxConfig c = NoopConfig();
  c.policy.limits.max_pids = 0;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SandboxTest, FullLifecycleWithTimestamps) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Start().ok());
  EXPECT_EQ(s->state(), S::kRunning);
  ASSERT_TRUE(s->started_at().has_value());
  absl::Time started = *s->started_at();
  EXPECT_GE(started, s->created_at());
  EXPECT_FALSE(s->stopped_at().has_value());

  ASSERT_TRUE(s->Pause().ok());
  EXPECT_EQ(s->state(), S::kPaused);
  ASSERT_TRUE(s->Resume().ok());
  EXPECT_EQ(s->state(), S::kRunning);
  EXPECT_EQ(*s->started_at(), started);  // the first start only

  ASSERT_TRUE(s->Stop().ok());
  EXPECT_EQ(s->state(), S::kStopped);
  ASSERT_TRUE(s->stopped_at().has_value());
  absl::Time stopped = *s->stopped_at();
  EXPECT_GE(stopped, started);

  ASSERT_TRUE(s->Destroy().ok());
  EXPECT_EQ(s->state(), S::kDestroyed);
  EXPECT_EQ(*s->stopped_at(), stopped);
}

TEST(SandboxTest, DestroyFromCreatedIsLegal) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Destroy().ok());
  EXPECT_EQ(s->state(), S::kDestroyed);
  EXPECT_FALSE(s->started_at().has_value());
  EXPECT_TRUE(s->stopped_at().has_value());
}

TEST(SandboxTest, DestroyFromRunningAndPaused) {
  std::unique_ptr<Sandbox> running = MustCreate();
  ASSERT_TRUE(running->Start().ok());
  EXPECT_TRUE(running->Destroy().ok());
  EXPECT_EQ(running->state(), S::kDestroyed);

  std::unique_ptr<Sandbox> paused = MustCreate();
  ASSERT_TRUE(paused->Start().ok());
  ASSERT_TRUE(paused->Pause().ok());
  EXPECT_TRUE(paused->Destroy().ok());
  EXPECT_EQ(paused->state(), S::kDestroyed);
}

TEST(SandboxTest, IllegalTransitionsAreFailedPreconditionAndChangeNothing) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_NE(s, nullptr);
  // From Created.
  EXPECT_EQ(s->Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Resume().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->state(), S::kCreated);
  // From Running.
  ASSERT_TRUE(s->Start().ok());
  EXPECT_EQ(s->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Resume().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->state(), S::kRunning);
  // From Paused: Start must not bypass Resume.
  ASSERT_TRUE(s->Pause().ok());
  EXPECT_EQ(s->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->state(), S::kPaused);
  // From Stopped.
  ASSERT_TRUE(s->Stop().ok());
  EXPECT_EQ(s->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Resume().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->state(), S::kStopped);
  // Destroyed is terminal.
  ASSERT_TRUE(s->Destroy().ok());
  for (absl::Status st : {s->Start(), s->Pause(), s->Resume(), s->Stop(), s->Destroy()}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  }
  EXPECT_EQ(s->state(), S::kDestroyed);
}

TEST(SandboxTest, ExecRequiresRunning) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_NE(s, nullptr);
  auto expect_refused = [&](const char* when) {
    absl::StatusOr<ExecResult> r = s->Exec({"true"});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << when;
    EXPECT_EQ(s->Spawn({"true"}).status().code(), absl::StatusCode::kFailedPrecondition) << when;
  };
  expect_refused("created");
  ASSERT_TRUE(s->Start().ok());
  EXPECT_TRUE(s->Exec({"true"}).ok());
  ASSERT_TRUE(s->Pause().ok());
  expect_refused("paused");
  ASSERT_TRUE(s->Resume().ok());
  ASSERT_TRUE(s->Stop().ok());
  expect_refused("stopped");
  ASSERT_TRUE(s->Destroy().ok());
  expect_refused("destroyed");
}

TEST(SandboxTest, ExecCarriesScoreAndEvidence) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_TRUE(s->Start().ok());
  absl::StatusOr<ExecResult> r = s->Exec({"/bin/echo", "hello"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_data, "");  // Noop runs nothing
  EXPECT_EQ(r->score.value, s->score().value);
  EXPECT_EQ(r->evidence.size(), s->evidence().size());
  EXPECT_FALSE(r->gated);  // no gate configured
}

TEST(SandboxTest, ExecChecksArguments) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_TRUE(s->Start().ok());
  EXPECT_EQ(s->Exec({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Exec({"a", std::string("b\0c", 3)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ExecOptions o;
  o.env["BAD=NAME"] = "x";
  EXPECT_EQ(s->Exec({"true"}, o).status().code(), absl::StatusCode::kInvalidArgument);
  SpawnOptions so;
  so.env[""] = "x";
  EXPECT_EQ(s->Spawn({"true"}, so).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SandboxTest, SpawnWaitGivesAResult) {
  std::unique_ptr<Sandbox> s = MustCreate();
  ASSERT_TRUE(s->Start().ok());
  std::string out;
  SpawnOptions o;
  o.on_stdout = [&out](std::string_view c) { out.append(c); };
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = s->Spawn({"sleep", "100"}, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE((*p)->Kill().ok());
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->score.value, s->score().value);
  // A second Wait returns the same result.
  absl::StatusOr<ExecResult> again = (*p)->Wait();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, r->exit_code);
}

TEST(SandboxTest, DestructorDestroysWithoutComplaint) {
  // Each state the destructor may meet.
  for (int stop_at = 0; stop_at < 4; ++stop_at) {
    std::unique_ptr<Sandbox> s = MustCreate();
    ASSERT_NE(s, nullptr);
    if (stop_at >= 1) {
      ASSERT_TRUE(s->Start().ok());
    }
    if (stop_at >= 2) {
      ASSERT_TRUE(s->Pause().ok());
    }
    if (stop_at >= 3) {
      ASSERT_TRUE(s->Stop().ok());
    }
    s.reset();
  }
}

}  // namespace
}  // namespace kavach
