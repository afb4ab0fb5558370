// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The sandbox lifecycle state machine (kavach::IsLegalTransition and
// kavach::SandboxStateName are declared in kavach/sandbox.h). This header adds
// the status form used by Sandbox and its tests:
//
//   absl::Status s = internal::CheckTransition(SandboxState::kCreated,
//                                              SandboxState::kPaused);
//   // FailedPrecondition "lifecycle: created -> paused is not allowed"
#ifndef KAVACH_SANDBOX_LIFECYCLE_H_
#define KAVACH_SANDBOX_LIFECYCLE_H_

#include "absl/status/status.h"
#include "kavach/sandbox.h"

namespace kavach::internal {

// OK for a legal transition, else FailedPrecondition naming both states.
[[nodiscard]] absl::Status CheckTransition(SandboxState from, SandboxState to);

}  // namespace kavach::internal

#endif  // KAVACH_SANDBOX_LIFECYCLE_H_
