// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/noop/noop_backend.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

BackendExecRequest Request(std::vector<std::string> argv) {
  BackendExecRequest r;
  r.argv = std::move(argv);
  return r;
}

TEST(NoopBackendTest, KindIsNoop) { EXPECT_EQ(CreateNoopBackend()->kind(), BackendKind::kNoop); }

TEST(NoopBackendTest, PrepareGivesNoEvidence) {
  auto backend = CreateNoopBackend();
  PrepareReport report;
  report.evidence.push_back(Evidence{"sentinel", true, "", 1});
  ASSERT_TRUE(backend->Prepare(SandboxConfig{}, &report).ok());
  // The sentinel is untouched and nothing was added: the Noop backend claims nothing.
  ASSERT_EQ(report.evidence.size(), 1u);
  EXPECT_EQ(report.evidence[0].control, "sentinel");
}

TEST(NoopBackendTest, ExecDoesNotRunTheCommand) {
  auto backend = CreateNoopBackend();
  PrepareReport report;
  ASSERT_TRUE(backend->Prepare(SandboxConfig{}, &report).ok());
  BackendExecRequest r = Request({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  std::string streamed;
  r.on_stdout = [&](std::string_view c) { streamed.append(c); };
  absl::StatusOr<ExecResult> result = backend->Exec(r);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->signal, 0);
  EXPECT_EQ(result->stdout_data, "");
  EXPECT_EQ(result->stderr_data, "");
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(streamed, "");
}

TEST(NoopBackendTest, SpawnWaitGivesTheSameResult) {
  auto backend = CreateNoopBackend();
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = backend->Spawn(Request({"/bin/false"}));
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ExecResult> result = (*p)->Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_data, "");
  EXPECT_TRUE((*p)->Kill().ok());
}

TEST(NoopBackendTest, LifecycleCallsSucceedAndDestroyIsIdempotent) {
  auto backend = CreateNoopBackend();
  EXPECT_TRUE(backend->Pause().ok());
  EXPECT_TRUE(backend->Resume().ok());
  EXPECT_TRUE(backend->Stop().ok());
  EXPECT_TRUE(backend->Destroy().ok());
  EXPECT_TRUE(backend->Destroy().ok());
}

TEST(NoopBackendTest, NothingRunsAfterDestroy) {
  auto backend = CreateNoopBackend();
  ASSERT_TRUE(backend->Destroy().ok());
  EXPECT_EQ(backend->Exec(Request({"true"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(backend->Spawn(Request({"true"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kavach::internal
