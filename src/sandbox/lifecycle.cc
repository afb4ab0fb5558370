// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/lifecycle.h"

#include "absl/strings/str_cat.h"
#include "linux/strings.h"

namespace kavach {

std::string_view SandboxStateName(SandboxState s) {
  switch (s) {
    case SandboxState::kCreated:
      return "created";
    case SandboxState::kRunning:
      return "running";
    case SandboxState::kPaused:
      return "paused";
    case SandboxState::kStopped:
      return "stopped";
    case SandboxState::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

bool IsLegalTransition(SandboxState from, SandboxState to) {
  using S = SandboxState;
  switch (from) {
    case S::kCreated:
      // Destroying a never-started sandbox is how a caller abandons it.
      return to == S::kRunning || to == S::kDestroyed;
    case S::kRunning:
      return to == S::kPaused || to == S::kStopped || to == S::kDestroyed;
    case S::kPaused:
      return to == S::kRunning || to == S::kStopped || to == S::kDestroyed;
    case S::kStopped:
      return to == S::kDestroyed;
    case S::kDestroyed:
      return false;  // terminal
  }
  return false;
}

namespace internal {

absl::Status CheckTransition(SandboxState from, SandboxState to) {
  if (IsLegalTransition(from, to)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("lifecycle: ", ToAbsl(SandboxStateName(from)),
                                                    " -> ", ToAbsl(SandboxStateName(to)),
                                                    " is not allowed"));
}

}  // namespace internal
}  // namespace kavach
