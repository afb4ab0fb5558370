// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// RunInit: the body of a sandbox's init process (see init.cc for the rules it
// lives by: no allocation, raw system calls only).
#ifndef KAVACH_BACKEND_PROCESS_INIT_H_
#define KAVACH_BACKEND_PROCESS_INIT_H_

#include "backend/process/init_plan.h"

namespace kavach::internal {

// Never returns. Waits for the host's go-ahead on plan.control_fd, builds the
// root file system and pivots into it, verifies the command-side controls with
// a probe child, reports READY (or the failed step), then serves exec
// requests until the host shuts it down or goes away.
[[noreturn]] void RunInit(const InitPlan& plan);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_INIT_H_
