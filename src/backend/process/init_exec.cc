// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/init_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "linux/file_util.h"

// The kavach-init executable, embedded at build time (KAVACH_INIT_BLOB_PATH
// is the static binary the build made from init/init_main.cc).
#if defined(KAVACH_INIT_BLOB_PATH)
asm(R"(
  .section .rodata.kavach_init,"a"
  .balign 64
  .globl kavach_init_blob_begin
  .hidden kavach_init_blob_begin
kavach_init_blob_begin:
  .incbin ")" KAVACH_INIT_BLOB_PATH R"("
  .globl kavach_init_blob_end
  .hidden kavach_init_blob_end
kavach_init_blob_end:
  .previous
)");
extern "C" const char kavach_init_blob_begin[];
extern "C" const char kavach_init_blob_end[];
#endif

// kavach_clone3_call(args, size, fn, arg): clone3, and in the child call
// fn(arg) on the stack the args name, then exit with its result. A C
// wrapper cannot do this: the child starts on a new stack, where returning
// from a syscall() call would pop a return address that is not there.
#if defined(__x86_64__)
#define KAVACH_HAVE_CLONE3_CALL 1
asm(R"(
  .text
  .globl kavach_clone3_call
  .hidden kavach_clone3_call
  .type kavach_clone3_call, @function
kavach_clone3_call:
  .cfi_startproc
  mov %rdx, %r8
  mov %rcx, %r9
  mov $435, %eax
  syscall
  test %rax, %rax
  jz 1f
  ret
1:
  .cfi_undefined %rip
  xor %ebp, %ebp
  mov %r9, %rdi
  call *%r8
  mov %eax, %edi
  mov $60, %eax
  syscall
  hlt
  .cfi_endproc
  .size kavach_clone3_call, .-kavach_clone3_call
)");
#elif defined(__aarch64__)
#define KAVACH_HAVE_CLONE3_CALL 1
asm(R"(
  .text
  .globl kavach_clone3_call
  .hidden kavach_clone3_call
  .type kavach_clone3_call, %function
kavach_clone3_call:
  .cfi_startproc
  mov x9, x2
  mov x10, x3
  mov x8, #435
  svc #0
  cbz x0, 1f
  ret
1:
  .cfi_undefined x30
  mov x29, xzr
  mov x30, xzr
  mov x0, x10
  blr x9
  mov x8, #93
  svc #0
  brk #0
  .cfi_endproc
  .size kavach_clone3_call, .-kavach_clone3_call
)");
#endif

#if defined(KAVACH_HAVE_CLONE3_CALL)
extern "C" long kavach_clone3_call(struct clone_args* args, size_t size, int (*fn)(void*),
                                   void* arg);
#endif

namespace kavach::internal {
namespace {

using sys::UniqueFd;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// What the child shares with the host (CLONE_VM): its inputs, and where it
// leaves the step that failed.
struct ChildArgs {
  int exe_fd;
  int control_fd;
  int plan_fd;
  int last_capability;
  const char* step;  // set by the child on failure
  int error;
};

int Fail(ChildArgs* a, const char* step) {
  a->step = step;
  a->error = errno;
  return 127;
}

// The child, between clone and exec. It runs on its own stack in the host's
// memory while the host's thread waits (CLONE_VFORK): only raw system
// calls, no allocation, no sanitizer instrumentation.
__attribute__((no_sanitize("address", "undefined", "thread"))) int ExecInitChild(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  // Every capability of the new user namespace into the inheritable and
  // ambient sets, so that the exec keeps them (see init_exec.h).
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return Fail(a, "capget");
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (::syscall(SYS_capset, &header, data) != 0) return Fail(a, "capset");
  for (int cap = 0; cap <= a->last_capability; ++cap) {
    if (::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      return Fail(a, "raise ambient capabilities");
    }
  }
  // fds 3 (control) and 4 (plan) stay open across the exec; every other fd
  // is closed by it. Duplicates first: an input may sit at 3 or 4.
  const long exe = ::syscall(SYS_fcntl, a->exe_fd, F_DUPFD_CLOEXEC, 5);
  const long control = ::syscall(SYS_fcntl, a->control_fd, F_DUPFD_CLOEXEC, 5);
  const long plan = ::syscall(SYS_fcntl, a->plan_fd, F_DUPFD_CLOEXEC, 5);
  if (exe < 0 || control < 0 || plan < 0) return Fail(a, "fcntl F_DUPFD_CLOEXEC");
  if (::syscall(SYS_dup3, control, 3, 0) != 3 || ::syscall(SYS_dup3, plan, 4, 0) != 4) {
    return Fail(a, "dup3");
  }
  (void)::syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);
  char name[] = "kavach-init";
  char* argv[] = {name, nullptr};
  char* envp[] = {nullptr};
  char empty[] = "";
  ::syscall(SYS_execveat, exe, empty, argv, envp, AT_EMPTY_PATH);
  return Fail(a, "execveat kavach-init");
}

struct Executable {
  int fd = -1;
  absl::Status status = absl::OkStatus();
  std::string source;  // the file's path, or "embedded"
};

Executable MakeExecutable() {
  Executable e;
#if !defined(KAVACH_INIT_BLOB_PATH) || !defined(KAVACH_HAVE_CLONE3_CALL)
  e.status = absl::UnimplementedError(
      "kavach-init is not embedded in this build, or this architecture has no clone trampoline");
  return e;
#else
  const std::string_view blob(kavach_init_blob_begin,
                              static_cast<size_t>(kavach_init_blob_end - kavach_init_blob_begin));
  if (blob.size() < 64 || blob.substr(0, 4) != std::string_view("\x7f"
                                                                "ELF",
                                                                4)) {
    e.status = absl::InternalError("the embedded kavach-init is not an ELF file");
    return e;
  }
  // The same program as a file of this build or installation, when there is
  // one: exec'd from there, no process copies 800 KB into a memfd first
  // (~0.2 ms of a one-shot `kavach exec`).
  for (const char* path : {KAVACH_INIT_BUILD_PATH, KAVACH_INIT_INSTALL_PATH}) {
    absl::StatusOr<UniqueFd> file = OpenInitFile(path, blob);
    if (file.ok()) {
      e.fd = file->Release();  // kept for the life of the process
      e.source = path;
      return e;
    }
  }
  // MFD_EXEC: kernels with vm.memfd_noexec (6.3+) want exec asked for;
  // older ones reject the flag.
  UniqueFd fd(::memfd_create("kavach-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (!fd && errno == EINVAL) {
    fd.Reset(::memfd_create("kavach-init", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  }
  if (!fd) {
    e.status = sys::ErrnoStatus(errno, "memfd_create kavach-init");
    return e;
  }
  if (absl::Status s = sys::WriteAll(fd.get(), blob); !s.ok()) {
    e.status = s;
    return e;
  }
  // Sealed: nothing, not even a thread of ours, can change what every
  // later init runs.
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
      0) {
    e.status = sys::ErrnoStatus(errno, "seal kavach-init memfd");
    return e;
  }
  e.fd = fd.Release();  // kept for the life of the process
  e.source = "embedded";
  return e;
#endif
}

const Executable& TheExecutable() {
  static absl::once_flag once;
  static Executable* executable = nullptr;
  absl::call_once(once, [] { executable = new Executable(MakeExecutable()); });
  return *executable;
}

}  // namespace

absl::StatusOr<UniqueFd> OpenInitFile(const char* path, std::string_view expected) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return sys::ErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys::ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != ::geteuid()) ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": not a regular file owned by root or by us, or writable by others"));
  }
  // The same size and the same first page (the ELF and program headers and
  // the build-id note, a hash of the whole linked file): the same build.
  const size_t head = std::min<size_t>(expected.size(), 4096);
  char buf[4096];
  if (static_cast<size_t>(st.st_size) != expected.size() ||
      ::pread(fd.get(), buf, head, 0) != static_cast<ssize_t>(head) ||
      std::memcmp(buf, expected.data(), head) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": another build of kavach-init"));
  }
  return fd;
}

absl::StatusOr<int> InitExecutableFd() {
  const Executable& e = TheExecutable();
  if (!e.status.ok()) return e.status;
  return e.fd;
}

std::string InitExecutableSource() {
  const Executable& e = TheExecutable();
  return e.status.ok() ? e.source : "";
}

std::string_view EmbeddedInitExecutable() {
#if defined(KAVACH_INIT_BLOB_PATH)
  return std::string_view(kavach_init_blob_begin,
                          static_cast<size_t>(kavach_init_blob_end - kavach_init_blob_begin));
#else
  return {};
#endif
}

absl::StatusOr<UniqueFd> PlanImageFd(const std::string& image) {
  UniqueFd fd(::memfd_create("kavach-init-plan", MFD_CLOEXEC));
  if (!fd) return sys::ErrnoStatus(errno, "memfd_create kavach-init-plan");
  if (absl::Status s = sys::WriteAll(fd.get(), image); !s.ok()) return s;
  return fd;
}

absl::StatusOr<pid_t> CloneExecInit(const InitExecRequest& request) {
#if !defined(KAVACH_HAVE_CLONE3_CALL)
  (void)request;
  return absl::UnimplementedError("no clone trampoline for this architecture");
#else
  absl::StatusOr<int> exe = InitExecutableFd();
  if (!exe.ok()) return exe.status();
  // The child's stack: it only runs ExecInitChild. Freed once the clone
  // returns, which CLONE_VFORK holds back until the child has exec'd or
  // exited.
  constexpr size_t kStackSize = 64 << 10;
  void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return sys::ErrnoStatus(errno, "mmap init clone stack");
  ChildArgs args = {*exe, request.control_fd, request.plan_fd, request.last_capability, nullptr, 0};
  struct clone_args ca = {};
  ca.flags = request.clone_flags | CLONE_VM | CLONE_VFORK;
  ca.pidfd = reinterpret_cast<uint64_t>(request.pidfd);
  ca.exit_signal = SIGCHLD;
  ca.stack = reinterpret_cast<uint64_t>(stack);
  ca.stack_size = kStackSize;
  if ((request.clone_flags & CLONE_INTO_CGROUP) != 0) {
    ca.cgroup = static_cast<uint64_t>(request.cgroup_fd);
  }
  // Every signal blocked while the child runs in our memory: a handler of
  // the host's must not run there. The exec keeps the mask; kavach-init
  // clears it first thing.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = kavach_clone3_call(&ca, sizeof ca, ExecInitChild, &args);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kStackSize);
  if (pid < 0) return sys::ErrnoStatus(static_cast<int>(-pid), "clone3 (init, CLONE_VM)");
  if (args.step == nullptr) return static_cast<pid_t>(pid);
  // The child failed before its exec and has exited: reap it.
  while (::waitpid(static_cast<pid_t>(pid), nullptr, __WALL) < 0 && errno == EINTR) {
  }
  if (request.pidfd != nullptr && (request.clone_flags & CLONE_PIDFD) != 0 && *request.pidfd >= 0) {
    ::close(*request.pidfd);
    *request.pidfd = -1;
  }
  return sys::ErrnoStatus(args.error, absl::StrCat("init child: ", args.step));
#endif
}

}  // namespace kavach::internal
