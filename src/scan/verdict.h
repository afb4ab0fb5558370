// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// From findings to the gate's verdict, per GateConfig:
//
//   Verdict v = DecideVerdict(findings, config, stdout.size() + stderr.size());
//
// The original's default mapping: worst severity >= block_at (critical)
// blocks, >= quarantine_at (high) quarantines, above info redacts when a
// redactable finding is present and config.redact is on, else warns; no
// finding above info passes. Output over max_artifact_bytes blocks.
#ifndef KAVACH_SCAN_VERDICT_H_
#define KAVACH_SCAN_VERDICT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "kavach/findings.h"
#include "kavach/gate_config.h"

namespace kavach::internal {

// kInfo when there are no findings.
Severity WorstSeverity(const std::vector<Finding>& findings);

// The finding that records an over-size artifact (rule "output-size-limit",
// scanner "gate", category "size", critical), or nullopt when total_bytes is
// within config.max_artifact_bytes.
std::optional<Finding> SizeLimitFinding(const GateConfig& config, uint64_t total_bytes);

Verdict DecideVerdict(const std::vector<Finding>& findings, const GateConfig& config,
                      uint64_t total_bytes);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_VERDICT_H_
