// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// internal::Gate: everything that happens to a command's output and to a
// sandbox's events after the backend has run. It holds, each optional:
//   - the output scanners (secrets, code, data) and the verdict mapping,
//   - the quarantine store (when GateConfig::quarantine_dir is set),
//   - the threat classifier with its repeat-offender tracker,
//   - the audit chain (when AuditConfig::log_path is set).
// kavach::Sandbox owns one Gate and calls it on every state change and exec.
#ifndef KAVACH_SCAN_GATE_H_
#define KAVACH_SCAN_GATE_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kavach/gate_config.h"
#include "kavach/sandbox.h"

namespace kavach::internal {

// The threat classifier's escalation tiers (intent < 0.2, < 0.5, < 0.8, >= 0.8).
enum class ThreatTier { kLog, kAlert, kSuspend, kRevoke };
std::string_view ThreatTierName(ThreatTier tier);

// Scans one output stream incrementally (Spawn). Holds back a bounded tail so
// a secret split across chunks is still found and redacted.
class GateStream {
 public:
  virtual ~GateStream() = default;
  // Feeds a chunk; returns the bytes now safe to deliver (redacted as needed).
  virtual std::string Feed(std::string_view chunk) = 0;
  // End of stream: returns the held-back tail, scanned and redacted.
  virtual std::string Finish() = 0;
  // A block-level finding was seen: nothing more may be delivered.
  virtual bool blocked() const = 0;
  virtual std::vector<Finding> findings() const = 0;
};

class Gate {
 public:
  virtual ~Gate() = default;

  // Builds the scanners once (rule packs compiled into one database), opens the
  // quarantine store and the audit chain as configured.
  static absl::StatusOr<std::unique_ptr<Gate>> Create(const GateConfig& gate,
                                                      const AuditConfig& audit,
                                                      std::string sandbox_id, std::string agent_id);

  // Runs the gate over result->stdout_data and stderr_data when the gate is
  // enabled: fills gated, verdict, findings, threat_intent, quarantine_id;
  // redacts in place on a redact verdict; on quarantine stores the original
  // bytes and clears the streams; on block clears them. Records the exec in
  // the audit chain (argv digest, exit, verdict, finding summary) either way.
  // Returns PermissionDenied on a block verdict (and on a quarantine verdict),
  // with the result still filled in for the caller's inspection.
  virtual absl::Status Apply(const std::vector<std::string>& argv, ExecResult* result) = 0;

  // The tier the classifier recommends after the last Apply (kLog if none).
  virtual ThreatTier tier() const = 0;

  // Appends a state change (and any other sandbox event) to the audit chain.
  virtual absl::Status RecordEvent(std::string_view event_type, std::string_view payload_json) = 0;
  // Several events, {type, payload}, in one commit of the chain.
  virtual absl::Status RecordEvents(
      const std::vector<std::pair<std::string, std::string>>& events) = 0;

  // A streaming scanner for one stream of a Spawned command.
  virtual std::unique_ptr<GateStream> OpenStream(std::string_view stream_name) = 0;
};

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_GATE_H_
