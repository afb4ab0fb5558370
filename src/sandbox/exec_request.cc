// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/exec_request.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sandbox/environment.h"

namespace kavach::internal {

absl::Status ValidateArgv(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("exec: argv is empty");
  if (argv[0].empty()) return absl::InvalidArgumentError("exec: argv[0] is empty");
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("exec: argv[", i, "] contains a NUL byte"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BackendExecRequest> BuildExecRequest(const SandboxConfig& config,
                                                    const std::vector<std::string>& argv,
                                                    const ExecOptions& options) {
  if (absl::Status s = ValidateArgv(argv); !s.ok()) return s;
  BackendExecRequest request;
  request.argv = argv;

  absl::Duration timeout = config.timeout;
  if (options.timeout.has_value()) {
    if (*options.timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("exec: timeout must be positive, got ",
                                                     absl::FormatDuration(*options.timeout)));
    }
    timeout = std::min(timeout, *options.timeout);
  }
  if (config.policy.limits.wall_time_ms.has_value()) {
    timeout = std::min(
        timeout, absl::Milliseconds(static_cast<int64_t>(*config.policy.limits.wall_time_ms)));
  }
  request.timeout = timeout;

  absl::StatusOr<std::vector<std::string>> env =
      ComputeEnvironment(config.policy, config.env, options.env);
  if (!env.ok()) return env.status();
  request.env = *std::move(env);

  if (options.cwd.has_value()) {
    const std::string& cwd = *options.cwd;
    if (cwd.empty()) return absl::InvalidArgumentError("exec: cwd is empty");
    if (cwd.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("exec: cwd contains a NUL byte");
    }
    // A relative cwd is taken relative to the sandbox's working directory.
    request.cwd = cwd[0] == '/' ? cwd : absl::StrCat(config.policy.working_directory, "/", cwd);
  } else {
    request.cwd = config.policy.working_directory;
  }
  request.stdin_data = options.stdin_data;
  request.max_output_bytes = config.policy.limits.max_output_bytes;
  return request;
}

}  // namespace kavach::internal
