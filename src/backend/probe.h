// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Internals of kavach::Probe (declared in kavach/backend_kind.h), split out so
// the decision can be tested against hosts we are not running on.
//
//   ProcessHostFacts facts = ReadProcessHostFacts();
//   BackendAvailability a = ProbeProcessFrom(facts);
#ifndef KAVACH_BACKEND_PROBE_H_
#define KAVACH_BACKEND_PROBE_H_

#include <optional>
#include <string>

#include "kavach/backend_kind.h"

namespace kavach::internal {

// The host facts the Process backend depends on; nullopt when the file is
// absent (or unreadable).
struct ProcessHostFacts {
  bool root = false;
  std::optional<std::string> max_user_namespaces;        // /proc/sys/user/max_user_namespaces
  std::optional<std::string> unprivileged_userns_clone;  // /proc/sys/kernel/... (Debian)
  std::optional<std::string> apparmor_restrict_userns;   // /proc/sys/kernel/apparmor_restrict_...
  std::optional<std::string> proc_self_status;           // /proc/self/status
};

ProcessHostFacts ReadProcessHostFacts();

// Available when user namespaces can be made by this user and the kernel has
// seccomp; otherwise the reason names the missing piece.
BackendAvailability ProbeProcessFrom(const ProcessHostFacts& facts);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROBE_H_
