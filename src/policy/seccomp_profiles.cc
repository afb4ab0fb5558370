// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "policy/seccomp_profiles.h"

#include <errno.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

// One profile's program as kavach_seccomp_gen wrote it at build time.
struct PrecompiledSeccomp {
  const sock_filter* insns;  // nullptr: the build could not compile it
  size_t count;
  const char* const* skipped;  // nullptr-terminated
};

#ifdef KAVACH_SECCOMP_GENERATOR
// The generator itself is built from this file and has no programs yet.
const PrecompiledSeccomp* PrecompiledFor(SeccompProfile, SeccompPart) { return nullptr; }
#else
#include "seccomp_precompiled.inc"

// The build's program, if this process would compile the very same one: the
// output depends on libseccomp's version, the native arch and the kernel API
// level libseccomp detects (it picks the bad-arch action), nothing else.
const PrecompiledSeccomp* PrecompiledFor(SeccompProfile profile, SeccompPart part) {
  static const bool usable = [] {
    const scmp_version* v = seccomp_version();
    return v != nullptr && v->major == seccomp_gen::kLibseccompMajor &&
           v->minor == seccomp_gen::kLibseccompMinor && v->micro == seccomp_gen::kLibseccompMicro &&
           seccomp_arch_native() == seccomp_gen::kNativeArch &&
           seccomp_api_get() == seccomp_gen::kApiLevel;
  }();
  if (!usable) return nullptr;
  const PrecompiledSeccomp* p = nullptr;
  const bool basic = profile == SeccompProfile::kBasic;
  const bool strict = profile == SeccompProfile::kStrict;
  switch (part) {
    case SeccompPart::kWhole:
      p = basic ? &seccomp_gen::kBasic : strict ? &seccomp_gen::kStrict : nullptr;
      break;
    case SeccompPart::kInit:
      p = basic ? &seccomp_gen::kBasicInit : strict ? &seccomp_gen::kStrictInit : nullptr;
      break;
    case SeccompPart::kCommand:
      p = basic ? &seccomp_gen::kBasicCommand : strict ? &seccomp_gen::kStrictCommand : nullptr;
      break;
  }
  return p != nullptr && p->insns != nullptr ? p : nullptr;
}
#endif

using sys::SeccompAction;
using sys::SeccompArgCondition;

// Every namespace-creating clone flag. CLONE_NEWTIME is left out: clone(2)
// reads the low byte of its flags as the exit signal and cannot create a time
// namespace (only unshare/clone3 can, and both are handled as a whole).
constexpr uint64_t kCloneNewFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// ioctl(2)'s request is an unsigned int: the kernel ignores the upper half of
// the register, so every comparison masks it off (else 0x1_00005412 would slip
// past "== TIOCSTI" and still inject keystrokes).
constexpr uint64_t kIoctlRequestMask = 0xffffffffULL;

// personality(2) values that only change uname output or address layout
// compatibility, never enable READ_IMPLIES_EXEC or MMAP_PAGE_ZERO.
constexpr uint64_t kPerLinux = 0x0000;
constexpr uint64_t kPerLinux32 = 0x0008;
constexpr uint64_t kUname26 = 0x0020000;
constexpr uint64_t kPersonalityQuery = 0xffffffffULL;

// TCGETS2 is _IOR('T', 0x2A, struct termios2); struct termios2 lives in
// <asm/termbits.h>, which clashes with glibc's <termios.h>.
constexpr uint64_t kTcgets2 = 0x802c542aULL;

std::vector<ConditionalSyscall> AnyBitSet(const std::string& syscall, unsigned arg, uint64_t mask) {
  std::vector<ConditionalSyscall> out;
  for (int bit = 0; bit < 64; ++bit) {
    uint64_t b = uint64_t{1} << bit;
    if (mask & b) out.push_back({syscall, {SeccompArgCondition::MaskedEq(arg, b, b)}});
  }
  return out;
}

std::vector<SyscallGroup> BasicGroups() {
  const SeccompAction eperm = SeccompAction::Errno(EPERM);
  std::vector<SyscallGroup> g;
  g.push_back(
      {"mount",
       "Mounting, the new mount API and root switching: rearranging the file-system view "
       "is how most container escapes start.",
       eperm,
       {"mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
        "open_tree", "open_tree_attr", "mount_setattr", "pivot_root", "chroot"},
       {}});
  g.push_back({"namespaces",
               "Creating or joining namespaces (a fresh user namespace hands out a full set of "
               "capabilities over it).",
               eperm,
               {"unshare", "setns"},
               AnyBitSet("clone", 0, kCloneNewFlags)});
  g.push_back({"clone3",
               "clone3 keeps its flags in a struct in memory, which a BPF filter cannot read, so "
               "the CLONE_NEW* check of clone cannot be made. ENOSYS (not EPERM) makes glibc and "
               "other runtimes fall back to clone(2), whose flags are checked.",
               SeccompAction::Errno(ENOSYS),
               {"clone3"},
               {}});
  g.push_back({"ptrace",
               "Reading or writing other processes: tracing, cross-process memory, fd theft, "
               "kernel object comparison.",
               eperm,
               {"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
                "pidfd_getfd"},
               {}});
  g.push_back({"kernel_attack_surface",
               "Large, frequently exploited kernel subsystems a sandboxed program does not need: "
               "eBPF, perf events, io_uring, userfaultfd (a race-widening primitive).",
               eperm,
               {"bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
                "userfaultfd"},
               {}});
  g.push_back({"keyring",
               "Kernel keyrings are not namespaced: keys of the host user are reachable.",
               eperm,
               {"keyctl", "add_key", "request_key"},
               {}});
  g.push_back(
      {"kernel_modules",
       "Loading or replacing kernel code, rebooting.",
       eperm,
       {"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot"},
       {}});
  g.push_back({"host_admin",
               "Host-wide administration: swap, accounting, quotas, the kernel log, legacy "
               "interfaces, host names, raw I/O ports.",
               eperm,
               {"swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie",
                "nfsservctl", "vhangup", "syslog", "fanotify_init", "uselib", "_sysctl",
                "sethostname", "setdomainname", "iopl", "ioperm", "vm86", "vm86old"},
               {}});
  g.push_back({"clock",
               "Setting the system clocks (the time namespace does not cover CLOCK_REALTIME).",
               eperm,
               {"settimeofday", "clock_settime", "clock_adjtime", "adjtimex"},
               {}});
  g.push_back({"file_handles",
               "open_by_handle_at opens any inode on a file system by number, bypassing the "
               "mount view (the 'shocker' escape).",
               eperm,
               {"open_by_handle_at", "name_to_handle_at"},
               {}});
  g.push_back({"numa",
               "NUMA memory policy and page migration across processes.",
               eperm,
               {"mbind", "migrate_pages", "move_pages"},
               {}});
  {
    // Denied when any bit outside PER_LINUX32|UNAME26 is set in the low 32
    // bits (the kernel reads an unsigned int). libseccomp compares an argument
    // once per rule, so "not one of" cannot be said; the query value
    // 0xffffffff is therefore denied too, which only costs programs that print
    // their personality.
    std::vector<ConditionalSyscall> personality =
        AnyBitSet("personality", 0, 0xffffffffULL & ~(kPerLinux32 | kUname26));
    g.push_back({"personality",
                 "Execution domains other than the default (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO "
                 "and friends weaken memory protections).",
                 eperm,
                 {},
                 std::move(personality)});
  }
  g.push_back({"tty_injection",
               "TIOCSTI pushes keystrokes into the controlling terminal's input (a command "
               "typed into the parent's shell); TIOCLINUX can do the same on a VT.",
               eperm,
               {},
               {{"ioctl", {SeccompArgCondition::MaskedEq(1, kIoctlRequestMask, TIOCSTI)}},
                {"ioctl", {SeccompArgCondition::MaskedEq(1, kIoctlRequestMask, TIOCLINUX)}}}});
  return g;
}

std::vector<SyscallGroup> StrictGroups() {
  const SeccompAction allow = SeccompAction::Allow();
  std::vector<SyscallGroup> g;
  g.push_back({"process",
               "Identity, limits and housekeeping of the calling process.",
               allow,
               {"exit",
                "exit_group",
                "getpid",
                "gettid",
                "getppid",
                "getuid",
                "geteuid",
                "getgid",
                "getegid",
                "getresuid",
                "getresgid",
                "getgroups",
                "getpgrp",
                "getpgid",
                "setpgid",
                "getsid",
                "setsid",
                "set_tid_address",
                "set_robust_list",
                "get_robust_list",
                "rseq",
                "arch_prctl",
                "prctl",
                "prlimit64",
                "getrlimit",
                "setrlimit",
                "getrusage",
                "times",
                "uname",
                "sysinfo",
                "umask",
                "getcpu",
                "capget",
                "restart_syscall",
                "sched_yield",
                "sched_getaffinity",
                "sched_setaffinity",
                "sched_getparam",
                "sched_getscheduler",
                "sched_get_priority_max",
                "sched_get_priority_min",
                "sched_rr_get_interval",
                "getpriority",
                "setpriority",
                "membarrier",
                "seccomp"},
               {{"personality", {SeccompArgCondition::Eq(0, kPerLinux)}},
                {"personality", {SeccompArgCondition::Eq(0, kPerLinux32)}},
                {"personality", {SeccompArgCondition::Eq(0, kUname26)}},
                {"personality", {SeccompArgCondition::Eq(0, kUname26 | kPerLinux32)}},
                {"personality", {SeccompArgCondition::Eq(0, kPersonalityQuery)}}}});
  g.push_back({"spawn",
               "fork/exec/wait and signals; the pid namespace scopes who can be signalled. "
               "clone only without namespace flags.",
               allow,
               {"fork", "vfork", "execve", "execveat", "wait4", "waitid", "kill", "tgkill", "tkill",
                "pidfd_open", "pidfd_send_signal"},
               {{"clone", {SeccompArgCondition::MaskedEq(0, kCloneNewFlags, 0)}}}});
  g.push_back({"memory",
               "Address-space management.",
               allow,
               {"brk", "mmap", "mprotect", "munmap", "mremap", "madvise", "mincore", "msync",
                "mlock", "munlock", "memfd_create", "mseal"},
               {}});
  g.push_back({"signals",
               "Signal handling and timers.",
               allow,
               {"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
                "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause",
                "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
                "timer_getoverrun", "timer_delete"},
               {}});
  g.push_back({"time",
               "Reading clocks and sleeping.",
               allow,
               {"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday",
                "time", "timerfd_create", "timerfd_settime", "timerfd_gettime"},
               {}});
  g.push_back({"sync",
               "Futexes and event counters.",
               allow,
               {"futex", "futex_waitv", "eventfd", "eventfd2"},
               {}});
  g.push_back({"files.io",
               "I/O on descriptors already open.",
               allow,
               {"read",        "write",     "pread64",  "pwrite64", "readv",     "writev",
                "preadv",      "pwritev",   "preadv2",  "pwritev2", "lseek",     "close",
                "close_range", "dup",       "dup2",     "dup3",     "fcntl",     "flock",
                "fsync",       "fdatasync", "sync",     "syncfs",   "ftruncate", "fallocate",
                "fadvise64",   "readahead", "sendfile", "splice",   "tee",       "copy_file_range",
                "pipe",        "pipe2"},
               {}});
  g.push_back({"files.path",
               "Path-based file operations; which paths are reachable is for the mount "
               "namespace and Landlock to say. mknod makes FIFOs only: device nodes need "
               "CAP_MKNOD, which is dropped. Extended attributes are read-only.",
               allow,
               {"open",
                "openat",
                "openat2",
                "creat",
                "stat",
                "lstat",
                "fstat",
                "newfstatat",
                "statx",
                "access",
                "faccessat",
                "faccessat2",
                "readlink",
                "readlinkat",
                "getdents",
                "getdents64",
                "getcwd",
                "chdir",
                "fchdir",
                "statfs",
                "fstatfs",
                "truncate",
                "utime",
                "utimes",
                "utimensat",
                "futimesat",
                "chmod",
                "fchmod",
                "fchmodat",
                "fchmodat2",
                "chown",
                "fchown",
                "lchown",
                "fchownat",
                "mkdir",
                "mkdirat",
                "rmdir",
                "unlink",
                "unlinkat",
                "rename",
                "renameat",
                "renameat2",
                "link",
                "linkat",
                "symlink",
                "symlinkat",
                "mknod",
                "mknodat",
                "getxattr",
                "lgetxattr",
                "fgetxattr",
                "listxattr",
                "llistxattr",
                "flistxattr",
                "inotify_init",
                "inotify_init1",
                "inotify_add_watch",
                "inotify_rm_watch"},
               {}});
  g.push_back({"poll",
               "Waiting on descriptors.",
               allow,
               {"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
                "epoll_wait", "epoll_pwait", "epoll_pwait2"},
               {}});
  g.push_back({"network",
               "Sockets of the unix, inet, inet6 and netlink (route lookups in getaddrinfo) "
               "families; what they can reach is for the network namespace and Landlock to "
               "say. Raw and packet sockets need CAP_NET_RAW; vsock, AF_ALG and the rest are "
               "denied outright.",
               allow,
               {"connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
                "recvmsg", "sendmmsg", "recvmmsg", "getsockopt", "setsockopt", "getsockname",
                "getpeername", "shutdown"},
               {{"socket", {SeccompArgCondition::Eq(0, AF_UNIX)}},
                {"socket", {SeccompArgCondition::Eq(0, AF_INET)}},
                {"socket", {SeccompArgCondition::Eq(0, AF_INET6)}},
                {"socket", {SeccompArgCondition::Eq(0, AF_NETLINK)}},
                {"socketpair", {SeccompArgCondition::Eq(0, AF_UNIX)}}}});
  g.push_back({"ipc",
               "System V IPC, confined to the sandbox by its IPC namespace.",
               allow,
               {"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
                "msgget", "msgsnd", "msgrcv", "msgctl"},
               {}});
  g.push_back({"random", "The kernel's random number generator.", allow, {"getrandom"}, {}});
  {
    // Terminal and file ioctls that programs use for ordinary I/O; TIOCSTI,
    // TIOCLINUX and every device-specific request fall to the default EPERM.
    const uint64_t requests[] = {
        TCGETS,    TCSETS,   TCSETSW,    TCSETSF,    TCSBRK,   TCXONC,          TCFLSH,   TIOCGPGRP,
        TIOCSPGRP, TIOCOUTQ, TIOCGWINSZ, TIOCSWINSZ, FIONREAD, FIONBIO,         TIOCGSID, FIONCLEX,
        FIOCLEX,   FIOASYNC, TIOCGPTN,   TIOCSPTLCK, kTcgets2, FS_IOC_GETFLAGS, FICLONE};
    std::vector<ConditionalSyscall> ioctls;
    for (uint64_t r : requests) {
      ioctls.push_back({"ioctl", {SeccompArgCondition::MaskedEq(1, kIoctlRequestMask, r)}});
    }
    g.push_back({"ioctl",
                 "Terminal settings, window size, non-blocking and close-on-exec flags, "
                 "bytes-ready counts, file flags and reflink copies.",
                 allow,
                 {},
                 std::move(ioctls)});
  }
  g.push_back({"fallbacks",
               "Newer calls answered with ENOSYS so runtimes fall back to an older one this "
               "profile allows: clone3 -> clone (clone3's flags are in memory BPF cannot "
               "read), io_uring -> plain syscalls, shadow stacks -> none.",
               SeccompAction::Errno(ENOSYS),
               {"clone3", "io_uring_setup", "map_shadow_stack"},
               {}});
  return g;
}

// The calls a command makes to drop its identity after its clone from init
// and before it installs its own filter (CommandChild in
// backend/process/init.cc); an allow-list's init part must let them through.
constexpr const char* kIdentityDropSyscalls[] = {"setgroups", "setresuid", "setresgid", "capset",
                                                 "landlock_restrict_self"};

bool IsAllowList(const SeccompProfileSpec& spec) {
  return !(spec.default_action == SeccompAction::Allow());
}

bool Mentions(const SeccompProfileSpec& spec, const std::string& name) {
  for (const SyscallGroup& g : spec.groups) {
    for (const std::string& s : g.syscalls) {
      if (s == name) return true;
    }
    for (const ConditionalSyscall& c : g.conditional) {
      if (c.syscall == name) return true;
    }
  }
  return false;
}

// See SeccompPart. Fails (rather than splitting wrongly) on a spec whose
// clone or identity calls are handled in a way the split does not know.
absl::StatusOr<SeccompProfileSpec> SplitPart(const SeccompProfileSpec& whole, SeccompPart part) {
  if (part == SeccompPart::kWhole) return whole;
  const bool allow_list = IsAllowList(whole);
  // What the whole does with a clone that has a namespace flag: the action of
  // its conditional clone rules in a deny-list, the default in an allow-list
  // (whose rule allows only a clone without those flags).
  std::optional<SeccompAction> clone_ns_action;
  std::vector<std::string> relaxed;  // calls the init part allows, the whole does not
  for (const SyscallGroup& g : whole.groups) {
    for (const std::string& s : g.syscalls) {
      if (s == "clone") return absl::InternalError("seccomp split: clone matched unconditionally");
    }
    for (const ConditionalSyscall& c : g.conditional) {
      if (c.syscall != "clone") continue;
      if (allow_list != (g.action == SeccompAction::Allow())) {
        return absl::InternalError("seccomp split: clone rule of unexpected kind");
      }
      clone_ns_action = allow_list ? whole.default_action : g.action;
    }
  }
  if (!clone_ns_action) return absl::InternalError("seccomp split: the profile has no clone rule");
  if (allow_list) {
    relaxed.push_back("clone");
    for (const char* s : kIdentityDropSyscalls) {
      if (Mentions(whole, s)) {
        return absl::InternalError(absl::StrCat("seccomp split: the profile already has ", s));
      }
      relaxed.push_back(s);
    }
  }
  if (part == SeccompPart::kInit) {
    SeccompProfileSpec init = whole;
    for (SyscallGroup& g : init.groups) {
      std::erase_if(g.conditional,
                    [](const ConditionalSyscall& c) { return c.syscall == "clone"; });
    }
    if (allow_list) {
      init.groups.push_back({"init",
                             "Held by the sandbox's init: a pid namespace per command, and the "
                             "identity drop each command makes before its own filter.",
                             SeccompAction::Allow(),
                             relaxed,
                             {}});
    }
    return init;
  }
  SeccompProfileSpec command{whole.profile, SeccompAction::Allow(), {}};
  command.groups.push_back({"namespaces",
                            "clone with a namespace flag, allowed to init only.",
                            *clone_ns_action,
                            {},
                            AnyBitSet("clone", 0, kCloneNewFlags)});
  if (allow_list) {
    relaxed.erase(relaxed.begin());  // clone: handled above
    command.groups.push_back({"identity",
                              "Identity changes, allowed to init and the command's set-up only.",
                              whole.default_action,
                              relaxed,
                              {}});
  }
  return command;
}

absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> Compile(SeccompProfile profile,
                                                                   SeccompPart part) {
  if (const PrecompiledSeccomp* pre = PrecompiledFor(profile, part)) {
    std::vector<std::string> skipped;
    for (const char* const* s = pre->skipped; *s != nullptr; ++s) skipped.emplace_back(*s);
    return std::make_shared<const sys::SeccompProgram>(
        std::vector<sock_filter>(pre->insns, pre->insns + pre->count), std::move(skipped));
  }
  absl::StatusOr<SeccompProfileSpec> spec = SeccompProfileSpecFor(profile, part);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<sys::SeccompProgram> program = BuildSeccompProgram(*spec);
  if (!program.ok()) return program.status();
  return std::make_shared<const sys::SeccompProgram>(std::move(*program));
}

using CachedProgramOr = absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>>;

// One function-local static per profile and part: built on first use,
// exactly once, thread-safe.
template <SeccompProfile P, SeccompPart Q>
const CachedProgramOr& CachedProgram() {
  static const CachedProgramOr* const program = new CachedProgramOr(Compile(P, Q));
  return *program;
}

}  // namespace

absl::StatusOr<SeccompProfileSpec> SeccompProfileSpecFor(SeccompProfile profile, SeccompPart part) {
  absl::StatusOr<SeccompProfileSpec> whole = SeccompProfileSpecFor(profile);
  if (!whole.ok()) return whole.status();
  return SplitPart(*whole, part);
}

absl::StatusOr<SeccompProfileSpec> SeccompProfileSpecFor(SeccompProfile profile) {
  switch (profile) {
    case SeccompProfile::kBasic:
      return SeccompProfileSpec{profile, SeccompAction::Allow(), BasicGroups()};
    case SeccompProfile::kStrict:
      return SeccompProfileSpec{profile, SeccompAction::Errno(EPERM), StrictGroups()};
    case SeccompProfile::kNone:
      break;
  }
  return absl::InvalidArgumentError("seccomp: profile 'none' has no filter");
}

std::vector<SyscallGroup> SeccompGroups() {
  std::vector<SyscallGroup> all = BasicGroups();
  for (SyscallGroup& g : StrictGroups()) all.push_back(std::move(g));
  return all;
}

absl::StatusOr<sys::SeccompProgram> BuildSeccompProgram(const SeccompProfileSpec& spec) {
  sys::SeccompFilterBuilder builder(spec.default_action);
  for (const SyscallGroup& g : spec.groups) {
    builder.AddRules(g.syscalls, g.action);
    for (const ConditionalSyscall& c : g.conditional) builder.AddRule(c.syscall, g.action, c.when);
  }
  absl::StatusOr<sys::SeccompProgram> program = builder.Build();
  if (!program.ok()) {
    return absl::Status(program.status().code(),
                        absl::StrCat("seccomp profile ", ToAbsl(SeccompProfileName(spec.profile)),
                                     ": ", program.status().message()));
  }
  return program;
}

bool SeccompProgramIsPrecompiled(SeccompProfile profile, SeccompPart part) {
  return PrecompiledFor(profile, part) != nullptr;
}

absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> SeccompProgramFor(SeccompProfile profile,
                                                                             SeccompPart part) {
  switch (profile) {
    case SeccompProfile::kBasic:
      return part == SeccompPart::kWhole
                 ? CachedProgram<SeccompProfile::kBasic, SeccompPart::kWhole>()
             : part == SeccompPart::kInit
                 ? CachedProgram<SeccompProfile::kBasic, SeccompPart::kInit>()
                 : CachedProgram<SeccompProfile::kBasic, SeccompPart::kCommand>();
    case SeccompProfile::kStrict:
      return part == SeccompPart::kWhole
                 ? CachedProgram<SeccompProfile::kStrict, SeccompPart::kWhole>()
             : part == SeccompPart::kInit
                 ? CachedProgram<SeccompProfile::kStrict, SeccompPart::kInit>()
                 : CachedProgram<SeccompProfile::kStrict, SeccompPart::kCommand>();
    case SeccompProfile::kNone:
      break;
  }
  return absl::InvalidArgumentError("seccomp: profile 'none' has no filter");
}

}  // namespace kavach::internal
