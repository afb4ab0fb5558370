// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Composite backends: an outer container (gVisor or OCI) that runs kavach's
// own process jail inside it, so every command gets both layers.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b =
//       CreateCompositeBackend(BackendKind::kGVisor, BackendKind::kProcess);
//
// How: the kavach CLI binary (KavachCliPath()) and the inner policy are bound
// read-only at /.kavach-layer in the outer container; each command runs as
// `kavach exec --backend process --policy /.kavach-layer/policy.json --json
// --workdir <cwd> -- argv` through the outer runtime's exec, and the inner
// kavach's JSON result becomes the command's result.
//
// Policies: the inner layer applies the policy's seccomp profile, Landlock
// (where the outer kernel has it: not inside gVisor) and rlimits, each in a
// fresh pid namespace; the outer layer applies the namespaces, the read-only
// root and the cgroup limits. The outer container gets no seccomp filter of
// its own (it would forbid the inner jail's namespaces) and an uncovered
// /proc (the inner jail mounts its own). Controls that a layer cannot apply
// follow the usual fail-closed rule of that layer.
//
// Score: the original's layered formula on the verified evidence of each
// layer: max(outer, inner) + 5 for two distinct layers. The evidence lists
// the outer layer's items, the inner layer's as "inner.<control>" (0 points)
// and one "layered" item carrying the difference.
#ifndef KAVACH_BACKEND_COMPOSITE_COMPOSITE_BACKEND_H_
#define KAVACH_BACKEND_COMPOSITE_COMPOSITE_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "kavach/backend_kind.h"

namespace kavach::internal {

// `outer` is kGVisor or kOci (runtime as for the OCI backend); `inner` must
// be kProcess. InvalidArgument otherwise; Unavailable with the probe's reason
// when the outer backend or the kavach CLI is missing.
absl::StatusOr<std::unique_ptr<Backend>> CreateCompositeBackend(BackendKind outer,
                                                                BackendKind inner);

// The kavach CLI to run inside: $KAVACH_CLI, else this process's executable
// when it is named kavach, else a `kavach` beside it, else PATH. NotFound
// when none exists.
absl::StatusOr<std::string> KavachCliPath();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_COMPOSITE_COMPOSITE_BACKEND_H_
