// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Noop backend: no isolation at all, for tests of the layers above.
// Exec does not run the command (as in the original): it reports exit 0 with
// empty output. Prepare gathers no evidence, so the verified score is 0.
//
//   std::unique_ptr<internal::Backend> b = internal::CreateNoopBackend();
#ifndef KAVACH_BACKEND_NOOP_NOOP_BACKEND_H_
#define KAVACH_BACKEND_NOOP_NOOP_BACKEND_H_

#include <memory>

#include "backend/backend.h"

namespace kavach::internal {

std::unique_ptr<Backend> CreateNoopBackend();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_NOOP_NOOP_BACKEND_H_
