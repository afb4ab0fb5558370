// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/bundle.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "policy/seccomp_profiles.h"

namespace kavach::internal {
namespace {

using nlohmann::json;

const char* const kSystemDirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
// Host /etc entries a dynamically linked program or an interpreter needs
// (the same list as the Process backend's).
const char* const kEtcBinds[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",    "/etc/alternatives",
    "/etc/localtime",   "/etc/ssl",        "/etc/ca-certificates", "/etc/python3",
    "/etc/python3.11",  "/etc/perl",       "/etc/mime.types",      "/etc/protocols",
    "/etc/services"};
// runc's and crun's own defaults: kernel interfaces a container has no use
// for, hidden or read-only.
const char* const kMaskedPaths[] = {"/proc/acpi",        "/proc/asound",        "/proc/kcore",
                                    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                                    "/proc/timer_stats", "/proc/sched_debug",   "/proc/scsi",
                                    "/sys/firmware"};
const char* const kReadonlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"};

std::string OciOp(sys::SeccompArgCondition::Op op) {
  using Op = sys::SeccompArgCondition::Op;
  switch (op) {
    case Op::kEq:
      return "SCMP_CMP_EQ";
    case Op::kNe:
      return "SCMP_CMP_NE";
    case Op::kLt:
      return "SCMP_CMP_LT";
    case Op::kLe:
      return "SCMP_CMP_LE";
    case Op::kGt:
      return "SCMP_CMP_GT";
    case Op::kGe:
      return "SCMP_CMP_GE";
    case Op::kMaskedEq:
      return "SCMP_CMP_MASKED_EQ";
  }
  return "SCMP_CMP_EQ";
}

// Sets "action" (and "errnoRet") on `rule` for `action`.
absl::Status SetAction(const sys::SeccompAction& action, json& rule) {
  uint32_t raw = action.raw();
  switch (raw & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      rule["action"] = "SCMP_ACT_ALLOW";
      return absl::OkStatus();
    case SECCOMP_RET_ERRNO:
      rule["action"] = "SCMP_ACT_ERRNO";
      rule["errnoRet"] = raw & SECCOMP_RET_DATA;
      return absl::OkStatus();
    case SECCOMP_RET_KILL_PROCESS:
      rule["action"] = "SCMP_ACT_KILL_PROCESS";
      return absl::OkStatus();
    case SECCOMP_RET_KILL_THREAD:
      rule["action"] = "SCMP_ACT_KILL";
      return absl::OkStatus();
    case SECCOMP_RET_TRAP:
      rule["action"] = "SCMP_ACT_TRAP";
      return absl::OkStatus();
    case SECCOMP_RET_LOG:
      rule["action"] = "SCMP_ACT_LOG";
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("seccomp: action ", action.ToString(), " has no OCI form"));
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty() || path == "/") return absl::OkStatus();
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  if (absl::Status s = MakeDirs(Parent(path), mode); !s.ok()) return s;
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", path));
  }
  return absl::OkStatus();
}

// Makes `inside` (a path under `root`) a mount point of the type of
// `host_source`: a directory or an empty file.
absl::Status MakeMountPoint(const std::string& root, const std::string& inside,
                            const std::string& host_source) {
  std::string target = root + inside;
  struct stat st;
  bool dir = ::stat(host_source.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
  if (dir) return MakeDirs(target, 0755);
  if (absl::Status s = MakeDirs(Parent(target), 0755); !s.ok()) return s;
  if (::lstat(target.c_str(), &st) == 0) return absl::OkStatus();
  return sys::WriteFile(target, "", 0644);
}

json Bind(const std::string& source, const std::string& dest, bool writable) {
  json options = json::array({"rbind", writable ? "rw" : "ro", "nosuid", "nodev"});
  return json{{"destination", dest}, {"type", "bind"}, {"source", source}, {"options", options}};
}

// True when `path` lies under one of the host directories bound as a whole
// (its mount point then already exists inside that bind).
bool UnderSystemDir(const std::string& path) {
  for (const char* d : kSystemDirs) {
    std::string dir = d;
    if (path == dir || absl::StartsWith(path, dir + "/")) return true;
  }
  return false;
}

// What the host has at each system directory and /etc entry the bundle
// mirrors, from one lstat (and one readlink for a link) per path: the config
// and the root's skeleton both need it, and asking again per use made ~90 of
// the ~190 system calls of writing a bundle.
struct HostEntry {
  enum Kind { kMissing, kDir, kFile, kLink } kind = kMissing;
  std::string link_target;
};
struct HostView {
  std::map<std::string, HostEntry> entries;
  const HostEntry& at(const char* path) const { return entries.at(path); }
};

HostEntry LookAt(const char* path) {
  HostEntry e;
  struct stat st;
  if (::lstat(path, &st) != 0) return e;
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(path, target, sizeof target - 1);
    if (n > 0) {
      e.kind = HostEntry::kLink;
      e.link_target.assign(target, static_cast<size_t>(n));
      return e;
    }
    // Unreadable link: a mount point of the type it resolves to, as before.
    e.kind = ::stat(path, &st) != 0 || S_ISDIR(st.st_mode) ? HostEntry::kDir : HostEntry::kFile;
    return e;
  }
  e.kind = S_ISDIR(st.st_mode) ? HostEntry::kDir : HostEntry::kFile;
  return e;
}

HostView LookAtHost() {
  HostView v;
  for (const char* d : kSystemDirs) v.entries.emplace(d, LookAt(d));
  for (const char* e : kEtcBinds) v.entries.emplace(e, LookAt(e));
  return v;
}

absl::StatusOr<json> OciConfigFor(const SandboxPolicy& policy, const BundleLayout& layout,
                                  const std::string& bundle_dir, const HostView& host);

}  // namespace

absl::StatusOr<json> OciSeccomp(SeccompProfile profile) {
  absl::StatusOr<SeccompProfileSpec> spec = SeccompProfileSpecFor(profile);
  if (!spec.ok()) return spec.status();
  json out;
  json def;
  if (absl::Status s = SetAction(spec->default_action, def); !s.ok()) return s;
  // runtime-spec 1.0.2 has no defaultErrnoRet: SCMP_ACT_ERRNO defaults to
  // EPERM, so any other default errno cannot be expressed.
  if (def.contains("errnoRet") && def["errnoRet"] != EPERM) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seccomp: default action ", spec->default_action.ToString(), " has no OCI 1.0.2 form"));
  }
  out["defaultAction"] = def["action"];
#if defined(__x86_64__)
  out["architectures"] = json::array({"SCMP_ARCH_X86_64"});
#elif defined(__aarch64__)
  out["architectures"] = json::array({"SCMP_ARCH_AARCH64"});
#endif
  json syscalls = json::array();
  for (const SyscallGroup& g : spec->groups) {
    if (!g.syscalls.empty()) {
      json rule{{"names", g.syscalls}};
      if (absl::Status s = SetAction(g.action, rule); !s.ok()) return s;
      syscalls.push_back(std::move(rule));
    }
    for (const ConditionalSyscall& c : g.conditional) {
      json rule{{"names", json::array({c.syscall})}};
      if (absl::Status s = SetAction(g.action, rule); !s.ok()) return s;
      json args = json::array();
      for (const sys::SeccompArgCondition& cond : c.when) {
        json a{{"index", cond.arg}, {"op", OciOp(cond.op)}};
        if (cond.op == sys::SeccompArgCondition::Op::kMaskedEq) {
          // libseccomp: datum_a is the mask, datum_b the value.
          a["value"] = cond.mask;
          a["valueTwo"] = cond.value;
        } else {
          a["value"] = cond.value;
        }
        args.push_back(std::move(a));
      }
      rule["args"] = std::move(args);
      syscalls.push_back(std::move(rule));
    }
  }
  out["syscalls"] = std::move(syscalls);
  return out;
}

json OciProcess(const SandboxPolicy& policy, const std::vector<std::string>& args,
                const std::vector<std::string>& env, const std::string& cwd) {
  json empty = json::array();
  json p{{"terminal", false},
         {"user", {{"uid", policy.uid}, {"gid", policy.gid}}},
         {"args", args},
         {"env", env},
         {"cwd", cwd},
         {"noNewPrivileges", true},
         {"capabilities",
          {{"bounding", empty},
           {"effective", empty},
           {"inheritable", empty},
           {"permitted", empty},
           {"ambient", empty}}}};
  json rlimits = json::array();
  if (policy.limits.max_open_files) {
    rlimits.push_back({{"type", "RLIMIT_NOFILE"},
                       {"hard", *policy.limits.max_open_files},
                       {"soft", *policy.limits.max_open_files}});
  }
  if (policy.limits.max_file_size_bytes) {
    rlimits.push_back({{"type", "RLIMIT_FSIZE"},
                       {"hard", *policy.limits.max_file_size_bytes},
                       {"soft", *policy.limits.max_file_size_bytes}});
  }
  if (!rlimits.empty()) p["rlimits"] = std::move(rlimits);
  return p;
}

absl::StatusOr<json> OciConfig(const SandboxPolicy& policy, const BundleLayout& layout,
                               const std::string& bundle_dir) {
  return OciConfigFor(policy, layout, bundle_dir, LookAtHost());
}

namespace {
absl::StatusOr<json> OciConfigFor(const SandboxPolicy& policy, const BundleLayout& layout,
                                  const std::string& bundle_dir, const HostView& host) {
  if (absl::Status s = policy.Validate(); !s.ok()) return s;
  json c;
  c["ociVersion"] = "1.0.2";
  c["process"] = OciProcess(policy, layout.args, layout.env, policy.working_directory);
  c["root"] = {{"path", "rootfs"}, {"readonly", policy.filesystem.read_only_root}};
  c["hostname"] = policy.hostname;

  json mounts = json::array();
  mounts.push_back({{"destination", "/proc"},
                    {"type", "proc"},
                    {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back({{"destination", "/dev"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  mounts.push_back({{"destination", "/dev/shm"},
                    {"type", "tmpfs"},
                    {"source", "shm"},
                    {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}});
  mounts.push_back({{"destination", "/tmp"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "nodev", "mode=1777"}}});
  for (const char* d : kSystemDirs) {
    // Symlinks (merged /usr) are recreated in the root instead.
    const HostEntry::Kind k = host.at(d).kind;
    if (k != HostEntry::kMissing && k != HostEntry::kLink) mounts.push_back(Bind(d, d, false));
  }
  mounts.push_back(Bind(bundle_dir + "/etc", "/etc", false));
  for (const char* e : kEtcBinds) {
    const HostEntry::Kind k = host.at(e).kind;
    if (k != HostEntry::kMissing && k != HostEntry::kLink) mounts.push_back(Bind(e, e, false));
  }
  for (const std::string& p : policy.filesystem.read_only) mounts.push_back(Bind(p, p, false));
  for (const std::string& p : policy.filesystem.read_write) mounts.push_back(Bind(p, p, true));
  for (const auto& [host, inside] : layout.extra_ro_binds) {
    mounts.push_back(Bind(host, inside, false));
  }
  mounts.push_back(Bind(layout.host_workdir, policy.working_directory, true));
  c["mounts"] = std::move(mounts);

  json linux;
  json ns = json::array();
  for (const char* t : {"pid", "ipc", "uts", "mount", "user", "cgroup"})
    ns.push_back({{"type", t}});
  // Anything but host gets its own network namespace (fail closed).
  if (policy.network.mode != NetworkMode::kHost) ns.push_back({{"type", "network"}});
  linux["namespaces"] = std::move(ns);
  json uids = json::array();
  json gids = json::array();
  uids.push_back({{"containerID", policy.uid}, {"hostID", layout.host_uid}, {"size", 1}});
  gids.push_back({{"containerID", policy.gid}, {"hostID", layout.host_gid}, {"size", 1}});
  if (layout.host_root_id && policy.uid != 0) {
    uids.push_back({{"containerID", 0}, {"hostID", *layout.host_root_id}, {"size", 1}});
  }
  if (layout.host_root_id && policy.gid != 0) {
    gids.push_back({{"containerID", 0}, {"hostID", *layout.host_root_id}, {"size", 1}});
  }
  linux["uidMappings"] = std::move(uids);
  linux["gidMappings"] = std::move(gids);

  json masked = json::array();
  if (!layout.proc_unmasked) {
    for (const char* p : kMaskedPaths) masked.push_back(p);
  }
  for (const std::string& p : policy.filesystem.hidden) masked.push_back(p);
  linux["maskedPaths"] = std::move(masked);
  json ro = json::array();
  if (!layout.proc_unmasked) {
    for (const char* p : kReadonlyPaths) ro.push_back(p);
  }
  linux["readonlyPaths"] = std::move(ro);

  const ResourceLimits& lim = policy.limits;
  json res = json::object();
  if (lim.memory_bytes) {
    // Swap equal to memory: no swap on top of the limit.
    res["memory"] = {{"limit", *lim.memory_bytes}, {"swap", *lim.memory_bytes}};
  }
  if (lim.max_pids) res["pids"] = {{"limit", *lim.max_pids}};
  if (lim.cpu_cores || lim.cpu_weight) {
    json cpu = json::object();
    if (lim.cpu_cores) {
      constexpr uint64_t kPeriod = 100000;
      cpu["period"] = kPeriod;
      cpu["quota"] = static_cast<int64_t>(std::llround(*lim.cpu_cores * kPeriod));
    }
    if (lim.cpu_weight) {
      // cgroup v2 weight (1..10000) to v1 shares (2..262144), as runc does.
      cpu["shares"] = 2 + ((static_cast<uint64_t>(*lim.cpu_weight) - 1) * 262142) / 9999;
    }
    res["cpu"] = std::move(cpu);
  }
  if (!res.empty()) {
    if (layout.cgroups_path.empty()) {
      return absl::FailedPreconditionError(
          "cgroup: resource limits asked for but the bundle has no cgroupsPath");
    }
    linux["resources"] = std::move(res);
  }
  if (!layout.cgroups_path.empty()) linux["cgroupsPath"] = layout.cgroups_path;
  if (policy.seccomp != SeccompProfile::kNone) {
    absl::StatusOr<json> sc = OciSeccomp(policy.seccomp);
    if (!sc.ok()) return sc.status();
    linux["seccomp"] = *std::move(sc);
  }
  c["linux"] = std::move(linux);
  return c;
}
}  // namespace

absl::Status WriteOciBundle(const std::string& bundle_dir, const SandboxPolicy& policy,
                            const BundleLayout& layout) {
  const HostView host = LookAtHost();
  absl::StatusOr<json> config = OciConfigFor(policy, layout, bundle_dir, host);
  if (!config.ok()) return config.status();
  if (::mkdir(bundle_dir.c_str(), 0700) != 0) {
    return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", bundle_dir));
  }
  // The runtime sets the root up as the container's root user, which may
  // not be able to enter a 0700 directory of the host's root: the bundle
  // directory itself stays 0700, the root and etc/ are world-readable.
  const std::string root = bundle_dir + "/rootfs";
  if (::mkdir(root.c_str(), 0755) != 0) return sys::ErrnoStatus(errno, "mkdir rootfs");
  // The root was just made empty: its skeleton needs no look-ups.
  for (const char* d : {"/proc", "/dev", "/tmp", "/etc"}) {
    if (::mkdir((root + d).c_str(), 0755) != 0) {
      return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", root, d));
    }
  }
  // runc gives a tmpfs the mode of the directory it covers.
  if (::chmod((root + "/tmp").c_str(), 01777) != 0) return sys::ErrnoStatus(errno, "chmod tmp");
  for (const char* d : kSystemDirs) {
    const HostEntry& e = host.at(d);
    if (e.kind == HostEntry::kLink) {
      if (::symlink(e.link_target.c_str(), (root + d).c_str()) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("symlink ", root, d));
      }
    } else if (e.kind != HostEntry::kMissing) {
      if (::mkdir((root + d).c_str(), 0755) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", root, d));
      }
    }
  }
  const std::string etc = bundle_dir + "/etc";
  if (::mkdir(etc.c_str(), 0755) != 0) return sys::ErrnoStatus(errno, "mkdir etc");
  std::string passwd = "root:x:0:0:root:/root:/bin/sh\n";
  std::string group = "root:x:0:\n";
  if (policy.uid != 0) {
    absl::StrAppend(&passwd, "user:x:", policy.uid, ":", policy.gid,
                    ":kavach:", policy.working_directory, ":/bin/sh\n");
  }
  if (policy.gid != 0) absl::StrAppend(&group, "user:x:", policy.gid, ":\n");
  absl::StrAppend(&passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  absl::StrAppend(&group, "nogroup:x:65534:\n");
  struct File {
    const char* name;
    std::string content;
  };
  for (const File& f :
       {File{"passwd", passwd}, File{"group", group}, File{"hostname", policy.hostname + "\n"},
        File{"hosts", absl::StrCat("127.0.0.1\tlocalhost ", policy.hostname, "\n::1\tlocalhost\n")},
        File{"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"},
        File{"resolv.conf", ""}}) {
    if (absl::Status s = sys::WriteFile(absl::StrCat(etc, "/", f.name), f.content, 0644); !s.ok()) {
      return s;
    }
  }
  // Each entry is a direct child of /etc, so etc/ is its parent.
  for (const char* e : kEtcBinds) {
    const std::string target = etc + (e + 4);  // without "/etc"
    const HostEntry& h = host.at(e);
    if (h.kind == HostEntry::kLink) {
      if (::symlink(h.link_target.c_str(), target.c_str()) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("symlink ", target));
      }
    } else if (h.kind == HostEntry::kDir) {
      if (::mkdir(target.c_str(), 0755) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", target));
      }
    } else if (h.kind == HostEntry::kFile) {
      if (absl::Status s = sys::WriteFile(target, "", 0644); !s.ok()) return s;
    }
  }
  // Mount points of the policy's binds and the working directory. Those
  // under a bound system directory exist inside that bind already.
  std::vector<std::string> points = policy.filesystem.read_only;
  points.insert(points.end(), policy.filesystem.read_write.begin(),
                policy.filesystem.read_write.end());
  for (const std::string& p : points) {
    if (UnderSystemDir(p)) continue;
    if (absl::Status s = MakeMountPoint(root, p, p); !s.ok()) return s;
  }
  for (const auto& [host, inside] : layout.extra_ro_binds) {
    if (absl::Status s = MakeMountPoint(root, inside, host); !s.ok()) return s;
  }
  if (absl::Status s = MakeDirs(root + policy.working_directory, 0755); !s.ok()) return s;
  // Compact: the runtime parses it on every start.
  return sys::WriteFile(bundle_dir + "/config.json", config->dump(), 0600);
}

}  // namespace kavach::internal
