// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/verdict.h"

#include <vector>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

Finding Of(Severity s, std::string scanner = "secrets", std::string category = "api_token") {
  Finding f;
  f.severity = s;
  f.scanner = std::move(scanner);
  f.category = std::move(category);
  return f;
}

TEST(VerdictTest, OriginalDefaultMapping) {
  GateConfig c;
  EXPECT_EQ(DecideVerdict({}, c, 10), Verdict::kPass);
  EXPECT_EQ(DecideVerdict({Of(Severity::kInfo)}, c, 10), Verdict::kPass);
  EXPECT_EQ(DecideVerdict({Of(Severity::kLow)}, c, 10), Verdict::kRedact);
  EXPECT_EQ(DecideVerdict({Of(Severity::kMedium)}, c, 10), Verdict::kRedact);
  EXPECT_EQ(DecideVerdict({Of(Severity::kHigh)}, c, 10), Verdict::kQuarantine);
  EXPECT_EQ(DecideVerdict({Of(Severity::kCritical)}, c, 10), Verdict::kBlock);
  EXPECT_EQ(DecideVerdict({Of(Severity::kLow), Of(Severity::kCritical)}, c, 10), Verdict::kBlock);
}

TEST(VerdictTest, WarnWhenNothingIsRedactable) {
  GateConfig c;
  EXPECT_EQ(DecideVerdict({Of(Severity::kMedium, "code", "supply_chain")}, c, 1), Verdict::kWarn);
  EXPECT_EQ(DecideVerdict({Of(Severity::kMedium, "data", "compliance_gdpr")}, c, 1),
            Verdict::kWarn);
  EXPECT_EQ(DecideVerdict({Of(Severity::kLow, "data", "pii")}, c, 1), Verdict::kRedact);
  c.redact = false;
  EXPECT_EQ(DecideVerdict({Of(Severity::kMedium)}, c, 1), Verdict::kWarn);
}

TEST(VerdictTest, ThresholdsAreConfigurable) {
  GateConfig c;
  c.block_at = Severity::kHigh;
  c.quarantine_at = Severity::kMedium;
  EXPECT_EQ(DecideVerdict({Of(Severity::kHigh)}, c, 1), Verdict::kBlock);
  EXPECT_EQ(DecideVerdict({Of(Severity::kMedium)}, c, 1), Verdict::kQuarantine);
  EXPECT_EQ(DecideVerdict({Of(Severity::kLow)}, c, 1), Verdict::kRedact);
  // Lenient policy: nothing blocks or quarantines short of critical.
  c.block_at = Severity::kCritical;
  c.quarantine_at = Severity::kCritical;
  EXPECT_EQ(DecideVerdict({Of(Severity::kHigh)}, c, 1), Verdict::kRedact);
}

TEST(VerdictTest, SizeLimitHasItsOwnVerdictAndFinding) {
  GateConfig c;
  c.max_artifact_bytes = 100;
  EXPECT_EQ(DecideVerdict({}, c, 100), Verdict::kPass);
  EXPECT_EQ(DecideVerdict({}, c, 101), Verdict::kBlock);
  EXPECT_FALSE(SizeLimitFinding(c, 100).has_value());
  auto f = SizeLimitFinding(c, 101);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule_id, "output-size-limit");
  EXPECT_EQ(f->category, "size");
  EXPECT_EQ(f->severity, Severity::kCritical);
  EXPECT_EQ(WorstSeverity({*f}), Severity::kCritical);
}

TEST(VerdictTest, WorstSeverity) {
  EXPECT_EQ(WorstSeverity({}), Severity::kInfo);
  EXPECT_EQ(WorstSeverity({Of(Severity::kLow), Of(Severity::kHigh), Of(Severity::kMedium)}),
            Severity::kHigh);
}

}  // namespace
}  // namespace kavach::internal
