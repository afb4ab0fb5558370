// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Strength scores on the original framework's scale (spec §3).
//
// Two departures from the original, both chosen so that its published
// preset matrix (spec §3.3) comes out unchanged:
//  * "Landlock rules +3" needs filesystem.landlock and at least one explicit
//    read_only / read_write / executable path. The original gave the points
//    for a non-empty list of user rules; the presets carry none, so Basic and
//    Strict (which turn Landlock on for the default view) do not earn them.
//  * "TCP port rules +3" counts a present list even when it is empty: here an
//    empty list means deny-all, the strictest rule there is (the original
//    read an empty list as "unrestricted").
//
// Every breakdown sums exactly to the value: clamping adds a negative (or
// positive) "clamp" item rather than silently dropping points.
#include "kavach/score.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "linux/strings.h"

namespace kavach {
namespace {

void Clamp(StrengthScore& score) {
  int clamped = std::clamp(score.value, 0, 100);
  if (clamped != score.value) {
    score.breakdown.push_back({absl::StrCat("clamp to ", clamped), clamped - score.value});
    score.value = clamped;
  }
}

void Add(StrengthScore& score, std::string name, int points) {
  score.value += points;
  score.breakdown.push_back({std::move(name), points});
}

}  // namespace

std::string_view ScoreLabel(int value) {
  if (value < 0 || value > 100) return "unknown";
  if (value < 30) return "minimal";
  if (value < 50) return "basic";
  if (value < 70) return "standard";
  if (value < 85) return "hardened";
  return "fortress";
}

std::string_view StrengthScore::Label() const { return ScoreLabel(value); }

std::string StrengthScore::ToString() const {
  return absl::StrCat(value, " (", ToAbsl(Label()), ")");
}

int BaseScore(BackendKind kind) {
  switch (kind) {
    case BackendKind::kNoop:
      return 0;
    case BackendKind::kProcess:
      return 50;
    case BackendKind::kOci:
      return 55;
    case BackendKind::kWasm:
      return 65;
    case BackendKind::kGVisor:
      return 70;
    case BackendKind::kSgx:
      return 80;
    case BackendKind::kSyAgnos:
      return 80;
    case BackendKind::kSev:
      return 82;
    case BackendKind::kTdx:
      return 85;
    case BackendKind::kFirecracker:
      return 90;
  }
  return 0;  // An out-of-range value cast into the enum earns nothing.
}

int SecretDeliveryPoints(SecretDelivery delivery) {
  switch (delivery) {
    case SecretDelivery::kEnv:
      return -5;
    case SecretDelivery::kFile:
      return -3;
    case SecretDelivery::kStdin:
      return -2;
  }
  return -5;
}

StrengthScore DeclaredScore(BackendKind kind, const SandboxPolicy& policy) {
  StrengthScore score;
  Add(score, absl::StrCat("base:", ToAbsl(BackendKindName(kind))), BaseScore(kind));
  if (policy.seccomp != SeccompProfile::kNone) {
    Add(score, absl::StrCat("seccomp:", ToAbsl(SeccompProfileName(policy.seccomp))), 5);
  }
  const FilesystemPolicy& fs = policy.filesystem;
  if (fs.landlock && (!fs.read_only.empty() || !fs.read_write.empty() || !fs.executable.empty())) {
    Add(score, "landlock filesystem rules", 3);
  }
  if (policy.network.mode == NetworkMode::kNone) Add(score, "network isolated", 5);
  // Proxy: the same empty namespace, but the sandbox reaches the allowed
  // hosts through kavach's egress proxy, so less than none and more than host.
  if (policy.network.mode == NetworkMode::kProxy) Add(score, "network via egress proxy", 3);
  if (fs.read_only_root) Add(score, "read-only root", 3);
  if (policy.limits.memory_bytes || policy.limits.cpu_cores) Add(score, "memory/cpu limits", 2);
  if (policy.network.tcp_bind_ports || policy.network.tcp_connect_ports) {
    Add(score, "tcp port rules", 3);
  }
  if (policy.landlock_scopes.abstract_unix_socket) {
    Add(score, "landlock scope: abstract unix socket", 2);
  }
  if (policy.landlock_scopes.signal) Add(score, "landlock scope: signal", 2);
  for (SecretDelivery d : {SecretDelivery::kEnv, SecretDelivery::kFile, SecretDelivery::kStdin}) {
    for (const SecretInjection& s : policy.secrets) {
      if (s.deliver != d) continue;
      Add(score, absl::StrCat("secret delivered by ", ToAbsl(SecretDeliveryName(d))),
          SecretDeliveryPoints(d));
      break;
    }
  }
  Clamp(score);
  return score;
}

StrengthScore VerifiedScore(BackendKind kind, const std::vector<Evidence>& evidence) {
  // `kind` is not used: the backend puts its own base into the evidence (as a
  // verified item) so that every point is backed by an observation.
  StrengthScore score;
  for (const Evidence& e : evidence) {
    if (e.verified) Add(score, e.control, e.points);
  }
  Clamp(score);
  return score;
}

int LayeredScore(const std::vector<int>& layer_scores, int distinct_layers) {
  if (layer_scores.empty()) return 0;
  int best = *std::max_element(layer_scores.begin(), layer_scores.end());
  int bonus = 0;
  if (distinct_layers == 2) {
    bonus = 5;
  } else if (distinct_layers == 3) {
    bonus = 8;
  } else if (distinct_layers >= 4) {
    bonus = 8 + 2 * std::min(distinct_layers - 3, 4);
  }
  return std::clamp(best + bonus, 0, 100);
}

}  // namespace kavach
