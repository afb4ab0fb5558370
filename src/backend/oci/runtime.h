// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Runs an OCI runtime (crun or runc) as a child with pipes, a deadline and
// output caps.
//
//   absl::StatusOr<OciRuntime> rt = ResolveOciRuntime("crun", "/tmp/state");
//   absl::StatusOr<RuntimeOutput> out = RunRuntime(*rt, {"list"});
//
// The runtime always gets `--root <state_root>`, so it never sees other
// users' containers. crun 1.8 refuses a hybrid cgroup host whose cgroup2 mount
// (/sys/fs/cgroup/unified) carries no v1 controller; for crun the child first
// enters a private mount namespace and detaches that mount, which leaves the
// host untouched and lets crun use the v1 hierarchies.
#ifndef KAVACH_BACKEND_OCI_RUNTIME_H_
#define KAVACH_BACKEND_OCI_RUNTIME_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

struct OciRuntime {
  std::string name;        // "crun" | "runc"
  std::string path;        // absolute path of the binary
  std::string state_root;  // passed as --root
  // crun on a hybrid host: detach /sys/fs/cgroup/unified in a private mount
  // namespace before exec (see the file comment).
  bool detach_unified_cgroup = false;
  // Flags after --root on every call (runsc reads its configuration, e.g.
  // --platform and --network, from each invocation's flags).
  std::vector<std::string> global_args;
  // runsc: start it holding /dev/null at a high fd (FdTableHeadroomFd). Its
  // gofer and sandbox are multithreaded Go processes that open a few hundred
  // fds while a container starts, and each time the kernel doubles a shared
  // fd table (64, 128, 256, 512 slots) it waits for an RCU grace period
  // (expand_fdtable -> synchronize_rcu). An open fd at 1023, inherited by
  // both, makes their tables that large from the fork: runsc's start phase
  // measured 70-84 ms without it, 24-36 ms with it (perf trace of runsc's
  // state writes, 9 alternating runs each, loaded 2-core host). The fd is
  // /dev/null, read-only, and gVisor's commands never see host fds.
  bool fd_table_headroom = false;
};

// $KAVACH_OCI_RUNTIME when set ("crun" or "runc"), else "crun".
std::string OciRuntimeNameFromEnv();

// Finds `name` in PATH and (with `run_version`) checks that `<name> --version`
// runs. NotFound / Unavailable with the reason; InvalidArgument for a name
// other than crun or runc.
absl::StatusOr<OciRuntime> ResolveOciRuntime(std::string_view name, std::string state_root,
                                             bool run_version = true);

// True when /sys/fs/cgroup/unified is a cgroup2 mount without any of the
// memory, pids or cpu controllers (the hybrid layout crun 1.8 refuses).
bool HostHasControllerlessUnifiedCgroup();

struct RuntimeOutput {
  int exit_code = -1;
  int signal = 0;
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
  bool timed_out = false;
  absl::Duration wall;
  absl::Duration cpu;          // user + system of the child and its reaped tree
  uint64_t max_rss_bytes = 0;  // largest resident set in that tree
};

struct CollectOptions {
  std::optional<std::string> stdin_data;  // written, then EOF; none: /dev/null
  absl::Duration timeout = absl::Seconds(30);
  uint64_t max_output_bytes = 1 << 20;  // per stream
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
  // Called once when the deadline passes, before the child's process group
  // is SIGKILLed: the place to kill what the runtime started inside.
  std::function<void()> on_timeout;
};

// One running runtime invocation, in its own process group. With
// `null_stdio` its stdin, stdout and stderr are /dev/null (for `create`,
// whose container process keeps the runtime's stdio open).
class RuntimeChild final {
 public:
  static absl::StatusOr<std::unique_ptr<RuntimeChild>> Start(const OciRuntime& runtime,
                                                             const std::vector<std::string>& args,
                                                             bool with_stdin,
                                                             bool null_stdio = false);
  ~RuntimeChild();  // SIGKILLs the group and reaps when still running
  RuntimeChild(const RuntimeChild&) = delete;
  RuntimeChild& operator=(const RuntimeChild&) = delete;

  pid_t pid() const { return pid_; }
  // Pumps stdin/stdout/stderr until both outputs close and the child exits
  // (or the deadline passes). Call once.
  absl::StatusOr<RuntimeOutput> Collect(const CollectOptions& options);
  // SIGKILLs the child's process group.
  void KillGroup();
  // Reads stderr until it holds one frame "<magic><length>\n<length bytes>"
  // and returns those bytes (a report of kavach-oci-probe). What stderr
  // carried around the frame is kept and delivered first by Collect.
  // Unavailable, with what the runtime said, when stderr closes first;
  // DeadlineExceeded after `timeout`.
  absl::StatusOr<std::string> ReadStderrFrame(std::string_view magic, absl::Duration timeout);
  // Restarts the clock that Collect's timeout and wall time count from (a
  // runtime started ahead of the command it will run).
  void ResetClock() { started_ = absl::Now(); }

 private:
  RuntimeChild() = default;
  pid_t pid_ = -1;
  std::string runtime_name_;
  bool reaped_ = false;
  absl::Time started_;
  sys::UniqueFd stdin_;
  sys::UniqueFd stdout_;
  sys::UniqueFd stderr_;
  std::string stderr_pending_;  // read by ReadStderrFrame, not yet collected
};

// Runs `args` to completion (no stdin, 1 MiB caps).
absl::StatusOr<RuntimeOutput> RunRuntime(const OciRuntime& runtime,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout = absl::Seconds(30));
// As RunRuntime, and an error holding the runtime's stderr unless it exits 0.
absl::Status RunRuntimeOk(const OciRuntime& runtime, const std::vector<std::string>& args,
                          absl::Duration timeout = absl::Seconds(30));

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_OCI_RUNTIME_H_
