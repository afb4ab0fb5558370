// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "kavach/sandbox.h"

namespace kavach {

int ExecResult::ShellStatus() const {
  if (timed_out) return 124;  // what timeout(1) reports
  if (signal > 0) return 128 + signal;
  // An unknown outcome (-1 without a signal) must never read as success, so
  // negative codes map to 255 rather than being clamped to 0.
  if (exit_code < 0) return 255;
  if (exit_code > 255) return 255;
  return exit_code;
}

}  // namespace kavach
