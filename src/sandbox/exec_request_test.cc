// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/exec_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;

SandboxConfig Config() {
  SandboxConfig c;
  c.backend = BackendKind::kNoop;
  c.policy = SandboxPolicy::Minimal();
  c.policy.working_directory = "/work";
  c.timeout = absl::Seconds(30);
  return c;
}

TEST(ExecRequestTest, Defaults) {
  absl::StatusOr<BackendExecRequest> r = BuildExecRequest(Config(), {"echo", "a b"}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->argv, ElementsAre("echo", "a b"));  // never re-split
  EXPECT_EQ(r->timeout, absl::Seconds(30));
  EXPECT_EQ(r->cwd, "/work");
  EXPECT_EQ(r->max_output_bytes, Config().policy.limits.max_output_bytes);
  EXPECT_FALSE(r->stdin_data.has_value());
  EXPECT_THAT(r->env, Contains("HOME=/work"));
}

TEST(ExecRequestTest, TimeoutIsTheSmallest) {
  SandboxConfig c = Config();
  ExecOptions o;
  o.timeout = absl::Seconds(5);
  EXPECT_EQ(BuildExecRequest(c, {"x"}, o)->timeout, absl::Seconds(5));
  o.timeout = absl::Seconds(60);  // an exec may only shorten it
  EXPECT_EQ(BuildExecRequest(c, {"x"}, o)->timeout, absl::Seconds(30));
  c.policy.limits.wall_time_ms = 2000;
  EXPECT_EQ(BuildExecRequest(c, {"x"}, o)->timeout, absl::Seconds(2));
  o.timeout = absl::Seconds(1);
  EXPECT_EQ(BuildExecRequest(c, {"x"}, o)->timeout, absl::Seconds(1));
}

TEST(ExecRequestTest, NonPositiveTimeoutIsRejected) {
  ExecOptions o;
  o.timeout = absl::ZeroDuration();
  EXPECT_EQ(BuildExecRequest(Config(), {"x"}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExecRequestTest, CwdAndStdinAndOutputCap) {
  SandboxConfig c = Config();
  c.policy.limits.max_output_bytes = 4096;
  ExecOptions o;
  o.cwd = "/tmp";
  o.stdin_data = std::string("in\0put", 6);
  absl::StatusOr<BackendExecRequest> r = BuildExecRequest(c, {"cat"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cwd, "/tmp");
  EXPECT_EQ(r->stdin_data, std::string("in\0put", 6));  // stdin may hold any bytes
  EXPECT_EQ(r->max_output_bytes, 4096u);
  o.cwd = "sub/dir";
  EXPECT_EQ(BuildExecRequest(c, {"cat"}, o)->cwd, "/work/sub/dir");
  o.cwd = "";
  EXPECT_EQ(BuildExecRequest(c, {"cat"}, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExecRequestTest, ArgvIsChecked) {
  EXPECT_EQ(BuildExecRequest(Config(), {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildExecRequest(Config(), {""}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildExecRequest(Config(), {"echo", std::string("a\0b", 3)}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExecRequestTest, EnvLayersApply) {
  SandboxConfig c = Config();
  c.env = {{"FROM_CONFIG", "1"}, {"BOTH", "config"}};
  ExecOptions o;
  o.env = {{"BOTH", "exec"}};
  absl::StatusOr<BackendExecRequest> r = BuildExecRequest(c, {"env"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->env, Contains("FROM_CONFIG=1"));
  EXPECT_THAT(r->env, Contains("BOTH=exec"));
  o.env = {{"BAD=NAME", "x"}};
  EXPECT_EQ(BuildExecRequest(c, {"env"}, o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kavach::internal
