// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/secret_injection.h"

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kValue[] = "unit-secret-0a9f8e7d6c";

std::unique_ptr<InjectedSecrets> LoadOne(SecretDelivery d, std::string target) {
  ::setenv("KAVACH_UNIT_SECRET", kValue, 1);
  absl::StatusOr<std::unique_ptr<InjectedSecrets>> s =
      InjectedSecrets::Load({{d, std::move(target), "env:KAVACH_UNIT_SECRET"}});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(InjectedSecretsTest, LoadErrorNamesEntryAndSource) {
  ::unsetenv("KAVACH_UNIT_UNSET");
  absl::StatusOr<std::unique_ptr<InjectedSecrets>> s =
      InjectedSecrets::Load({{SecretDelivery::kEnv, "A", "env:KAVACH_UNIT_UNSET"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("secrets[0] (env A)"));
  EXPECT_THAT(s.status().message(), HasSubstr("env:KAVACH_UNIT_UNSET"));
}

TEST(InjectedSecretsTest, AddToOverridesEnvAndPrefixesStdin) {
  std::unique_ptr<InjectedSecrets> env = LoadOne(SecretDelivery::kEnv, "API_KEY");
  BackendExecRequest r;
  r.env = {"API_KEY=from-config", "PATH=/bin"};
  env->AddTo(&r);
  EXPECT_THAT(r.env,
              ::testing::UnorderedElementsAre("PATH=/bin", std::string("API_KEY=") + kValue));
  InjectedSecrets::WipeRequest(&r);
  EXPECT_TRUE(r.env.empty());

  std::unique_ptr<InjectedSecrets> in = LoadOne(SecretDelivery::kStdin, "");
  BackendExecRequest q;
  q.stdin_data = "rest";
  in->AddTo(&q);
  EXPECT_EQ(*q.stdin_data, std::string(kValue) + "\nrest");
}

TEST(InjectedSecretsTest, RedactsEveryOccurrence) {
  std::unique_ptr<InjectedSecrets> s = LoadOne(SecretDelivery::kEnv, "K");
  std::string text = std::string("a ") + kValue + " b " + kValue + kValue;
  EXPECT_EQ(s->Redact(&text), 3u);
  EXPECT_EQ(text,
            "a [REDACTED:injected_secret] b [REDACTED:injected_secret]"
            "[REDACTED:injected_secret]");
}

TEST(InjectedSecretsTest, StreamFindsASecretSplitAcrossChunks) {
  std::unique_ptr<InjectedSecrets> s = LoadOne(SecretDelivery::kEnv, "K");
  std::string all = std::string("head ") + kValue + " tail\n" + kValue;
  // Every split point, and byte-by-byte.
  for (size_t cut = 0; cut <= all.size(); ++cut) {
    RedactingStream st(s.get());
    std::string out = st.Feed(std::string_view(all).substr(0, cut));
    out += st.Feed(std::string_view(all).substr(cut));
    out += st.Finish();
    EXPECT_EQ(out, "head [REDACTED:injected_secret] tail\n[REDACTED:injected_secret]") << cut;
  }
  RedactingStream st(s.get());
  std::string out;
  for (char c : all) out += st.Feed(std::string_view(&c, 1));
  out += st.Finish();
  EXPECT_THAT(out, Not(HasSubstr(kValue)));
}

TEST(InjectedSecretsTest, EvidenceNamesTargetsAndDeductionNotValues) {
  std::unique_ptr<InjectedSecrets> s = LoadOne(SecretDelivery::kFile, "/run/secrets/k");
  std::vector<Evidence> ev = s->MakeEvidence();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].control, "secrets.file");
  EXPECT_TRUE(ev[0].verified);
  EXPECT_EQ(ev[0].points, SecretDeliveryPoints(SecretDelivery::kFile));
  EXPECT_THAT(ev[0].detail, HasSubstr("/run/secrets/k"));
  EXPECT_THAT(ev[0].detail, Not(HasSubstr(kValue)));
  std::vector<SecretFile> files = s->Files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].value.view(), kValue);
}

TEST(SecretPolicyTest, ValidateAndParse) {
  SandboxPolicy p;
  p.secrets = {{SecretDelivery::kFile, "/etc/passwd", "env:X"}};
  EXPECT_THAT(p.Validate().message(), HasSubstr("secrets[0].target"));
  p.secrets = {{SecretDelivery::kStdin, "", "env:X"}, {SecretDelivery::kStdin, "", "env:Y"}};
  EXPECT_THAT(p.Validate().message(), HasSubstr("secrets[1]"));
  p.secrets = {{SecretDelivery::kEnv, "A", "env:X"}, {SecretDelivery::kEnv, "A", "env:Y"}};
  EXPECT_THAT(p.Validate().message(), HasSubstr("used twice"));

  absl::StatusOr<SandboxPolicy> t = PolicyFromToml(R"(
[[secrets]]
deliver = "file"
target = "/run/secrets/token"
source = "file:/etc/kavach/token"
[[secrets]]
deliver = "env"
target = "API_KEY"
source = "env:MY_TOKEN"
)");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->secrets.size(), 2u);
  EXPECT_EQ(t->secrets[0].deliver, SecretDelivery::kFile);
  EXPECT_EQ(t->secrets[1].source, "env:MY_TOKEN");
  absl::StatusOr<SandboxPolicy> back = PolicyFromJson(PolicyToJson(*t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->secrets, t->secrets);
  absl::StatusOr<SandboxPolicy> toml_back = PolicyFromToml(PolicyToToml(*t));
  ASSERT_TRUE(toml_back.ok()) << toml_back.status();
  EXPECT_EQ(toml_back->secrets, t->secrets);

  absl::StatusOr<SandboxPolicy> bad =
      PolicyFromJson(R"({"secrets": [{"deliver": "env", "target": "A", "source": "env:B",
                         "value": "x"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("secrets[0].value"));
  bad = PolicyFromJson(R"({"secrets": [{"deliver": "mail", "source": "env:B"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("secrets[0].deliver"));
}

}  // namespace
}  // namespace kavach::internal
