// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Process backend: namespaces, pivot_root, seccomp, Landlock, cgroups.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = internal::CreateProcessBackend();
#ifndef KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_
#define KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "backend/backend.h"

namespace kavach::internal {

// Makes an unprepared Process backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateProcessBackend();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_PROCESS_BACKEND_H_
