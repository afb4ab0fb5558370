// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Turns Exec/Spawn arguments into the request a backend runs: argv checks,
// the effective timeout, the final environment, the working directory and the
// output cap. Shared by Sandbox::Exec and Sandbox::Spawn.
//
//   absl::StatusOr<BackendExecRequest> r = internal::BuildExecRequest(config, argv, options);
#ifndef KAVACH_SANDBOX_EXEC_REQUEST_H_
#define KAVACH_SANDBOX_EXEC_REQUEST_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "kavach/sandbox.h"

namespace kavach::internal {

// InvalidArgument when argv is empty, argv[0] is empty or an element holds NUL.
[[nodiscard]] absl::Status ValidateArgv(const std::vector<std::string>& argv);

// timeout = min(options.timeout, config.timeout, policy.limits.wall_time_ms);
// env from ComputeEnvironment; cwd = options.cwd (relative ones are taken
// under policy.working_directory) or policy.working_directory. The streaming
// callbacks are left empty: Spawn wires them itself.
absl::StatusOr<BackendExecRequest> BuildExecRequest(const SandboxConfig& config,
                                                    const std::vector<std::string>& argv,
                                                    const ExecOptions& options);

}  // namespace kavach::internal

#endif  // KAVACH_SANDBOX_EXEC_REQUEST_H_
