// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Finds out how cgroups are mounted on this host, and where we live in them.
//
// Hosts come in three shapes: pure cgroup v2 (systemd's unified layout, most
// current distributions), pure v1 (one mount per controller, older systems)
// and hybrid (v1 controllers plus a cgroup2 mount, usually at
// /sys/fs/cgroup/unified, with few or no controllers). Nothing is assumed: the
// layout is read from /proc/self/mountinfo and /proc/self/cgroup.
//
//   absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
//   if (layout.ok() && layout->V2Has("memory")) { ... }
//   const CgroupHierarchy* mem = layout->V1For("memory");  // nullptr if none
//
// Tests feed mountinfo and /proc/self/cgroup text of other hosts through
// ParseCgroupLayout().
#ifndef KAVACH_LINUX_CGROUP_HOST_H_
#define KAVACH_LINUX_CGROUP_HOST_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kavach::sys {

enum class CgroupMode {
  kNone,    // no cgroup filesystem mounted
  kV1,      // only v1 hierarchies
  kV2,      // only a cgroup2 mount
  kHybrid,  // both (this includes a cgroup2 mount with no controllers)
};
std::string_view CgroupModeName(CgroupMode mode);

// One mounted hierarchy (a v1 controller mount or the cgroup2 mount).
struct CgroupHierarchy {
  // Where it is mounted, e.g. "/sys/fs/cgroup/memory" or "/sys/fs/cgroup".
  std::string mount_point;
  // The mountinfo "root" field: which cgroup of the hierarchy the mount shows
  // (not "/" inside containers that bind-mount their own cgroup).
  std::string mount_root;
  // v1: the controllers bound to this hierarchy (from the mount options).
  // v2: the controllers the root of the mount offers (its cgroup.controllers).
  std::vector<std::string> controllers;
  // Our cgroup in this hierarchy as /proc/self/cgroup names it, e.g.
  // "/user.slice/user-1000.slice/session-2.scope".
  std::string own_path;
  // The directory of our cgroup: mount_point plus own_path made relative to
  // mount_root. Empty when /proc/self/cgroup does not list this hierarchy.
  std::string own_dir;

  bool Has(std::string_view controller) const;
};

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  // The cgroup2 mount, if any.
  std::optional<CgroupHierarchy> v2;
  // v1 controller name -> its hierarchy. Co-mounted controllers (for example
  // "cpu,cpuacct") map to equal entries with the same mount_point.
  std::map<std::string, CgroupHierarchy> v1;

  // True if the cgroup2 mount offers `controller`.
  bool V2Has(std::string_view controller) const;
  // The v1 hierarchy of `controller`, or nullptr.
  const CgroupHierarchy* V1For(std::string_view controller) const;
  // One line per hierarchy, for logs and error messages.
  std::string DebugString() const;
};

// Reads /proc/self/mountinfo, /proc/self/cgroup and the cgroup2 root's
// cgroup.controllers. Fails only if the /proc files cannot be read; a host
// without cgroups gives mode kNone.
absl::StatusOr<CgroupLayout> DetectCgroupLayout();

// The same from given file contents. `root_dir` is prepended to every mount
// point (both when reading cgroup.controllers and in the result), so a test can
// describe another host's layout inside a temporary directory; "" means "/".
// A missing cgroup.controllers file reads as "no controllers".
absl::StatusOr<CgroupLayout> ParseCgroupLayout(std::string_view mountinfo,
                                               std::string_view proc_self_cgroup,
                                               std::string_view root_dir = "");

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_CGROUP_HOST_H_
