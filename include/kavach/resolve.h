// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Best-backend selection: which available backend (or composite of two)
// enforces a policy with the highest verified score on this host.
//
//   absl::StatusOr<kavach::BestBackend> best =
//       kavach::ResolveBest(kavach::SandboxPolicy::Strict());
//   best->kind, best->inner, best->score;   // e.g. gvisor + process, 83
//   for (const auto& c : best->candidates) std::cout << c.name << ": " << c.why;
//
// Each candidate is really prepared once (a sandbox is created, its evidence
// verified, and destroyed), so the answer reflects what this host enforces,
// not what the backend declares. Candidates: process, oci, gvisor, and the
// composites oci+process and gvisor+process. wasm (runs only WASI modules),
// noop (no isolation) and the VM backends are not candidates in this version.
#ifndef KAVACH_RESOLVE_H_
#define KAVACH_RESOLVE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kavach/backend_kind.h"
#include "kavach/policy.h"

namespace kavach {

struct BackendCandidate {
  std::string name;  // "process", "oci", "gvisor", "oci+process", "gvisor+process"
  BackendKind kind = BackendKind::kProcess;
  std::optional<BackendKind> inner;
  bool enforced = false;  // the policy could be enforced (the sandbox was created)
  int score = 0;          // verified score when enforced
  // Why it won, or why it lost: the creation error, or "verified N < best M".
  std::string why;
};

struct BestBackend {
  BackendKind kind = BackendKind::kProcess;
  std::optional<BackendKind> inner;
  std::string name;
  int score = 0;
  std::vector<BackendCandidate> candidates;  // every candidate, in the order tried
};

// NotFound (listing every candidate's reason) when none can enforce `policy`.
// Ties go to the candidate tried first (the cheaper one).
absl::StatusOr<BestBackend> ResolveBest(const SandboxPolicy& policy);

}  // namespace kavach

#endif  // KAVACH_RESOLVE_H_
