// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The environment a sandboxed command sees. It starts empty: nothing from the
// host is inherited unless the policy names it.
//
//   auto env = internal::ComputeEnvironment(config.policy, config.env, options.env);
//   // {"HOME=/work", "LANG=C.UTF-8", "PATH=/usr/local/bin:...", "TMPDIR=/tmp", ...}
//
// Order, each layer overriding the one before:
//   1. host variables named in policy.environment.allow (when set on the host),
//   2. defaults PATH, HOME (= policy.working_directory), TMPDIR, LANG, each only
//      when not already set by (1),
//   3. policy.environment.set, 4. the config's env, 5. the exec's env.
#ifndef KAVACH_SANDBOX_ENVIRONMENT_H_
#define KAVACH_SANDBOX_ENVIRONMENT_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kavach/policy.h"

namespace kavach::internal {

inline constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

// Reads one host variable; nullopt when unset. Tests pass their own.
using HostEnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's own environment (getenv).
std::optional<std::string> HostGetenv(const std::string& name);

// InvalidArgument when a name is empty or holds '=' or NUL, or a value holds NUL.
[[nodiscard]] absl::Status ValidateEnvEntry(std::string_view name, std::string_view value);

// The final "KEY=VALUE" list, sorted by name. InvalidArgument names the first
// bad entry.
absl::StatusOr<std::vector<std::string>> ComputeEnvironment(
    const SandboxPolicy& policy, const std::map<std::string, std::string>& config_env,
    const std::map<std::string, std::string>& exec_env,
    const HostEnvLookup& host_lookup = HostGetenv);

}  // namespace kavach::internal

#endif  // KAVACH_SANDBOX_ENVIRONMENT_H_
