// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// One running Firecracker microVM, built over its API socket, and the host
// end of its agent channel (vsock). The parallel of QemuVm; both are a
// GuestVm once the agent is connected.
//
//   FirecrackerVmOptions o{.firecracker = "/usr/bin/firecracker", .run_dir = dir,
//                          .launcher = launcher};
//   absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = FirecrackerVm::Start(spec, o);
//   absl::StatusOr<guest::Hello> hello = (*vm)->WaitReady(absl::Seconds(60));
//   ... (*vm)->Exec(request, sinks) ...
//   (*vm)->Destroy();  // the VMM killed and reaped, run_dir removed
//
// Start, in order: listen on <run_dir>/vsock.sock_<port>; launch
// `firecracker --api-sock <run_dir>/api.sock` through the launcher (the same
// VMM jail QEMU gets); wait for the API socket; PUT /boot-source (the image's
// vmlinux and initrd, the guest command line plus kavach.channel=vsock:<port>),
// /machine-config, /drives/<id> for each VmSpec drive, /vsock (guest CID 3,
// uds_path <run_dir>/vsock.sock), then /actions InstanceStart; accept the
// agent's connection. The API socket rather than --config-file: each step's
// refusal comes back as an HTTP fault naming the call, and the VM is not
// started before the host is listening and every call was accepted.
//
// Firecracker has neither 9p nor virtio-serial: a spec with 9p shares, a
// network device or template fields (memory file, QMP, incoming) is
// refused. A VMM that exits, refuses a call, or whose guest never connects is
// an error naming which, and leaves nothing behind (process, sockets,
// run_dir; the launcher's jail and cgroup go with the process).
#ifndef KAVACH_BACKEND_MICROVM_FIRECRACKER_VM_H_
#define KAVACH_BACKEND_MICROVM_FIRECRACKER_VM_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backend/microvm/firecracker.h"
#include "backend/microvm/qemu_vm.h"
#include "backend/microvm/vm_spec.h"

namespace kavach::internal {

// The guest's vsock port for the agent (the host listens on
// <uds_path>_<port>).
inline constexpr uint32_t kFirecrackerAgentPort = 1024;
inline constexpr uint32_t kFirecrackerGuestCid = 3;

struct FirecrackerVmOptions {
  std::string firecracker;  // the binary
  // Must exist, be empty and be writable by the VMM; Destroy removes it.
  std::string run_dir;
  VmmLauncher launcher;
  // Owner of the agent listener socket (the jailed VMM's user must be able
  // to connect to it); nullopt: left as created.
  std::optional<uid_t> socket_uid;
  std::optional<gid_t> socket_gid;
  absl::Duration api_timeout = absl::Seconds(10);      // socket to appear, each call
  absl::Duration connect_timeout = absl::Seconds(60);  // guest boot to agent connection
};

// The Firecracker configuration for `spec` (see the file comment).
// InvalidArgument for what Firecracker cannot carry.
absl::StatusOr<FirecrackerVmConfig> FirecrackerConfigFor(const VmSpec& spec,
                                                         const std::string& run_dir);

// The VMM's argv: `<firecracker> --api-sock <run_dir>/api.sock`.
std::vector<std::string> FirecrackerArgv(const std::string& firecracker,
                                         const std::string& run_dir);

class FirecrackerVm final : public GuestVm {
 public:
  static absl::StatusOr<std::unique_ptr<FirecrackerVm>> Start(const VmSpec& spec,
                                                              const FirecrackerVmOptions& options);
  ~FirecrackerVm() override;

 private:
  FirecrackerVm() = default;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_FIRECRACKER_VM_H_
