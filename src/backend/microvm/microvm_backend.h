// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The microVM backend (BackendKind::kFirecracker): every sandbox is a VM with
// a guest kernel of its own; commands run in it through kavach's guest agent.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend();          // VMM auto
//   absl::StatusOr<std::unique_ptr<Backend>> q = CreateMicroVmBackend({.vmm = "qemu"});
//
// VMM: options.vmm, else $KAVACH_VMM ("qemu" | "firecracker"), else
// firecracker where its binary and a usable KVM (a trial guest booted under
// it) exist, else QEMU's `-M microvm`; the evidence (vm.vmm, vm.vmm_choice)
// says which and why the other was not used. Forcing firecracker without its
// binary or without KVM is Unavailable naming what is missing. Firecracker's
// guests talk over vsock and get shares as block devices; warm clones are
// QEMU-only (a firecracker sandbox boots cold and says so). Accelerator: KVM where /dev/kvm is
// hardware virtualisation (vmx/svm) and a trial guest booted under it within a deadline (once per
// host boot, kvm_trial.h), else TCG, with the reason in the probe and the
// evidence.
//
// The guest sees the host's /usr (and /bin, /lib* as on the host: symlinks
// into /usr, or their own read-only shares), the policy's read-only and
// read-write paths, and the working directory read-write, all over 9p (or
// on block devices: MicroVmBackendOptions::share_mode); no
// network device; -m and -smp from the policy's memory and CPU limits; the
// command runs as the policy's uid/gid with its rlimits (open files, file
// size, processes). The VMM runs with a clean environment, no inherited
// file descriptors, its own process group and, where possible, its own
// cgroup, and QEMU's seccomp sandbox on.
#ifndef KAVACH_BACKEND_MICROVM_MICROVM_BACKEND_H_
#define KAVACH_BACKEND_MICROVM_MICROVM_BACKEND_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backend/backend.h"
#include "kavach/backend_kind.h"

namespace kavach::internal {

struct MicroVmBackendOptions {
  std::string vmm;          // "qemu" | "firecracker"; empty: $KAVACH_VMM, else auto
  std::string qemu_path;    // empty: qemu-system-x86_64 from PATH
  std::string image_cache;  // empty: DefaultImageCacheDir()
  absl::Duration boot_timeout = absl::Seconds(60);
  // The firecracker binary; empty: $KAVACH_FIRECRACKER, else firecracker
  // from PATH.
  std::string firecracker_path;
  // TESTS ONLY, never set from a policy file or the CLI: lets the
  // firecracker VMM be used where no KVM boots a guest, for the fake
  // firecracker of the tests (it boots its guest under QEMU/TCG). A real
  // firecracker would fail without KVM anyway; this only skips the check.
  bool testonly_firecracker_without_kvm = false;
  // How the guest sees the host's directories: "9p" (QEMU's virtio-9p), or
  // "block" (block_share.h: each read-only share a cached squashfs image,
  // each read-write share an ext4 image copied back into its directory by
  // Destroy, after the VMM is gone). Empty: $KAVACH_MICROVM_SHARE, else
  // "9p". Block mode boots cold: a warm clone restores its template's
  // devices, which carry no drives, so it is refused unless clones are off
  // (KAVACH_MICROVM_CLONE=off, the CLI's --cold).
  std::string share_mode;
  // Block mode: the host directory that becomes the guest's /usr (squashing
  // the real /usr, 9 GB here, takes minutes once; tests use a small tree).
  // Empty: $KAVACH_MICROVM_BLOCK_USR, else "/usr".
  std::string block_usr;
  // Block mode: the size of each read-write share's (sparse) ext4 image; it
  // grows to fit the directory's content when that is larger.
  uint64_t block_rw_bytes = 4ull << 30;
};

absl::StatusOr<std::unique_ptr<Backend>> CreateMicroVmBackend(MicroVmBackendOptions options = {});

// Host facts for the accelerator choice, split out for tests.
struct KvmFacts {
  bool dev_kvm = false;          // /dev/kvm exists
  bool hw_virt = false;          // vmx or svm in /proc/cpuinfo flags
  bool kvm_pvm = false;          // the kvm_pvm module is loaded
  bool hypervisor_flag = false;  // we are ourselves a guest
};
KvmFacts ReadKvmFacts();

struct AcceleratorChoice {
  std::string accelerator;  // "kvm" | "tcg"
  std::string reason;
};
AcceleratorChoice ChooseAccelerator(const KvmFacts& facts);

// Which VMM would run, which accelerator, and why the others were not used.
BackendAvailability ProbeMicroVm();

// The firecracker binary: options.firecracker_path, else $KAVACH_FIRECRACKER,
// else PATH. Unavailable "firecracker not found in PATH" (or naming the
// configured path) when there is none.
absl::StatusOr<std::string> FindFirecracker(const MicroVmBackendOptions& options);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_MICROVM_BACKEND_H_
