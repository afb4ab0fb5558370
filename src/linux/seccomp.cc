// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"

namespace kavach::sys {
namespace {

// Syscalls newer than libseccomp 2.5.4's table, with their x86_64 numbers
// (arch/x86/entry/syscalls/syscall_64.tbl). Without this a deny-list could not
// name them, and an allow-list could not use them.
struct NewSyscall {
  std::string_view name;
  int nr;
};
constexpr std::array<NewSyscall, 20> kNewerX86_64Syscalls = {{
    {"futex_wake", 454},        {"futex_wait", 455},       {"futex_requeue", 456},
    {"statmount", 457},         {"listmount", 458},        {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
    {"setxattrat", 463},        {"getxattrat", 464},       {"listxattrat", 465},
    {"removexattrat", 466},     {"open_tree_attr", 467},   {"file_getattr", 468},
    {"file_setattr", 469},      {"listns", 470},           {"map_shadow_stack", 453},
    {"cachestat", 451},         {"fchmodat2", 452},
}};

scmp_compare ToScmp(SeccompArgCondition::Op op) {
  switch (op) {
    case SeccompArgCondition::Op::kEq:
      return SCMP_CMP_EQ;
    case SeccompArgCondition::Op::kNe:
      return SCMP_CMP_NE;
    case SeccompArgCondition::Op::kLt:
      return SCMP_CMP_LT;
    case SeccompArgCondition::Op::kLe:
      return SCMP_CMP_LE;
    case SeccompArgCondition::Op::kGt:
      return SCMP_CMP_GT;
    case SeccompArgCondition::Op::kGe:
      return SCMP_CMP_GE;
    case SeccompArgCondition::Op::kMaskedEq:
      return SCMP_CMP_MASKED_EQ;
  }
  return _SCMP_CMP_MIN;
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using ScmpCtx = std::unique_ptr<void, CtxDeleter>;

absl::Status ScmpError(int rc, std::string_view what) {
  // libseccomp returns -errno.
  return ErrnoStatus(-rc, absl::StrCat("seccomp: ", ToAbsl(what)));
}

}  // namespace

SeccompAction SeccompAction::Allow() { return SeccompAction(SCMP_ACT_ALLOW); }
SeccompAction SeccompAction::Errno(int err) { return SeccompAction(SCMP_ACT_ERRNO(err)); }
SeccompAction SeccompAction::KillProcess() { return SeccompAction(SCMP_ACT_KILL_PROCESS); }
SeccompAction SeccompAction::Trap() { return SeccompAction(SCMP_ACT_TRAP); }
SeccompAction SeccompAction::Log() { return SeccompAction(SCMP_ACT_LOG); }

std::string SeccompAction::ToString() const {
  switch (raw_ & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      return "allow";
    case SECCOMP_RET_ERRNO:
      return absl::StrCat("errno(", raw_ & SECCOMP_RET_DATA, ")");
    case SECCOMP_RET_KILL_PROCESS:
      return "kill_process";
    case SECCOMP_RET_KILL_THREAD:
      return "kill_thread";
    case SECCOMP_RET_TRAP:
      return "trap";
    case SECCOMP_RET_LOG:
      return "log";
    default:
      return absl::StrFormat("0x%08x", raw_);
  }
}

std::string SeccompArgCondition::ToString() const {
  const char* ops[] = {"==", "!=", "<", "<=", ">", ">="};
  if (op == Op::kMaskedEq) return absl::StrFormat("arg%u & %#x == %#x", arg, mask, value);
  return absl::StrFormat("arg%u %s %#x", arg, ops[static_cast<int>(op)], value);
}

SeccompProgram::SeccompProgram(std::vector<sock_filter> instructions,
                               std::vector<std::string> skipped_syscalls)
    : instructions_(std::move(instructions)), skipped_(std::move(skipped_syscalls)) {
  fprog_.len = static_cast<unsigned short>(instructions_.size());
  fprog_.filter = instructions_.data();
}

SeccompProgram::SeccompProgram(SeccompProgram&& other) noexcept
    : instructions_(std::move(other.instructions_)), skipped_(std::move(other.skipped_)) {
  // A moved vector keeps its buffer, but re-point anyway: the fprog must never
  // refer to another object's storage.
  fprog_.len = static_cast<unsigned short>(instructions_.size());
  fprog_.filter = instructions_.data();
  other.fprog_ = {};
}

SeccompProgram& SeccompProgram::operator=(SeccompProgram&& other) noexcept {
  if (this != &other) {
    instructions_ = std::move(other.instructions_);
    skipped_ = std::move(other.skipped_);
    fprog_.len = static_cast<unsigned short>(instructions_.size());
    fprog_.filter = instructions_.data();
    other.fprog_ = {};
  }
  return *this;
}

int SeccompProgram::InstallRaw() const noexcept {
  if (fprog_.len == 0) return -EINVAL;
  // syscall(3) is a bare trap: no locks, no allocation, no signalling of other
  // threads. On failure it writes errno, which in a clone(CLONE_VM) child is
  // the suspended parent thread's errno; we read it at once, and the parent
  // must not rely on errno across the clone anyway.
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog_);
  return rc == 0 ? 0 : -errno;
}

int ResolveSyscallNumber(std::string_view name) {
  std::string n(name);
  int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, n.c_str());
  if (nr >= 0) return nr;
  if (nr != __NR_SCMP_ERROR) return -2;  // a pseudo number: absent on this arch
  for (const NewSyscall& s : kNewerX86_64Syscalls) {
    if (s.name == name) return s.nr;
  }
  return -1;
}

SeccompFilterBuilder::SeccompFilterBuilder(SeccompAction default_action)
    : default_action_(default_action) {}

SeccompFilterBuilder& SeccompFilterBuilder::AddRule(std::string_view syscall, SeccompAction action,
                                                    std::vector<SeccompArgCondition> conditions) {
  if (!first_error_.empty()) return *this;
  int nr = ResolveSyscallNumber(syscall);
  if (nr == -2) {
    // Known to exist elsewhere (vm86, socketcall, ...), absent here: nothing to
    // filter, and nothing a process here could call.
    for (const std::string& s : skipped_) {
      if (s == syscall) return *this;
    }
    skipped_.emplace_back(syscall);
    return *this;
  }
  if (nr < 0) {
    first_error_ = absl::StrCat("seccomp: unknown syscall name '", ToAbsl(syscall), "'");
    return *this;
  }
  for (const SeccompArgCondition& c : conditions) {
    if (c.arg > 5) {
      first_error_ = absl::StrCat("seccomp: ", ToAbsl(syscall), ": argument index ", c.arg,
                                  " out of range 0..5");
      return *this;
    }
  }
  rules_.push_back(Rule{nr, std::string(syscall), action, std::move(conditions)});
  return *this;
}

SeccompFilterBuilder& SeccompFilterBuilder::AddRules(const std::vector<std::string>& syscalls,
                                                     SeccompAction action) {
  for (const std::string& s : syscalls) AddRule(s, action);
  return *this;
}

SeccompFilterBuilder& SeccompFilterBuilder::AddRuleIfAnyBitSet(std::string_view syscall,
                                                               SeccompAction action, unsigned arg,
                                                               uint64_t mask) {
  for (int bit = 0; bit < 64; ++bit) {
    uint64_t b = uint64_t{1} << bit;
    if (mask & b) AddRule(syscall, action, {SeccompArgCondition::MaskedEq(arg, b, b)});
  }
  return *this;
}

absl::StatusOr<SeccompProgram> SeccompFilterBuilder::Build() const {
  if (!first_error_.empty()) return absl::InvalidArgumentError(first_error_);
  ScmpCtx ctx(seccomp_init(default_action_.raw()));
  if (!ctx) return absl::InternalError("seccomp: seccomp_init failed");
  // Any syscall entering through a non-native ABI (i386, x32) is killed: the
  // rules below speak x86_64 numbers only.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  // A kernel without SECCOMP_RET_KILL_PROCESS (gVisor's, for one) gets the
  // thread variant: the foreign-ABI syscall is not executed either way.
  if (rc == -EINVAL) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);
  if (rc < 0) return ScmpError(rc, "set bad-arch action");
  // Binary-tree layout: O(log n) checks instead of a linear scan.
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc < 0) return ScmpError(rc, "set optimize level");

  for (const Rule& r : rules_) {
    std::vector<scmp_arg_cmp> cmps;
    cmps.reserve(r.conditions.size());
    for (const SeccompArgCondition& c : r.conditions) {
      scmp_arg_cmp cmp{};
      cmp.arg = c.arg;
      cmp.op = ToScmp(c.op);
      if (c.op == SeccompArgCondition::Op::kMaskedEq) {
        cmp.datum_a = c.mask;
        cmp.datum_b = c.value;
      } else {
        cmp.datum_a = c.value;
      }
      cmps.push_back(cmp);
    }
    rc = seccomp_rule_add_exact_array(ctx.get(), r.action.raw(), r.nr,
                                      static_cast<unsigned>(cmps.size()), cmps.data());
    if (rc < 0) {
      std::string what = absl::StrCat("rule ", r.name, " -> ", r.action.ToString());
      for (const SeccompArgCondition& c : r.conditions)
        absl::StrAppend(&what, " if ", c.ToString());
      if (rc == -EACCES) {
        return absl::InvalidArgumentError(
            absl::StrCat("seccomp: ", what, ": action equals the default action"));
      }
      return ScmpError(rc, what);
    }
  }

  // libseccomp 2.5 exports only to an fd; a memfd keeps the program off disk.
  UniqueFd mfd(::memfd_create("kavach-seccomp-bpf", MFD_CLOEXEC));
  if (!mfd) return ErrnoStatus(errno, "seccomp: memfd_create");
  rc = seccomp_export_bpf(ctx.get(), mfd.get());
  if (rc < 0) return ScmpError(rc, "export bpf");
  struct stat st;
  if (::fstat(mfd.get(), &st) != 0) return ErrnoStatus(errno, "seccomp: fstat memfd");
  if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0) {
    return absl::InternalError(absl::StrCat("seccomp: exported program has odd size ", st.st_size));
  }
  size_t count = static_cast<size_t>(st.st_size) / sizeof(sock_filter);
  if (count > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(
        absl::StrCat("seccomp: program has ", count, " instructions, kernel limit ", BPF_MAXINSNS));
  }
  std::vector<sock_filter> insns(count);
  char* out = reinterpret_cast<char*>(insns.data());
  size_t want = count * sizeof(sock_filter);
  size_t done = 0;
  while (done < want) {
    ssize_t n = ::pread(mfd.get(), out + done, want - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "seccomp: read back bpf");
    }
    if (n == 0) return absl::InternalError("seccomp: short read of exported bpf");
    done += static_cast<size_t>(n);
  }
  return SeccompProgram(std::move(insns), skipped_);
}

}  // namespace kavach::sys
