// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/root_template.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

// More distinct plans than this in one process (each workdir layout or
// policy variant is one) and the cache starts over rather than grow.
constexpr size_t kMaxTemplates = 16;

bool InTemplateKind(const RootStep& s) {
  switch (s.kind) {
    case RootStepKind::kDir:
    case RootStepKind::kSymlink:
    case RootStepKind::kBindReadOnly:
    case RootStepKind::kBindDevice:
      return true;
    case RootStepKind::kFile:
      return !s.secret;
    case RootStepKind::kBindReadWrite:
    case RootStepKind::kTmpfs:
    case RootStepKind::kProc:
    case RootStepKind::kMaskTmpfs:
    case RootStepKind::kMaskFile:
      return false;
  }
  return false;
}

// `inner` is `outer` or below it ("/work" covers "/work/x", not "/workx").
bool Covers(std::string_view outer, std::string_view inner) {
  if (inner.size() < outer.size() || inner.substr(0, outer.size()) != outer) return false;
  return inner.size() == outer.size() || inner[outer.size()] == '/' || outer == "/";
}

// The target relative to the template's root ("/etc/hosts" -> "etc/hosts").
std::string Relative(const char* target) {
  std::string_view t(target);
  while (!t.empty() && t.front() == '/') t.remove_prefix(1);
  return std::string(t);
}

absl::Status Fail(const char* what, const std::string& path) {
  return sys::ErrnoStatus(errno, absl::StrCat("root template: ", what, " ", path));
}

// mkdir -p below `root`; existing directories (also inside binds) are fine.
absl::Status MakeDirsAt(int root, const std::string& rel, mode_t mode) {
  if (rel.empty()) return absl::OkStatus();
  if (::mkdirat(root, rel.c_str(), mode) == 0 || errno == EEXIST) return absl::OkStatus();
  if (errno != ENOENT) return Fail("mkdir", rel);
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return Fail("mkdir", rel);
  if (absl::Status s = MakeDirsAt(root, rel.substr(0, slash), 0755); !s.ok()) return s;
  if (::mkdirat(root, rel.c_str(), mode) != 0 && errno != EEXIST) return Fail("mkdir", rel);
  return absl::OkStatus();
}

absl::Status MakeParentsAt(int root, const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return absl::OkStatus();
  return MakeDirsAt(root, rel.substr(0, slash), 0755);
}

bool ExistsAt(int root, const std::string& rel) {
  struct stat st;
  return ::fstatat(root, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// An empty file or a directory to mount over, unless something is there.
absl::Status MakeMountPointAt(int root, const std::string& rel, bool dir) {
  if (ExistsAt(root, rel)) return absl::OkStatus();
  if (dir) return MakeDirsAt(root, rel, 0755);
  if (absl::Status s = MakeParentsAt(root, rel); !s.ok()) return s;
  sys::UniqueFd f(::openat(root, rel.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!f) return Fail("create", rel);
  return absl::OkStatus();
}

absl::Status WriteFileAt(int root, const std::string& rel, const RootStep& s) {
  if (absl::Status st = MakeParentsAt(root, rel); !st.ok()) return st;
  sys::UniqueFd f(
      ::openat(root, rel.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, s.mode));
  if (!f) return Fail("create", rel);
  size_t off = 0;
  while (off < s.data_len) {
    ssize_t n = ::write(f.get(), s.data + off, s.data_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail("write", rel);
    off += static_cast<size_t>(n);
  }
  // The process's umask must not decide the mode (init builds with umask 0).
  if (::fchmod(f.get(), s.mode) != 0) return Fail("chmod", rel);
  return absl::OkStatus();
}

// Binds `s.source` at `rel`: a detached clone of the source, its attributes
// set while detached, moved onto the (detached) template tree.
absl::Status BindAt(int root, const std::string& rel, const RootStep& s) {
  const bool device = s.kind == RootStepKind::kBindDevice;
  sys::UniqueFd tree(::open_tree(
      AT_FDCWD, s.source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (device ? 0 : AT_RECURSIVE)));
  if (!tree) {
    if (s.optional && errno == ENOENT) return absl::OkStatus();
    return Fail("open_tree", s.source);
  }
  struct stat st;
  if (::fstat(tree.get(), &st) != 0) return Fail("stat", s.source);
  if (absl::Status m = MakeMountPointAt(root, rel, S_ISDIR(st.st_mode)); !m.ok()) return m;
  struct mount_attr attr = {};
  attr.attr_set = device ? (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)
                         : (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | (device ? 0 : AT_RECURSIVE), &attr,
                      sizeof attr) != 0) {
    return Fail("mount_setattr", s.source);
  }
  if (::move_mount(tree.get(), "", root, rel.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return Fail("move_mount onto", rel);
  }
  return absl::OkStatus();
}

}  // namespace

bool PlanRootTemplate(const RootStep* steps, int count, bool read_only_root, RootTemplatePlan* plan,
                      std::string* why_not) {
  // A writable root would be one tmpfs shared by every sandbox of the plan.
  if (!read_only_root) {
    *why_not = "the root is writable";
    return false;
  }
  plan->in_template.assign(static_cast<size_t>(count), false);
  plan->key.clear();
  std::vector<std::string_view> fresh;  // targets of the sandbox's own mounts so far
  for (int i = 0; i < count; ++i) {
    const RootStep& s = steps[i];
    if (s.kind == RootStepKind::kFile && s.secret) {
      *why_not = "the root holds a secret file";
      return false;
    }
    const bool templated = InTemplateKind(s);
    if (templated) {
      // Built into the template, it would sit below a mount that init makes
      // later in the sandbox, and be hidden by it.
      for (std::string_view f : fresh) {
        if (Covers(f, s.target)) {
          *why_not = absl::StrCat(s.target, " is below the sandbox's own mount ", std::string(f));
          return false;
        }
      }
    } else if (s.kind != RootStepKind::kMaskTmpfs && s.kind != RootStepKind::kMaskFile) {
      fresh.push_back(s.target);
    }
    plan->in_template[static_cast<size_t>(i)] = templated;
    // The key holds everything the template's content depends on: the steps
    // it holds, and the mount points (and their type) of the others.
    absl::StrAppend(&plan->key, static_cast<int>(s.kind), templated ? "T" : "F", "\x1f", s.target,
                    "\x1f");
    if (templated) {
      absl::StrAppend(&plan->key, s.source ? s.source : "", "\x1f",
                      std::string(s.data ? s.data : "", s.data ? s.data_len : 0), "\x1f", s.mode,
                      s.optional ? "o" : "r");
    } else if (s.kind == RootStepKind::kBindReadWrite) {
      struct stat st;
      bool dir = s.source != nullptr && ::stat(s.source, &st) == 0 && S_ISDIR(st.st_mode);
      absl::StrAppend(&plan->key, dir ? "d" : "f");
    }
    absl::StrAppend(&plan->key, "\x1e");
  }
  return true;
}

absl::StatusOr<sys::UniqueFd> BuildRootTemplate(const RootStep* steps, int count,
                                                const RootTemplatePlan& plan) {
  size_t data_bytes = 0;
  for (int i = 0; i < count; ++i) data_bytes += steps[i].data_len;
  sys::UniqueFd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
  if (!fs) return Fail("fsopen", "tmpfs");
  const std::string size = absl::StrCat(data_bytes + (1u << 20));
  if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", "tmpfs", 0) != 0 ||
      ::fsconfig(fs.get(), FSCONFIG_SET_STRING, "mode", "0755", 0) != 0 ||
      ::fsconfig(fs.get(), FSCONFIG_SET_STRING, "size", size.c_str(), 0) != 0 ||
      ::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return Fail("fsconfig", "tmpfs");
  }
  sys::UniqueFd root(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
  if (!root) return Fail("fsmount", "tmpfs");
  const int r = root.get();
  for (int i = 0; i < count; ++i) {
    const RootStep& s = steps[i];
    const std::string rel = Relative(s.target);
    absl::Status st;
    if (!plan.in_template[static_cast<size_t>(i)]) {
      switch (s.kind) {
        case RootStepKind::kTmpfs:
        case RootStepKind::kProc:
          st = MakeDirsAt(r, rel, 0755);
          break;
        case RootStepKind::kBindReadWrite: {
          struct stat host;
          if (::stat(s.source, &host) != 0) return Fail("stat", s.source);
          st = MakeMountPointAt(r, rel, S_ISDIR(host.st_mode));
          break;
        }
        default:  // masks: init covers what is there
          break;
      }
      if (!st.ok()) return st;
      continue;
    }
    switch (s.kind) {
      case RootStepKind::kDir:
        st = MakeDirsAt(r, rel, s.mode);
        if (st.ok() && ::fchmodat(r, rel.c_str(), s.mode, 0) != 0) st = Fail("chmod", rel);
        break;
      case RootStepKind::kFile:
        st = WriteFileAt(r, rel, s);
        break;
      case RootStepKind::kSymlink:
        st = MakeParentsAt(r, rel);
        if (st.ok() && ::symlinkat(s.data, r, rel.c_str()) != 0) st = Fail("symlink", rel);
        break;
      case RootStepKind::kBindReadOnly:
      case RootStepKind::kBindDevice:
        st = BindAt(r, rel, s);
        break;
      default:
        break;
    }
    if (!st.ok()) return st;
  }
  // Read-only for good: the superblock (no sandbox can write to it, whatever
  // it does to its own mount's flags) and the root mount of every clone.
  sys::UniqueFd pick(::fspick(r, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC));
  if (!pick || ::fsconfig(pick.get(), FSCONFIG_SET_FLAG, "ro", nullptr, 0) != 0 ||
      ::fsconfig(pick.get(), FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) != 0) {
    return Fail("read-only superblock", "tmpfs");
  }
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::mount_setattr(r, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    return Fail("mount_setattr", "template root");
  }
  // Private, the whole tree: a bind of a host mount that is shared (the
  // systemd default) would otherwise stay in its peer group, and mounts made
  // on the host below /usr would appear in every sandbox cloned from it
  // (a step-by-step root is built after init made its namespace private).
  struct mount_attr propagation = {};
  propagation.propagation = MS_PRIVATE;
  if (::mount_setattr(r, "", AT_EMPTY_PATH | AT_RECURSIVE, &propagation, sizeof propagation) != 0) {
    return Fail("make private", "template");
  }
  return root;
}

RootTemplateCache& RootTemplateCache::Global() {
  static RootTemplateCache* cache = new RootTemplateCache();
  return *cache;
}

std::vector<RootTemplateCache::SourceId> RootTemplateCache::IdentifySources(
    const RootStep* steps, int count, const RootTemplatePlan& plan) {
  std::vector<SourceId> ids;
  for (int i = 0; i < count; ++i) {
    const RootStep& s = steps[i];
    if (!plan.in_template[static_cast<size_t>(i)] || s.source == nullptr) continue;
    SourceId id;
    id.path = s.source;
    struct stat st;
    if (::stat(s.source, &st) == 0) {
      id.present = true;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
    }
    ids.push_back(std::move(id));
  }
  return ids;
}

// A bind pins the inode it was made from: a source the host has replaced
// since (ldconfig renames a new /etc/ld.so.cache over the old one, a package
// upgrade replaces a directory) or one that appeared or vanished makes the
// template stale.
bool RootTemplateCache::SourcesUnchanged(const std::vector<SourceId>& sources) {
  for (const SourceId& id : sources) {
    struct stat st;
    bool present = ::stat(id.path.c_str(), &st) == 0;
    if (present != id.present) return false;
    if (present && (st.st_dev != id.dev || st.st_ino != id.ino)) return false;
  }
  return true;
}

sys::UniqueFd RootTemplateCache::CloneFor(RootStep* steps, int count, bool read_only_root) {
  RootTemplatePlan plan;
  std::string why_not;
  if (!PlanRootTemplate(steps, count, read_only_root, &plan, &why_not)) return sys::UniqueFd();
  for (int i = 0; i < count; ++i) steps[i].in_template = plan.in_template[static_cast<size_t>(i)];
  {
    absl::MutexLock lock(&mu_);
    if (unsupported_) return sys::UniqueFd();
    bool known = false;
    for (auto& [key, entry] : entries_) {
      if (key != plan.key) continue;
      known = true;
      if (entry.root && SourcesUnchanged(entry.sources)) {
        return sys::UniqueFd(
            ::open_tree(entry.root.get(), "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH));
      }
      break;
    }
    if (!known) {
      // First sight: remember the plan, build nothing. Built in the
      // background of a one-shot process (the CLI), the template only took
      // CPU from the sandbox being made (create 3.4 -> 4.5-6.6 ms measured).
      if (entries_.size() >= kMaxTemplates) entries_.clear();
      entries_.emplace_back(plan.key, Entry());
      return sys::UniqueFd();
    }
  }
  return BuildAndClone(steps, count, read_only_root);
}

sys::UniqueFd RootTemplateCache::BuildAndClone(const RootStep* steps, int count,
                                               bool read_only_root) {
  RootTemplatePlan plan;
  std::string why_not;
  if (!PlanRootTemplate(steps, count, read_only_root, &plan, &why_not)) return sys::UniqueFd();
  absl::MutexLock lock(&mu_);
  if (unsupported_) return sys::UniqueFd();
  Entry* entry = nullptr;
  for (auto& [key, e] : entries_) {
    if (key == plan.key) entry = &e;
  }
  if (entry == nullptr) {
    if (entries_.size() >= kMaxTemplates) entries_.clear();
    entries_.emplace_back(plan.key, Entry());
    entry = &entries_.back().second;
  }
  // (Another sandbox of the plan may have built it meanwhile.)
  if (!entry->root || !SourcesUnchanged(entry->sources)) {
    entry->root.Reset();
    // Identified before building, so a source replaced meanwhile is caught
    // at the next use.
    entry->sources = IdentifySources(steps, count, plan);
    absl::StatusOr<sys::UniqueFd> built = BuildRootTemplate(steps, count, plan);
    if (!built.ok()) {
      // No new mount API, no privilege for it, or no move onto a detached
      // tree (before 6.15): nothing later would differ. Anything else (a
      // source that vanished mid-build) is retried with the next sandbox.
      const absl::StatusCode code = built.status().code();
      if (code == absl::StatusCode::kPermissionDenied ||
          code == absl::StatusCode::kFailedPrecondition ||
          code == absl::StatusCode::kInvalidArgument) {
        unsupported_ = true;
      }
      return sys::UniqueFd();
    }
    entry->root = *std::move(built);
  }
  return sys::UniqueFd(::open_tree(
      entry->root.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH));
}

void RootTemplateCache::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
  unsupported_ = false;
}

}  // namespace kavach::internal
