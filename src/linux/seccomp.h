// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Seccomp-BPF filters: build with libseccomp once, install many times.
//
// A SeccompFilterBuilder collects a default action and rules (syscall name ->
// action, optionally only when argument conditions hold) and compiles them into
// a SeccompProgram: plain BPF held in memory. Building costs a few hundred
// microseconds, so do it once per process (see policy/seccomp_profiles.h);
// installing is one syscall and is async-signal-safe, so it can run in a child
// made with clone(CLONE_VM|CLONE_VFORK) right before execve:
//
//   SeccompFilterBuilder b(SeccompAction::Allow());
//   b.Deny("mount", SeccompAction::Errno(EPERM));
//   b.AddRule("ioctl", SeccompAction::Errno(EPERM),
//             {SeccompArgCondition::MaskedEq(1, 0xffffffff, TIOCSTI)});
//   absl::StatusOr<SeccompProgram> program = std::move(b).Build();
//   ...                          // in the child:
//   SetNoNewPrivsRaw();          // linux/capabilities.h
//   if (int err = program->InstallRaw(); err != 0) _exit(127);
//
// The filter covers the native architecture (x86_64) only; any other ABI
// (i386 via int 0x80, x32) kills the process, so no rule can be sidestepped
// by switching syscall tables.
#ifndef KAVACH_LINUX_SECCOMP_H_
#define KAVACH_LINUX_SECCOMP_H_

// src/ is on the include path, so this file shadows the kernel's
// <linux/seccomp.h> for every translation unit of the project (libseccomp's
// <seccomp.h> includes it, for one). Pull the real one in first, so including
// either name gives both.
#include <linux/filter.h>
#include_next <linux/seccomp.h>  // NOLINT(build/include)

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kavach::sys {

// What the filter does with a matching syscall. A value type holding the
// SECCOMP_RET_* word, so it can be compared and stored in tables.
class SeccompAction final {
 public:
  static SeccompAction Allow();
  // The syscall is not run and returns -1 with errno = `err` (1..4095).
  static SeccompAction Errno(int err);
  static SeccompAction KillProcess();
  // SIGSYS to the thread (for debugging a profile).
  static SeccompAction Trap();
  // Allowed, and logged by the audit subsystem.
  static SeccompAction Log();

  uint32_t raw() const { return raw_; }
  bool operator==(const SeccompAction&) const = default;
  std::string ToString() const;  // "allow", "errno(1)", "kill_process"...

 private:
  explicit SeccompAction(uint32_t raw) : raw_(raw) {}
  uint32_t raw_;
};

// One comparison of a syscall argument (0..5) against a 64-bit value. All
// conditions of one rule must hold (AND); several rules for the same syscall
// and action match if any does (OR). libseccomp allows each argument to appear
// once per rule.
struct SeccompArgCondition {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };
  unsigned arg = 0;
  Op op = Op::kEq;
  uint64_t value = 0;
  uint64_t mask = 0;  // kMaskedEq only: matches when (arg & mask) == value

  static SeccompArgCondition Eq(unsigned arg, uint64_t value) { return {arg, Op::kEq, value, 0}; }
  static SeccompArgCondition Ne(unsigned arg, uint64_t value) { return {arg, Op::kNe, value, 0}; }
  static SeccompArgCondition MaskedEq(unsigned arg, uint64_t mask, uint64_t value) {
    return {arg, Op::kMaskedEq, value, mask};
  }
  bool operator==(const SeccompArgCondition&) const = default;
  std::string ToString() const;  // "arg0 & 0x20000 == 0x20000"
};

// Compiled BPF for the native architecture. Immutable once built; share it
// (std::shared_ptr<const SeccompProgram>) between sandboxes.
class SeccompProgram final {
 public:
  explicit SeccompProgram(std::vector<sock_filter> instructions,
                          std::vector<std::string> skipped_syscalls = {});
  SeccompProgram(SeccompProgram&& other) noexcept;
  SeccompProgram& operator=(SeccompProgram&& other) noexcept;
  SeccompProgram(const SeccompProgram&) = delete;
  SeccompProgram& operator=(const SeccompProgram&) = delete;

  // Loads the filter into the calling thread with the raw seccomp(2) syscall
  // (SECCOMP_SET_MODE_FILTER, no flags). Returns 0 or -errno. No allocation,
  // no locks: safe between vfork/clone(CLONE_VM) and execve. The caller must
  // have set no_new_privs (or hold CAP_SYS_ADMIN), else -EACCES.
  [[nodiscard]] int InstallRaw() const noexcept;

  const std::vector<sock_filter>& instructions() const { return instructions_; }
  const sock_fprog& fprog() const { return fprog_; }
  size_t size() const { return instructions_.size(); }
  // Names given to the builder that do not exist on this architecture (for
  // example "vm86" on x86_64) and were therefore left out.
  const std::vector<std::string>& skipped_syscalls() const { return skipped_; }

 private:
  std::vector<sock_filter> instructions_;
  sock_fprog fprog_{};
  std::vector<std::string> skipped_;
};

// Collects rules and compiles them. Records the first error (unknown syscall
// name, bad condition, rule equal to the default action) and returns it from
// Build(), so a chain of Add calls needs no per-call checks.
class SeccompFilterBuilder final {
 public:
  explicit SeccompFilterBuilder(SeccompAction default_action);
  SeccompFilterBuilder(const SeccompFilterBuilder&) = delete;
  SeccompFilterBuilder& operator=(const SeccompFilterBuilder&) = delete;
  SeccompFilterBuilder(SeccompFilterBuilder&&) = default;
  SeccompFilterBuilder& operator=(SeccompFilterBuilder&&) = default;

  // `action` for `syscall` when all `conditions` hold (always, when empty).
  // A name that libseccomp knows only on other architectures is skipped; a
  // name nobody knows is an error at Build().
  SeccompFilterBuilder& AddRule(std::string_view syscall, SeccompAction action,
                                std::vector<SeccompArgCondition> conditions = {});
  // Shorthand for AddRule with no conditions over several names.
  SeccompFilterBuilder& AddRules(const std::vector<std::string>& syscalls, SeccompAction action);
  // `action` when any bit of `mask` is set in argument `arg`. Expands into one
  // masked-equality rule per bit, because libseccomp has no "masked !=".
  SeccompFilterBuilder& AddRuleIfAnyBitSet(std::string_view syscall, SeccompAction action,
                                           unsigned arg, uint64_t mask);

  // Compiles to BPF. Uses libseccomp's binary-tree layout so long allow-lists
  // cost O(log n) per syscall.
  [[nodiscard]] absl::StatusOr<SeccompProgram> Build() const;

 private:
  struct Rule {
    int nr;
    std::string name;
    SeccompAction action;
    std::vector<SeccompArgCondition> conditions;
  };
  SeccompAction default_action_;
  std::vector<Rule> rules_;
  std::vector<std::string> skipped_;
  std::string first_error_;
};

// The native syscall number of `name`; -1 when the name is unknown everywhere,
// -2 when it exists only on other architectures.
int ResolveSyscallNumber(std::string_view name);

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_SECCOMP_H_
