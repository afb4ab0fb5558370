// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kavach/resolve.h"
#include "kavach/sandbox.h"
#include "linux/strings.h"

namespace kavach {

absl::StatusOr<BestBackend> ResolveBest(const SandboxPolicy& policy) {
  if (absl::Status s = policy.Validate(); !s.ok()) return s;
  std::vector<BackendCandidate> cands = {
      {"process", BackendKind::kProcess, std::nullopt},
      {"oci", BackendKind::kOci, std::nullopt},
      {"gvisor", BackendKind::kGVisor, std::nullopt},
      {"oci+process", BackendKind::kOci, BackendKind::kProcess},
      {"gvisor+process", BackendKind::kGVisor, BackendKind::kProcess},
  };
  int best = -1;
  for (size_t i = 0; i < cands.size(); ++i) {
    BackendCandidate& c = cands[i];
    BackendAvailability a = Probe(c.kind);
    if (!a.available) {
      c.why = absl::StrCat("unavailable: ", a.reason);
      continue;
    }
    SandboxConfig config;
    config.backend = c.kind;
    config.inner = c.inner;
    config.policy = policy;
    config.timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<Sandbox>> sb = Sandbox::Create(config);
    if (!sb.ok()) {
      c.why = absl::StrCat("cannot enforce the policy: ", sb.status().message());
      continue;
    }
    c.enforced = true;
    c.score = (*sb)->score().value;
    (void)(*sb)->Destroy();
    if (best < 0 || c.score > cands[best].score) best = static_cast<int>(i);
  }
  if (best < 0) {
    std::vector<std::string> why;
    for (const BackendCandidate& c : cands) why.push_back(absl::StrCat(c.name, ": ", c.why));
    return absl::NotFoundError(
        absl::StrCat("no backend can enforce the policy here: ", absl::StrJoin(why, "; ")));
  }
  for (size_t i = 0; i < cands.size(); ++i) {
    BackendCandidate& c = cands[i];
    if (!c.enforced) continue;
    if (static_cast<int>(i) == best) {
      c.why = absl::StrCat("best: verified ", c.score);
    } else if (c.score == cands[best].score) {
      c.why = absl::StrCat("verified ", c.score, " = best, but ", cands[best].name,
                           " was tried first (cheaper)");
    } else {
      c.why = absl::StrCat("verified ", c.score, " < best ", cands[best].score);
    }
  }
  BestBackend out;
  out.kind = cands[best].kind;
  out.inner = cands[best].inner;
  out.name = cands[best].name;
  out.score = cands[best].score;
  out.candidates = std::move(cands);
  return out;
}

}  // namespace kavach
