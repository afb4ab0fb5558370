// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Strength scores, 0..100, on the original framework's scale.
//
// A declared score comes from a backend and a policy alone (what the policy
// asks for). A verified score comes from Evidence that Sandbox::Create
// gathered about what was really enforced: every point of it corresponds to
// one verified item.
//
//   kavach::StrengthScore s = kavach::DeclaredScore(BackendKind::kProcess,
//                                                   SandboxPolicy::Strict());
//   s.value == 69; s.Label() == "standard";
#ifndef KAVACH_SCORE_H_
#define KAVACH_SCORE_H_

#include <string>
#include <string_view>
#include <vector>

#include "kavach/backend_kind.h"
#include "kavach/policy.h"

namespace kavach {

// One verified (or failed) observation about an isolation control.
struct Evidence {
  std::string control;  // e.g. "namespace.net", "seccomp", "landlock.fs"
  bool verified = false;
  std::string detail;  // what was observed, e.g. "Seccomp: 2"
  int points = 0;      // points this item contributes when verified
};

// One line of a score breakdown.
struct ScoreItem {
  std::string name;  // e.g. "base:process", "seccomp", "network isolated"
  int points = 0;
};

struct StrengthScore {
  int value = 0;
  std::vector<ScoreItem> breakdown;

  // "minimal" (0-29), "basic" (30-49), "standard" (50-69), "hardened"
  // (70-84), "fortress" (85-100), "unknown" outside 0..100.
  std::string_view Label() const;
  std::string ToString() const;  // "69 (standard)"
};

std::string_view ScoreLabel(int value);

// The original's base score: noop 0, process 50, oci 55, wasm 65, gvisor 70,
// sgx 80, sy-agnos 80, sev 82, tdx 85, firecracker 90.
int BaseScore(BackendKind kind);

// The original's table: base + policy modifiers (seccomp +5, Landlock rules
// +3, network off +5, read-only root +3, memory or cpu limit +2, TCP port
// rules +3, each Landlock scope +2) and kavach's secret-delivery deductions
// (SecretDeliveryPoints), clamped to 0..100. "Landlock rules" means
// filesystem.landlock with at least one explicit read_only/read_write/
// executable path; "TCP port rules" means a port list is present (even empty).
// The breakdown always sums to the value (a clamp is its own item).
StrengthScore DeclaredScore(BackendKind kind, const SandboxPolicy& policy);

// What direct secret injection costs (a negative number), once per way used.
// Each puts the secret inside the sandbox, where any code running as the
// sandbox user can read it: env -5 (inherited by every child, readable in
// /proc/PID/environ, routinely dumped by tools and crash reports), file -3
// (one 0400 file on a tmpfs: not inherited, the command may delete it once
// read), stdin -2 (read once by the command; nothing left to find by name).
// The egress proxy's credential injection keeps the secret outside and costs
// nothing.
int SecretDeliveryPoints(SecretDelivery delivery);

// Sum of the verified evidence points, clamped to 0..100; one breakdown item
// per verified item (named by its control). The evidence carries the whole
// score, the backend base included; `kind` adds nothing by itself.
StrengthScore VerifiedScore(BackendKind kind, const std::vector<Evidence>& evidence);

// Layered score: the best layer plus 5 for two distinct layers, 8 for three,
// 8 + 2*min(n-3, 4) for more; clamped to 100.
int LayeredScore(const std::vector<int>& layer_scores, int distinct_layers);

}  // namespace kavach

#endif  // KAVACH_SCORE_H_
