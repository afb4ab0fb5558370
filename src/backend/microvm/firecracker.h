// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Firecracker driver: the VM configuration in Firecracker's documented
// schema (src/firecracker/swagger/firecracker.yaml: BootSource, Drive,
// MachineConfiguration, NetworkInterface, Vsock, InstanceActionInfo), the API
// calls that build the VM over its unix socket, and the jailer's arguments.
//
//   FirecrackerVmConfig c;  // kernel, initrd, boot args, vCPUs, memory, drives, vsock
//   absl::StatusOr<std::string> json = FirecrackerConfigJson(c);   // for --config-file
//   for (const FirecrackerApiCall& call : FirecrackerApiCalls(c))
//     RETURN_IF_ERROR(FirecrackerApiClient(sock).Call(call));      // PUT ... then InstanceStart
//   absl::StatusOr<std::vector<std::string>> argv = JailerArgv(jailer_options);
//
// Firecracker needs working KVM and has neither 9p nor virtio-serial: its
// guests get files on block devices and talk over vsock (host side: a unix
// socket and "CONNECT <port>\n"). On hosts without them (the probe says why)
// the backend uses QEMU; this driver is exercised by unit tests against the
// schema.
#ifndef KAVACH_BACKEND_MICROVM_FIRECRACKER_H_
#define KAVACH_BACKEND_MICROVM_FIRECRACKER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kavach::internal {

struct FirecrackerDrive {
  std::string drive_id;
  std::string path_on_host;
  bool is_root_device = false;
  bool is_read_only = true;
};

struct FirecrackerNetwork {
  std::string iface_id;
  std::string host_dev_name;  // a tap device
  std::string guest_mac;      // optional
};

struct FirecrackerVsock {
  uint32_t guest_cid = 3;  // >= 3
  std::string uds_path;
};

struct FirecrackerVmConfig {
  std::string kernel_image_path;  // uncompressed vmlinux
  std::string initrd_path;        // optional
  std::string boot_args;
  uint32_t vcpu_count = 1;  // 1..32; with smt 1 or even
  uint32_t mem_size_mib = 256;
  bool smt = false;
  std::vector<FirecrackerDrive> drives;
  std::vector<FirecrackerNetwork> network_interfaces;
  std::optional<FirecrackerVsock> vsock;
};

// InvalidArgument naming the field, per the schema's constraints.
absl::Status ValidateFirecrackerConfig(const FirecrackerVmConfig& c);

// The FullVmConfiguration object for `firecracker --config-file`.
absl::StatusOr<std::string> FirecrackerConfigJson(const FirecrackerVmConfig& c);

struct FirecrackerApiCall {
  std::string method;  // "PUT"
  std::string path;    // "/boot-source"
  std::string body;    // JSON
};

// In order: PUT /boot-source, /machine-config, /drives/{id}...,
// /network-interfaces/{id}..., /vsock, then PUT /actions InstanceStart.
absl::StatusOr<std::vector<FirecrackerApiCall>> FirecrackerApiCalls(const FirecrackerVmConfig& c);

// The HTTP/1.1 request Firecracker's API server expects for `call`.
std::string FirecrackerHttpRequest(const FirecrackerApiCall& call);

// Parses one HTTP response: OK for 2xx; otherwise an error carrying the
// status and the body's fault_message (400 -> InvalidArgument, else
// Internal). DataLoss when it is not a complete HTTP response (more than
// 64 KiB is refused).
absl::Status ParseFirecrackerResponse(std::string_view response);

// Sends API calls over Firecracker's unix socket (one connection a call).
class FirecrackerApiClient {
 public:
  explicit FirecrackerApiClient(std::string socket_path, absl::Duration timeout = absl::Seconds(5))
      : socket_path_(std::move(socket_path)), timeout_(timeout) {}
  absl::Status Call(const FirecrackerApiCall& call) const;

 private:
  std::string socket_path_;
  absl::Duration timeout_;
};

struct FirecrackerVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
};

// Parses `firecracker --version` ("Firecracker v1.10.1" on its first line).
// InvalidArgument quoting the start of the text when there is no version.
absl::StatusOr<FirecrackerVersion> ParseFirecrackerVersion(std::string_view version_output);

// "" when this release can boot kavach's guest; else why not. Debian's
// kernel has no VIRTIO_MMIO_CMDLINE_DEVICES, so it finds virtio-mmio devices
// only in an ACPI DSDT, which Firecracker writes from v1.8 on; older
// releases list them on the kernel command line only, and the guest would
// boot without its drives and vsock.
std::string FirecrackerVersionProblem(const FirecrackerVersion& v);

struct JailerOptions {
  std::string jailer = "jailer";  // the jailer binary
  std::string exec_file;          // the firecracker binary (name must contain "firecracker")
  std::string id;                 // [A-Za-z0-9-], at most 64
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string chroot_base_dir = "/srv/jailer";
  int cgroup_version = 2;
  std::map<std::string, std::string> cgroups;  // e.g. memory.max -> bytes
  std::string parent_cgroup;
  std::string netns;                                // path of a network namespace to join
  std::map<std::string, uint64_t> resource_limits;  // fsize, no-file
  bool new_pid_ns = true;
  bool daemonize = false;
  // Passed to firecracker after "--"; paths inside the chroot.
  std::string api_sock = "/run/firecracker.socket";
  std::string config_file;  // optional, inside the chroot
};

// The jailer's argv. InvalidArgument naming the option when it breaks the
// jailer's rules.
absl::StatusOr<std::vector<std::string>> JailerArgv(const JailerOptions& o);

// Where the jailer chroots: <chroot_base>/<basename(exec_file)>/<id>/root.
std::string JailerChrootDir(const JailerOptions& o);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_FIRECRACKER_H_
