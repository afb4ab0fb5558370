// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/verdict.h"

#include <algorithm>
#include <string>

#include "scan/redact.h"

namespace kavach::internal {

Severity WorstSeverity(const std::vector<Finding>& findings) {
  Severity worst = Severity::kInfo;
  for (const Finding& f : findings) worst = std::max(worst, f.severity);
  return worst;
}

std::optional<Finding> SizeLimitFinding(const GateConfig& config, uint64_t total_bytes) {
  if (total_bytes <= config.max_artifact_bytes) return std::nullopt;
  Finding f;
  f.rule_id = "output-size-limit";
  f.scanner = "gate";
  f.category = "size";
  f.severity = Severity::kCritical;
  f.begin = config.max_artifact_bytes;
  f.end = total_bytes;
  f.preview = "output of " + std::to_string(total_bytes) + " bytes exceeds the limit of " +
              std::to_string(config.max_artifact_bytes);
  return f;
}

Verdict DecideVerdict(const std::vector<Finding>& findings, const GateConfig& config,
                      uint64_t total_bytes) {
  // The size limit is its own verdict: an over-size artifact is withheld
  // whatever it contains (and however little was scanned of it).
  if (total_bytes > config.max_artifact_bytes) return Verdict::kBlock;
  const Severity worst = WorstSeverity(findings);
  if (findings.empty() || worst == Severity::kInfo) return Verdict::kPass;
  if (worst >= config.block_at) return Verdict::kBlock;
  if (worst >= config.quarantine_at) return Verdict::kQuarantine;
  if (config.redact) {
    for (const Finding& f : findings) {
      if (f.severity > Severity::kInfo && IsRedactable(f)) return Verdict::kRedact;
    }
  }
  return Verdict::kWarn;
}

}  // namespace kavach::internal
