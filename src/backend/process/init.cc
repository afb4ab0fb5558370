// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The sandbox's init: pid 1 of the sandbox's pid namespace.
//
// Everything in this file runs either in the child of a raw clone3 (init) or
// in a clone(CLONE_VM | CLONE_VFORK) child of init (a command about to exec).
// Neither may allocate, take a lock, or use stdio: only raw system calls and
// the memory the host prepared in InitPlan. Errors are reported as an
// (InitStep, errno) pair; the host turns them into statuses naming the
// control that failed.
#include "backend/process/init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "backend/process/protocol.h"

namespace kavach::internal {
namespace {

// Landlock UAPI, defined here because Debian 12's headers stop at ABI 2.
constexpr int kLandlockRulePathBeneath = 1;
constexpr int kLandlockRuleNetPort = 2;
constexpr uint64_t kLandlockNetBindTcp = 1ull << 0;
constexpr uint64_t kLandlockNetConnectTcp = 1ull << 1;
// Rights that make sense on a non-directory: execute, write, read, truncate,
// ioctl_dev.
constexpr uint64_t kLandlockFileRights =
    (1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 14) | (1ull << 15);

struct LandlockRulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct __attribute__((packed)) LandlockPathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
struct LandlockNetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};

// Size of landlock_ruleset_attr the kernel understands at `abi`.
size_t LandlockAttrSize(int abi) {
  if (abi >= 6) return sizeof(LandlockRulesetAttr);
  if (abi >= 4) return 2 * sizeof(uint64_t);
  return sizeof(uint64_t);
}

// State of init; static because init must not allocate.
struct ExecSlot {
  bool used;
  uint64_t exec_id;
  pid_t pid;
  int status_fd;
};

struct ChildArgs {
  const InitPlan* plan;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  const char* cwd;
  char* const* argv;
  char* const* envp;
  bool probe;
  ProbeReport* report;
  // Written by the child on failure; read by init after the vfork returns.
  InitStep fail_step;
  int fail_errno;
  int sandbox_pid;  // the command's pid in the sandbox's pid namespace
  bool want_pid;    // sandbox_pid is reported (kStarted)
};

ExecSlot g_slots[kMaxConcurrentExecs];
alignas(16) char g_message[kMaxExecMessage];
char* g_strings[kMaxExecStrings + 4];
int g_landlock_fd = -1;
int g_sigchld_fd = -1;
int g_abstract_canary_fd = -1;
char* g_child_stack = nullptr;
constexpr size_t kChildStackSize = 256 * 1024;

// Reapers are CLONE_VM children of init (a fork would copy init's page
// tables, which are the host process's: the largest cost of an exec). Each
// runs on a stack of its own, made the first time its slot is used.
char* g_reaper_stacks[kMaxConcurrentExecs];
constexpr size_t kReaperStackSize = 64 * 1024;
// Nonzero while slot i's reaper is starting its command. The request's
// strings (g_message) and g_exec_args belong to that start until the word is
// cleared, so init waits on it (a futex) before reading the next request. The
// reaper clears it once the command has exec'd or failed; the kernel clears
// it too if the reaper dies first (CLONE_CHILD_CLEARTID).
int g_start_pending[kMaxConcurrentExecs];

long RawSys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  return syscall(n, a, b, c, d, e);
}

// A system call that returns -errno instead of setting errno. Init and a
// reaper share one address space (CLONE_VM) and so one errno; the calls they
// make while running side by side must not write it.
long SyscallNoErrno(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#else
#error "SyscallNoErrno: add this architecture's system call sequence"
#endif
}

size_t Strlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

void CopyString(char* dst, size_t cap, const char* src) {
  size_t i = 0;
  for (; src != nullptr && src[i] != '\0' && i + 1 < cap; ++i) dst[i] = src[i];
  dst[i] = '\0';
}

void SendSetupFailure(const InitPlan& plan, InitStep step, int err, const char* detail) {
  SetupReply reply;
  reply.type = MessageType::kSetupFailed;
  reply.step = step;
  reply.error = err;
  CopyString(reply.detail, sizeof reply.detail, detail);
  (void)!::send(3, &reply, sizeof reply, MSG_NOSIGNAL);
  _exit(1);
}

// Whether every mount of this mount namespace is private already: no
// "shared:" or "master:" tag in /proc/self/mountinfo, so making them private
// would change nothing. gVisor (runsc 20221219) refuses that change inside a
// user namespace (EPERM) but has no shared mounts. A static buffer and raw
// calls (init does not allocate); false when unsure (unreadable, too long).
bool AllMountsPrivate() {
  static char buf[1 << 16];
  int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = 0;
  ssize_t got = 0;
  while (n < sizeof buf - 1 && (got = ::read(fd, buf + n, sizeof buf - 1 - n)) > 0) {
    n += static_cast<size_t>(got);
  }
  ::close(fd);
  if (got < 0 || n == 0 || n >= sizeof buf - 1) return false;
  buf[n] = '\0';
  for (char* line = buf; *line != '\0';) {
    char* end = std::strchr(line, '\n');
    if (end != nullptr) *end = '\0';
    // The optional fields end at " - ".
    char* sep = std::strstr(line, " - ");
    if (sep == nullptr) return false;
    *sep = '\0';
    if (std::strstr(line, " shared:") != nullptr || std::strstr(line, " master:") != nullptr) {
      return false;
    }
    if (end == nullptr) break;
    line = end + 1;
  }
  return true;
}

void WriteStatus(int fd, const StatusRecord& rec) {
  ssize_t n;
  do {
    n = ::write(fd, &rec, sizeof rec);
  } while (n < 0 && errno == EINTR);
}

// mount_setattr with a fallback to a plain remount on kernels before 5.12.
int SetMountAttributes(const char* path, bool recursive, uint64_t attr_set) {
  struct mount_attr attr = {};
  attr.attr_set = attr_set;
  if (RawSys(SYS_mount_setattr, AT_FDCWD, reinterpret_cast<long>(path),
             recursive ? AT_RECURSIVE : 0, reinterpret_cast<long>(&attr), sizeof attr) == 0) {
    return 0;
  }
  if (errno != ENOSYS) return -1;
  unsigned long flags = MS_REMOUNT | MS_BIND;
  if (attr_set & MOUNT_ATTR_RDONLY) flags |= MS_RDONLY;
  if (attr_set & MOUNT_ATTR_NOSUID) flags |= MS_NOSUID;
  if (attr_set & MOUNT_ATTR_NODEV) flags |= MS_NODEV;
  if (attr_set & MOUNT_ATTR_NOEXEC) flags |= MS_NOEXEC;
  return ::mount(nullptr, path, nullptr, flags, nullptr);
}

bool PathExists(const char* path) {
  struct stat st;
  return ::lstat(path, &st) == 0;
}

int g_source_fds[kMaxRootSteps];
// The root template's clone (it comes with the host's go), and whether
// init's root came from it.
int g_root_template_fd = -1;
bool g_root_from_template = false;

// "<base><inside>" into `out`; false when it does not fit.
bool JoinPath(char* out, size_t cap, const char* base, const char* inside) {
  size_t b = Strlen(base);
  size_t i = Strlen(inside);
  if (b + i + 1 > cap) return false;
  memcpy(out, base, b);
  memcpy(out + b, inside, i + 1);
  return true;
}

// "/proc/self/fd/<fd>": how a bind refers to a source opened earlier.
void FdPath(char* out, int fd) {
  const char prefix[] = "/proc/self/fd/";
  memcpy(out, prefix, sizeof prefix - 1);
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  char* p = out + sizeof prefix - 1;
  while (n > 0) *p++ = digits[--n];
  *p = '\0';
}

// mkdir -p on a writable buffer. The leaf is tried first and the parents
// only when it reports ENOENT: most targets sit in a directory made by an
// earlier step, and walking every prefix from / cost the builder a hundred
// failing mkdir calls per sandbox.
int MakeDirs(char* path, mode_t mode) {
  if (::mkdir(path, mode) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  char* slash = strrchr(path, '/');
  if (slash == nullptr || slash == path) return -1;
  *slash = '\0';
  int r = MakeDirs(path, 0755);
  *slash = '/';
  if (r != 0) return -1;
  if (::mkdir(path, mode) != 0 && errno != EEXIST) return -1;
  return 0;
}

// The directory MakeParentDirs last made sure of (length 0: none). Runs of
// steps share a parent (the files of /etc, the nodes and links of /dev, the
// symlinks at the top), and each used to cost a failing mkdir (EEXIST), ~30
// per sandbox.
char g_parent_ok[PATH_MAX];
size_t g_parent_ok_len = 0;

int MakeParentDirs(char* path) {
  char* slash = strrchr(path, '/');
  if (slash == nullptr || slash == path) return 0;
  const size_t len = static_cast<size_t>(slash - path);
  if (len == g_parent_ok_len && memcmp(path, g_parent_ok, len) == 0) return 0;
  *slash = '\0';
  int r = MakeDirs(path, 0755);
  *slash = '/';
  if (r == 0 && len < sizeof g_parent_ok) {
    memcpy(g_parent_ok, path, len);
    g_parent_ok_len = len;
  }
  return r;
}

// A mount at `target` hides what was below it: forget the remembered parent
// when the mount is on it or on one of its ancestors.
void ForgetCoveredParent(const char* target) {
  const size_t t = Strlen(target);
  if (g_parent_ok_len != 0 && t <= g_parent_ok_len && memcmp(target, g_parent_ok, t) == 0 &&
      (t == g_parent_ok_len || g_parent_ok[t] == '/')) {
    g_parent_ok_len = 0;
  }
}

// Opens every bind source with init's original credentials, before the
// root is built (the tree is then created as the sandbox user, who may not
// be able to look the sources up itself).
void OpenSources(const InitPlan& plan) {
  if (plan.root_step_count > kMaxRootSteps) {
    SendSetupFailure(plan, InitStep::kBuildRoot, E2BIG, "too many root steps");
  }
  for (int i = 0; i < plan.root_step_count; ++i) {
    const RootStep& step = plan.root_steps[i];
    g_source_fds[i] = -1;
    if (g_root_from_template && step.in_template) continue;
    const char* source = step.source;
    if (step.kind == RootStepKind::kMaskFile) source = "/dev/null";
    bool is_bind = step.kind == RootStepKind::kBindReadOnly ||
                   step.kind == RootStepKind::kBindReadWrite ||
                   step.kind == RootStepKind::kBindDevice || step.kind == RootStepKind::kMaskFile;
    if (!is_bind) continue;
    int fd = ::open(source, O_PATH | O_CLOEXEC);
    if (fd < 0) {
      if (step.optional && errno == ENOENT) continue;
      SendSetupFailure(plan, InitStep::kOpenSource, errno, source);
    }
    g_source_fds[i] = fd;
  }
}

void BuildRoot(const InitPlan& plan) {
  char path[PATH_MAX];
  char source[32];
  auto fail = [&](InitStep step) { SendSetupFailure(plan, step, errno, path); };
  for (int i = 0; i < plan.root_step_count; ++i) {
    const RootStep& m = plan.root_steps[i];
    if (g_root_from_template && m.in_template) continue;
    if (!JoinPath(path, sizeof path, plan.mount_base, m.target)) {
      errno = ENAMETOOLONG;
      fail(InitStep::kBuildRoot);
    }
    int src = g_source_fds[i];
    // Every kind but files, symlinks and directories mounts at `path`.
    if (m.kind != RootStepKind::kFile && m.kind != RootStepKind::kSymlink &&
        m.kind != RootStepKind::kDir) {
      ForgetCoveredParent(path);
    }
    switch (m.kind) {
      case RootStepKind::kDir:
        if (MakeDirs(path, m.mode) != 0 || ::chmod(path, m.mode) != 0) fail(InitStep::kBuildRoot);
        break;
      case RootStepKind::kFile: {
        if (MakeParentDirs(path) != 0) fail(InitStep::kBuildRoot);
        int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, m.mode);
        if (fd < 0) fail(InitStep::kBuildRoot);
        size_t off = 0;
        while (off < m.data_len) {
          ssize_t n = ::write(fd, m.data + off, m.data_len - off);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) fail(InitStep::kBuildRoot);
          off += static_cast<size_t>(n);
        }
        ::close(fd);
        break;
      }
      case RootStepKind::kSymlink:
        if (MakeParentDirs(path) != 0 || ::symlink(m.data, path) != 0) fail(InitStep::kBuildRoot);
        break;
      case RootStepKind::kBindReadOnly:
      case RootStepKind::kBindReadWrite:
      case RootStepKind::kBindDevice: {
        if (src < 0) continue;  // optional and missing
        struct stat st;
        if (::fstat(src, &st) != 0) fail(InitStep::kMount);
        // The mount point: a directory or an empty file, unless it already
        // exists (a path below another bind, seen through it).
        if (!PathExists(path)) {
          if (S_ISDIR(st.st_mode)) {
            if (MakeDirs(path, 0755) != 0) fail(InitStep::kBuildRoot);
          } else {
            if (MakeParentDirs(path) != 0) fail(InitStep::kBuildRoot);
            int fd = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) fail(InitStep::kBuildRoot);
            ::close(fd);
          }
        }
        FdPath(source, src);
        // A source the host replaced by renaming over it after we opened it
        // (ldconfig does that to /etc/ld.so.cache) is an unlinked inode that
        // cannot be bound (ENOENT): open the path afresh, once.
        auto bind = [&](unsigned long flags) {
          if (::mount(source, path, nullptr, flags, nullptr) == 0) return true;
          if (errno != ENOENT || m.source == nullptr) return false;
          // (g_source_fds stays as it is: it is shared with init, whose fd
          // table this builder does not share.)
          int fresh = ::open(m.source, O_PATH | O_CLOEXEC);
          if (fresh < 0) {
            errno = ENOENT;
            return false;
          }
          char fresh_path[32];
          FdPath(fresh_path, fresh);
          bool bound = ::mount(fresh_path, path, nullptr, flags, nullptr) == 0;
          int saved = errno;
          ::close(fresh);
          errno = saved;
          return bound;
        };
        if (m.kind == RootStepKind::kBindDevice) {
          if (!bind(MS_BIND) ||
              SetMountAttributes(path, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) != 0) {
            fail(InitStep::kMount);
          }
          break;
        }
        if (!bind(MS_BIND | MS_REC)) fail(InitStep::kMount);
        uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        if (m.kind == RootStepKind::kBindReadOnly) attrs |= MOUNT_ATTR_RDONLY;
        if (SetMountAttributes(path, /*recursive=*/true, attrs) != 0) fail(InitStep::kMount);
        break;
      }
      case RootStepKind::kTmpfs:
        if (MakeDirs(path, 0755) != 0) fail(InitStep::kBuildRoot);
        if (::mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, m.data) != 0) {
          fail(InitStep::kMount);
        }
        break;
      case RootStepKind::kProc:
        if (MakeDirs(path, 0555) != 0) fail(InitStep::kBuildRoot);
        if (::mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
          fail(InitStep::kMount);
        }
        break;
      case RootStepKind::kMaskTmpfs:
        if (!PathExists(path)) continue;
        if (::mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                    "size=4k,mode=000") != 0) {
          fail(InitStep::kMount);
        }
        break;
      case RootStepKind::kMaskFile:
        if (!PathExists(path) || src < 0) continue;
        FdPath(source, src);
        if (::mount(source, path, nullptr, MS_BIND, nullptr) != 0 ||
            SetMountAttributes(path, false,
                               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) != 0) {
          fail(InitStep::kMount);
        }
        break;
    }
  }
  for (int i = 0; i < plan.root_step_count; ++i) {
    if (g_source_fds[i] >= 0) ::close(g_source_fds[i]);
  }
}

// The network namespace is the costliest one to create (every protocol's
// per-namespace set-up runs in it, about as much CPU as init's whole root
// build). The host's clone used to make it on the critical path; a helper of
// init now unshares it while init builds the root, on another CPU, and init
// joins it afterwards. The helper shares init's memory and fd table
// (CLONE_VM | CLONE_FILES), so it uses raw syscalls only (no errno: it
// shares init's TLS) and leaves the namespace's fd in init's table.
// The helper also makes the cgroup, IPC and UTS namespaces (~0.05 ms each;
// the host's clone3 and init made them on the critical path before), and
// brings the network namespace's loopback up (bring_up_loopback: setting a
// device up takes the rtnl lock and runs the netdev notifiers, ~0.1 ms).
// The helper is in init's cgroups, so the cgroup namespace is rooted at the
// sandbox's cgroup as when init unshared it itself.
struct HelperNamespace {
  int flag;
  const char* path;  // opened in the helper, joined by init
  InitStep step;     // reported on failure
};
constexpr HelperNamespace kHelperNamespaces[] = {
    {CLONE_NEWCGROUP, "/proc/thread-self/ns/cgroup", InitStep::kCgroupNamespace},
    {CLONE_NEWIPC, "/proc/thread-self/ns/ipc", InitStep::kIpcNamespace},
    {CLONE_NEWUTS, "/proc/thread-self/ns/uts", InitStep::kUtsNamespace},
    {CLONE_NEWNET, "/proc/thread-self/ns/net", InitStep::kLoopback},  // plan.new_netns
};
constexpr int kHelperNamespaceCount = sizeof kHelperNamespaces / sizeof kHelperNamespaces[0];
struct NamespaceHelperResult {
  int fds[kHelperNamespaceCount];
  int err;
  InitStep step;
  const char* what;  // the call that failed (for the report)
};
NamespaceHelperResult g_ns_helper = {{-1, -1, -1, -1}, 0, InitStep::kNone, ""};
alignas(16) char g_ns_helper_stack[16384];

int MakeNamespaces(void* arg) {
  const InitPlan& plan = *static_cast<const InitPlan*>(arg);
  auto failed = [](long r, InitStep step, const char* what) {
    g_ns_helper.err = static_cast<int>(-r);
    g_ns_helper.step = step;
    g_ns_helper.what = what;
    return 1;
  };
  for (int i = 0; i < kHelperNamespaceCount; ++i) {
    const HelperNamespace& ns = kHelperNamespaces[i];
    if (ns.flag == CLONE_NEWNET && !plan.new_netns) continue;
    long r = SyscallNoErrno(SYS_unshare, ns.flag);
    if (r < 0) return failed(r, ns.step, "unshare");
    r = SyscallNoErrno(SYS_openat, AT_FDCWD, reinterpret_cast<long>(ns.path), O_RDONLY | O_CLOEXEC);
    if (r < 0) return failed(r, ns.step, ns.path);
    g_ns_helper.fds[i] = static_cast<int>(r);
  }
  if (plan.new_netns && plan.bring_up_loopback) {
    long fd = SyscallNoErrno(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return failed(fd, InitStep::kLoopback, "socket");
    struct ifreq ifr = {};
    CopyString(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    long r = SyscallNoErrno(SYS_ioctl, fd, SIOCGIFFLAGS, reinterpret_cast<long>(&ifr));
    if (r == 0) {
      ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
      r = SyscallNoErrno(SYS_ioctl, fd, SIOCSIFFLAGS, reinterpret_cast<long>(&ifr));
    }
    SyscallNoErrno(SYS_close, fd);
    if (r < 0) return failed(r, InitStep::kLoopback, "lo");
  }
  return 0;
}

// After init has moved into its cgroups (the namespaces are charged there).
pid_t StartNamespaceHelper(const InitPlan& plan) {
  pid_t pid = ::clone(MakeNamespaces, g_ns_helper_stack + sizeof g_ns_helper_stack,
                      CLONE_VM | CLONE_FILES | SIGCHLD, const_cast<InitPlan*>(&plan));
  if (pid < 0) SendSetupFailure(plan, InitStep::kClone, errno, "clone (namespace helper)");
  return pid;
}

// The old root, stacked on the new one by pivot_root(".", "."), is detached
// by a child sharing init's memory and fs context (cwd): the umount itself
// is quick, but the kernel then waits out an RCU grace period before it
// returns, 0.1-1.5 ms here, which init spends on its next steps instead.
// Nothing of the sandbox runs before WaitOldRootDetacher. Raw syscalls only
// (the child shares init's TLS, so errno too).
struct DetacherResult {
  int err;  // negative errno of umount2, 0 on success
};
DetacherResult g_detacher = {0};
alignas(16) char g_detacher_stack[8192];

int DetachOldRoot(void*) {
  long r = SyscallNoErrno(SYS_umount2, reinterpret_cast<long>("."), MNT_DETACH);
  g_detacher.err = r < 0 ? static_cast<int>(r) : 0;
  return r < 0 ? 1 : 0;
}

pid_t StartOldRootDetacher(const InitPlan& plan) {
  pid_t pid = ::clone(DetachOldRoot, g_detacher_stack + sizeof g_detacher_stack,
                      CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD, nullptr);
  if (pid < 0) {
    // No child: detach here and wait, as before.
    if (::umount2(".", MNT_DETACH) != 0) {
      SendSetupFailure(plan, InitStep::kPivotRoot, errno, "umount old root");
    }
  }
  return pid;
}

void WaitOldRootDetacher(const InitPlan& plan, pid_t detacher) {
  if (detacher < 0) return;
  int status = 0;
  while (::waitpid(detacher, &status, __WALL) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    SendSetupFailure(plan, InitStep::kPivotRoot, g_detacher.err != 0 ? -g_detacher.err : ECHILD,
                     "umount old root");
  }
}

// Waits for the helper and moves init into its namespaces: every later child
// (the probe, each command) inherits them. Init runs nothing of the sandbox's
// before this (the root builder needs none of them).
void JoinNamespaces(const InitPlan& plan, pid_t helper) {
  int status = 0;
  while (::waitpid(helper, &status, __WALL) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    SendSetupFailure(plan, g_ns_helper.step != InitStep::kNone ? g_ns_helper.step : InitStep::kSync,
                     g_ns_helper.err != 0 ? g_ns_helper.err : ECHILD, g_ns_helper.what);
  }
  for (int i = 0; i < kHelperNamespaceCount; ++i) {
    const HelperNamespace& ns = kHelperNamespaces[i];
    if (ns.flag == CLONE_NEWNET && !plan.new_netns) continue;
    if (g_ns_helper.fds[i] < 0) SendSetupFailure(plan, ns.step, ECHILD, ns.path);
    if (::setns(g_ns_helper.fds[i], ns.flag) != 0) {
      SendSetupFailure(plan, ns.step, errno, "setns");
    }
    ::close(g_ns_helper.fds[i]);
    g_ns_helper.fds[i] = -1;
  }
}

void BringUpLoopback(const InitPlan& plan) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) SendSetupFailure(plan, InitStep::kLoopback, errno, "socket");
  struct ifreq ifr = {};
  CopyString(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
    SendSetupFailure(plan, InitStep::kLoopback, errno, "lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
    SendSetupFailure(plan, InitStep::kLoopback, errno, "lo");
  ::close(fd);
}

// Network mode proxy: the only thing the sandbox can reach, a TCP socket on
// its own loopback whose connections the host's egress proxy accepts.
int OpenProxySocket(const InitPlan& plan) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) SendSetupFailure(plan, InitStep::kLoopback, errno, "proxy socket");
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(plan.proxy_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 512) != 0) {
    SendSetupFailure(plan, InitStep::kLoopback, errno, "proxy socket on 127.0.0.1");
  }
  return fd;
}

void BuildLandlock(const InitPlan& plan) {
  LandlockRulesetAttr attr = {plan.landlock_handled_fs, plan.landlock_handled_net,
                              plan.landlock_scoped};
  int fd = static_cast<int>(RawSys(SYS_landlock_create_ruleset, reinterpret_cast<long>(&attr),
                                   static_cast<long>(LandlockAttrSize(plan.landlock_abi)), 0));
  if (fd < 0) SendSetupFailure(plan, InitStep::kLandlock, errno, "landlock_create_ruleset");
  for (int i = 0; i < plan.landlock_path_count; ++i) {
    const LandlockPathStep& p = plan.landlock_paths[i];
    int pfd = ::open(p.path, O_PATH | O_CLOEXEC);
    if (pfd < 0) {
      if (p.optional && errno == ENOENT) continue;
      SendSetupFailure(plan, InitStep::kLandlock, errno, p.path);
    }
    struct stat st;
    if (::fstat(pfd, &st) != 0) SendSetupFailure(plan, InitStep::kLandlock, errno, p.path);
    LandlockPathBeneathAttr rule;
    rule.allowed_access = p.access & plan.landlock_handled_fs;
    if (!S_ISDIR(st.st_mode)) rule.allowed_access &= kLandlockFileRights;
    rule.parent_fd = pfd;
    if (rule.allowed_access != 0 && RawSys(SYS_landlock_add_rule, fd, kLandlockRulePathBeneath,
                                           reinterpret_cast<long>(&rule), 0) != 0) {
      SendSetupFailure(plan, InitStep::kLandlock, errno, p.path);
    }
    ::close(pfd);
  }
  for (int i = 0; i < plan.bind_port_count; ++i) {
    LandlockNetPortAttr rule = {kLandlockNetBindTcp, plan.bind_ports[i]};
    if (RawSys(SYS_landlock_add_rule, fd, kLandlockRuleNetPort, reinterpret_cast<long>(&rule), 0) !=
        0) {
      SendSetupFailure(plan, InitStep::kLandlock, errno, "bind port rule");
    }
  }
  for (int i = 0; i < plan.connect_port_count; ++i) {
    LandlockNetPortAttr rule = {kLandlockNetConnectTcp, plan.connect_ports[i]};
    if (RawSys(SYS_landlock_add_rule, fd, kLandlockRuleNetPort, reinterpret_cast<long>(&rule), 0) !=
        0) {
      SendSetupFailure(plan, InitStep::kLandlock, errno, "connect port rule");
    }
  }
  g_landlock_fd = fd;
}

void OpenAbstractCanary(const InitPlan& plan) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) SendSetupFailure(plan, InitStep::kCanary, errno, "socket");
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  size_t len = Strlen(plan.abstract_canary);
  if (len + 1 >= sizeof addr.sun_path) SendSetupFailure(plan, InitStep::kCanary, ENAMETOOLONG, "");
  memcpy(addr.sun_path + 1, plan.abstract_canary, len);
  socklen_t alen = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + len);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0 || ::listen(fd, 1) != 0) {
    SendSetupFailure(plan, InitStep::kCanary, errno, "abstract canary");
  }
  g_abstract_canary_fd = fd;
}

// ---- Probe helpers (run in the probe child after every control is applied).

// Parses "Key:\t<value>" from /proc/self/status; `hex` for the Cap* lines.
bool FindStatusField(const char* buf, const char* key, bool hex, uint64_t* out) {
  size_t klen = Strlen(key);
  for (const char* line = buf; *line != '\0';) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      const char* p = line + klen + 1;
      while (*p == ' ' || *p == '\t') ++p;
      uint64_t v = 0;
      bool any = false;
      for (;; ++p) {
        int d;
        if (*p >= '0' && *p <= '9') {
          d = *p - '0';
        } else if (hex && *p >= 'a' && *p <= 'f') {
          d = *p - 'a' + 10;
        } else {
          break;
        }
        v = v * (hex ? 16 : 10) + static_cast<uint64_t>(d);
        any = true;
      }
      if (!any) return false;
      *out = v;
      return true;
    }
    const char* nl = strchr(line, '\n');
    if (nl == nullptr) break;
    line = nl + 1;
  }
  return false;
}

void RunProbe(const InitPlan& plan, ProbeReport* r) {
  char buf[4096];
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n > 0) {
      buf[n] = '\0';
      uint64_t v;
      if (FindStatusField(buf, "Seccomp", false, &v)) r->seccomp_mode = static_cast<int32_t>(v);
      if (FindStatusField(buf, "Seccomp_filters", false, &v)) {
        r->seccomp_filters = static_cast<int32_t>(v);
      }
      if (FindStatusField(buf, "NoNewPrivs", false, &v)) r->no_new_privs = static_cast<int32_t>(v);
      FindStatusField(buf, "CapEff", true, &r->cap_eff);
      FindStatusField(buf, "CapPrm", true, &r->cap_prm);
      FindStatusField(buf, "CapBnd", true, &r->cap_bnd);
      FindStatusField(buf, "CapAmb", true, &r->cap_amb);
    }
  }
  r->uid = static_cast<int32_t>(::getuid());
  r->gid = static_cast<int32_t>(::getgid());
  struct statfs sfs;
  if (::statfs("/", &sfs) == 0) r->root_is_read_only = (sfs.f_flags & ST_RDONLY) ? 1 : 0;
  struct stat st;
  if (::stat("/", &st) == 0) {
    r->root_differs_from_host =
        (st.st_dev != plan.host_root_dev || st.st_ino != plan.host_root_ino) ? 1 : 0;
  }
  if (plan.landlock_canary != nullptr) {
    int cfd = ::open(plan.landlock_canary, O_RDONLY | O_CLOEXEC);
    r->landlock_canary_errno = cfd < 0 ? errno : 0;
    if (cfd >= 0) ::close(cfd);
  }
  if (plan.abstract_canary != nullptr) {
    int sfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd >= 0) {
      struct sockaddr_un addr = {};
      addr.sun_family = AF_UNIX;
      size_t len = Strlen(plan.abstract_canary);
      memcpy(addr.sun_path + 1, plan.abstract_canary, len);
      socklen_t alen = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + len);
      r->abstract_canary_errno =
          ::connect(sfd, reinterpret_cast<sockaddr*>(&addr), alen) == 0 ? 0 : errno;
      ::close(sfd);
    }
  }
  if (plan.denied_bind_port != 0) {
    int sfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd >= 0) {
      struct sockaddr_in addr = {};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(plan.denied_bind_port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      r->bind_canary_errno =
          ::bind(sfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
      ::close(sfd);
    }
  }
  if (plan.denied_connect_port != 0) {
    int sfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd >= 0) {
      struct sockaddr_in addr = {};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(plan.denied_connect_port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      r->connect_canary_errno =
          ::connect(sfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
      ::close(sfd);
    }
  }
  int dfd = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int count = 0;
    char dents[4096];
    for (;;) {
      long n = RawSys(SYS_getdents64, dfd, reinterpret_cast<long>(dents), sizeof dents);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(dents + off);
        const char* name = d->d_name;
        if (name[0] != '.') {
          int v = 0;
          for (const char* p = name; *p; ++p) v = v * 10 + (*p - '0');
          if (v > 2 && v != dfd) ++count;
        }
        off += d->d_reclen;
      }
    }
    ::close(dfd);
    r->open_fds_above_stderr = count;
  }
  struct rlimit lim;
  if (RawSys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&lim)) == 0) {
    r->rlimit_nofile = lim.rlim_cur;
  }
  if (RawSys(SYS_prlimit64, 0, RLIMIT_FSIZE, 0, reinterpret_cast<long>(&lim)) == 0) {
    r->rlimit_fsize = lim.rlim_cur;
  }
}

// Init's own namespaces (inode of each /proc/self/ns link) and the network
// interfaces it sees, for the host to compare with its own.
void ReportNamespaces(ProbeReport* r) {
  const char* const names[kNamespaceCount] = {"user", "pid", "mnt", "ipc", "uts", "cgroup", "net"};
  char path[64];
  for (int i = 0; i < kNamespaceCount; ++i) {
    JoinPath(path, sizeof path, "/proc/self/ns/", names[i]);
    struct stat st;
    r->ns_inode[i] = ::stat(path, &st) == 0 ? st.st_ino : 0;
  }
  char buf[4096];
  int fd = ::open("/proc/net/dev", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  int line = 0;
  int count = 0;
  bool only_lo = true;
  for (char* p = buf; *p != '\0';) {
    char* nl = strchr(p, '\n');
    if (nl != nullptr) *nl = '\0';
    if (++line > 2 && *p != '\0') {
      while (*p == ' ') ++p;
      char* colon = strchr(p, ':');
      if (colon != nullptr) {
        *colon = '\0';
        ++count;
        if (strcmp(p, "lo") != 0) only_lo = false;
        // Keep the first few names for the evidence text.
        size_t used = Strlen(r->interfaces);
        size_t len = Strlen(p);
        if (used + len + 2 < sizeof r->interfaces) {
          if (used > 0) r->interfaces[used++] = ',';
          memcpy(r->interfaces + used, p, len + 1);
        }
      }
    }
    if (nl == nullptr) break;
    p = nl + 1;
  }
  r->interface_count = count;
  r->only_loopback = only_lo ? 1 : 0;
}

// Finds `name` on the PATH in `envp` and execs it (execvpe without malloc).
void ExecSearchingPath(const char* name, char* const* argv, char* const* envp) {
  if (strchr(name, '/') != nullptr) {
    ::execve(name, argv, envp);
    return;
  }
  const char* path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
  for (char* const* e = envp; *e != nullptr; ++e) {
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;
      break;
    }
  }
  size_t nlen = Strlen(name);
  char candidate[4096];
  int saved = ENOENT;
  for (const char* p = path;;) {
    const char* end = strchr(p, ':');
    size_t dlen = end ? static_cast<size_t>(end - p) : Strlen(p);
    if (dlen > 0 && dlen + 1 + nlen + 1 <= sizeof candidate) {
      memcpy(candidate, p, dlen);
      candidate[dlen] = '/';
      memcpy(candidate + dlen + 1, name, nlen + 1);
      ::execve(candidate, argv, envp);
      // Keep the most telling error: permission problems beat "not found".
      if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    if (end == nullptr) break;
    p = end + 1;
  }
  errno = saved;
}

#define CHILD_FAIL(step)      \
  do {                        \
    args->fail_step = (step); \
    args->fail_errno = errno; \
    _exit(127);               \
  } while (0)

// The command child: applies every command-side control, then execs (or, in
// probe mode, reports what it sees). Shares init's memory (CLONE_VM).
int CommandChild(void* raw) {
  auto* args = static_cast<ChildArgs*>(raw);
  const InitPlan& plan = *args->plan;

  if (!args->probe) {
    // The command, not init or its reaper, is the one the OOM killer should
    // pick when the sandbox's memory runs out: raising one's own score is
    // always allowed (best effort: as an unprivileged host the file is not
    // writable, and there is no memory cgroup to run out of either).
    int adj = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adj >= 0) {
      (void)!::write(adj, "1000", 4);
      ::close(adj);
    }
    // /proc is the sandbox's: "self" names us as the sandbox sees us.
    if (args->want_pid) {
      char self[16];
      ssize_t n = ::readlink("/proc/self", self, sizeof self - 1);
      int pid = 0;
      for (ssize_t i = 0; i < n && self[i] >= '0' && self[i] <= '9'; ++i)
        pid = pid * 10 + (self[i] - '0');
      args->sandbox_pid = pid;
    }
    if (::dup2(args->stdin_fd, 0) < 0 || ::dup2(args->stdout_fd, 1) < 0 ||
        ::dup2(args->stderr_fd, 2) < 0) {
      CHILD_FAIL(InitStep::kStdio);
    }
  }
  // Signals: init blocks SIGCHLD and ignores SIGPIPE; the command gets the
  // defaults back.
  sigset_t empty;
  sigemptyset(&empty);
  RawSys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty), 0, _NSIG / 8);
  struct kernel_sigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } dfl = {};
  dfl.handler = reinterpret_cast<void*>(SIG_DFL);
  RawSys(SYS_rt_sigaction, SIGPIPE, reinterpret_cast<long>(&dfl), 0, 8);
  ::setsid();
  ::umask(022);

  struct rlimit core = {0, 0};
  if (RawSys(SYS_prlimit64, 0, RLIMIT_CORE, reinterpret_cast<long>(&core), 0) != 0) {
    CHILD_FAIL(InitStep::kRlimits);
  }
  if (plan.rlimit_nofile != 0) {
    struct rlimit l = {plan.rlimit_nofile, plan.rlimit_nofile};
    if (RawSys(SYS_prlimit64, 0, RLIMIT_NOFILE, reinterpret_cast<long>(&l), 0) != 0) {
      CHILD_FAIL(InitStep::kRlimits);
    }
  }
  if (plan.rlimit_fsize != 0) {
    struct rlimit l = {plan.rlimit_fsize, plan.rlimit_fsize};
    if (RawSys(SYS_prlimit64, 0, RLIMIT_FSIZE, reinterpret_cast<long>(&l), 0) != 0) {
      CHILD_FAIL(InitStep::kRlimits);
    }
  }

  // Capabilities: the ambient set first, then the uid change and capset.
  // init's uid is not mapped in the namespace, so the kernel's
  // setuid-from-root emulation does not apply and every set is cleared
  // explicitly. The bounding set was emptied once in init (DropBoundingSet)
  // and a clone inherits it; the probe child reads CapBnd to prove it.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    CHILD_FAIL(InitStep::kCapabilities);
  }
  if (plan.can_setgroups && RawSys(SYS_setgroups, 0, 0) != 0) CHILD_FAIL(InitStep::kSetGroups);
  if (RawSys(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) CHILD_FAIL(InitStep::kSetGid);
  if (RawSys(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) CHILD_FAIL(InitStep::kSetUid);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (RawSys(SYS_capset, reinterpret_cast<long>(&hdr), reinterpret_cast<long>(data)) != 0) {
    CHILD_FAIL(InitStep::kCapabilities);
  }
  if (::chdir(args->cwd) != 0) CHILD_FAIL(InitStep::kChdir);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) CHILD_FAIL(InitStep::kNoNewPrivs);
  if (plan.landlock) {
    if (RawSys(SYS_landlock_restrict_self, g_landlock_fd, 0) != 0) {
      CHILD_FAIL(InitStep::kLandlockRestrict);
    }
    if (args->probe) args->report->landlock_restricted = 1;
  }
  if (RawSys(SYS_close_range, 3, ~0U, 0) != 0) CHILD_FAIL(InitStep::kCloseFds);
  if (plan.seccomp != nullptr &&
      RawSys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, reinterpret_cast<long>(plan.seccomp)) != 0) {
    CHILD_FAIL(InitStep::kSeccomp);
  }
  if (args->probe) {
    RunProbe(plan, args->report);
    _exit(0);
  }
  ExecSearchingPath(args->argv[0], args->argv, args->envp);
  CHILD_FAIL(InitStep::kExec);
}

#undef CHILD_FAIL

// Starts a child in its own pid namespace. Returns its pid, or -1 with
// args->fail_* set.
pid_t StartChild(ChildArgs* args) {
  args->fail_step = InitStep::kNone;
  args->fail_errno = 0;
  pid_t pid = ::clone(CommandChild, g_child_stack + kChildStackSize,
                      CLONE_VM | CLONE_VFORK | CLONE_NEWPID | SIGCHLD, args);
  if (pid < 0) {
    args->fail_step = InitStep::kClone;
    args->fail_errno = errno;
    return -1;
  }
  return pid;
}

// Empties init's capability bounding set, once, after the root is built:
// every command and the probe are clones of init and inherit it, so no
// command can regain a capability through execve. Init keeps its effective
// capabilities (it still makes pid namespaces); the bounding set only limits
// what an execve may grant, and init never execs. Doing it here instead of in
// each command saves ~40 prctl calls per exec.
void DropBoundingSet(const InitPlan& plan) {
  for (int cap = 0; cap <= plan.last_capability; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      SendSetupFailure(plan, InitStep::kCapabilities, errno, "PR_CAPBSET_DROP");
    }
  }
}

// Installs the init part of the seccomp profile in init, once, after the
// last set-up step that needs a call it denies (mounts, setns, the namespace
// ioctls of ReportNamespaces). Every command is a clone of init and inherits
// it, then installs only the small command part (CommandChild): the kernel
// prepares each installed filter (JIT, per-syscall cache), which for the
// whole strict program was ~15% of a pooled exec's CPU. What init still does
// afterwards (poll, recvmsg, clone with CLONE_NEWPID, wait4, kill, futex,
// mmap, the command's identity drop) is what the init part allows. No new
// privileges first, so the install does not rest on init's CAP_SYS_ADMIN;
// init never execs, and commands set it anyway.
void InstallInitFilter(const InitPlan& plan) {
  if (plan.seccomp_init == nullptr) return;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    SendSetupFailure(plan, InitStep::kNoNewPrivs, errno, "init");
  }
  if (RawSys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, reinterpret_cast<long>(plan.seccomp_init)) !=
      0) {
    SendSetupFailure(plan, InitStep::kSeccomp, errno, "init part");
  }
}

void RunProbeChild(const InitPlan& plan, ProbeReport* report) {
  ChildArgs args = {};
  args.plan = &plan;
  args.cwd = "/";
  args.probe = true;
  args.report = report;
  pid_t pid = StartChild(&args);
  if (pid < 0) SendSetupFailure(plan, InitStep::kProbe, args.fail_errno, "clone");
  int status = 0;
  while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  if (args.fail_step != InitStep::kNone) {
    SendSetupFailure(plan, args.fail_step, args.fail_errno, InitStepName(args.fail_step));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    SendSetupFailure(plan, InitStep::kProbe, ECHILD, "probe child did not exit cleanly");
  }
}

// The reaper: pid 1 of a fresh pid namespace, sharing init's memory
// (CLONE_VM) but not its fds. It starts the command as pid 2 and reports on
// the status pipe. The command must not be pid 1: the kernel drops the
// default-action signals a namespace's init sends itself (`kill $$`,
// raise(SIGTERM)). When the command exits, the reaper exits, and the kernel
// kills whatever the command left behind in the namespace: nothing outlives
// an exec.
struct ReaperArgs {
  ChildArgs* child;  // g_exec_args: valid until the start is released
  int status_fd;
  int slot;
  bool report_start;  // send kStarted (the host asked for it)
};
ReaperArgs g_reaper_args[kMaxConcurrentExecs];
ChildArgs g_exec_args;

void ReleaseStart(int slot) {
  __atomic_store_n(&g_start_pending[slot], 0, __ATOMIC_RELEASE);
  SyscallNoErrno(SYS_futex, reinterpret_cast<long>(&g_start_pending[slot]), FUTEX_WAKE, 1);
}

void WriteStatusNoErrno(int fd, const StatusRecord& rec) {
  long n;
  do {
    n = SyscallNoErrno(SYS_write, fd, reinterpret_cast<long>(&rec), sizeof rec);
  } while (n == -EINTR);
}

int RunReaper(void* raw) {
  const ReaperArgs reaper = *static_cast<const ReaperArgs*>(raw);
  ChildArgs* args = reaper.child;
  const int slot = reaper.slot;
  ::close(3);  // only init talks to the host
  if (g_sigchld_fd >= 0) ::close(g_sigchld_fd);
  StatusRecord rec;
  args->fail_step = InitStep::kNone;
  args->fail_errno = 0;
  pid_t pid = ::clone(CommandChild, g_child_stack + kChildStackSize,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, args);
  const int stdio_fds[3] = {args->stdin_fd, args->stdout_fd, args->stderr_fd};
  // The command has exec'd, or failed: copy what is needed, then let init go
  // on. From here the reaper must not write errno (init is running again).
  InitStep fail_step = pid < 0 ? InitStep::kClone : args->fail_step;
  int fail_errno = pid < 0 ? errno : args->fail_errno;
  int sandbox_pid = args->sandbox_pid;
  ReleaseStart(slot);
  // The command has its own copies of the pipes: the host sees end-of-file
  // on them as soon as the command and what it started are gone.
  for (int fd : stdio_fds) SyscallNoErrno(SYS_close, fd);
  if (fail_step != InitStep::kNone) {
    int st;
    if (pid > 0) {
      while (SyscallNoErrno(SYS_wait4, pid, reinterpret_cast<long>(&st), __WALL, 0) == -EINTR) {
      }
    }
    rec.type = MessageType::kFailed;
    rec.step = fail_step;
    rec.error = fail_errno;
    WriteStatusNoErrno(reaper.status_fd, rec);
    return 0;
  }
  if (reaper.report_start) {
    rec.type = MessageType::kStarted;
    rec.pid = sandbox_pid;
    WriteStatusNoErrno(reaper.status_fd, rec);
  }
  int status = 0;
  struct rusage ru = {};
  while (SyscallNoErrno(SYS_wait4, pid, reinterpret_cast<long>(&status), __WALL,
                        reinterpret_cast<long>(&ru)) == -EINTR) {
  }
  // Whatever the command left in the namespace is killed and reaped here,
  // before the report: as the namespace's pid 1, kill(-1) reaches every
  // other process in it (a fork racing with it fails, the kernel checks for
  // the pending SIGKILL), and every orphan is re-parented to this reaper.
  // Nothing of the exec is alive when the host reads "exited" but this
  // reaper, which exits next. (It used to leave the record to init, which
  // reported after reaping the reaper: one more wake-up on every exec's
  // critical path.)
  SyscallNoErrno(SYS_kill, -1, SIGKILL);
  for (;;) {
    long r = SyscallNoErrno(SYS_wait4, -1, 0, __WALL, 0);
    if (r == -EINTR || r > 0) continue;
    break;  // -ECHILD: no child left
  }
  rec.type = MessageType::kExited;
  rec.wait_status = status;
  rec.user_us = ru.ru_utime.tv_sec * 1000000ll + ru.ru_utime.tv_usec;
  rec.system_us = ru.ru_stime.tv_sec * 1000000ll + ru.ru_stime.tv_usec;
  rec.max_rss_kb = ru.ru_maxrss;
  WriteStatusNoErrno(reaper.status_fd, rec);
  // Exit code 0: "reported".
  return 0;
}

// Parses an exec request in g_message and starts it.
void HandleExec(const InitPlan& plan, size_t len, const int* fds) {
  StatusRecord rec;
  const auto* hdr = reinterpret_cast<const ExecHeader*>(g_message);
  int status_fd = fds[3];
  auto fail = [&](InitStep step, int err) {
    rec.type = MessageType::kFailed;
    rec.step = step;
    rec.error = err;
    WriteStatus(status_fd, rec);
  };
  if (len < sizeof(ExecHeader) || hdr->payload_len != len - sizeof(ExecHeader) || hdr->argc == 0 ||
      hdr->argc + hdr->envc + 1 > kMaxExecStrings) {
    fail(InitStep::kExec, EINVAL);
    return;
  }
  char* p = g_message + sizeof(ExecHeader);
  char* end = p + hdr->payload_len;
  uint32_t want = 1 + hdr->argc + hdr->envc;
  uint32_t got = 0;
  char** strings = g_strings;
  while (p < end && got < want) {
    strings[got++] = p;
    while (p < end && *p != '\0') ++p;
    if (p == end) break;
    ++p;
  }
  if (got != want || p != end || end[-1] != '\0') {
    fail(InitStep::kExec, EINVAL);
    return;
  }
  // Lay out: [cwd][argv...][NULL][envp...][NULL] in g_strings.
  char* cwd = strings[0];
  memmove(&strings[0], &strings[1], sizeof(char*) * (want - 1));
  char** argv = strings;
  // Shift env by one to make room for argv's NULL.
  memmove(&strings[hdr->argc + 1], &strings[hdr->argc], sizeof(char*) * hdr->envc);
  argv[hdr->argc] = nullptr;
  char** envp = &strings[hdr->argc + 1];
  envp[hdr->envc] = nullptr;

  int slot = -1;
  for (int i = 0; i < kMaxConcurrentExecs; ++i) {
    if (!g_slots[i].used) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    fail(InitStep::kClone, EAGAIN);
    return;
  }
  if (g_reaper_stacks[slot] == nullptr) {
    void* stack = ::mmap(nullptr, kReaperStackSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) {
      fail(InitStep::kClone, errno);
      return;
    }
    g_reaper_stacks[slot] = static_cast<char*>(stack);
  }
  ChildArgs& args = g_exec_args;
  args = ChildArgs{};
  args.plan = &plan;
  args.stdin_fd = fds[0];
  args.stdout_fd = fds[1];
  args.stderr_fd = fds[2];
  args.cwd = cwd;
  args.argv = argv;
  args.envp = envp;
  args.want_pid = (hdr->flags & kExecNoStartRecord) == 0;
  g_reaper_args[slot] = ReaperArgs{&args, status_fd, slot, (hdr->flags & kExecNoStartRecord) == 0};
  int reported_fd = ::dup(status_fd);
  if (reported_fd < 0) {
    fail(InitStep::kClone, errno);
    return;
  }
  g_start_pending[slot] = 1;
  pid_t reaper = ::clone(RunReaper, g_reaper_stacks[slot] + kReaperStackSize,
                         CLONE_VM | CLONE_NEWPID | CLONE_CHILD_CLEARTID | SIGCHLD,
                         &g_reaper_args[slot], nullptr, nullptr, &g_start_pending[slot]);
  if (reaper < 0) {
    g_start_pending[slot] = 0;
    fail(InitStep::kClone, errno);
    ::close(reported_fd);
    return;
  }
  g_slots[slot] = ExecSlot{true, hdr->exec_id, reaper, reported_fd};
  // The reaper is reading g_message and g_exec_args until its command has
  // started: wait for it before the next request overwrites them.
  while (__atomic_load_n(&g_start_pending[slot], __ATOMIC_ACQUIRE) != 0) {
    SyscallNoErrno(SYS_futex, reinterpret_cast<long>(&g_start_pending[slot]), FUTEX_WAIT, 1, 0);
  }
}

void ReapChildren() {
  for (;;) {
    int status = 0;
    struct rusage ru = {};
    pid_t pid = static_cast<pid_t>(RawSys(SYS_wait4, -1, reinterpret_cast<long>(&status),
                                          WNOHANG | __WALL, reinterpret_cast<long>(&ru)));
    if (pid <= 0) return;
    for (auto& s : g_slots) {
      if (s.used && s.pid == pid) {
        // Exit code 0: the reaper reported the command's end (or its start
        // failure) itself. Anything else (killed by a timeout or Kill):
        // report how the reaper ended. A reaper killed just after its report
        // gets a second record, which the host no longer reads.
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          StatusRecord rec;
          rec.type = MessageType::kExited;
          rec.wait_status = WIFSIGNALED(status) ? status : (127 << 8);
          rec.user_us = ru.ru_utime.tv_sec * 1000000ll + ru.ru_utime.tv_usec;
          rec.system_us = ru.ru_stime.tv_sec * 1000000ll + ru.ru_stime.tv_usec;
          rec.max_rss_kb = ru.ru_maxrss;
          WriteStatus(s.status_fd, rec);
        }
        ::close(s.status_fd);
        s.used = false;
        break;
      }
    }
  }
}

[[noreturn]] void Shutdown() {
  // Everything in the pid namespace dies with init anyway; kill first so
  // nothing runs while the namespace is being torn down.
  ::kill(-1, SIGKILL);
  _exit(0);
}

[[noreturn]] void ServeRequests(const InitPlan& plan, int sigchld_fd) {
  for (;;) {
    struct pollfd pfds[2] = {{3, POLLIN, 0}, {sigchld_fd, POLLIN, 0}};
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Shutdown();
    }
    if (pfds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (::read(sigchld_fd, &si, sizeof si) > 0) {
      }
      ReapChildren();
    }
    if (pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      struct iovec iov = {g_message, sizeof g_message};
      alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      ssize_t n = ::recvmsg(3, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Shutdown();  // the host went away
      int fds[4] = {-1, -1, -1, -1};
      int nfds = 0;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t i = 0; i < count; ++i) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (nfds < 4) {
              fds[nfds++] = fd;
            } else {
              ::close(fd);
            }
          }
        }
      }
      const auto* hdr = reinterpret_cast<const ControlHeader*>(g_message);
      bool valid = static_cast<size_t>(n) >= sizeof(ControlHeader) && hdr->magic == kProtocolMagic;
      if (valid && hdr->type == MessageType::kExec && nfds == 4 &&
          (msg.msg_flags & MSG_TRUNC) == 0) {
        HandleExec(plan, static_cast<size_t>(n), fds);
        // The environment may hold a secret (policy.secrets); the command has
        // its own copy now.
        ::explicit_bzero(g_message, static_cast<size_t>(n));
      } else if (valid && hdr->type == MessageType::kKill) {
        for (auto& s : g_slots) {
          if (s.used && s.exec_id == hdr->exec_id) ::kill(s.pid, SIGKILL);
        }
      } else if (valid && hdr->type == MessageType::kShutdown) {
        Shutdown();
      } else if (nfds == 4) {
        StatusRecord rec;
        rec.type = MessageType::kFailed;
        rec.step = InitStep::kExec;
        rec.error = (msg.msg_flags & MSG_TRUNC) ? E2BIG : EINVAL;
        WriteStatus(fds[3], rec);
      }
      for (int i = 0; i < nfds; ++i) ::close(fds[i]);
    }
  }
}

}  // namespace

const char* InitStepName(InitStep step) {
  switch (step) {
    case InitStep::kNone:
      return "none";
    case InitStep::kSync:
      return "sync";
    case InitStep::kCgroupNamespace:
      return "cgroup namespace";
    case InitStep::kMountPropagation:
      return "mount propagation";
    case InitStep::kMount:
      return "mount";
    case InitStep::kOpenSource:
      return "open bind source";
    case InitStep::kBuildRoot:
      return "build root";
    case InitStep::kPivotRoot:
      return "pivot_root";
    case InitStep::kReadOnlyRoot:
      return "read-only root";
    case InitStep::kHostname:
      return "hostname";
    case InitStep::kLoopback:
      return "loopback";
    case InitStep::kLandlock:
      return "landlock ruleset";
    case InitStep::kCanary:
      return "canary";
    case InitStep::kProbe:
      return "probe";
    case InitStep::kStdio:
      return "stdio";
    case InitStep::kRlimits:
      return "rlimits";
    case InitStep::kCapabilities:
      return "capabilities";
    case InitStep::kSetGroups:
      return "setgroups";
    case InitStep::kSetGid:
      return "setgid";
    case InitStep::kSetUid:
      return "setuid";
    case InitStep::kChdir:
      return "chdir";
    case InitStep::kNoNewPrivs:
      return "no_new_privs";
    case InitStep::kLandlockRestrict:
      return "landlock_restrict_self";
    case InitStep::kCloseFds:
      return "close fds";
    case InitStep::kSeccomp:
      return "seccomp";
    case InitStep::kExec:
      return "exec";
    case InitStep::kClone:
      return "clone";
    case InitStep::kCgroupAttach:
      return "cgroup attach";
    case InitStep::kIpcNamespace:
      return "ipc namespace";
    case InitStep::kUtsNamespace:
      return "uts namespace";
  }
  return "unknown";
}

const char* InitPhaseName(InitPhase phase) {
  switch (phase) {
    case InitPhase::kRoot:
      return "init.root";
    case InitPhase::kPivot:
      return "init.pivot";
    case InitPhase::kNamespaces:
      return "init.namespaces";
    case InitPhase::kLandlock:
      return "init.landlock";
    case InitPhase::kSeccomp:
      return "init.seccomp";
    case InitPhase::kProbe:
      return "init.probe";
    case InitPhase::kCount:
      break;
  }
  return "init.unknown";
}

namespace {

// Times init's set-up phases for the READY report (clock_gettime is a vDSO
// call: no syscall, nothing for init's seccomp filter to allow).
class PhaseClock {
 public:
  PhaseClock() : last_(NowUs()) {}
  void Mark(SetupReply* reply, InitPhase phase) {
    const int64_t now = NowUs();
    reply->phase_us[static_cast<int>(phase)] = static_cast<uint32_t>(now - last_);
    last_ = now;
  }

 private:
  static int64_t NowUs() {
    struct timespec ts = {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  }
  int64_t last_;
};

int64_t MonotonicNs() {
  struct timespec ts = {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Builds the root tmpfs (see RunInit). Runs as a CLONE_VM child of init.
int BuildRootChild(void* arg) {
  const InitPlan& plan = *static_cast<const InitPlan*>(arg);
  // Files are created as the sandbox user: it is mapped in the user
  // namespace (init's own uid is not), and a tmpfs refuses files whose owner
  // it cannot represent. Capabilities stay: the uid was never root inside the
  // namespace, so the kernel's setuid emulation does not apply.
  if (RawSys(SYS_setfsgid, plan.gid) < 0 || RawSys(SYS_setfsuid, plan.uid) < 0) {
    // No setfsuid (gVisor): this child ends once the tree is built, so it may
    // switch all its ids instead; capabilities stay for the same reason.
    if (errno != ENOSYS || RawSys(SYS_setresgid, plan.gid, plan.gid, plan.gid) < 0 ||
        RawSys(SYS_setresuid, plan.uid, plan.uid, plan.uid) < 0) {
      SendSetupFailure(plan, InitStep::kBuildRoot, errno, "setfsuid");
    }
  }
  if (::mount("tmpfs", plan.mount_base, "tmpfs", MS_NOSUID | MS_NODEV, plan.root_tmpfs_options) !=
      0) {
    SendSetupFailure(plan, InitStep::kMount, errno, plan.mount_base);
  }
  BuildRoot(plan);
  if (plan.read_only_root &&
      SetMountAttributes(plan.mount_base, /*recursive=*/false,
                         MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) != 0) {
    SendSetupFailure(plan, InitStep::kReadOnlyRoot, errno, plan.mount_base);
  }
  _exit(0);
}

}  // namespace

[[noreturn]] void RunInit(const InitPlan& plan) {
  // fd hygiene first: keep only the control socket, as fd 3, and point
  // stdio at /dev/null so nothing init does can reach the host's terminal.
  if (plan.control_fd != 3) {
    if (::dup3(plan.control_fd, 3, O_CLOEXEC) < 0) _exit(1);
  }
  RawSys(SYS_close_range, 4, ~0U, 0);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 3) ::close(devnull);
  }
  // Default dispositions (the host may have installed handlers that make no
  // sense here), SIGPIPE ignored so a vanished reader cannot kill init.
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::signal(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
  }
  ::umask(0);

  // Wait until the host has written our uid/gid maps. EOF means the host
  // gave up.
  // On cgroup v1 the go carries the `tasks` file of each hierarchy: init
  // moves into the sandbox's cgroup before it makes any child. Writing "0"
  // moves only the writer and, unlike the host writing our pid, does not
  // wait out an RCU grace period in the kernel.
  char go = 0;
  struct iovec go_iov = {&go, 1};
  alignas(struct cmsghdr) char go_cbuf[CMSG_SPACE(sizeof(int) * kMaxGoFds)];
  struct msghdr go_msg = {};
  go_msg.msg_iov = &go_iov;
  go_msg.msg_iovlen = 1;
  go_msg.msg_control = go_cbuf;
  go_msg.msg_controllen = sizeof go_cbuf;
  if (::recvmsg(3, &go_msg, MSG_CMSG_CLOEXEC) != 1) _exit(1);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&go_msg); c != nullptr; c = CMSG_NXTHDR(&go_msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int first_task = 0;
    if (go == kGoWithTemplate && count > 0) {
      memcpy(&g_root_template_fd, CMSG_DATA(c), sizeof(int));
      first_task = 1;
    }
    int failed = -1;
    int failed_errno = 0;
    for (int i = first_task; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (failed < 0 && ::write(fd, "0", 1) != 1) {
        failed = i - first_task;
        failed_errno = errno;
      }
      ::close(fd);
    }
    if (failed >= 0) {
      char index[12];
      int n = 0;
      do {
        index[n++] = static_cast<char>('0' + failed % 10);
        failed /= 10;
      } while (failed > 0 && n < 11);
      char detail[12];
      for (int k = 0; k < n; ++k) detail[k] = index[n - 1 - k];
      detail[n] = '\0';
      SendSetupFailure(plan, InitStep::kCgroupAttach, failed_errno, detail);
    }
  }
  SetupReply reply;
  reply.type = MessageType::kReady;
  reply.go_read_ns = MonotonicNs();
  PhaseClock clock;
  // Init holds a copy of the host's memory: from now on /proc/<init>/* is
  // unreadable (the host needed it only for the id maps). Namespace evidence
  // is therefore gathered by init itself, below.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  const pid_t ns_helper = StartNamespaceHelper(plan);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    const int err = errno;
    // Refused, but nothing propagates anyway (inside gVisor): not a failure.
    if (err != EPERM || !AllMountsPrivate()) {
      SendSetupFailure(plan, InitStep::kMountPropagation, err, "/");
    }
  }
  void* stack = ::mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) SendSetupFailure(plan, InitStep::kClone, errno, "stack");
  g_child_stack = static_cast<char*>(stack);
  // The root template's clone, when the host sent one: moved to the mount
  // base whole, it replaces every step it holds. Should the move fail, the
  // root is built step by step below as if there were none (the host reads
  // which way it went in READY).
  if (g_root_template_fd >= 0) {
    if (RawSys(SYS_move_mount, g_root_template_fd, reinterpret_cast<long>(""), AT_FDCWD,
               reinterpret_cast<long>(plan.mount_base), MOVE_MOUNT_F_EMPTY_PATH) == 0) {
      g_root_from_template = true;
    }
    ::close(g_root_template_fd);
    g_root_template_fd = -1;
  }
  reply.probe.root_from_template = g_root_from_template;
  OpenSources(plan);
  int builder_status = 0;
  if (g_root_from_template) {
    // What is left are mounts over mount points the template already has
    // (tmpfs /tmp, /proc, writable binds, masks): no file is created, so
    // init makes them itself, without a builder of its own fs uid.
    BuildRoot(plan);
    if (plan.read_only_root &&
        SetMountAttributes(plan.mount_base, /*recursive=*/false,
                           MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) != 0) {
      SendSetupFailure(plan, InitStep::kReadOnlyRoot, errno, plan.mount_base);
    }
  } else {
    // The tree is built by a child with credentials of its own (CLONE_VM, so
    // it shares nothing it could not share; no CLONE_FS/FILES). It switches
    // its fs uid to the sandbox user, which a tmpfs needs to own the files it
    // creates; init's own fs uid must stay as it is, so that commands can
    // still raise their /proc/self/oom_score_adj (see CommandChild).
    pid_t builder = ::clone(BuildRootChild, g_child_stack + kChildStackSize,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<InitPlan*>(&plan));
    if (builder < 0) SendSetupFailure(plan, InitStep::kBuildRoot, errno, "clone");
    while (::waitpid(builder, &builder_status, __WALL) < 0 && errno == EINTR) {
    }
  }
  // Secrets written into the root (policy.secrets, kFile) leave init's copy
  // of the plan now, before any command is forked from it.
  for (int i = 0; i < plan.root_step_count; ++i) {
    if (plan.root_steps[i].secret && plan.root_steps[i].data_len > 0) {
      ::explicit_bzero(const_cast<char*>(plan.root_steps[i].data), plan.root_steps[i].data_len);
    }
  }
  // A failed builder has already reported why.
  if (!WIFEXITED(builder_status) || WEXITSTATUS(builder_status) != 0) _exit(1);
  // (BuildRoot closed them when init ran it itself.)
  if (!g_root_from_template) {
    for (int i = 0; i < plan.root_step_count; ++i) {
      if (g_source_fds[i] >= 0) ::close(g_source_fds[i]);
    }
  }
  clock.Mark(&reply, InitPhase::kRoot);
  if (::chdir(plan.mount_base) != 0) {
    SendSetupFailure(plan, InitStep::kPivotRoot, errno, "chdir");
  }
  if (RawSys(SYS_pivot_root, reinterpret_cast<long>("."), reinterpret_cast<long>(".")) != 0) {
    SendSetupFailure(plan, InitStep::kPivotRoot, errno, plan.mount_base);
  }
  const pid_t detacher = StartOldRootDetacher(plan);
  if (::chdir("/") != 0) SendSetupFailure(plan, InitStep::kPivotRoot, errno, "chdir /");
  clock.Mark(&reply, InitPhase::kPivot);
  // While the detacher and the namespace helper finish: work that needs
  // neither the final namespaces nor the old root gone. (The bounding set
  // only limits what an execve can gain, and init never execs; the ruleset
  // is built here but enforced only by each command on itself.)
  DropBoundingSet(plan);
  if (plan.landlock) BuildLandlock(plan);
  clock.Mark(&reply, InitPhase::kLandlock);
  JoinNamespaces(plan, ns_helper);
  // In the UTS namespace just joined (never before: it would be the host's).
  if (plan.hostname != nullptr && ::sethostname(plan.hostname, Strlen(plan.hostname)) != 0) {
    SendSetupFailure(plan, InitStep::kHostname, errno, plan.hostname);
  }
  // With a namespace of its own the helper has brought its loopback up.
  if (plan.bring_up_loopback && !plan.new_netns) BringUpLoopback(plan);
  // (In the network namespace just joined: abstract sockets belong to one.)
  if (plan.abstract_canary != nullptr) OpenAbstractCanary(plan);
  WaitOldRootDetacher(plan, detacher);
  clock.Mark(&reply, InitPhase::kNamespaces);

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sigchld_fd = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  g_sigchld_fd = sigchld_fd;
  if (sigchld_fd < 0) SendSetupFailure(plan, InitStep::kSync, errno, "signalfd");

  ReportNamespaces(&reply.probe);
  InstallInitFilter(plan);
  clock.Mark(&reply, InitPhase::kSeccomp);
  RunProbeChild(plan, &reply.probe);
  clock.Mark(&reply, InitPhase::kProbe);
  // Opened after the probe, so the probe's fd count does not see it; closed
  // once sent, so no command inherits it.
  int proxy_fd = plan.proxy_port != 0 ? OpenProxySocket(plan) : -1;
  struct iovec iov = {&reply, sizeof reply};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (proxy_fd >= 0) {
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &proxy_fd, sizeof(int));
  }
  reply.ready_sent_ns = MonotonicNs();
  if (::sendmsg(3, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof reply)) _exit(1);
  if (proxy_fd >= 0) ::close(proxy_fd);
  ServeRequests(plan, sigchld_fd);
}

}  // namespace kavach::internal
