// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linux/file_util.h"
#include "linux/strings.h"

extern char** environ;

namespace kavach::internal {
namespace {

constexpr char kUnifiedMount[] = "/sys/fs/cgroup/unified";
// After a kill, how long the pipes may stay open (held by a process that
// escaped the kill) before we stop reading.
constexpr absl::Duration kDrainAfterKill = absl::Seconds(2);

// Writes a fixed message to stderr and exits; async-signal-safe (the child
// of a fork in a threaded process).
[[noreturn]] void ChildFail(const char* what) {
  int err = errno;
  const char* prefix = "kavach oci: ";
  (void)!::write(2, prefix, strlen(prefix));
  (void)!::write(2, what, strlen(what));
  (void)!::write(2, ": ", 2);
  const char* msg = strerror(err);
  (void)!::write(2, msg, strlen(msg));
  (void)!::write(2, "\n", 1);
  _exit(127);
}

void Append(std::string& buf, bool& truncated, uint64_t cap, const char* data, size_t n) {
  if (buf.size() < cap) {
    size_t take = std::min<uint64_t>(n, cap - buf.size());
    buf.append(data, take);
    if (take < n) truncated = true;
  } else if (n > 0) {
    truncated = true;
  }
}

// The fd number for OciRuntime::fd_table_headroom: 1023 (a 1024-slot table,
// above the ~260 fds runsc's sandbox reaches), lower when the soft fd limit
// is lower; -1 when that leaves no headroom worth having.
int FdTableHeadroomFd() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  const rlim_t fd = std::min<rlim_t>(1023, rl.rlim_cur - 1);
  return fd >= 255 ? static_cast<int>(fd) : -1;
}

// Starts argv[0] with stdin, stdout and stderr from the three fds, in a
// process group of its own, no other fd (but /dev/null at `headroom_fd` when
// that is >= 0), no blocked signal and SIGPIPE at its default.
absl::StatusOr<pid_t> SpawnRuntime(const std::vector<char*>& argv, int in_fd, int out_fd,
                                   int err_fd, int headroom_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (int e = posix_spawn_file_actions_init(&actions); e != 0) {
    return sys::ErrnoStatus(e, "posix_spawn_file_actions_init");
  }
  if (int e = posix_spawnattr_init(&attr); e != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return sys::ErrnoStatus(e, "posix_spawnattr_init");
  }
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  int e = posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (e == 0 && headroom_fd >= 0) {
    e = posix_spawn_file_actions_addopen(&actions, headroom_fd, "/dev/null", O_RDONLY, 0);
  }
  if (e == 0) {
    e = posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  if (e == 0) e = posix_spawnattr_setpgroup(&attr, 0);
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &none);
  if (e == 0) e = posix_spawnattr_setsigdefault(&attr, &pipe_only);
  pid_t pid = -1;
  if (e == 0) e = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (e != 0) return sys::ErrnoStatus(e, absl::StrCat("start ", argv[0]));
  return pid;
}

}  // namespace

std::string OciRuntimeNameFromEnv() {
  const char* v = ::getenv("KAVACH_OCI_RUNTIME");
  if (v == nullptr || *v == '\0') return "crun";
  return v;
}

bool HostHasControllerlessUnifiedCgroup() {
  absl::StatusOr<std::string> controllers =
      sys::ReadFile(absl::StrCat(kUnifiedMount, "/cgroup.controllers"));
  if (!controllers.ok()) return false;
  for (absl::string_view c : absl::StrSplit(*controllers, absl::ByAnyChar(" \n"))) {
    if (c == "memory" || c == "pids" || c == "cpu") return false;
  }
  return true;
}

absl::StatusOr<OciRuntime> ResolveOciRuntime(std::string_view name, std::string state_root,
                                             bool run_version) {
  if (name != "crun" && name != "runc") {
    return absl::InvalidArgumentError(
        absl::StrCat("OCI runtime must be crun or runc, not \"", ToAbsl(name), "\""));
  }
  absl::StatusOr<std::string> path =
      sys::FindInPath(name, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!path.ok()) return path.status();
  OciRuntime rt;
  rt.name = std::string(name);
  rt.path = *path;
  rt.state_root = std::move(state_root);
  const bool hybrid = name == "crun" && HostHasControllerlessUnifiedCgroup();
  if (hybrid && ::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "crun 1.8 refuses this host's hybrid cgroup layout (a cgroup2 mount at "
        "/sys/fs/cgroup/unified without controllers), and only root can detach that mount "
        "in a private mount namespace; use runc or run as root");
  }
  rt.detach_unified_cgroup = hybrid;
  if (!run_version) return rt;
  // `--version` takes no --root; run it bare.
  OciRuntime bare = rt;
  bare.state_root.clear();
  absl::StatusOr<RuntimeOutput> v = RunRuntime(bare, {"--version"}, absl::Seconds(10));
  if (!v.ok()) return v.status();
  if (v->exit_code != 0) {
    return absl::UnavailableError(absl::StrCat(rt.path, " --version failed (exit ", v->exit_code,
                                               "): ", absl::StripAsciiWhitespace(v->err)));
  }
  return rt;
}

absl::StatusOr<std::unique_ptr<RuntimeChild>> RuntimeChild::Start(
    const OciRuntime& runtime, const std::vector<std::string>& args, bool with_stdin,
    bool null_stdio) {
  if (null_stdio) with_stdin = false;
  std::vector<std::string> full = {runtime.path};
  if (!runtime.state_root.empty()) {
    full.push_back("--root");
    full.push_back(runtime.state_root);
  }
  full.insert(full.end(), runtime.global_args.begin(), runtime.global_args.end());
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);

  absl::StatusOr<sys::Pipe> in;
  if (with_stdin) {
    in = sys::MakePipe();
    if (!in.ok()) return in.status();
  }
  absl::StatusOr<sys::Pipe> out = sys::MakePipe();
  if (!out.ok()) return out.status();
  absl::StatusOr<sys::Pipe> err = sys::MakePipe();
  if (!err.ok()) return err.status();
  int devnull = with_stdin && !null_stdio ? -1 : ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 && !(with_stdin && !null_stdio)) return sys::ErrnoStatus(errno, "open /dev/null");
  sys::UniqueFd devnull_fd(devnull);
  const bool detach = runtime.detach_unified_cgroup;
  const int in_fd = with_stdin ? in->read.get() : devnull;
  const int out_fd = null_stdio ? devnull : out->write.get();
  const int err_fd = null_stdio ? devnull : err->write.get();

  auto child = std::unique_ptr<RuntimeChild>(new RuntimeChild());
  child->started_ = absl::Now();
  pid_t pid = -1;
  if (!detach) {
    // posix_spawn: glibc starts the child with CLONE_VM|CLONE_VFORK, without
    // copying this process's page tables as fork does (kavach maps tens of
    // MiB: ~0.3 ms per runtime call), and reports a failed exec as an error.
    const int headroom_fd = runtime.fd_table_headroom ? FdTableHeadroomFd() : -1;
    absl::StatusOr<pid_t> spawned = SpawnRuntime(argv, in_fd, out_fd, err_fd, headroom_fd);
    if (!spawned.ok()) return spawned.status();
    pid = *spawned;
  } else {
    pid = ::fork();
  }
  if (pid < 0) return sys::ErrnoStatus(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ChildFail("dup2");
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (detach) {
      if (::unshare(CLONE_NEWNS) != 0) ChildFail("unshare(CLONE_NEWNS) for crun");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        ChildFail("make mounts private for crun");
      }
      if (::umount2(kUnifiedMount, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        ChildFail("detach /sys/fs/cgroup/unified for crun");
      }
    }
    ::execve(argv[0], argv.data(), environ);
    ChildFail("execve of the OCI runtime");
  }
  child->pid_ = pid;
  child->runtime_name_ = runtime.name;
  if (with_stdin) child->stdin_ = std::move(in->write);
  if (!null_stdio) {
    child->stdout_ = std::move(out->read);
    child->stderr_ = std::move(err->read);
  }
  return child;
}

RuntimeChild::~RuntimeChild() {
  if (pid_ > 0 && !reaped_) {
    KillGroup();
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void RuntimeChild::KillGroup() {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, SIGKILL);
}

absl::StatusOr<std::string> RuntimeChild::ReadStderrFrame(std::string_view magic,
                                                          absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string& buf = stderr_pending_;
  char chunk[16384];
  while (true) {
    const size_t at = buf.find(magic);
    const size_t nl = at == std::string::npos ? std::string::npos : buf.find('\n', at);
    if (nl != std::string::npos) {
      uint64_t len = 0;
      if (!absl::SimpleAtoi(
              absl::string_view(buf).substr(at + magic.size(), nl - at - magic.size()), &len)) {
        return absl::DataLossError("malformed report frame from kavach-oci-probe");
      }
      if (buf.size() - (nl + 1) >= len) {
        std::string frame = buf.substr(nl + 1, len);
        buf.erase(at, nl + 1 + len - at);
        return frame;
      }
    }
    if (!stderr_.valid()) {
      return absl::UnavailableError(absl::StrCat(runtime_name_,
                                                 " ended before the container's "
                                                 "first process reported: ",
                                                 absl::StripAsciiWhitespace(buf)));
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the container's first process did not report within ", absl::FormatDuration(timeout),
          "; ", runtime_name_, " said: ", absl::StripAsciiWhitespace(buf)));
    }
    pollfd p = {stderr_.get(), POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - now)) + 1;
    int ready = ::poll(&p, 1, ms);
    if (ready < 0 && errno != EINTR) return sys::ErrnoStatus(errno, "poll");
    if (ready <= 0) continue;
    ssize_t got = ::read(stderr_.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      stderr_.Reset();
      continue;
    }
    buf.append(chunk, static_cast<size_t>(got));
  }
}

absl::StatusOr<RuntimeOutput> RuntimeChild::Collect(const CollectOptions& options) {
  RuntimeOutput r;
  if (!stderr_pending_.empty()) {
    if (options.on_stderr) options.on_stderr(stderr_pending_);
    Append(r.err, r.err_truncated, options.max_output_bytes, stderr_pending_.data(),
           stderr_pending_.size());
    stderr_pending_.clear();
  }
  std::string_view pending;
  if (options.stdin_data) pending = *options.stdin_data;
  if (stdin_.valid()) {
    ::fcntl(stdin_.get(), F_SETFL, ::fcntl(stdin_.get(), F_GETFL) | O_NONBLOCK);
    if (pending.empty()) stdin_.Reset();
  }
  absl::Time deadline = started_ + options.timeout;
  std::optional<absl::Time> drain_until;
  char buf[65536];
  while (stdout_.valid() || stderr_.valid()) {
    absl::Time now = absl::Now();
    if (!r.timed_out && now >= deadline) {
      r.timed_out = true;
      if (options.on_timeout) options.on_timeout();
      KillGroup();
      drain_until = now + kDrainAfterKill;
    }
    if (drain_until && now >= *drain_until) break;
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (stdout_.valid()) {
      fds[n] = {stdout_.get(), POLLIN, 0};
      out_i = n++;
    }
    if (stderr_.valid()) {
      fds[n] = {stderr_.get(), POLLIN, 0};
      err_i = n++;
    }
    if (stdin_.valid()) {
      fds[n] = {stdin_.get(), POLLOUT, 0};
      in_i = n++;
    }
    absl::Time until = drain_until ? *drain_until : deadline;
    int ms = static_cast<int>(absl::ToInt64Milliseconds(until - now)) + 1;
    int ready = ::poll(fds, n, ms < 0 ? 0 : ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return sys::ErrnoStatus(errno, "poll");
    }
    auto pump = [&](int i, sys::UniqueFd& fd, std::string& dst, bool& trunc,
                    const std::function<void(std::string_view)>& sink) {
      if (i < 0 || fds[i].revents == 0) return;
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got < 0 && errno == EINTR) return;
      if (got <= 0) {
        fd.Reset();
        return;
      }
      if (sink) sink(std::string_view(buf, got));
      Append(dst, trunc, options.max_output_bytes, buf, got);
    };
    pump(out_i, stdout_, r.out, r.out_truncated, options.on_stdout);
    pump(err_i, stderr_, r.err, r.err_truncated, options.on_stderr);
    if (in_i >= 0 && fds[in_i].revents != 0) {
      ssize_t w = ::write(stdin_.get(), pending.data(), std::min<size_t>(pending.size(), 65536));
      if (w > 0) pending.remove_prefix(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || pending.empty()) stdin_.Reset();
    }
  }
  stdin_.Reset();
  if (drain_until) KillGroup();
  int status = 0;
  rusage ru{};
  while (true) {
    pid_t w = ::wait4(pid_, &status, 0, &ru);
    if (w == pid_) break;
    if (w < 0 && errno != EINTR) return sys::ErrnoStatus(errno, "wait4 on the OCI runtime");
  }
  reaped_ = true;
  r.wall = absl::Now() - started_;
  r.cpu = absl::DurationFromTimeval(ru.ru_utime) + absl::DurationFromTimeval(ru.ru_stime);
  r.max_rss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

absl::StatusOr<RuntimeOutput> RunRuntime(const OciRuntime& runtime,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<RuntimeChild>> child =
      RuntimeChild::Start(runtime, args, /*with_stdin=*/false);
  if (!child.ok()) return child.status();
  CollectOptions opts;
  opts.timeout = timeout;
  return (*child)->Collect(opts);
}

absl::Status RunRuntimeOk(const OciRuntime& runtime, const std::vector<std::string>& args,
                          absl::Duration timeout) {
  absl::StatusOr<RuntimeOutput> r = RunRuntime(runtime, args, timeout);
  if (!r.ok()) return r.status();
  if (r->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(runtime.name, " ", args.empty() ? "" : args[0], " timed out"));
  }
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(runtime.name, " ", args.empty() ? "" : args[0],
                                            " failed (exit ", r->exit_code, ", signal ", r->signal,
                                            "): ", absl::StripAsciiWhitespace(r->err)));
  }
  return absl::OkStatus();
}

}  // namespace kavach::internal
