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
};

// Makes an unprepared Process backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateProcessBackend(ProcessBackendOptions options = {});

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_
