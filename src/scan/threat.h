// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The threat classifier: from one exec's findings to an intent score and an
// escalation tier, plus a per-agent repeat-offender tracker. The numbers are
// the original's (spec §4.9):
//
//   ThreatAssessment a = AssessThreat(findings);   // a.intent in [0, 1], a.tier
//   OffenderTracker tracker;                        // 1 h window, decay 0.5, threshold 3
//   tracker.Record("agent-7", a.intent);
//   ThreatTier t = std::max(a.tier, tracker.RecommendEscalation("agent-7"));
//
// intent = min(1, sum of severity weights x amplifier), the amplifier being
// 1.3 when the findings span two kill-chain stages and 1.5 for three or more.
// Tiers: intent < 0.2 log, < 0.5 alert, < 0.8 suspend, else revoke; so one
// critical finding (0.9) already recommends revoke.
#ifndef KAVACH_SCAN_THREAT_H_
#define KAVACH_SCAN_THREAT_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kavach/findings.h"
#include "scan/gate.h"

namespace kavach::internal {

// 0.05, 0.15, 0.35, 0.60, 0.90 for info..critical.
double SeverityWeight(Severity severity);

enum class KillChainStage {
  kReconnaissance,
  kWeaponization,
  kDelivery,
  kExploitation,
  kInstallation,
  kCommandAndControl,
  kExfiltration,
};
std::string_view KillChainStageName(KillChainStage stage);  // "reconnaissance", ...

// The stage a finding category belongs to; nullopt for categories that add
// weight but no stage (high_entropy, api_key, compliance_*, size, ...).
std::optional<KillChainStage> StageForCategory(std::string_view category);

enum class ThreatClassification { kBenign, kSuspicious, kLikelyMalicious, kMalicious };
std::string_view ThreatClassificationName(ThreatClassification c);

// 1.0, 1.3 for two distinct stages, 1.5 for three or more.
double StageAmplifier(size_t distinct_stages);
ThreatTier TierForIntent(double intent);
ThreatClassification ClassificationForIntent(double intent);

struct ThreatAssessment {
  double intent = 0;
  ThreatClassification classification = ThreatClassification::kBenign;
  ThreatTier tier = ThreatTier::kLog;
  std::vector<KillChainStage> stages;  // sorted, distinct
  size_t finding_count = 0;
};

ThreatAssessment AssessThreat(const std::vector<Finding>& findings);

// Repeat offenders: each agent's recent intent scores, decayed by age.
// score(agent) = sum over records within `window` of intent x decay^(age / (window/2)).
// Thread-safe.
class OffenderTracker final {
 public:
  struct Options {
    absl::Duration window = absl::Hours(1);
    double decay = 0.5;
    double threshold = 3.0;
  };
  using Clock = std::function<absl::Time()>;

  // InvalidArgument for a non-positive window, a decay outside (0, 1] or a
  // non-positive threshold (the original panicked on a zero window).
  static absl::StatusOr<std::unique_ptr<OffenderTracker>> Create(Options options,
                                                                 Clock clock = nullptr);
  OffenderTracker() : OffenderTracker(Options{}, nullptr) {}
  OffenderTracker(const OffenderTracker&) = delete;
  OffenderTracker& operator=(const OffenderTracker&) = delete;

  void Record(std::string_view agent, double intent);
  double Score(std::string_view agent) const;
  // Score >= threshold.
  bool ShouldEscalate(std::string_view agent) const;
  // Score >= 2 x threshold: revoke; >= threshold: suspend; >= threshold / 2:
  // alert; else log.
  ThreatTier RecommendEscalation(std::string_view agent) const;
  // Drops records older than the window (Record also prunes the agent it touches).
  void Prune();
  size_t record_count() const;

 private:
  OffenderTracker(Options options, Clock clock);
  struct Entry {
    absl::Time time;
    double intent;
  };
  double ScoreLocked(std::string_view agent, absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_THREAT_H_
