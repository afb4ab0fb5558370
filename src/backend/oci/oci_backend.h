// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The OCI backend: a prepared sandbox is a running crun or runc container
// built from the policy's bundle (bundle.h); each command runs in it with
// `<runtime> exec`, so repeated commands share the container's state.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = CreateOciBackend();  // $KAVACH_OCI_RUNTIME
//   absl::StatusOr<std::unique_ptr<Backend>> r = CreateOciBackend({.runtime = "runc"});
//
// With SandboxConfig::single_exec (kavach exec), the sandbox is made for one
// command: the container's first process is kavach-oci-probe (bound
// read-only at /.kavach-probe), started by one `<runtime> run`; Prepare
// verifies its report of the controls in force (the same checks as for a
// prepared container), then Exec hands it the command: under crun and runc it
// spawns it and waits (it must stay pid 1: Linux shields a namespace's init
// from its own default-action signals), under gVisor it execs it in its own
// place; `run` removes the container when it ends. No create, start, exec,
// kill or delete calls. Bundles go to /dev/shm when it is a tmpfs.
// What such a `kavach exec` costs beyond the runtime's own `run` of the same
// bundle (bench/container_bench.sh; perf, Dec 2026, a loaded 2-core host):
// the kavach process itself, ~2.3 ms of CPU for any backend (exec, dynamic
// linking and page faults of the binary) and ~2.5 ms for the policy, the
// bundle, the working directory, the verification and the clean-up (the
// runtime is started with posix_spawn, not fork). The probe's report, verdict
// and spawn cost nothing measurable inside crun (its flow fed from a file:
// 18.6 ms median against 19.7 ms for /bin/true alone). Under gVisor (ptrace
// platform) every system call of the probe traps into the Sentry (~36 us), so
// the probe makes few (31 before the exec); what remains is the command's
// second process image: a new address space, i.e. one more host stub process
// created and torn down (3 stubs per run against 2 for a raw /bin/true). A
// perf trace of runsc's own phases (its state-file writes: created, running;
// exit) over alternating runs puts that at 13-25 ms (running -> exit: 31-54
// ms for the probe, kavach's or a script's, against 18-24 ms for /bin/true).
// The start phase (created -> running: 17 gofer bind mounts) was the larger
// part, 45 ms, and not kavach's work: runsc's gofer and sandbox grew their fd
// tables, each growth waiting for an RCU grace period, unless runsc inherited
// a high fd (the benchmark's raw runsc did, by accident); runsc now always
// gets one (OciRuntime::fd_table_headroom, runtime.h).
//
// The runtime is chosen by OciBackendOptions::runtime, else by the
// environment variable KAVACH_OCI_RUNTIME ("crun" or "runc"), else crun.
// Container ids are kavach-<owner pid>-<random>; containers whose owner is
// gone are deleted (with their bundles) by the next Prepare.
#ifndef KAVACH_BACKEND_OCI_OCI_BACKEND_H_
#define KAVACH_BACKEND_OCI_OCI_BACKEND_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "kavach/backend_kind.h"

namespace kavach::internal {

struct OciBackendOptions {
  std::string runtime;     // "crun" | "runc"; empty: $KAVACH_OCI_RUNTIME, else crun
  std::string state_root;  // the runtime's --root; empty: OciDefaultStateRoot(runtime)
  // Outer layer of a composite (backend/composite): extra read-only binds
  // (host path, path inside) and an uncovered /proc for the inner jail.
  std::vector<std::pair<std::string, std::string>> extra_ro_binds;
  bool nested_jail = false;
};

// /run/kavach/oci-<runtime> as root, else $XDG_RUNTIME_DIR/kavach/oci-<runtime>
// (or /tmp/kavach-<uid>/oci-<runtime>).
std::string OciDefaultStateRoot(const std::string& runtime);

// Makes an unprepared OCI backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateOciBackend(OciBackendOptions options = {});

// Available when crun or runc is installed and `<runtime> --version` runs;
// the reason names each runtime's state and the default.
BackendAvailability ProbeOci();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_OCI_OCI_BACKEND_H_
