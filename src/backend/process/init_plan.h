// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// InitPlan: everything the sandbox's init process needs, prepared by the host
// before clone3 and inherited by the child as a copy of the host's memory.
//
// Why plain arrays of C strings: init runs in a child of a possibly
// multi-threaded host that was created with a raw clone3 (glibc's fork
// handlers do not run), and each command is started from init with
// clone(CLONE_VM | CLONE_VFORK). Neither may allocate or take a lock, so all
// the data they touch is built here, up front, and only read afterwards.
#ifndef KAVACH_BACKEND_PROCESS_INIT_PLAN_H_
#define KAVACH_BACKEND_PROCESS_INIT_PLAN_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>

namespace kavach::internal {

// How init builds the sandbox's root: a fresh tmpfs, filled by these steps
// in order. Targets are absolute paths inside the sandbox ("/usr"). Building
// the tree inside a tmpfs (rather than on a host directory) matters: a host
// dentry that was a mount point in a dead namespace costs an RCU grace
// period to remove, several milliseconds per directory at Destroy.
enum class RootStepKind : uint8_t {
  kDir,            // mkdir -p target, `mode`
  kFile,           // create target with `data` (data_len bytes), `mode`
  kSymlink,        // symlink target -> data
  kBindReadOnly,   // bind source (recursive), read-only, nosuid, nodev
  kBindReadWrite,  // bind source (recursive), nosuid, nodev
  kBindDevice,     // bind of a device node (nosuid, noexec)
  kTmpfs,          // fresh tmpfs (nosuid, nodev), options in `data`
  kProc,           // fresh procfs for the sandbox's pid namespace
  kMaskTmpfs,      // empty read-only tmpfs over a hidden directory
  kMaskFile,       // /dev/null bound read-only over a hidden file
};

struct RootStep {
  RootStepKind kind;
  const char* source;  // host path (binds); opened before the root is built
  const char* target;  // inside path
  const char* data;    // file content, symlink target or mount options
  size_t data_len;
  uint32_t mode;
  bool optional;  // binds: skip when the source is missing
  // kFile with a secret as `data`: init wipes the bytes once the root is built.
  bool secret = false;
  // Already in the root template init moves in (see root_template.h): init
  // skips the step.
  bool in_template = false;
};

// One Landlock path rule, with the path as seen inside after pivot_root.
struct LandlockPathStep {
  const char* path;
  uint64_t access;
  bool optional;  // skip when the path is missing inside
};

// Steps init reports on failure, mapped by the host to the control's name.
enum class InitStep : uint32_t {
  kNone = 0,
  kSync,
  kCgroupNamespace,
  kMountPropagation,
  kMount,
  kOpenSource,
  kBuildRoot,
  kPivotRoot,
  kReadOnlyRoot,
  kHostname,
  kLoopback,
  kLandlock,
  kCanary,
  kProbe,
  // Command-side steps (in the exec child).
  kStdio,
  kRlimits,
  kCapabilities,
  kSetGroups,
  kSetGid,
  kSetUid,
  kChdir,
  kNoNewPrivs,
  kLandlockRestrict,
  kCloseFds,
  kSeccomp,
  kExec,
  kClone,
  kCgroupAttach,  // init moving itself into a v1 hierarchy
  kIpcNamespace,  // made by init's namespace helper
  kUtsNamespace,
};
const char* InitStepName(InitStep step);

inline constexpr int kMaxCgroupHierarchies = 16;
// The most root steps init takes (it keeps an fd per step's source).
inline constexpr int kMaxRootSteps = 1024;
// The most Landlock path rules init takes.
inline constexpr int kMaxLandlockPaths = 1024;

struct InitPlan {
  // Control socket (SOCK_SEQPACKET) to the host.
  int control_fd = -1;

  // (cgroup v1: the `tasks` file of each hierarchy comes with the host's
  // "go", SCM_RIGHTS; init writes "0" to each before it makes any child.)

  // File system.
  // An existing host directory the root tmpfs is mounted over (in init's
  // private mount namespace only), then pivoted into.
  const char* mount_base = nullptr;
  const char* root_tmpfs_options = nullptr;
  const RootStep* root_steps = nullptr;
  int root_step_count = 0;
  bool read_only_root = false;
  const char* hostname = nullptr;
  bool bring_up_loopback = false;
  // A network namespace of its own (every mode but host). Not made by the
  // host's clone: a helper of init unshares it while init builds the root,
  // and init joins it before loopback, Landlock and the probe (see
  // StartNetnsHelper in init.cc).
  bool new_netns = false;
  // Network mode proxy: init listens on 127.0.0.1:proxy_port inside the
  // sandbox's network namespace and hands the socket to the host with READY
  // (SCM_RIGHTS); the host's egress proxy accepts on it. 0: none.
  uint16_t proxy_port = 0;

  // Landlock (built inside, after pivot_root, since /proc and the tmpfs
  // mounts only exist there).
  bool landlock = false;
  int landlock_abi = 0;
  uint64_t landlock_handled_fs = 0;
  uint64_t landlock_handled_net = 0;
  uint64_t landlock_scoped = 0;
  const LandlockPathStep* landlock_paths = nullptr;
  int landlock_path_count = 0;
  const uint16_t* bind_ports = nullptr;
  int bind_port_count = 0;
  const uint16_t* connect_ports = nullptr;
  int connect_port_count = 0;
  // Paths used by the probe to verify enforcement.
  const char* landlock_canary = nullptr;  // inside path denied by the ruleset
  const char* abstract_canary = nullptr;  // abstract socket name (no leading NUL)
  uint16_t denied_bind_port = 0;          // a port the ruleset does not allow binding
  uint16_t denied_connect_port = 0;       // a port the ruleset does not allow connecting to

  // Init's part of the seccomp profile (SeccompPart::kInit), installed in
  // init before the probe and inherited by every command; null: none.
  const sock_fprog* seccomp_init = nullptr;

  // Command side.
  const sock_fprog* seccomp = nullptr;  // null: no filter (with seccomp_init: the command part)
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool can_setgroups = false;  // false when setgroups is "deny" (unprivileged host)
  int last_capability = 40;
  uint64_t rlimit_nofile = 0;  // 0: leave as is
  uint64_t rlimit_fsize = 0;
  uint64_t host_root_dev = 0;  // to prove the pivot happened
  uint64_t host_root_ino = 0;
};

// What the probe child saw after applying every command-side control, right
// where a command would have been exec'd. Sent to the host in the READY
// message and turned into evidence.
// Namespaces reported in ProbeReport::ns_inode, in this order.
inline constexpr int kNamespaceCount = 7;
inline constexpr const char* kNamespaceNames[kNamespaceCount] = {"user", "pid",    "mnt", "ipc",
                                                                 "uts",  "cgroup", "net"};

struct ProbeReport {
  // Init's namespaces and network interfaces (read by init: once init is
  // non-dumpable, an unprivileged host cannot read /proc/<init>/ns).
  uint64_t ns_inode[kNamespaceCount] = {};
  int32_t interface_count = -1;
  int32_t only_loopback = -1;
  char interfaces[64] = {};
  int32_t seccomp_mode = -1;     // "Seccomp:" in /proc/self/status
  int32_t seccomp_filters = -1;  // "Seccomp_filters:"
  int32_t no_new_privs = -1;
  uint64_t cap_eff = ~0ull;
  uint64_t cap_prm = ~0ull;
  uint64_t cap_bnd = ~0ull;
  uint64_t cap_amb = ~0ull;
  int32_t uid = -1;  // real uid inside
  int32_t gid = -1;
  int32_t root_is_read_only = -1;
  int32_t root_differs_from_host = -1;
  int32_t landlock_restricted = -1;    // restrict_self returned 0
  int32_t landlock_canary_errno = -1;  // errno of opening the canary (EACCES expected)
  int32_t abstract_canary_errno = -1;  // errno of connecting (EPERM expected)
  int32_t bind_canary_errno = -1;      // errno of binding the denied port (EACCES expected)
  int32_t connect_canary_errno = -1;   // errno of connecting to it (EACCES expected)
  int32_t open_fds_above_stderr = -1;  // count of fds > 2
  uint64_t rlimit_nofile = 0;
  uint64_t rlimit_fsize = 0;
  int32_t root_from_template = 0;  // init moved the root template's clone in
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_INIT_PLAN_H_
