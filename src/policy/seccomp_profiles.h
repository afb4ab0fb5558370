// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The seccomp profiles of the policy (basic, strict) as data, and their
// compiled BPF, built once per process.
//
//   absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> prog =
//       SeccompProgramFor(SeccompProfile::kStrict);   // cached after the first call
//   ... child: SetNoNewPrivsRaw(); (*prog)->InstallRaw(); execve(...)
//
//   for (const SyscallGroup& g : SeccompProfileSpecFor(SeccompProfile::kBasic)->groups)
//     ...   // e.g. to write an OCI seccomp section with the same rules
//
// basic: default ALLOW, a deny-list of every escape-relevant family (mounts,
//   namespaces, ptrace and cross-process memory, kernel modules, BPF, perf,
//   keyrings, io_uring, userfaultfd, clock/host settings, terminal injection).
// strict: default EPERM, an allow-list that still runs /bin/sh, coreutils,
//   python3 and dynamically linked programs; a few newer syscalls answer
//   ENOSYS so that libc falls back to the older call we allow.
#ifndef KAVACH_POLICY_SECCOMP_PROFILES_H_
#define KAVACH_POLICY_SECCOMP_PROFILES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kavach/policy.h"
#include "linux/seccomp.h"

namespace kavach::internal {

// A syscall matched only when all conditions hold.
struct ConditionalSyscall {
  std::string syscall;
  std::vector<sys::SeccompArgCondition> when;
};

// A named family of syscalls that one profile treats alike.
struct SyscallGroup {
  std::string name;         // "mount", "namespaces", "files.read", ...
  std::string description;  // why the group exists, for humans and reports
  sys::SeccompAction action = sys::SeccompAction::Allow();
  std::vector<std::string> syscalls;            // matched unconditionally
  std::vector<ConditionalSyscall> conditional;  // matched when their args say so
};

struct SeccompProfileSpec {
  SeccompProfile profile = SeccompProfile::kNone;
  sys::SeccompAction default_action = sys::SeccompAction::Allow();
  std::vector<SyscallGroup> groups;
};

// The data for one profile. InvalidArgument for kNone.
absl::StatusOr<SeccompProfileSpec> SeccompProfileSpecFor(SeccompProfile profile);

// A profile's filter is installed whole (kWhole), or in two parts whose
// conjunction is exactly the whole (kInit, then kCommand): the process
// backend's init holds the init part, so that every command inherits it and
// installs only the small command part (the kernel prepares a filter, JIT and
// per-syscall cache, on every install: ~15% of a pooled exec's CPU for the
// whole strict program).
//   kInit: the whole profile, except that clone is allowed with namespace
//     flags (init makes a pid namespace per exec) and, in an allow-list, the
//     calls a command makes to drop its identity before it execs (setgroups,
//     setresuid, setresgid, capset, landlock_restrict_self) are allowed.
//   kCommand: default allow; exactly those relaxations denied again, with the
//     action the whole profile gives them.
// A call the whole profile allows is allowed by both parts; one it denies is
// denied by at least one part with the same action (seccomp applies the most
// restrictive result of all installed filters).
enum class SeccompPart { kWhole, kInit, kCommand };

absl::StatusOr<SeccompProfileSpec> SeccompProfileSpecFor(SeccompProfile profile, SeccompPart part);

// Every group of every profile, basic first (for generators and docs).
std::vector<SyscallGroup> SeccompGroups();

// Compiles a spec (no caching).
absl::StatusOr<sys::SeccompProgram> BuildSeccompProgram(const SeccompProfileSpec& spec);

// The compiled program for `profile`, built on the first call and shared
// afterwards (thread-safe). InvalidArgument for kNone; a build error is
// returned to every caller (it cannot change within a process).
absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> SeccompProgramFor(
    SeccompProfile profile, SeccompPart part = SeccompPart::kWhole);

// Whether SeccompProgramFor(profile) takes the program compiled at build time
// (kavach_seccomp_gen) instead of running libseccomp: true when this process's
// libseccomp version, native arch and kernel API level match the build's.
bool SeccompProgramIsPrecompiled(SeccompProfile profile, SeccompPart part = SeccompPart::kWhole);

}  // namespace kavach::internal

#endif  // KAVACH_POLICY_SECCOMP_PROFILES_H_
