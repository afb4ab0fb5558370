// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// One running QEMU microVM and the host end of its agent channel (GuestVm:
// the part every VMM shares).
//
//   absl::StatusOr<std::unique_ptr<QemuVm>> vm = QemuVm::Start(qemu, spec, state_dir);
//   absl::StatusOr<guest::Hello> hello = (*vm)->WaitReady(absl::Seconds(60));
//   absl::StatusOr<VmExecOutcome> r = (*vm)->Exec(request, sinks);
//   (*vm)->Destroy();   // the QEMU process group is SIGKILLed and reaped
//
// QEMU runs with an empty environment, no file descriptor but stdin
// (/dev/null) and stdout/stderr (<state_dir>/qemu.log), in a session and
// process group of its own and, where the host lets us, in a cgroup of its
// own (memory and pids capped), so killing it leaves nothing behind. Every
// byte from the guest goes through guest::FrameReader with the host limits;
// a malformed frame, a silent guest past its deadline, or a QEMU that dies
// is an error that names what happened (with the console's last lines).
#ifndef KAVACH_BACKEND_MICROVM_QEMU_VM_H_
#define KAVACH_BACKEND_MICROVM_QEMU_VM_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backend/microvm/qmp_client.h"
#include "backend/microvm/vm_spec.h"
#include "guest/protocol.h"
#include "linux/cgroup.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

// Host end of the agent channel over a connected stream socket. Send is
// thread-safe (a Kill may come from another thread while Receive runs).
class AgentChannel final {
 public:
  explicit AgentChannel(sys::UniqueFd fd) : fd_(std::move(fd)), reader_(guest::kHostLimits) {}
  [[nodiscard]] absl::Status Send(guest::FrameType type, std::string_view payload);
  // The next frame. DeadlineExceeded when none arrives by `deadline`;
  // DataLoss "agent channel: ..." on a malformed frame or end of stream;
  // Aborted when `alive` says the VM is gone. `alive` is polled every 50 ms.
  absl::StatusOr<guest::Frame> Receive(absl::Time deadline, const std::function<bool()>& alive);
  int fd() const { return fd_.get(); }

 private:
  sys::UniqueFd fd_;
  absl::Mutex write_mu_;
  guest::FrameReader reader_;
};

struct VmExecSinks {
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
  uint64_t max_output_bytes = 1 << 20;
};

struct VmExecOutcome {
  guest::ExitStatus exit;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  bool host_timeout = false;  // the host's deadline passed and it killed the command
};

// The running VMM process, however it was started.
class VmmProcess {
 public:
  virtual ~VmmProcess() = default;
  virtual bool Exited() = 0;             // non-blocking
  virtual void Kill() = 0;               // SIGKILLs everything of it; callable from any thread
  virtual void Wait() = 0;               // blocks until it is gone and reaped
  virtual std::string ExitDetail() = 0;  // " (exit 1)", " (signal 9)" or ""
  virtual absl::Status Pause() = 0;
  virtual absl::Status Resume() = 0;
  virtual absl::Status Release() = 0;  // after Wait: cgroups and the like
};
using VmmLauncher = std::function<absl::StatusOr<std::unique_ptr<VmmProcess>>(
    const std::vector<std::string>& argv)>;

// posix_spawn with an empty environment, stdin /dev/null, stdout/stderr to
// `log`, no other descriptor, a session of its own, and a cgroup of its own
// with `cgroup_limits` where the host allows (`*cgroup_detail` says which).
VmmLauncher DirectVmmLauncher(std::string log, std::optional<sys::CgroupLimits> cgroup_limits,
                              std::string* cgroup_detail, bool* in_cgroup);

// A running microVM, whatever its VMM, and the host end of its agent
// channel: what the backend drives once the VM is up. QemuVm and
// FirecrackerVm (firecracker_vm.h) start one; this part serves the agent and
// tears everything down (the VMM, its sockets, its run directory).
class GuestVm {
 public:
  virtual ~GuestVm();
  GuestVm(const GuestVm&) = delete;
  GuestVm& operator=(const GuestVm&) = delete;

  // Waits for the agent's hello.
  absl::StatusOr<guest::Hello> WaitReady(absl::Duration timeout);
  // Sends the start frame (identity, clock, mounts) and waits for its
  // answer; an error names what the guest could not set up.
  absl::Status StartGuest(const guest::Start& start, absl::Duration timeout);
  // Mixes `seed` into the guest's entropy pool; returns the credited bits.
  absl::StatusOr<uint32_t> Reseed(std::string_view seed, absl::Duration timeout);
  // Runs one command. The host deadline is the request's timeout plus a
  // grace; past it the host sends kill and, if the agent does not answer
  // within another grace, kills the whole VM (the outcome then says so).
  absl::StatusOr<VmExecOutcome> Exec(const guest::ExecRequest& request, const VmExecSinks& sinks);
  // Asks the agent to kill the running command `id` (from any thread).
  absl::Status KillCommand(uint64_t id);

  absl::Status Pause();
  absl::Status Resume();
  // SIGKILLs the VMM's process group without reaping it: safe to call while
  // another thread is in Exec (which then fails).
  void Abort();
  // SIGKILLs the VMM's process group (and cgroup), reaps it, removes its
  // sockets and run directory. Idempotent.
  virtual absl::Status Destroy();
  // Politely: the agent powers the guest off; after `grace` Destroy().
  absl::Status Shutdown(absl::Duration grace);

  bool alive();
  // The last `bytes` of the serial console (kernel messages, panics) and of
  // the VMM's own log.
  std::string ConsoleTail(size_t bytes = 1200) const;
  absl::Duration boot_time() const { return boot_time_; }

 protected:
  GuestVm() = default;
  // Destroys the VM and returns Unavailable naming `what`, the VMM's exit,
  // a guest kernel panic if there was one, and the console's tail.
  absl::Status Died(std::string_view what);

  std::unique_ptr<VmmProcess> process_;
  bool reaped_ = false;
  std::unique_ptr<AgentChannel> channel_;
  std::string console_log_;                // the guest's serial console, if in a file
  std::vector<std::string> logs_;          // more files ConsoleTail reads (the VMM's log)
  std::vector<std::string> remove_files_;  // unlinked by Destroy
  std::string remove_dir_;                 // removed with its contents by Destroy
  absl::Time started_;
  absl::Duration boot_time_;
};

class QemuVm final : public GuestVm {
 public:
  // Launches QEMU for `spec` (files in `state_dir`, which must exist) and
  // connects to the agent socket.
  static absl::StatusOr<std::unique_ptr<QemuVm>> Start(const std::string& qemu, const VmSpec& spec,
                                                       const std::string& state_dir,
                                                       const VmmLauncher& launcher);
  ~QemuVm() override;

  // Templates (the spec has a memory file and a QMP socket). SaveState
  // writes the device state to `path` (guest RAM stays in the memory file:
  // x-ignore-shared) and leaves the source paused; LoadState feeds it to a
  // VM started with `incoming`, which then runs on by itself. The file goes
  // over QMP as a descriptor, so QEMU never opens it.
  absl::Status SaveState(const std::string& path, absl::Duration timeout);
  absl::Status LoadState(const std::string& path, absl::Duration timeout);

  absl::Status Destroy() override;

 private:
  QemuVm() = default;

  VmSpec spec_;
  std::unique_ptr<QmpClient> qmp_;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_QEMU_VM_H_
