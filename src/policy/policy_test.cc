// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "kavach/policy.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(Presets, Minimal) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  EXPECT_EQ(p.seccomp, SeccompProfile::kNone);
  EXPECT_FALSE(p.filesystem.landlock);
  EXPECT_FALSE(p.filesystem.read_only_root);
  EXPECT_EQ(p.network.mode, NetworkMode::kNone);
  EXPECT_FALSE(p.network.tcp_bind_ports.has_value());
  EXPECT_FALSE(p.network.tcp_connect_ports.has_value());
  EXPECT_FALSE(p.landlock_scopes.abstract_unix_socket);
  EXPECT_FALSE(p.landlock_scopes.signal);
  EXPECT_FALSE(p.limits.memory_bytes.has_value());
  EXPECT_FALSE(p.limits.cpu_cores.has_value());
  EXPECT_FALSE(p.limits.max_pids.has_value());
  EXPECT_FALSE(p.limits.wall_time_ms.has_value());
  EXPECT_EQ(p.limits.max_output_bytes, 1u << 20);
  EXPECT_EQ(p.working_directory, "/work");
  EXPECT_EQ(p.uid, 1000u);
  EXPECT_EQ(p.gid, 1000u);
  EXPECT_EQ(p.hostname, "kavach");
  EXPECT_TRUE(p.optional_controls.empty());
  EXPECT_TRUE(p.Validate().ok());
  EXPECT_EQ(p, SandboxPolicy{});
}

TEST(Presets, Basic) {
  SandboxPolicy p = SandboxPolicy::Basic();
  EXPECT_EQ(p.seccomp, SeccompProfile::kBasic);
  EXPECT_TRUE(p.filesystem.landlock);
  EXPECT_FALSE(p.filesystem.read_only_root);
  EXPECT_EQ(p.network.mode, NetworkMode::kNone);
  EXPECT_FALSE(p.landlock_scopes.abstract_unix_socket);
  EXPECT_FALSE(p.landlock_scopes.signal);
  EXPECT_FALSE(p.limits.memory_bytes.has_value());
  EXPECT_FALSE(p.limits.cpu_cores.has_value());
  EXPECT_FALSE(p.limits.max_pids.has_value());
  EXPECT_TRUE(p.Validate().ok());
}

TEST(Presets, Strict) {
  SandboxPolicy p = SandboxPolicy::Strict();
  EXPECT_EQ(p.seccomp, SeccompProfile::kStrict);
  EXPECT_TRUE(p.filesystem.landlock);
  EXPECT_TRUE(p.filesystem.read_only_root);
  EXPECT_EQ(p.network.mode, NetworkMode::kNone);
  EXPECT_FALSE(p.network.tcp_bind_ports.has_value());
  EXPECT_TRUE(p.landlock_scopes.abstract_unix_socket);
  EXPECT_TRUE(p.landlock_scopes.signal);
  EXPECT_EQ(p.limits.memory_bytes, std::optional<uint64_t>(512u << 20));
  EXPECT_EQ(p.limits.cpu_cores, std::optional<double>(1.0));
  EXPECT_EQ(p.limits.max_pids, std::optional<uint32_t>(64));
  EXPECT_FALSE(p.limits.wall_time_ms.has_value());
  EXPECT_EQ(p.limits.max_open_files, std::optional<uint64_t>(1024));
  EXPECT_EQ(p.limits.max_file_size_bytes, std::optional<uint64_t>(uint64_t{1} << 30));
  EXPECT_FALSE(p.limits.cpu_weight.has_value());
  EXPECT_TRUE(p.Validate().ok());
}

TEST(Presets, FromPresetIsCaseInsensitive) {
  EXPECT_EQ(*SandboxPolicy::FromPreset("minimal"), SandboxPolicy::Minimal());
  EXPECT_EQ(*SandboxPolicy::FromPreset("Basic"), SandboxPolicy::Basic());
  EXPECT_EQ(*SandboxPolicy::FromPreset("STRICT"), SandboxPolicy::Strict());
  EXPECT_NE(SandboxPolicy::Basic(), SandboxPolicy::Strict());
}

TEST(Presets, FromPresetUnknown) {
  absl::StatusOr<SandboxPolicy> p = SandboxPolicy::FromPreset("paranoid");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(), "unknown policy: paranoid (use minimal, basic, strict)");
  EXPECT_FALSE(SandboxPolicy::FromPreset("").ok());
  EXPECT_FALSE(SandboxPolicy::FromPreset(" strict").ok());
}

// Each case breaks one field of an otherwise valid (strict) policy and checks
// that Validate names that field.
struct BadField {
  std::string name;
  std::string field;  // must appear at the start of the message
  std::function<void(SandboxPolicy&)> mutate;
};

class ValidateTest : public ::testing::TestWithParam<BadField> {};

TEST_P(ValidateTest, NamesTheField) {
  SandboxPolicy p = SandboxPolicy::Strict();
  ASSERT_TRUE(p.Validate().ok());
  GetParam().mutate(p);
  absl::Status s = p.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith(GetParam().field)) << s;
}

const BadField kBadFields[] = {
    {"ReadOnlyRelative", "filesystem.read_only[1]",
     [](SandboxPolicy& p) {
       p.filesystem.read_only = {"/ok", "data"};
     }},
    {"ReadOnlyDotDot", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {"/data/../etc"}; }},
    {"ReadOnlyEmpty", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {""}; }},
    {"ReadOnlyDoubleSlash", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {"/data//x"}; }},
    {"ReadOnlyDot", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {"/data/./x"}; }},
    {"ReadOnlyTrailingSlash", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {"/data/"}; }},
    {"ReadOnlyNul", "filesystem.read_only[0]",
     [](SandboxPolicy& p) { p.filesystem.read_only = {std::string("/da\0ta", 6)}; }},
    {"ReadWriteRelative", "filesystem.read_write[0]",
     [](SandboxPolicy& p) { p.filesystem.read_write = {"out"}; }},
    {"ReadWriteRoot", "filesystem.read_write[0]",
     [](SandboxPolicy& p) { p.filesystem.read_write = {"/"}; }},
    {"ExecutableDotDot", "filesystem.executable[0]",
     [](SandboxPolicy& p) { p.filesystem.executable = {"/opt/.."}; }},
    {"HiddenRelative", "filesystem.hidden[0]",
     [](SandboxPolicy& p) { p.filesystem.hidden = {"secret"}; }},
    {"HiddenRoot", "filesystem.hidden[0]", [](SandboxPolicy& p) { p.filesystem.hidden = {"/"}; }},
    {"BindPortZero", "network.tcp_bind_ports[1]",
     [](SandboxPolicy& p) {
       p.network.tcp_bind_ports = std::vector<uint16_t>{80, 0};
     }},
    {"ConnectPortZero", "network.tcp_connect_ports[0]",
     [](SandboxPolicy& p) { p.network.tcp_connect_ports = std::vector<uint16_t>{0}; }},
    {"MemoryTooSmall", "limits.memory_bytes",
     [](SandboxPolicy& p) { p.limits.memory_bytes = 1024; }},
    {"MemoryTooLarge", "limits.memory_bytes",
     [](SandboxPolicy& p) { p.limits.memory_bytes = std::numeric_limits<uint64_t>::max(); }},
    {"CpuZero", "limits.cpu_cores", [](SandboxPolicy& p) { p.limits.cpu_cores = 0.0; }},
    {"CpuNegative", "limits.cpu_cores", [](SandboxPolicy& p) { p.limits.cpu_cores = -1.0; }},
    {"CpuTooMany", "limits.cpu_cores", [](SandboxPolicy& p) { p.limits.cpu_cores = 1024.5; }},
    {"CpuNaN", "limits.cpu_cores",
     [](SandboxPolicy& p) { p.limits.cpu_cores = std::numeric_limits<double>::quiet_NaN(); }},
    {"CpuWeightZero", "limits.cpu_weight", [](SandboxPolicy& p) { p.limits.cpu_weight = 0; }},
    {"CpuWeightTooLarge", "limits.cpu_weight",
     [](SandboxPolicy& p) { p.limits.cpu_weight = 10001; }},
    {"MaxPidsZero", "limits.max_pids", [](SandboxPolicy& p) { p.limits.max_pids = 0; }},
    {"WallTimeZero", "limits.wall_time_ms", [](SandboxPolicy& p) { p.limits.wall_time_ms = 0; }},
    {"OutputZero", "limits.max_output_bytes",
     [](SandboxPolicy& p) { p.limits.max_output_bytes = 0; }},
    {"OpenFilesHuge", "limits.max_open_files",
     [](SandboxPolicy& p) { p.limits.max_open_files = std::numeric_limits<uint64_t>::max(); }},
    {"FileSizeHuge", "limits.max_file_size_bytes",
     [](SandboxPolicy& p) { p.limits.max_file_size_bytes = std::numeric_limits<uint64_t>::max(); }},
    {"EnvAllowEmpty", "environment.allow[0]", [](SandboxPolicy& p) { p.environment.allow = {""}; }},
    {"EnvAllowEquals", "environment.allow[1]",
     [](SandboxPolicy& p) {
       p.environment.allow = {"PATH", "A=B"};
     }},
    {"EnvAllowNul", "environment.allow[0]",
     [](SandboxPolicy& p) { p.environment.allow = {std::string("A\0B", 3)}; }},
    {"EnvSetBadName", "environment.set", [](SandboxPolicy& p) { p.environment.set["X=Y"] = "1"; }},
    {"EnvSetEmptyName", "environment.set", [](SandboxPolicy& p) { p.environment.set[""] = "1"; }},
    {"EnvSetNulValue", "environment.set.X",
     [](SandboxPolicy& p) { p.environment.set["X"] = std::string("a\0b", 3); }},
    {"WorkdirRelative", "working_directory",
     [](SandboxPolicy& p) { p.working_directory = "work"; }},
    {"WorkdirEmpty", "working_directory", [](SandboxPolicy& p) { p.working_directory = ""; }},
    {"WorkdirRoot", "working_directory", [](SandboxPolicy& p) { p.working_directory = "/"; }},
    {"WorkdirUsr", "working_directory", [](SandboxPolicy& p) { p.working_directory = "/usr"; }},
    {"WorkdirUnderProc", "working_directory",
     [](SandboxPolicy& p) { p.working_directory = "/proc/self"; }},
    {"WorkdirEtc", "working_directory", [](SandboxPolicy& p) { p.working_directory = "/etc"; }},
    {"WorkdirDev", "working_directory", [](SandboxPolicy& p) { p.working_directory = "/dev"; }},
    {"WorkdirTmp", "working_directory", [](SandboxPolicy& p) { p.working_directory = "/tmp"; }},
    {"WorkdirDotDot", "working_directory",
     [](SandboxPolicy& p) { p.working_directory = "/work/../etc"; }},
    {"UidMinusOne", "uid", [](SandboxPolicy& p) { p.uid = static_cast<uint32_t>(-1); }},
    {"GidMinusOne", "gid", [](SandboxPolicy& p) { p.gid = static_cast<uint32_t>(-1); }},
    {"HostnameEmpty", "hostname", [](SandboxPolicy& p) { p.hostname = ""; }},
    {"HostnameUnderscore", "hostname", [](SandboxPolicy& p) { p.hostname = "my_box"; }},
    {"HostnameLeadingDash", "hostname", [](SandboxPolicy& p) { p.hostname = "-box"; }},
    {"HostnameTrailingDash", "hostname", [](SandboxPolicy& p) { p.hostname = "box-"; }},
    {"HostnameEmptyLabel", "hostname", [](SandboxPolicy& p) { p.hostname = "a..b"; }},
    {"HostnameTooLong", "hostname", [](SandboxPolicy& p) { p.hostname = std::string(65, 'a'); }},
    {"HostnameLabelTooLong", "hostname",
     [](SandboxPolicy& p) { p.hostname = std::string(64, 'a'); }},
};

INSTANTIATE_TEST_SUITE_P(EachField, ValidateTest, ::testing::ValuesIn(kBadFields),
                         [](const ::testing::TestParamInfo<BadField>& info) {
                           return info.param.name;
                         });

TEST(Validate, AcceptsReasonableValues) {
  SandboxPolicy p = SandboxPolicy::Strict();
  p.filesystem.read_only = {"/", "/opt/data"};
  p.filesystem.read_write = {"/srv/out"};
  p.filesystem.executable = {"/opt/bin"};
  p.filesystem.hidden = {"/opt/data/secret"};
  p.network.mode = NetworkMode::kHost;
  p.network.tcp_bind_ports = std::vector<uint16_t>{8080, 65535};
  p.network.tcp_connect_ports = std::vector<uint16_t>{};
  p.limits.memory_bytes = 1 << 20;
  p.limits.cpu_cores = 1024;
  p.limits.cpu_weight = 10000;
  p.limits.max_pids = 1;
  p.limits.wall_time_ms = 1;
  p.limits.max_output_bytes = 1;
  p.limits.max_open_files = 0;
  p.limits.max_file_size_bytes = 0;
  p.environment.allow = {"PATH", "lower_case", "X.Y"};
  p.environment.set = {{"LANG", "C.UTF-8"}, {"EMPTY", ""}};
  p.working_directory = "/var/tmp/job";
  p.uid = 0;  // allowed: root inside a user namespace is not root outside
  p.gid = 0;
  p.hostname = std::string(63, 'a');
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  p.hostname = "build-01.sandbox.local";
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  p.working_directory = "/home/user";
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
}

TEST(Validate, IsOptional) {
  SandboxPolicy p;
  EXPECT_FALSE(p.IsOptional(Control::kLandlockScopes));
  p.optional_controls.insert(Control::kLandlockScopes);
  EXPECT_TRUE(p.IsOptional(Control::kLandlockScopes));
  EXPECT_FALSE(p.IsOptional(Control::kSeccomp));
}

}  // namespace
}  // namespace kavach
