// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Process backend: namespaces, pivot_root, seccomp, Landlock, cgroups.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = internal::CreateProcessBackend();
#ifndef KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_
#define KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"

namespace kavach::internal {

// What only kavach's own uses of the Process backend ask for, never a
// user's policy.
struct ProcessBackendOptions {
  // Host character devices bound into the sandbox's /dev at the same path,
  // usable (read, write, ioctl) under Landlock. The microVM backend's VMM
  // jail gets /dev/kvm this way. Not optional: a node that cannot be bound
  // fails Prepare naming it.
  std::vector<std::string> device_nodes;
  // Clone init as a copy of this process rather than exec kavach-init
  // (backend/process/init_exec.h). The same controls either way; this is
  // the fallback where exec cannot work, and tests use it to cover that path.
  bool init_in_process = false;
};

// Whether sandboxes of this process start their init as kavach-init: false
// when this build or host cannot (see InitExecutableFd), or once it failed
// where a clone of the process then worked.
bool InitExecInUse();

// Makes an unprepared Process backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateProcessBackend(ProcessBackendOptions options = {});

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_
