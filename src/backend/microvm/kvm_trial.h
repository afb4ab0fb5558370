// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Whether KVM really runs a guest here. /dev/kvm and the CPU's vmx/svm flags
// say only that KVM might: a host's KVM can open and still never reach a
// stock guest's init (software nested virtualisation such as kvm_pvm crawls
// and then stops on an emulation failure). So KVM is chosen only after a
// test guest booted under it within a deadline, once per host boot:
//
//   AcceleratorChoice accel = ChooseAccelerator(ReadKvmFacts());
//   accel = ConfirmKvmByTrialBoot(accel, {qemu, vmlinux, busybox, cache_dir});
//   // accel.accelerator is "kvm" only when the trial boot succeeded.
#ifndef KAVACH_BACKEND_MICROVM_KVM_TRIAL_H_
#define KAVACH_BACKEND_MICROVM_KVM_TRIAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "backend/microvm/microvm_backend.h"

namespace kavach::internal {

struct KvmTrial {
  std::string qemu;       // qemu-system-x86_64
  std::string vmlinux;    // the guest image's uncompressed kernel (PVH boot)
  std::string busybox;    // a static busybox for the trial's /init
  std::string cache_dir;  // a private directory for the verdict and scratch
  absl::Duration deadline = absl::Seconds(8);
  // Always "kvm" in the product; tests boot the same trial guest under "tcg"
  // to show that it reaches init where a working accelerator is.
  std::string accelerator = "kvm";
};

// Boots trial.vmlinux under `-accel kvm` with an initramfs whose /init writes
// a marker to the console and powers off. OK only when QEMU exits by itself
// within the deadline and the marker is on the console; else Unavailable with
// what happened (QEMU's exit status, the deadline, the console's last line).
// QEMU is killed at the deadline and the scratch files are removed.
absl::Status TrialBootKvm(const KvmTrial& trial);

// `facts` unchanged unless it chose KVM; then the trial boot's verdict (kept
// in trial.cache_dir, keyed by the host's boot id, QEMU and the kernel, so a
// host pays for one trial per boot) decides: KVM with "trial boot reached
// init" in the reason, or TCG with why KVM was refused.
AcceleratorChoice ConfirmKvmByTrialBoot(const AcceleratorChoice& facts, const KvmTrial& trial);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_KVM_TRIAL_H_
