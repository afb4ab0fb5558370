// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "policy/policy_io.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

SandboxPolicy FullyPopulated() {
  SandboxPolicy p;
  p.seccomp = SeccompProfile::kBasic;
  p.filesystem.read_only = {"/opt/data", "/etc/ssl/certs"};
  p.filesystem.read_write = {"/srv/out"};
  p.filesystem.executable = {"/opt/bin"};
  p.filesystem.hidden = {"/opt/data/private"};
  p.filesystem.read_only_root = true;
  p.filesystem.landlock = true;
  p.network.mode = NetworkMode::kHost;
  p.network.tcp_bind_ports = std::vector<uint16_t>{8080, 1, 65535};
  p.network.tcp_connect_ports = std::vector<uint16_t>{};  // deny all, distinct from unset
  p.landlock_scopes.abstract_unix_socket = true;
  p.landlock_scopes.signal = false;
  p.limits.memory_bytes = (uint64_t{3} << 30) + 12345;
  p.limits.cpu_cores = 1.0 / 3.0;  // not representable in short decimal form
  p.limits.cpu_weight = 250;
  p.limits.max_pids = 17;
  p.limits.wall_time_ms = 9000;
  p.limits.max_output_bytes = 4096;
  p.limits.max_open_files = 0;
  p.limits.max_file_size_bytes = uint64_t{1} << 40;
  p.environment.allow = {"PATH", "LANG"};
  p.environment.set = {{"HOME", "/work"},
                       {"QUOTE", "say \"hi\"\n\ttab \\ back"},
                       {"UNICODE", "caf\xc3\xa9"},
                       {"EMPTY", ""},
                       {"A.B", "dotted"}};
  p.working_directory = "/job/run-1";
  p.uid = 0;
  p.gid = 4242;
  p.hostname = "build-01.example";
  p.optional_controls = {Control::kLandlockScopes, Control::kCgroupCpu, Control::kRlimits};
  return p;
}

std::vector<SandboxPolicy> RoundTripCases() {
  return {SandboxPolicy::Minimal(), SandboxPolicy::Basic(), SandboxPolicy::Strict(),
          FullyPopulated()};
}

TEST(PolicyIo, FullyPopulatedIsValid) { ASSERT_TRUE(FullyPopulated().Validate().ok()); }

TEST(PolicyIo, JsonRoundTrip) {
  for (const SandboxPolicy& p : RoundTripCases()) {
    std::string text = PolicyToJson(p);
    absl::StatusOr<SandboxPolicy> back = PolicyFromJson(text);
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
    EXPECT_EQ(*back, p) << text;
  }
}

TEST(PolicyIo, TomlRoundTrip) {
  for (const SandboxPolicy& p : RoundTripCases()) {
    std::string text = PolicyToToml(p);
    absl::StatusOr<SandboxPolicy> back = PolicyFromToml(text);
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
    EXPECT_EQ(*back, p) << text;
  }
}

TEST(PolicyIo, UnsetAndEmptyPortListsStayDistinct) {
  SandboxPolicy p;
  p.network.tcp_bind_ports = std::vector<uint16_t>{};
  for (const std::string& text : {PolicyToJson(p), PolicyToToml(p)}) {
    SandboxPolicy back = *(text[0] == '{' ? PolicyFromJson(text) : PolicyFromToml(text));
    ASSERT_TRUE(back.network.tcp_bind_ports.has_value()) << text;
    EXPECT_TRUE(back.network.tcp_bind_ports->empty());
    EXPECT_FALSE(back.network.tcp_connect_ports.has_value());
  }
}

TEST(PolicyIo, JsonUsesTheDocumentedKeys) {
  std::string text = PolicyToJson(SandboxPolicy::Strict());
  for (const char* key :
       {"\"seccomp\": \"strict\"", "\"read_only_root\": true", "\"memory_bytes\": 536870912",
        "\"max_pids\": 64", "\"mode\": \"none\"", "\"abstract_unix_socket\": true",
        "\"working_directory\": \"/work\"", "\"optional_controls\": []"}) {
    EXPECT_THAT(text, HasSubstr(key));
  }
  EXPECT_THAT(text, ::testing::Not(HasSubstr("extends")));
}

TEST(PolicyIo, TomlUsesTheSameKeys) {
  const char* toml = R"(
seccomp = "strict"
working_directory = "/job"
uid = 1500
gid = 1500
hostname = "box"
optional_controls = ["landlock.scopes"]

[filesystem]
read_only = ["/data"]
read_write = ["/out"]
executable = []
hidden = ["/data/keys"]
read_only_root = true
landlock = true

[network]
mode = "host"
tcp_connect_ports = [443]

[landlock_scopes]
abstract_unix_socket = true
signal = true

[limits]
memory_mb = 256
cpu_cores = 2
cpu_weight = 100
max_pids = 32
wall_time_ms = 10000
max_output_bytes = 65536
max_open_files = 64
max_file_size_bytes = 1048576

[environment]
allow = ["PATH"]
set = { LANG = "C.UTF-8" }
)";
  absl::StatusOr<SandboxPolicy> p = PolicyFromToml(toml);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->seccomp, SeccompProfile::kStrict);
  EXPECT_EQ(p->working_directory, "/job");
  EXPECT_EQ(p->uid, 1500u);
  EXPECT_EQ(p->hostname, "box");
  EXPECT_TRUE(p->IsOptional(Control::kLandlockScopes));
  EXPECT_EQ(p->filesystem.read_only, std::vector<std::string>{"/data"});
  EXPECT_EQ(p->filesystem.hidden, std::vector<std::string>{"/data/keys"});
  EXPECT_EQ(p->network.mode, NetworkMode::kHost);
  EXPECT_FALSE(p->network.tcp_bind_ports.has_value());
  EXPECT_EQ(p->network.tcp_connect_ports,
            std::optional<std::vector<uint16_t>>(std::vector<uint16_t>{443}));
  EXPECT_EQ(p->limits.memory_bytes, std::optional<uint64_t>(256u << 20));
  EXPECT_EQ(p->limits.cpu_cores, std::optional<double>(2.0));  // a TOML integer is accepted
  EXPECT_EQ(p->limits.cpu_weight, std::optional<uint32_t>(100));
  EXPECT_EQ(p->limits.max_output_bytes, 65536u);
  EXPECT_EQ(p->environment.set.at("LANG"), "C.UTF-8");

  // The same document as JSON decodes to the same policy.
  absl::StatusOr<SandboxPolicy> via_json = PolicyFromJson(PolicyToJson(*p));
  ASSERT_TRUE(via_json.ok());
  EXPECT_EQ(*via_json, *p);
}

TEST(PolicyIo, MemoryMbAlias) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromJson(R"({"limits": {"memory_mb": 512}})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->limits.memory_bytes, std::optional<uint64_t>(512u << 20));
  absl::StatusOr<SandboxPolicy> both =
      PolicyFromJson(R"({"limits": {"memory_mb": 512, "memory_bytes": 536870912}})");
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(std::string(both.status().message()), StartsWith("limits.memory_mb:"));
  absl::StatusOr<SandboxPolicy> neg = PolicyFromJson(R"({"limits": {"memory_mb": -1}})");
  ASSERT_FALSE(neg.ok());
  EXPECT_THAT(std::string(neg.status().message()), StartsWith("limits.memory_mb: expected"));
  absl::StatusOr<SandboxPolicy> huge =
      PolicyFromJson(R"({"limits": {"memory_mb": 9000000000000000}})");
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(std::string(huge.status().message()), StartsWith("limits.memory_mb:"));
}

TEST(PolicyIo, Extends) {
  absl::StatusOr<SandboxPolicy> p =
      PolicyFromJson(R"({"limits": {"max_pids": 8}, "extends": "strict"})");
  ASSERT_TRUE(p.ok()) << p.status();
  SandboxPolicy expected = SandboxPolicy::Strict();
  expected.limits.max_pids = 8;
  EXPECT_EQ(*p, expected);

  absl::StatusOr<SandboxPolicy> t = PolicyFromToml(R"(
extends = "Basic"
[network]
mode = "host"
)");
  ASSERT_TRUE(t.ok()) << t.status();
  SandboxPolicy expected_basic = SandboxPolicy::Basic();
  expected_basic.network.mode = NetworkMode::kHost;
  EXPECT_EQ(*t, expected_basic);

  // JSON null clears a preset's limit.
  absl::StatusOr<SandboxPolicy> cleared = PolicyFromJson(
      R"({"extends": "strict", "limits": {"memory_bytes": null, "cpu_cores": null}})");
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_FALSE(cleared->limits.memory_bytes.has_value());
  EXPECT_FALSE(cleared->limits.cpu_cores.has_value());
  EXPECT_EQ(cleared->limits.max_pids, std::optional<uint32_t>(64));

  absl::StatusOr<SandboxPolicy> bad = PolicyFromJson(R"({"extends": "paranoid"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "extends: expected \"minimal\", \"basic\" or \"strict\", got \"paranoid\"");
  EXPECT_FALSE(PolicyFromJson(R"({"extends": 3})").ok());
}

TEST(PolicyIo, ListsReplaceTheBase) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromJson(
      R"({"extends": "strict", "optional_controls": ["seccomp"], "environment": {"allow": ["A"]}})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->optional_controls, std::set<Control>{Control::kSeccomp});
  EXPECT_EQ(p->environment.allow, std::vector<std::string>{"A"});
}

// Every decoding error names the full dotted key.
struct BadInput {
  std::string name;
  std::string json;
  std::string message_prefix;
};

class JsonErrorTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(JsonErrorTest, NamesTheKey) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromJson(GetParam().json);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), StartsWith(GetParam().message_prefix))
      << p.status();
}

const BadInput kBadJson[] = {
    {"UnknownTopLevel", R"({"sekcomp": "basic"})", "sekcomp: unknown key (expected one of:"},
    {"UnknownNested", R"({"limits": {"max_pid": 3}})", "limits.max_pid: unknown key"},
    {"UnknownFilesystem", R"({"filesystem": {"readonly": []}})",
     "filesystem.readonly: unknown key"},
    {"UnknownNetwork", R"({"network": {"enabled": false}})", "network.enabled: unknown key"},
    {"UnknownScope", R"({"landlock_scopes": {"ptrace": true}})",
     "landlock_scopes.ptrace: unknown key"},
    {"UnknownEnvironment", R"({"environment": {"inherit": true}})",
     "environment.inherit: unknown key"},
    {"NegativePids", R"({"limits": {"max_pids": -3}})",
     "limits.max_pids: expected a positive integer, got -3"},
    {"ZeroPids", R"({"limits": {"max_pids": 0}})",
     "limits.max_pids: expected a positive integer, got 0"},
    {"FloatPids", R"({"limits": {"max_pids": 1.5}})",
     "limits.max_pids: expected a positive integer, got 1.5"},
    {"StringPids", R"({"limits": {"max_pids": "64"}})",
     "limits.max_pids: expected a positive integer, got \"64\""},
    {"PidsTooLarge", R"({"limits": {"max_pids": 4294967296}})",
     "limits.max_pids: expected at most 4294967295, got 4294967296"},
    {"MemoryTooSmall", R"({"limits": {"memory_bytes": 100}})",
     "limits.memory_bytes: expected an integer of at least 1048576, got 100"},
    {"MemoryNegative", R"({"limits": {"memory_bytes": -1048576}})",
     "limits.memory_bytes: expected"},
    {"MemoryTooLarge", R"({"limits": {"memory_bytes": 18446744073709551615}})",
     "limits.memory_bytes: expected at most 9223372036854775807, got 18446744073709551615"},
    {"CpuZero", R"({"limits": {"cpu_cores": 0}})", "limits.cpu_cores: expected"},
    {"CpuNegative", R"({"limits": {"cpu_cores": -0.5}})", "limits.cpu_cores: expected"},
    {"CpuString", R"({"limits": {"cpu_cores": "1"}})", "limits.cpu_cores: expected"},
    {"CpuWeightRange", R"({"limits": {"cpu_weight": 20000}})",
     "limits.cpu_weight: expected an integer in 1..10000, got 20000"},
    {"WallTimeZero", R"({"limits": {"wall_time_ms": 0}})", "limits.wall_time_ms: expected"},
    {"OutputZero", R"({"limits": {"max_output_bytes": 0}})", "limits.max_output_bytes: expected"},
    {"OutputNull", R"({"limits": {"max_output_bytes": null}})",
     "limits.max_output_bytes: expected"},
    {"OpenFilesNegative", R"({"limits": {"max_open_files": -1}})",
     "limits.max_open_files: expected a non-negative integer, got -1"},
    {"FileSizeBool", R"({"limits": {"max_file_size_bytes": true}})",
     "limits.max_file_size_bytes: expected"},
    {"LimitsNotObject", R"({"limits": [1]})", "limits: expected a table, got [1]"},
    {"BadSeccompName", R"({"seccomp": "paranoid"})",
     "seccomp: expected \"none\", \"basic\" or \"strict\", got \"paranoid\""},
    {"SeccompBool", R"({"seccomp": true})", "seccomp: expected"},
    {"BadNetworkMode", R"({"network": {"mode": "bridge"}})",
     "network.mode: expected \"none\", \"proxy\" or \"host\", got \"bridge\""},
    {"PortZero", R"({"network": {"tcp_bind_ports": [80, 0]}})",
     "network.tcp_bind_ports[1]: expected a port number 1..65535, got 0"},
    {"PortTooLarge", R"({"network": {"tcp_connect_ports": [70000]}})",
     "network.tcp_connect_ports[0]: expected a port number 1..65535, got 70000"},
    {"PortsNotList", R"({"network": {"tcp_connect_ports": 443}})",
     "network.tcp_connect_ports: expected a list of port numbers, got 443"},
    {"ReadOnlyNotList", R"({"filesystem": {"read_only": "/data"}})",
     "filesystem.read_only: expected a list of strings"},
    {"ReadOnlyElementType", R"({"filesystem": {"read_only": ["/a", 3]}})",
     "filesystem.read_only[1]: expected a string, got 3"},
    {"ReadOnlyRelative", R"({"filesystem": {"read_only": ["data"]}})", "filesystem.read_only[0]:"},
    {"LandlockString", R"({"filesystem": {"landlock": "yes"}})",
     "filesystem.landlock: expected true or false, got \"yes\""},
    {"ScopeNumber", R"({"landlock_scopes": {"signal": 1}})",
     "landlock_scopes.signal: expected true or false, got 1"},
    {"EnvSetNotObject", R"({"environment": {"set": ["A=B"]}})", "environment.set: expected"},
    {"EnvSetValueType", R"({"environment": {"set": {"A": 1}}})",
     "environment.set.A: expected a string, got 1"},
    {"EnvAllowBadName", R"({"environment": {"allow": ["A=B"]}})", "environment.allow[0]:"},
    {"UidNegative", R"({"uid": -1})", "uid: expected"},
    {"UidTooLarge", R"({"uid": 4294967295})",
     "uid: expected an integer in 0..4294967294, got 4294967295"},
    {"GidString", R"({"gid": "1000"})", "gid: expected"},
    {"HostnameType", R"({"hostname": 7})", "hostname: expected a string, got 7"},
    {"HostnameInvalid", R"({"hostname": "not_valid"})", "hostname:"},
    {"WorkdirSystem", R"({"working_directory": "/etc"})", "working_directory:"},
    {"UnknownControl", R"({"optional_controls": ["seccomp", "magic"]})",
     "optional_controls[1]: unknown control: magic"},
    {"ControlsNotList", R"({"optional_controls": "seccomp"})", "optional_controls: expected"},
    {"TopLevelNotObject", R"([1, 2])", "policy: expected a table of policy keys"},
    {"DuplicateKey", R"({"limits": {"max_pids": 8, "max_pids": 80000}})",
     "limits.max_pids: key given twice"},
    {"Syntax", "{\n  \"seccomp\": \"basic\",\n  oops\n}", "invalid JSON: parse error at line 3"},
    {"Empty", "", "invalid JSON:"},
};

INSTANTIATE_TEST_SUITE_P(EachError, JsonErrorTest, ::testing::ValuesIn(kBadJson),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return info.param.name;
                         });

class TomlErrorTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(TomlErrorTest, NamesTheKey) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromToml(GetParam().json);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), StartsWith(GetParam().message_prefix))
      << p.status();
}

const BadInput kBadToml[] = {
    {"UnknownTopLevel", "sekcomp = \"basic\"\n", "sekcomp: unknown key"},
    {"UnknownNested", "[limits]\nmax_pid = 3\n", "limits.max_pid: unknown key"},
    {"NegativePids", "[limits]\nmax_pids = -3\n",
     "limits.max_pids: expected a positive integer, got -3"},
    {"FloatPids", "[limits]\nmax_pids = 2.5\n", "limits.max_pids: expected a positive integer"},
    {"WrongTypeBool", "[filesystem]\nlandlock = \"true\"\n", "filesystem.landlock: expected"},
    {"BadEnum", "seccomp = \"paranoid\"\n", "seccomp: expected"},
    {"PortRange", "[network]\ntcp_bind_ports = [65536]\n", "network.tcp_bind_ports[0]: expected"},
    {"DateValue", "[limits]\nwall_time_ms = 1979-05-27\n",
     "limits.wall_time_ms: dates and times are not policy values (line 2"},
    {"Syntax", "seccomp = \"basic\"\n[limits\n", "invalid TOML at line 2"},
    {"DuplicateKey", "uid = 1\nuid = 2\n", "invalid TOML at line 2"},
    {"CpuNaN", "[limits]\ncpu_cores = nan\n", "limits.cpu_cores: expected"},
    {"CpuInfinite", "[limits]\ncpu_cores = inf\n", "limits.cpu_cores: expected"},
    {"IntegerOverflow", "uid = 99999999999999999999\n", "invalid TOML at line 1"},
};

INSTANTIATE_TEST_SUITE_P(EachError, TomlErrorTest, ::testing::ValuesIn(kBadToml),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return info.param.name;
                         });

TEST(PolicyIo, DetectFormat) {
  using internal::DetectPolicyFormat;
  using internal::PolicyFormat;
  EXPECT_EQ(DetectPolicyFormat("p.json", "seccomp = 1"), PolicyFormat::kJson);
  EXPECT_EQ(DetectPolicyFormat("p.JSON", ""), PolicyFormat::kJson);
  EXPECT_EQ(DetectPolicyFormat("p.toml", "{}"), PolicyFormat::kToml);
  EXPECT_EQ(DetectPolicyFormat("policy", "  \n\t{\"seccomp\": \"basic\"}"), PolicyFormat::kJson);
  EXPECT_EQ(DetectPolicyFormat("policy", "seccomp = \"basic\""), PolicyFormat::kToml);
  EXPECT_EQ(DetectPolicyFormat("policy.conf", ""), PolicyFormat::kToml);
}

TEST(PolicyIo, EmbeddedValueUsesThePrefix) {
  nlohmann::ordered_json doc;
  doc["policy"] = internal::PolicyToJsonValue(SandboxPolicy::Strict());
  absl::StatusOr<SandboxPolicy> back = internal::PolicyFromJsonValue(doc["policy"], "policy");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, SandboxPolicy::Strict());
  doc["policy"]["limits"]["max_pids"] = -3;
  absl::StatusOr<SandboxPolicy> bad = internal::PolicyFromJsonValue(doc["policy"], "policy");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "policy.limits.max_pids: expected a positive integer, got -3");
  doc["policy"]["limits"]["max_pids"] = 3;
  doc["policy"]["hostname"] = "_";
  bad = internal::PolicyFromJsonValue(doc["policy"], "policy");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), StartsWith("policy.hostname:"));
}

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "kavach_policy_io_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") ::unlink((dir_ + "/" + name).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir_.c_str());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& content) const {
    std::ofstream(Path(name)) << content;
  }
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") out.push_back(name);
      }
      ::closedir(d);
    }
    return out;
  }

  std::string dir_;
};

TEST_F(PolicyFileTest, SaveThenLoadBothFormats) {
  for (const SandboxPolicy& p : RoundTripCases()) {
    for (const char* name : {"p.json", "p.toml"}) {
      ASSERT_TRUE(SavePolicy(p, Path(name)).ok());
      absl::StatusOr<SandboxPolicy> back = LoadPolicy(Path(name));
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, p) << name;
    }
  }
  // No temporary files are left behind.
  EXPECT_THAT(Entries(), ::testing::UnorderedElementsAre("p.json", "p.toml"));
  struct stat st;
  ASSERT_EQ(::stat(Path("p.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(PolicyFileTest, SaveReplacesAnExistingFile) {
  Write("p.json", "old content that is not a policy");
  ASSERT_TRUE(SavePolicy(SandboxPolicy::Strict(), Path("p.json")).ok());
  EXPECT_EQ(*LoadPolicy(Path("p.json")), SandboxPolicy::Strict());
}

TEST_F(PolicyFileTest, SaveRefusesUnknownExtensionAndInvalidPolicy) {
  absl::Status s = SavePolicy(SandboxPolicy::Strict(), Path("p.yaml"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("p.yaml"));
  SandboxPolicy bad;
  bad.hostname = "_";
  s = SavePolicy(bad, Path("bad.json"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("hostname"));
  EXPECT_TRUE(Entries().empty());
}

TEST_F(PolicyFileTest, SaveIntoMissingDirectoryFails) {
  absl::Status s = SavePolicy(SandboxPolicy::Strict(), Path("no/such/dir/p.json"));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no/such/dir/p.json"));
}

TEST_F(PolicyFileTest, LoadSniffsTheFormatWithoutExtension) {
  Write("as-json", "  {\"seccomp\": \"strict\"}");
  Write("as-toml", "seccomp = \"strict\"\n");
  absl::StatusOr<SandboxPolicy> j = LoadPolicy(Path("as-json"));
  absl::StatusOr<SandboxPolicy> t = LoadPolicy(Path("as-toml"));
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(j->seccomp, SeccompProfile::kStrict);
  EXPECT_EQ(*j, *t);
}

TEST_F(PolicyFileTest, LoadPresetNames) {
  EXPECT_EQ(*LoadPolicy("strict"), SandboxPolicy::Strict());
  EXPECT_EQ(*LoadPolicy("Basic"), SandboxPolicy::Basic());
  absl::StatusOr<SandboxPolicy> typo = LoadPolicy("strcit");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.status().message()), StartsWith("unknown policy: strcit"));
}

TEST_F(PolicyFileTest, LoadMissingFileIsNotFound) {
  absl::StatusOr<SandboxPolicy> p = LoadPolicy(Path("missing.toml"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(Path("missing.toml")));
}

TEST_F(PolicyFileTest, LoadErrorsNameTheFileAndKey) {
  Write("bad.toml", "[limits]\nmax_pids = -3\n");
  absl::StatusOr<SandboxPolicy> p = LoadPolicy(Path("bad.toml"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            Path("bad.toml") + ": limits.max_pids: expected a positive integer, got -3");
  // The extension wins over the content: this JSON-looking file is TOML.
  Write("odd.toml", "{\"seccomp\": \"basic\"}");
  absl::StatusOr<SandboxPolicy> odd = LoadPolicy(Path("odd.toml"));
  ASSERT_FALSE(odd.ok());
  EXPECT_THAT(std::string(odd.status().message()), HasSubstr("invalid TOML at line 1"));
}

// As an unprivileged user, a file it may not read and a directory it may not
// write are PermissionDenied naming the path, and no temporary file is left.
TEST_F(PolicyFileTest, UnprivilegedUserGetsPermissionDenied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create files the child cannot access";
  ASSERT_TRUE(SavePolicy(SandboxPolicy::Strict(), Path("private.json")).ok());
  ASSERT_EQ(::chmod(Path("private.json").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  // mkdtemp's parent (TempDir) must be traversable by the child.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(10);
    absl::StatusOr<SandboxPolicy> p = LoadPolicy(Path("private.json"));
    if (p.ok()) _exit(11);
    if (p.status().code() != absl::StatusCode::kPermissionDenied) _exit(12);
    if (std::string(p.status().message()).find(Path("private.json")) == std::string::npos) {
      _exit(13);
    }
    absl::Status s = SavePolicy(SandboxPolicy::Strict(), Path("new.toml"));
    if (s.code() != absl::StatusCode::kPermissionDenied) _exit(14);
    if (std::string(s.message()).find(Path("new.toml")) == std::string::npos) _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  EXPECT_THAT(Entries(), ::testing::ElementsAre("private.json"));
}

}  // namespace
}  // namespace kavach
