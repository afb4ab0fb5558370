// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// How the output gate, the quarantine store and the audit chain are wired to a
// sandbox. All off by default in the library; the CLI turns the gate on.
#ifndef KAVACH_GATE_CONFIG_H_
#define KAVACH_GATE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kavach/findings.h"

namespace kavach {

struct GateConfig {
  bool enabled = false;
  // The original's mapping: worst >= block_at blocks, >= quarantine_at
  // quarantines, > info redacts secrets (and warns).
  Severity block_at = Severity::kCritical;
  Severity quarantine_at = Severity::kHigh;
  bool redact = true;
  // Output larger than this (stdout + stderr) gets the size-limit verdict.
  uint64_t max_artifact_bytes = 50ull << 20;
  // Extra rule packs (TOML files) on top of the built-in ones.
  std::vector<std::string> extra_rule_packs;
  // Where quarantined output goes; required for a quarantine verdict to keep
  // the artifact (without it, quarantine acts as block).
  std::optional<std::string> quarantine_dir;
};

struct AuditConfig {
  std::optional<std::string> log_path;  // append-only JSON lines
  std::optional<std::string> key_path;  // 0600 file with the HMAC key
  // Name of an environment variable holding the key when no key_path is set.
  std::string key_env = "KAVACH_AUDIT_KEY";
};

}  // namespace kavach

#endif  // KAVACH_GATE_CONFIG_H_
