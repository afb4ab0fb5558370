// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// OCI runtime-spec (1.0.2) bundles generated from a SandboxPolicy, shared by
// the OCI backends (crun, runc) and, later, gVisor.
//
//   BundleLayout layout;
//   layout.host_workdir = "/tmp/work";
//   layout.args = {"/bin/sleep", "infinity"};
//   layout.host_uid = layout.host_gid = 65534;
//   layout.host_root_id = kOciContainerRootHostId;   // running as root
//   absl::Status s = WriteOciBundle("/tmp/bundle", policy, layout);
//   // /tmp/bundle/config.json, /tmp/bundle/rootfs/, /tmp/bundle/etc/
//
// The root is an empty directory holding only mount points; the view of the
// host is read-only binds of /usr, /bin, /sbin, /lib* (their symlinks on a
// merged-/usr host are recreated as symlinks), a minimal /etc written into
// the bundle plus the host's loader and certificate files, proc, tmpfs /dev,
// /dev/shm and /tmp, and the working directory bound read-write. Seccomp is
// the same data as the Process backend's (policy/seccomp_profiles.h).
#ifndef KAVACH_BACKEND_OCI_BUNDLE_H_
#define KAVACH_BACKEND_OCI_BUNDLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kavach/policy.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {

// Host uid/gid that the container's root (uid 0 inside) maps to when kavach
// runs as root: an id no host account uses, so nothing on the host belongs
// to it. Runtimes need uid 0 mapped to set the container up.
inline constexpr uint32_t kOciContainerRootHostId = 2147418112;  // 0x7fff0000

struct BundleLayout {
  std::string host_workdir;       // bound read-write at policy.working_directory
  std::vector<std::string> args;  // the container's first process
  std::vector<std::string> env;   // its environment ("KEY=VALUE")
  // Host ids of the sandbox's user (policy.uid/gid inside).
  uint32_t host_uid = 65534;
  uint32_t host_gid = 65534;
  // Host id for the container's root when policy.uid != 0. nullopt: only the
  // sandbox user is mapped (rootless).
  std::optional<uint32_t> host_root_id;
  // linux.cgroupsPath; empty: no cgroup settings (then no resource limits).
  std::string cgroups_path;
  // Extra read-only binds (host path, path inside), after the policy's.
  std::vector<std::pair<std::string, std::string>> extra_ro_binds;
  // The outer layer of a composite: no masked or read-only /proc paths. The
  // inner jail mounts a /proc of its own, which the kernel refuses while
  // parts of this one are covered.
  bool proc_unmasked = false;
};

// The OCI seccomp section for `profile` (linux.seccomp), native architecture
// only. InvalidArgument for kNone or an action OCI cannot express.
absl::StatusOr<nlohmann::json> OciSeccomp(SeccompProfile profile);

// The `process` object: args, env, cwd, user, noNewPrivileges, no
// capabilities, rlimits. Also the --process file of `<runtime> exec`.
nlohmann::json OciProcess(const SandboxPolicy& policy, const std::vector<std::string>& args,
                          const std::vector<std::string>& env, const std::string& cwd);

// The whole config.json. `bundle_dir` is where WriteOciBundle puts etc/.
absl::StatusOr<nlohmann::json> OciConfig(const SandboxPolicy& policy, const BundleLayout& layout,
                                         const std::string& bundle_dir);

// Creates `bundle_dir` (must not exist; mode 0700), its rootfs/ with the
// mount points, etc/ and config.json.
absl::Status WriteOciBundle(const std::string& bundle_dir, const SandboxPolicy& policy,
                            const BundleLayout& layout);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_OCI_BUNDLE_H_
