// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Starting a sandbox's init as a program of its own (kavach-init, built from
// init.cc and embedded in the library) instead of a copy of the host.
//
// Why: a clone of the host copies the host's page tables, and the sandbox's
// init then keeps that copy of the host's address space until it exits.
// Both costs grow with the caller's memory: with 1 GiB of touched heap in
// the caller, a cold create took 26.6 ms and its destroy 24.5 ms (2.9 and
// 0.74 ms for a small caller; BM_ColdExecLargeCaller). An agent server with
// a large heap paid that per sandbox. Here the child shares the host's
// memory (CLONE_VM | CLONE_VFORK, the way posix_spawn starts a program) only
// until it execs kavach-init from a sealed memfd: no page table is copied,
// and init's address space is the small program's own.
//
// The plan travels as an image (init_plan_codec.h) in a second memfd. The
// child is born in the sandbox's new user namespace with every capability
// there; exec keeps them through the ambient set (an exec as a non-zero or
// still unmapped uid would otherwise drop them). Init clears the ambient
// set for every command, and the probe checks that it is empty.
//
//   absl::StatusOr<pid_t> pid = CloneExecInit(request);
#ifndef KAVACH_BACKEND_PROCESS_INIT_EXEC_H_
#define KAVACH_BACKEND_PROCESS_INIT_EXEC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

// kavach-init, opened once per process: the file this build made or
// installed when it is the same build (see OpenInitFile), else the embedded
// copy in a sealed, close-on-exec memfd. An error says why neither can be
// (no memfd, an architecture without the clone trampoline); the caller then
// clones init as a copy of itself.
absl::StatusOr<int> InitExecutableFd();
// Where InitExecutableFd's program came from: its path, "embedded", or ""
// when there is none.
std::string InitExecutableSource();
// The kavach-init embedded in this library (empty when none is).
std::string_view EmbeddedInitExecutable();

// Opens `path` for exec as kavach-init if it is a regular file owned by root
// or by our euid, writable by no one else, and the same build as `expected`
// (the same size and first page, which holds the build-id note).
absl::StatusOr<sys::UniqueFd> OpenInitFile(const char* path, std::string_view expected);

// A close-on-exec memfd holding `image` (an encoded InitPlan).
absl::StatusOr<sys::UniqueFd> PlanImageFd(const std::string& image);

struct InitExecRequest {
  uint64_t clone_flags = 0;  // namespaces, CLONE_PIDFD, CLONE_INTO_CGROUP
  int cgroup_fd = -1;        // with CLONE_INTO_CGROUP
  int* pidfd = nullptr;      // with CLONE_PIDFD
  int control_fd = -1;       // init's fd 3
  int plan_fd = -1;          // init's fd 4 (PlanImageFd)
  int last_capability = 40;
};

// Clones with the request's flags plus CLONE_VM | CLONE_VFORK and execs
// kavach-init in the child; returns once the child has exec'd (its pid), or
// with the error of the clone, or of the child's step that failed (the child
// is reaped then, and its pidfd closed).
absl::StatusOr<pid_t> CloneExecInit(const InitExecRequest& request);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_INIT_EXEC_H_
