// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Capabilities, securebits and no_new_privs for a process about to exec
// untrusted code, plus a reader of the evidence in /proc/<pid>/status.
//
//   int last_cap = LastCapability();          // before fork: reads /proc
//   ... in the child (vfork/CLONE_VM safe, raw syscalls only):
//   if (SetNoNewPrivsRaw() != 0) _exit(127);
//   if (DropAllCapabilitiesRaw(last_cap) != 0) _exit(127);
//   execve(...);
//   ... later, in the parent:
//   absl::StatusOr<ProcStatusSecurity> s = ReadProcStatusSecurity(pid);
//   // s->cap_eff == 0, s->no_new_privs, s->seccomp_mode == 2 ...
//
// When the child must change uid as well, split the drop around the uid
// change: DropBoundingSetRaw() while still privileged (needs CAP_SETPCAP),
// then raw setresgid/setresuid syscalls (need CAP_SETUID/CAP_SETGID, still
// effective), then ClearCapabilitySetsRaw(). DropAllCapabilitiesRaw() is the
// two in a row.
//
// The *Raw functions use syscall(3) only (never glibc's set*id or libcap
// wrappers; glibc's setresuid signals every thread to keep them in step), so
// they are safe in a vfork/CLONE_VM child.
#ifndef KAVACH_LINUX_CAPABILITIES_H_
#define KAVACH_LINUX_CAPABILITIES_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kavach::sys {

// The highest capability number the running kernel knows
// (/proc/sys/kernel/cap_last_cap), read once and cached; 40 (CAP_CHECKPOINT_
// RESTORE) if the file cannot be read. Call before forking: it allocates.
int LastCapability();

// prctl(PR_SET_NO_NEW_PRIVS, 1): execve can no longer grant privileges
// (setuid bits, file capabilities), and unprivileged seccomp becomes possible.
// Returns 0 or -errno. Async-signal-safe.
[[nodiscard]] int SetNoNewPrivsRaw() noexcept;

// Step 1 of a drop, while the caller still holds CAP_SETPCAP:
//  - clears the ambient set,
//  - drops every capability 0..last_cap from the bounding set (so no later
//    execve, not even of a setuid-root or file-capability binary run as uid 0,
//    can bring one back),
//  - sets and locks the securebits SECBIT_NOROOT (uid 0 gets no capabilities
//    from execve), SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS (off) and
//    SECBIT_NO_CAP_AMBIENT_RAISE.
// The securebits are set for uid 0 in a user namespace too: they are per
// credential and scoped to the namespace, and with an empty bounding set they
// only restate what is already true, so a sandboxed "root" behaves exactly as
// without them; locking them keeps it so for the whole process tree.
// A caller without CAP_SETPCAP whose bounding set is already empty gets 0 (the
// bits cannot be set, and nothing is left for them to protect); one whose
// bounding set is not empty gets -EPERM (fail closed).
// Returns 0 or -errno. Async-signal-safe.
[[nodiscard]] int DropBoundingSetRaw(int last_cap) noexcept;

// Step 2: capset() with empty effective, permitted and inheritable sets, and
// ambient cleared again. Needs no privilege. Returns 0 or -errno.
[[nodiscard]] int ClearCapabilitySetsRaw() noexcept;

// DropBoundingSetRaw(last_cap) then ClearCapabilitySetsRaw(). Returns 0 or
// the first -errno.
[[nodiscard]] int DropAllCapabilitiesRaw(int last_cap) noexcept;

// Security fields of /proc/<pid>/status.
struct ProcStatusSecurity {
  int seccomp_mode = 0;       // Seccomp: 0 off, 1 strict, 2 filter
  int seccomp_filters = 0;    // Seccomp_filters: number of stacked filters
  bool no_new_privs = false;  // NoNewPrivs
  uint64_t cap_inh = 0;       // CapInh
  uint64_t cap_prm = 0;       // CapPrm
  uint64_t cap_eff = 0;       // CapEff
  uint64_t cap_bnd = 0;       // CapBnd
  uint64_t cap_amb = 0;       // CapAmb
};
// Parses /proc/<pid>/status; pid 0 means "self". NotFound when the process is
// gone; Internal when a field is missing or malformed (a kernel without
// Seccomp_filters reports 0 for it).
absl::StatusOr<ProcStatusSecurity> ReadProcStatusSecurity(pid_t pid = 0);
// Same, from status text already read (for tests and for agents that read
// the file inside the sandbox).
absl::StatusOr<ProcStatusSecurity> ParseProcStatusSecurity(const std::string& status);

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_CAPABILITIES_H_
