// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Cgroup: one cgroup per sandbox, on cgroup v2 or v1, with limits that are
// verified to be in force, stats, freeze/thaw and a kill that leaves nothing.
//
//   CgroupLimits limits;
//   limits.memory_bytes = 64 << 20;
//   limits.max_pids = 16;
//   limits.cpu_cores = 0.5;
//   absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), limits);
//   if (!cg.ok()) return cg.status();  // FailedPrecondition "cgroup.memory: ..." etc.
//   // Either start the child straight into it (v2 only):
//   //   clone3 with CLONE_INTO_CGROUP and cgroup = (*cg)->v2_fd()
//   // or move it in after fork, before it execs anything untrusted:
//   RETURN_IF_ERROR((*cg)->AddProcess(pid));
//   absl::StatusOr<CgroupLimits> in_force = (*cg)->ReadBackLimits();  // evidence
//   ...
//   (*cg)->Destroy();  // kills everything inside and removes every directory
//
// Where it lives. On v2 the cgroup is <parent>/<name> with <parent> = "kavach"
// below our own cgroup, or at the top of the hierarchy when our own cgroup
// cannot hold children with controllers (see Create()). On v1 it is
// <own cgroup>/kavach/<name> in each of the memory, pids, cpu, cpuacct and
// freezer hierarchies that exist. The "kavach" parent is made once and kept
// (an empty directory; Destroy() removes only the sandbox's own). Names from
// MakeCgroupName() start with the owner's pid so that RemoveStaleCgroups() can
// clean up after a crashed run.
//
// Fail closed: a limit that is asked for and cannot be applied is an error
// naming the control ("cgroup.memory", "cgroup.pids", "cgroup.cpu",
// "cgroup.freezer"), never a warning. Not thread-safe: one owner drives it.
#ifndef KAVACH_LINUX_CGROUP_H_
#define KAVACH_LINUX_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "linux/cgroup_host.h"
#include "linux/unique_fd.h"

namespace kavach::sys {

struct CgroupLimits {
  // Hard memory limit (v2 memory.max, v1 memory.limit_in_bytes); swap is
  // disabled with it where the kernel accounts swap. The kernel rounds down
  // to whole pages.
  std::optional<uint64_t> memory_bytes;
  // CPU bandwidth in cores (0.5 = half a CPU): quota over a 100 ms period
  // (a 1 s period for less than 0.01 cores).
  std::optional<double> cpu_cores;
  // Relative CPU weight on the v2 scale 1..10000 (default 100); on v1 it
  // becomes cpu.shares = weight * 1024 / 100.
  std::optional<uint32_t> cpu_weight;
  // Maximum number of tasks (processes and threads), >= 1.
  std::optional<uint32_t> max_pids;

  friend bool operator==(const CgroupLimits&, const CgroupLimits&) = default;
};

enum class CgroupVersion { kV1, kV2 };

struct CgroupOptions {
  enum class Version {
    kAuto,  // v2 on a v2 host; on a hybrid host v2 only if it offers memory,
            // pids and cpu, else v1 (which there has the controllers and stats)
    kV1,
    kV2,
  };
  Version version = Version::kAuto;
  // Directory that groups our cgroups (the same name is used in every
  // hierarchy).
  std::string parent = "kavach";
  // The layout to use; detected from /proc when unset.
  std::optional<CgroupLayout> layout;
  // KillAll() uses v2 cgroup.kill when present. false forces the
  // freeze/SIGKILL/thaw loop that older kernels and v1 need (tests use it).
  bool use_cgroup_kill = true;
  // v1: also join the cpuacct hierarchy, for CpuTime(). Where it is mounted
  // apart from cpu, that is one more directory to make, join and remove per
  // cgroup; it limits nothing. false: CpuTime() is FailedPrecondition on v1.
  bool cpu_accounting = true;
  // How long Freeze/Thaw/KillAll/Destroy wait for the kernel to settle.
  absl::Duration settle_timeout = absl::Seconds(10);
};

class Cgroup final {
 public:
  // Creates the cgroup `name` (a single path component; MakeCgroupName() makes
  // one) and writes `limits`. Errors:
  //   InvalidArgument  bad name or limit value ("cgroup.cpu: cpu_cores ...");
  //   FailedPrecondition  a requested controller is not available or not
  //     delegated to us ("cgroup.memory: ..."), or no cgroup fs is mounted;
  //   PermissionDenied  the hierarchy is not writable by us;
  //   AlreadyExists  `name` exists.
  // On error nothing is left behind.
  //
  // v2 placement: controllers can only be enabled for children of a cgroup
  // that has no processes of its own (the "no internal processes" rule; the
  // root cgroup is exempt). So the parent "kavach" goes below our own cgroup
  // when that cgroup is the root, already delegates the needed controllers,
  // or holds no processes; otherwise (not as root) below the nearest cgroup
  // above ours that is delegated to us (it and its cgroup.subtree_control
  // owned by our euid, as systemd delegates to a user: our processes in a
  // leaf of the delegation); otherwise, if we may write the top of the
  // hierarchy (we are root), at <mount>/kavach. We never move our own process
  // to make room: the caller's cgroup belongs to whoever started it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Cgroup>> Create(
      std::string_view name, const CgroupLimits& limits, const CgroupOptions& options = {});

  // Kills every process inside and removes the directories (errors ignored;
  // call Destroy() to see them).
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  Cgroup(Cgroup&&) = delete;
  Cgroup& operator=(Cgroup&&) = delete;

  CgroupVersion version() const { return version_; }
  const std::string& name() const { return name_; }
  // An O_DIRECTORY fd of the v2 cgroup, for clone3(CLONE_INTO_CGROUP); -1 on
  // v1 and after Destroy().
  int v2_fd() const { return v2_fd_.get(); }
  // Every directory of this cgroup (one on v2, one per hierarchy on v1).
  std::vector<std::string> paths() const { return dirs_; }
  // The directory holding `controller`'s files ("" if it is not joined).
  std::string DirFor(std::string_view controller) const;

  // Moves `pid` (a whole process) into the cgroup in every hierarchy.
  [[nodiscard]] absl::Status AddProcess(pid_t pid);

  // v1 only: the `tasks` file of every hierarchy, opened for writing. A
  // single-threaded process that writes "0" to each moves itself in without
  // the RCU grace period that AddProcess (cgroup.procs, or another task's
  // pid) waits for in the kernel: the global threadgroup lock is skipped when
  // a thread moves only itself. The permission check uses the credentials
  // these files were opened with. FailedPrecondition on v2.
  [[nodiscard]] absl::StatusOr<std::vector<UniqueFd>> OpenV1SelfAttachFiles() const;

  // Reads the limits back from the kernel files: what is really in force.
  // A field is empty when the file says "unlimited" or the controller is not
  // joined; cpu_weight reports the default (100) when none was set.
  [[nodiscard]] absl::StatusOr<CgroupLimits> ReadBackLimits() const;

  // Stats. FailedPrecondition names the control when its controller or file
  // is missing.
  // Processes the kernel OOM-killed in this cgroup (v2 memory.events
  // oom_kill; v1 memory.oom_control oom_kill).
  [[nodiscard]] absl::StatusOr<uint64_t> OomKillCount() const;
  // Highest memory use (v2 memory.peak, or memory.current on kernels before
  // 5.19; v1 memory.max_usage_in_bytes).
  [[nodiscard]] absl::StatusOr<uint64_t> PeakMemoryBytes() const;
  // Restarts the peak at the current use (v1; v2 from kernel 6.12, where the
  // reset is kept on a file descriptor this object holds).
  [[nodiscard]] absl::Status ResetPeak();
  // CPU time used by everything that ran in it (v2 cpu.stat usage_usec; v1
  // cpuacct.usage, with CgroupOptions::cpu_accounting).
  [[nodiscard]] absl::StatusOr<absl::Duration> CpuTime() const;
  // Processes in it and its sub-cgroups, sorted.
  [[nodiscard]] absl::StatusOr<std::vector<pid_t>> Pids() const;
  // Tasks charged to the pids controller (pids.current).
  [[nodiscard]] absl::StatusOr<uint64_t> PidsCurrent() const;

  // Freezes every process and waits until the kernel reports it frozen
  // (v2 cgroup.freeze + cgroup.events; v1 freezer.state). FailedPrecondition
  // "cgroup.freezer: ..." when there is no freezer; DeadlineExceeded if it
  // does not settle within settle_timeout.
  [[nodiscard]] absl::Status Freeze();
  [[nodiscard]] absl::Status Thaw();
  // Thaw() unless one read shows the cgroup is neither frozen nor freezing
  // (v1 freezer.state THAWED, v2 cgroup.freeze 0): what a teardown needs
  // before killing, at a kernfs read instead of a write, a read and the
  // freezer walking the cgroup's tasks. OK when there is no freezer.
  [[nodiscard]] absl::Status ThawIfFrozen();
  [[nodiscard]] absl::StatusOr<bool> IsFrozen() const;

  // SIGKILLs every process inside and waits until it is empty: v2 cgroup.kill
  // when present, else rounds of freeze, SIGKILL every pid, thaw (a frozen
  // cgroup cannot fork, so no child escapes between listing and killing).
  // Internal error listing the survivors if some remain.
  [[nodiscard]] absl::Status KillAll();

  // KillAll(), then removes every directory (sub-cgroups first). The shared
  // parent ("kavach") stays for the next cgroup. Idempotent.
  [[nodiscard]] absl::Status Destroy();

 private:
  Cgroup() = default;

  absl::StatusOr<std::vector<pid_t>> PidsIn(const std::vector<std::string>& dirs) const;
  // True when one read of a hierarchical counter shows no task anywhere in
  // the tree (v2 cgroup.events "populated 0", v1 pids.current 0); false when
  // it shows some or cannot tell. Lets Destroy() skip the per-directory
  // cgroup.procs walk in the common case of a sandbox whose init was reaped.
  bool KnownEmpty() const;
  absl::Status WaitEmpty();
  absl::Status KillLoop();

  CgroupVersion version_ = CgroupVersion::kV2;
  std::string name_;
  std::vector<std::string> dirs_;               // leaf directories we created
  std::map<std::string, std::string> dir_for_;  // controller -> directory
  UniqueFd v2_fd_;
  UniqueFd peak_fd_;  // v2 memory.peak held open after ResetPeak()
  mutable absl::Mutex oom_mu_;
  mutable UniqueFd oom_fd_;  // memory.events / memory.oom_control, opened on first read
  bool use_cgroup_kill_ = true;
  absl::Duration settle_timeout_ = absl::Seconds(10);
  bool destroyed_ = false;
  bool froze_ = false;  // Freeze() was called (v1: Destroy() thaws only then)
};

// "<pid>-<sequence>-<random hex>": unique on this host, owner pid first.
std::string MakeCgroupName();

// Removes cgroups left by crashed runs below every `parent` directory of the
// layout: those whose name starts with the pid of a process that no longer
// exists (processes still inside are killed first). Cgroups of live owners
// are kept even when empty, since an owner may be between Create() and
// AddProcess(). Pids are read in our pid namespace: run it from the namespace
// the owners ran in. Returns how many directories were removed.
[[nodiscard]] absl::StatusOr<int> RemoveStaleCgroups(const CgroupLayout& layout,
                                                     std::string_view parent = "kavach");
[[nodiscard]] absl::StatusOr<int> RemoveStaleCgroups(std::string_view parent = "kavach");

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_CGROUP_H_
