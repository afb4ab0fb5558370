// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/cgroup_host.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::sys {
namespace {

// The v1 controllers the kernel knows. Mount options of a v1 hierarchy mix
// controllers with other flags (rw, clone_children, name=..., xattr), so we
// keep only the names we recognise.
constexpr std::array<std::string_view, 14> kV1Controllers = {
    "cpu",   "cpuacct",    "cpuset",   "memory",  "devices", "freezer", "net_cls",
    "blkio", "perf_event", "net_prio", "hugetlb", "pids",    "rdma",    "misc"};

bool IsV1Controller(absl::string_view name) {
  return std::find(kV1Controllers.begin(), kV1Controllers.end(), FromAbsl(name)) !=
         kV1Controllers.end();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '3' &&
        in[i + 2] >= '0' && in[i + 2] <= '7' && in[i + 3] >= '0' && in[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

struct MountEntry {
  std::string root;
  std::string mount_point;
  std::string fstype;
  std::vector<std::string> super_options;
};

std::vector<MountEntry> ParseMountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // ID parent major:minor root mount_point options [optional...] - fstype source super
    auto dash = std::find(f.begin(), f.end(), absl::string_view("-"));
    if (f.size() < 7 || dash == f.end() || dash - f.begin() < 6 || f.end() - dash < 4) continue;
    MountEntry e;
    e.root = UnescapeMountField(f[3]);
    e.mount_point = UnescapeMountField(f[4]);
    e.fstype = std::string(*(dash + 1));
    for (absl::string_view opt : absl::StrSplit(*(dash + 3), ',', absl::SkipEmpty())) {
      e.super_options.emplace_back(opt);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// /proc/self/cgroup: "hierarchy-id:controller,list:/path". v2 is "0::/path".
struct ProcCgroup {
  std::optional<std::string> v2_path;
  std::map<std::string, std::string> v1_paths;  // controller -> path
};

ProcCgroup ParseProcCgroup(std::string_view text) {
  ProcCgroup out;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n', absl::SkipEmpty())) {
    // The path may itself contain ':', so split only twice.
    size_t a = line.find(':');
    if (a == absl::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == absl::string_view::npos) continue;
    absl::string_view id = line.substr(0, a);
    absl::string_view controllers = line.substr(a + 1, b - a - 1);
    std::string path(line.substr(b + 1));
    if (id == "0" && controllers.empty()) {
      out.v2_path = path;
      continue;
    }
    for (absl::string_view c : absl::StrSplit(controllers, ',', absl::SkipEmpty())) {
      if (IsV1Controller(c)) out.v1_paths[std::string(c)] = path;
    }
  }
  return out;
}

// mount_point + own_path seen relative to the mount's root. Empty when our
// cgroup is not visible through this mount (outside a container's subtree).
std::string OwnDir(const std::string& mount_point, const std::string& mount_root,
                   const std::string& own_path) {
  if (own_path.empty() || own_path[0] != '/') return "";
  std::string rel;
  if (mount_root == "/") {
    rel = own_path;
  } else if (own_path == mount_root) {
    rel = "/";
  } else if (absl::StartsWith(own_path, absl::StrCat(mount_root, "/"))) {
    rel = own_path.substr(mount_root.size());
  } else {
    return "";
  }
  if (rel.find("/..") != std::string::npos) return "";
  if (rel == "/") return mount_point;
  return mount_point == "/" ? rel : absl::StrCat(mount_point, rel);
}

std::string JoinRoot(std::string_view root_dir, const std::string& path) {
  if (root_dir.empty() || root_dir == "/") return path;
  std::string root(root_dir);
  while (!root.empty() && root.back() == '/') root.pop_back();
  return absl::StrCat(root, path);
}

}  // namespace

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kNone:
      return "none";
    case CgroupMode::kV1:
      return "v1";
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
  }
  return "unknown";
}

bool CgroupHierarchy::Has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

bool CgroupLayout::V2Has(std::string_view controller) const {
  return v2.has_value() && v2->Has(controller);
}

const CgroupHierarchy* CgroupLayout::V1For(std::string_view controller) const {
  auto it = v1.find(std::string(controller));
  return it == v1.end() ? nullptr : &it->second;
}

std::string CgroupLayout::DebugString() const {
  std::string out = absl::StrCat("mode=", ToAbsl(CgroupModeName(mode)));
  if (v2) {
    absl::StrAppend(&out, "; v2 ", v2->mount_point, " [", absl::StrJoin(v2->controllers, " "),
                    "] own=", v2->own_dir.empty() ? "?" : v2->own_dir);
  }
  for (const auto& [controller, h] : v1) {
    absl::StrAppend(&out, "; v1 ", controller, " ", h.mount_point,
                    " own=", h.own_dir.empty() ? "?" : h.own_dir);
  }
  return out;
}

absl::StatusOr<CgroupLayout> ParseCgroupLayout(std::string_view mountinfo,
                                               std::string_view proc_self_cgroup,
                                               std::string_view root_dir) {
  CgroupLayout layout;
  ProcCgroup own = ParseProcCgroup(proc_self_cgroup);
  for (MountEntry& m : ParseMountinfo(mountinfo)) {
    CgroupHierarchy h;
    h.mount_point = JoinRoot(root_dir, m.mount_point);
    h.mount_root = m.root;
    if (m.fstype == "cgroup2") {
      // A second cgroup2 mount (a bind mount elsewhere) adds nothing unless
      // the first one does not show our cgroup.
      if (layout.v2 && !layout.v2->own_dir.empty()) continue;
      if (own.v2_path) {
        h.own_path = *own.v2_path;
        h.own_dir = OwnDir(h.mount_point, h.mount_root, h.own_path);
      }
      absl::StatusOr<std::string> controllers = ReadFile(h.mount_point + "/cgroup.controllers");
      if (controllers.ok()) {
        for (absl::string_view c :
             absl::StrSplit(*controllers, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
          h.controllers.emplace_back(c);
        }
      }
      layout.v2 = std::move(h);
    } else if (m.fstype == "cgroup") {
      for (const std::string& opt : m.super_options) {
        if (IsV1Controller(opt)) h.controllers.push_back(opt);
      }
      if (h.controllers.empty()) continue;  // name=systemd and similar
      // Co-mounted controllers share one path in /proc/self/cgroup.
      for (const std::string& c : h.controllers) {
        auto it = own.v1_paths.find(c);
        if (it != own.v1_paths.end()) {
          h.own_path = it->second;
          h.own_dir = OwnDir(h.mount_point, h.mount_root, h.own_path);
          break;
        }
      }
      for (const std::string& c : h.controllers) {
        auto existing = layout.v1.find(c);
        if (existing != layout.v1.end() && !existing->second.own_dir.empty()) continue;
        layout.v1[c] = h;
      }
    }
  }
  if (layout.v2 && !layout.v1.empty()) {
    layout.mode = CgroupMode::kHybrid;
  } else if (layout.v2) {
    layout.mode = CgroupMode::kV2;
  } else if (!layout.v1.empty()) {
    layout.mode = CgroupMode::kV1;
  }
  return layout;
}

absl::StatusOr<CgroupLayout> DetectCgroupLayout() {
  absl::StatusOr<std::string> mountinfo = ReadFile("/proc/self/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();
  absl::StatusOr<std::string> cgroup = ReadFile("/proc/self/cgroup");
  if (!cgroup.ok()) return cgroup.status();
  return ParseCgroupLayout(*mountinfo, *cgroup, "");
}

}  // namespace kavach::sys
