// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/block_share.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "linux/file_util.h"
#include "linux/unique_fd.h"

namespace kavach::internal {
namespace {

// Bump when the squashfs options below change.
constexpr char kSquashfsFormat[] = "kavach-squashfs 1";
// Tools are looked up here, not in the caller's PATH: a PATH entry someone
// else can write must not choose the program that reads a guest's image.
constexpr char kToolPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr int kMaxDepth = 64;

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string s;
  for (unsigned i = 0; i < len; ++i) absl::StrAppendFormat(&s, "%02x", md[i]);
  return s;
}

std::string Stamp(const struct stat& st) {
  return absl::StrCat(st.st_mode, " ", st.st_uid, ":", st.st_gid, " ", st.st_size, " ", st.st_ino,
                      " ", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, " ", st.st_ctim.tv_sec, ".",
                      st.st_ctim.tv_nsec);
}

// Walks `dir` without following symlinks, calling fn(relpath, stat) for
// each entry below it; stops (returning false) when fn returns false.
bool Walk(const std::string& dir, const std::string& rel, int depth,
          const std::function<bool(const std::string&, const struct stat&)>& fn) {
  if (depth > kMaxDepth) return true;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return true;
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::string path = dir + "/" + n;
    std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (!fn(r, st)) return false;
    if (S_ISDIR(st.st_mode) && !Walk(path, r, depth + 1, fn)) return false;
  }
  return true;
}

absl::StatusOr<std::string> RealDir(const std::string& dir) {
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) == nullptr) return sys::ErrnoStatus(errno, dir);
  struct stat st;
  if (::stat(real, &st) != 0) return sys::ErrnoStatus(errno, real);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, " is not a directory"));
  }
  return std::string(real);
}

absl::StatusOr<std::string> ReadFd(int fd) {
  std::string out;
  if (::lseek(fd, 0, SEEK_SET) < 0) return sys::ErrnoStatus(errno, "lseek");
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::ErrnoStatus(errno, "read");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (16u << 20)) break;
  }
  return out;
}

struct ToolResult {
  int status = 0;
  std::string out;
  std::string err;
};

// fork + exec with stdout/stderr into memfds (no pipes to drain, no
// deadlock on a chatty tool). `child_setup` runs in the child before exec
// and may only make system calls; it returns an errno or 0.
absl::StatusOr<ToolResult> Spawn(const std::string& path, const std::vector<std::string>& argv,
                                 const std::function<int()>& child_setup = nullptr,
                                 absl::Duration timeout = absl::InfiniteDuration()) {
  sys::UniqueFd out(::memfd_create("kavach-tool-out", MFD_CLOEXEC));
  sys::UniqueFd err(::memfd_create("kavach-tool-err", MFD_CLOEXEC));
  if (!out.valid() || !err.valid()) return sys::ErrnoStatus(errno, "memfd_create");
  std::vector<char*> av;
  for (const std::string& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  std::string path_env = absl::StrCat("PATH=", kToolPath);
  char lc[] = "LC_ALL=C";
  char* envp[] = {path_env.data(), lc, nullptr};
  pid_t pid = ::fork();
  if (pid < 0) return sys::ErrnoStatus(errno, "fork");
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out.get(), 1) < 0 || ::dup2(err.get(), 2) < 0) {
      ::_exit(126);
    }
    if (child_setup) {
      if (int e = child_setup(); e != 0) {
        const char* m = ::strerror(e);
        (void)!::write(2, "kavach: tool set-up failed: ", 28);
        (void)!::write(2, m, ::strlen(m));
        ::_exit(125);
      }
    }
    ::execve(path.c_str(), av.data(), envp);
    ::_exit(127);
  }
  if (timeout != absl::InfiniteDuration()) {
    // A tool that hangs is killed at the deadline: callers such as the
    // backend probe must never block forever on a host binary.
    sys::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    bool exited = false;
    if (pidfd.valid()) {
      struct pollfd p = {pidfd.get(), POLLIN, 0};
      int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
      int rc;
      while ((rc = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
      }
      exited = rc > 0;
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return absl::DeadlineExceededError(
          absl::StrCat(argv.empty() ? path : argv[0], " did not finish within ",
                       absl::FormatDuration(timeout), pidfd.valid() ? "" : " (pidfd_open failed)"));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys::ErrnoStatus(errno, "waitpid");
  }
  ToolResult r;
  r.status = status;
  absl::StatusOr<std::string> o = ReadFd(out.get());
  absl::StatusOr<std::string> e = ReadFd(err.get());
  if (o.ok()) r.out = *std::move(o);
  if (e.ok()) r.err = *std::move(e);
  return r;
}

absl::StatusOr<std::string> FindTool(const std::string& name, const std::string& package) {
  absl::StatusOr<std::string> p = sys::FindInPath(name, kToolPath);
  if (!p.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " not found in ", kToolPath, " (install ", package, ")"));
  }
  return p;
}

absl::Status ToolStatus(const std::string& tool, const ToolResult& r) {
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) return absl::OkStatus();
  std::string how = WIFEXITED(r.status) ? absl::StrCat("exited ", WEXITSTATUS(r.status))
                                        : absl::StrCat("killed by signal ", WTERMSIG(r.status));
  std::string err(absl::StripAsciiWhitespace(r.err));
  if (err.empty()) err = std::string(absl::StripAsciiWhitespace(r.out));
  if (err.size() > 600) err = err.substr(0, 600) + "...";
  return absl::InternalError(absl::StrCat(tool, " ", how, err.empty() ? "" : ": ", err));
}

// ---- copy-out ----------------------------------------------------------

// True when a symlink at `depth` with this target may resolve outside the
// directory. ".." is allowed only as leading components: after a name, the
// kernel resolves ".." against wherever that name really leads, and the
// name may itself be a symlink ("sub/c -> .." then "sub/d -> c/../x" climbs
// out although it looks inside). With leading ".." only, every symlink
// stays inside by induction: it goes up within the directory, then down
// through names that are directories or symlinks held to the same rule.
bool EscapesDir(const std::string& target, int depth) {
  if (target.empty() || target[0] == '/') return true;
  int level = depth;
  bool descended = false;
  for (absl::string_view c : absl::StrSplit(target, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (descended || --level < 0) return true;
    } else {
      descended = true;
    }
  }
  return false;
}

void RemoveAt(int dirfd, const std::string& name, int depth = 0) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode) && depth < kMaxDepth) {
    ::fchmodat(dirfd, name.c_str(), 0700, 0);
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      if (DIR* d = ::fdopendir(fd)) {
        std::vector<std::string> names;
        while (struct dirent* e = ::readdir(d)) {
          std::string n = e->d_name;
          if (n != "." && n != "..") names.push_back(n);
        }
        for (const std::string& n : names) RemoveAt(::dirfd(d), n, depth + 1);
        ::closedir(d);
      } else {
        ::close(fd);
      }
    }
    ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
  } else {
    ::unlinkat(dirfd, name.c_str(), 0);
  }
}

struct MergeCtx {
  uid_t uid;
  gid_t gid;
  bool chown;
  time_t populated;  // when the image was made (0: unknown)
  std::set<std::string> manifest;
  CopyOutReport* report;
};

std::string TempName() {
  static unsigned counter = 0;
  return absl::StrCat(".kavach-copyout-", ::getpid(), "-", ++counter);
}

absl::Status CopyFileAt(int sfd, const std::string& name, int hfd, const struct stat& st,
                        const MergeCtx& ctx) {
  ::fchmodat(sfd, name.c_str(), 0600, 0);  // ours in the staging tree (may be 000)
  sys::UniqueFd in(::openat(sfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.valid()) return sys::ErrnoStatus(errno, absl::StrCat("open staged ", name));
  std::string tmp = TempName();
  sys::UniqueFd out(
      ::openat(hfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) return sys::ErrnoStatus(errno, absl::StrCat("create ", tmp));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::unlinkat(hfd, tmp.c_str(), 0);
      return sys::ErrnoStatus(e, absl::StrCat("read staged ", name));
    }
    if (n == 0) break;
    if (absl::Status s = sys::WriteAll(out.get(), std::string_view(buf, n)); !s.ok()) {
      ::unlinkat(hfd, tmp.c_str(), 0);
      return s;
    }
  }
  if (ctx.chown) (void)::fchown(out.get(), ctx.uid, ctx.gid);
  ::fchmod(out.get(), st.st_mode & 0777);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::futimens(out.get(), times);
  if (::renameat(hfd, tmp.c_str(), hfd, name.c_str()) != 0) {
    int e = errno;
    if (e == EISDIR || e == ENOTEMPTY || e == EEXIST) {
      RemoveAt(hfd, name);
      if (::renameat(hfd, tmp.c_str(), hfd, name.c_str()) == 0) return absl::OkStatus();
    }
    ::unlinkat(hfd, tmp.c_str(), 0);
    return sys::ErrnoStatus(e, absl::StrCat("rename into ", name));
  }
  return absl::OkStatus();
}

absl::Status Merge(int sfd, int hfd, const std::string& rel, int depth, MergeCtx& ctx) {
  CopyOutReport& rep = *ctx.report;
  std::vector<std::string> staged;
  {
    int dup = ::dup(sfd);
    DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (d == nullptr) return sys::ErrnoStatus(errno, absl::StrCat("opendir staged /", rel));
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") staged.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(staged.begin(), staged.end());
  std::set<std::string> seen;
  for (const std::string& n : staged) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    if (depth == 0 && n == "lost+found") continue;  // mke2fs's, not the guest's
    seen.insert(n);
    if (absl::StartsWith(n, ".kavach-copyout-")) {
      rep.dropped.push_back(absl::StrCat(r, ": reserved name"));
      continue;
    }
    struct stat st;
    if (::fstatat(sfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) {
      rep.stripped.push_back(absl::StrFormat("%s: mode %04o", r, st.st_mode & 07777));
    }
    struct stat hs;
    bool have = ::fstatat(hfd, n.c_str(), &hs, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > kMaxDepth) {
        rep.dropped.push_back(absl::StrCat(r, ": deeper than ", kMaxDepth, " levels"));
        continue;
      }
      if (have && !S_ISDIR(hs.st_mode)) {
        RemoveAt(hfd, n);
        have = false;
      }
      if (!have) {
        if (::mkdirat(hfd, n.c_str(), 0700) != 0) {
          return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", r));
        }
        if (ctx.chown) (void)::fchownat(hfd, n.c_str(), ctx.uid, ctx.gid, AT_SYMLINK_NOFOLLOW);
        ++rep.dirs_created;
      }
      ::fchmodat(sfd, n.c_str(), 0700, 0);
      sys::UniqueFd sub_s(
          ::openat(sfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      sys::UniqueFd sub_h(
          ::openat(hfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_s.valid() || !sub_h.valid()) {
        return sys::ErrnoStatus(errno, absl::StrCat("open directory ", r));
      }
      if (absl::Status s = Merge(sub_s.get(), sub_h.get(), r, depth + 1, ctx); !s.ok()) return s;
      // Permission bits only, and never one that locks us out.
      ::fchmod(sub_h.get(), (st.st_mode & 0777) | 0700);
    } else if (S_ISREG(st.st_mode)) {
      // Unchanged since the image was populated: same size, mtime and
      // permission bits, and an mtime older than the population (debugfs
      // restores whole seconds, so a change within that second is copied).
      if (have && S_ISREG(hs.st_mode) && hs.st_size == st.st_size &&
          hs.st_mtim.tv_sec == st.st_mtim.tv_sec && (hs.st_mode & 07777) == (st.st_mode & 0777) &&
          ctx.populated != 0 && st.st_mtim.tv_sec + 1 < ctx.populated) {
        ++rep.files_unchanged;
        continue;
      }
      if (absl::Status s = CopyFileAt(sfd, n, hfd, st, ctx); !s.ok()) return s;
      ++rep.files_written;
    } else if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t len = ::readlinkat(sfd, n.c_str(), buf, sizeof buf - 1);
      if (len < 0) continue;
      std::string target(buf, static_cast<size_t>(len));
      if (EscapesDir(target, depth)) {
        rep.dropped.push_back(
            absl::StrCat(r, ": symlink to '", target, "' may lead out of the directory"));
        continue;
      }
      if (have && S_ISLNK(hs.st_mode)) {
        char hb[PATH_MAX];
        ssize_t hl = ::readlinkat(hfd, n.c_str(), hb, sizeof hb - 1);
        if (hl == len && std::memcmp(hb, buf, static_cast<size_t>(len)) == 0) continue;
      }
      std::string tmp = TempName();
      if (::symlinkat(target.c_str(), hfd, tmp.c_str()) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("symlink ", r));
      }
      if (ctx.chown) (void)::fchownat(hfd, tmp.c_str(), ctx.uid, ctx.gid, AT_SYMLINK_NOFOLLOW);
      if (have && S_ISDIR(hs.st_mode)) RemoveAt(hfd, n);
      if (::renameat(hfd, tmp.c_str(), hfd, n.c_str()) != 0) {
        int e = errno;
        ::unlinkat(hfd, tmp.c_str(), 0);
        return sys::ErrnoStatus(e, absl::StrCat("rename into ", r));
      }
      ++rep.links_written;
    } else {
      rep.dropped.push_back(
          absl::StrFormat("%s: special file (mode %06o) not copied", r, st.st_mode));
    }
  }
  // What the guest deleted: entries the image was populated with and no
  // longer holds. Entries that appeared on the host meanwhile stay.
  std::vector<std::string> host;
  {
    int dup = ::dup(hfd);
    DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (d == nullptr) return sys::ErrnoStatus(errno, absl::StrCat("opendir /", rel));
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") host.push_back(n);
    }
    ::closedir(d);
  }
  for (const std::string& n : host) {
    if (seen.count(n) != 0) continue;
    std::string r = rel.empty() ? n : rel + "/" + n;
    if (ctx.manifest.count(r) == 0) continue;
    RemoveAt(hfd, n);
    ++rep.removed;
  }
  return absl::OkStatus();
}

// The child's side of the debugfs jail: a private mount namespace (in a
// user namespace when we are not root), a tmpfs as its root holding only a
// read-only /usr (debugfs and its libraries), the image read-only at /img
// and the staging directory at /out; then no capability beyond the file
// ones rdump needs. A name in a hostile image that climbs out of /out
// ("../../x" inside a dirent) lands in that throw-away tmpfs or fails on
// the read-only /usr.
struct JailPlan {
  std::string root;     // an empty directory (the tmpfs is mounted on it)
  std::string image;    // the image
  std::string staging;  // where rdump writes
  bool as_root;
  uint64_t fsize_limit;
  // Every path the child needs, built before fork (the child only makes
  // system calls): the system directories as binds or links, /img, /out.
  std::vector<std::pair<std::string, std::string>> binds;  // (host dir, path under root)
  std::vector<std::pair<std::string, std::string>> links;  // (target, path under root)
  std::string root_img, root_out;
  std::string uid_map, gid_map;
};

int WriteProcFile(const char* path, const std::string& data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = ::write(fd, data.data(), data.size());
  int e = n == static_cast<ssize_t>(data.size()) ? 0 : (errno ? errno : EIO);
  ::close(fd);
  return e;
}

int EnterDebugfsJail(const JailPlan& p) {
  if (!p.as_root) {
    // /proc/self/*_map belong to root in a process that changed its uid
    // (not dumpable); the child execs debugfs next, which resets it.
    if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return errno;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
    if (int e = WriteProcFile("/proc/self/setgroups", "deny"); e != 0) return e;
    if (int e = WriteProcFile("/proc/self/uid_map", p.uid_map); e != 0) return e;
    if (int e = WriteProcFile("/proc/self/gid_map", p.gid_map); e != 0) return e;
  } else if (::unshare(CLONE_NEWNS) != 0) {
    return errno;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  if (::mount("tmpfs", p.root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") != 0) {
    return errno;
  }
  auto bind_ro = [](const char* from, const char* to) -> int {
    if (::mount(from, to, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
    if (::mount(nullptr, to, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                nullptr) != 0) {
      return errno;
    }
    return 0;
  };
  for (const auto& [from, to] : p.binds) {
    if (::mkdir(to.c_str(), 0755) != 0) return errno;
    if (int e = bind_ro(from.c_str(), to.c_str()); e != 0) return e;
  }
  for (const auto& [target, path] : p.links) {
    if (::symlink(target.c_str(), path.c_str()) != 0) return errno;
  }
  int fd = ::open(p.root_img.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  ::close(fd);
  if (int e = bind_ro(p.image.c_str(), p.root_img.c_str()); e != 0) return e;
  if (::mkdir(p.root_out.c_str(), 0755) != 0) return errno;
  if (::mount(p.staging.c_str(), p.root_out.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return errno;
  }
  if (::chdir(p.root.c_str()) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0) return errno;
  // rdump creates, chmods and chowns files; nothing else is left to it.
  // Not CAP_DAC_READ_SEARCH: open_by_handle_at with it reaches any inode of
  // a mounted file system, past the chroot. Not CAP_SYS_CHROOT or
  // CAP_SYS_ADMIN: no way out of the chroot or the scratch mounts.
  constexpr int kKeep[] = {0 /*CHOWN*/, 1 /*DAC_OVERRIDE*/, 3 /*FOWNER*/, 4 /*FSETID*/};
  for (int cap = 0; cap <= 63; ++cap) {
    bool keep = false;
    for (int k : kKeep) keep |= cap == k;
    if (!keep && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  // A sparse file claiming terabytes fails with EFBIG instead of filling
  // the host's disk (SIGXFSZ ignored so debugfs reports it and goes on).
  struct rlimit rl = {p.fsize_limit, p.fsize_limit};
  if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return errno;
  ::signal(SIGXFSZ, SIG_IGN);
  return 0;
}

}  // namespace

absl::StatusOr<std::string> RunTool(const std::vector<std::string>& argv,
                                    const std::string& package, absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("RunTool: empty argv");
  absl::StatusOr<std::string> path = FindTool(argv[0], package);
  if (!path.ok()) return path.status();
  absl::StatusOr<ToolResult> r = Spawn(*path, argv, nullptr, timeout);
  if (!r.ok()) return r.status();
  if (absl::Status s = ToolStatus(argv[0], *r); !s.ok()) return s;
  return std::move(r->out);
}

// The key covers what decides the image's content without reading it all
// (/usr here holds 9.3 GB; hashing it per sandbox would cost minutes):
// - the format and the mksquashfs options (kSquashfsFormat);
// - the real path;
// - small trees (up to kSquashfsFullStampBudget entries): every entry's lstat
//   stamp, ctime included. A file's content cannot change without its
//   mtime and ctime changing, and ctime cannot be set back from user space,
//   so this is sound and costs one lstat per entry;
// - big trees (/usr): the stamps of the directory itself and of every
//   directory in its first two levels (adding, removing or renaming an
//   entry there changes them; dpkg installs every file by writing a
//   temporary name and renaming it, which touches the file's directory),
//   plus the stamp of /var/lib/dpkg/status (every package change rewrites
//   it). A file edited in place deeper down, outside dpkg, is not seen:
//   the price of not walking 300,000 entries for each sandbox.
absl::StatusOr<std::string> SquashfsCacheKey(const std::string& host_dir, size_t full_budget) {
  absl::StatusOr<std::string> real = RealDir(host_dir);
  if (!real.ok()) return real.status();
  struct stat top;
  if (::stat(real->c_str(), &top) != 0) return sys::ErrnoStatus(errno, *real);
  std::string head = absl::StrCat(kSquashfsFormat, "\n", *real, "\n. ", Stamp(top), "\n");
  std::string full = head + "full\n";
  size_t n = 0;
  bool small = Walk(*real, "", 0, [&](const std::string& rel, const struct stat& st) {
    if (++n > full_budget) return false;
    absl::StrAppend(&full, rel, " ", Stamp(st), "\n");
    return true;
  });
  if (small) return Sha256Hex(full).substr(0, 32);
  // Depth kMaxDepth: Walk lists that directory only, without descending.
  std::string big = head + "big\n";
  std::vector<std::string> level1;
  Walk(*real, "", kMaxDepth, [&](const std::string& rel, const struct stat& st) {
    if (S_ISDIR(st.st_mode)) {
      absl::StrAppend(&big, rel, " ", Stamp(st), "\n");
      level1.push_back(rel);
    }
    return true;
  });
  for (const std::string& d : level1) {
    Walk(*real + "/" + d, d, kMaxDepth, [&](const std::string& rel, const struct stat& st) {
      if (S_ISDIR(st.st_mode)) absl::StrAppend(&big, rel, " ", Stamp(st), "\n");
      return true;
    });
  }
  struct stat dpkg;
  if (::stat("/var/lib/dpkg/status", &dpkg) == 0) {
    absl::StrAppend(&big, "dpkg ", Stamp(dpkg), "\n");
  }
  return Sha256Hex(big).substr(0, 32);
}

absl::StatusOr<SquashfsImage> EnsureSquashfsImage(const std::string& host_dir,
                                                  const std::string& cache_dir) {
  absl::StatusOr<std::string> real = RealDir(host_dir);
  if (!real.ok()) return real.status();
  absl::StatusOr<std::string> tool = FindTool("mksquashfs", "squashfs-tools");
  if (!tool.ok()) return tool.status();
  // The image becomes a guest's /usr: the cache must be ours alone.
  if (absl::Status s = sys::MakePrivateDir(cache_dir, 0700); !s.ok()) return s;
  absl::StatusOr<std::string> key = SquashfsCacheKey(*real);
  if (!key.ok()) return key.status();
  SquashfsImage img;
  img.key = *key;
  img.path = absl::StrCat(cache_dir, "/", *key, ".squashfs");
  struct stat st;
  if (::lstat(img.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) return img;
  std::string tmp = absl::StrCat(cache_dir, "/.", *key, ".XXXXXX");
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return sys::ErrnoStatus(errno, "mkstemp " + tmp);
  ::close(fd);
  // Real owners and modes are kept (not -all-root): the guest runs
  // commands as an unprivileged uid, which must not own the guest's /usr;
  // setuid bits stay too but are inert (the agent mounts it nosuid).
  // Extended attributes are dropped (file capabilities, security labels:
  // nothing the guest should honour). lz4: cheap to decompress under TCG.
  // -reproducible and -mkfs-time 0: the same tree gives the same bytes.
  absl::StatusOr<ToolResult> r = Spawn(
      *tool, {"mksquashfs", *real, tmp, "-noappend", "-no-xattrs", "-comp", "lz4", "-reproducible",
              "-mkfs-time", "0", "-one-file-system", "-no-recovery", "-quiet", "-no-progress"});
  absl::Status s = r.ok() ? ToolStatus("mksquashfs", *r) : r.status();
  if (s.ok() && ::chmod(tmp.c_str(), 0644) != 0) s = sys::ErrnoStatus(errno, "chmod " + tmp);
  if (s.ok() && ::rename(tmp.c_str(), img.path.c_str()) != 0) {
    s = sys::ErrnoStatus(errno, "rename to " + img.path);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  img.built = true;
  return img;
}

absl::Status MakeExt4Image(const std::string& host_dir, const std::string& image,
                           uint64_t size_bytes) {
  absl::StatusOr<std::string> real = RealDir(host_dir);
  if (!real.ok()) return real.status();
  absl::StatusOr<std::string> tool = FindTool("mke2fs", "e2fsprogs");
  if (!tool.ok()) return tool.status();
  struct stat top;
  if (::stat(real->c_str(), &top) != 0) return sys::ErrnoStatus(errno, *real);
  // What goes in (for copy-out's deletions) and how much room it needs.
  std::string manifest = absl::StrCat("kavach-ext4-manifest 1 ", ::time(nullptr), "\n");
  uint64_t bytes = 0;
  Walk(*real, "", 0, [&](const std::string& rel, const struct stat& st) {
    absl::StrAppend(&manifest, rel, std::string(1, '\0'));
    bytes += static_cast<uint64_t>(st.st_blocks) * 512 + 4096;
    return true;
  });
  uint64_t need = bytes + bytes / 4 + (64ull << 20);
  if (size_bytes < need) size_bytes = need;
  ::unlink(image.c_str());
  sys::UniqueFd fd(::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return sys::ErrnoStatus(errno, "create " + image);
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) {
    int e = errno;
    ::unlink(image.c_str());
    return sys::ErrnoStatus(e, "truncate " + image);
  }
  fd.Reset();
  // No journal: the guest mounts it with -o sync, so what is written is in
  // place; debugfs on the host does not replay a journal.
  absl::StatusOr<ToolResult> r =
      Spawn(*tool, {"mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0", "-E",
                    absl::StrCat("root_owner=", top.st_uid, ":", top.st_gid), "-d", *real, image});
  absl::Status s = r.ok() ? ToolStatus("mke2fs", *r) : r.status();
  // mke2fs -d copies everything below the root but gives the root 0755:
  // the directory's own mode (a 0777 working directory) is set here.
  if (s.ok() && (top.st_mode & 07777) != 0755) {
    absl::StatusOr<std::string> dbg = FindTool("debugfs", "e2fsprogs");
    if (!dbg.ok()) {
      s = dbg.status();
    } else {
      absl::StatusOr<ToolResult> m = Spawn(
          *dbg,
          {"debugfs", "-w", "-R",
           absl::StrFormat("set_inode_field / mode 0%o", S_IFDIR | (top.st_mode & 07777)), image});
      s = m.ok() ? ToolStatus("debugfs", *m) : m.status();
      if (s.ok() && !m->err.empty() && absl::StrContains(m->err, "set_inode_field:")) {
        s = absl::InternalError(absl::StrCat("debugfs set_inode_field: ", m->err));
      }
    }
  }
  if (s.ok()) s = sys::WriteFile(image + ".manifest", manifest, 0600);
  if (!s.ok()) ::unlink(image.c_str());
  return s;
}

absl::StatusOr<CopyOutReport> CopyOutExt4Image(const std::string& image,
                                               const std::string& host_dir) {
  absl::StatusOr<std::string> real = RealDir(host_dir);
  if (!real.ok()) return real.status();
  struct stat ist;
  if (::stat(image.c_str(), &ist) != 0) return sys::ErrnoStatus(errno, image);
  if (!S_ISREG(ist.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(image, " is not a regular file"));
  }
  absl::StatusOr<std::string> tool = FindTool("debugfs", "e2fsprogs");
  if (!tool.ok()) return tool.status();
  if (!absl::StartsWith(*tool, "/usr/")) {
    return absl::FailedPreconditionError(
        absl::StrCat("debugfs at ", *tool, ": copy-out runs it from a read-only /usr only"));
  }
  struct stat hst;
  if (::stat(real->c_str(), &hst) != 0) return sys::ErrnoStatus(errno, *real);

  MergeCtx ctx;
  ctx.uid = hst.st_uid;
  ctx.gid = hst.st_gid;
  ctx.chown = ::geteuid() == 0;
  ctx.populated = 0;
  CopyOutReport report;
  ctx.report = &report;
  if (absl::StatusOr<std::string> m = sys::ReadFile(image + ".manifest"); m.ok()) {
    size_t nl = m->find('\n');
    std::vector<std::string> head = absl::StrSplit(m->substr(0, nl), ' ');
    int64_t t = 0;
    if (head.size() == 3 && absl::SimpleAtoi(head[2], &t)) ctx.populated = static_cast<time_t>(t);
    if (nl != std::string::npos) {
      for (absl::string_view p : absl::StrSplit(absl::string_view(*m).substr(nl + 1), '\0')) {
        if (!p.empty()) ctx.manifest.insert(std::string(p));
      }
    }
  }

  size_t slash = image.rfind('/');
  std::string dir =
      slash == std::string::npos || slash == 0 ? std::string(".") : image.substr(0, slash);
  std::string staging = absl::StrCat(dir, "/.copyout-XXXXXX");
  std::string root = absl::StrCat(dir, "/.copyout-root-XXXXXX");
  if (::mkdtemp(staging.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + staging);
  if (::mkdtemp(root.data()) == nullptr) {
    int e = errno;
    ::rmdir(staging.c_str());
    return sys::ErrnoStatus(e, "mkdtemp " + root);
  }
  auto cleanup = [&] {
    std::string parent = staging.substr(0, staging.rfind('/'));
    sys::UniqueFd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (pfd.valid()) {
      RemoveAt(pfd.get(), staging.substr(staging.rfind('/') + 1));
      RemoveAt(pfd.get(), root.substr(root.rfind('/') + 1));
    }
  };

  JailPlan plan;
  plan.root = root;
  plan.image = image;
  plan.staging = staging;
  plan.as_root = ::geteuid() == 0;
  plan.fsize_limit = static_cast<uint64_t>(ist.st_size);
  plan.binds.emplace_back("/usr", root + "/usr");
  for (const char* d : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st;
    if (::lstat(d, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char t[PATH_MAX];
      ssize_t n = ::readlink(d, t, sizeof t - 1);
      if (n > 0) plan.links.emplace_back(std::string(t, static_cast<size_t>(n)), root + d);
    } else if (S_ISDIR(st.st_mode)) {
      plan.binds.emplace_back(d, root + d);
    }
  }
  plan.root_img = root + "/img";
  plan.root_out = root + "/out";
  plan.uid_map = absl::StrCat("0 ", ::geteuid(), " 1\n");
  plan.gid_map = absl::StrCat("0 ", ::getegid(), " 1\n");
  absl::StatusOr<ToolResult> r = Spawn(*tool, {"debugfs", "-R", "rdump / /out", "/img"},
                                       [&]() -> int { return EnterDebugfsJail(plan); });
  absl::Status s = r.ok() ? ToolStatus("debugfs", *r) : r.status();
  // debugfs exits 0 even when it cannot open the image; an empty dump
  // must not read as "the guest deleted everything".
  if (s.ok() && (absl::StrContains(r->err, "while trying to open") ||
                 absl::StrContains(r->err, "Filesystem not open"))) {
    s = absl::DataLossError(absl::StrCat(
        "debugfs could not read the image: ",
        absl::StripAsciiWhitespace(r->err.substr(0, std::min<size_t>(r->err.size(), 600)))));
  }
  if (s.ok()) {
    // debugfs exits 0 whatever rdump met; what it reports besides its
    // banner goes into the report.
    for (absl::string_view line : absl::StrSplit(r->err, '\n', absl::SkipWhitespace())) {
      if (absl::StartsWith(line, "debugfs ")) continue;
      if (report.dropped.size() < 100) report.dropped.push_back(absl::StrCat("debugfs: ", line));
    }
    sys::UniqueFd sfd(::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    sys::UniqueFd hfd(::open(real->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sfd.valid() || !hfd.valid()) {
      s = sys::ErrnoStatus(errno, "open " + (sfd.valid() ? *real : staging));
    } else {
      s = Merge(sfd.get(), hfd.get(), "", 0, ctx);
    }
  }
  cleanup();
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("copy-out of ", image, " into ", *real, ": ", s.message()));
  }
  return report;
}

}  // namespace kavach::internal
