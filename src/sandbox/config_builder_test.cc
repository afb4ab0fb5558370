// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConfigBuilderTest, DefaultsBuild) {
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder().Build();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backend, BackendKind::kProcess);
  EXPECT_EQ(c->timeout, absl::Seconds(30));
  EXPECT_EQ(c->policy, SandboxPolicy::Basic());
}

TEST(ConfigBuilderTest, SettersLand) {
  GateConfig gate;
  gate.enabled = true;
  AuditConfig audit;
  audit.log_path = "/tmp/audit.jsonl";
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder()
                                        .backend("NOOP")
                                        .policy("strict")
                                        .timeout(absl::Seconds(5))
                                        .workdir("/srv/w")
                                        .env("A", "1")
                                        .gate(gate)
                                        .audit(audit)
                                        .agent_id("agent-7")
                                        .Build();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backend, BackendKind::kNoop);
  EXPECT_EQ(c->policy, SandboxPolicy::Strict());
  EXPECT_EQ(c->timeout, absl::Seconds(5));
  EXPECT_EQ(c->host_workdir, "/srv/w");
  EXPECT_EQ(c->env.at("A"), "1");
  EXPECT_TRUE(c->gate.enabled);
  EXPECT_EQ(c->audit.log_path, "/tmp/audit.jsonl");
  EXPECT_EQ(c->agent_id, "agent-7");
}

TEST(ConfigBuilderTest, RecordsTheFirstError) {
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder()
                                        .backend("no-such-backend")
                                        .policy("no-such-preset-or-file")
                                        .timeout(absl::Seconds(-1))
                                        .Build();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("no-such-backend"));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("no-such-preset")));
}

TEST(ConfigBuilderTest, LaterGoodValuesDoNotClearTheError) {
  absl::StatusOr<SandboxConfig> c =
      SandboxConfig::Builder().backend("bogus").backend(BackendKind::kNoop).Build();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("bogus"));
}

TEST(ConfigBuilderTest, BadPolicyNameIsAnError) {
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder().policy("no-such-preset").Build();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("no-such-preset"));
}

TEST(ConfigBuilderTest, BuildValidatesThePolicy) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.limits.max_pids = 0;
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder().policy(p).Build();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("limits.max_pids"));
}

TEST(ConfigBuilderTest, BadTimeoutIsAnError) {
  EXPECT_FALSE(SandboxConfig::Builder().timeout(absl::ZeroDuration()).Build().ok());
  EXPECT_FALSE(SandboxConfig::Builder().timeout(absl::InfiniteDuration()).Build().ok());
}

TEST(ConfigBuilderTest, BadEnvNameIsAnError) {
  absl::StatusOr<SandboxConfig> c = SandboxConfig::Builder().env("A=B", "1").Build();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SandboxConfig::Builder().env("", "1").Build().ok());
}

}  // namespace
}  // namespace kavach
