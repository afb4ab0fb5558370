// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::sys {
namespace {

constexpr char kMemory[] = "memory";
constexpr char kPids[] = "pids";
constexpr char kCpu[] = "cpu";
constexpr char kCpuacct[] = "cpuacct";
constexpr char kFreezer[] = "freezer";

// v1 reports "no limit" as LONG_MAX rounded down to a page; anything this
// large cannot be a limit someone set.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;
constexpr int64_t kCpuPeriodUs = 100000;
constexpr int64_t kLongCpuPeriodUs = 1000000;
constexpr int64_t kMinCpuQuotaUs = 1000;  // the kernel's minimum

// Puts `control` in front of a status message, keeping its code.
absl::Status Named(std::string_view control, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(ToAbsl(control), ": ", status.message()));
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string Join(const std::string& dir, std::string_view file) {
  return absl::StrCat(dir, "/", ToAbsl(file));
}

absl::StatusOr<std::string> ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFile(path);
  if (!s.ok()) return s.status();
  return std::string(absl::StripAsciiWhitespace(*s));
}

absl::StatusOr<uint64_t> ReadU64(const std::string& path) {
  absl::StatusOr<std::string> s = ReadTrimmed(path);
  if (!s.ok()) return s.status();
  uint64_t v;
  if (!absl::SimpleAtoi(*s, &v))
    return absl::InternalError(absl::StrCat(path, ": not a number: ", *s));
  return v;
}

// The value of `key` in "key value" lines, if there.
std::optional<uint64_t> FindKey(std::string_view text, std::string_view key) {
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    uint64_t v;
    if (kv.first == ToAbsl(key) && absl::SimpleAtoi(kv.second, &v)) return v;
  }
  return std::nullopt;
}

// "key value" lines (memory.events, cpu.stat, cgroup.events, oom_control).
absl::StatusOr<uint64_t> ReadKey(const std::string& path, std::string_view key) {
  absl::StatusOr<std::string> s = ReadFile(path);
  if (!s.ok()) return s.status();
  if (std::optional<uint64_t> v = FindKey(*s, key)) return *v;
  return absl::NotFoundError(absl::StrCat(path, " has no ", ToAbsl(key)));
}

std::set<std::string> Words(const std::string& text) {
  std::set<std::string> out;
  for (absl::string_view w : absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    out.emplace(w);
  }
  return out;
}

absl::StatusOr<std::vector<pid_t>> ReadProcs(const std::string& dir) {
  absl::StatusOr<std::string> s = ReadFile(Join(dir, "cgroup.procs"));
  if (!s.ok()) return s.status();
  std::vector<pid_t> out;
  for (absl::string_view w : absl::StrSplit(*s, '\n', absl::SkipEmpty())) {
    pid_t p;
    if (absl::SimpleAtoi(w, &p)) out.push_back(p);
  }
  return out;
}

// Sub-directories (sub-cgroups) of `dir`.
std::vector<std::string> SubDirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (e->d_type == DT_DIR) out.push_back(Join(dir, n));
  }
  ::closedir(d);
  return out;
}

// `dir` and all cgroups below it.
void CollectTree(const std::string& dir, std::vector<std::string>* out) {
  out->push_back(dir);
  for (const std::string& sub : SubDirs(dir)) CollectTree(sub, out);
}

// Calls `done` until it returns true, sleeping 1..10 ms between tries, for at
// most `timeout`. Returns whether it became true.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    if (done()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(10));
  }
}

// rmdir of a cgroup, children first. EBUSY can last a moment after the last
// process left, so it is retried until `timeout`.
absl::Status RemoveTree(const std::string& dir, absl::Duration timeout) {
  // First the common case, an empty leaf: one rmdir. EBUSY (tasks or child
  // cgroups left) takes the full walk below.
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  if (errno != EBUSY && errno != ENOTEMPTY) {
    return ErrnoStatus(errno, absl::StrCat("rmdir ", dir));
  }
  for (const std::string& sub : SubDirs(dir)) {
    absl::Status s = RemoveTree(sub, timeout);
    if (!s.ok()) return s;
  }
  int err = 0;
  WaitFor(
      [&] {
        err = ::rmdir(dir.c_str()) == 0 ? 0 : errno;
        if (err == ENOENT) err = 0;
        return err != EBUSY;  // other errors do not get better by waiting
      },
      timeout);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("rmdir ", dir));
  return absl::OkStatus();
}

// mkdir that accepts an existing directory.
absl::Status MkdirExisting(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return ErrnoStatus(errno, absl::StrCat("mkdir ", dir));
}

absl::Status ValidateName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 200 ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos ||
      name.find('\n') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup: invalid cgroup name \"", ToAbsl(name), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateLimits(const CgroupLimits& l) {
  if (l.memory_bytes && *l.memory_bytes == 0) {
    return absl::InvalidArgumentError("cgroup.memory: memory_bytes must be > 0");
  }
  if (l.max_pids && *l.max_pids == 0) {
    return absl::InvalidArgumentError("cgroup.pids: max_pids must be >= 1");
  }
  if (l.cpu_cores && (!std::isfinite(*l.cpu_cores) || *l.cpu_cores <= 0 || *l.cpu_cores > 1e6 ||
                      *l.cpu_cores * kLongCpuPeriodUs < kMinCpuQuotaUs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup.cpu: cpu_cores must be in [0.001, 1e6], got ", *l.cpu_cores));
  }
  if (l.cpu_weight && (*l.cpu_weight < 1 || *l.cpu_weight > 10000)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup.cpu: cpu_weight must be in [1, 10000], got ", *l.cpu_weight));
  }
  return absl::OkStatus();
}

// Controllers the requested limits need, in a fixed order.
std::vector<std::string> Required(const CgroupLimits& l) {
  std::vector<std::string> out;
  if (l.memory_bytes) out.push_back(kMemory);
  if (l.max_pids) out.push_back(kPids);
  if (l.cpu_cores || l.cpu_weight) out.push_back(kCpu);
  return out;
}

struct CpuQuota {
  int64_t quota_us;
  int64_t period_us;
};
CpuQuota QuotaFor(double cores) {
  int64_t period = kCpuPeriodUs;
  if (cores * period < kMinCpuQuotaUs) period = kLongCpuPeriodUs;
  return {static_cast<int64_t>(std::llround(cores * static_cast<double>(period))), period};
}

// v2 weight (1..10000, default 100) <-> v1 shares (2..262144, default 1024).
// Both roundings are to nearest, which makes the round trip exact.
uint64_t SharesForWeight(uint32_t weight) {
  return std::clamp<uint64_t>(std::llround(weight * 1024.0 / 100.0), 2, 262144);
}
uint32_t WeightForShares(uint64_t shares) {
  return static_cast<uint32_t>(
      std::clamp<int64_t>(std::llround(static_cast<double>(shares) * 100.0 / 1024.0), 1, 10000));
}

bool OwnerAlive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// The pid a MakeCgroupName() name starts with, or 0.
pid_t OwnerOf(std::string_view name) {
  size_t dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0) return 0;
  pid_t pid;
  if (!absl::SimpleAtoi(ToAbsl(name.substr(0, dash)), &pid) || pid <= 0) return 0;
  return pid;
}

// Enables `controllers` in `dir`/cgroup.subtree_control, one by one so that a
// failure names the controller.
absl::Status EnableControllers(const std::string& dir, const std::vector<std::string>& controllers,
                               bool required) {
  absl::StatusOr<std::string> current = ReadFile(Join(dir, "cgroup.subtree_control"));
  if (!current.ok()) return current.status();
  std::set<std::string> have = Words(*current);
  for (const std::string& c : controllers) {
    if (have.count(c) != 0) continue;
    absl::Status s = WriteKernelFile(Join(dir, "cgroup.subtree_control"), absl::StrCat("+", c));
    if (!s.ok() && required) {
      return Named(absl::StrCat("cgroup.", c),
                   absl::Status(s.code(), absl::StrCat("enable in ", dir, ": ", s.message())));
    }
  }
  return absl::OkStatus();
}

// Prepares <base>/<parent_name> for v2 children with `required` controllers
// (and as many of `optional` as can be enabled) and returns its path.
absl::StatusOr<std::string> PrepareV2Parent(const CgroupHierarchy& h, const std::string& base,
                                            const std::string& parent_name,
                                            const std::vector<std::string>& required,
                                            const std::vector<std::string>& optional) {
  const bool base_is_root = base == h.mount_point;
  if (!required.empty() && !base_is_root) {
    absl::StatusOr<std::string> subtree = ReadFile(Join(base, "cgroup.subtree_control"));
    if (!subtree.ok()) return subtree.status();
    std::set<std::string> enabled = Words(*subtree);
    std::vector<std::string> missing;
    for (const std::string& c : required) {
      if (enabled.count(c) == 0) missing.push_back(c);
    }
    if (!missing.empty()) {
      absl::StatusOr<std::string> available = ReadFile(Join(base, "cgroup.controllers"));
      if (!available.ok()) return available.status();
      std::set<std::string> offered = Words(*available);
      for (const std::string& c : missing) {
        if (offered.count(c) == 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("cgroup.", c, ": the ", c, " controller is not delegated to ", base));
        }
      }
      absl::StatusOr<std::vector<pid_t>> procs = ReadProcs(base);
      if (!procs.ok()) return procs.status();
      if (!procs->empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cgroup.", missing[0], ": ", base,
            " holds processes, so cgroup v2 does not allow enabling controllers for its "
            "children (no internal processes rule); run kavach in a delegated cgroup whose "
            "own processes live in a leaf below it"));
      }
    }
  }
  if (!required.empty() || base_is_root) {
    absl::Status s = EnableControllers(base, required, /*required=*/true);
    if (!s.ok()) return s;
    s = EnableControllers(base, optional, /*required=*/false);
    if (!s.ok()) return s;
  }
  const std::string dir = Join(base, parent_name);
  absl::Status s = MkdirExisting(dir);
  if (!s.ok()) return s;
  s = EnableControllers(dir, required, /*required=*/true);
  if (s.ok()) s = EnableControllers(dir, optional, /*required=*/false);
  if (!s.ok()) {
    ::rmdir(dir.c_str());  // only if empty: it may be shared
    return s;
  }
  return dir;
}

std::atomic<uint64_t> g_sequence{0};

// The cgroups above our own (nearest first, the mount's root excluded) that
// are delegated to us, as systemd delegates a subtree to an unprivileged
// user (Delegate=yes, a user's user@.service): the directory and its
// cgroup.subtree_control belong to our euid. When our own cgroup holds
// processes (the "no internal processes" rule keeps it from enabling
// controllers for children), the nearest of these is where our groups go:
// a sibling of our cgroup inside the same delegation, and our own process
// stays where it is. Root owns every cgroup, delegated or not: none for it.
std::vector<std::string> DelegatedAncestors(const CgroupHierarchy& h) {
  std::vector<std::string> out;
  const uid_t euid = ::geteuid();
  if (euid == 0 || h.own_dir.empty()) return out;
  std::string dir = h.own_dir;
  while (dir.size() > h.mount_point.size()) {
    dir = dir.substr(0, dir.rfind('/'));
    if (dir.size() <= h.mount_point.size()) break;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != euid) break;
    if (::stat(Join(dir, "cgroup.subtree_control").c_str(), &st) != 0 || st.st_uid != euid) break;
    out.push_back(dir);
  }
  return out;
}

}  // namespace

std::string MakeCgroupName() {
  uint32_t random = 0;
  if (::getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
    random = static_cast<uint32_t>(absl::GetCurrentTimeNanos());
  }
  return absl::StrCat(::getpid(), "-", g_sequence.fetch_add(1), "-", absl::Hex(random));
}

absl::StatusOr<std::unique_ptr<Cgroup>> Cgroup::Create(std::string_view name,
                                                       const CgroupLimits& limits,
                                                       const CgroupOptions& options) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  if (absl::Status s = ValidateLimits(limits); !s.ok()) return s;
  if (absl::Status s = ValidateName(options.parent); !s.ok()) return s;

  CgroupLayout layout;
  if (options.layout) {
    layout = *options.layout;
  } else {
    absl::StatusOr<CgroupLayout> detected = DetectCgroupLayout();
    if (!detected.ok()) return Named("cgroup", detected.status());
    layout = *std::move(detected);
  }
  const std::vector<std::string> required = Required(limits);

  auto v2_lacks = [&](const std::string& c) { return !layout.V2Has(c); };
  auto v1_lacks = [&](const std::string& c) { return layout.V1For(c) == nullptr; };
  auto lack_reason = [&](const std::string& c, bool v2) {
    if (v2) {
      if (!layout.v2) return absl::StrCat("cgroup.", c, ": no cgroup2 filesystem is mounted");
      return absl::StrCat("cgroup.", c, ": the cgroup2 hierarchy at ", layout.v2->mount_point,
                          " does not offer the ", c, " controller (it offers: ",
                          layout.v2->controllers.empty()
                              ? std::string("none")
                              : absl::StrJoin(layout.v2->controllers, " "),
                          ")");
    }
    return absl::StrCat("cgroup.", c, ": no cgroup v1 hierarchy has the ", c, " controller");
  };
  const bool v2_ok =
      layout.v2.has_value() && std::none_of(required.begin(), required.end(), v2_lacks);
  const bool v1_ok = !layout.v1.empty() && std::none_of(required.begin(), required.end(), v1_lacks);

  CgroupVersion version;
  switch (options.version) {
    case CgroupOptions::Version::kV2:
      if (!layout.v2)
        return absl::FailedPreconditionError("cgroup: no cgroup2 filesystem is mounted");
      for (const std::string& c : required) {
        if (v2_lacks(c)) return absl::FailedPreconditionError(lack_reason(c, true));
      }
      version = CgroupVersion::kV2;
      break;
    case CgroupOptions::Version::kV1:
      if (layout.v1.empty()) {
        return absl::FailedPreconditionError("cgroup: no cgroup v1 hierarchy is mounted");
      }
      for (const std::string& c : required) {
        if (v1_lacks(c)) return absl::FailedPreconditionError(lack_reason(c, false));
      }
      version = CgroupVersion::kV1;
      break;
    case CgroupOptions::Version::kAuto:
    default: {
      // On a hybrid host the cgroup2 mount usually offers few controllers;
      // v1 then gives the limits and the stats (memory, pids, cpuacct), so
      // v2 wins only when it has all of them.
      const bool v2_complete = layout.V2Has(kMemory) && layout.V2Has(kPids) && layout.V2Has(kCpu);
      if (layout.mode == CgroupMode::kV2 || (v2_ok && (v2_complete || !v1_ok))) {
        version = CgroupVersion::kV2;
        for (const std::string& c : required) {
          if (v2_lacks(c)) return absl::FailedPreconditionError(lack_reason(c, true));
        }
      } else if (layout.mode == CgroupMode::kNone) {
        return absl::FailedPreconditionError(absl::StrCat(
            required.empty() ? std::string("cgroup") : absl::StrCat("cgroup.", required[0]),
            ": no cgroup filesystem is mounted"));
      } else if (v1_ok) {
        version = CgroupVersion::kV1;
      } else {
        // Name the first controller neither version has; if each has some,
        // the split is the problem.
        for (const std::string& c : required) {
          if (v1_lacks(c) && v2_lacks(c)) {
            return absl::FailedPreconditionError(
                absl::StrCat(lack_reason(c, false), " and ", lack_reason(c, true)));
          }
        }
        for (const std::string& c : required) {
          if (v1_lacks(c)) {
            return absl::FailedPreconditionError(absl::StrCat(
                "cgroup.", c,
                ": offered only by cgroup v2 while other requested controllers are only on v1; "
                "one sandbox is not split across versions"));
          }
        }
        return absl::FailedPreconditionError("cgroup: no usable cgroup hierarchy");
      }
      break;
    }
  }

  std::unique_ptr<Cgroup> cg(new Cgroup());
  cg->name_ = std::string(name);
  cg->version_ = version;
  cg->use_cgroup_kill_ = options.use_cgroup_kill;
  cg->settle_timeout_ = options.settle_timeout;
  // From here on, an error return destroys `cg`, which removes whatever was
  // created so far.

  if (version == CgroupVersion::kV2) {
    const CgroupHierarchy& h = *layout.v2;
    std::vector<std::string> optional;
    for (const char* c : {kMemory, kPids, kCpu}) {
      if (h.Has(c) && std::find(required.begin(), required.end(), c) == required.end()) {
        optional.push_back(c);
      }
    }
    std::vector<std::string> bases;
    if (!h.own_dir.empty()) bases.push_back(h.own_dir);
    for (std::string& d : DelegatedAncestors(h)) bases.push_back(std::move(d));
    if (h.own_dir != h.mount_point) bases.push_back(h.mount_point);
    std::vector<absl::Status> failures;
    std::string leaf;
    for (const std::string& base : bases) {
      // Someone may remove the empty parent between our mkdir of it and of
      // the leaf (kavach before it kept its parents did); that shows as
      // ENOENT and is retried.
      for (int attempt = 0; attempt < 3; ++attempt) {
        absl::StatusOr<std::string> parent =
            PrepareV2Parent(h, base, options.parent, required, optional);
        if (!parent.ok()) {
          failures.push_back(parent.status());
          break;
        }
        std::string dir = Join(*parent, name);
        if (::mkdir(dir.c_str(), 0755) == 0) {
          leaf = dir;
          break;
        }
        int err = errno;
        if (err == ENOENT) continue;
        ::rmdir(parent->c_str());  // only if empty: it may be shared
        if (err == EEXIST) {
          return absl::AlreadyExistsError(absl::StrCat("cgroup: ", dir, " already exists"));
        }
        failures.push_back(ErrnoStatus(err, absl::StrCat("mkdir ", dir)));
        break;
      }
      if (!leaf.empty()) break;
    }
    if (leaf.empty()) {
      std::vector<std::string> why;
      bool all_permission = !failures.empty();
      for (const absl::Status& f : failures) {
        why.emplace_back(f.message());
        all_permission = all_permission && absl::IsPermissionDenied(f);
      }
      // Name a controller only when a reason is about one ("cgroup.pids: not
      // delegated"); not being allowed to write is about the whole cgroup.
      std::string control = "cgroup";
      for (const std::string& w : why) {
        if (absl::StartsWith(w, "cgroup.") && !all_permission) {
          control = w.substr(0, w.find(':'));
          break;
        }
      }
      std::string msg =
          absl::StrCat(control, ": cannot create a cgroup v2 group: ",
                       why.empty() ? "our cgroup is unknown" : absl::StrJoin(why, "; "));
      if (all_permission) return absl::PermissionDeniedError(msg);
      return absl::FailedPreconditionError(msg);
    }
    cg->dirs_.push_back(leaf);
    for (const char* c : {kMemory, kPids, kCpu, kCpuacct, kFreezer}) cg->dir_for_[c] = leaf;

    if (limits.memory_bytes) {
      absl::Status s =
          WriteKernelFile(Join(leaf, "memory.max"), absl::StrCat(*limits.memory_bytes));
      if (s.ok() && Exists(Join(leaf, "memory.swap.max"))) {
        s = WriteKernelFile(Join(leaf, "memory.swap.max"), "0");
      }
      if (!s.ok()) return Named("cgroup.memory", s);
    }
    if (limits.max_pids) {
      absl::Status s = WriteKernelFile(Join(leaf, "pids.max"), absl::StrCat(*limits.max_pids));
      if (!s.ok()) return Named("cgroup.pids", s);
    }
    if (limits.cpu_cores) {
      CpuQuota q = QuotaFor(*limits.cpu_cores);
      absl::Status s =
          WriteKernelFile(Join(leaf, "cpu.max"), absl::StrCat(q.quota_us, " ", q.period_us));
      if (!s.ok()) return Named("cgroup.cpu", s);
    }
    if (limits.cpu_weight) {
      absl::Status s = WriteKernelFile(Join(leaf, "cpu.weight"), absl::StrCat(*limits.cpu_weight));
      if (!s.ok()) return Named("cgroup.cpu", s);
    }
    cg->v2_fd_.Reset(::open(leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg->v2_fd_) return Named("cgroup", ErrnoStatus(errno, absl::StrCat("open ", leaf)));
    return cg;
  }

  // v1: one directory per hierarchy; co-mounted controllers share one.
  std::map<std::string, std::string> dir_for_mount;
  for (const char* c : {kMemory, kPids, kCpu, kCpuacct, kFreezer}) {
    const CgroupHierarchy* h = layout.V1For(c);
    if (h == nullptr) continue;
    // Co-mounted with cpu it costs nothing more, so it is joined anyway.
    if (std::string_view(c) == kCpuacct && !options.cpu_accounting &&
        dir_for_mount.count(h->mount_point) == 0) {
      continue;
    }
    const bool needed = std::find(required.begin(), required.end(), c) != required.end();
    if (h->own_dir.empty()) {
      if (needed) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cgroup.", c, ": our cgroup is not visible in the v1 hierarchy at ", h->mount_point));
      }
      continue;
    }
    auto [it, inserted] = dir_for_mount.emplace(h->mount_point, "");
    if (inserted) {
      const std::string parent = Join(h->own_dir, options.parent);
      const std::string dir = Join(parent, name);
      absl::Status s;
      for (int attempt = 0; attempt < 4; ++attempt) {
        // The leaf first: the parent is kept, so it exists but for the first
        // cgroup on the host (ENOENT: make it and try again).
        if (::mkdir(dir.c_str(), 0755) == 0) {
          s = absl::OkStatus();
          break;
        }
        int err = errno;
        s = err == EEXIST ? absl::AlreadyExistsError(absl::StrCat(dir, " already exists"))
                          : ErrnoStatus(err, absl::StrCat("mkdir ", dir));
        if (err != ENOENT) break;
        if (absl::Status made = MkdirExisting(parent); !made.ok()) {
          s = made;
          break;
        }
      }
      // Permission problems are about the cgroup as a whole, not one limit.
      if (!s.ok()) {
        return Named(needed && !absl::IsPermissionDenied(s) ? absl::StrCat("cgroup.", c)
                                                            : std::string("cgroup"),
                     s);
      }
      cg->dirs_.push_back(dir);
      it->second = dir;
    }
    cg->dir_for_[c] = it->second;
  }
  if (cg->dirs_.empty()) {
    return absl::FailedPreconditionError("cgroup: no usable cgroup v1 hierarchy");
  }
  if (limits.memory_bytes) {
    const std::string& dir = cg->dir_for_[kMemory];
    const std::string value = absl::StrCat(*limits.memory_bytes);
    absl::Status s = WriteKernelFile(Join(dir, "memory.limit_in_bytes"), value);
    // memsw is memory+swap and must not be below the memory limit, so it is
    // written second; equal to it means no swap.
    if (s.ok() && Exists(Join(dir, "memory.memsw.limit_in_bytes"))) {
      s = WriteKernelFile(Join(dir, "memory.memsw.limit_in_bytes"), value);
    }
    if (!s.ok()) return Named("cgroup.memory", s);
  }
  if (limits.max_pids) {
    absl::Status s =
        WriteKernelFile(Join(cg->dir_for_[kPids], "pids.max"), absl::StrCat(*limits.max_pids));
    if (!s.ok()) return Named("cgroup.pids", s);
  }
  if (limits.cpu_cores) {
    const std::string& dir = cg->dir_for_[kCpu];
    CpuQuota q = QuotaFor(*limits.cpu_cores);
    // A new cgroup's period is the kernel's default, kCpuPeriodUs: written
    // only when it differs (ReadBackLimits checks quota/period either way).
    absl::Status s;
    if (q.period_us != kCpuPeriodUs) {
      s = WriteKernelFile(Join(dir, "cpu.cfs_period_us"), absl::StrCat(q.period_us));
    }
    if (s.ok()) s = WriteKernelFile(Join(dir, "cpu.cfs_quota_us"), absl::StrCat(q.quota_us));
    if (!s.ok()) return Named("cgroup.cpu", s);
  }
  if (limits.cpu_weight) {
    absl::Status s = WriteKernelFile(Join(cg->dir_for_[kCpu], "cpu.shares"),
                                     absl::StrCat(SharesForWeight(*limits.cpu_weight)));
    if (!s.ok()) return Named("cgroup.cpu", s);
  }
  return cg;
}

Cgroup::~Cgroup() { (void)Destroy(); }

std::string Cgroup::DirFor(std::string_view controller) const {
  auto it = dir_for_.find(std::string(controller));
  return it == dir_for_.end() ? std::string() : it->second;
}

absl::Status Cgroup::AddProcess(pid_t pid) {
  if (destroyed_) return absl::FailedPreconditionError("cgroup: already destroyed");
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("cgroup: bad pid ", pid));
  for (const std::string& dir : dirs_) {
    absl::Status s = WriteKernelFile(Join(dir, "cgroup.procs"), absl::StrCat(pid));
    if (!s.ok()) return Named("cgroup", s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UniqueFd>> Cgroup::OpenV1SelfAttachFiles() const {
  if (version_ != CgroupVersion::kV1) {
    return absl::FailedPreconditionError("cgroup: self-attach files exist only on cgroup v1");
  }
  if (destroyed_) return absl::FailedPreconditionError("cgroup: already destroyed");
  std::vector<UniqueFd> fds;
  for (const std::string& dir : dirs_) {
    const std::string path = Join(dir, "tasks");
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return Named("cgroup", ErrnoStatus(errno, absl::StrCat("open ", path)));
    fds.push_back(std::move(fd));
  }
  return fds;
}

absl::StatusOr<CgroupLimits> Cgroup::ReadBackLimits() const {
  CgroupLimits out;
  const std::string mem = DirFor(kMemory);
  const std::string pids = DirFor(kPids);
  const std::string cpu = DirFor(kCpu);
  if (version_ == CgroupVersion::kV2) {
    const std::string& dir = dirs_.empty() ? std::string() : dirs_[0];
    if (Exists(Join(dir, "memory.max"))) {
      absl::StatusOr<std::string> v = ReadTrimmed(Join(dir, "memory.max"));
      if (!v.ok()) return Named("cgroup.memory", v.status());
      uint64_t n;
      if (*v != "max" && absl::SimpleAtoi(*v, &n)) out.memory_bytes = n;
    }
    if (Exists(Join(dir, "pids.max"))) {
      absl::StatusOr<std::string> v = ReadTrimmed(Join(dir, "pids.max"));
      if (!v.ok()) return Named("cgroup.pids", v.status());
      uint32_t n;
      if (*v != "max" && absl::SimpleAtoi(*v, &n)) out.max_pids = n;
    }
    if (Exists(Join(dir, "cpu.max"))) {
      absl::StatusOr<std::string> v = ReadTrimmed(Join(dir, "cpu.max"));
      if (!v.ok()) return Named("cgroup.cpu", v.status());
      std::pair<std::string, std::string> qp = absl::StrSplit(*v, ' ');
      int64_t quota, period;
      if (qp.first != "max" && absl::SimpleAtoi(qp.first, &quota) &&
          absl::SimpleAtoi(qp.second, &period) && period > 0) {
        out.cpu_cores = static_cast<double>(quota) / static_cast<double>(period);
      }
    }
    if (Exists(Join(dir, "cpu.weight"))) {
      absl::StatusOr<uint64_t> w = ReadU64(Join(dir, "cpu.weight"));
      if (!w.ok()) return Named("cgroup.cpu", w.status());
      out.cpu_weight = static_cast<uint32_t>(*w);
    }
    return out;
  }
  if (!mem.empty()) {
    absl::StatusOr<uint64_t> v = ReadU64(Join(mem, "memory.limit_in_bytes"));
    if (!v.ok()) return Named("cgroup.memory", v.status());
    if (*v < kV1Unlimited) out.memory_bytes = *v;
  }
  if (!pids.empty()) {
    absl::StatusOr<std::string> v = ReadTrimmed(Join(pids, "pids.max"));
    if (!v.ok()) return Named("cgroup.pids", v.status());
    uint32_t n;
    if (*v != "max" && absl::SimpleAtoi(*v, &n)) out.max_pids = n;
  }
  if (!cpu.empty()) {
    absl::StatusOr<std::string> quota = ReadTrimmed(Join(cpu, "cpu.cfs_quota_us"));
    absl::StatusOr<uint64_t> period = ReadU64(Join(cpu, "cpu.cfs_period_us"));
    absl::StatusOr<uint64_t> shares = ReadU64(Join(cpu, "cpu.shares"));
    if (!quota.ok()) return Named("cgroup.cpu", quota.status());
    if (!period.ok()) return Named("cgroup.cpu", period.status());
    if (!shares.ok()) return Named("cgroup.cpu", shares.status());
    int64_t q;
    if (absl::SimpleAtoi(*quota, &q) && q > 0 && *period > 0) {
      out.cpu_cores = static_cast<double>(q) / static_cast<double>(*period);
    }
    out.cpu_weight = WeightForShares(*shares);
  }
  return out;
}

absl::StatusOr<uint64_t> Cgroup::OomKillCount() const {
  const std::string dir = DirFor(kMemory);
  const std::string file = version_ == CgroupVersion::kV2 ? "memory.events" : "memory.oom_control";
  {
    // Read before and after every exec: the file is kept open and re-read
    // with one pread (kernfs regenerates it on each read from offset 0).
    absl::MutexLock lock(&oom_mu_);
    if (!oom_fd_ && !destroyed_ && !dir.empty()) {
      oom_fd_.Reset(::open(Join(dir, file).c_str(), O_RDONLY | O_CLOEXEC));
    }
    if (oom_fd_) {
      char buf[512];
      ssize_t n = ::pread(oom_fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        if (std::optional<uint64_t> v =
                FindKey(std::string_view(buf, static_cast<size_t>(n)), "oom_kill")) {
          return *v;
        }
      }
    }
  }
  if (dir.empty() || !Exists(Join(dir, file))) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup.memory: no ", file, " (memory controller not joined)"));
  }
  absl::StatusOr<uint64_t> n = ReadKey(Join(dir, file), "oom_kill");
  if (!n.ok()) return Named("cgroup.memory", n.status());
  return n;
}

absl::StatusOr<uint64_t> Cgroup::PeakMemoryBytes() const {
  const std::string dir = DirFor(kMemory);
  if (version_ == CgroupVersion::kV1) {
    if (dir.empty()) return absl::FailedPreconditionError("cgroup.memory: no memory hierarchy");
    absl::StatusOr<uint64_t> v = ReadU64(Join(dir, "memory.max_usage_in_bytes"));
    if (!v.ok()) return Named("cgroup.memory", v.status());
    return v;
  }
  if (peak_fd_) {
    // The reset made through this fd applies to reads through it only.
    char buf[64];
    ssize_t n = ::pread(peak_fd_.get(), buf, sizeof buf - 1, 0);
    if (n < 0) return Named("cgroup.memory", ErrnoStatus(errno, "read memory.peak"));
    uint64_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &v)) {
      return absl::InternalError("cgroup.memory: memory.peak is not a number");
    }
    return v;
  }
  for (const char* file : {"memory.peak", "memory.current"}) {
    if (Exists(Join(dir, file))) {
      absl::StatusOr<uint64_t> v = ReadU64(Join(dir, file));
      if (!v.ok()) return Named("cgroup.memory", v.status());
      return v;
    }
  }
  return absl::FailedPreconditionError("cgroup.memory: memory controller not enabled here");
}

absl::Status Cgroup::ResetPeak() {
  const std::string dir = DirFor(kMemory);
  if (version_ == CgroupVersion::kV1) {
    if (dir.empty()) return absl::FailedPreconditionError("cgroup.memory: no memory hierarchy");
    return Named("cgroup.memory", WriteKernelFile(Join(dir, "memory.max_usage_in_bytes"), "0"));
  }
  const std::string path = Join(dir, "memory.peak");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup.memory: cannot open memory.peak: ", strerror(errno)));
  }
  if (::write(fd.get(), "reset\n", 6) != 6) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cgroup.memory: this kernel cannot reset memory.peak (needs 6.12): ", strerror(errno)));
  }
  peak_fd_ = std::move(fd);
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> Cgroup::CpuTime() const {
  if (version_ == CgroupVersion::kV2) {
    absl::StatusOr<uint64_t> us = ReadKey(Join(DirFor(kCpu), "cpu.stat"), "usage_usec");
    if (!us.ok()) return Named("cgroup.cpu", us.status());
    return absl::Microseconds(static_cast<int64_t>(*us));
  }
  const std::string dir = DirFor(kCpuacct);
  if (dir.empty()) return absl::FailedPreconditionError("cgroup.cpu: no cpuacct hierarchy");
  absl::StatusOr<uint64_t> ns = ReadU64(Join(dir, "cpuacct.usage"));
  if (!ns.ok()) return Named("cgroup.cpu", ns.status());
  return absl::Nanoseconds(static_cast<int64_t>(*ns));
}

absl::StatusOr<std::vector<pid_t>> Cgroup::PidsIn(const std::vector<std::string>& dirs) const {
  std::set<pid_t> all;
  for (const std::string& top : dirs) {
    std::vector<std::string> tree;
    CollectTree(top, &tree);
    for (const std::string& dir : tree) {
      absl::StatusOr<std::vector<pid_t>> procs = ReadProcs(dir);
      // A sub-cgroup may vanish while we walk; the top one may not.
      if (!procs.ok() && dir == top) return Named("cgroup", procs.status());
      if (procs.ok()) all.insert(procs->begin(), procs->end());
    }
  }
  return std::vector<pid_t>(all.begin(), all.end());
}

absl::StatusOr<std::vector<pid_t>> Cgroup::Pids() const { return PidsIn(dirs_); }

absl::StatusOr<uint64_t> Cgroup::PidsCurrent() const {
  const std::string dir = DirFor(kPids);
  if (dir.empty() || !Exists(Join(dir, "pids.current"))) {
    return absl::FailedPreconditionError("cgroup.pids: pids controller not joined");
  }
  absl::StatusOr<uint64_t> v = ReadU64(Join(dir, "pids.current"));
  if (!v.ok()) return Named("cgroup.pids", v.status());
  return v;
}

absl::StatusOr<bool> Cgroup::IsFrozen() const {
  if (version_ == CgroupVersion::kV2) {
    absl::StatusOr<uint64_t> f = ReadKey(Join(DirFor(kFreezer), "cgroup.events"), "frozen");
    if (!f.ok()) return Named("cgroup.freezer", f.status());
    return *f == 1;
  }
  const std::string dir = DirFor(kFreezer);
  if (dir.empty()) return absl::FailedPreconditionError("cgroup.freezer: no freezer hierarchy");
  absl::StatusOr<std::string> state = ReadTrimmed(Join(dir, "freezer.state"));
  if (!state.ok()) return Named("cgroup.freezer", state.status());
  return *state == "FROZEN";
}

absl::Status Cgroup::Freeze() {
  if (destroyed_) return absl::FailedPreconditionError("cgroup: already destroyed");
  const std::string dir = DirFor(kFreezer);
  if (version_ == CgroupVersion::kV2) {
    if (!Exists(Join(dir, "cgroup.freeze"))) {
      return absl::FailedPreconditionError("cgroup.freezer: no cgroup.freeze (kernel < 5.2)");
    }
    absl::Status s = WriteKernelFile(Join(dir, "cgroup.freeze"), "1");
    if (!s.ok()) return Named("cgroup.freezer", s);
  } else {
    if (dir.empty()) return absl::FailedPreconditionError("cgroup.freezer: no freezer hierarchy");
    froze_ = true;  // even if the write fails part-way: Destroy() thaws
    absl::Status s = WriteKernelFile(Join(dir, "freezer.state"), "FROZEN");
    if (!s.ok()) return Named("cgroup.freezer", s);
  }
  absl::Status last;
  bool frozen = WaitFor(
      [&] {
        // v1 may stay FREEZING while a task is in an uninterruptible wait;
        // writing FROZEN again retries the tasks that were not caught.
        if (version_ == CgroupVersion::kV1) {
          (void)WriteKernelFile(Join(dir, "freezer.state"), "FROZEN");
        }
        absl::StatusOr<bool> f = IsFrozen();
        if (!f.ok()) last = f.status();
        return f.ok() && *f;
      },
      settle_timeout_);
  if (!frozen) {
    return absl::DeadlineExceededError(
        absl::StrCat("cgroup.freezer: not frozen after ", absl::FormatDuration(settle_timeout_),
                     last.ok() ? "" : absl::StrCat(": ", last.message())));
  }
  return absl::OkStatus();
}

absl::Status Cgroup::ThawIfFrozen() {
  if (destroyed_) return absl::FailedPreconditionError("cgroup: already destroyed");
  const std::string dir = DirFor(kFreezer);
  if (dir.empty()) return absl::OkStatus();
  const bool v2 = version_ == CgroupVersion::kV2;
  absl::StatusOr<std::string> state =
      ReadTrimmed(Join(dir, v2 ? "cgroup.freeze" : "freezer.state"));
  if (state.ok() && *state == (v2 ? "0" : "THAWED")) return absl::OkStatus();
  return Thaw();
}

absl::Status Cgroup::Thaw() {
  if (destroyed_) return absl::FailedPreconditionError("cgroup: already destroyed");
  const std::string dir = DirFor(kFreezer);
  absl::Status s;
  if (version_ == CgroupVersion::kV2) {
    s = WriteKernelFile(Join(dir, "cgroup.freeze"), "0");
  } else {
    if (dir.empty()) return absl::FailedPreconditionError("cgroup.freezer: no freezer hierarchy");
    s = WriteKernelFile(Join(dir, "freezer.state"), "THAWED");
  }
  if (!s.ok()) return Named("cgroup.freezer", s);
  bool thawed = WaitFor(
      [&] {
        absl::StatusOr<bool> f = IsFrozen();
        return f.ok() && !*f;
      },
      settle_timeout_);
  if (!thawed) {
    return absl::DeadlineExceededError(
        absl::StrCat("cgroup.freezer: not thawed after ", absl::FormatDuration(settle_timeout_)));
  }
  return absl::OkStatus();
}

absl::Status Cgroup::WaitEmpty() {
  std::vector<pid_t> left;
  bool empty = WaitFor(
      [&] {
        absl::StatusOr<std::vector<pid_t>> p = Pids();
        if (!p.ok()) return false;
        left = *p;
        return left.empty();
      },
      settle_timeout_);
  if (!empty) {
    return absl::InternalError(
        absl::StrCat("cgroup: processes survived the kill: ", absl::StrJoin(left, " ")));
  }
  return absl::OkStatus();
}

absl::Status Cgroup::KillLoop() {
  // Freezing first stops forks, so the list we kill is complete. Without a
  // freezer (v1 hosts that lack it) rounds of kills still converge unless a
  // fork bomb outruns them, which the bounded rounds then report.
  const bool can_freeze = version_ == CgroupVersion::kV2
                              ? Exists(Join(DirFor(kFreezer), "cgroup.freeze"))
                              : !DirFor(kFreezer).empty();
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<std::vector<pid_t>> pids = Pids();
    if (!pids.ok()) return pids.status();
    if (pids->empty()) return absl::OkStatus();
    const bool frozen = can_freeze && Freeze().ok();
    absl::StatusOr<std::vector<pid_t>> still = Pids();
    if (still.ok()) pids = std::move(still);
    for (pid_t pid : *pids) ::kill(pid, SIGKILL);
    if (can_freeze) (void)Thaw();
    // Killed tasks leave the cgroup as they exit; give them a moment before
    // looking for survivors (or for children forked before a failed freeze).
    WaitFor(
        [&] {
          absl::StatusOr<std::vector<pid_t>> p = Pids();
          return p.ok() && p->empty();
        },
        frozen ? settle_timeout_ / 10 : absl::Milliseconds(50));
  }
  return WaitEmpty();
}

bool Cgroup::KnownEmpty() const {
  if (dirs_.empty()) return false;
  if (version_ == CgroupVersion::kV2) {
    absl::StatusOr<uint64_t> populated = ReadKey(Join(dirs_[0], "cgroup.events"), "populated");
    return populated.ok() && *populated == 0;
  }
  // Every task of the tree is in each v1 hierarchy it joined; pids.current
  // counts the whole subtree, zombies included.
  const std::string dir = DirFor(kPids);
  if (dir.empty()) return false;
  absl::StatusOr<uint64_t> current = ReadU64(Join(dir, "pids.current"));
  return current.ok() && *current == 0;
}

absl::Status Cgroup::KillAll() {
  if (destroyed_) return absl::OkStatus();
  if (version_ == CgroupVersion::kV2 && use_cgroup_kill_ && !dirs_.empty() &&
      Exists(Join(dirs_[0], "cgroup.kill"))) {
    absl::Status s = WriteKernelFile(Join(dirs_[0], "cgroup.kill"), "1");
    if (!s.ok()) return Named("cgroup", s);
    return WaitEmpty();
  }
  return KillLoop();
}

absl::Status Cgroup::Destroy() {
  if (destroyed_) return absl::OkStatus();
  // Empty by the quick check (the usual case once a sandbox's init has been
  // reaped): straight to rmdir, which itself refuses a cgroup that still
  // holds a task; a busy one gets the full kill below.
  absl::Status first = KnownEmpty() ? absl::OkStatus() : KillAll();
  // A frozen v2 cgroup that is empty can still be removed, but thaw anyway so
  // that nothing we missed stays stuck. Only if we ever froze it: a fresh v1
  // cgroup is THAWED, and that write was a kernfs open, write and close on
  // every sandbox's teardown. (Frozen by someone else and not empty: the
  // kill below freezes it, and so thaws it here.)
  if (version_ == CgroupVersion::kV1 && froze_ && !DirFor(kFreezer).empty()) {
    (void)WriteKernelFile(Join(DirFor(kFreezer), "freezer.state"), "THAWED");
  }
  v2_fd_.Reset();
  peak_fd_.Reset();
  {
    absl::MutexLock lock(&oom_mu_);
    oom_fd_.Reset();
  }
  // One pass without waiting: after a clean kill every directory is empty
  // and goes at the first rmdir.
  std::vector<std::string> busy;
  for (const std::string& dir : dirs_) {
    if (!RemoveTree(dir, absl::ZeroDuration()).ok()) busy.push_back(dir);
  }
  if (!busy.empty() && first.ok()) {
    // Tasks that KnownEmpty() could not see (moved out of the pids
    // hierarchy from outside) or still leaving: the full kill, then wait.
    std::vector<std::string> all = dirs_;
    dirs_ = busy;  // the removed ones have no cgroup.procs left to read
    first = KillLoop();
    dirs_ = std::move(all);
  }
  bool all_gone = true;
  // If the kill failed the directories stay busy: do not wait for each.
  const absl::Duration rmdir_wait = first.ok() ? settle_timeout_ : absl::ZeroDuration();
  for (const std::string& dir : busy) {
    absl::Status s = RemoveTree(dir, rmdir_wait);
    if (!s.ok()) {
      all_gone = false;
      if (first.ok()) first = Named("cgroup", s);
    }
  }
  // The shared "kavach" parent stays for the next sandbox: making and
  // removing it cost every cold sandbox one cgroup mkdir and one rmdir per
  // hierarchy (five of each on a v1 host), the kernel creating and tearing
  // down every controller's files each time.
  if (all_gone) destroyed_ = true;
  return first;
}

absl::StatusOr<int> RemoveStaleCgroups(const CgroupLayout& layout, std::string_view parent) {
  if (absl::Status s = ValidateName(parent); !s.ok()) return s;
  std::set<std::string> parents;
  if (layout.v2) {
    if (!layout.v2->own_dir.empty()) parents.insert(Join(layout.v2->own_dir, parent));
    for (const std::string& d : DelegatedAncestors(*layout.v2)) parents.insert(Join(d, parent));
    parents.insert(Join(layout.v2->mount_point, parent));
  }
  for (const auto& [controller, h] : layout.v1) {
    if (!h.own_dir.empty()) parents.insert(Join(h.own_dir, parent));
  }
  int removed = 0;
  absl::Status first;
  for (const std::string& p : parents) {
    if (!Exists(p)) continue;
    for (const std::string& dir : SubDirs(p)) {
      std::string_view base = std::string_view(dir).substr(p.size() + 1);
      pid_t owner = OwnerOf(base);
      if (owner == 0 || OwnerAlive(owner)) continue;
      // Kill what is left inside (rounds, since a process may fork while we
      // list), then remove.
      std::vector<std::string> tree;
      CollectTree(dir, &tree);
      if (Exists(Join(dir, "cgroup.kill"))) {
        (void)WriteKernelFile(Join(dir, "cgroup.kill"), "1");
      }
      // A v1 cgroup left frozen would keep its tasks from dying.
      if (Exists(Join(dir, "freezer.state"))) {
        (void)WriteKernelFile(Join(dir, "freezer.state"), "THAWED");
      }
      WaitFor(
          [&] {
            bool none = true;
            for (const std::string& d : tree) {
              absl::StatusOr<std::vector<pid_t>> procs = ReadProcs(d);
              if (!procs.ok()) continue;
              for (pid_t pid : *procs) {
                ::kill(pid, SIGKILL);
                none = false;
              }
            }
            return none;
          },
          absl::Seconds(5));
      absl::Status s = RemoveTree(dir, absl::Seconds(5));
      if (s.ok()) {
        ++removed;
      } else if (first.ok()) {
        first = Named("cgroup", s);
      }
    }
  }
  if (!first.ok()) return first;
  return removed;
}

absl::StatusOr<int> RemoveStaleCgroups(std::string_view parent) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  if (!layout.ok()) return layout.status();
  return RemoveStaleCgroups(*layout, parent);
}

}  // namespace kavach::sys
