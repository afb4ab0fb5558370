// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/threat.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

Finding F(Severity s, std::string category) {
  Finding f;
  f.rule_id = "r";
  f.category = std::move(category);
  f.severity = s;
  return f;
}

TEST(ThreatTest, SeverityWeightsAreTheOriginals) {
  EXPECT_DOUBLE_EQ(SeverityWeight(Severity::kInfo), 0.05);
  EXPECT_DOUBLE_EQ(SeverityWeight(Severity::kLow), 0.15);
  EXPECT_DOUBLE_EQ(SeverityWeight(Severity::kMedium), 0.35);
  EXPECT_DOUBLE_EQ(SeverityWeight(Severity::kHigh), 0.60);
  EXPECT_DOUBLE_EQ(SeverityWeight(Severity::kCritical), 0.90);
}

TEST(ThreatTest, CategoriesMapToStages) {
  EXPECT_EQ(StageForCategory("pii_network"), KillChainStage::kReconnaissance);
  EXPECT_EQ(StageForCategory("obfuscation"), KillChainStage::kWeaponization);
  EXPECT_EQ(StageForCategory("crypto_misuse"), KillChainStage::kWeaponization);
  EXPECT_EQ(StageForCategory("supply_chain"), KillChainStage::kDelivery);
  EXPECT_EQ(StageForCategory("command_injection"), KillChainStage::kExploitation);
  EXPECT_EQ(StageForCategory("privilege_escalation"), KillChainStage::kExploitation);
  EXPECT_EQ(StageForCategory("filesystem_abuse"), KillChainStage::kInstallation);
  EXPECT_EQ(StageForCategory("data_exfiltration"), KillChainStage::kCommandAndControl);
  for (const char* c : {"cloud_credential", "api_token", "auth_token", "private_key",
                        "connection_string", "credential", "pii", "pii_financial"}) {
    EXPECT_EQ(StageForCategory(c), KillChainStage::kExfiltration) << c;
  }
  for (const char* c : {"high_entropy", "api_key", "compliance_hipaa", "size", ""}) {
    EXPECT_EQ(StageForCategory(c), std::nullopt) << c;
  }
}

TEST(ThreatTest, NoFindingsIsBenign) {
  ThreatAssessment a = AssessThreat({});
  EXPECT_EQ(a.intent, 0);
  EXPECT_EQ(a.tier, ThreatTier::kLog);
  EXPECT_EQ(a.classification, ThreatClassification::kBenign);
}

TEST(ThreatTest, IntentSumsWeightsAndAmplifiesByStages) {
  // One stage: no amplifier.
  ThreatAssessment a = AssessThreat({F(Severity::kLow, "obfuscation")});
  EXPECT_DOUBLE_EQ(a.intent, 0.15);
  EXPECT_EQ(a.tier, ThreatTier::kLog);
  // Duplicates count; one stage still.
  a = AssessThreat({F(Severity::kLow, "obfuscation"), F(Severity::kLow, "crypto_misuse")});
  EXPECT_DOUBLE_EQ(a.intent, 0.30);
  EXPECT_EQ(a.stages.size(), 1u);
  // Two stages: x1.3.
  a = AssessThreat({F(Severity::kLow, "obfuscation"), F(Severity::kLow, "supply_chain")});
  EXPECT_DOUBLE_EQ(a.intent, 0.30 * 1.3);
  EXPECT_EQ(a.stages, (std::vector<KillChainStage>{KillChainStage::kWeaponization,
                                                   KillChainStage::kDelivery}));
  // Three stages: x1.5; unmapped categories add weight only.
  a = AssessThreat({F(Severity::kInfo, "pii_network"), F(Severity::kInfo, "supply_chain"),
                    F(Severity::kInfo, "pii"), F(Severity::kInfo, "high_entropy")});
  EXPECT_DOUBLE_EQ(a.intent, 0.20 * 1.5);
  EXPECT_EQ(a.stages.size(), 3u);
  EXPECT_EQ(a.finding_count, 4u);
  // Capped at 1.
  a = AssessThreat({F(Severity::kCritical, "pii"), F(Severity::kCritical, "pii")});
  EXPECT_DOUBLE_EQ(a.intent, 1.0);
  // A single critical finding is already malicious.
  a = AssessThreat({F(Severity::kCritical, "cloud_credential")});
  EXPECT_EQ(a.tier, ThreatTier::kRevoke);
  EXPECT_EQ(a.classification, ThreatClassification::kMalicious);
  EXPECT_DOUBLE_EQ(StageAmplifier(0), 1.0);
  EXPECT_DOUBLE_EQ(StageAmplifier(7), 1.5);
}

TEST(ThreatTest, TierBoundaries) {
  EXPECT_EQ(TierForIntent(0.0), ThreatTier::kLog);
  EXPECT_EQ(TierForIntent(0.1999), ThreatTier::kLog);
  EXPECT_EQ(TierForIntent(0.2), ThreatTier::kAlert);
  EXPECT_EQ(TierForIntent(0.4999), ThreatTier::kAlert);
  EXPECT_EQ(TierForIntent(0.5), ThreatTier::kSuspend);
  EXPECT_EQ(TierForIntent(0.7999), ThreatTier::kSuspend);
  EXPECT_EQ(TierForIntent(0.8), ThreatTier::kRevoke);
  EXPECT_EQ(TierForIntent(1.0), ThreatTier::kRevoke);
  EXPECT_EQ(ClassificationForIntent(0.5), ThreatClassification::kLikelyMalicious);
  EXPECT_EQ(ThreatTierName(ThreatTier::kSuspend), "suspend");
  // Medium alone (0.35) alerts; high alone (0.6) suspends.
  EXPECT_EQ(AssessThreat({F(Severity::kMedium, "pii")}).tier, ThreatTier::kAlert);
  EXPECT_EQ(AssessThreat({F(Severity::kHigh, "pii")}).tier, ThreatTier::kSuspend);
}

class FakeClock {
 public:
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  OffenderTracker::Clock clock() {
    return [this] { return now; };
  }
};

TEST(ThreatTest, OffenderScoreDecaysByHalfPerHalfWindow) {
  FakeClock clock;
  auto tracker = OffenderTracker::Create({}, clock.clock());
  ASSERT_TRUE(tracker.ok());
  OffenderTracker& t = **tracker;
  t.Record("agent", 1.0);
  EXPECT_DOUBLE_EQ(t.Score("agent"), 1.0);
  clock.now += absl::Minutes(30);
  EXPECT_NEAR(t.Score("agent"), 0.5, 1e-12);
  clock.now += absl::Minutes(30);
  EXPECT_NEAR(t.Score("agent"), 0.25, 1e-12);  // exactly at the window edge: still in
  clock.now += absl::Seconds(1);
  EXPECT_EQ(t.Score("agent"), 0);  // out of the window
  EXPECT_EQ(t.Score("other"), 0);
}

TEST(ThreatTest, OffenderEscalatesAtThresholdAndRecommendsTiers) {
  FakeClock clock;
  auto tracker = OffenderTracker::Create({}, clock.clock());
  ASSERT_TRUE(tracker.ok());
  OffenderTracker& t = **tracker;
  t.Record("a", 1.0);
  EXPECT_EQ(t.RecommendEscalation("a"), ThreatTier::kLog);  // 1.0 < 1.5
  t.Record("a", 0.5);
  EXPECT_EQ(t.RecommendEscalation("a"), ThreatTier::kAlert);  // 1.5
  EXPECT_FALSE(t.ShouldEscalate("a"));
  t.Record("a", 1.0);
  t.Record("a", 0.5);
  EXPECT_TRUE(t.ShouldEscalate("a"));  // 3.0
  EXPECT_EQ(t.RecommendEscalation("a"), ThreatTier::kSuspend);
  for (int i = 0; i < 3; ++i) t.Record("a", 1.0);
  EXPECT_EQ(t.RecommendEscalation("a"), ThreatTier::kRevoke);  // 6.0
  // Intents above 1 are clamped.
  t.Record("b", 50.0);
  EXPECT_DOUBLE_EQ(t.Score("b"), 1.0);
  // Time heals: after half a window the 6.0 is 3.0.
  clock.now += absl::Minutes(30);
  EXPECT_NEAR(t.Score("a"), 3.0, 1e-9);
  EXPECT_EQ(t.RecommendEscalation("a"), ThreatTier::kSuspend);
}

TEST(ThreatTest, PruneDropsOldRecords) {
  FakeClock clock;
  auto tracker = OffenderTracker::Create({}, clock.clock());
  ASSERT_TRUE(tracker.ok());
  (*tracker)->Record("a", 0.5);
  (*tracker)->Record("b", 0.5);
  clock.now += absl::Minutes(45);
  (*tracker)->Record("b", 0.5);
  EXPECT_EQ((*tracker)->record_count(), 3u);
  clock.now += absl::Minutes(20);
  (*tracker)->Prune();
  EXPECT_EQ((*tracker)->record_count(), 1u);
}

TEST(ThreatTest, BadTrackerOptionsAreRejected) {
  OffenderTracker::Options o;
  o.window = absl::ZeroDuration();
  EXPECT_EQ(OffenderTracker::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.decay = 0;
  EXPECT_EQ(OffenderTracker::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.threshold = -1;
  EXPECT_EQ(OffenderTracker::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kavach::internal
