// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// What a microVM is made of, independent of the VMM that runs it, and how
// QEMU's `-M microvm` is told about it. (The Firecracker driver, which
// speaks the same spec, is in firecracker.h.)
//
//   VmSpec spec;  // kernel, initrd, memory, vCPUs, shares, agent socket ...
//   std::vector<std::string> argv = QemuArgv("/usr/bin/qemu-system-x86_64", spec);
//
// The guest's view: the initramfs (busybox, modules, agent) as its root, the
// shares mounted by the agent over 9p (read-only or read-write), symlinks
// such as /bin -> usr/bin mirroring a merged-/usr host, a tmpfs /tmp, and no
// network device unless `network` is set. The agent channel is a
// virtio-serial port named kavach.agent behind a unix socket QEMU listens on.
#ifndef KAVACH_BACKEND_MICROVM_VM_SPEC_H_
#define KAVACH_BACKEND_MICROVM_VM_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace kavach::internal {

struct VmShare {
  std::string tag;         // 9p mount tag, [a-z0-9_]
  std::string host_path;   // absolute
  std::string guest_path;  // absolute
  bool read_only = true;
};

// A share carried on a block device instead of 9p: Firecracker has no 9p
// (and no virtio-serial), and QEMU can be told to use the same path. A
// read-only share is a squashfs image of the host directory; a read-write
// one an ext4 image populated from it and copied back out of the image
// (in user space, never by mounting a guest-written file system on the
// host) when the sandbox stops.
struct VmDrive {
  std::string id;          // [a-z0-9_], at most 20: the VMM's drive id and the guest's handle
  std::string host_image;  // absolute path of the raw image file
  std::string fstype;      // "squashfs" | "ext4"
  bool read_only = true;
  std::string guest_path;  // absolute: where the agent mounts it
  std::string host_path;   // the host directory the image was made from (for copy-out)
};

struct VmSpec {
  std::string vmlinux;  // uncompressed kernel ELF (PVH entry)
  std::string initrd;
  uint32_t memory_mib = 256;
  uint32_t cpus = 1;
  std::vector<VmShare> shares;
  // Block-device shares, attached in this order (agent mount item
  // "blk:<id>:<fstype>:ro|rw:<guest_path>").
  std::vector<VmDrive> drives;
  // Guest symlinks (path, target), e.g. ("/bin", "usr/bin").
  std::vector<std::pair<std::string, std::string>> links;
  bool network = false;             // a user-mode NIC (slirp); none by default
  std::string agent_socket;         // unix socket the VMM listens on for the agent port
  std::string console_log;          // the guest's serial console goes here
  std::string accelerator = "tcg";  // "tcg" | "kvm"
  // The host TSC rate handed to the guest (tsc_early_khz=): without it,
  // about 1 boot in 4 hangs calibrating against the PIT under TCG.
  std::optional<uint64_t> tsc_khz;
  bool qemu_sandbox = true;     // QEMU's own seccomp filter (-sandbox on,...)
  bool read_only_root = false;  // the agent remounts the guest's / read-only
  // Guest RAM in a file (a template's, or a clone's view of it):
  // memory-backend-file, shared (the template writes its RAM there) or
  // private (a clone: copy-on-write, the file is never written).
  std::string memory_file;
  bool memory_shared = false;
  std::string qmp_socket;  // QMP unix socket QEMU listens on; empty: none
  bool incoming = false;   // -incoming defer: the state comes over QMP
};

// InvalidArgument naming the field: paths absolute and free of the
// characters the kernel command line and QEMU's option syntax treat
// specially (space, comma, colon, '=', quotes), tags [a-z0-9_] and unique,
// memory 96..65536 MiB (below 96 the Debian kernel does not boot), 1..64 CPUs,
// drive ids a lowercase letter then [a-z0-9_], at most 20 (QEMU ids start
// with a letter; the virtio-blk serial holds 20 bytes) and unique, drive
// fstype squashfs (read-only) or ext4.
absl::Status ValidateVmSpec(const VmSpec& spec);

// The guest kernel command line: console, quiet, panic=-1 and the TCG boot
// fixes (tsc_early_khz, mitigations=off, init_on_alloc=0 ...). Nothing
// per-sandbox: a template's clones run on the template's command line.
std::string GuestKernelCmdline(const VmSpec& spec);

// What the agent mounts when it starts (guest::Start::mounts): the links,
// the shares by tag, a tmpfs /tmp, and "roroot".
std::string GuestMounts(const VmSpec& spec);

// The full QEMU argv for `-M microvm` (PVH boot, -nodefaults, -no-reboot).
// Each drive is `-drive file=IMG,if=none,id=ID,format=raw,readonly=on|off`
// plus `-device virtio-blk-device,drive=ID,serial=ID` (virtio-mmio), in
// the spec's order.
std::vector<std::string> QemuArgv(const std::string& qemu, const VmSpec& spec);

// The host TSC in kHz from /proc/cpuinfo's first "cpu MHz"; nullopt when
// absent.
std::optional<uint64_t> HostTscKhz();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_VM_SPEC_H_
