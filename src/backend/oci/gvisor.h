// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The gVisor backend: the OCI backend's lifecycle (oci_backend.h) on runsc,
// with the same bundle generator. The command's system calls go to gVisor's
// user-space kernel (the Sentry), which itself runs on the host under a
// seccomp filter, as nobody, in its own namespaces; the evidence checks both
// sides (inside: gVisor's kernel, no capabilities, loopback only; on the host:
// the Sentry's uid, seccomp and namespaces).
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = CreateGVisorBackend();
//   BackendAvailability a = ProbeGVisor();   // "runsc ... platform ptrace (...)"
//
// Platform: $KAVACH_GVISOR_PLATFORM (systrap, ptrace or kvm) when set, else
// the first of systrap, kvm, ptrace that this runsc lists and that really
// runs a container here (`runsc do /bin/true` within a deadline: runsc's KVM
// platform can hang on a host whose /dev/kvm runs only simple guests). The
// result is cached per runsc version, kernel and boot in the state root.
//
// What runsc 0.0~20221219 (Debian 12) does not do, and what kavach does about
// it (fail closed unless the control is optional):
//   * the OCI seccomp filter (--oci-seccomp) reaches only the container's
//     first process, not `runsc exec` commands: seccomp is verified on every
//     exec'd command and fails; the composite backend (--inner process)
//     applies it inside. A single-exec sandbox (kavach exec) runs its command
//     as the first process (the probe execs it), so there it is in force and
//     verified;
//   * cgroup.pids on the host counts the Sentry's and gofer's threads, not
//     the sandbox's processes (which are Sentry goroutines): not applied;
//   * no Landlock inside gVisor.
#ifndef KAVACH_BACKEND_OCI_GVISOR_H_
#define KAVACH_BACKEND_OCI_GVISOR_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "backend/oci/runtime.h"
#include "kavach/backend_kind.h"

namespace kavach::internal {

struct GVisorBackendOptions {
  std::string platform;    // "systrap" | "ptrace" | "kvm"; empty: auto
  std::string state_root;  // empty: GVisorDefaultStateRoot()
  // As OciBackendOptions (composite outer layer).
  std::vector<std::pair<std::string, std::string>> extra_ro_binds;
  bool nested_jail = false;
};

// /run/kavach/gvisor as root, else $XDG_RUNTIME_DIR/kavach/gvisor (or
// /tmp/kavach-<uid>/gvisor).
std::string GVisorDefaultStateRoot();

// What was found out about this host's runsc.
struct GVisorHost {
  std::string path;       // runsc binary
  std::string version;    // first line of `runsc --version`
  std::string platform;   // the platform to use
  std::string platforms;  // what was tried and why each was or was not taken
  bool rootless = false;  // runs with --rootless (kavach is not root)
};

// Finds runsc and a working platform (`requested` forces one; empty: auto).
// Unavailable / NotFound / FailedPrecondition with the precise reason.
absl::StatusOr<GVisorHost> ResolveGVisorHost(const std::string& requested);

// The runtime (name "runsc") for `host`: --network none|host, --platform,
// --oci-seccomp, and --rootless when unprivileged.
OciRuntime GVisorRuntime(const GVisorHost& host, const std::string& state_root, bool host_network);

// Makes an unprepared gVisor backend (kind kGVisor).
absl::StatusOr<std::unique_ptr<Backend>> CreateGVisorBackend(GVisorBackendOptions options = {});

BackendAvailability ProbeGVisor();

// Checks gVisor's side of the isolation and appends the evidence (points sum
// to gVisor's base score of 70 plus the policy's modifiers). `sections` is the
// output of kGVisorProbeScript split on "@@\n"; `sandbox_pid` is the host pid
// of runsc-sandbox (the Sentry). `first_process`: the sections come from the
// container's first process (kavach-oci-probe of a single-exec container,
// which execs the command in its place), not from a `runsc exec`'d command. Fails
// closed (FailedPrecondition naming the control) for a required control that
// is not in force.
inline constexpr char kGVisorProbeScript[] =
    "cat /proc/self/status; echo @@;"
    "cat /proc/version; echo @@;"
    "cat /proc/self/mountinfo; echo @@;"
    "for i in $(seq 3 255); do [ -e /proc/$$/fd/$i ] && echo $i; done; echo @@;"
    "cat /proc/net/dev; echo @@;"
    "id -u; echo @@;"
    // gVisor's /proc/<pid>/status has no NoNewPrivs line: ask prctl.
    "python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))' 2>/dev/null"
    " || echo unknown";
absl::Status GVisorEvidence(const SandboxPolicy& policy, const std::vector<std::string>& sections,
                            pid_t sandbox_pid, const GVisorHost& host, uint32_t host_uid,
                            bool first_process, std::vector<Evidence>* evidence);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_OCI_GVISOR_H_
