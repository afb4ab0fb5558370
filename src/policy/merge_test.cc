// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"

namespace kavach {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Ports = std::optional<std::vector<uint16_t>>;

TEST(MergeStricter, SeccompTakesTheStricterProfile) {
  const SeccompProfile order[] = {SeccompProfile::kNone, SeccompProfile::kBasic,
                                  SeccompProfile::kStrict};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      SandboxPolicy a, b;
      a.seccomp = order[i];
      b.seccomp = order[j];
      EXPECT_EQ(MergeStricter(a, b).seccomp, order[std::max(i, j)]) << i << "," << j;
    }
  }
}

TEST(MergeStricter, NetworkNoneBeatsHost) {
  SandboxPolicy host, none;
  host.network.mode = NetworkMode::kHost;
  none.network.mode = NetworkMode::kNone;
  EXPECT_EQ(MergeStricter(host, host).network.mode, NetworkMode::kHost);
  EXPECT_EQ(MergeStricter(host, none).network.mode, NetworkMode::kNone);
  EXPECT_EQ(MergeStricter(none, host).network.mode, NetworkMode::kNone);
}

Ports MergedBind(Ports a, Ports b) {
  SandboxPolicy pa, pb;
  pa.network.tcp_bind_ports = std::move(a);
  pb.network.tcp_bind_ports = std::move(b);
  return MergeStricter(pa, pb).network.tcp_bind_ports;
}

TEST(MergeStricter, PortLists) {
  using V = std::vector<uint16_t>;
  EXPECT_EQ(MergedBind(std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(MergedBind(std::nullopt, V{80}), Ports(V{80}));
  EXPECT_EQ(MergedBind(V{443}, std::nullopt), Ports(V{443}));
  EXPECT_EQ(MergedBind(V{80, 443, 8080}, V{8080, 80}), Ports(V{80, 8080}));
  // The original's bug: disjoint lists gave "unrestricted". Here they deny all.
  Ports disjoint = MergedBind(V{80}, V{443});
  ASSERT_TRUE(disjoint.has_value());
  EXPECT_THAT(*disjoint, IsEmpty());
  // An empty list (deny all) stays deny-all whatever the other side says.
  EXPECT_EQ(MergedBind(V{}, V{80}), Ports(V{}));
  EXPECT_EQ(MergedBind(std::nullopt, V{}), Ports(V{}));

  SandboxPolicy a, b;
  a.network.tcp_connect_ports = V{443, 22};
  b.network.tcp_connect_ports = V{22};
  EXPECT_EQ(MergeStricter(a, b).network.tcp_connect_ports, Ports(V{22}));
}

TEST(MergeStricter, RestrictingBooleansAreOred) {
  SandboxPolicy a, b;
  a.filesystem.read_only_root = true;
  b.filesystem.landlock = true;
  a.landlock_scopes.signal = true;
  b.landlock_scopes.abstract_unix_socket = true;
  for (const SandboxPolicy& m : {MergeStricter(a, b), MergeStricter(b, a)}) {
    EXPECT_TRUE(m.filesystem.read_only_root);
    EXPECT_TRUE(m.filesystem.landlock);
    EXPECT_TRUE(m.landlock_scopes.signal);
    EXPECT_TRUE(m.landlock_scopes.abstract_unix_socket);
  }
  SandboxPolicy m = MergeStricter(SandboxPolicy{}, SandboxPolicy{});
  EXPECT_FALSE(m.filesystem.read_only_root);
  EXPECT_FALSE(m.filesystem.landlock);
}

TEST(MergeStricter, LimitsTakeTheMinimumOfPresentValues) {
  SandboxPolicy a, b;
  a.limits.memory_bytes = 512 << 20;
  b.limits.memory_bytes = 256 << 20;
  a.limits.cpu_cores = 0.5;
  b.limits.cpu_cores = 2.0;
  a.limits.max_pids = 64;        // b unset
  b.limits.wall_time_ms = 5000;  // a unset
  a.limits.cpu_weight = 100;
  b.limits.cpu_weight = 50;
  a.limits.max_output_bytes = 4096;
  b.limits.max_output_bytes = 1 << 20;
  a.limits.max_open_files = 256;
  b.limits.max_open_files = 1024;
  b.limits.max_file_size_bytes = 1 << 20;
  SandboxPolicy m = MergeStricter(a, b);
  EXPECT_EQ(m.limits.memory_bytes, std::optional<uint64_t>(256 << 20));
  EXPECT_EQ(m.limits.cpu_cores, std::optional<double>(0.5));
  EXPECT_EQ(m.limits.max_pids, std::optional<uint32_t>(64));
  EXPECT_EQ(m.limits.wall_time_ms, std::optional<uint64_t>(5000));
  EXPECT_EQ(m.limits.cpu_weight, std::optional<uint32_t>(50));
  EXPECT_EQ(m.limits.max_output_bytes, 4096u);
  EXPECT_EQ(m.limits.max_open_files, std::optional<uint64_t>(256));
  EXPECT_EQ(m.limits.max_file_size_bytes, std::optional<uint64_t>(1 << 20));
  EXPECT_EQ(MergeStricter(b, a).limits, m.limits);
  EXPECT_FALSE(MergeStricter(SandboxPolicy{}, SandboxPolicy{}).limits.memory_bytes.has_value());
}

TEST(MergeStricter, Filesystem) {
  SandboxPolicy a, b;
  a.filesystem.read_write = {"/out", "/scratch", "/shared"};
  b.filesystem.read_write = {"/shared", "/out/logs"};
  a.filesystem.read_only = {"/data", "/secrets/ca"};
  b.filesystem.read_only = {"/models", "/data"};
  b.filesystem.hidden = {"/secrets"};
  a.filesystem.executable = {"/opt/bin", "/tools"};
  b.filesystem.executable = {"/tools"};
  SandboxPolicy m = MergeStricter(a, b);
  // Writable only where both agree; the rest is demoted to read-only.
  EXPECT_THAT(m.filesystem.read_write, ElementsAre("/shared"));
  EXPECT_THAT(m.filesystem.read_only,
              ElementsAre("/data", "/models", "/out", "/scratch", "/out/logs"));
  EXPECT_THAT(m.filesystem.hidden, ElementsAre("/secrets"));
  EXPECT_THAT(m.filesystem.executable, ElementsAre("/tools"));
}

TEST(MergeStricter, HiddenRemovesPathsAtOrBelowIt) {
  SandboxPolicy a, b;
  a.filesystem.read_write = {"/data/out", "/database"};
  b.filesystem.read_write = {"/data/out", "/database"};
  a.filesystem.read_only = {"/data", "/data/in"};
  b.filesystem.hidden = {"/data"};
  SandboxPolicy m = MergeStricter(a, b);
  EXPECT_THAT(m.filesystem.read_write, ElementsAre("/database"));  // "/database" is not under /data
  EXPECT_THAT(m.filesystem.read_only, IsEmpty());
}

TEST(MergeStricter, Environment) {
  SandboxPolicy a, b;
  a.environment.allow = {"PATH", "HOME", "LANG"};
  b.environment.allow = {"LANG", "PATH", "TERM"};
  a.environment.set = {{"A", "from-a"}, {"SHARED", "a"}};
  b.environment.set = {{"B", "from-b"}, {"SHARED", "b"}};
  SandboxPolicy m = MergeStricter(a, b);
  EXPECT_THAT(m.environment.allow, ElementsAre("PATH", "LANG"));
  EXPECT_EQ(m.environment.set, (std::map<std::string, std::string>{
                                   {"A", "from-a"}, {"B", "from-b"}, {"SHARED", "b"}}));
}

TEST(MergeStricter, OptionalControlsIntersect) {
  SandboxPolicy a, b;
  a.optional_controls = {Control::kLandlockScopes, Control::kCgroupCpu};
  b.optional_controls = {Control::kCgroupCpu, Control::kLandlockNetwork};
  EXPECT_THAT(MergeStricter(a, b).optional_controls, UnorderedElementsAre(Control::kCgroupCpu));
}

TEST(MergeStricter, Identity) {
  SandboxPolicy a, b;
  a.working_directory = "/job";
  b.working_directory = "/other";
  a.hostname = "outer";
  b.hostname = "inner";
  a.uid = 0;
  a.gid = 0;
  b.uid = 2000;
  b.gid = 2000;
  SandboxPolicy m = MergeStricter(a, b);
  EXPECT_EQ(m.working_directory, "/job");
  EXPECT_EQ(m.hostname, "outer");
  EXPECT_EQ(m.uid, 2000u);  // a non-root id beats root
  EXPECT_EQ(m.gid, 2000u);
  SandboxPolicy m2 = MergeStricter(b, a);
  EXPECT_EQ(m2.uid, 2000u);
  a.uid = 1500;
  EXPECT_EQ(MergeStricter(a, b).uid, 1500u);
}

TEST(MergeStricter, WithStrictIsAtLeastStrict) {
  for (const SandboxPolicy& base :
       {SandboxPolicy::Minimal(), SandboxPolicy::Basic(), SandboxPolicy::Strict()}) {
    SandboxPolicy m = MergeStricter(base, SandboxPolicy::Strict());
    EXPECT_EQ(m, SandboxPolicy::Strict());
    EXPECT_TRUE(m.Validate().ok());
  }
  EXPECT_EQ(MergeStricter(SandboxPolicy::Basic(), SandboxPolicy::Minimal()),
            SandboxPolicy::Basic());
}

}  // namespace
}  // namespace kavach
