// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/backend_kind.h"
#include "kavach/findings.h"
#include "kavach/policy.h"

namespace kavach {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BackendKindNames, CanonicalOrderAndNames) {
  EXPECT_THAT(
      AllBackendKinds(),
      ElementsAre(BackendKind::kProcess, BackendKind::kGVisor, BackendKind::kFirecracker,
                  BackendKind::kWasm, BackendKind::kOci, BackendKind::kSgx, BackendKind::kSev,
                  BackendKind::kTdx, BackendKind::kSyAgnos, BackendKind::kNoop));
  std::vector<std::string> names;
  for (BackendKind k : AllBackendKinds()) names.emplace_back(BackendKindName(k));
  EXPECT_THAT(names, ElementsAre("process", "gvisor", "firecracker", "wasm", "oci", "sgx", "sev",
                                 "tdx", "sy-agnos", "noop"));
}

TEST(BackendKindNames, RoundTripEveryKind) {
  for (BackendKind k : AllBackendKinds()) {
    absl::StatusOr<BackendKind> parsed = ParseBackendKind(BackendKindName(k));
    ASSERT_TRUE(parsed.ok()) << BackendKindName(k);
    EXPECT_EQ(*parsed, k);
  }
}

TEST(BackendKindNames, CaseInsensitiveAndAlias) {
  EXPECT_EQ(*ParseBackendKind("gVisor"), BackendKind::kGVisor);
  EXPECT_EQ(*ParseBackendKind("FIRECRACKER"), BackendKind::kFirecracker);
  EXPECT_EQ(*ParseBackendKind("syagnos"), BackendKind::kSyAgnos);
  EXPECT_EQ(*ParseBackendKind("SyAgnos"), BackendKind::kSyAgnos);
  EXPECT_EQ(*ParseBackendKind("Sy-Agnos"), BackendKind::kSyAgnos);
}

TEST(BackendKindNames, UnknownIsInvalidArgument) {
  absl::StatusOr<BackendKind> k = ParseBackendKind("docker");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(k.status().message(), "unknown backend: docker");
  EXPECT_FALSE(ParseBackendKind("").ok());
  EXPECT_FALSE(ParseBackendKind("process ").ok());
}

TEST(SeverityVerdictNames, EveryValue) {
  EXPECT_EQ(SeverityName(Severity::kInfo), "info");
  EXPECT_EQ(SeverityName(Severity::kLow), "low");
  EXPECT_EQ(SeverityName(Severity::kMedium), "medium");
  EXPECT_EQ(SeverityName(Severity::kHigh), "high");
  EXPECT_EQ(SeverityName(Severity::kCritical), "critical");
  EXPECT_EQ(VerdictName(Verdict::kPass), "pass");
  EXPECT_EQ(VerdictName(Verdict::kWarn), "warn");
  EXPECT_EQ(VerdictName(Verdict::kRedact), "redact");
  EXPECT_EQ(VerdictName(Verdict::kQuarantine), "quarantine");
  EXPECT_EQ(VerdictName(Verdict::kBlock), "block");
}

TEST(SeccompProfileNames, RoundTripAndErrors) {
  for (SeccompProfile p :
       {SeccompProfile::kNone, SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    absl::StatusOr<SeccompProfile> parsed = ParseSeccompProfile(SeccompProfileName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(SeccompProfileName(SeccompProfile::kStrict), "strict");
  EXPECT_EQ(*ParseSeccompProfile("BASIC"), SeccompProfile::kBasic);
  absl::StatusOr<SeccompProfile> bad = ParseSeccompProfile("paranoid");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("paranoid"));
}

TEST(NetworkModeNames, RoundTripAndErrors) {
  EXPECT_EQ(NetworkModeName(NetworkMode::kNone), "none");
  EXPECT_EQ(NetworkModeName(NetworkMode::kHost), "host");
  for (NetworkMode m : {NetworkMode::kNone, NetworkMode::kHost}) {
    EXPECT_EQ(*ParseNetworkMode(NetworkModeName(m)), m);
  }
  EXPECT_EQ(*ParseNetworkMode("Host"), NetworkMode::kHost);
  EXPECT_FALSE(ParseNetworkMode("bridge").ok());
}

TEST(ControlNames, EveryControlRoundTripsWithADistinctName) {
  const std::vector<std::string> expected = {
      "namespace.user", "namespace.pid",    "namespace.mount", "namespace.net",  "namespace.ipc",
      "namespace.uts",  "namespace.cgroup", "pivot_root",      "read_only_root", "seccomp",
      "landlock.fs",    "landlock.net",     "landlock.scopes", "no_new_privs",   "capabilities",
      "cgroup.memory",  "cgroup.pids",      "cgroup.cpu",      "rlimits",        "close_fds"};
  std::set<std::string> seen;
  for (int i = 0; i <= static_cast<int>(Control::kCloseFds); ++i) {
    Control c = static_cast<Control>(i);
    std::string name(ControlName(c));
    EXPECT_EQ(name, expected[i]) << i;
    EXPECT_TRUE(seen.insert(name).second) << name;
    absl::StatusOr<Control> parsed = ParseControl(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(seen.size(), 20u);
  absl::StatusOr<Control> bad = ParseControl("namespace.time");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "unknown control: namespace.time");
}

}  // namespace
}  // namespace kavach
