// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/threat.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linux/strings.h"

namespace kavach::internal {

std::string_view ThreatTierName(ThreatTier tier) {
  switch (tier) {
    case ThreatTier::kLog:
      return "log";
    case ThreatTier::kAlert:
      return "alert";
    case ThreatTier::kSuspend:
      return "suspend";
    case ThreatTier::kRevoke:
      return "revoke";
  }
  return "unknown";
}

double SeverityWeight(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return 0.05;
    case Severity::kLow:
      return 0.15;
    case Severity::kMedium:
      return 0.35;
    case Severity::kHigh:
      return 0.60;
    case Severity::kCritical:
      return 0.90;
  }
  return 0.90;
}

std::string_view KillChainStageName(KillChainStage stage) {
  switch (stage) {
    case KillChainStage::kReconnaissance:
      return "reconnaissance";
    case KillChainStage::kWeaponization:
      return "weaponization";
    case KillChainStage::kDelivery:
      return "delivery";
    case KillChainStage::kExploitation:
      return "exploitation";
    case KillChainStage::kInstallation:
      return "installation";
    case KillChainStage::kCommandAndControl:
      return "command_and_control";
    case KillChainStage::kExfiltration:
      return "exfiltration";
  }
  return "unknown";
}

std::optional<KillChainStage> StageForCategory(std::string_view category) {
  struct Mapping {
    std::string_view category;
    KillChainStage stage;
  };
  static constexpr Mapping kMap[] = {
      {"pii_network", KillChainStage::kReconnaissance},
      {"obfuscation", KillChainStage::kWeaponization},
      {"crypto_misuse", KillChainStage::kWeaponization},
      {"supply_chain", KillChainStage::kDelivery},
      {"command_injection", KillChainStage::kExploitation},
      {"privilege_escalation", KillChainStage::kExploitation},
      {"filesystem_abuse", KillChainStage::kInstallation},
      {"data_exfiltration", KillChainStage::kCommandAndControl},
      {"cloud_credential", KillChainStage::kExfiltration},
      {"api_token", KillChainStage::kExfiltration},
      {"auth_token", KillChainStage::kExfiltration},
      {"private_key", KillChainStage::kExfiltration},
      {"connection_string", KillChainStage::kExfiltration},
      {"credential", KillChainStage::kExfiltration},
      {"pii", KillChainStage::kExfiltration},
      {"pii_financial", KillChainStage::kExfiltration},
  };
  for (const Mapping& m : kMap) {
    if (m.category == category) return m.stage;
  }
  return std::nullopt;
}

std::string_view ThreatClassificationName(ThreatClassification c) {
  switch (c) {
    case ThreatClassification::kBenign:
      return "benign";
    case ThreatClassification::kSuspicious:
      return "suspicious";
    case ThreatClassification::kLikelyMalicious:
      return "likely_malicious";
    case ThreatClassification::kMalicious:
      return "malicious";
  }
  return "unknown";
}

double StageAmplifier(size_t distinct_stages) {
  if (distinct_stages >= 3) return 1.5;
  if (distinct_stages == 2) return 1.3;
  return 1.0;
}

ThreatTier TierForIntent(double intent) {
  if (intent < 0.2) return ThreatTier::kLog;
  if (intent < 0.5) return ThreatTier::kAlert;
  if (intent < 0.8) return ThreatTier::kSuspend;
  return ThreatTier::kRevoke;
}

ThreatClassification ClassificationForIntent(double intent) {
  switch (TierForIntent(intent)) {
    case ThreatTier::kLog:
      return ThreatClassification::kBenign;
    case ThreatTier::kAlert:
      return ThreatClassification::kSuspicious;
    case ThreatTier::kSuspend:
      return ThreatClassification::kLikelyMalicious;
    case ThreatTier::kRevoke:
      return ThreatClassification::kMalicious;
  }
  return ThreatClassification::kMalicious;
}

ThreatAssessment AssessThreat(const std::vector<Finding>& findings) {
  ThreatAssessment a;
  a.finding_count = findings.size();
  if (findings.empty()) return a;
  double raw = 0;
  std::set<KillChainStage> stages;
  for (const Finding& f : findings) {
    raw += SeverityWeight(f.severity);
    if (auto stage = StageForCategory(f.category)) stages.insert(*stage);
  }
  a.stages.assign(stages.begin(), stages.end());
  a.intent = std::min(1.0, raw * StageAmplifier(stages.size()));
  a.tier = TierForIntent(a.intent);
  a.classification = ClassificationForIntent(a.intent);
  return a;
}

absl::StatusOr<std::unique_ptr<OffenderTracker>> OffenderTracker::Create(Options options,
                                                                         Clock clock) {
  if (options.window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("offender window must be positive");
  }
  if (!(options.decay > 0 && options.decay <= 1)) {
    return absl::InvalidArgumentError("offender decay must be in (0, 1]");
  }
  if (!(options.threshold > 0)) {
    return absl::InvalidArgumentError("offender threshold must be positive");
  }
  return std::unique_ptr<OffenderTracker>(new OffenderTracker(options, std::move(clock)));
}

OffenderTracker::OffenderTracker(Options options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })) {}

void OffenderTracker::Record(std::string_view agent, double intent) {
  absl::Time now = clock_();
  absl::MutexLock l(&mu_);
  std::vector<Entry>& list = entries_[std::string(agent)];
  std::erase_if(list, [&](const Entry& e) { return now - e.time > options_.window; });
  list.push_back({now, std::clamp(intent, 0.0, 1.0)});
}

double OffenderTracker::ScoreLocked(std::string_view agent, absl::Time now) const {
  auto it = entries_.find(std::string(agent));
  if (it == entries_.end()) return 0;
  double half = absl::ToDoubleSeconds(options_.window) / 2;
  double score = 0;
  for (const Entry& e : it->second) {
    absl::Duration age = now - e.time;
    if (age > options_.window) continue;
    double a = std::max(0.0, absl::ToDoubleSeconds(age));
    score += e.intent * std::pow(options_.decay, a / half);
  }
  return score;
}

double OffenderTracker::Score(std::string_view agent) const {
  absl::Time now = clock_();
  absl::ReaderMutexLock l(&mu_);
  return ScoreLocked(agent, now);
}

bool OffenderTracker::ShouldEscalate(std::string_view agent) const {
  return Score(agent) >= options_.threshold;
}

ThreatTier OffenderTracker::RecommendEscalation(std::string_view agent) const {
  double s = Score(agent);
  if (s >= 2 * options_.threshold) return ThreatTier::kRevoke;
  if (s >= options_.threshold) return ThreatTier::kSuspend;
  if (s >= options_.threshold / 2) return ThreatTier::kAlert;
  return ThreatTier::kLog;
}

void OffenderTracker::Prune() {
  absl::Time now = clock_();
  absl::MutexLock l(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    std::erase_if(it->second, [&](const Entry& e) { return now - e.time > options_.window; });
    if (it->second.empty()) {
      entries_.erase(it++);
    } else {
      ++it;
    }
  }
}

size_t OffenderTracker::record_count() const {
  absl::ReaderMutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [agent, list] : entries_) n += list.size();
  return n;
}

}  // namespace kavach::internal
