// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The egress section of a policy: network.mode proxy, allow-lists, scheme
// binding and credential rules, through JSON and TOML, validation and merge.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

SandboxPolicy ProxyPolicy() {
  SandboxPolicy p = SandboxPolicy::Strict();
  p.network.mode = NetworkMode::kProxy;
  p.egress.allow_hosts = {"api.example.com", "*.example.org"};
  p.egress.allow_ports = {443, 8443};
  p.egress.schemes = {{"api.example.com", "https"}, {"*.example.org", "http"}};
  p.egress.credentials = {
      {"api.example.com", "Authorization", "env:API_TOKEN", "Bearer ", "kvph-0123456789"},
      {"api.example.com", "X-Extra", "file:/run/secrets/extra", "", ""}};
  p.egress.resolve = {{"api.example.com", "127.0.0.1"}};
  p.egress.upstream_ca_file = "/etc/test-ca.pem";
  return p;
}

TEST(EgressPolicy, RoundTripsThroughJsonAndToml) {
  SandboxPolicy p = ProxyPolicy();
  ASSERT_TRUE(p.Validate().ok()) << p.Validate();
  absl::StatusOr<SandboxPolicy> json = PolicyFromJson(PolicyToJson(p));
  ASSERT_TRUE(json.ok()) << json.status() << "\n" << PolicyToJson(p);
  EXPECT_EQ(*json, p);
  std::string toml = PolicyToToml(p);
  absl::StatusOr<SandboxPolicy> back = PolicyFromToml(toml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << toml;
  EXPECT_EQ(*back, p) << toml;
  EXPECT_THAT(toml, HasSubstr("[[egress.credentials]]"));
}

TEST(EgressPolicy, DefaultPolicyWritesNoEgressSection) {
  EXPECT_THAT(PolicyToJson(SandboxPolicy::Strict()), Not(HasSubstr("egress")));
}

TEST(EgressPolicy, ReadsTheTomlForm) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromToml(R"(
[network]
mode = "proxy"
[egress]
allow_hosts = ["api.example.com"]
allow_ports = [443]
[[egress.credentials]]
host = "api.example.com"
header = "Authorization"
source = "env:TOKEN"
prefix = "Bearer "
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->network.mode, NetworkMode::kProxy);
  ASSERT_EQ(p->egress.credentials.size(), 1u);
  EXPECT_EQ(p->egress.credentials[0].source, "env:TOKEN");
  EXPECT_EQ(p->egress.credentials[0].prefix, "Bearer ");
  EXPECT_EQ(p->egress.allow_ports, std::vector<uint16_t>{443});
}

struct BadEgress {
  const char* name;
  const char* json;
  const char* message_prefix;
};

class EgressErrorTest : public ::testing::TestWithParam<BadEgress> {};

TEST_P(EgressErrorTest, NamesTheKey) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromJson(GetParam().json);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), StartsWith(GetParam().message_prefix))
      << p.status();
}

const BadEgress kBad[] = {
    {"UnknownKey", R"({"egress": {"allow": []}})", "egress.allow: unknown key"},
    {"HostsNotList", R"({"egress": {"allow_hosts": "a.com"}})",
     "egress.allow_hosts: expected a list of strings"},
    {"UpperCaseHost", R"({"egress": {"allow_hosts": ["API.example.com"]}})",
     "egress.allow_hosts[0]: \"API.example.com\" is not a lower-case host name"},
    {"BadWildcard", R"({"egress": {"allow_hosts": ["*example.com"]}})", "egress.allow_hosts[0]:"},
    {"HostWithPort", R"({"egress": {"allow_hosts": ["a.com:443"]}})", "egress.allow_hosts[0]:"},
    {"PortZero", R"({"egress": {"allow_ports": [0]}})",
     "egress.allow_ports[0]: expected a port number 1..65535, got 0"},
    {"PortsNull", R"({"egress": {"allow_ports": null}})", "egress.allow_ports: expected"},
    {"BadScheme", R"({"egress": {"allow_hosts": ["a.com"], "schemes": {"a.com": "ftp"}}})",
     "egress.schemes.a.com: expected \"http\" or \"https\""},
    {"CredentialUnknownKey",
     R"({"egress": {"credentials": [{"host": "a.com", "header": "A", "source": "env:X", "value": "s"}]}})",
     "egress.credentials[0].value: unknown key"},
    {"CredentialMissingHeader",
     R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "a.com", "source": "env:X"}]}})",
     "egress.credentials[0].header: missing"},
    {"CredentialHostNotAllowed",
     R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "b.com", "header": "A", "source": "env:X"}]}})",
     "egress.credentials[0].host: \"b.com\" is not in egress.allow_hosts"},
    {"CredentialWildcardHost",
     R"({"egress": {"allow_hosts": ["*.a.com"], "credentials": [{"host": "*.a.com", "header": "A", "source": "env:X"}]}})",
     "egress.credentials[0].host:"},
    {"CredentialBadHeader",
     R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "a.com", "header": "A B", "source": "env:X"}]}})",
     "egress.credentials[0].header:"},
    {"CredentialRelativeFile",
     R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "a.com", "header": "A", "source": "file:x"}]}})",
     "egress.credentials[0].source: file: needs an absolute"},
    {"CredentialShortPlaceholder",
     R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "a.com", "header": "A", "source": "env:X", "placeholder": "abc"}]}})",
     "egress.credentials[0].placeholder:"},
    {"ResolveNotAddress", R"({"egress": {"resolve": {"a.com": "b.com"}}})",
     "egress.resolve.a.com: expected an IPv4 or IPv6 address"},
};

INSTANTIATE_TEST_SUITE_P(EachError, EgressErrorTest, ::testing::ValuesIn(kBad),
                         [](const ::testing::TestParamInfo<BadEgress>& info) {
                           return info.param.name;
                         });

TEST(EgressPolicy, ALiteralSecretAsSourceIsNotEchoed) {
  absl::StatusOr<SandboxPolicy> p = PolicyFromJson(
      R"({"egress": {"allow_hosts": ["a.com"], "credentials": [{"host": "a.com", "header": "A", "source": "sk-live-SECRET"}]}})");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("egress.credentials[0].source"));
  EXPECT_THAT(std::string(p.status().message()), Not(HasSubstr("SECRET")));
}

TEST(EgressPolicy, NetworkModeOrderAndScore) {
  EXPECT_EQ(*ParseNetworkMode("proxy"), NetworkMode::kProxy);
  EXPECT_EQ(NetworkModeName(NetworkMode::kProxy), "proxy");
  SandboxPolicy none = SandboxPolicy::Minimal();
  SandboxPolicy proxy = ProxyPolicy();
  SandboxPolicy host = SandboxPolicy::Minimal();
  host.network.mode = NetworkMode::kHost;
  EXPECT_EQ(MergeStricter(proxy, host).network.mode, NetworkMode::kProxy);
  EXPECT_EQ(MergeStricter(host, proxy).network.mode, NetworkMode::kProxy);
  EXPECT_EQ(MergeStricter(none, proxy).network.mode, NetworkMode::kNone);
}

TEST(EgressPolicy, MergeIntersectsAllowLists) {
  SandboxPolicy a = ProxyPolicy();
  SandboxPolicy b = ProxyPolicy();
  b.egress.allow_hosts = {"*.example.org"};
  b.egress.allow_ports = {443};
  SandboxPolicy m = MergeStricter(a, b);
  EXPECT_EQ(m.egress.allow_hosts, std::vector<std::string>{"*.example.org"});
  EXPECT_EQ(m.egress.allow_ports, std::vector<uint16_t>{443});
  // api.example.com is no longer allowed, so its credentials are gone.
  EXPECT_TRUE(m.egress.credentials.empty());
  EXPECT_TRUE(m.Validate().ok()) << m.Validate();
}

}  // namespace
}  // namespace kavach
