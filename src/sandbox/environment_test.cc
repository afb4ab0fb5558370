// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/environment.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

// A fake host environment, so tests do not depend on the runner's.
HostEnvLookup FakeHost(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> MustCompute(const SandboxPolicy& policy,
                                     const std::map<std::string, std::string>& config_env,
                                     const std::map<std::string, std::string>& exec_env,
                                     const HostEnvLookup& host) {
  absl::StatusOr<std::vector<std::string>> env =
      ComputeEnvironment(policy, config_env, exec_env, host);
  EXPECT_TRUE(env.ok()) << env.status();
  return env.ok() ? *env : std::vector<std::string>{};
}

TEST(EnvironmentTest, DefaultsOnly) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.working_directory = "/work";
  EXPECT_THAT(MustCompute(p, {}, {}, FakeHost({{"SECRET", "x"}, {"PATH", "/host/bin"}})),
              ElementsAre("HOME=/work", "LANG=C.UTF-8",
                          "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "TMPDIR=/tmp"));
}

TEST(EnvironmentTest, HostVariablesAreNotInheritedFromTheRealEnvironment) {
  ASSERT_EQ(setenv("KAVACH_TEST_LEAK", "leaked", 1), 0);
  SandboxPolicy p = SandboxPolicy::Minimal();
  std::vector<std::string> env = MustCompute(p, {}, {}, HostGetenv);
  EXPECT_THAT(env, Not(Contains("KAVACH_TEST_LEAK=leaked")));

  p.environment.allow.push_back("KAVACH_TEST_LEAK");
  env = MustCompute(p, {}, {}, HostGetenv);
  EXPECT_THAT(env, Contains("KAVACH_TEST_LEAK=leaked"));
  unsetenv("KAVACH_TEST_LEAK");
}

TEST(EnvironmentTest, AllowedButUnsetIsSkipped) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.environment.allow = {"NOT_ON_HOST"};
  std::vector<std::string> env = MustCompute(p, {}, {}, FakeHost({}));
  for (const std::string& kv : env) EXPECT_NE(kv.rfind("NOT_ON_HOST", 0), 0u) << kv;
}

TEST(EnvironmentTest, AllowedHostValueBeatsDefault) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.environment.allow = {"PATH", "LANG"};
  std::vector<std::string> env =
      MustCompute(p, {}, {}, FakeHost({{"PATH", "/host/bin"}, {"LANG", "de_DE.UTF-8"}}));
  EXPECT_THAT(env, Contains("PATH=/host/bin"));
  EXPECT_THAT(env, Contains("LANG=de_DE.UTF-8"));
}

TEST(EnvironmentTest, PrecedenceHostThenPolicyThenConfigThenExec) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.environment.allow = {"A", "B", "C", "D"};
  p.environment.set = {{"B", "policy"}, {"C", "policy"}, {"D", "policy"}, {"HOME", "/h"}};
  HostEnvLookup host = FakeHost({{"A", "host"}, {"B", "host"}, {"C", "host"}, {"D", "host"}});
  std::vector<std::string> env =
      MustCompute(p, {{"C", "config"}, {"D", "config"}}, {{"D", "exec"}}, host);
  EXPECT_THAT(env, Contains("A=host"));
  EXPECT_THAT(env, Contains("B=policy"));
  EXPECT_THAT(env, Contains("C=config"));
  EXPECT_THAT(env, Contains("D=exec"));
  EXPECT_THAT(env, Contains("HOME=/h"));
}

TEST(EnvironmentTest, OneEntryPerName) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  std::vector<std::string> env = MustCompute(p, {{"PATH", "/c"}}, {{"PATH", "/e"}}, FakeHost({}));
  int paths = 0;
  for (const std::string& kv : env) paths += kv.rfind("PATH=", 0) == 0;
  EXPECT_EQ(paths, 1);
  EXPECT_THAT(env, Contains("PATH=/e"));
}

TEST(EnvironmentTest, BadNamesAreRejected) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  for (const char* bad : {"", "A=B", "=X"}) {
    absl::StatusOr<std::vector<std::string>> env =
        ComputeEnvironment(p, {}, {{bad, "v"}}, FakeHost({}));
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    env = ComputeEnvironment(p, {{bad, "v"}}, {}, FakeHost({}));
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::StatusOr<std::vector<std::string>> env =
      ComputeEnvironment(p, {}, {{"X", std::string("a\0b", 3)}}, FakeHost({}));
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EnvironmentTest, ValidateEnvEntry) {
  EXPECT_TRUE(ValidateEnvEntry("GOOD_NAME", "any=value").ok());
  EXPECT_FALSE(ValidateEnvEntry("", "v").ok());
  EXPECT_FALSE(ValidateEnvEntry("A=B", "v").ok());
}

}  // namespace
}  // namespace kavach::internal
