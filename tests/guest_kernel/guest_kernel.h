// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Runs one shell command as root inside a QEMU microVM booted on the host's
// stock Debian kernel, with the host's /usr and /etc and kavach's source and
// build trees shared read-only at their host paths, and the kernel features
// this host lacks: a pure cgroup v2 hierarchy (memory, pids and cpu enabled
// at the root), no cgroup v1. Test-only.
//
//   absl::StatusOr<GuestKernel> guest = GuestKernel::Prepare();  // or a skip reason
//   absl::StatusOr<GuestRun> run = guest->Run("kavach_linux_test --gtest_filter=*V2*");
//   // run->exit_code, run->output (the command's stdout and stderr)
//
// Why: this host's cgroup controllers are all on v1 (its cgroup2 mount holds
// none), so without a guest the v2 paths of kavach (placement, delegation,
// memory.events, cgroup.freeze, cgroup.kill, clone3 into a cgroup) run
// nowhere here, while most users have v2. The guest is the microVM backend's
// image (EnsureGuestImage) with a second cpio appended whose /init replaces
// the agent (the kernel unpacks both; the later /init wins): it mounts the
// shares over 9p, a tmpfs root with Debian's merged-/usr links, tmpfs /tmp
// and /run, cgroup2 at /sys/fs/cgroup, switches root and runs the command,
// then prints its status on the serial console and powers off. QEMU runs
// with TCG (this host's KVM cannot run a guest), so everything inside is
// several times slower; tests keep their commands short.
#ifndef KAVACH_TESTS_GUEST_KERNEL_GUEST_KERNEL_H_
#define KAVACH_TESTS_GUEST_KERNEL_GUEST_KERNEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kavach::test_support {

struct GuestRun {
  int exit_code = -1;   // the command's status as the guest's shell saw it
  std::string output;   // what the command wrote (stdout and stderr, merged)
  std::string console;  // the whole serial console, kernel messages included
};

class GuestKernel {
 public:
  // FailedPrecondition with the reason when no guest can boot here (no
  // QEMU, no kernel image, the microVM probe says why); the caller skips.
  static absl::StatusOr<GuestKernel> Prepare();

  // Boots a guest, runs `command` with /bin/sh -c as root (cwd /tmp, PATH
  // the Debian default) and returns once the guest has powered off.
  // DeadlineExceeded (QEMU killed) when that takes longer than `timeout`;
  // Internal when the guest ends without reporting a status.
  absl::StatusOr<GuestRun> Run(const std::string& command,
                               absl::Duration timeout = absl::Minutes(5)) const;

  // The directories shared with the guest at the same paths (read-only).
  const std::vector<std::string>& shared_trees() const { return trees_; }

 private:
  std::string qemu_;
  std::string vmlinux_;
  std::string base_initrd_;
  std::vector<std::string> trees_;
};

// The directory holding the running test binary (the build's bin/).
std::string TestBinaryDir();

}  // namespace kavach::test_support

#endif  // KAVACH_TESTS_GUEST_KERNEL_GUEST_KERNEL_H_
